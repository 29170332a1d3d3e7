//! The thin adapter from [`ApiError`] to HTTP: status, JSON envelope, `Retry-After`, and one log line per 5xx.
//! Also rewrites every other error response (unknown route, wrong method, bad JSON) into the same envelope.

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::error::JsonPayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use plaza_core::ApiError;
use plaza_core::cache::CacheError;

/// An [`ApiError`] as an actix response. Handlers return `Result<_, HttpError>` and use `?` on core errors.
#[derive(Debug)]
pub struct HttpError(pub ApiError);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<ApiError> for HttpError {
    fn from(err: ApiError) -> Self {
        Self(err)
    }
}

impl From<sqlx::Error> for HttpError {
    fn from(err: sqlx::Error) -> Self {
        Self(err.into())
    }
}

impl From<CacheError> for HttpError {
    fn from(err: CacheError) -> Self {
        Self(err.into())
    }
}

impl ResponseError for HttpError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            // The cause goes to the log only; the client gets a generic message.
            tracing::error!(
                status = status.as_u16(),
                error = format!("{:#}", self.0),
                "request failed"
            );
        }
        let mut response = HttpResponse::build(status);
        if let ApiError::TooManyRequests { retry_after_secs } = &self.0 {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        response.json(self.0.envelope())
    }
}

/// `JsonConfig` error handler: malformed JSON → 400, too large → 413, wrong content type → 415.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let api = match &err {
        JsonPayloadError::Overflow { limit } => ApiError::PayloadTooLarge { limit: *limit },
        JsonPayloadError::OverflowKnownLength { limit, .. } => {
            ApiError::PayloadTooLarge { limit: *limit }
        }
        JsonPayloadError::ContentType => ApiError::UnsupportedMediaType,
        JsonPayloadError::Deserialize(e) => ApiError::invalid(format!("Invalid JSON body: {e}")),
        JsonPayloadError::Payload(actix_web::error::PayloadError::Overflow) => {
            ApiError::PayloadTooLarge { limit: 0 }
        }
        other => ApiError::invalid(format!("Invalid request body: {other}")),
    };
    HttpError(api).into()
}

/// The [`ApiError`] matching a bare error status, for responses produced outside plaza's handlers.
fn error_for_status(status: StatusCode) -> ApiError {
    match status.as_u16() {
        401 => ApiError::Unauthorized("general.unauthorized"),
        403 => ApiError::Forbidden,
        404 => ApiError::NotFound,
        405 => ApiError::MethodNotAllowed,
        413 => ApiError::PayloadTooLarge { limit: 0 },
        415 => ApiError::UnsupportedMediaType,
        429 => ApiError::TooManyRequests {
            retry_after_secs: 1,
        },
        501 => ApiError::NotImplemented,
        503 => ApiError::Unavailable("try again later".into()),
        400..=499 => ApiError::bad_request("general.badRequest"),
        _ => ApiError::Internal(anyhow::anyhow!("unhandled error status {status}")),
    }
}

/// `ErrorHandlers` default handler: keeps JSON error bodies, replaces any other body with the envelope.
pub fn envelope_response<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .response()
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let mut envelope = error_for_status(status).envelope();
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        envelope.error = "The request body is too large".into();
    }
    let body =
        serde_json::to_string(&envelope).map_err(actix_web::error::ErrorInternalServerError)?;
    let (req, res) = res.into_parts();
    let mut res = res.set_body(body);
    res.headers_mut().remove(header::CONTENT_LENGTH);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let res: ServiceResponse<EitherBody<B, BoxBody>> = ServiceResponse::new(req, res)
        .map_into_boxed_body()
        .map_into_right_body();
    Ok(ErrorHandlerResponse::Response(res))
}

#[cfg(test)]
mod tests {
    use actix_web::middleware::ErrorHandlers;
    use actix_web::{App, HttpResponse, test, web};

    async fn echo(body: web::Json<serde_json::Value>) -> HttpResponse {
        HttpResponse::Ok().json(body.into_inner())
    }

    async fn call(content_type: &str, body: &'static str) -> (u16, serde_json::Value) {
        let app = test::init_service(
            App::new()
                .app_data(
                    web::JsonConfig::default()
                        .limit(64)
                        .error_handler(super::json_error),
                )
                .wrap(ErrorHandlers::new().default_handler(super::envelope_response))
                .route("/echo", web::post().to(echo)),
        )
        .await;
        let req = test::TestRequest::post()
            .uri("/echo")
            .insert_header(("content-type", content_type))
            .set_payload(body)
            .to_request();
        let res = test::call_service(&app, req).await;
        let status = res.status().as_u16();
        (status, test::read_body_json(res).await)
    }

    #[actix_web::test]
    async fn malformed_json_is_a_400_envelope() {
        let (status, body) = call("application/json", "{bad").await;
        assert_eq!(status, 400);
        assert_eq!(body["codes"][0], "general.badRequest");
        assert!(
            body["error"]
                .as_str()
                .expect("message")
                .starts_with("Invalid JSON body")
        );
    }

    #[actix_web::test]
    async fn an_oversized_body_is_a_413_envelope() {
        let big = Box::leak(format!("{{\"x\": \"{}\"}}", "a".repeat(1000)).into_boxed_str());
        let (status, body) = call("application/json", big).await;
        assert_eq!(status, 413);
        assert_eq!(body["codes"][0], "general.payloadTooLarge");
    }

    #[actix_web::test]
    async fn a_wrong_content_type_is_a_415_envelope() {
        let (status, body) = call("text/plain", "{}").await;
        assert_eq!(status, 415);
        assert_eq!(body["codes"][0], "general.unsupportedMediaType");
    }
}

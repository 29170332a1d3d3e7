//! The one CORS policy of plaza's HTTP surface, from `CLIENT_URL` (a list of origins allowed): what the deconf
//! client on its own origin needs — the reference answered every response with `Access-Control-Allow-Origin:
//! <CLIENT_URL>` (koa cors). [`CorsPolicy`] decides; two thin adapters apply it: [`actix`] to every response of the
//! HTTP API (every mode; socket.io polling too in `all` on one port), [`CorsService`] to what the live listener
//! answers (socket.io, the probes of a `live` process).
//!
//! Preflights (`OPTIONS` with `Access-Control-Request-Method`) are answered 204 before routing; the bearer token
//! travels in `Authorization`, so no cookies are involved and credentials are not allowed.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use plaza_core::Config;

/// The methods the API's routes use (and `OPTIONS`, which the preflight itself is).
pub const METHODS: &str = "GET, POST, PATCH, DELETE, HEAD, OPTIONS";
/// The request headers the client may send.
pub const HEADERS: &str = "authorization, content-type, if-none-match";
/// Response headers the client may read besides the safelisted ones.
pub const EXPOSE: &str = "etag, retry-after";
/// How long a browser may cache a preflight, in seconds (Chromium caps it at 7200).
pub const MAX_AGE: &str = "7200";

/// Which origins may call plaza from a browser. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    origins: Arc<[String]>,
}

/// The CORS headers of one response: `(name, value)` pairs, names lowercase.
pub type Headers = Vec<(&'static str, String)>;

impl CorsPolicy {
    /// The origins of `CLIENT_URL`.
    pub fn new(config: &Config) -> Self {
        Self {
            origins: config.client_origins.clone().into(),
        }
    }

    /// Whether a request is a CORS preflight.
    pub fn is_preflight(method: &str, has_request_method: bool) -> bool {
        method == "OPTIONS" && has_request_method
    }

    /// The headers for a response to a request with `origin` (a preflight's when `preflight`). `Vary: Origin` is
    /// always there (the answer depends on it); the rest only for an allowed origin.
    pub fn headers(&self, origin: Option<&[u8]>, preflight: bool) -> Headers {
        let mut headers = vec![("vary", "Origin".to_owned())];
        let Some(origin) = origin
            .and_then(|o| std::str::from_utf8(o).ok())
            .filter(|o| {
                self.origins
                    .iter()
                    .any(|allowed| allowed.eq_ignore_ascii_case(o))
            })
        else {
            return headers;
        };
        headers.push(("access-control-allow-origin", origin.to_owned()));
        if preflight {
            headers.push(("access-control-allow-methods", METHODS.to_owned()));
            headers.push(("access-control-allow-headers", HEADERS.to_owned()));
            headers.push(("access-control-max-age", MAX_AGE.to_owned()));
        } else {
            headers.push(("access-control-expose-headers", EXPOSE.to_owned()));
        }
        headers
    }
}

/// The actix step (of [`crate::http::edge`]): preflights get 204 at once; every other response, errors included,
/// gets the policy's headers (replacing any a handler set, so there is one of each).
pub async fn actix(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static, BoxBody>>, actix_web::Error> {
    let policy = req
        .app_data::<web::Data<CorsPolicy>>()
        .map(|p| p.get_ref().clone());
    let Some(policy) = policy else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    // Named by constant: a `&str` name is parsed on every lookup.
    let origin = req.headers().get(actix_web::http::header::ORIGIN).cloned();
    let preflight = CorsPolicy::is_preflight(
        req.method().as_str(),
        req.headers()
            .contains_key(actix_web::http::header::ACCESS_CONTROL_REQUEST_METHOD),
    );
    if origin.is_none() && !preflight {
        // No browser cross-origin call (the common case of a same-origin client, a proxy or a probe): only
        // `Vary: Origin`, from a static value.
        let mut res = next.call(req).await?.map_into_left_body();
        res.headers_mut().append(
            actix_web::http::header::VARY,
            actix_web::http::header::HeaderValue::from_static("Origin"),
        );
        return Ok(res);
    }
    let headers = policy.headers(origin.as_ref().map(|o| o.as_bytes()), preflight);
    let mut res = if preflight {
        req.into_response(HttpResponse::NoContent().finish())
            .map_into_right_body()
    } else {
        next.call(req).await?.map_into_left_body()
    };
    let map = res.headers_mut();
    for (name, value) in headers {
        let name = actix_web::http::header::HeaderName::from_static(name);
        if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&value) {
            if name == "vary" {
                map.append(name, value);
            } else {
                map.insert(name, value);
            }
        }
    }
    Ok(res)
}

/// The live listener's adapter: applies the policy to everything it answers.
#[derive(Clone)]
pub struct CorsService<S> {
    inner: S,
    policy: CorsPolicy,
}

impl<S> CorsService<S> {
    /// Wraps the live service `inner`.
    pub fn new(inner: S, policy: CorsPolicy) -> Self {
        Self { inner, policy }
    }
}

impl<S, B, ReqBody> tower_service::Service<http::Request<ReqBody>> for CorsService<S>
where
    S: tower_service::Service<
            http::Request<ReqBody>,
            Response = http::Response<B>,
            Error = Infallible,
        >,
    S::Future: Send + 'static,
    B: Default + Send + 'static,
{
    type Response = http::Response<B>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<http::Response<B>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let origin = req
            .headers()
            .get(http::header::ORIGIN)
            .map(|v| v.as_bytes().to_vec());
        let preflight = CorsPolicy::is_preflight(
            req.method().as_str(),
            req.headers()
                .contains_key(http::header::ACCESS_CONTROL_REQUEST_METHOD),
        );
        let headers = self.policy.headers(origin.as_deref(), preflight);
        let response = (!preflight).then(|| self.inner.call(req));
        Box::pin(async move {
            let mut res = match response {
                Some(response) => response.await?,
                None => {
                    let mut res = http::Response::new(B::default());
                    *res.status_mut() = http::StatusCode::NO_CONTENT;
                    res
                }
            };
            let map = res.headers_mut();
            for (name, value) in headers {
                let name = http::HeaderName::from_static(name);
                if let Ok(value) = http::HeaderValue::from_str(&value) {
                    if name == http::header::VARY {
                        map.append(name, value);
                    } else {
                        map.insert(name, value);
                    }
                }
            }
            Ok(res)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CorsPolicy {
        CorsPolicy {
            origins: vec![
                "https://client.example".to_owned(),
                "http://localhost:5173".to_owned(),
            ]
            .into(),
        }
    }

    #[test]
    fn an_allowed_origin_is_echoed_and_another_gets_only_vary() {
        let ok = policy().headers(Some(b"http://localhost:5173"), false);
        assert!(ok.contains(&(
            "access-control-allow-origin",
            "http://localhost:5173".into()
        )));
        let other = policy().headers(Some(b"https://evil.example"), false);
        assert_eq!(other, vec![("vary", "Origin".to_owned())]);
        assert_eq!(
            policy().headers(None, false),
            vec![("vary", "Origin".to_owned())]
        );
    }

    #[test]
    fn a_preflight_lists_every_method_the_routes_use() {
        let headers = policy().headers(Some(b"https://client.example"), true);
        let methods = headers
            .iter()
            .find(|(name, _)| *name == "access-control-allow-methods")
            .map(|(_, v)| v.clone())
            .expect("methods");
        for method in ["GET", "POST", "PATCH", "DELETE", "HEAD"] {
            assert!(methods.contains(method), "{method} in {methods}");
        }
    }
}

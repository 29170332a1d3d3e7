//! The one error type of plaza's request paths, with the deconf wire codes.
//!
//! [`ApiError`] knows its HTTP status and its stable codes (`general.notFound`…); turning it into a response is the
//! server's job (core never depends on actix-web). Internal causes are logged by the server, never sent to clients.

use serde::Serialize;

/// A validation failure, sent in the envelope's `failures` list (superstruct-like shape the deconf client reads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// Dotted path of the offending field, e.g. `email`.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl Failure {
    /// A failure at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Every error a request can end with. Each variant documents its status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with one or more codes (default `general.badRequest`) and optional field failures.
    #[error("bad request: {codes:?}")]
    BadRequest {
        /// Stable error codes.
        codes: Vec<String>,
        /// Field failures, if the request failed validation.
        failures: Vec<Failure>,
        /// Human-readable detail; replaces the generic message when set.
        detail: Option<String>,
    },
    /// 401 with a code such as `general.unauthorized` or `auth.tokenExpired`.
    #[error("unauthorized: {0}")]
    Unauthorized(&'static str),
    /// 403 `general.forbidden`.
    #[error("forbidden")]
    Forbidden,
    /// 404 `general.notFound`.
    #[error("not found")]
    NotFound,
    /// 404 with a feature's own code (e.g. `push.disabled`): the feature is not configured on this server.
    #[error("disabled: {0}")]
    Disabled(&'static str),
    /// 405 `general.methodNotAllowed`.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 413 `general.payloadTooLarge`.
    #[error("payload too large (limit {limit} bytes)")]
    PayloadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// 415 `general.unsupportedMediaType`.
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 429 `general.tooManyRequests`, with the seconds after which a retry may succeed.
    #[error("too many requests")]
    TooManyRequests {
        /// Seconds until the client may retry (`Retry-After`).
        retry_after_secs: u64,
    },
    /// 501 `general.notImplemented`.
    #[error("not implemented")]
    NotImplemented,
    /// 503 `general.unavailable`: a dependency (Redis, the database) cannot be reached.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 500 `general.internalServerError`; the cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// 400 with a single code.
    pub fn bad_request(code: &str) -> Self {
        Self::BadRequest {
            codes: vec![code.to_owned()],
            failures: Vec::new(),
            detail: None,
        }
    }

    /// 400 `general.badRequest` with a detail message (e.g. a JSON parse error).
    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::BadRequest {
            codes: vec!["general.badRequest".into()],
            failures: Vec::new(),
            detail: Some(detail.into()),
        }
    }

    /// 400 `general.badRequest` with field failures.
    pub fn validation(failures: Vec<Failure>) -> Self {
        Self::BadRequest {
            codes: vec!["general.badRequest".into()],
            failures,
            detail: None,
        }
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest { .. } => 400,
            Self::Unauthorized(_) => 401,
            Self::Forbidden => 403,
            Self::NotFound | Self::Disabled(_) => 404,
            Self::MethodNotAllowed => 405,
            Self::PayloadTooLarge { .. } => 413,
            Self::UnsupportedMediaType => 415,
            Self::TooManyRequests { .. } => 429,
            Self::NotImplemented => 501,
            Self::Unavailable(_) => 503,
            Self::Internal(_) => 500,
        }
    }

    /// The stable codes sent in the envelope.
    pub fn codes(&self) -> Vec<String> {
        let code = match self {
            Self::BadRequest { codes, .. } => return codes.clone(),
            Self::Unauthorized(code) | Self::Disabled(code) => code,
            Self::Forbidden => "general.forbidden",
            Self::NotFound => "general.notFound",
            Self::MethodNotAllowed => "general.methodNotAllowed",
            Self::PayloadTooLarge { .. } => "general.payloadTooLarge",
            Self::UnsupportedMediaType => "general.unsupportedMediaType",
            Self::TooManyRequests { .. } => "general.tooManyRequests",
            Self::NotImplemented => "general.notImplemented",
            Self::Unavailable(_) => "general.unavailable",
            Self::Internal(_) => "general.internalServerError",
        };
        vec![code.to_owned()]
    }

    /// The envelope a client receives: `{error, codes, failures?}` (never a stack trace).
    pub fn envelope(&self) -> ErrorEnvelope {
        let codes = self.codes();
        let error = match self {
            Self::Internal(_) => "Something went wrong".to_owned(),
            Self::BadRequest {
                detail: Some(detail),
                ..
            } => detail.clone(),
            Self::PayloadTooLarge { limit } => {
                format!("The request body is larger than {limit} bytes")
            }
            Self::Unavailable(what) => format!("Service unavailable: {what}"),
            _ => {
                // The reference's wording: "There were error(s) with your request: " then each code quoted.
                let quoted: Vec<String> = codes.iter().map(|c| format!("\"{c}\"")).collect();
                format!(
                    "There were error(s) with your request: {}",
                    quoted.join("\n")
                )
            }
        };
        let failures = match self {
            Self::BadRequest { failures, .. } if !failures.is_empty() => Some(failures.clone()),
            _ => None,
        };
        ErrorEnvelope {
            error,
            codes,
            failures,
        }
    }
}

/// The JSON error body of every failed request and of socket `apiError` events.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorEnvelope {
    /// Human-readable message.
    pub error: String,
    /// Stable machine-readable codes.
    pub codes: Vec<String>,
    /// Field failures of a validation error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures: Option<Vec<Failure>>,
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                Self::Unavailable("database".into())
            }
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::cache::CacheError> for ApiError {
    fn from(err: crate::cache::CacheError) -> Self {
        match err {
            crate::cache::CacheError::Unavailable(_) => Self::Unavailable("cache".into()),
            other => Self::Internal(other.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_matches_the_reference_wording() {
        let env = ApiError::NotFound.envelope();
        assert_eq!(
            env.error,
            "There were error(s) with your request: \"general.notFound\""
        );
        assert_eq!(env.codes, vec!["general.notFound"]);
        assert!(env.failures.is_none());
    }

    #[test]
    fn internal_errors_hide_their_cause() {
        let env = ApiError::Internal(anyhow::anyhow!("password=hunter2")).envelope();
        assert_eq!(env.error, "Something went wrong");
        assert_eq!(env.codes, vec!["general.internalServerError"]);
    }

    #[test]
    fn validation_errors_carry_failures() {
        let err = ApiError::validation(vec![Failure::new("email", "is required")]);
        assert_eq!(err.status(), 400);
        let json = serde_json::to_value(err.envelope()).expect("serialises");
        assert_eq!(json["failures"][0]["path"], "email");
        assert_eq!(json["codes"][0], "general.badRequest");
    }
}

//! The one retrying GET every upstream client (Pretalx, Tito) makes: 2xx returns the body; 401/403 and other 4xx
//! fail at once; 429 (honouring `Retry-After`), 5xx and transport failures are retried with backoff until the
//! policy's attempts are spent; a body over the transport's size limit fails at once. Each client maps the
//! [`Failure`] to its own error type, with its own wording.

use chrono::Utc;
use url::Url;

use crate::upstream::retry::RetryPolicy;
use crate::upstream::transport::{RawResponse, Transport, TransportError};

/// Why a GET failed.
#[derive(Debug)]
pub enum Failure {
    /// 401 or 403.
    BadToken {
        /// The status.
        status: u16,
    },
    /// Another 4xx (not retried).
    Status {
        /// The status.
        status: u16,
        /// Start of the body.
        detail: String,
    },
    /// Retryable failures outlasted the policy.
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// What the last attempt got.
        last: String,
    },
    /// The body was over the transport's limit (bytes).
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

/// GETs `url` through `transport` with `headers`, retrying as `retry` allows; `service` names the upstream in logs.
pub async fn get<T: Transport>(
    transport: &T,
    url: &Url,
    headers: &[(&'static str, String)],
    retry: &RetryPolicy,
    service: &'static str,
) -> Result<Vec<u8>, Failure> {
    let mut attempt = 1;
    loop {
        let (failure, asked_wait) = match transport.get(url, headers).await {
            Ok(response) => match response.status {
                200..=299 => return Ok(response.body),
                401 | 403 => {
                    return Err(Failure::BadToken {
                        status: response.status,
                    });
                }
                429 => {
                    let wait = response
                        .retry_after
                        .as_deref()
                        .and_then(|header| retry.retry_after(header, Utc::now()));
                    ("429 Too Many Requests".to_owned(), wait)
                }
                500..=599 => (format!("{} {}", response.status, detail(&response)), None),
                status => {
                    return Err(Failure::Status {
                        status,
                        detail: detail(&response),
                    });
                }
            },
            Err(TransportError::TooLarge { limit }) => return Err(Failure::TooLarge { limit }),
            Err(error) => (error.to_string(), None),
        };
        if attempt >= retry.max_attempts {
            return Err(Failure::GaveUp {
                attempts: attempt,
                last: failure,
            });
        }
        let wait = asked_wait.unwrap_or_else(|| retry.backoff(attempt));
        tracing::warn!(service, %url, attempt, ?wait, %failure, "upstream request failed, retrying");
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

fn detail(response: &RawResponse) -> String {
    crate::upstream::decode::excerpt(&response.body)
}

//! How an upstream client (Pretalx, Tito) gets bytes: a one-method [`Transport`] and its real HTTP implementation.
//! Transports do no retrying, pagination or parsing: that is each client's job, whatever the transport (the
//! Pretalx demo serves its pages through `pretalx::memory`).

use std::future::Future;
use std::time::Duration;

use url::Url;

/// A response as the client needs it: status, `Retry-After`, body.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// HTTP status code.
    pub status: u16,
    /// The `Retry-After` header, verbatim.
    pub retry_after: Option<String>,
    /// The body bytes.
    pub body: Vec<u8>,
}

/// Why a GET produced no usable response.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Nothing (or half a body) was received: connect, timeout, reset. Clients retry these.
    #[error("{0}")]
    Failed(String),
    /// The body was over the transport's size limit; reading stopped there. Not worth retrying.
    #[error("the response body is larger than {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
}

impl TransportError {
    /// Whether trying again may help.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Failed(_))
    }
}

/// Performs one GET. Implementations must send `headers` as given and must not retry.
pub trait Transport: Send + Sync {
    /// GETs `url` with `headers` (name, value).
    fn get(
        &self,
        url: &Url,
        headers: &[(&'static str, String)],
    ) -> impl Future<Output = Result<RawResponse, TransportError>> + Send;
}

/// Real HTTP through reqwest (rustls), with a bounded body.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    max_body: usize,
}

impl HttpTransport {
    /// A transport whose requests time out after `timeout` and whose bodies may hold at most `max_body` bytes
    /// (a larger one is refused as soon as its `Content-Length` or its bytes show it, never read whole).
    pub fn new(timeout: Duration, max_body: usize) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("plaza/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| {
                TransportError::Failed(format!("cannot build the HTTP client: {error}"))
            })?;
        Ok(Self { client, max_body })
    }
}

impl Transport for HttpTransport {
    async fn get(
        &self,
        url: &Url,
        headers: &[(&'static str, String)],
    ) -> Result<RawResponse, TransportError> {
        let mut request = self.client.get(url.clone());
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let failed = |error: reqwest::Error| TransportError::Failed(error_chain(&error));
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let too_large = TransportError::TooLarge {
            limit: self.max_body,
        };
        if response
            .content_length()
            .is_some_and(|length| length > self.max_body as u64)
        {
            return Err(too_large);
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(too_large);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(RawResponse {
            status,
            retry_after,
            body,
        })
    }
}

/// reqwest's top-level message hides the cause ("error sending request"); include the sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

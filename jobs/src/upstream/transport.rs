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

/// A failure before any HTTP status was received (connect, timeout, reset); the client retries these.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TransportError(pub String);

/// Performs one GET. Implementations must send `headers` as given and must not retry.
pub trait Transport: Send + Sync {
    /// GETs `url` with `headers` (name, value).
    fn get(
        &self,
        url: &Url,
        headers: &[(&'static str, String)],
    ) -> impl Future<Output = Result<RawResponse, TransportError>> + Send;
}

/// Real HTTP through reqwest (rustls).
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
}

impl HttpTransport {
    /// A transport whose requests time out after `timeout`.
    pub fn new(timeout: Duration) -> Result<Self, TransportError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("plaza/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| TransportError(format!("cannot build the HTTP client: {error}")))?;
        Ok(Self { client })
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
        let response = request
            .send()
            .await
            .map_err(|error| TransportError(error_chain(&error)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let body = response
            .bytes()
            .await
            .map_err(|error| TransportError(error_chain(&error)))?;
        Ok(RawResponse {
            status,
            retry_after,
            body: body.to_vec(),
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

//! How the Pretalx client gets bytes: a one-method [`Transport`] with a real HTTP implementation and an in-memory
//! one that serves a dataset as Pretalx-shaped paginated pages (the bundled demo, tests without a server).
//! Transports do no retrying, pagination or parsing: that is the client's job, identical for both.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde_json::{Value, json};
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

/// Either transport, chosen at run time (e.g. a `--demo` flag) without making callers generic.
#[derive(Debug, Clone)]
pub enum AnyTransport {
    /// Real Pretalx.
    Http(HttpTransport),
    /// In-memory dataset.
    Memory(MemoryTransport),
}

impl Transport for AnyTransport {
    async fn get(
        &self,
        url: &Url,
        headers: &[(&'static str, String)],
    ) -> Result<RawResponse, TransportError> {
        match self {
            Self::Http(transport) => transport.get(url, headers).await,
            Self::Memory(transport) => transport.get(url, headers).await,
        }
    }
}

/// Pretalx data held as JSON objects, served like the v2 API by [`MemoryTransport`].
#[derive(Debug, Clone, Default)]
pub struct MemoryDataset {
    /// The `/api/events/{event}/` object.
    pub event: Value,
    /// Objects per collection name (`submissions`, `slots`, `submission-types`…), in list order.
    pub collections: BTreeMap<String, Vec<Value>>,
}

/// Serves a [`MemoryDataset`] for one event slug: `…/events/<slug>/` and `…/events/<slug>/<collection>/`,
/// paginated with `page` / `page_size` (default and maximum 50) and absolute `next` / `previous` URLs, filtered
/// by any other query parameter that names a field (`?question=12`, `?state=confirmed`). Unknown paths give 404.
#[derive(Debug, Clone)]
pub struct MemoryTransport {
    slug: String,
    dataset: MemoryDataset,
}

/// Pretalx's default page size, also the in-memory maximum.
const MEMORY_PAGE_SIZE: usize = 50;
/// Query parameters that shape the response instead of filtering it.
const NON_FILTERS: [&str; 5] = ["page", "page_size", "expand", "lang", "o"];

impl MemoryTransport {
    /// Serves `dataset` as the event `slug`.
    pub fn new(slug: impl Into<String>, dataset: MemoryDataset) -> Self {
        Self {
            slug: slug.into(),
            dataset,
        }
    }

    /// Answers one GET of `url` at once (what [`Transport::get`] does, without the future), so other servers can
    /// reuse these pages: the benchmark's wiremock Pretalx serves its dataset through it.
    pub fn respond(&self, url: &Url) -> RawResponse {
        let segments: Vec<&str> = url
            .path_segments()
            .map(|segments| segments.filter(|segment| !segment.is_empty()).collect())
            .unwrap_or_default();
        match segments.as_slice() {
            [.., "events", slug] if *slug == self.slug => ok(&self.dataset.event),
            [.., "events", slug, collection] if *slug == self.slug => {
                match self.dataset.collections.get(*collection) {
                    Some(objects) => ok(&page(url, objects)),
                    None => not_found(),
                }
            }
            _ => not_found(),
        }
    }
}

impl Transport for MemoryTransport {
    async fn get(
        &self,
        url: &Url,
        _headers: &[(&'static str, String)],
    ) -> Result<RawResponse, TransportError> {
        Ok(self.respond(url))
    }
}

fn page(url: &Url, objects: &[Value]) -> Value {
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |name: &str| {
        query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    let matching: Vec<&Value> = objects
        .iter()
        .filter(|object| {
            query
                .iter()
                .filter(|(key, _)| !NON_FILTERS.contains(&key.as_str()))
                .all(|(key, wanted)| {
                    object
                        .get(key)
                        .is_some_and(|value| scalar_text(value) == *wanted)
                })
        })
        .collect();
    let size = param("page_size")
        .and_then(|size| size.parse().ok())
        .unwrap_or(MEMORY_PAGE_SIZE)
        .clamp(1, MEMORY_PAGE_SIZE);
    let number: usize = param("page")
        .and_then(|number| number.parse().ok())
        .unwrap_or(1)
        .max(1);
    let results: Vec<&Value> = matching
        .iter()
        .skip((number - 1) * size)
        .take(size)
        .copied()
        .collect();
    let link = |target: usize| {
        let mut link = url.clone();
        link.query_pairs_mut()
            .clear()
            .extend_pairs(query.iter().filter(|(key, _)| key != "page"))
            .append_pair("page", &target.to_string());
        link.to_string()
    };
    let has_next = number * size < matching.len();
    json!({
        "count": matching.len(),
        "next": has_next.then(|| link(number + 1)),
        "previous": (number > 1).then(|| link(number - 1)),
        "results": results,
    })
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn ok(body: &Value) -> RawResponse {
    RawResponse {
        status: 200,
        retry_after: None,
        body: body.to_string().into_bytes(),
    }
}

fn not_found() -> RawResponse {
    RawResponse {
        status: 404,
        retry_after: None,
        body: br#"{"detail":"Not found."}"#.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transport(objects: usize) -> MemoryTransport {
        let tags = (0..objects)
            .map(|id| json!({"id": id, "tag": format!("t{id}")}))
            .collect();
        MemoryTransport::new(
            "demo",
            MemoryDataset {
                event: json!({"slug": "demo"}),
                collections: BTreeMap::from([("tags".to_owned(), tags)]),
            },
        )
    }

    fn get_json(transport: &MemoryTransport, url: &str) -> Value {
        let url = Url::parse(url).expect("valid url");
        serde_json::from_slice(&transport.respond(&url).body).expect("json body")
    }

    #[test]
    fn memory_pages_link_to_the_next_page_until_the_last() {
        let transport = transport(120);
        let first = get_json(&transport, "https://x.invalid/api/events/demo/tags/");
        assert_eq!(first["count"], 120);
        assert_eq!(first["results"].as_array().map(Vec::len), Some(50));
        let third = get_json(&transport, "https://x.invalid/api/events/demo/tags/?page=3");
        assert_eq!(third["results"].as_array().map(Vec::len), Some(20));
        assert_eq!(third["next"], Value::Null);
        assert_eq!(
            first["next"],
            "https://x.invalid/api/events/demo/tags/?page=2"
        );
    }

    #[test]
    fn memory_filters_by_field_and_404s_unknown_paths() {
        let transport = transport(10);
        let filtered = get_json(&transport, "https://x.invalid/api/events/demo/tags/?id=3");
        assert_eq!(filtered["count"], 1);
        let url = Url::parse("https://x.invalid/api/events/other/tags/").expect("valid url");
        assert_eq!(transport.respond(&url).status, 404);
    }
}

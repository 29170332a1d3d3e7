//! The in-memory Pretalx: a [`MemoryTransport`] that serves a [`MemoryDataset`] as Pretalx v2-shaped paginated
//! pages, for the bundled demo event and tests without a server. It answers like a real Pretalx, so the client's
//! paging, retries and validation run unchanged over it.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use url::Url;

use crate::upstream::transport::{RawResponse, Transport, TransportError};

/// Pretalx data held as JSON objects, served like the v2 API by [`MemoryTransport`].
#[derive(Debug, Clone, Default)]
pub struct MemoryDataset {
    /// The `/api/events/{event}/` object.
    pub event: Value,
    /// Objects per collection name (`submissions`, `slots`, `submission-types`…), in list order.
    pub collections: BTreeMap<String, Vec<Value>>,
}

/// Serves a [`MemoryDataset`] for one event slug: `…/events/<slug>/`, `…/events/<slug>/<collection>/`
/// and `…/events/<slug>/<collection>/<id>/` (plus `schedules/latest/` and `schedules/wip/`), lists paginated with `page` / `page_size` (default and maximum 50) and absolute `next` / `previous` URLs, filtered
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
            [.., "events", slug, collection, detail] if *slug == self.slug => self
                .dataset
                .collections
                .get(*collection)
                .and_then(|objects| find(objects, collection, detail))
                .map_or_else(not_found, ok),
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

/// One object of a collection by id; for `schedules`, also `latest` (the newest released: highest `published`)
/// and `wip` (the one with a null `version`), as Pretalx resolves them.
fn find<'a>(objects: &'a [Value], collection: &str, detail: &str) -> Option<&'a Value> {
    match (collection, detail) {
        ("schedules", "latest") => objects
            .iter()
            .filter(|object| object["published"].is_string())
            .max_by_key(|object| object["published"].as_str().map(str::to_owned)),
        ("schedules", "wip") => objects.iter().find(|object| object["version"].is_null()),
        _ => objects
            .iter()
            .find(|object| scalar_text(&object["id"]) == detail),
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
    fn memory_resolves_the_latest_released_and_the_wip_schedule() {
        let schedules = vec![
            json!({"id": 1, "version": "1.0", "published": "2026-01-01T10:00:00+00:00"}),
            json!({"id": 2, "version": "1.1", "published": "2026-02-01T10:00:00+00:00"}),
            json!({"id": 3, "version": null, "published": null}),
        ];
        let transport = MemoryTransport::new(
            "demo",
            MemoryDataset {
                event: json!({"slug": "demo"}),
                collections: BTreeMap::from([("schedules".to_owned(), schedules)]),
            },
        );
        let base = "https://x.invalid/api/events/demo/schedules";
        assert_eq!(get_json(&transport, &format!("{base}/latest/"))["id"], 2);
        assert_eq!(get_json(&transport, &format!("{base}/wip/"))["id"], 3);
        assert_eq!(get_json(&transport, &format!("{base}/1/"))["id"], 1);
        let url = Url::parse(&format!("{base}/9/")).expect("valid url");
        assert_eq!(transport.respond(&url).status, 404);
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

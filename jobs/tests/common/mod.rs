//! Helpers shared by the integration tests: fixtures, a fast-retrying client, page envelopes.
// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use plaza_jobs::pretalx::config::{ImportConfig, QuestionIds};
use plaza_jobs::pretalx::wire::PretalxData;
use plaza_jobs::pretalx::{ClientConfig, PretalxClient};
use plaza_jobs::upstream::retry::RetryPolicy;
use plaza_jobs::upstream::transport::HttpTransport;
use serde_json::{Value, json};
use url::Url;

/// Event slug the wiremock tests use.
pub const EVENT: &str = "mozfest";
/// Token the wiremock tests use.
pub const TOKEN: &str = "s3cr3t-token";

/// A JSON file from `tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// The mapping fixture, possibly edited, as fetched data.
pub fn pretalx_data(value: Value) -> PretalxData {
    serde_json::from_value(value).expect("fixture matches the wire types")
}

/// The config matching `mapping.json` (questions 11/12/13, ASL 1700, CC 1701).
pub fn mapping_config() -> ImportConfig {
    ImportConfig {
        questions: QuestionIds {
            links: vec![11],
            recommendations: Some(12),
            affiliation: Some(13),
        },
        asl_tag_id: Some(1700),
        cc_tag_id: Some(1701),
        locales: vec!["en".into(), "es".into()],
        ..ImportConfig::default()
    }
}

/// Three attempts, millisecond waits.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_millis(50),
    }
}

/// A real-HTTP client pointed at `server_uri` + `/api/`.
pub fn http_client(server_uri: &str) -> PretalxClient<HttpTransport> {
    let base = Url::parse(&format!("{server_uri}/api/")).expect("valid server uri");
    let mut config = ClientConfig::new(base, EVENT, TOKEN);
    config.retry = fast_retry();
    config.timeout = Duration::from_secs(5);
    PretalxClient::new(config).expect("valid config")
}

/// The path of a collection of the test event.
pub fn collection_path(resource: &str) -> String {
    format!("/api/events/{EVENT}/{resource}/")
}

/// A v2 list envelope.
pub fn page(
    count: usize,
    next: Option<String>,
    previous: Option<String>,
    results: Vec<Value>,
) -> Value {
    json!({"count": count, "next": next, "previous": previous, "results": results})
}

/// A tag object.
pub fn tag(id: i64) -> Value {
    json!({"id": id, "tag": format!("tag-{id}"), "description": {"en": ""}, "color": "#000000", "is_public": true})
}

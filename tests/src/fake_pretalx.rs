//! A fake Pretalx for black-box tests: a wiremock server answering the v2 API (paginated lists, absolute `next`
//! links, `?question=` filters) from a dataset the test can swap, break or slow down.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use plaza_jobs::pretalx::demo;
use plaza_jobs::pretalx::memory::{MemoryDataset, MemoryTransport};
use serde_json::Value;
use wiremock::{MockServer, Request, Respond, ResponseTemplate};

/// The event slug the fake serves.
pub const EVENT: &str = "fake-fest";

/// A running fake Pretalx.
pub struct FakePretalx {
    /// The wiremock server.
    pub server: MockServer,
    state: Arc<Mutex<State>>,
}

struct State {
    transport: MemoryTransport,
    delay: Duration,
}

struct Responder(Arc<Mutex<State>>);

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if request
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            != Some("Token fake-token")
        {
            return ResponseTemplate::new(401).set_body_string(r#"{"detail":"Invalid token."}"#);
        }
        let raw = state.transport.respond(&request.url);
        ResponseTemplate::new(raw.status)
            .insert_header("content-type", "application/json")
            .set_body_bytes(raw.body)
            .set_delay(state.delay)
    }
}

impl FakePretalx {
    /// Serves `dataset` (see [`demo_dataset`]).
    pub async fn start(dataset: MemoryDataset) -> Self {
        let server = MockServer::start().await;
        let state = Arc::new(Mutex::new(State {
            transport: MemoryTransport::new(EVENT, dataset),
            delay: Duration::ZERO,
        }));
        wiremock::Mock::given(wiremock::matchers::method("GET"))
            .respond_with(Responder(state.clone()))
            .mount(&server)
            .await;
        Self { server, state }
    }

    /// Replaces the served data (a Pretalx edit).
    pub fn set(&self, dataset: MemoryDataset) {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .transport = MemoryTransport::new(EVENT, dataset);
    }

    /// Delays every answer (to make imports overlap).
    pub fn slow_down(&self, delay: Duration) {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).delay = delay;
    }

    /// The `PRETALX_*` variables pointing plaza at this fake, with the demo's question and tag ids.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("PRETALX_URL", format!("{}/api/", self.server.uri())),
            ("PRETALX_EVENT", EVENT.to_owned()),
            ("PRETALX_API_TOKEN", "fake-token".to_owned()),
            ("PRETALX_IMPORT", demo_import().to_string()),
        ]
    }
}

/// The demo event (a realistic v2 dataset) starting `days_from_today` days from today.
pub fn demo_dataset(days_from_today: i64) -> MemoryDataset {
    let start = chrono::Utc::now().date_naive() + chrono::Duration::days(days_from_today);
    demo::dataset(start)
}

/// Applies `edit` to the collection `name` of `dataset`.
pub fn edit(dataset: &mut MemoryDataset, name: &str, edit: impl FnOnce(&mut Vec<Value>)) {
    edit(
        dataset
            .collections
            .get_mut(name)
            .expect("the collection exists"),
    );
}

/// Starts a fake Pretalx serving `dataset`, an app on `backend` pointed at it, imports once and waits until the
/// app serves the new version.
pub async fn app_with_imported(
    backend: crate::Backend,
    dataset: MemoryDataset,
) -> (crate::TestApp, FakePretalx) {
    let fake = FakePretalx::start(dataset).await;
    let env = fake.env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = crate::spawn_app(backend, &vars).await;
    let version = plaza_jobs::schedule::run_once(&app.jobs())
        .await
        .expect("import succeeds")
        .version;
    let served = crate::eventually(Duration::from_secs(10), || async {
        app.state.schedule.current().version == version
    });
    assert!(
        served.await.is_some(),
        "version {version} not served within 10 s"
    );
    (app, fake)
}

/// Applies `edit` to the first confirmed submission with exactly one slot; returns the session id it becomes.
pub fn edit_scheduled_session(
    dataset: &mut MemoryDataset,
    change: impl FnOnce(&mut Value),
) -> String {
    let mut code = String::new();
    edit(dataset, "submissions", |subs| {
        let sub = subs
            .iter_mut()
            .find(|s| {
                s["state"] == "confirmed" && s["slots"].as_array().is_some_and(|l| l.len() == 1)
            })
            .expect("a confirmed, scheduled submission");
        change(sub);
        code = sub["code"].as_str().expect("code").to_owned();
    });
    format!("{code}-1")
}

/// The codes of the first `n` confirmed submissions with exactly one slot (each is served as session `<code>-1`).
pub fn scheduled_codes(dataset: &MemoryDataset, n: usize) -> Vec<String> {
    let codes: Vec<String> = dataset.collections["submissions"]
        .iter()
        .filter(|s| {
            s["state"] == "confirmed" && s["slots"].as_array().is_some_and(|l| l.len() == 1)
        })
        .filter_map(|s| s["code"].as_str().map(str::to_owned))
        .take(n)
        .collect();
    assert_eq!(codes.len(), n, "the dataset has {n} scheduled submissions");
    codes
}

/// Moves the slot of submission `code` by `minutes` and, with `to_other_room`, into another room of the event.
pub fn move_slot(dataset: &mut MemoryDataset, code: &str, minutes: i64, to_other_room: bool) {
    let rooms: Vec<Value> = dataset.collections["rooms"]
        .iter()
        .map(|r| r["id"].clone())
        .collect();
    edit(dataset, "slots", |slots| {
        let slot = slots
            .iter_mut()
            .find(|s| s["submission"] == code)
            .expect("the submission has a slot");
        for key in ["start", "end"] {
            let at =
                chrono::DateTime::parse_from_rfc3339(slot[key].as_str().expect("a placed slot"))
                    .expect("an RFC 3339 time");
            slot[key] = (at + chrono::Duration::minutes(minutes))
                .to_rfc3339()
                .into();
        }
        if to_other_room {
            let other = rooms
                .iter()
                .find(|r| **r != slot["room"])
                .expect("a second room");
            slot["room"] = other.clone();
        }
    });
}

/// `PRETALX_IMPORT` for the demo event: its question and tag ids, English and Spanish.
pub fn demo_import() -> Value {
    serde_json::json!({
        "questions": {
            "links": [demo::LINKS_QUESTION],
            "recommendations": demo::RECOMMENDATIONS_QUESTION,
            "affiliation": demo::AFFILIATION_QUESTION,
        },
        "aslTagId": demo::ASL_TAG,
        "ccTagId": demo::CC_TAG,
        "locales": ["en", "es"],
    })
}

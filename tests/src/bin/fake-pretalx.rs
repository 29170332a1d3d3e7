//! `fake-pretalx [SESSIONS]`: a Pretalx v2 API on 127.0.0.1 for the web client's e2e tests and `scripts/bench
//! release`, so plaza imports — and publishes changed releases — through exactly its production path (HTTP,
//! pagination, token, mapping, change detection). With no argument it serves the bundled demo event starting
//! yesterday (what `plaza` imports without a Pretalx token); with SESSIONS, a generated event of that size
//! (`sized_pretalx`).
//!
//! Prints one JSON line on stdout: the `PRETALX_*` variables pointing plaza at it and `control`, the URL of its one
//! extra route: `POST <control>/move` with `{"sessions": ["CODE-1", …]}` or `{"count": N}` (the first N scheduled
//! sessions) and `"minutes"` (default 60) moves those sessions' slots, so the next import publishes a release
//! that moved them; it answers `{"sessions": [ids moved]}`. Runs until stdin closes or it is killed.

use std::sync::{Arc, Mutex};

use plaza_jobs::pretalx::memory::MemoryDataset;
use plaza_tests::{fake_pretalx, sized_pretalx};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, Respond, ResponseTemplate};

struct Mover {
    dataset: Mutex<MemoryDataset>,
    editor: sized_pretalx::Editor,
}

impl Respond for Mover {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
        let minutes = body["minutes"].as_i64().unwrap_or(60);
        let mut dataset = self.dataset.lock().unwrap_or_else(|p| p.into_inner());
        let codes: Vec<String> = match (body["sessions"].as_array(), body["count"].as_u64()) {
            (Some(ids), _) => ids
                .iter()
                .filter_map(Value::as_str)
                .map(|id| id.rsplit_once('-').map_or(id, |(code, _)| code).to_owned())
                .collect(),
            (None, Some(count)) => scheduled(&dataset, count as usize),
            (None, None) => {
                return ResponseTemplate::new(400)
                    .set_body_json(json!({"error": "give `sessions` or `count`"}));
            }
        };
        let known = scheduled(&dataset, usize::MAX);
        if let Some(unknown) = codes.iter().find(|code| !known.contains(code)) {
            return ResponseTemplate::new(404)
                .set_body_json(json!({"error": format!("{unknown} is not a scheduled session")}));
        }
        for code in &codes {
            fake_pretalx::move_slot(&mut dataset, code, minutes, false);
        }
        self.editor.set(dataset.clone());
        let ids: Vec<String> = codes.iter().map(|code| format!("{code}-1")).collect();
        ResponseTemplate::new(200).set_body_json(json!({ "sessions": ids }))
    }
}

/// Codes of up to `n` confirmed submissions with exactly one slot (served as session `<code>-1`).
fn scheduled(dataset: &MemoryDataset, n: usize) -> Vec<String> {
    dataset.collections["submissions"]
        .iter()
        .filter(|s| {
            s["state"] == "confirmed" && s["slots"].as_array().is_some_and(|l| l.len() == 1)
        })
        .filter_map(|s| s["code"].as_str().map(str::to_owned))
        .take(n)
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sessions = match std::env::args().nth(1) {
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| anyhow::anyhow!("SESSIONS must be a number, got {n}"))?,
        ),
        None => None,
    };
    let (dataset, import) = match sessions {
        None => (
            fake_pretalx::demo_dataset(-1),
            fake_pretalx::demo_import().to_string(),
        ),
        Some(n) => {
            let start = chrono::Utc::now().date_naive() + chrono::Duration::days(7);
            (
                sized_pretalx::dataset(start, n, (n / 2).max(1)),
                sized_pretalx::import_options(),
            )
        }
    };
    let (server, editor) = sized_pretalx::serve_editable(dataset.clone()).await;
    Mock::given(method("POST"))
        .and(path("/_control/move"))
        .respond_with(Mover {
            dataset: Mutex::new(dataset),
            editor,
        })
        .mount(&server)
        .await;
    let server = Arc::new(server);
    println!(
        "{}",
        json!({
            "PRETALX_URL": sized_pretalx::api_url(&server),
            "PRETALX_EVENT": sized_pretalx::EVENT,
            "PRETALX_API_TOKEN": sized_pretalx::TOKEN,
            "PRETALX_IMPORT": import,
            "control": format!("{}/_control", server.uri()),
        })
    );
    // Until stdin closes (the harness ends it by closing the pipe, or kills the process).
    tokio::task::spawn_blocking(|| {
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new())
    })
    .await??;
    Ok(())
}

//! The large tier on one machine: every role as its own `plaza` process — `migrate`, the jobs (`fetch-schedule`,
//! `fetch-users`, `fetch-content`, `log-visitors`), one `api` and two `live` — against one Postgres and one Redis,
//! checked end to end: the schedule and content served, a ticket holder signing in through the emailed link, and
//! one visitor count across both live processes, with a signed-in socket's metric stored.

use std::time::Duration;

use plaza_core::queries::logs;
use plaza_tests::fake_tito::{FakeTito, ticket};
use plaza_tests::live::{JsClient, PlazaProcess, WAIT};
use plaza_tests::storage::TempDir;
use plaza_tests::{
    Backend, TestCache, TestDb, confirm_nonce, emailed_link, eventually, redirect_token, run_plaza,
    submit_confirm,
};
use serde_json::{Value, json};

/// Runs a one-shot mode to completion; panics with its stderr when it fails.
fn job(mode: &str, env: &[(&str, &str)]) -> String {
    let vars = env.iter().copied().chain([("RUST_LOG", "warn")]);
    let output = run_plaza(&["--mode", mode], vars);
    assert!(
        output.status.success(),
        "--mode {mode} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_role_as_its_own_process_on_one_postgres_and_one_redis() {
    let db = TestDb::new(Backend::Real).await;
    let cache = TestCache::new(Backend::Real);
    let tito = FakeTito::start(vec![ticket(
        "ticket-1",
        "complete",
        Some("grace@example.org"),
        chrono::Utc::now(),
    )])
    .await;
    let dir = TempDir::new();
    let outbox = dir.path.join("outbox");
    let mut env: Vec<(&str, String)> = vec![
        ("DATABASE_URL", db.url.expose().to_owned()),
        ("REDIS_PREFIX", cache.prefix.clone()),
        (
            "JWT_SECRET",
            "tier-secret-tier-secret-tier-secret-0123".into(),
        ),
        ("OUTBOX_DIR", outbox.to_string_lossy().into_owned()),
        ("VISITORS_DEBOUNCE_MS", "100".into()),
    ];
    env.push((
        "REDIS_URL",
        cache
            .redis_url
            .as_ref()
            .expect("real cache")
            .expose()
            .to_owned(),
    ));
    env.extend(tito.env());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();

    // The Jobs and CronJobs of the manifests, each a process that exits.
    assert!(job("migrate", &env).contains("migrated"));
    assert!(job("fetch-schedule", &env).contains("new version, published"));
    assert!(job("fetch-users", &env).contains("1 tickets grant access"));
    assert!(job("fetch-content", &env).contains("content version"));

    // The Deployments.
    let api = PlazaProcess::start("api", &dir.path, &env).await;
    let live_a = PlazaProcess::start("live", &dir.path, &env).await;
    let live_b = PlazaProcess::start("live", &dir.path, &env).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    for process in [&api, &live_a, &live_b] {
        let ready = http
            .get(format!("{}/readyz", process.address))
            .send()
            .await
            .expect("readyz");
        assert_eq!(ready.status(), 200, "{} not ready", process.address);
    }

    // The schedule and the content the jobs published, served by the api process.
    let schedule: Value = http
        .get(format!("{}/api/schedule", api.address))
        .send()
        .await
        .expect("schedule")
        .json()
        .await
        .expect("JSON");
    assert!(schedule["sessions"].as_array().expect("sessions").len() > 100);
    let help = http
        .get(format!("{}/api/content/help", api.address))
        .send()
        .await
        .expect("content");
    assert_eq!(help.status(), 200);

    // A ticket holder (from fetch-users) signs in through the emailed link.
    let asked = http
        .post(format!("{}/api/auth/login", api.address))
        .json(&json!({"email": "Grace@Example.org"}))
        .send()
        .await
        .expect("login");
    assert_eq!(asked.status(), 200);
    let link = emailed_link(&outbox).await;
    assert!(link.starts_with(&api.address), "{link}");
    let page = http.get(&link).send().await.expect("confirm page");
    assert_eq!(page.status(), 200);
    // The form's per-link nonce, as the browser submits it.
    let nonce = confirm_nonce(&page.text().await.expect("page"));
    assert!(!nonce.is_empty(), "a nonce in the confirm form");
    let finished = submit_confirm(&http, &link, &nonce).await;
    assert_eq!(finished.status(), 303);
    let location = finished.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let token = redirect_token(&location);
    let me: Value = http
        .get(format!("{}/api/auth/me", api.address))
        .bearer_auth(&token)
        .send()
        .await
        .expect("me")
        .json()
        .await
        .expect("JSON");
    assert_eq!(me["registration"]["email"], "grace@example.org");

    // One visitor count across both live processes; the signed-in socket's metric lands in Postgres.
    let options = json!({"transports": ["websocket"], "reconnection": false});
    let mut on_a = JsClient::connect(&live_a.address, "/api/socket.io", options.clone()).await;
    let mut on_b = JsClient::connect(&live_b.address, "/api/socket.io", options).await;
    assert!(on_a.sees_visitors(2, WAIT).await, "{:?}", on_a.seen);
    assert!(on_b.sees_visitors(2, WAIT).await, "{:?}", on_b.seen);
    on_b.emit("auth", json!([token])).await;
    on_b.emit(
        "trackMetric",
        json!(["general/pageView", {"routeName": "schedule", "params": {}}]),
    )
    .await;
    let stored = eventually(Duration::from_secs(10), || async {
        logs::recent(&db.db, "general/pageView", 10)
            .await
            .is_ok_and(|rows| rows.iter().any(|r| r.attendee.is_some()))
    });
    assert!(
        stored.await.is_some(),
        "the signed-in page view was not stored"
    );
    assert_eq!(job("log-visitors", &env).trim(), "logged 2 visitors");
    on_a.close().await;
    on_b.close().await;
}

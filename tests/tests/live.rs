//! The live server as the deconf client meets it, driven by the official JS `socket.io-client`: connecting, the
//! visitor count, `auth`/`deauth`, metrics into `logs`, admin analytics, `apiError`s — on both storage backends —
//! then what needs Redis: two live processes sharing one count (and losing a crashed one), a Redis restart, and
//! `all` mode serving the API and sockets on one port.

use std::time::{Duration, Instant};

use plaza_core::queries::logs;
use plaza_tests::live::{JsClient, PlazaProcess, TestLive, WAIT};
use plaza_tests::storage::TempDir;
use plaza_tests::{TestApp, eventually, for_each_backend, spawn_app};
use serde_json::{Value, json};

/// Fast visitor broadcasts and expiry, so tests wait little.
const FAST: &[(&str, &str)] = &[
    ("VISITORS_DEBOUNCE_MS", "100"),
    ("VISITORS_TTL_SECONDS", "2"),
];

/// Waits until `event` has `n` rows in `logs`; returns them (newest first).
async fn logged(app: &TestApp, event: &str, n: usize) -> Vec<logs::LogRow> {
    let db = &app.state.db;
    let found = eventually(WAIT, || async {
        logs::recent(db, event, 100).await.expect("logs").len() >= n
    })
    .await;
    assert!(found.is_some(), "{event} never reached {n} rows in logs");
    logs::recent(db, event, 100).await.expect("logs")
}

fn codes(api_error: &Value) -> Vec<String> {
    serde_json::from_value(api_error[0]["codes"].clone()).expect("apiError carries codes")
}

for_each_backend! {
    async fn a_client_connects_and_is_sent_the_visitor_count(backend: Backend) {
        let app = spawn_app(backend, FAST).await;
        let live = TestLive::start(&app.state).await;
        let mut first = live.client().await;
        assert!(first.sees_visitors(1, WAIT).await, "{:?}", first.seen);
        let mut second = live.client().await;
        assert!(second.sees_visitors(2, WAIT).await, "{:?}", second.seen);
        assert!(first.sees_visitors(2, WAIT).await, "{:?}", first.seen);
        second.close().await;
        assert!(first.sees_visitors(1, WAIT).await, "{:?}", first.seen);
    }

    async fn auth_binds_a_valid_token_and_answers_a_bad_one_with_an_api_error(backend: Backend) {
        let app = spawn_app(backend, FAST).await;
        let live = TestLive::start(&app.state).await;
        let mut client = live.client().await;
        client.emit("auth", json!(["not-a-jwt"])).await;
        let error = client.event("apiError", WAIT).await.expect("apiError for a bad token");
        assert_eq!(codes(&error), vec!["auth.badToken"]);
        assert_eq!(error[0]["status"], 401);
        assert!(error[0].get("stack").is_none(), "no stack trace: {error}");

        let token = app.token_for("ada@example.org", &[]).await;
        client.emit("auth", json!([token])).await;
        client.emit("trackMetric", json!(["login/finish", {}])).await;
        let rows = logged(&app, "login/finish", 1).await;
        let attendee = plaza_core::queries::attendees::find_by_email(&app.state.db, "ada@example.org")
            .await
            .expect("query")
            .expect("attendee");
        assert_eq!(rows[0].attendee, Some(attendee.id));
        assert!(rows[0].socket.is_some());

        client.emit("deauth", json!([])).await;
        client.emit("deauth", json!([])).await;
        let error = client.event("apiError", WAIT).await.expect("second deauth has nothing to remove");
        assert_eq!(codes(&error), vec!["general.unauthorized"]);
    }

    async fn the_handshake_auth_payload_binds_a_token_too(backend: Backend) {
        let app = spawn_app(backend, FAST).await;
        let live = TestLive::start(&app.state).await;
        let token = app.token_for("grace@example.org", &[]).await;
        let mut client = JsClient::connect(
            &live.address,
            &live.path,
            json!({"transports": ["websocket"], "auth": {"token": token}}),
        )
        .await;
        client.emit("trackMetric", json!(["atrium/widget", {"widget": "calendar"}])).await;
        let rows = logged(&app, "atrium/widget", 1).await;
        assert!(rows[0].attendee.is_some(), "stored anonymously: {:?}", rows[0]);
        assert_eq!(rows[0].data.0, json!({"widget": "calendar"}));
    }

    async fn events_sent_the_moment_the_client_connects_are_handled_in_order(backend: Backend) {
        let app = spawn_app(backend, FAST).await;
        let live = TestLive::start(&app.state).await;
        let token = app.token_for("admin@example.org", &["admin"]).await;
        let options = json!({
            "transports": ["websocket"],
            "emitOnConnect": [["auth", token], ["startAnalyse"], ["trackMetric", "login/finish", {}]],
        });
        let mut client = JsClient::connect(&live.address, &live.path, options).await;
        let event = client.event("liveEvent", WAIT).await.expect("auth, then startAnalyse, then the metric");
        assert_eq!(event[0]["eventName"], "login/finish");
        let rows = logged(&app, "login/finish", 1).await;
        assert!(rows[0].attendee.is_some(), "the metric was handled before auth: {:?}", rows[0]);
        assert!(client.seen.iter().all(|m| m["event"] != "apiError"), "{:?}", client.seen);
    }

    async fn invalid_metrics_are_api_errors_and_nothing_is_stored(backend: Backend) {
        let app = spawn_app(backend, FAST).await;
        let live = TestLive::start(&app.state).await;
        let mut client = live.client().await;
        client.emit("trackMetric", json!(["nope/never", {}])).await;
        let error = client.event("apiError", WAIT).await.expect("unknown event");
        assert_eq!(codes(&error), vec!["metrics.badEvent"]);
        client.emit("trackMetric", json!(["session/link", {"sessionId": 7, "action": "join", "extra": 1}])).await;
        let error = client.event("apiError", WAIT).await.expect("bad payload");
        assert_eq!(codes(&error), vec!["general.badRequest"]);
        let paths: Vec<&str> = error[0]["failures"].as_array().expect("failures")
            .iter().filter_map(|f| f["path"].as_str()).collect();
        assert_eq!(paths, vec!["sessionId", "link", "extra"]);
        client.emit("trackMetric", json!(["login/finish"])).await;
        let error = client.event("apiError", WAIT).await.expect("missing payload");
        assert_eq!(codes(&error), vec!["general.badRequest"]);

        // A valid event sent after them is stored: by then the invalid ones would have been too.
        client.emit("trackMetric", json!(["profile/userCalendar", {}])).await;
        logged(&app, "profile/userCalendar", 1).await;
        for event in ["nope/never", "session/link", "login/finish"] {
            assert!(logs::recent(&app.state.db, event, 10).await.expect("logs").is_empty(), "{event} stored");
        }
    }

    async fn admins_receive_live_events_and_errors_and_others_are_refused(backend: Backend) {
        let app = spawn_app(backend, FAST).await;
        let live = TestLive::start(&app.state).await;
        let mut admin = live.client().await;
        let admin_token = app.token_for("admin@example.org", &["admin"]).await;
        admin.emit("auth", json!([admin_token])).await;
        admin.emit("startAnalyse", json!([])).await;

        let mut attendee = live.client().await;
        let token = app.token_for("ada@example.org", &[]).await;
        attendee.emit("auth", json!([token])).await;
        attendee.emit("startAnalyse", json!([])).await;
        let refused = attendee.event("apiError", WAIT).await.expect("non-admin refused");
        assert_eq!(codes(&refused), vec!["general.unauthorized"]);
        let mut anonymous = live.client().await;
        anonymous.emit("stopAnalyse", json!([])).await;
        let refused = anonymous.event("apiError", WAIT).await.expect("anonymous refused");
        assert_eq!(refused[0]["status"], 401);

        // Rejected metrics are not streamed (reference defect 21): the first liveEvent is the valid one.
        anonymous.emit("trackMetric", json!(["nope/never", {}])).await;
        anonymous.emit("trackMetric", json!(["session/ical", {"sessionId": "s-1"}])).await;
        let event = admin.event("liveEvent", WAIT).await.expect("admin sees the metric");
        assert_eq!(event[0]["eventName"], "session/ical");
        assert_eq!(event[0]["payload"], json!({"sessionId": "s-1"}));
        assert!(event[0]["created"].is_string());

        let error = json!({"name": "TypeError", "message": "x is undefined", "stack": "at y", "info": "z"});
        anonymous.emit("trackError", json!([error.clone()])).await;
        let streamed = admin.event("liveError", WAIT).await.expect("admin sees the error");
        assert_eq!(streamed[0], error);
        let rows = logged(&app, "general/clientError", 1).await;
        assert_eq!(rows[0].data.0, json!({"message": "x is undefined", "stack": "at y"}));

        // A socket's events are handled in order, so its own metric comes after it left the room.
        admin.emit("stopAnalyse", json!([])).await;
        admin.emit("trackMetric", json!(["login/logout", {}])).await;
        logged(&app, "login/logout", 1).await;
        assert!(admin.event("liveEvent", Duration::from_millis(500)).await.is_none(), "stopped analysing");
        assert!(admin.event("apiError", Duration::ZERO).await.is_none(), "{:?}", admin.seen);
    }

    async fn a_revoked_token_is_refused_on_sockets_too(backend: Backend) {
        let app = spawn_app(backend, FAST).await;
        let live = TestLive::start(&app.state).await;
        let token = app.token_for("admin@example.org", &["admin"]).await;
        let attendee = plaza_core::queries::attendees::find_by_email(&app.state.db, "admin@example.org")
            .await
            .expect("query")
            .expect("attendee");
        plaza_core::queries::attendees::revoke_tokens(&app.state.db, attendee.id).await.expect("revoke");
        let mut client = live.client().await;
        client.emit("auth", json!([token])).await;
        let error = client.event("apiError", WAIT).await.expect("revoked");
        assert_eq!(codes(&error), vec!["general.unauthorized"]);
    }

    async fn malformed_events_get_api_errors_and_the_socket_keeps_working(backend: Backend) {
        let app = spawn_app(backend, FAST).await;
        let live = TestLive::start(&app.state).await;
        let mut client = live.client().await;
        client.emit("auth", json!([42])).await;
        client.emit("trackMetric", json!([])).await;
        client.emit("trackError", json!([])).await;
        client.emit("unknownEvent", json!([1, 2, 3])).await;
        for _ in 0..2 {
            let error = client.event("apiError", WAIT).await.expect("apiError");
            assert_eq!(error[0]["status"], 400);
        }
        client.emit("trackMetric", json!(["login/start", {"emailHash": "abc"}])).await;
        logged(&app, "login/start", 1).await;
        assert!(client.seen.iter().all(|m| m["type"] != "disconnect"), "{:?}", client.seen);
    }

    async fn polling_works_and_can_be_turned_off(backend: Backend) {
        let app = spawn_app(backend, FAST).await;
        let live = TestLive::start(&app.state).await;
        let polling = JsClient::connect(&live.address, &live.path, json!({"transports": ["polling"]})).await;
        assert_eq!(polling.seen[0]["transport"], "polling");

        let app = spawn_app(backend, &[("SOCKET_POLLING", "false")]).await;
        let live = TestLive::start(&app.state).await;
        let mut refused = JsClient::start(&live.address, &live.path, json!({"transports": ["polling"], "reconnection": false}));
        let outcome = refused.next(WAIT, |m| m["type"] == "connect" || m["type"] == "connect_error").await;
        assert_eq!(outcome.expect("an outcome")["type"], "connect_error");
        live.client().await;
    }

    async fn log_visitors_records_the_cluster_count(backend: Backend) {
        let app = spawn_app(backend, FAST).await;
        let live = TestLive::start(&app.state).await;
        let mut a = live.client().await;
        let _b = live.client().await;
        assert!(a.sees_visitors(2, WAIT).await, "{:?}", a.seen);
        let count = plaza_jobs::visitors::run_once(&app.jobs()).await.expect("job runs");
        assert_eq!(count, 2);
        let rows = logged(&app, "internal/siteVisitors", 1).await;
        assert_eq!(rows[0].data.0, json!({"visitors": 2}));
        assert_eq!(rows[0].attendee, None);
    }
}

/// Environment of a real `plaza` process on `app`'s storage.
fn process_env(app: &TestApp) -> Vec<(&'static str, String)> {
    let mut env = app.storage_env();
    for (k, v) in FAST {
        env.push((k, (*v).to_owned()));
    }
    env
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_live_processes_share_one_count_and_a_killed_one_drops_out() {
    let app = spawn_app(plaza_tests::Backend::Real, FAST).await;
    let dir = TempDir::new();
    let env = process_env(&app);
    let mut a = PlazaProcess::start("live", &dir.path, &borrowed(&env)).await;
    let mut b = PlazaProcess::start("live", &dir.path, &borrowed(&env)).await;
    let options = json!({"transports": ["websocket"], "reconnection": false});
    let mut on_a = JsClient::connect(&a.address, "/api/socket.io", options.clone()).await;
    let mut on_b = JsClient::connect(&b.address, "/api/socket.io", options.clone()).await;
    let _also_on_b = JsClient::connect(&b.address, "/api/socket.io", options.clone()).await;
    assert!(on_a.sees_visitors(3, WAIT).await, "{:?}", on_a.seen);
    assert!(on_b.sees_visitors(3, WAIT).await, "{:?}", on_b.seen);

    // Admin analytics cross processes through the Redis adapter.
    let admin_token = app.token_for("admin@example.org", &["admin"]).await;
    on_a.emit("auth", json!([admin_token])).await;
    on_a.emit("startAnalyse", json!([])).await;
    // The admin's room reaches the other process asynchronously (the adapter subscribes to the room's channel after
    // the join; the other process learns that someone analyses from a notice): send until one arrives.
    let started = Instant::now();
    let mut event = None;
    while event.is_none() && started.elapsed() < WAIT {
        on_b.emit("trackMetric", json!(["atrium/widget", {"widget": "video"}]))
            .await;
        event = on_a.event("liveEvent", Duration::from_millis(500)).await;
    }
    let event = event.expect("liveEvent from the other process");
    assert_eq!(event[0]["eventName"], "atrium/widget");

    // `--mode log-visitors` (the CronJob) stores the cluster count.
    let mut vars = borrowed(&env);
    vars.push(("RUST_LOG", "off"));
    assert_eq!(
        plaza_tests::plaza_says(&["--mode", "log-visitors"], vars),
        "logged 3 visitors"
    );
    let rows = logged(&app, "internal/siteVisitors", 1).await;
    assert_eq!(rows[0].data.0, json!({"visitors": 3}));

    let killed = Instant::now();
    b.kill();
    // Bound: TTL (2 s) + a heartbeat (TTL / 3) + the debounce (0.1 s), plus scheduling slack.
    assert!(
        on_a.sees_visitors(1, Duration::from_secs(6)).await,
        "{:?}",
        on_a.seen
    );
    let dropped_after = killed.elapsed();
    assert!(
        dropped_after <= Duration::from_secs(4),
        "count dropped only after {dropped_after:?}"
    );
    a.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_keeps_sockets_connected_and_counts_recover() {
    let mut redis = plaza_tests::redis_server::RedisServer::start().await;
    let url = redis.url();
    let mut vars = FAST.to_vec();
    vars.push(("REDIS_URL", &url));
    let app = spawn_app(plaza_tests::Backend::Real, &vars).await;
    let one = TestLive::start(&app.state).await;
    let two = TestLive::start(&app.state).await;
    let mut a = one.client().await;
    let mut b = two.client().await;
    assert!(a.sees_visitors(2, WAIT).await, "{:?}", a.seen);
    assert!(b.sees_visitors(2, WAIT).await, "{:?}", b.seen);

    redis.restart().await;

    let mut c = one.client().await;
    assert!(
        a.sees_visitors(3, Duration::from_secs(15)).await,
        "{:?}",
        a.seen
    );
    assert!(
        b.sees_visitors(3, Duration::from_secs(15)).await,
        "{:?}",
        b.seen
    );
    assert!(
        c.sees_visitors(3, Duration::from_secs(15)).await,
        "{:?}",
        c.seen
    );
    for client in [&a, &b] {
        assert!(
            client.seen.iter().all(|m| m["type"] != "disconnect"),
            "{:?}",
            client.seen
        );
    }

    // The adapter re-subscribed: admin analytics still cross live servers.
    let admin_token = app.token_for("admin@example.org", &["admin"]).await;
    b.emit("auth", json!([admin_token])).await;
    b.emit("startAnalyse", json!([])).await;
    // The adapter's connection comes back on its own schedule: send until one arrives (each is a new event).
    let started = Instant::now();
    let mut event = None;
    while event.is_none() && started.elapsed() < Duration::from_secs(15) {
        c.emit("trackMetric", json!(["login/logout", {}])).await;
        event = b.event("liveEvent", Duration::from_secs(1)).await;
    }
    let event = event.expect("liveEvent across live servers after the restart");
    assert_eq!(event[0]["eventName"], "login/logout");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_mode_serves_the_api_and_sockets_on_one_port() {
    let dir = TempDir::new();
    let db = format!("sqlite://{}/plaza.db", dir.path.display());
    let plaza = PlazaProcess::start("all", &dir.path, &[("DATABASE_URL", &db)]).await;
    let response = reqwest::get(format!("{}/api/schedule", plaza.address))
        .await
        .expect("GET /api/schedule");
    assert_eq!(response.status(), 200);
    let missing = reqwest::get(format!("{}/api/nope", plaza.address))
        .await
        .expect("GET /api/nope");
    assert_eq!(missing.status(), 404);
    assert!(
        missing.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/json")
    );
    let mut client = JsClient::connect(
        &plaza.address,
        "/api/socket.io",
        json!({"transports": ["websocket"]}),
    )
    .await;
    assert!(client.sees_visitors(1, WAIT).await, "{:?}", client.seen);
}

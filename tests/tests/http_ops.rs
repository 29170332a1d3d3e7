//! Operations endpoints and the JSON error envelope, black-box over HTTP on both storage backends.

use std::time::Duration;

use plaza_tests::app::json_body;
use plaza_tests::redis_server::RedisServer;
use plaza_tests::{Backend, TestCache, eventually, for_each_backend, spawn_app};

for_each_backend! {
    async fn healthz_and_readyz_answer_ok(backend: Backend) {
        let app = spawn_app(backend, &[]).await;
        let health = app.get("/healthz").await;
        assert_eq!(health.status(), 200);
        assert_eq!(json_body(health).await["status"], "ok");
        let ready = app.get("/readyz").await;
        assert_eq!(ready.status(), 200);
        let body = json_body(ready).await;
        assert_eq!(body["checks"]["schedule"]["loaded"], true);
        assert_eq!(body["checks"]["draining"], false);
        let reported = eventually(Duration::from_secs(5), || async {
            let health = json_body(app.get("/healthz").await).await;
            health["dependencies"]["cache"]["up"] == true && health["dependencies"]["database"]["up"] == true
        });
        assert!(reported.await.is_some(), "/healthz reports both dependencies up");
    }

    async fn the_api_index_names_plaza_and_its_version(backend: Backend) {
        let app = spawn_app(backend, &[]).await;
        for path in ["/api", "/api/"] {
            let response = app.get(path).await;
            assert_eq!(response.status(), 200, "{path}");
            let body = json_body(response).await;
            assert_eq!(body["message"], "ok");
            assert_eq!(body["pkg"]["name"], "plaza");
            assert_eq!(body["pkg"]["version"], env!("CARGO_PKG_VERSION"));
        }
    }

    async fn unknown_routes_get_the_json_envelope_even_with_malformed_json(backend: Backend) {
        let app = spawn_app(backend, &[]).await;
        let response = app.send_raw(reqwest::Method::POST, "/anything", "application/json", "{bad").await;
        assert_eq!(response.status(), 404);
        let body = json_body(response).await;
        assert_eq!(body["codes"], serde_json::json!(["general.notFound"]));
        assert!(body["error"].as_str().expect("message").contains("general.notFound"));
    }

    async fn a_wrong_method_gets_405_in_the_envelope(backend: Backend) {
        let app = spawn_app(backend, &[]).await;
        let response = app.send_raw(reqwest::Method::DELETE, "/healthz", "text/plain", "").await;
        assert_eq!(response.status(), 405);
        assert_eq!(json_body(response).await["codes"][0], "general.methodNotAllowed");
    }

    async fn readyz_answers_503_while_draining(backend: Backend) {
        let app = spawn_app(backend, &[]).await;
        app.state.start_draining();
        let response = app.get("/readyz").await;
        assert_eq!(response.status(), 503);
        let body = json_body(response).await;
        assert_eq!(body["codes"][0], "general.unavailable");
        assert_eq!(body["checks"]["draining"], true);
    }

    async fn metrics_count_requests_by_route_and_status(backend: Backend) {
        let app = spawn_app(backend, &[]).await;
        app.get("/healthz").await;
        app.get("/no-such-page").await;
        let text = app.get("/metrics").await.text().await.expect("text");
        assert!(text.contains("plaza_http_requests_total"), "{text}");
        assert!(text.contains(r#"route="/healthz""#), "{text}");
        assert!(text.contains(r#"route="unmatched""#), "{text}");
        assert!(text.contains("plaza_http_request_duration_seconds_bucket"), "{text}");
    }

    async fn the_api_can_live_at_the_root(backend: Backend) {
        let app = spawn_app(backend, &[("API_BASE_PATH", "")]).await;
        assert_eq!(json_body(app.get("/").await).await["message"], "ok");
        assert_eq!(app.get("/api/").await.status(), 404);
    }
}

/// Starts the API on Postgres with the cache pointed at `redis_url`.
async fn app_with_redis(redis_url: &str) -> plaza_tests::TestApp {
    spawn_app(
        Backend::Real,
        &[("REDIS_URL", redis_url), ("READINESS_TIMEOUT_MS", "500")],
    )
    .await
}

/// `/healthz` once its dependency detail says `dep` is `up`.
async fn health_when(address: &str, dep: &str, up: bool) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        let response = reqwest::get(format!("{address}/healthz"))
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "liveness never fails");
        last = json_body(response).await;
        if last["dependencies"][dep]["up"] == up {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{dep} never reported up={up}: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_shows_in_healthz_not_in_readyz() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let app = app_with_redis(&format!("redis://127.0.0.1:{port}")).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    let health = health_when(&app.address, "cache", false).await;
    assert_eq!(health["dependencies"]["cache"]["kind"], "redis");
    assert!(
        health["dependencies"]["cache"]["error"].is_string(),
        "{health}"
    );
    assert_eq!(health["dependencies"]["database"]["up"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_follows_a_redis_outage_and_recovery_while_readyz_stays_200() {
    let mut redis = RedisServer::start().await;
    let app = app_with_redis(&redis.url()).await;
    health_when(&app.address, "cache", true).await;
    redis.kill();
    health_when(&app.address, "cache", false).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
    redis.restart().await;
    health_when(&app.address, "cache", true).await;
    assert_eq!(app.get("/readyz").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_that_never_loaded_a_schedule_is_not_ready() {
    // Postgres unreachable and an empty cache: nothing says what is published, so the API cannot serve yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/nothing");
    let config = plaza_core::Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.clone()),
        "LISTEN_ADDR" => Some("127.0.0.1:0".into()),
        "READINESS_TIMEOUT_MS" => Some("500".into()),
        _ => None,
    })
    .expect("valid config");
    let db = plaza_core::Db::connect(&config.database_url, 1)
        .await
        .expect("lazy pool");
    let cache = TestCache::new(Backend::Embedded);
    let state = plaza_server::AppState::new(config, cache.cache.clone(), db).expect("state builds");
    let shutdown = tokio_util::sync::CancellationToken::new();
    plaza_server::snapshot::refresher::start(&state, shutdown.clone()).await;
    let (address, _server) = plaza_tests::app::start(state);
    let response = reqwest::get(format!("{address}/readyz"))
        .await
        .expect("sent");
    assert_eq!(response.status(), 503);
    let body = json_body(response).await;
    assert_eq!(body["codes"][0], "general.unavailable");
    assert_eq!(body["checks"]["schedule"]["loaded"], false);
    health_when(&address, "database", false).await;
    shutdown.cancel();
}

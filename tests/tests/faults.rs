//! Fault tests: plaza through Redis and Postgres outages, on PRIVATE servers (tests/src/redis_server.rs,
//! tests/src/postgres_server.rs) that the tests kill and restart — never the machine's shared ones.
//!
//! - two `live` processes through a Redis `kill -9`: both adapter subscriptions back (`PUBSUB NUMSUB`), admin
//!   `liveEvent`s cross processes again, and the visitor count converges without ever dropping below the local one;
//! - a `live` process started while Redis is down serves sockets and joins the cluster when Redis starts;
//! - an api started while Redis is down serves the last published schedule (same ETag) and block list, and a live
//!   process started then enforces that block list on socket `auth`;
//! - `/readyz` stays 200 through a Redis kill and a Postgres stop while `/healthz` and `plaza_dependency_up` show
//!   the outage;
//! - a SIGTERM of each server mode exits promptly and logs no panic.

use std::time::{Duration, Instant};

use plaza_jobs::content::{self, Origin};
use plaza_tests::live::{JsClient, PlazaProcess, WAIT};
use plaza_tests::postgres_server::PostgresServer;
use plaza_tests::redis_server::RedisServer;
use plaza_tests::storage::TempDir;
use plaza_tests::{Backend, TestApp, eventually, run_plaza, spawn_app};
use serde_json::{Value, json};

/// Fast visitor broadcasts and expiry, so tests wait little.
const FAST: &[(&str, &str)] = &[
    ("VISITORS_DEBOUNCE_MS", "100"),
    ("VISITORS_TTL_SECONDS", "2"),
];

const SOCKET_PATH: &str = "/api/socket.io";

/// The environment of a `plaza` process on `app`'s database and secret, with the cache on `redis`.
fn env_on(app: &TestApp, redis: &RedisServer) -> Vec<(&'static str, String)> {
    let mut env = app.storage_env();
    env.push(("REDIS_URL", redis.url()));
    for (k, v) in FAST {
        env.push((k, (*v).to_owned()));
    }
    env
}

fn borrowed<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The socket.io adapter's request channel, which every live process subscribes to.
fn adapter_channel(app: &TestApp) -> String {
    let prefix = app
        .storage_env()
        .into_iter()
        .find(|(k, _)| *k == "REDIS_PREFIX")
        .map(|(_, v)| v)
        .expect("a prefix");
    format!("{prefix}socket.io-request#/#")
}

/// Waits until `n` processes subscribe the adapter channel; how long it took.
async fn subscribers(redis: &RedisServer, channel: &str, n: u64, within: Duration) -> Duration {
    match eventually(within, || async { redis.numsub(channel).await == Some(n) }).await {
        Some(took) => took,
        None => panic!(
            "NUMSUB {channel} = {:?}, not {n}, after {within:?}",
            redis.numsub(channel).await
        ),
    }
}

fn socket_options() -> Value {
    json!({"transports": ["websocket"], "reconnection": false})
}

/// Every `site-visitors` value `client` received so far.
/// Whether the latest count `client` holds is (or becomes, within `within`) `count`. A socket is sent a count only
/// when it differs from the one it last got (issue #18), so a count already received is not sent again: drain
/// what has arrived, then look at the latest.
async fn holds_visitors(client: &mut JsClient, count: i64, within: Duration) -> bool {
    client.next(Duration::from_millis(500), |_| false).await;
    visitor_counts(client).last() == Some(&count) || client.sees_visitors(count, within).await
}

fn visitor_counts(client: &JsClient) -> Vec<i64> {
    client
        .seen
        .iter()
        .filter(|m| m["type"] == "event" && m["event"] == "site-visitors")
        .filter_map(|m| m["args"][0].as_i64())
        .collect()
}

/// An admin socket on `client` that watches metrics.
async fn watch_metrics(app: &TestApp, client: &mut JsClient) {
    let token = app.token_for("admin@example.org", &["admin"]).await;
    client.emit("auth", json!([token])).await;
    client.emit("startAnalyse", json!([])).await;
    // The handlers take turns in order, so a metric of this socket proves both ran.
    client
        .emit("trackMetric", json!(["login/finish", {}]))
        .await;
    client
        .event("liveEvent", WAIT)
        .await
        .expect("the admin sees its own metric");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_processes_rejoin_the_cluster_after_a_redis_kill() {
    let mut redis = RedisServer::start().await;
    let app = spawn_app(Backend::Real, FAST).await;
    let dir = TempDir::new();
    let env = env_on(&app, &redis);
    let a = PlazaProcess::start("live", &dir.path, &borrowed(&env)).await;
    let b = PlazaProcess::start("live", &dir.path, &borrowed(&env)).await;
    let channel = adapter_channel(&app);
    subscribers(&redis, &channel, 2, WAIT).await;

    let mut admin = JsClient::connect(&a.address, SOCKET_PATH, socket_options()).await;
    let mut on_a = JsClient::connect(&a.address, SOCKET_PATH, socket_options()).await;
    let mut on_b = JsClient::connect(&b.address, SOCKET_PATH, socket_options()).await;
    assert!(admin.sees_visitors(3, WAIT).await, "{:?}", admin.seen);
    assert!(on_b.sees_visitors(3, WAIT).await, "{:?}", on_b.seen);
    watch_metrics(&app, &mut admin).await;
    let before = (visitor_counts(&admin).len(), visitor_counts(&on_b).len());

    assert_eq!(
        redis.pattern_subscribers().await,
        Some(2),
        "each process's notice subscription"
    );

    redis.kill();
    let killed = Instant::now();
    // While Redis is away a fourth visitor arrives on B: B counts it at once, A cannot know yet.
    let mut late = JsClient::connect(&b.address, SOCKET_PATH, socket_options()).await;
    assert!(on_b.sees_visitors(4, WAIT).await, "{:?}", on_b.seen);
    // An admin still gets the metrics of its own process: a failed publish must not lose the local delivery.
    on_a.emit("trackMetric", json!(["login/logout", {}])).await;
    let local = admin
        .event("liveEvent", WAIT)
        .await
        .expect("a local liveEvent while Redis is down");
    assert_eq!(local[0]["eventName"], "login/logout");
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(killed.elapsed())).await;
    redis.restart().await;
    let back = Instant::now();

    let resubscribed = subscribers(&redis, &channel, 2, Duration::from_secs(5)).await;
    println!("both adapter subscriptions back {resubscribed:?} after Redis");
    let notices = eventually(Duration::from_secs(5), || async {
        redis.pattern_subscribers().await == Some(2)
    })
    .await;
    assert!(
        notices.is_some(),
        "the notice subscriptions are not both back"
    );
    // B streams again once it knows an admin watches: A re-sets the analysis flag (lost with Redis) on the resync or
    // its next 1 s poll, and B learns it from A's notice or its own poll. A metric B took before that is stored but
    // not streamed (by design), so B's visitor sends one every 500 ms until the admin sees one, for up to 5 s.
    let resumed = Instant::now();
    let mut event = None;
    while event.is_none() && resumed.elapsed() < Duration::from_secs(5) {
        on_b.emit("trackMetric", json!(["atrium/widget", {"widget": "video"}]))
            .await;
        event = admin.event("liveEvent", Duration::from_millis(500)).await;
    }
    let event = event.expect("a liveEvent from the other process within 5 s of the restart");
    println!(
        "B's metrics reach A's admin again {:?} after Redis",
        back.elapsed()
    );
    assert_eq!(event[0]["eventName"], "atrium/widget");

    for client in [&mut admin, &mut on_a, &mut on_b, &mut late] {
        assert!(
            holds_visitors(client, 4, Duration::from_secs(10)).await,
            "count did not converge to 4: {:?}",
            visitor_counts(client)
        );
    }
    println!("visitor count converged {:?} after Redis", back.elapsed());
    // Never below the local count: A had 2 sockets throughout, B 1 then 2.
    for count in &visitor_counts(&admin)[before.0..] {
        assert!(
            *count >= 2,
            "A broadcast {count}: {:?}",
            visitor_counts(&admin)
        );
    }
    for count in &visitor_counts(&on_b)[before.1..] {
        assert!(
            *count >= 1,
            "B broadcast {count}: {:?}",
            visitor_counts(&on_b)
        );
    }
    for count in visitor_counts(&late) {
        assert!(
            count >= 2,
            "B broadcast {count}: {:?}",
            visitor_counts(&late)
        );
    }
    for client in [&admin, &on_a, &on_b] {
        assert!(
            client.seen.iter().all(|m| m["type"] != "disconnect"),
            "{:?}",
            client.seen
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_process_started_without_redis_serves_sockets_and_joins_when_redis_starts() {
    let mut redis = RedisServer::reserved();
    let app = spawn_app(Backend::Real, FAST).await;
    let dir = TempDir::new();
    let env = env_on(&app, &redis);
    let a = PlazaProcess::start("live", &dir.path, &borrowed(&env)).await;
    let mut admin = JsClient::connect(&a.address, SOCKET_PATH, socket_options()).await;
    assert!(admin.sees_visitors(1, WAIT).await, "{:?}", admin.seen);
    let mut second = JsClient::connect(&a.address, SOCKET_PATH, socket_options()).await;
    assert!(second.sees_visitors(2, WAIT).await, "{:?}", second.seen);
    watch_metrics(&app, &mut admin).await;

    redis.restart().await;
    let channel = adapter_channel(&app);
    let joined = subscribers(&redis, &channel, 1, Duration::from_secs(5)).await;
    println!("joined the cluster {joined:?} after Redis started");
    let b = PlazaProcess::start("live", &dir.path, &borrowed(&env)).await;
    subscribers(&redis, &channel, 2, WAIT).await;
    let mut on_b = JsClient::connect(&b.address, SOCKET_PATH, socket_options()).await;
    assert!(on_b.sees_visitors(3, WAIT).await, "{:?}", on_b.seen);
    assert!(admin.sees_visitors(3, WAIT).await, "{:?}", admin.seen);
    on_b.emit("trackMetric", json!(["atrium/widget", {"widget": "video"}]))
        .await;
    let event = admin
        .event("liveEvent", WAIT)
        .await
        .expect("a liveEvent from the other process");
    assert_eq!(event[0]["eventName"], "atrium/widget");
}

/// A content folder: the bundled content with `blocked` as its block list.
fn content_blocking(blocked: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    let status = std::process::Command::new("cp")
        .arg("-r")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/../content/."))
        .arg(dir.path())
        .status()
        .expect("cp runs");
    assert!(status.success());
    std::fs::write(
        dir.path().join("blocked.json"),
        json!({ "emails": blocked }).to_string(),
    )
    .expect("write blocked.json");
    dir
}

async fn etag(app: &TestApp) -> String {
    let response = app.get("/api/schedule").await;
    assert_eq!(response.status(), 200);
    response.headers()["etag"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_started_without_redis_serves_the_published_schedule_and_block_list() {
    let mut redis = RedisServer::start().await;
    let url = redis.url();
    let app = spawn_app(Backend::Real, &[("REDIS_URL", &url)]).await;
    let version = plaza_jobs::schedule::run_once(&app.jobs())
        .await
        .expect("import")
        .version;
    let folder = content_blocking(&["mallory@example.org"]);
    content::run_once(&app.jobs(), &Origin::Local(folder.path().to_path_buf()))
        .await
        .expect("content import");
    let served = eventually(WAIT, || async {
        app.state.schedule.current().version == version
            && app.state.blocked().contains("mallory@example.org")
    });
    assert!(
        served.await.is_some(),
        "the first api serves what was published"
    );
    let published = etag(&app).await;

    redis.kill();
    let started_down = app.sibling(&[("REDIS_URL", &url)]).await;
    assert_eq!(started_down.get("/readyz").await.status(), 200);
    assert_eq!(
        etag(&started_down).await,
        published,
        "the api started without Redis serves the published schedule"
    );
    assert!(
        started_down.state.blocked().contains("mallory@example.org"),
        "and the published block list"
    );

    // When Redis returns it follows the cache's notices again.
    redis.restart().await;
    let folder = content_blocking(&["mallory@example.org", "eve@example.org"]);
    let summary = eventually(Duration::from_secs(15), || async {
        content::run_once(&app.jobs(), &Origin::Local(folder.path().to_path_buf()))
            .await
            .is_ok()
    });
    assert!(
        summary.await.is_some(),
        "content imports once Redis is back"
    );
    let followed = eventually(Duration::from_secs(10), || async {
        started_down.state.blocked().contains("eve@example.org")
    });
    assert!(
        followed.await.is_some(),
        "the new block list reached the api"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_process_started_without_redis_enforces_the_published_block_list() {
    let mut redis = RedisServer::start().await;
    let url = redis.url();
    let app = spawn_app(Backend::Real, &[("REDIS_URL", &url)]).await;
    let folder = content_blocking(&["mallory@example.org"]);
    content::run_once(&app.jobs(), &Origin::Local(folder.path().to_path_buf()))
        .await
        .expect("content import");
    let blocked = app.token_for("mallory@example.org", &[]).await;
    let allowed = app.token_for("ada@example.org", &[]).await;
    redis.kill();

    let dir = TempDir::new();
    let env = env_on(&app, &redis);
    let live = PlazaProcess::start("live", &dir.path, &borrowed(&env)).await;
    let mut client = JsClient::connect(&live.address, SOCKET_PATH, socket_options()).await;
    client.emit("auth", json!([allowed])).await;
    client.emit("auth", json!([blocked])).await;
    let error = client
        .event("apiError", WAIT)
        .await
        .expect("the blocked address is refused on sockets too");
    assert_eq!(error[0]["codes"], json!(["general.unauthorized"]));
    assert!(
        client
            .event("apiError", Duration::from_millis(300))
            .await
            .is_none(),
        "the allowed address was bound: {:?}",
        client.seen
    );
}

/// `plaza_dependency_up{dep="<dep>"}` in a Prometheus text.
fn dependency_up(metrics: &str, dep: &str) -> Option<f64> {
    let prefix = format!("plaza_dependency_up{{dep=\"{dep}\"}} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

struct Probe {
    http: reqwest::Client,
    address: String,
}

impl Probe {
    async fn status(&self, path: &str) -> u16 {
        self.http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
    }

    async fn text(&self, path: &str) -> String {
        let response = self
            .http
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("answers");
        response.text().await.expect("text")
    }

    async fn health(&self) -> Value {
        serde_json::from_str(&self.text("/healthz").await).expect("JSON")
    }

    /// Waits until `dep` is reported `up` in `/healthz` and in `/metrics`.
    async fn sees(&self, dep: &str, up: bool) {
        let seen = eventually(Duration::from_secs(10), || async {
            let health = self.health().await;
            let metric = dependency_up(&self.text("/metrics").await, dep);
            health["dependencies"][dep]["up"] == up && metric == Some(if up { 1.0 } else { 0.0 })
        })
        .await;
        assert!(
            seen.is_some(),
            "{dep} not reported up={up}: {}",
            self.health().await
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_stays_200_through_a_redis_kill_and_a_postgres_stop() {
    let mut redis = RedisServer::start().await;
    let mut postgres = PostgresServer::start().await;
    let database = postgres.create_database("plaza").await;
    let base = [
        ("DATABASE_URL", database.as_str()),
        ("REDIS_URL", &redis.url()),
        ("JWT_SECRET", "fault-secret-fault-secret-fault-secret-00"),
        ("READINESS_TIMEOUT_MS", "500"),
        ("RUST_LOG", "off"),
    ];
    for mode in ["migrate", "fetch-schedule"] {
        let output = run_plaza(&["--mode", mode], base);
        assert!(
            output.status.success(),
            "{mode}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let dir = TempDir::new();
    let api = PlazaProcess::start("api", &dir.path, &base[..4]).await;
    let probe = Probe {
        http: reqwest::Client::new(),
        address: api.address.clone(),
    };
    probe.sees("cache", true).await;
    probe.sees("database", true).await;
    assert_eq!(probe.status("/readyz").await, 200);

    redis.kill();
    probe.sees("cache", false).await;
    assert_eq!(
        probe.status("/readyz").await,
        200,
        "a Redis outage is no reason to leave the Service"
    );
    assert_eq!(probe.status("/api/schedule").await, 200);

    postgres.stop_immediate();
    probe.sees("database", false).await;
    assert_eq!(
        probe.status("/readyz").await,
        200,
        "nor is a Postgres outage"
    );
    assert_eq!(probe.status("/api/schedule").await, 200);

    redis.restart().await;
    postgres.restart().await;
    probe.sees("cache", true).await;
    probe.sees("database", true).await;
    assert_eq!(probe.status("/readyz").await, 200);
}

/// SIGTERMs `process` and returns its logs, asserting a prompt exit and no panic.
fn stops_cleanly(mut process: PlazaProcess, mode: &str) {
    let took = process.terminate(Duration::from_secs(15));
    let logs = process.logs();
    assert!(took.is_some(), "{mode} did not exit within 15 s: {logs}");
    assert!(
        !logs.contains("panicked"),
        "{mode} panicked on SIGTERM: {logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_server_mode_stops_on_sigterm_without_a_panic() {
    // The embedded tier: `all` on SQLite with the memory cache, a socket connected.
    let dir = TempDir::new();
    let db = format!("sqlite://{}/plaza.db", dir.path.display());
    let all = PlazaProcess::start(
        "all",
        &dir.path,
        &[("DATABASE_URL", &db), ("RUST_LOG", "info")],
    )
    .await;
    let mut client = JsClient::connect(&all.address, SOCKET_PATH, socket_options()).await;
    assert!(client.sees_visitors(1, WAIT).await, "{:?}", client.seen);
    stops_cleanly(all, "all");

    // The large tiers on Redis and Postgres.
    let app = spawn_app(Backend::Real, FAST).await;
    let mut env = app.storage_env();
    env.push(("RUST_LOG", "info".to_owned()));
    let api = PlazaProcess::start("api", &dir.path, &borrowed(&env)).await;
    stops_cleanly(api, "api");
    let live = PlazaProcess::start("live", &dir.path, &borrowed(&env)).await;
    let mut client = JsClient::connect(&live.address, SOCKET_PATH, socket_options()).await;
    assert!(client.sees_visitors(1, WAIT).await, "{:?}", client.seen);
    stops_cleanly(live, "live");

    // A live process whose Redis is down.
    let redis = RedisServer::reserved();
    let env = env_on(&app, &redis);
    let live = PlazaProcess::start("live", &dir.path, &borrowed(&env)).await;
    let mut client = JsClient::connect(&live.address, SOCKET_PATH, socket_options()).await;
    assert!(client.sees_visitors(1, WAIT).await, "{:?}", client.seen);
    stops_cleanly(live, "live without Redis");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigterm_during_a_snapshot_rebuild_is_not_held_up_by_it() {
    use plaza_tests::fake_pretalx::FakePretalx;
    use plaza_tests::sized_pretalx;
    let start = chrono::Utc::now().date_naive();
    let sessions = 4000;
    let fake = FakePretalx::start(sized_pretalx::dataset(start, sessions, sessions / 2)).await;
    let db = plaza_tests::TestDb::new(Backend::Real).await;
    let cache = plaza_tests::TestCache::new(Backend::Real);
    let mut env: Vec<(&str, String)> = vec![
        ("DATABASE_URL", db.url.expose().to_owned()),
        ("REDIS_URL", plaza_tests::storage::redis_url()),
        ("REDIS_PREFIX", cache.prefix.clone()),
        (
            "JWT_SECRET",
            "fault-secret-fault-secret-fault-secret-00".to_owned(),
        ),
        ("SHUTDOWN_GRACE_SECONDS", "1".to_owned()),
    ];
    env.extend(fake.env());
    let fetch = |env: &[(&'static str, String)]| {
        let mut vars = borrowed(env);
        vars.push(("RUST_LOG", "off"));
        let output = run_plaza(&["--mode", "fetch-schedule"], vars);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    fetch(&env);
    let dir = TempDir::new();
    let mut vars = borrowed(&env);
    vars.push(("RUST_LOG", "info"));
    let mut api = PlazaProcess::start("api", &dir.path, &vars).await;

    // A new, different schedule is published: the api starts rebuilding its snapshot on the notice.
    fake.set(sized_pretalx::dataset(start, sessions + 1, sessions / 2));
    fetch(&env);
    // The notice arrives within milliseconds; the rebuild of this size takes seconds.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let took = api.terminate(Duration::from_secs(30));
    let logs = api.logs();
    let took = took.unwrap_or_else(|| panic!("the api did not exit within 30 s: {logs}"));
    println!("exited {took:?} after SIGTERM");
    assert_eq!(
        logs.matches("serving schedule version").count(),
        1,
        "the rebuild was not in progress at SIGTERM (it finished first): {logs}"
    );
    assert!(!logs.contains("panicked"), "{logs}");
    // Grace (1 s) for requests, then no wait on the rebuild.
    assert!(
        took < Duration::from_secs(3),
        "the api took {took:?} to exit after SIGTERM: {logs}"
    );
}

//! The live server (and `all` on one port, which serves socket.io inside the API's listener) tried as an attacker
//! would, from one machine and no account (issue #14): an anonymous flood of metrics and oversized websocket
//! messages, one socket sending thousands of tiny events, slowloris connections, too many connections from one
//! address, and a NUL in a metric. Real `plaza` processes where the issue asks for server figures (RSS, CPU from
//! `/proc/<pid>/stat`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plaza_core::on_db;
use plaza_tests::live::{PlazaProcess, RawSocket, TestLive, WAIT};
use plaza_tests::storage::TempDir;
use plaza_tests::{Backend, TestApp, eventually, spawn_app};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const SOCKET_PATH: &str = "/api/socket.io";

/// Rows in `logs` (every event).
async fn log_rows(app: &TestApp) -> i64 {
    on_db!(&app.state.db, pool => sqlx::query_scalar::<_, i64>("SELECT count(*) FROM logs").fetch_one(pool).await)
        .expect("count logs")
}

/// A metric of `i` (distinct payloads, so each stored row can be recognised).
fn widget(i: usize) -> Value {
    json!(["trackMetric", "atrium/widget", {"widget": format!("w{i}")}])
}

/// Per-socket rate of the flood test: a burst of 10, then 1 event per second; 300 dropped events disconnect.
const FLOOD_LIMITS: &[(&str, &str)] = &[
    ("LIVE_EVENT_RATE", "1"),
    ("LIVE_EVENT_BURST", "10"),
    ("LIVE_EVENT_DROP_LIMIT", "300"),
    ("LIVE_MAX_MESSAGE_BYTES", "16384"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_flood_is_bounded_in_memory_rows_and_latency() {
    let app = spawn_app(Backend::Real, &[]).await;
    let mut vars: Vec<(&str, String)> = app.storage_env();
    vars.extend(FLOOD_LIMITS.iter().map(|(k, v)| (*k, v.to_string())));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = TempDir::new();
    let plaza = PlazaProcess::start("all", &dir.path, &vars).await;
    let address = plaza.address.clone();

    // `all` imports the demo schedule at start: wait for it, and warm the path up.
    let http = reqwest::Client::new();
    let schedule = format!("{address}/api/schedule");
    let imported = eventually(Duration::from_secs(30), || async {
        match http.get(&schedule).send().await {
            Ok(r) if r.status() == 200 => r
                .json::<Value>()
                .await
                .is_ok_and(|s| s["sessions"].as_array().is_some_and(|s| !s.is_empty())),
            _ => false,
        }
    })
    .await;
    assert!(imported.is_some(), "the demo schedule was never served");
    let mut warm = RawSocket::connect(&address, SOCKET_PATH)
        .await
        .expect("socket");
    warm.emit(&widget(0)).await.expect("emit");
    let rows_before = log_rows(&app).await;
    let rss_before = plaza.rss_bytes();

    // /api/schedule, polled all through the flood.
    let flooding = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let prober = {
        let (http, schedule, flooding) = (http.clone(), schedule.clone(), flooding.clone());
        tokio::spawn(async move {
            let mut took = Vec::new();
            while flooding.load(Ordering::Relaxed) {
                let started = Instant::now();
                // As a browser asks for it (the compressed body is built once per version).
                let response = http
                    .get(&schedule)
                    .header("accept-encoding", "br")
                    .send()
                    .await
                    .expect("GET /api/schedule");
                assert_eq!(response.status(), 200);
                response.bytes().await.expect("schedule body");
                took.push(started.elapsed());
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            took
        })
    };

    let started = Instant::now();
    // 20 attackers × 1,000 tiny metrics = 20,000 events, each attacker reconnecting whenever it is thrown out.
    let sockets = Arc::new(AtomicUsize::new(0));
    let thrown_out = Arc::new(AtomicUsize::new(0));
    let mut floods = Vec::new();
    for attacker in 0..20 {
        let (address, sockets, thrown_out) = (address.clone(), sockets.clone(), thrown_out.clone());
        floods.push(tokio::spawn(async move {
            let mut sent = 0;
            while sent < 1000 {
                let Ok(mut socket) = RawSocket::connect(&address, SOCKET_PATH).await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                sockets.fetch_add(1, Ordering::Relaxed);
                while sent < 1000 {
                    if socket.emit(&widget(attacker * 1000 + sent)).await.is_err() {
                        break;
                    }
                    sent += 1;
                }
                // 1,000 events are far over the burst plus the drop limit: the server must end the socket.
                if socket.closed_within(Duration::from_secs(3)).await {
                    thrown_out.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    // 100 MB of 1 MB `trackError`s (what socket.io's own limit let through), each refused with its socket.
    let oversized_kept = Arc::new(AtomicUsize::new(0));
    let message = format!(
        "42{}",
        json!(["trackError", {"message": "x".repeat(1_000_000), "stack": ""}])
    );
    for _ in 0..5 {
        let (address, message, kept) = (address.clone(), message.clone(), oversized_kept.clone());
        floods.push(tokio::spawn(async move {
            for _ in 0..20 {
                let mut socket = RawSocket::connect(&address, SOCKET_PATH)
                    .await
                    .expect("socket");
                let _ = socket.send_text(message.clone()).await;
                if !socket.closed_within(Duration::from_secs(3)).await {
                    kept.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for flood in floods {
        flood.await.expect("flood task");
    }
    // One 8 MiB websocket message: refused, and the socket with it.
    let mut socket = RawSocket::connect(&address, SOCKET_PATH)
        .await
        .expect("socket");
    let _ = socket
        .send_text(format!(
            "42{}",
            json!(["trackError", {"message": "y".repeat(8 << 20)}])
        ))
        .await;
    let eight_mib_refused = socket.closed_within(Duration::from_secs(5)).await;
    let flood_time = started.elapsed();

    flooding.store(false, Ordering::Relaxed);
    let mut took = prober.await.expect("prober");
    // Let the metric writer store what it accepted.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_growth = plaza.rss_bytes().saturating_sub(rss_before);
    let rows = log_rows(&app).await - rows_before;
    let largest: Option<i32> = on_db!(&app.state.db, pool => sqlx::query_scalar::<_, Option<i32>>(
        "SELECT max(length(data::text)) FROM logs").fetch_one(pool).await)
    .expect("largest row");

    let sockets = sockets.load(Ordering::Relaxed) as i64;
    // Each flooding socket may store its burst plus one event per second it lived (at most the whole flood).
    let bound = sockets * (10 + flood_time.as_secs() as i64 + 1);
    took.sort();
    let median = took.get(took.len() / 2).copied().unwrap_or_default();
    eprintln!(
        "flood {flood_time:?}: {sockets} sockets, {rows} rows (bound {bound}), RSS +{} KiB, largest row {largest:?} B, \
         /api/schedule median {median:?} over {} requests",
        rss_growth / 1024,
        took.len()
    );
    let thrown_out = thrown_out.load(Ordering::Relaxed) as i64;
    assert!(
        thrown_out >= 20,
        "only {thrown_out} of {sockets} flooding sockets were disconnected"
    );
    assert!(
        rows <= bound,
        "{rows} rows stored; the per-socket rate allows {bound}"
    );
    assert!(
        rss_growth < 20 << 20,
        "server RSS grew by {} MiB",
        rss_growth >> 20
    );
    assert_eq!(
        oversized_kept.load(Ordering::Relaxed),
        0,
        "1 MB messages kept their sockets"
    );
    assert!(
        eight_mib_refused,
        "an 8 MiB websocket message kept its socket"
    );
    assert!(
        largest.unwrap_or(0) <= 16384,
        "a {largest:?}-byte row was stored"
    );
    assert!(
        took.len() >= 10,
        "only {} schedule requests answered",
        took.len()
    );
    assert!(
        median < Duration::from_millis(50),
        "/api/schedule took {median:?} (median) during the flood"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_thousand_events_on_one_socket_cost_under_a_second_of_cpu() {
    let app = spawn_app(Backend::Real, &[]).await;
    let mut vars: Vec<(&str, String)> = app.storage_env();
    // No rate limit here: every event must go through the ordered handling.
    vars.push(("LIVE_EVENT_RATE", "1000000".into()));
    vars.push(("LIVE_EVENT_BURST", "1000000".into()));
    vars.push(("LIVE_SOCKET_QUEUE", "16000".into()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let dir = TempDir::new();
    let plaza = PlazaProcess::start("live", &dir.path, &vars).await;
    let mut socket = RawSocket::connect(&plaza.address, SOCKET_PATH)
        .await
        .expect("socket");
    let before = plaza.cpu_time();
    let event = json!(["trackMetric", "login/logout", {}]);
    for _ in 0..16_000 {
        socket.emit(&event).await.expect("emit");
    }
    let stored = eventually(Duration::from_secs(60), || async {
        log_rows(&app).await >= 16_000
    })
    .await;
    let cpu = plaza.cpu_time() - before;
    eprintln!("16,000 events: stored after {stored:?}, server CPU {cpu:?}");
    assert!(
        stored.is_some(),
        "only {} of 16,000 events stored",
        log_rows(&app).await
    );
    assert!(
        cpu < Duration::from_secs(1),
        "16,000 events cost {cpu:?} of server CPU"
    );
}

/// Opens `n` connections that send half a request and then nothing.
async fn slowloris(address: &str, n: usize) -> Vec<tokio::net::TcpStream> {
    let host = address.trim_start_matches("http://");
    let mut streams = Vec::with_capacity(n);
    for _ in 0..n {
        let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: plaza\r\nX-Slow: ")
            .await
            .expect("half a request");
        streams.push(stream);
    }
    streams
}

/// How many of `streams` the server closed within `within` (a read returns end of file or an error).
async fn closed_within(streams: Vec<tokio::net::TcpStream>, within: Duration) -> usize {
    let tasks: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                tokio::time::timeout(within, async {
                    loop {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                    }
                })
                .await
                .is_ok()
            })
        })
        .collect();
    let mut closed = 0;
    for task in tasks {
        closed += usize::from(task.await.expect("reader"));
    }
    closed
}

async fn slowloris_is_closed_by_the_header_timeout(mode: &str) {
    let dir = TempDir::new();
    let db = format!("sqlite://{}/plaza.db", dir.path.display());
    let plaza = PlazaProcess::start(
        mode,
        &dir.path,
        &[("DATABASE_URL", &db), ("LIVE_HEADER_TIMEOUT_SECONDS", "1")],
    )
    .await;
    let streams = slowloris(&plaza.address, 500).await;
    let http = reqwest::Client::new();
    let started = Instant::now();
    let response = http
        .get(format!("{}/healthz", plaza.address))
        .send()
        .await
        .expect("GET /healthz beside 500 slowloris connections");
    let took = started.elapsed();
    assert_eq!(response.status(), 200);
    assert!(took < Duration::from_millis(500), "/healthz took {took:?}");
    let closed = closed_within(streams, Duration::from_secs(6)).await;
    assert_eq!(
        closed, 500,
        "{mode}: only {closed} of 500 slowloris connections were closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_by_the_header_timeout_in_all_mode() {
    slowloris_is_closed_by_the_header_timeout("all").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_by_the_header_timeout_in_live_mode() {
    slowloris_is_closed_by_the_header_timeout("live").await;
}

/// With a cap of 10 connections set by `cap`, 10 held connections make the next ones closed at once, unread, and
/// closing them frees their slots (on `mode`'s public port).
async fn connections_over_the_cap_are_refused_at_once(mode: &str, cap: &[(&str, &str)]) {
    let dir = TempDir::new();
    let db = format!("sqlite://{}/plaza.db", dir.path.display());
    let mut vars = vec![("DATABASE_URL", db.as_str())];
    vars.extend_from_slice(cap);
    let plaza = PlazaProcess::start(mode, &dir.path, &vars).await;
    // Hold 10 connections (the start-up probe's own may still count for a moment: replace any refused at once).
    let mut held = Vec::new();
    for _ in 0..50 {
        if held.len() == 10 {
            break;
        }
        for mut stream in slowloris(&plaza.address, 10 - held.len()).await {
            let mut byte = [0u8; 1];
            let open = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut byte))
                .await
                .is_err();
            if open {
                held.push(stream);
            }
        }
    }
    assert_eq!(held.len(), 10, "the cap refused connections under it");
    let refused = slowloris(&plaza.address, 5).await;
    let started = Instant::now();
    assert_eq!(closed_within(refused, Duration::from_secs(2)).await, 5);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "refusals took {:?}",
        started.elapsed()
    );
    drop(held);
    let up = eventually(WAIT, || async {
        reqwest::get(format!("{}/healthz", plaza.address))
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(
        up.is_some(),
        "connections were not counted down when closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_ip_cap_are_refused_at_once() {
    // Loopback is not a trusted proxy here, so the test's own address is a client like any other.
    connections_over_the_cap_are_refused_at_once(
        "live",
        &[
            ("TRUSTED_PROXIES", "none"),
            ("LIVE_MAX_CONNECTIONS_PER_IP", "10"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_ip_cap_are_refused_at_once_in_all_mode() {
    // On the one port of `all` the API's own listener admits connections under the live caps.
    connections_over_the_cap_are_refused_at_once(
        "all",
        &[
            ("TRUSTED_PROXIES", "none"),
            ("LIVE_MAX_CONNECTIONS_PER_IP", "10"),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_total_cap_are_refused_at_once() {
    connections_over_the_cap_are_refused_at_once("live", &[("LIVE_MAX_CONNECTIONS", "10")]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nul_in_one_metric_costs_no_other_row_of_its_batch() {
    let app = spawn_app(Backend::Real, &[("LIVE_EVENT_BURST", "1000")]).await;
    let live = TestLive::start(&app.state).await;
    let mut socket = RawSocket::connect(&live.address, &live.path)
        .await
        .expect("socket");
    for i in 0..50 {
        socket.emit(&widget(i)).await.expect("emit");
        if i == 25 {
            // In one batch with the others: Postgres rejects \u0000 in jsonb (and text).
            socket
                .emit(&json!(["trackMetric", "atrium/widget", {"widget": "nul\u{0}here"}]))
                .await
                .expect("emit");
            socket
                .emit(&json!(["trackError", {"message": "a\u{0}b", "stack": "\u{0}"}]))
                .await
                .expect("emit");
        }
    }
    let stored = eventually(WAIT, || async { log_rows(&app).await >= 52 }).await;
    let widgets: Vec<String> = on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>(
        "SELECT data->>'widget' FROM logs WHERE event = 'atrium/widget'").fetch_all(pool).await)
    .expect("rows");
    assert!(stored.is_some(), "rows lost: {} stored", widgets.len());
    for i in 0..50 {
        assert!(widgets.contains(&format!("w{i}")), "innocent row w{i} lost");
    }
    assert!(
        widgets.contains(&"nul\u{FFFD}here".to_owned()),
        "the NUL row is stored cleaned: {widgets:?}"
    );
}

/// Messages published on the socket.io adapter's Redis channels that carry `needle`, counted until the returned
/// handle is asked.
async fn adapter_messages(app: &TestApp, needle: &'static str) -> Arc<AtomicUsize> {
    use futures_util::StreamExt as _;
    let env = app.storage_env();
    let var = |name: &str| {
        env.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .expect(name)
    };
    let client = redis::Client::open(var("REDIS_URL")).expect("redis URL");
    let mut pubsub = client.get_async_pubsub().await.expect("pubsub");
    pubsub
        .psubscribe(format!("{}socket.io*", var("REDIS_PREFIX")))
        .await
        .expect("psubscribe");
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        let mut messages = pubsub.into_on_message();
        while let Some(message) = messages.next().await {
            let payload = message.get_payload_bytes();
            if payload
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
            {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_go_through_redis_only_while_an_admin_is_analysing() {
    let app = spawn_app(Backend::Real, &[]).await;
    let one = TestLive::start(&app.state).await;
    let two = TestLive::start(&app.state).await;
    let streamed = adapter_messages(&app, "liveEvent").await;
    let mut visitor = RawSocket::connect(&one.address, &one.path)
        .await
        .expect("socket");
    for i in 0..20 {
        visitor.emit(&widget(i)).await.expect("emit");
    }
    let stored = eventually(WAIT, || async { log_rows(&app).await >= 20 }).await;
    assert!(stored.is_some(), "the metrics were not stored");
    // Stored, and (with a margin for the adapter) nothing published: nobody is watching.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        streamed.load(Ordering::Relaxed),
        0,
        "metrics were published with no admin analysing"
    );

    // An admin on the other live server: the flag reaches this one within its poll period.
    let mut admin = two.client().await;
    let token = app.token_for("admin@example.org", &["admin"]).await;
    admin.emit("auth", json!([token])).await;
    admin.emit("startAnalyse", json!([])).await;
    let mut event = None;
    let started = Instant::now();
    while event.is_none() && started.elapsed() < WAIT {
        visitor.emit(&widget(99)).await.expect("emit");
        event = admin.event("liveEvent", Duration::from_millis(500)).await;
    }
    assert!(
        event.is_some(),
        "the admin on another server never saw a liveEvent"
    );
    assert!(
        streamed.load(Ordering::Relaxed) > 0,
        "liveEvents crossed servers without Redis?"
    );
}

/// The value of counter `name` in this process's Prometheus rendering (0 when absent).
fn counter(name: &str) -> f64 {
    plaza_server::telemetry::metrics_handle()
        .render()
        .lines()
        .filter(|line| line.starts_with(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_failing_in_a_database_outage_is_retried_within_the_byte_bound() {
    use plaza_core::queries::logs::NewLog;
    use plaza_server::log_sink::LogSink;
    let storage = plaza_tests::TestDb::new(Backend::Embedded).await;
    let plaza_core::Db::Sqlite(pool) = &storage.db else {
        panic!("the embedded backend is SQLite");
    };
    // Another writer holds SQLite's write lock: every insert fails with SQLITE_BUSY after the busy timeout.
    let mut outage = pool.begin().await.expect("begin");
    sqlx::query("INSERT INTO logs (event, data) VALUES ('outage', '{}')")
        .execute(&mut *outage)
        .await
        .expect("take the write lock");
    let retries = counter("plaza_logs_retries_total");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (sink, writer) = LogSink::start(storage.db.clone(), 20_000, shutdown.clone());
    // 100 rows of ~1 KB against a 20 KB bound: about 19 are kept, the rest dropped at once.
    for i in 0..100 {
        sink.push(NewLog {
            event: "atrium/widget".into(),
            attendee: None,
            socket: None,
            data: json!({"widget": format!("{i:04}{}", "x".repeat(1000))}),
        });
    }
    let retried = eventually(Duration::from_secs(15), || async {
        counter("plaza_logs_retries_total") > retries
    })
    .await;
    assert!(retried.is_some(), "the failed batch was not retried");
    outage.rollback().await.expect("the outage ends");

    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM logs")
            .fetch_one(pool)
            .await
            .expect("count")
    };
    let stored = eventually(Duration::from_secs(15), || async { count().await > 0 }).await;
    assert!(stored.is_some(), "the kept rows were lost");
    let kept = count().await;
    assert!(
        (10..=20).contains(&kept),
        "{kept} rows kept for a 20 KB bound"
    );
    // Stored rows free their bytes: the sink accepts rows again.
    sink.push(NewLog {
        event: "login/logout".into(),
        attendee: None,
        socket: None,
        data: json!({}),
    });
    let again = eventually(WAIT, || async { count().await == kept + 1 }).await;
    assert!(again.is_some(), "the byte bound was not released");
    shutdown.cancel();
    writer.await.expect("writer stops");
}

//! The live server at scale, against the real binary (issue #19): memory comes back after a wave of clients leaves,
//! a connection storm cannot make the visitor broadcast quadratic, whatever `VISITORS_DEBOUNCE_MS` says, and a
//! client whose socket backs up still gets the latest count last and keeps working.

use std::time::{Duration, Instant};

use plaza_tests::live::{PlazaProcess, next_packet, open_socket, open_socket_with_receive_buffer};
use plaza_tests::storage::TempDir;
use plaza_tests::{Backend, TestApp, spawn_app};
use tokio::sync::Semaphore;

const SOCKET_PATH: &str = "/api/socket.io";

/// A `plaza --mode live` on `app`'s storage (the embedded tier: local adapter) with `vars`.
async fn live_process(app: &TestApp, dir: &TempDir, vars: &[(&str, &str)]) -> PlazaProcess {
    let env = app.storage_env();
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(vars);
    PlazaProcess::start("live", &dir.path, &all).await
}

/// The engine.io websocket URL of `plaza`.
fn socket_url(plaza: &PlazaProcess) -> String {
    let host = plaza.address.trim_start_matches("http://");
    format!("ws://{host}{SOCKET_PATH}/?EIO=4&transport=websocket")
}

/// Opens `n` websocket socket.io clients on `plaza` (50 handshakes at a time); each keeps reading (answering pings)
/// in a task of its own until aborted.
async fn connect_many(plaza: &PlazaProcess, n: usize) -> Vec<tokio::task::JoinHandle<()>> {
    let url = socket_url(plaza);
    let gate = std::sync::Arc::new(Semaphore::new(50));
    let opening: Vec<_> = (0..n)
        .map(|_| {
            let (url, gate) = (url.clone(), gate.clone());
            tokio::spawn(async move {
                let _permit = gate.acquire_owned().await.expect("gate");
                open_socket(&url).await.expect("socket opens")
            })
        })
        .collect();
    let mut readers = Vec::with_capacity(n);
    for handle in opening {
        let mut ws = handle.await.expect("opened");
        readers.push(tokio::spawn(async move {
            while next_packet(&mut ws).await.is_some() {}
        }));
    }
    readers
}

/// Closes every client (dropping its TCP connection) and waits until the tasks are gone.
async fn leave(readers: Vec<tokio::task::JoinHandle<()>>) {
    for reader in &readers {
        reader.abort();
    }
    for reader in readers {
        let _ = reader.await;
    }
}

/// The value of the counter or gauge `name` (no labels) on `plaza`'s `/metrics`.
async fn metric(plaza: &PlazaProcess, name: &str) -> f64 {
    let body = reqwest::get(format!("{}/metrics", plaza.address))
        .await
        .expect("/metrics")
        .text()
        .await
        .expect("/metrics body");
    body.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_comes_back_after_every_client_leaves() {
    let app = spawn_app(Backend::Embedded, &[]).await;
    let dir = TempDir::new();
    let plaza = live_process(&app, &dir, &[("VISITORS_DEBOUNCE_MS", "100")]).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = plaza.rss_bytes();
    let mut peak = 0;
    // Two waves: what the first leaves behind must not pile up under the second.
    for _ in 0..2 {
        let readers = connect_many(&plaza, 2_000).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        peak = peak.max(plaza.rss_bytes());
        leave(readers).await;
    }
    let left = Instant::now();
    let mut now = plaza.rss_bytes();
    while now > 2 * idle && left.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        now = plaza.rss_bytes();
    }
    let kib = |b: u64| b / 1024;
    eprintln!(
        "RSS idle {} KiB, peak {} KiB, {} KiB {:.1} s after the last client left",
        kib(idle),
        kib(peak),
        kib(now),
        left.elapsed().as_secs_f64()
    );
    assert!(
        now <= 2 * idle,
        "RSS {} KiB 30 s after every client left, idle was {} KiB (peak {} KiB)",
        kib(now),
        kib(idle),
        kib(peak)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_storm_costs_far_fewer_broadcasts_than_connects() {
    let app = spawn_app(Backend::Embedded, &[]).await;
    let dir = TempDir::new();
    // The shortest debounce: only the coalescing bounds the broadcasts.
    let plaza = live_process(&app, &dir, &[("VISITORS_DEBOUNCE_MS", "1")]).await;
    let n = 1_500;
    let readers = connect_many(&plaza, n).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let broadcasts = metric(&plaza, "plaza_live_visitor_broadcasts_total").await;
    let sends = metric(&plaza, "plaza_live_visitor_broadcast_sockets_total").await;
    eprintln!("{n} connects: {broadcasts} broadcasts reaching {sends} sockets in all");
    leave(readers).await;
    assert!(broadcasts >= 1.0, "no broadcast counted");
    // One broadcast per connect (what a 1 ms debounce alone allows at this connect rate) would reach n²/2 sockets.
    assert!(
        broadcasts <= (n / 10) as f64,
        "{broadcasts} broadcasts for {n} connects"
    );
    assert!(
        sends <= (n * n / 10) as f64,
        "{sends} socket sends for {n} connects"
    );
}

/// A client that stops reading backs its socket up: its writer is then stuck behind a full socket, so the counts of
/// every broadcast meanwhile must wait in the socket's volatile slot, the latest replacing older ones — never queue
/// up behind the replies, never be lost. Once the client reads again it gets the latest count last, and the socket
/// still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_socket_backs_up_gets_the_latest_count_and_keeps_working() {
    use futures_util::SinkExt as _;
    use tokio_tungstenite::tungstenite::Message;
    let app = spawn_app(Backend::Embedded, &[]).await;
    let dir = TempDir::new();
    let plaza = live_process(
        &app,
        &dir,
        &[
            ("VISITORS_DEBOUNCE_MS", "1"),
            ("LIVE_EVENT_RATE", "100000"),
            ("LIVE_EVENT_BURST", "100000"),
            ("LIVE_SOCKET_QUEUE", "10000"),
            ("LIVE_EVENT_DROP_LIMIT", "100000"),
        ],
    )
    .await;
    let mut stalled = open_socket_with_receive_buffer(&socket_url(&plaza), 2048)
        .await
        .expect("socket opens");
    let invalid = r#"42["trackMetric"]"#;
    // Invalid metrics, each answered with an `apiError` (107 bytes), in waves: more than the small window and the
    // server's socket buffer hold while the client does not read (on loopback the kernel grows the sending buffer
    // up to `tcp_wmem`'s 4 MiB); engine.io's queue takes up to 128 more replies, then drops them.
    for _ in 0..80 {
        for _ in 0..1000 {
            stalled.send(Message::text(invalid)).await.expect("sent");
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    // Visitor changes while the stalled socket's writer cannot write.
    for _ in 0..10 {
        leave(connect_many(&plaza, 20).await).await;
    }
    let _staying = connect_many(&plaza, 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let broadcasts = metric(&plaza, "plaza_live_visitor_broadcasts_total").await;
    // Read everything sent so far (until nothing comes for a second), then check the socket still answers.
    let (mut errors, mut counts) = (0, Vec::new());
    let read = |text: String, errors: &mut usize, counts: &mut Vec<i64>| {
        if text.starts_with(r#"42["apiError""#) {
            *errors += 1;
        } else if let Some(count) = text
            .strip_prefix(r#"42["site-visitors","#)
            .and_then(|rest| rest.strip_suffix(']'))
        {
            counts.push(count.parse::<i64>().expect("a count"));
        }
    };
    while let Ok(packet) =
        tokio::time::timeout(Duration::from_secs(1), next_packet(&mut stalled)).await
    {
        read(
            packet.expect("the socket stays open"),
            &mut errors,
            &mut counts,
        );
    }
    eprintln!(
        "{errors} apiErrors; {} counts received (last {:?}) for {broadcasts} broadcasts",
        counts.len(),
        counts.iter().rev().take(3).collect::<Vec<_>>()
    );
    assert!(errors > 0, "no reply arrived");
    assert_eq!(counts.last(), Some(&4), "the latest count arrives last");
    assert!(
        (counts.len() as f64) < broadcasts,
        "{} counts for {broadcasts} broadcasts: the backed-up socket should have kept only the latest",
        counts.len()
    );
    let before = errors;
    stalled.send(Message::text(invalid)).await.expect("sent");
    while errors == before {
        let packet = tokio::time::timeout(Duration::from_secs(5), next_packet(&mut stalled))
            .await
            .expect("an answer within 5 s");
        read(
            packet.expect("the socket stays open"),
            &mut errors,
            &mut counts,
        );
    }
}

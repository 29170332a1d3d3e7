//! A lean socket.io benchmark client for `scripts/bench live` (`BENCH_CLIENT=rust`): the same protocol and output as
//! `tests/js/bench-live.mjs`, but every client is a task in one Rust process speaking engine.io v4 / socket.io v5
//! over a websocket directly, so the clients take far less of the shared CPU than node processes would and the
//! figures say more about the server.
//!
//! The client is an instrument on the server's own cores, so it is kept lean: one thread by default
//! (`BENCH_CLIENT_THREADS`), and a received count is read without allocating (engine.io pings answered inline). With
//! two threads it took more of the two cores away from the server during a fan-out, and the last client's delay was
//! partly the client's own queue (same server binary, 10,000 clients: p99 108–134 ms with two threads, 98–103 ms
//! with one).
//!
//! Usage: `bench-live-client URLS PATH N [ROUNDS]` (URLS comma-separated; clients split round-robin). Prints
//! `{"phase":"connected","clients":n}` on stdout once every client sees the full count, waits for a line on stdin,
//! then runs ROUNDS × (join, leave) visitor changes and prints the `{"phase":"done", …}` summary.

use std::io::BufRead as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use plaza_tests::live::open_socket;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// Shared by every client task.
struct Board {
    base: Instant,
    /// The count every client waits for (−1: none).
    expected: AtomicI64,
    /// Per client: the last count seen.
    latest: Vec<AtomicI64>,
    /// Per client: when (µs since `base`, +1) the expected count arrived; 0 while waiting.
    received: Vec<AtomicU64>,
    connected: AtomicUsize,
}

impl Board {
    fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }
}

/// This process's CPU seconds so far (user + system, every thread), from `/proc/self/stat` (in clock ticks of
/// 1/100 s: Linux's fixed `USER_HZ`); 0 where that cannot be read.
fn own_cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) in parentheses; utime and stime are the 12th and 13th.
    let ticks: u64 = stat
        .rsplit_once(") ")
        .map(|(_, rest)| {
            rest.split(' ')
                .skip(11)
                .take(2)
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    ticks as f64 / 100.0
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((p / 100.0) * sorted.len() as f64)
        .floor()
        .min(sorted.len() as f64 - 1.0) as usize]
}

/// `site-visitors` count of a socket.io event packet, if it is one: plaza's exact encoding read in place, anything
/// else through serde_json.
fn visitors(text: &str) -> Option<i64> {
    if let Some(count) = text
        .strip_prefix("42[\"site-visitors\",")
        .and_then(|rest| rest.strip_suffix(']'))
        .and_then(|n| n.parse().ok())
    {
        return Some(count);
    }
    let body = text.strip_prefix("42")?;
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    (value.get(0)?.as_str()? == "site-visitors")
        .then(|| value.get(1)?.as_i64())
        .flatten()
}

/// Opens one client; returns once socket.io has acknowledged the namespace connection, with the task that keeps it.
async fn open(
    url: &str,
    board: Arc<Board>,
    slot: Option<usize>,
) -> anyhow::Result<(f64, tokio::task::JoinHandle<()>)> {
    let started = Instant::now();
    let mut ws = open_socket(url).await?;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let task = tokio::spawn(async move {
        while let Some(Ok(message)) = ws.next().await {
            let Message::Text(text) = message else {
                continue;
            };
            if text.as_str() == "2" {
                if ws.send(Message::text("3")).await.is_err() {
                    return;
                }
                continue;
            }
            let (Some(count), Some(i)) = (visitors(text.as_str()), slot) else {
                continue;
            };
            board.latest[i].store(count, Ordering::Relaxed);
            if count == board.expected.load(Ordering::Relaxed) {
                let _ = board.received[i].compare_exchange(
                    0,
                    board.now_us() + 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
            }
        }
    });
    Ok((ms, task))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [urls, path, n, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: bench-live-client URLS PATH N [ROUNDS]");
    };
    let n: usize = n.parse()?;
    let rounds: usize = rest.first().map_or(Ok(5), |r| r.parse())?;
    let urls: Vec<String> = urls
        .split(',')
        .map(|u| {
            format!(
                "{}{path}/?EIO=4&transport=websocket",
                u.replacen("http://", "ws://", 1)
            )
        })
        .collect();
    let threads: usize = std::env::var("BENCH_CLIENT_THREADS").map_or(Ok(1), |t| t.parse())?;
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    runtime.block_on(run(urls, n, rounds))
}

async fn run(urls: Vec<String>, n: usize, rounds: usize) -> anyhow::Result<()> {
    let board = Arc::new(Board {
        base: Instant::now(),
        expected: AtomicI64::new(-1),
        latest: (0..n).map(|_| AtomicI64::new(-1)).collect(),
        received: (0..n).map(|_| AtomicU64::new(0)).collect(),
        connected: AtomicUsize::new(0),
    });
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(50));
    let mut opening = Vec::with_capacity(n);
    for i in 0..n {
        let (url, board, gate) = (urls[i % urls.len()].clone(), board.clone(), gate.clone());
        opening.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.ok()?;
            let opened = open(&url, board.clone(), Some(i)).await.ok()?;
            board.connected.fetch_add(1, Ordering::Relaxed);
            Some((i, opened))
        }));
    }
    let mut connect_ms = Vec::with_capacity(n);
    let mut tasks = Vec::with_capacity(n);
    let mut live = Vec::with_capacity(n);
    for handle in opening {
        if let Some((i, (ms, task))) = handle.await? {
            connect_ms.push(ms);
            tasks.push(task);
            live.push(i);
        }
    }
    let total_s = started.elapsed().as_secs_f64();
    connect_ms.sort_by(f64::total_cmp);
    let clients = connect_ms.len();
    let failed = n - clients;
    eprintln!(
        "connected {clients}/{n} in {total_s:.1} s, handshake p50 {:.1} ms p99 {:.1} ms, {failed} failed",
        pct(&connect_ms, 50.0),
        pct(&connect_ms, 99.0)
    );
    let settled = Instant::now();
    let agreeing = || {
        live.iter()
            .filter(|&&i| board.latest[i].load(Ordering::Relaxed) == clients as i64)
            .count()
    };
    while agreeing() < clients && settled.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "{}/{clients} clients see site-visitors = {clients}",
        agreeing()
    );
    println!(
        "{}",
        serde_json::json!({"phase": "connected", "clients": clients})
    );
    tokio::task::spawn_blocking(|| {
        let _ = std::io::stdin().lock().lines().next();
    })
    .await?;

    let cpu_before = own_cpu_s();
    let mut delays = Vec::new();
    let mut missed = 0;
    let mut expected = clients as i64;
    let mut probe = None;
    for round in 0..rounds * 2 {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let joining = round % 2 == 0;
        expected += if joining { 1 } else { -1 };
        for slot in &board.received {
            slot.store(0, Ordering::Relaxed);
        }
        board.expected.store(expected, Ordering::Relaxed);
        let t0 = board.now_us();
        if joining {
            probe = Some(open(&urls[0], board.clone(), None).await?.1);
        } else if let Some(task) = probe.take() {
            task.abort();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while live
            .iter()
            .any(|&i| board.received[i].load(Ordering::Relaxed) == 0)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut got: Vec<f64> = live
            .iter()
            .filter_map(|&i| match board.received[i].load(Ordering::Relaxed) {
                0 => None,
                at => Some((at - 1).saturating_sub(t0) as f64 / 1000.0),
            })
            .collect();
        missed += clients - got.len();
        if got.len() < clients {
            let mut seen = std::collections::BTreeMap::new();
            for &i in &live {
                *seen
                    .entry(board.latest[i].load(Ordering::Relaxed))
                    .or_insert(0) += 1;
            }
            eprintln!(
                "round {}: expected {expected}, clients see {seen:?}",
                round + 1
            );
        }
        got.sort_by(f64::total_cmp);
        eprintln!(
            "round {}: {} reached {}/{clients} clients, first {:.0} ms, p50 {:.0} ms, p99 {:.0} ms, last {:.0} ms",
            round + 1,
            if joining { "+1" } else { "-1" },
            got.len(),
            got.first().copied().unwrap_or(f64::NAN),
            pct(&got, 50.0),
            pct(&got, 99.0),
            got.last().copied().unwrap_or(f64::NAN)
        );
        delays.extend(got);
    }
    delays.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({
            "phase": "done", "clients": clients, "failed": failed, "connect_total_s": total_s,
            "connect_p50_ms": pct(&connect_ms, 50.0), "connect_p99_ms": pct(&connect_ms, 99.0),
            "broadcast_p50_ms": pct(&delays, 50.0), "broadcast_p99_ms": pct(&delays, 99.0),
            "broadcast_max_ms": delays.last().copied().unwrap_or(f64::NAN), "missed": missed,
            "changes": rounds * 2, "client_cpu_s": own_cpu_s() - cpu_before,
        })
    );
    for task in tasks {
        task.abort();
    }
    Ok(())
}

//! A lean socket.io benchmark client for `scripts/bench live` (`BENCH_CLIENT=rust`): the same protocol and output as
//! `tests/js/bench-live.mjs`, but every client is a task in one Rust process speaking engine.io v4 / socket.io v5
//! over a websocket directly, so the clients take far less of the shared CPU than node processes would and the
//! figures say more about the server.
//!
//! The client is an instrument on the server's own cores, so it is kept lean: one thread by default
//! (`BENCH_CLIENT_THREADS`), and the websocket spoken over the bare TCP stream ([`Wire`]): a received count is one
//! `recv` and a frame parsed in place, no allocation (engine.io pings answered inline). Through tokio-tungstenite it
//! took 2.2–2.6 µs of user-space CPU per received count, now 0.4–0.7 µs (issue #19: a third of the CPU of a fan-out
//! on the two shared cores was the client's). With
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

use tokio::sync::Semaphore;

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

/// engine.io pings answered so far.
static PINGS: AtomicUsize = AtomicUsize::new(0);

impl Board {
    fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }
}

/// This process's CPU seconds so far (user, system; every thread), from `/proc/self/stat` (in clock ticks of
/// 1/100 s: Linux's fixed `USER_HZ`); 0 where that cannot be read.
fn own_cpu_s() -> [f64; 2] {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name (which may hold spaces) in parentheses; utime and stime are the 12th and 13th.
    let mut ticks = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest.split(' ').skip(11).take(2).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|t| t.parse::<u64>().map_or(0.0, |t| t as f64 / 100.0));
    [ticks.next().unwrap_or(0.0), ticks.next().unwrap_or(0.0)]
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

/// One client's websocket, spoken directly over its TCP connection: the HTTP upgrade, then frames parsed in place
/// from one small buffer (the server's frames are unmasked; ours are masked with a zero key, which RFC 6455 allows).
/// A general websocket library cost this client more CPU per received count than the kernel's own work (tokio-tungstenite:
/// a waker proxy and a frame buffer per message), CPU taken from the server it measures.
struct Wire {
    stream: tokio::net::TcpStream,
    buf: Vec<u8>,
    /// Bytes of `buf` holding data.
    len: usize,
    /// Bytes at the start of `buf` that belong to the frame returned last.
    consumed: usize,
}

/// The first frame in `data`, if whole: (opcode, payload range, frame length).
fn frame(data: &[u8]) -> Option<(u8, std::ops::Range<usize>, usize)> {
    let (&b0, &b1) = (data.first()?, data.get(1)?);
    let (len, header) = match b1 & 0x7f {
        126 => (
            u16::from_be_bytes(data.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(data.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    // A server never masks; a masked frame is taken with its key skipped (it is not expected here).
    let header = header + if b1 & 0x80 != 0 { 4 } else { 0 };
    (data.len() >= header + len).then_some((b0 & 0x0f, header..header + len, header + len))
}

impl Wire {
    /// Connects to `url` (`ws://host:port/path?query`) and completes the websocket upgrade.
    async fn connect(url: &str) -> anyhow::Result<Self> {
        use tokio::io::AsyncWriteExt as _;
        let rest = url.strip_prefix("ws://").unwrap_or(url);
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let mut stream = tokio::net::TcpStream::connect(host).await?;
        stream.set_nodelay(true)?;
        stream
            .write_all(
                format!(
                    "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                )
                .as_bytes(),
            )
            .await?;
        let mut wire = Self {
            stream,
            buf: vec![0; 512],
            len: 0,
            consumed: 0,
        };
        let end = loop {
            if let Some(end) = wire.buf[..wire.len]
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
            {
                break end + 4;
            }
            anyhow::ensure!(
                wire.fill().await? > 0,
                "closed during the websocket upgrade"
            );
        };
        anyhow::ensure!(
            wire.buf.starts_with(b"HTTP/1.1 101"),
            "upgrade refused: {}",
            String::from_utf8_lossy(&wire.buf[..end])
        );
        wire.consumed = end;
        Ok(wire)
    }

    /// Reads more bytes (growing the buffer when a frame does not fit); 0 at end of stream.
    async fn fill(&mut self) -> std::io::Result<usize> {
        use tokio::io::AsyncReadExt as _;
        if self.len == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.stream.read(&mut self.buf[self.len..]).await?;
        self.len += n;
        Ok(n)
    }

    /// The next text message (websocket and engine.io pings answered, other frames skipped); `None` once the
    /// connection closed.
    async fn next_text(&mut self) -> Option<&str> {
        loop {
            // Drop the frame handled last, then handle the next one whole, or read more.
            self.buf.copy_within(self.consumed..self.len, 0);
            self.len -= self.consumed;
            self.consumed = 0;
            let Some((opcode, payload, length)) = frame(&self.buf[..self.len]) else {
                if !matches!(self.fill().await, Ok(1..)) {
                    return None;
                }
                continue;
            };
            self.consumed = length;
            match opcode {
                // engine.io's ping, answered here (it comes during the handshake too).
                0x1 if self.buf[payload.clone()] == *b"2" => {
                    PINGS.fetch_add(1, Ordering::Relaxed);
                    self.send_frame(0x1, b"3").await.ok()?;
                }
                0x1 => return std::str::from_utf8(&self.buf[payload]).ok(),
                0x8 => return None,
                0x9 => {
                    let data = self.buf[payload].to_vec();
                    self.send_frame(0xa, &data).await.ok()?;
                }
                _ => {}
            }
        }
    }

    /// Sends a short (< 126 bytes) text message.
    async fn send_text(&mut self, text: &str) -> std::io::Result<()> {
        self.send_frame(0x1, text.as_bytes()).await
    }

    /// Sends one frame of `opcode` with a short (< 126 bytes) payload, masked with a zero key.
    async fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> std::io::Result<()> {
        use tokio::io::AsyncWriteExt as _;
        debug_assert!(payload.len() < 126);
        let frame = [
            &[0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0][..],
            payload,
        ]
        .concat();
        self.stream.write_all(&frame).await
    }
}

/// Opens one client; returns once socket.io has acknowledged the namespace connection, with the task that keeps it.
async fn open(
    url: &str,
    board: Arc<Board>,
    slot: Option<usize>,
) -> anyhow::Result<(f64, tokio::task::JoinHandle<()>)> {
    let started = Instant::now();
    let mut wire = Wire::connect(url).await?;
    // The engine.io open packet, then the default namespace joined.
    loop {
        match wire.next_text().await {
            Some(text) if text.starts_with('0') => break,
            Some(_) => {}
            None => anyhow::bail!("closed before the engine.io open packet"),
        }
    }
    wire.send_text("40").await?;
    loop {
        match wire.next_text().await {
            Some(text) if text.starts_with("40") => break,
            Some(text) if text.starts_with("44") => anyhow::bail!("connect refused: {text}"),
            Some(_) => {}
            None => anyhow::bail!("closed before the socket.io connect"),
        }
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let task = tokio::spawn(async move {
        while let Some(text) = wire.next_text().await {
            let (Some(count), Some(i)) = (visitors(text), slot) else {
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
        let pings = PINGS.load(Ordering::Relaxed);
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
            "round {}: {} reached {}/{clients} clients, first {:.0} ms, p50 {:.0} ms, p99 {:.0} ms, last {:.0} ms ({} pings meanwhile)",
            round + 1,
            if joining { "+1" } else { "-1" },
            got.len(),
            got.first().copied().unwrap_or(f64::NAN),
            pct(&got, 50.0),
            pct(&got, 99.0),
            got.last().copied().unwrap_or(f64::NAN),
            PINGS.load(Ordering::Relaxed) - pings
        );
        delays.extend(got);
    }
    let cpu_after = own_cpu_s();
    delays.sort_by(f64::total_cmp);
    println!(
        "{}",
        serde_json::json!({
            "phase": "done", "clients": clients, "failed": failed, "connect_total_s": total_s,
            "connect_p50_ms": pct(&connect_ms, 50.0), "connect_p99_ms": pct(&connect_ms, 99.0),
            "broadcast_p50_ms": pct(&delays, 50.0), "broadcast_p99_ms": pct(&delays, 99.0),
            "broadcast_max_ms": delays.last().copied().unwrap_or(f64::NAN), "missed": missed,
            "changes": rounds * 2, "client_cpu_s": cpu_after[0] + cpu_after[1] - cpu_before[0] - cpu_before[1],
            "client_user_s": cpu_after[0] - cpu_before[0],
        })
    );
    for task in tasks {
        task.abort();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{frame, visitors};

    #[test]
    fn frames_are_read_whole_or_not_at_all() {
        // A short text frame, then the start of the next one.
        let data = [0x81, 0x01, b'2', 0x81];
        assert_eq!(frame(&data), Some((0x1, 2..3, 3)));
        assert_eq!(frame(&data[..2]), None);
        assert_eq!(frame(&data[3..]), None);
        // 16-bit and 64-bit lengths.
        let mut long = vec![0x81, 126, 0x01, 0x00];
        long.resize(4 + 256, b'x');
        assert_eq!(frame(&long), Some((0x1, 4..260, 260)));
        assert_eq!(frame(&long[..259]), None);
        let mut huge = vec![0x82, 127, 0, 0, 0, 0, 0, 0, 0x01, 0x00];
        huge.resize(10 + 256, 0);
        assert_eq!(frame(&huge), Some((0x2, 10..266, 266)));
        // A masked frame: the key is skipped; a close frame keeps its opcode.
        assert_eq!(frame(&[0x81, 0x81, 0, 0, 0, 0, b'3']), Some((0x1, 6..7, 7)));
        assert_eq!(frame(&[0x88, 0x00]), Some((0x8, 2..2, 2)));
    }

    #[test]
    fn counts_are_read_from_either_encoding() {
        assert_eq!(visitors("42[\"site-visitors\",10001]"), Some(10001));
        assert_eq!(visitors("42[\"site-visitors\", 7]"), Some(7));
        assert_eq!(visitors("42[\"other\",7]"), None);
        assert_eq!(visitors("2"), None);
    }
}

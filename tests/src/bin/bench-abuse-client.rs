//! The attacker of `scripts/bench abuse`: from one process and no account, floods a live server for SECONDS with
//! tiny `trackMetric` events from ATTACKERS raw websocket sockets (each reconnecting whenever the server throws it
//! out) and 1 MB `trackError` messages from 5 more, then prints one JSON line of what it sent.
//!
//! Usage: `bench-abuse-client URL PATH SECONDS [ATTACKERS]` (URL `http://host:port`, PATH the socket.io path).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use plaza_tests::live::RawSocket;
use serde_json::json;

#[derive(Default)]
struct Sent {
    events: AtomicU64,
    sockets: AtomicU64,
    oversized_bytes: AtomicU64,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, path, seconds, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: bench-abuse-client URL PATH SECONDS [ATTACKERS]");
    };
    let until = Instant::now() + Duration::from_secs(seconds.parse()?);
    let attackers: usize = rest.first().map(|a| a.parse()).transpose()?.unwrap_or(20);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let sent = Arc::new(Sent::default());
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for _ in 0..attackers {
            let (url, path, sent) = (url.clone(), path.clone(), sent.clone());
            tasks.push(tokio::spawn(async move {
                let event = json!(["trackMetric", "atrium/widget", {"widget": "flood"}]);
                while Instant::now() < until {
                    let Ok(mut socket) = RawSocket::connect(&url, &path).await else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    sent.sockets.fetch_add(1, Ordering::Relaxed);
                    while Instant::now() < until && socket.emit(&event).await.is_ok() {
                        sent.events.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        let oversized = format!(
            "42{}",
            json!(["trackError", {"message": "x".repeat(1_000_000), "stack": ""}])
        );
        for _ in 0..5 {
            let (url, path, sent, oversized) =
                (url.clone(), path.clone(), sent.clone(), oversized.clone());
            tasks.push(tokio::spawn(async move {
                while Instant::now() < until {
                    let Ok(mut socket) = RawSocket::connect(&url, &path).await else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    sent.sockets.fetch_add(1, Ordering::Relaxed);
                    if socket.send_text(oversized.clone()).await.is_ok() {
                        sent.oversized_bytes
                            .fetch_add(oversized.len() as u64, Ordering::Relaxed);
                    }
                    socket.closed_within(Duration::from_secs(1)).await;
                }
            }));
        }
        for task in tasks {
            let _ = task.await;
        }
    });
    println!(
        "{}",
        json!({
            "events": sent.events.load(Ordering::Relaxed),
            "sockets": sent.sockets.load(Ordering::Relaxed),
            "oversizedBytes": sent.oversized_bytes.load(Ordering::Relaxed),
        })
    );
    Ok(())
}

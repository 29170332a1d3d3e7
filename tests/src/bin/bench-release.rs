//! `bench-release`: what one schedule release costs when many attendees saved the sessions it moves (#20), for
//! `scripts/bench release` (scripts/lib/bench-release.sh prepares Postgres, Redis and the release binaries).
//!
//! On a fresh Postgres database (`DATABASE_URL`) and Redis (`REDIS_URL`) with the release `plaza` (`PLAZA_BIN`):
//! a generated Pretalx event (`BENCH_SESSIONS`, default 2,000) over HTTP, `BENCH_ATTENDEES` (10,000) ticket
//! holders (`plaza fake-tito`), seeded straight into `attendees`/`attendance` with SQL — attendee n saves moved
//! session n mod `BENCH_MOVES` (20) and 4 sessions the release leaves alone, so a release moving those 20 touches
//! every attendee — an SMTP sink in this process, one `api` and two `live` processes, and `BENCH_SOCKETS` (5,000)
//! socket.io v5 clients (tasks here, websocket only), each signed in as attendee 1..=`BENCH_SOCKETS`, split
//! across the two live processes.
//!
//! Then `BENCH_ROUNDS` (2) rounds, each one release without and one with the attendance rows (alternating which
//! goes first): the 20 sessions move 10 minutes in Pretalx and `plaza --mode fetch-schedule` imports. Printed: the
//! import's wall time (a whole `fetch-schedule` process: same start-up in both arms) with and without attendees
//! and the growth; from the import's end (the release is published) to the last `myScheduleChanged` received and
//! to the last digest handed to SMTP; the peak RSS (VmHWM) of the api and live processes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::SinkExt as _;
use plaza_core::auth::Tokens;
use plaza_core::config::Secret;
use plaza_jobs::pretalx::memory::MemoryDataset;
use plaza_tests::live::{PlazaProcess, next_packet, open_socket};
use plaza_tests::smtp_sink::SmtpSink;
use plaza_tests::{fake_pretalx, sized_pretalx};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

const SECRET: &str = "bench-release-secret-bench-release-secret";
const ISSUER: &str = "plaza-bench";
const MOVE_MINUTES: i64 = 10;

fn setting(name: &str, default: usize) -> anyhow::Result<usize> {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .with_context(|| format!("{name} must be a number, got {v:?}")),
        Err(_) => Ok(default),
    }
}

/// What every client task reports to.
struct Board {
    base: Instant,
    ready: AtomicUsize,
    failed: AtomicUsize,
    received: AtomicUsize,
    /// µs since `base` of the newest `myScheduleChanged` received.
    last: AtomicU64,
}

/// One client: connects, sends `auth` with its token, proves `auth` was handled (the refused metric sent after
/// it is answered in order), then counts `myScheduleChanged` events until the process ends.
async fn client(url: String, token: String, board: Arc<Board>, gate: Arc<Semaphore>) {
    let permit = gate.acquire_owned().await;
    let ws = async {
        let mut ws = open_socket(&url).await?;
        ws.send(Message::text(format!(
            "42{}",
            serde_json::json!(["auth", token])
        )))
        .await?;
        ws.send(Message::text(r#"42["trackMetric","nope/never",{}]"#))
            .await?;
        let mut seen = Vec::new();
        loop {
            match next_packet(&mut ws).await {
                Some(p) if p.starts_with(r#"42["apiError""#) => break,
                Some(p) if p.starts_with("44") => anyhow::bail!("refused: {p}"),
                Some(p) => seen.push(p),
                None => anyhow::bail!("closed before auth, after {seen:?}"),
            }
        }
        Ok(ws)
    }
    .await;
    drop(permit);
    let mut ws = match ws {
        Ok(ws) => ws,
        Err(err) => {
            if board.failed.fetch_add(1, Ordering::Relaxed) == 0 {
                eprintln!("a client failed: {err:#}");
            }
            return;
        }
    };
    board.ready.fetch_add(1, Ordering::Relaxed);
    while let Some(packet) = next_packet(&mut ws).await {
        if packet.starts_with(r#"42["myScheduleChanged""#) {
            let at = board.base.elapsed().as_micros() as u64;
            board.last.fetch_max(at, Ordering::Relaxed);
            board.received.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn run_plaza(vars: &[(String, String)], args: &[&str]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let out = std::process::Command::new(plaza_tests::plaza_bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("RUST_LOG", "warn")
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .output()
        .with_context(|| format!("running plaza {args:?}"))?;
    anyhow::ensure!(
        out.status.success(),
        "plaza {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(started.elapsed())
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

/// Waits until `done()` or `within`; returns when it became true (None: timed out).
async fn until(within: Duration, mut done: impl FnMut() -> bool) -> Option<Instant> {
    let started = Instant::now();
    while started.elapsed() < within {
        if done() {
            return Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Every round's figure with `decimals` places, comma-separated.
fn per_round(v: &[f64], decimals: usize) -> String {
    v.iter()
        .map(|x| format!("{x:.decimals$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sessions = setting("BENCH_SESSIONS", 2000)?;
    let attendees = setting("BENCH_ATTENDEES", 10_000)?;
    let sockets = setting("BENCH_SOCKETS", 5000)?.min(attendees);
    let moves = setting("BENCH_MOVES", 20)?;
    let rounds = setting("BENCH_ROUNDS", 2)?.max(1);
    let database_url =
        std::env::var("DATABASE_URL").context("DATABASE_URL (a fresh Postgres database)")?;
    let redis_url = std::env::var("REDIS_URL").context("REDIS_URL")?;

    let start = chrono::Utc::now().date_naive() + chrono::Duration::days(7);
    let mut dataset: MemoryDataset = sized_pretalx::dataset(start, sessions, (sessions / 2).max(1));
    let (pretalx, editor) = sized_pretalx::serve_editable(dataset.clone()).await;
    let sink = SmtpSink::start().await;
    let dir = tempfile::tempdir()?;
    let vars: Vec<(String, String)> = [
        ("DATABASE_URL", database_url.clone()),
        ("REDIS_URL", redis_url),
        (
            "REDIS_PREFIX",
            format!("bench-release-{}:", std::process::id()),
        ),
        ("JWT_SECRET", SECRET.to_owned()),
        ("JWT_ISSUER", ISSUER.to_owned()),
        ("SMTP_URL", sink.url()),
        // Every client connects from 127.0.0.1.
        ("LIVE_MAX_CONNECTIONS_PER_IP", "1000000".to_owned()),
        ("PRETALX_URL", sized_pretalx::api_url(&pretalx)),
        ("PRETALX_EVENT", sized_pretalx::EVENT.to_owned()),
        ("PRETALX_API_TOKEN", sized_pretalx::TOKEN.to_owned()),
        ("PRETALX_IMPORT", sized_pretalx::import_options()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    run_plaza(&vars, &["--mode", "migrate"])?;
    run_plaza(&vars, &["fake-tito", "--count", &attendees.to_string()])?;
    let first = run_plaza(&vars, &["--mode", "fetch-schedule"])?;
    eprintln!(
        "first import of {sessions} sessions: {:.2} s",
        first.as_secs_f64()
    );

    // Who saved what: attendee n saves moved[n % moves] and 4 sessions the release leaves alone.
    let scheduled = fake_pretalx::scheduled_codes(&dataset, sessions.min(moves + 200));
    let (moved, others) = scheduled.split_at(moves);
    let moved_ids: Vec<String> = moved.iter().map(|c| format!("{c}-1")).collect();
    let other_ids: Vec<String> = others.iter().map(|c| format!("{c}-1")).collect();
    let pool = sqlx::PgPool::connect(&database_url).await?;
    let seeded = Instant::now();
    sqlx::query(
        "INSERT INTO attendees (name, email, verified)
         SELECT 'Attendee ' || n, 'attendee-' || n || '@example.org', true FROM generate_series(1, $1) n
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(attendees as i32)
    .execute(&pool)
    .await?;
    sqlx::query(
        "CREATE TABLE bench_attendance AS
         WITH a AS (SELECT id, split_part(split_part(email, '@', 1), '-', 2)::int AS n FROM attendees
                    WHERE email LIKE 'attendee-%@example.org')
         SELECT id AS attendee, ($2::text[])[1 + n % cardinality($2::text[])] AS session FROM a WHERE n <= $1
         UNION
         SELECT id, ($3::text[])[1 + (n * 7 + k) % cardinality($3::text[])] FROM a, generate_series(0, 3) k
         WHERE n <= $1",
    )
    .bind(attendees as i32)
    .bind(&moved_ids)
    .bind(&other_ids)
    .execute(&pool)
    .await?;
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM bench_attendance")
        .fetch_one(&pool)
        .await?;
    eprintln!(
        "seeded {attendees} attendees and {rows} attendance rows in {:.2} s",
        seeded.elapsed().as_secs_f64()
    );
    let ids: Vec<(i32,)> = sqlx::query_as(
        "SELECT id FROM attendees WHERE email LIKE 'attendee-%@example.org'
         ORDER BY split_part(split_part(email, '@', 1), '-', 2)::int LIMIT $1",
    )
    .bind(sockets as i64)
    .fetch_all(&pool)
    .await?;

    let api = PlazaProcess::start("api", dir.path(), &pairs).await;
    let lives = [
        PlazaProcess::start("live", dir.path(), &pairs).await,
        PlazaProcess::start("live", dir.path(), &pairs).await,
    ];
    let served: serde_json::Value = reqwest::get(format!("{}/api/schedule", api.address))
        .await?
        .json()
        .await?;
    let served_ids: Vec<&str> = served["sessions"]
        .as_array()
        .context("sessions")?
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    for id in &moved_ids {
        anyhow::ensure!(served_ids.contains(&id.as_str()), "{id} is not served");
    }

    let tokens = Tokens::new(
        &Secret::new(SECRET.to_owned()),
        ISSUER,
        Duration::from_secs(3600),
    );
    let board = Arc::new(Board {
        base: Instant::now(),
        ready: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        received: AtomicUsize::new(0),
        last: AtomicU64::new(0),
    });
    let gate = Arc::new(Semaphore::new(200));
    let connecting = Instant::now();
    for (i, (id,)) in ids.iter().enumerate() {
        let token = tokens.sign_auth(*id, &["attendee".to_owned()], "en", 0)?;
        let url = format!(
            "{}/api/socket.io/?EIO=4&transport=websocket",
            lives[i % lives.len()].address.replace("http://", "ws://")
        );
        tokio::spawn(client(url, token, board.clone(), gate.clone()));
    }
    let all = until(Duration::from_secs(180), || {
        board.ready.load(Ordering::Relaxed) + board.failed.load(Ordering::Relaxed) >= ids.len()
    })
    .await;
    anyhow::ensure!(
        all.is_some() && board.failed.load(Ordering::Relaxed) == 0,
        "{} of {} sockets signed in ({} failed)",
        board.ready.load(Ordering::Relaxed),
        ids.len(),
        board.failed.load(Ordering::Relaxed)
    );
    eprintln!(
        "{} sockets signed in across 2 live processes in {:.1} s",
        ids.len(),
        connecting.elapsed().as_secs_f64()
    );

    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut to_live = Vec::new();
    let mut to_smtp = Vec::new();
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for saved in order {
            sqlx::query("DELETE FROM attendance").execute(&pool).await?;
            if saved {
                sqlx::query("INSERT INTO attendance (attendee, session) SELECT attendee, session FROM bench_attendance")
                    .execute(&pool)
                    .await?;
            }
            for code in moved {
                fake_pretalx::move_slot(&mut dataset, code, MOVE_MINUTES, false);
            }
            editor.set(dataset.clone());
            let mails_before = sink.count();
            board.received.store(0, Ordering::Relaxed);
            let took = run_plaza(&vars, &["--mode", "fetch-schedule"])?;
            let published = Instant::now();
            let published_us = board.base.elapsed().as_micros() as u64;
            if !saved {
                without.push(took.as_secs_f64());
                tokio::time::sleep(Duration::from_secs(2)).await;
                anyhow::ensure!(
                    board.received.load(Ordering::Relaxed) == 0,
                    "notices without attendance"
                );
                eprintln!(
                    "round {round}: import without attendees {:.3} s",
                    took.as_secs_f64()
                );
                continue;
            }
            with.push(took.as_secs_f64());
            let expected = ids.len();
            let live_done = until(Duration::from_secs(120), || {
                board.received.load(Ordering::Relaxed) >= expected
            })
            .await;
            let got = board.received.load(Ordering::Relaxed);
            anyhow::ensure!(
                live_done.is_some(),
                "{got} of {expected} sockets told within 120 s"
            );
            let last = board.last.load(Ordering::Relaxed);
            let live_ms = (last as f64 - published_us as f64) / 1000.0;
            let mails = until(Duration::from_secs(300), || {
                sink.count() >= mails_before + attendees
            })
            .await;
            let sent = sink.count() - mails_before;
            let smtp_ms = mails
                .map(|at| at.duration_since(published).as_secs_f64() * 1000.0)
                .with_context(|| format!("{sent} of {attendees} digests within 300 s"))?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            anyhow::ensure!(
                board.received.load(Ordering::Relaxed) == expected,
                "a socket was told twice"
            );
            eprintln!(
                "round {round}: import with attendees {:.3} s; last live notice {live_ms:.0} ms, last digest {smtp_ms:.0} ms after it",
                took.as_secs_f64()
            );
            to_live.push(live_ms);
            to_smtp.push(smtp_ms);
        }
    }

    let growth = (mean(&with) / mean(&without) - 1.0) * 100.0;
    println!(
        "release moving {moves} of {sessions} sessions, {attendees} attendees (each saved 1 moved + 4 other sessions), \
         {} sockets on 2 live processes, {rounds} round(s)",
        ids.len()
    );
    println!(
        "  publish -> last myScheduleChanged ({} sockets)   {:>8.0} ms (mean; rounds: {})",
        ids.len(),
        mean(&to_live),
        per_round(&to_live, 0)
    );
    println!(
        "  publish -> last digest handed to SMTP ({attendees})   {:>8.0} ms (mean; rounds: {})",
        mean(&to_smtp),
        per_round(&to_smtp, 0)
    );
    println!(
        "  import (fetch-schedule process), no attendees   {:>8.3} s  (rounds: {})",
        mean(&without),
        per_round(&without, 3)
    );
    println!(
        "  import (fetch-schedule process), with attendance {:>7.3} s  (rounds: {})   growth {growth:+.1} % (limit +10 %)",
        mean(&with),
        per_round(&with, 3)
    );
    println!(
        "  peak RSS (VmHWM): api {:.1} MiB, live {:.1} MiB + {:.1} MiB",
        peak_rss_mib(api.pid()),
        peak_rss_mib(lives[0].pid()),
        peak_rss_mib(lives[1].pid())
    );
    drop(lives);
    drop(api);
    Ok(())
}

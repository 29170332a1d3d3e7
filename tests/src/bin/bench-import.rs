//! `bench-import [SESSIONS [SPEAKERS]]`: times one schedule import (fetch + map + store + publish) of a generated
//! Pretalx v2 event — 2,000 sessions and 1,000 speakers by default — served over HTTP by a wiremock Pretalx, into
//! a fresh SQLite database and the memory cache, and prints one line with the time and the peak RSS.
//!
//! The peak RSS is the whole process's (`VmHWM`): it includes the fake Pretalx and its dataset, which live in this
//! process too. `scripts/bench` runs it in release mode; so does `cargo run --release -p plaza-tests --bin
//! bench-import`.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context as _;
use chrono::NaiveDate;
use plaza_core::Config;
use plaza_jobs::JobContext;
use plaza_tests::{Backend, TestCache, TestDb, sized_pretalx};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let mut args = std::env::args().skip(1);
    let sessions = count(args.next(), 2000, "SESSIONS")?;
    let speakers = count(args.next(), 1000, "SPEAKERS")?;
    let start = NaiveDate::from_ymd_opt(2026, 6, 1).context("a valid start date")?;
    let pretalx = sized_pretalx::serve(sized_pretalx::dataset(start, sessions, speakers)).await;

    let db = TestDb::new(Backend::Embedded).await;
    let cache = TestCache::new(Backend::Embedded);
    let vars = HashMap::from([
        ("DATABASE_URL", db.url.expose().to_owned()),
        ("PRETALX_URL", sized_pretalx::api_url(&pretalx)),
        ("PRETALX_EVENT", sized_pretalx::EVENT.to_owned()),
        ("PRETALX_API_TOKEN", sized_pretalx::TOKEN.to_owned()),
        ("PRETALX_IMPORT", sized_pretalx::import_options()),
    ]);
    let config = Config::from_lookup(|name| vars.get(name).cloned())?;
    let ctx = JobContext {
        config,
        cache: cache.cache.clone(),
        db: db.db.clone(),
    };

    let started = Instant::now();
    let summary = plaza_jobs::schedule::import(&ctx)
        .await
        .context("the import failed")?;
    let seconds = started.elapsed().as_secs_f64();
    anyhow::ensure!(
        summary.published
            && summary.counts.sessions == sessions
            && summary.counts.speakers == speakers,
        "the import did not publish the whole event: {summary:?}"
    );
    let peak = peak_rss_kib().context("reading VmHWM from /proc/self/status")?;
    println!(
        "import {sessions} sessions / {speakers} speakers: {seconds:.2} s (fetch+map+store+publish), \
         peak RSS {:.1} MiB",
        peak as f64 / 1024.0
    );
    Ok(())
}

fn count(arg: Option<String>, default: usize, name: &str) -> anyhow::Result<usize> {
    match arg {
        None => Ok(default),
        Some(text) => text
            .parse()
            .with_context(|| format!("{name} must be a whole number, got {text:?}")),
    }
}

/// The process's peak resident set size in KiB (`VmHWM: 46712 kB`).
fn peak_rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .context("no VmHWM line")?;
    let kib = line.trim().trim_end_matches("kB").trim();
    Ok(kib.parse()?)
}

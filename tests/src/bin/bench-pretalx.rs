//! `bench-pretalx SESSIONS SPEAKERS`: serves a generated Pretalx v2 event ([`sized_pretalx`]) over HTTP until
//! killed, and prints one line of shell variables for plaza to import it: `PRETALX_URL=… PRETALX_EVENT=…
//! PRETALX_API_TOKEN=… PRETALX_IMPORT=…`. `scripts/bench` uses it for the 300-session event.

use anyhow::Context as _;
use chrono::NaiveDate;
use plaza_tests::sized_pretalx;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bench-pretalx SESSIONS SPEAKERS";
    let sessions: usize = args.next().context(usage)?.parse().context(usage)?;
    let speakers: usize = args.next().context(usage)?.parse().context(usage)?;
    let start = NaiveDate::from_ymd_opt(2026, 6, 1).context("a valid start date")?;
    let pretalx = sized_pretalx::serve(sized_pretalx::dataset(start, sessions, speakers)).await;
    println!(
        "PRETALX_URL={} PRETALX_EVENT={} PRETALX_API_TOKEN={} PRETALX_IMPORT='{}'",
        sized_pretalx::api_url(&pretalx),
        sized_pretalx::EVENT,
        sized_pretalx::TOKEN,
        sized_pretalx::import_options()
    );
    std::future::pending::<()>().await;
    Ok(())
}

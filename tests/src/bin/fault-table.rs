//! `fault-table [OUTAGE_SECONDS]`: plaza under load through a Redis `kill -9` and a Postgres stop
//! (`-m immediate`), each OUTAGE_SECONDS long (default 15), and the table of what each route answered.
//!
//! It starts a PRIVATE redis-server and a PRIVATE Postgres on free ports (the fault harness of `plaza-tests`; the
//! machine's shared ones are never touched), migrates and imports the demo schedule, then runs one `api` and two
//! `live` processes of `PLAZA_BIN` (default: the `plaza` beside this binary). Eight signed-in users each loop over
//! the routes below (one task per route, attend/unattend alternating in one) — public reads, authenticated reads,
//! writes and the probes — through five
//! phases: baseline, Redis down, Redis back, Postgres down, Postgres back (a request counts in the phase in which
//! it was sent: one sent just before a stop may fail just after it). It prints, per phase and route, the
//! 2xx / 503 / other 4xx / other 5xx / transport-error counts, the recovery time of each outage (restart → every
//! route that failed during it answers 2xx again) and the acknowledged writes lost: every attend or unattend
//! answered 2xx is checked against the `attendance` table at the end (must be 0). `scripts/faults` runs it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use plaza_tests::live::PlazaProcess;
use plaza_tests::postgres_server::PostgresServer;
use plaza_tests::redis_server::RedisServer;
use plaza_tests::run_plaza;
use plaza_tests::storage::TempDir;
use sqlx::Connection as _;

const WORKERS: usize = 8;
const BASELINE: Duration = Duration::from_secs(5);
const AFTER: Duration = Duration::from_secs(5);
const SECRET: &str = "fault-table-secret-fault-table-secret-0123";
const PHASES: [&str; 5] = [
    "baseline",
    "redis down",
    "redis back",
    "postgres down",
    "postgres back",
];

/// One route the workers call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Route {
    Schedule,
    WhatsOn,
    Content,
    AuthMe,
    MyAttendance,
    Attend,
    Unattend,
    ApiReadyz,
    LiveReadyz,
}

impl Route {
    const ALL: [Route; 9] = [
        Route::Schedule,
        Route::WhatsOn,
        Route::Content,
        Route::AuthMe,
        Route::MyAttendance,
        Route::Attend,
        Route::Unattend,
        Route::ApiReadyz,
        Route::LiveReadyz,
    ];

    fn name(self) -> &'static str {
        match self {
            Route::Schedule => "GET /api/schedule",
            Route::WhatsOn => "GET /api/schedule/whats-on",
            Route::Content => "GET /api/content/help",
            Route::AuthMe => "GET /api/auth/me",
            Route::MyAttendance => "GET /api/attendance/me",
            Route::Attend => "POST /api/attendance/:id/attend",
            Route::Unattend => "POST /api/attendance/:id/unattend",
            Route::ApiReadyz => "GET /readyz (api)",
            Route::LiveReadyz => "GET /readyz (live)",
        }
    }
}

/// Counts of one (phase, route).
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    ok: u64,
    unavailable: u64,
    client: u64,
    server: u64,
    failed: u64,
}

#[derive(Default)]
struct Record {
    counts: BTreeMap<(usize, Route), Counts>,
    /// Per route: the start of its current run of answers that are not failures (503, 5xx, no answer).
    first_ok_since: HashMap<Route, Instant>,
    failed_in_phase: HashMap<(usize, Route), bool>,
}

/// What the workers write, checked against the database at the end.
#[derive(Default)]
struct Writes {
    /// (attendee email, session) → attended, per acknowledged write; `None` once an unacknowledged write followed.
    expected: HashMap<(String, String), Option<bool>>,
    attends: u64,
    unattends: u64,
}

struct Shared {
    phase: AtomicUsize,
    stop: AtomicBool,
    record: Mutex<Record>,
    writes: Mutex<Writes>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let outage = match std::env::args().nth(1) {
        Some(s) => Duration::from_secs(s.parse().context("OUTAGE_SECONDS is a number")?),
        None => Duration::from_secs(15),
    };
    let mut redis = RedisServer::start().await;
    let mut postgres = PostgresServer::start().await;
    let database = postgres.create_database("plaza").await;
    let redis_url = redis.url();
    let base: Vec<(&str, &str)> = vec![
        ("DATABASE_URL", &database),
        ("REDIS_URL", &redis_url),
        ("JWT_SECRET", SECRET),
        ("RUST_LOG", "warn"),
    ];
    for mode in ["migrate", "fetch-schedule"] {
        let output = run_plaza(&["--mode", mode], base.iter().copied());
        if !output.status.success() {
            bail!("{mode}: {}", String::from_utf8_lossy(&output.stderr));
        }
    }
    let mut users = Vec::new();
    for i in 0..WORKERS {
        let email = format!("fault{i}@example.org");
        let output = run_plaza(&["dev-token", &email], base.iter().copied());
        let token = String::from_utf8_lossy(&output.stdout)
            .lines()
            .next()
            .context("dev-token prints a token")?
            .to_owned();
        users.push((email, token));
    }
    let dir = TempDir::new();
    let api = PlazaProcess::start("api", &dir.path, &base).await;
    let live_a = PlazaProcess::start("live", &dir.path, &base).await;
    let _live_b = PlazaProcess::start("live", &dir.path, &base).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let schedule: serde_json::Value = http
        .get(format!("{}/api/schedule", api.address))
        .send()
        .await?
        .json()
        .await?;
    let sessions: Vec<String> = schedule["sessions"]
        .as_array()
        .context("sessions")?
        .iter()
        .filter(|s| s["participantCap"].is_null())
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .take(3)
        .collect();
    if sessions.is_empty() {
        bail!("the demo schedule has no uncapped session");
    }
    eprintln!(
        "fault-table: api {} + 2 live, {WORKERS} workers, outages of {outage:?}",
        api.address
    );

    let shared = Arc::new(Shared {
        phase: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        record: Mutex::default(),
        writes: Mutex::default(),
    });
    // Per user, one task per route (attend and unattend alternate in one, so a user's writes stay in order): a
    // route that waits on a dead dependency does not slow the others down.
    let mut workers = Vec::new();
    for (email, token) in users {
        let mut groups: Vec<Vec<Route>> = Route::ALL
            .into_iter()
            .filter(|r| !matches!(r, Route::Attend | Route::Unattend))
            .map(|r| vec![r])
            .collect();
        groups.push(vec![Route::Attend, Route::Unattend]);
        for routes in groups {
            workers.push(tokio::spawn(work(
                shared.clone(),
                http.clone(),
                Target {
                    api: api.address.clone(),
                    live: live_a.address.clone(),
                    email: email.clone(),
                    token: token.clone(),
                    sessions: sessions.clone(),
                },
                routes,
            )));
        }
    }
    let mut recovery = Vec::new();
    tokio::time::sleep(BASELINE).await;

    shared.phase.store(1, Ordering::SeqCst);
    redis.kill();
    tokio::time::sleep(outage).await;
    redis.restart().await;
    let back = Instant::now();
    shared.phase.store(2, Ordering::SeqCst);
    tokio::time::sleep(AFTER).await;
    recovery.push(("Redis", recovered(&shared, 1, back)));

    shared.phase.store(3, Ordering::SeqCst);
    postgres.stop_immediate();
    tokio::time::sleep(outage).await;
    postgres.restart().await;
    let back = Instant::now();
    shared.phase.store(4, Ordering::SeqCst);
    tokio::time::sleep(AFTER).await;
    recovery.push(("Postgres", recovered(&shared, 3, back)));

    shared.stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.await?;
    }
    let lost = lost_writes(&shared, &database).await?;
    print_table(&shared, outage, &recovery, lost);
    Ok(())
}

/// Where a worker sends its requests, as whom.
struct Target {
    api: String,
    live: String,
    email: String,
    token: String,
    sessions: Vec<String>,
}

/// One signed-in worker: loops over `routes` until stopped.
async fn work(shared: Arc<Shared>, http: reqwest::Client, target: Target, routes: Vec<Route>) {
    let Target {
        api,
        live,
        email,
        token,
        sessions,
    } = target;
    let mut turn = 0usize;
    while !shared.stop.load(Ordering::SeqCst) {
        for &route in &routes {
            let phase = shared.phase.load(Ordering::SeqCst);
            let session = &sessions[turn % sessions.len()];
            let request = match route {
                Route::Schedule => http.get(format!("{api}/api/schedule")),
                Route::WhatsOn => http.get(format!("{api}/api/schedule/whats-on")),
                Route::Content => http.get(format!("{api}/api/content/help")),
                Route::AuthMe => http.get(format!("{api}/api/auth/me")).bearer_auth(&token),
                Route::MyAttendance => http
                    .get(format!("{api}/api/attendance/me"))
                    .bearer_auth(&token),
                Route::Attend => http
                    .post(format!("{api}/api/attendance/{session}/attend"))
                    .bearer_auth(&token),
                Route::Unattend => http
                    .post(format!("{api}/api/attendance/{session}/unattend"))
                    .bearer_auth(&token),
                Route::ApiReadyz => http.get(format!("{api}/readyz")),
                Route::LiveReadyz => http.get(format!("{live}/readyz")),
            };
            let status = request.send().await.map(|r| r.status().as_u16()).ok();
            if matches!(route, Route::Attend | Route::Unattend) {
                let mut writes = shared.writes.lock().unwrap_or_else(|p| p.into_inner());
                let key = (email.clone(), session.clone());
                match status {
                    Some(200..=299) => {
                        if route == Route::Attend {
                            writes.attends += 1;
                        } else {
                            writes.unattends += 1;
                        }
                        writes.expected.insert(key, Some(route == Route::Attend));
                    }
                    // Refused before writing (401, 404, 409, …): the state is unchanged.
                    Some(400..=499) => {}
                    // 503, 5xx or no answer: it may or may not have been written.
                    _ => {
                        writes.expected.insert(key, None);
                    }
                }
            }
            let mut record = shared.record.lock().unwrap_or_else(|p| p.into_inner());
            let counts = record.counts.entry((phase, route)).or_default();
            let ok = match status {
                Some(200..=299) => {
                    counts.ok += 1;
                    true
                }
                Some(503) => {
                    counts.unavailable += 1;
                    false
                }
                Some(400..=499) => {
                    counts.client += 1;
                    true
                }
                Some(_) => {
                    counts.server += 1;
                    false
                }
                None => {
                    counts.failed += 1;
                    false
                }
            };
            let now = Instant::now();
            if ok {
                record.first_ok_since.entry(route).or_insert(now);
            } else {
                record.first_ok_since.remove(&route);
                record.failed_in_phase.insert((phase, route), true);
            }
        }
        turn += 1;
    }
}

/// Recovery after the outage of `phase`: from `back` until every route that failed during it (or since) answers
/// 2xx again, for good. `None` when some route had not recovered by the end of the next phase.
fn recovered(shared: &Shared, phase: usize, back: Instant) -> Option<Duration> {
    let record = shared.record.lock().unwrap_or_else(|p| p.into_inner());
    let mut worst = Duration::ZERO;
    for route in Route::ALL {
        let failed = record.failed_in_phase.contains_key(&(phase, route))
            || record.failed_in_phase.contains_key(&(phase + 1, route));
        if !failed {
            continue;
        }
        let since = record.first_ok_since.get(&route)?;
        worst = worst.max(since.saturating_duration_since(back));
    }
    Some(worst)
}

/// Acknowledged writes that the database does not reflect.
async fn lost_writes(shared: &Shared, database: &str) -> anyhow::Result<(u64, u64, usize, usize)> {
    let mut conn = sqlx::PgConnection::connect(database).await?;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT a.email, t.session FROM attendance t JOIN attendees a ON a.id = t.attendee",
    )
    .fetch_all(&mut conn)
    .await?;
    let stored: std::collections::HashSet<(String, String)> = rows.into_iter().collect();
    let writes = shared.writes.lock().unwrap_or_else(|p| p.into_inner());
    let mut checked = 0;
    let mut lost = 0;
    for (key, expected) in &writes.expected {
        let Some(attending) = expected else {
            continue;
        };
        checked += 1;
        if stored.contains(key) != *attending {
            lost += 1;
        }
    }
    Ok((writes.attends, writes.unattends, checked, lost))
}

fn print_table(
    shared: &Shared,
    outage: Duration,
    recovery: &[(&str, Option<Duration>)],
    (attends, unattends, checked, lost): (u64, u64, usize, usize),
) {
    let record = shared.record.lock().unwrap_or_else(|p| p.into_inner());
    println!(
        "Fault table: 1 api + 2 live, {WORKERS} workers, Redis kill -9 and Postgres stop -m immediate, {}s each\n",
        outage.as_secs()
    );
    println!("| phase | route | 2xx | 503 | other 4xx | other 5xx | no answer |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for ((phase, route), c) in record.counts.iter() {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} |",
            PHASES[*phase],
            route.name(),
            c.ok,
            c.unavailable,
            c.client,
            c.server,
            c.failed
        );
    }
    println!();
    for (name, took) in recovery {
        match took {
            Some(took) => println!(
                "{name} recovery: every route 2xx again {:.2} s after the restart",
                took.as_secs_f64()
            ),
            None => println!("{name} recovery: some route had not recovered when the run ended"),
        }
    }
    println!(
        "Acknowledged writes: {attends} attends + {unattends} unattends; final state checked for {checked} (attendee, session) pairs: {lost} lost"
    );
}

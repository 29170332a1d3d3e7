//! `--mode all`'s in-process scheduler, black-box: the real binary with per-second cron expressions, observed
//! through `/metrics` and its log.

use std::process::Stdio;
use std::time::Duration;

use plaza_tests::content_repo::ContentRepo;
use plaza_tests::fake_pretalx::{FakePretalx, demo_dataset};
use plaza_tests::fake_tito::{FakeTito, ticket};
use plaza_tests::storage::TempDir;
use plaza_tests::{Backend, TestCache, TestDb, eventually, for_each_backend, plaza_bin};

const EVERY_SECOND: &str = "*/1 * * * * *";

/// A `plaza --mode all` process on its own storage, killed on drop.
struct AllMode {
    child: tokio::process::Child,
    address: String,
    log: std::path::PathBuf,
    _dir: TempDir,
    _db: TestDb,
    _cache: TestCache,
}

impl AllMode {
    async fn start(backend: Backend, vars: &[(&str, &str)]) -> Self {
        let db = TestDb::new(backend).await;
        let cache = TestCache::new(backend);
        let dir = TempDir::new();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.path.join("plaza.log");
        let mut cmd = tokio::process::Command::new(plaza_bin());
        cmd.args(["--mode", "all"])
            .current_dir(&dir.path)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("DATABASE_URL", db.url.expose())
            .env("REDIS_PREFIX", &cache.prefix)
            .env("JWT_SECRET", "test-secret-test-secret-test-secret-0123")
            .env("RUST_LOG", "info,sqlx=warn")
            .env("SHUTDOWN_GRACE_SECONDS", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .kill_on_drop(true);
        if let Some(url) = &cache.redis_url {
            cmd.env("REDIS_URL", url.expose());
        }
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("plaza starts");
        let this = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
            _db: db,
            _cache: cache,
        };
        let client = reqwest::Client::new();
        let ready = eventually(Duration::from_secs(20), || async {
            client
                .get(format!("{}/healthz", this.address))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        })
        .await;
        assert!(ready.is_some(), "plaza did not start:\n{}", this.log());
        this
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `plaza_scheduler_runs_total{job,outcome}` as `/metrics` shows it now (0 when absent).
    async fn runs(&self, job: &str, outcome: &str) -> f64 {
        let Ok(response) = reqwest::get(format!("{}/metrics", self.address)).await else {
            return 0.0;
        };
        let text = response.text().await.unwrap_or_default();
        let (job, outcome) = (format!("job=\"{job}\""), format!("outcome=\"{outcome}\""));
        text.lines()
            .filter(|l| l.starts_with("plaza_scheduler_runs_total{"))
            .filter(|l| l.contains(&job) && l.contains(&outcome))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Waits up to `within` for `runs(job, outcome) >= at_least`.
    async fn wait_for_runs(&self, job: &str, outcome: &str, at_least: f64, within: Duration) {
        let reached = eventually(within, || async {
            self.runs(job, outcome).await >= at_least
        })
        .await;
        assert!(
            reached.is_some(),
            "{job}/{outcome}: {} runs, expected {at_least}; log:\n{}",
            self.runs(job, outcome).await,
            self.log()
        );
    }
}

impl Drop for AllMode {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

for_each_backend! {
    async fn all_mode_runs_the_schedule_job_on_its_cron_expression(backend: Backend) {
        let pretalx = FakePretalx::start(demo_dataset(1)).await;
        let mut vars: Vec<(&str, String)> = pretalx.env();
        vars.push(("SCHEDULE_CRON", EVERY_SECOND.into()));
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();

        let app = AllMode::start(backend, &vars).await;

        // The start-up run plus at least two ticks.
        app.wait_for_runs("schedule", "success", 3.0, Duration::from_secs(20)).await;
        let schedule = reqwest::get(format!("{}/api/schedule", app.address)).await.expect("GET /api/schedule");
        assert_eq!(schedule.status(), 200);
        let log = app.log();
        assert!(log.contains("job scheduled") && log.contains("next_run"), "next run logged:\n{log}");
        assert!(log.contains("job disabled: TITO_API_TOKEN is not set"), "{log}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_mode_runs_the_users_job_on_its_own_cron_expression() {
    let tito = FakeTito::start(vec![ticket(
        "ticket-1",
        "complete",
        Some("ada@example.org"),
        chrono::Utc::now(),
    )])
    .await;
    let mut vars: Vec<(&str, String)> = tito.env();
    vars.push(("USERS_CRON", EVERY_SECOND.into()));
    vars.push(("SCHEDULE_CRON", String::new()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let app = AllMode::start(Backend::Real, &vars).await;

    app.wait_for_runs("users", "success", 2.0, Duration::from_secs(20))
        .await;
    assert!(!tito.ticket_queries().await.is_empty());
    assert_eq!(app.runs("schedule", "success").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_mode_imports_content_from_git_at_start_and_on_its_cron_expression() {
    let repo = ContentRepo::seeded();
    let mut vars: Vec<(&str, String)> = repo.env();
    vars.push(("CONTENT_CRON", EVERY_SECOND.into()));
    vars.push(("SCHEDULE_CRON", String::new()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let app = AllMode::start(Backend::Real, &vars).await;
    app.wait_for_runs("content", "success", 1.0, Duration::from_secs(20))
        .await;

    repo.write("help/en.md", "## Fresh from git\n");
    repo.commit("new help");
    let help = format!("{}/api/content/help", app.address);
    let served = eventually(Duration::from_secs(20), || async {
        match reqwest::get(&help).await {
            Ok(r) => r
                .text()
                .await
                .unwrap_or_default()
                .contains("Fresh from git"),
            Err(_) => false,
        }
    });
    assert!(
        served.await.is_some(),
        "new content not served; log:\n{}",
        app.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_counted_and_runs_again_at_its_next_tick() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let url = format!("http://{closed}/api/");
    let app = AllMode::start(
        Backend::Embedded,
        &[
            ("PRETALX_URL", &url),
            ("PRETALX_EVENT", "nowhere"),
            ("PRETALX_API_TOKEN", "t"),
            ("SCHEDULE_CRON", EVERY_SECOND),
        ],
    )
    .await;

    app.wait_for_runs("schedule", "failure", 2.0, Duration::from_secs(40))
        .await;
    assert!(app.log().contains("scheduled run failed"), "{}", app.log());
    assert_eq!(app.runs("schedule", "success").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tick_that_comes_while_the_previous_run_goes_on_is_skipped() {
    let pretalx = FakePretalx::start(demo_dataset(1)).await;
    // Every Pretalx answer takes longer than the interval between ticks.
    pretalx.slow_down(Duration::from_millis(1500));
    let mut vars: Vec<(&str, String)> = pretalx.env();
    vars.push(("SCHEDULE_CRON", EVERY_SECOND.into()));
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();

    let app = AllMode::start(Backend::Embedded, &vars).await;

    app.wait_for_runs("schedule", "overlap", 1.0, Duration::from_secs(20))
        .await;
    // The local guard caught it: the cluster lock never had to.
    assert_eq!(app.runs("schedule", "locked").await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_cron_variable_disables_its_job() {
    let app = AllMode::start(Backend::Embedded, &[("SCHEDULE_CRON", "")]).await;

    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        app.log().contains("job disabled: SCHEDULE_CRON is empty"),
        "{}",
        app.log()
    );
    assert_eq!(app.runs("schedule", "success").await, 0.0);
}

#[test]
fn an_invalid_cron_variable_exits_2_with_one_line_naming_it() {
    for (var, value) in [
        ("SCHEDULE_CRON", "every five minutes"),
        ("USERS_CRON", "*/1 * * * * * * *"),
        ("CONTENT_CRON", "0 0 25 * * *"),
        ("VISITORS_CRON", "0 */0 * * *"),
    ] {
        let output = std::process::Command::new(plaza_bin())
            .args(["--mode", "all"])
            .env_clear()
            .env(var, value)
            .output()
            .expect("plaza runs");
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{var}={value}: {err}");
        assert!(err.contains(var), "{var}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}

//! The `plaza` binary as an operator meets it: help, configuration errors, modes, migrate, `.env.example`.

use std::process::Output;

use plaza_tests::{Backend, TestDb};

/// Runs plaza with a clean environment plus `vars`.
fn plaza(args: &[&str], vars: &[(&str, &str)]) -> Output {
    plaza_tests::run_plaza(args, vars.iter().copied())
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn help_lists_every_mode_and_every_variable() {
    let output = plaza(&["--help"], &[]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    for mode in [
        "all",
        "api",
        "live",
        "migrate",
        "fetch-schedule",
        "fetch-users",
        "fetch-content",
        "log-visitors",
        "retention",
    ] {
        assert!(
            text.contains(mode),
            "mode {mode} missing from --help:\n{text}"
        );
    }
    for var in plaza_core::config::VARS {
        assert!(
            text.contains(var.name),
            "{} missing from --help:\n{text}",
            var.name
        );
    }
}

#[test]
fn a_nonsense_database_url_exits_2_naming_the_variable() {
    let output = plaza(&["--mode", "api"], &[("DATABASE_URL", "nonsense")]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("DATABASE_URL"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn an_unknown_mode_in_the_environment_exits_2_naming_it() {
    let output = plaza(&[], &[("PLAZA_MODE", "party")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("PLAZA_MODE"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_failing_job_mode_exits_1_with_a_clear_message_not_a_panic() {
    let dir = plaza_tests::storage::TempDir::new();
    let db = format!("sqlite://{}/plaza.db", dir.path.display());
    let output = plaza(
        &["--mode", "fetch-content", "--local", "/nonexistent/content"],
        &[("RUST_LOG", "off"), ("DATABASE_URL", &db)],
    );
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("cannot read /nonexistent/content"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn log_visitors_without_redis_exits_2_naming_redis_url() {
    let output = plaza(&["--mode", "log-visitors"], &[("RUST_LOG", "off")]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("REDIS_URL"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn env_example_is_generated_from_the_configuration_table_and_in_sync() {
    let output = plaza(&["env-example"], &[]);
    assert!(output.status.success());
    let generated = String::from_utf8_lossy(&output.stdout);
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.env.example"))
            .expect(".env.example exists at the repository root");
    assert_eq!(
        committed, generated,
        ".env.example is stale: run `plaza env-example > .env.example`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_mode_brings_a_fresh_postgres_database_up_to_date() {
    let t = TestDb::unmigrated(Backend::Real).await;
    let output = plaza(
        &["--mode", "migrate"],
        &[("DATABASE_URL", t.url.expose()), ("RUST_LOG", "off")],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("initial"));
    let tables: i64 = match &t.db {
        plaza_core::Db::Postgres(pool) => sqlx::query_scalar(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public' \
             AND table_name IN ('attendees', 'attendance', 'logs', 'schedule_versions')",
        )
        .fetch_one(pool)
        .await
        .expect("count tables"),
        plaza_core::Db::Sqlite(_) => unreachable!("a Postgres test database"),
    };
    assert_eq!(tables, 4);
}

#[test]
fn migrate_mode_fails_loudly_when_postgres_is_unreachable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let url = format!("postgres://postgres@127.0.0.1:{port}/nothing");
    let output = plaza(
        &["--mode", "migrate"],
        &[("DATABASE_URL", &url), ("RUST_LOG", "off")],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("migration failed"),
        "{}",
        stderr(&output)
    );
}

/// Runs plaza off the async runtime (the fake Pretalx answers on it meanwhile).
async fn plaza_async(args: &[&str], vars: Vec<(&'static str, String)>) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        plaza(&args, &vars)
    })
    .await
    .expect("plaza ran")
}

/// A fake Pretalx serving the demo event, and the variables pointing plaza at it and at `db` and `cache`.
async fn pretalx_on_postgres(
    db: &TestDb,
    cache: &plaza_tests::TestCache,
) -> (
    plaza_tests::fake_pretalx::FakePretalx,
    Vec<(&'static str, String)>,
) {
    use plaza_tests::fake_pretalx::{self, FakePretalx};
    let fake = FakePretalx::start(fake_pretalx::demo_dataset(0)).await;
    let mut vars = fake.env();
    vars.extend([
        ("DATABASE_URL", db.url.expose().to_owned()),
        ("REDIS_URL", plaza_tests::storage::redis_url()),
        ("REDIS_PREFIX", cache.prefix.clone()),
        ("RUST_LOG", "off".to_owned()),
    ]);
    (fake, vars)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_schedule_imports_once_and_fails_loudly_on_malformed_data() {
    use plaza_tests::fake_pretalx;
    let (t, cache) = (
        TestDb::new(Backend::Real).await,
        plaza_tests::TestCache::new(Backend::Real),
    );
    let (fake, vars) = pretalx_on_postgres(&t, &cache).await;

    let ok = plaza_async(&["--mode", "fetch-schedule"], vars.clone()).await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    let stdout = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(stdout.contains("new version, published"), "{stdout}");

    let again = plaza_async(&["--mode", "fetch-schedule"], vars.clone()).await;
    assert!(String::from_utf8_lossy(&again.stdout).contains("unchanged"));

    let mut broken = fake_pretalx::demo_dataset(0);
    fake_pretalx::edit(&mut broken, "submissions", |subs| {
        subs[0]["slots"] = "not a list".into()
    });
    fake.set(broken);
    let failed = plaza_async(&["--mode", "fetch-schedule"], vars.clone()).await;
    assert_eq!(failed.status.code(), Some(1));
    let err = stderr(&failed);
    assert!(
        err.contains("submissions") && err.contains("slots"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");

    let listed = plaza_async(&["schedule", "versions"], vars.clone()).await;
    let text = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(
        text.contains("← served") && text.contains("pretalx"),
        "{text}"
    );

    let rollback = plaza_async(&["schedule", "rollback", "424242"], vars.clone()).await;
    assert_eq!(rollback.status.code(), Some(1));
    assert!(
        stderr(&rollback).contains("no schedule version 424242"),
        "{}",
        stderr(&rollback)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_schedule_imports_the_demo_event_on_the_embedded_tier() {
    let dir = plaza_tests::storage::TempDir::new();
    let url = format!("sqlite://{}/plaza.db", dir.path.display());
    let output = plaza_async(
        &["fake-schedule"],
        vec![("DATABASE_URL", url), ("RUST_LOG", "off".into())],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(stdout.contains("new version, published"), "{stdout}");
    let sessions: u32 = stdout
        .split(" sessions")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a session count");
    assert!(sessions >= 120, "{stdout}");
}

#[test]
fn fetch_users_without_a_tito_token_exits_2_naming_the_variable() {
    let output = plaza(&["--mode", "fetch-users"], &[("RUST_LOG", "off")]);
    assert_eq!(output.status.code(), Some(2));
    let err = stderr(&output);
    assert!(err.contains("TITO_API_TOKEN"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn full_outside_fetch_users_is_a_usage_error() {
    let output = plaza(&["--mode", "migrate", "--full"], &[("RUST_LOG", "off")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--full"), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_users_syncs_differentially_then_fully_and_fails_loudly_on_a_bad_token() {
    use plaza_tests::fake_tito::{FakeTito, ticket};
    let t = TestDb::new(Backend::Real).await;
    let at = |minutes: i64| chrono::Utc::now() - chrono::TimeDelta::minutes(minutes);
    let fake = FakeTito::start(vec![
        ticket("ti_a", "complete", Some("a@example.org"), at(30)),
        ticket("ti_b", "void", Some("b@example.org"), at(20)),
        ticket("ti_c", "complete", Some("c@example.org"), at(10)),
    ])
    .await;
    let mut vars = fake.env();
    vars.extend([
        ("DATABASE_URL", t.url.expose().to_owned()),
        ("RUST_LOG", "off".to_owned()),
    ]);
    let stdout = |output: &Output| String::from_utf8_lossy(&output.stdout).into_owned();

    let first = plaza_async(&["--mode", "fetch-users"], vars.clone()).await;
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).starts_with(
            "users: full sync — 3 tickets fetched (2 complete, 1 void), 3 written; 2 tickets grant access"
        ),
        "{}",
        stdout(&first)
    );

    let second = plaza_async(&["--mode", "fetch-users"], vars.clone()).await;
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stdout(&second).starts_with("users: differential sync since"),
        "{}",
        stdout(&second)
    );

    let full = plaza_async(&["--mode", "fetch-users", "--full"], vars.clone()).await;
    assert!(full.status.success(), "{}", stderr(&full));
    assert!(
        stdout(&full).starts_with("users: full sync"),
        "{}",
        stdout(&full)
    );

    vars.push(("TITO_API_TOKEN", "revoked".to_owned()));
    let refused = plaza_async(&["--mode", "fetch-users"], vars).await;
    assert_eq!(refused.status.code(), Some(1));
    let err = stderr(&refused);
    assert!(err.contains("Tito refused the API token (401)"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fake_tito_adds_tickets_and_prints_their_emails() {
    let dir = plaza_tests::storage::TempDir::new();
    let url = format!("sqlite://{}/plaza.db", dir.path.display());
    let output = plaza_async(
        &["fake-tito", "--count", "3"],
        vec![("DATABASE_URL", url), ("RUST_LOG", "off".into())],
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "attendee-1@example.org\nattendee-2@example.org\nattendee-3@example.org\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_token_mints_a_token_the_api_accepts() {
    let t = TestDb::new(Backend::Real).await;
    let secret = "dev-token-test-secret-dev-token-test-secret";
    let vars = vec![
        ("DATABASE_URL", t.url.expose().to_owned()),
        ("JWT_SECRET", secret.to_owned()),
        ("RUST_LOG", "off".to_owned()),
    ];
    let output = plaza_async(
        &["dev-token", "Dev@Example.org", "--role", "admin"],
        vars.clone(),
    )
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let token = String::from_utf8_lossy(&output.stdout)
        .lines()
        .next()
        .expect("a token")
        .to_owned();
    let tokens = plaza_core::auth::Tokens::new(
        &plaza_core::config::Secret::new(secret),
        "plaza",
        std::time::Duration::from_secs(60),
    );
    let claims = tokens.verify_auth(&token).expect("the token verifies");
    assert!(claims.has_role("admin"));
    let row = plaza_core::queries::attendees::get(&t.db, claims.sub)
        .await
        .expect("db")
        .expect("row");
    assert_eq!(
        (row.email.as_str(), row.verified),
        ("dev@example.org", true)
    );

    let bad = plaza_async(&["dev-token", "not-an-email"], vars.clone()).await;
    assert_eq!(bad.status.code(), Some(2));
    let no_secret = plaza_async(
        &["dev-token", "a@example.org"],
        vec![("DATABASE_URL", t.url.expose().to_owned())],
    )
    .await;
    assert_eq!(no_secret.status.code(), Some(2));
    assert!(stderr(&no_secret).contains("JWT_SECRET"));
}

#[test]
fn content_settings_are_checked_at_start() {
    let output = plaza(&["--mode", "api"], &[("LOCALES", "es,fr")]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("LOCALES"), "{}", stderr(&output));
    for remote in ["--upload-pack=x", "ext::sh -c x", "relative/path"] {
        let output = plaza(&["--mode", "api"], &[("CONTENT_REPO_REMOTE", remote)]);
        assert_eq!(output.status.code(), Some(2), "{remote}");
        assert!(
            stderr(&output).contains("CONTENT_REPO_REMOTE"),
            "{}",
            stderr(&output)
        );
    }
    let output = plaza(&["--mode", "api"], &[("CONTENT_REPO_PATH", "../etc")]);
    assert_eq!(output.status.code(), Some(2));
    let output = plaza(&["--mode", "api", "--local", "."], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--local only applies to --mode fetch-content"));
}

#[test]
fn an_invalid_pretalx_import_exits_2_naming_the_variable_and_the_field() {
    let dir = plaza_tests::storage::TempDir::new();
    let url = format!("sqlite://{}/plaza.db", dir.path.display());
    for mode in ["fetch-schedule", "api"] {
        let output = plaza(
            &["--mode", mode],
            &[
                ("DATABASE_URL", &url),
                ("PRETALX_IMPORT", r#"{"bogus":1}"#),
                ("RUST_LOG", "off"),
            ],
        );
        assert_eq!(
            output.status.code(),
            Some(2),
            "--mode {mode}: {}",
            stderr(&output)
        );
        let err = stderr(&output);
        assert!(
            err.contains("PRETALX_IMPORT") && err.contains("bogus"),
            "{err}"
        );
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_schedule_on_a_fresh_embedded_directory_migrates_first() {
    use plaza_tests::fake_pretalx::{self, FakePretalx};
    let fake = FakePretalx::start(fake_pretalx::demo_dataset(0)).await;
    let dir = plaza_tests::storage::TempDir::new();
    let mut vars = fake.env();
    vars.extend([
        (
            "DATABASE_URL",
            format!("sqlite://{}/plaza.db", dir.path.display()),
        ),
        ("RUST_LOG", "off".to_owned()),
    ]);
    let output = plaza_async(&["--mode", "fetch-schedule"], vars.clone()).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let listed = plaza_async(&["schedule", "versions"], vars).await;
    assert!(String::from_utf8_lossy(&listed.stdout).contains("← served"));
}

/// The version id in a `fetch-schedule` summary (`schedule version 3: …`).
fn version_in(output: &Output) -> i64 {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    stdout
        .split("schedule version ")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .and_then(|id| id.trim().parse().ok())
        .unwrap_or_else(|| panic!("no version in {stdout:?} ({})", stderr(output)))
}

/// The embedded tier: `plaza --mode fetch-schedule` and `plaza schedule rollback` as separate processes against a
/// running `all` process. It serves what they publish within 5 s, and its admin view agrees with the CLI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_all_process_serves_what_other_processes_publish_and_roll_back() {
    use plaza_tests::fake_pretalx::{self, FakePretalx};
    use std::time::Duration;
    let dataset = fake_pretalx::demo_dataset(0);
    let fake = FakePretalx::start(dataset.clone()).await;
    let dir = plaza_tests::storage::TempDir::new();
    let mut vars = fake.env();
    vars.extend([
        (
            "DATABASE_URL",
            format!("sqlite://{}/plaza.db", dir.path.display()),
        ),
        (
            "JWT_SECRET",
            "embedded-secret-embedded-secret-0123456".to_owned(),
        ),
        ("SCHEDULE_CRON", String::new()),
        ("RUST_LOG", "off".to_owned()),
        // Roles are evaluated on every request: the dev token's admin role holds only for a listed address.
        ("ADMIN_EMAILS", "admin@example.org".to_owned()),
    ]);
    let env: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let all = plaza_tests::live::PlazaProcess::start("all", &dir.path, &env).await;
    let http = reqwest::Client::new();
    let token_output = plaza_async(
        &["dev-token", "admin@example.org", "--role", "admin"],
        vars.clone(),
    )
    .await;
    let token = String::from_utf8_lossy(&token_output.stdout)
        .lines()
        .next()
        .expect("a token")
        .to_owned();
    let served = || {
        let (http, address, token) = (http.clone(), all.address.clone(), token.clone());
        async move {
            let status: serde_json::Value = http
                .get(format!("{address}/api/admin/schedule"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("admin status")
                .json()
                .await
                .expect("JSON");
            status["version"].as_i64().expect("a version")
        }
    };

    let first = version_in(&plaza_async(&["--mode", "fetch-schedule"], vars.clone()).await);
    let mut edited = dataset;
    fake_pretalx::edit_scheduled_session(&mut edited, |sub| {
        sub["title"] = "Edited elsewhere".into()
    });
    fake.set(edited);
    let second = version_in(&plaza_async(&["--mode", "fetch-schedule"], vars.clone()).await);
    assert_ne!(first, second);
    let took = plaza_tests::eventually(Duration::from_secs(5), || async {
        served().await == second
    })
    .await;
    assert!(
        took.is_some(),
        "the all process never served version {second}, published by fetch-schedule"
    );

    let rollback = plaza_async(&["schedule", "rollback", &first.to_string()], vars.clone()).await;
    assert!(rollback.status.success(), "{}", stderr(&rollback));
    let took =
        plaza_tests::eventually(Duration::from_secs(5), || async { served().await == first }).await;
    assert!(
        took.is_some(),
        "the all process did not serve rolled-back version {first} within 5 s"
    );
    let body = http
        .get(format!("{}/api/schedule", all.address))
        .send()
        .await
        .expect("schedule");
    assert!(
        !body
            .text()
            .await
            .expect("body")
            .contains("Edited elsewhere")
    );

    let versions: serde_json::Value = http
        .get(format!("{}/api/admin/schedule/versions", all.address))
        .bearer_auth(&token)
        .send()
        .await
        .expect("versions")
        .json()
        .await
        .expect("JSON");
    let served_ids: Vec<i64> = versions["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .filter(|v| v["served"] == true)
        .filter_map(|v| v["id"].as_i64())
        .collect();
    assert_eq!(served_ids, [first], "{versions}");
    let listed =
        String::from_utf8_lossy(&plaza_async(&["schedule", "versions"], vars).await.stdout)
            .into_owned();
    let marked: Vec<&str> = listed
        .lines()
        .filter(|line| line.contains("← served"))
        .collect();
    assert_eq!(marked.len(), 1, "{listed}");
    assert!(
        marked[0].trim_start().starts_with(&first.to_string()),
        "{listed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_schedule_on_an_unmigrated_postgres_stops_before_fetching_with_a_hint() {
    let (t, cache) = (
        TestDb::unmigrated(Backend::Real).await,
        plaza_tests::TestCache::new(Backend::Real),
    );
    let (fake, vars) = pretalx_on_postgres(&t, &cache).await;

    let output = plaza_async(&["--mode", "fetch-schedule"], vars).await;

    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.contains("run `plaza --mode migrate` first"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    let requests = fake.server.received_requests().await.unwrap_or_default();
    assert!(
        requests.is_empty(),
        "Pretalx was read before the database was checked: {requests:?}"
    );
}

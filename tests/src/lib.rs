//! plaza-tests: helpers for the black-box suite — real Redis and Postgres with per-test isolation, SQLite files,
//! the memory cache, a private `redis-server` and a private Postgres for fault tests, `spawn_app` starting the real HTTP API on port 0,
//! a wiremock Pretalx of any size (`fake_pretalx`, also used by the `bench-*` binaries) and a Web Push service
//! that decrypts what it receives (`push_service`).
//!
//! Services come from `TEST_DATABASE_URL` (default `postgres://postgres:postgres@127.0.0.1:5432/postgres`) and
//! `TEST_REDIS_URL` (default `redis://127.0.0.1:6379`); `scripts/test` makes sure they run. `TEST_LOG=1` shows logs.

pub mod app;
pub mod content_repo;
pub mod fake_pretalx;
pub mod fake_tito;
pub mod live;
pub mod postgres_server;
pub mod push_service;
pub mod redis_server;
pub mod sized_pretalx;
pub mod smtp_sink;
pub mod storage;

pub use app::{TestApp, spawn_app};
pub use storage::{Backend, TestCache, TestDb};

/// Defines each test once per storage backend: `mod name { real, embedded }`, each receiving its [`Backend`].
///
/// ```ignore
/// for_each_backend! {
///     async fn lock_is_exclusive(backend: Backend) { /* … */ }
/// }
/// ```
#[macro_export]
macro_rules! for_each_backend {
    ($( $(#[$meta:meta])* async fn $name:ident($arg:ident : Backend) $body:block )*) => {
        $(
            $(#[$meta])*
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn run($arg: $crate::Backend) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn real() {
                    run($crate::Backend::Real).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn embedded() {
                    run($crate::Backend::Embedded).await
                }
            }
        )*
    };
}

/// The `plaza` binary of this build (`scripts/test` builds it before the suite), or `PLAZA_BIN` when set (the
/// benchmark binaries measure a release build).
pub fn plaza_bin() -> std::path::PathBuf {
    if let Some(bin) = std::env::var_os("PLAZA_BIN") {
        return bin.into();
    }
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(std::path::Path::parent)
        .expect("target directory");
    let bin = dir.join("plaza");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p plaza` first (scripts/test does)",
        bin.display()
    );
    bin
}

/// Runs the `plaza` binary with `args` in a clean environment (only `PATH`) plus `vars`, and waits for it.
pub fn run_plaza<K, V>(
    args: &[&str],
    vars: impl IntoIterator<Item = (K, V)>,
) -> std::process::Output
where
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    std::process::Command::new(plaza_bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(vars)
        .output()
        .expect("plaza runs")
}

/// Runs the `plaza` binary like [`run_plaza`], asserts it succeeded (showing its stderr otherwise) and returns its
/// trimmed stdout.
pub fn plaza_says<K, V>(args: &[&str], vars: impl IntoIterator<Item = (K, V)>) -> String
where
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    let output = run_plaza(args, vars);
    assert!(
        output.status.success(),
        "plaza {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Polls `probe` every 50 ms until it returns true or `within` passes; returns how long it took.
pub async fn eventually<F, Fut>(
    within: std::time::Duration,
    mut probe: F,
) -> Option<std::time::Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if probe().await {
            return Some(started.elapsed());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    None
}

/// Waits for the next wall-clock minute when fewer than `needed` remain in this one. The login limits count in
/// fixed per-minute windows (`ratelimit/<key>/<minute>`): a test that makes N requests and expects the (N+1)th to be
/// refused must make them inside one window, or the count restarts halfway and the refusal never comes.
pub async fn inside_one_limit_window(needed: std::time::Duration) {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is after 1970");
    let into_minute = std::time::Duration::from_millis((since_epoch.as_millis() % 60_000) as u64);
    let left = std::time::Duration::from_secs(60) - into_minute;
    if left < needed {
        // A little past the boundary, so a clock read a moment later is in the new window too.
        tokio::time::sleep(left + std::time::Duration::from_millis(200)).await;
    }
}

/// The `Content-Length` of a raw HTTP/1.1 response head (tests that read responses off a socket themselves).
pub fn content_length(head: &str) -> usize {
    head.lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no content-length: {head}"))
}

/// The per-link nonce the sign-in confirm page's form carries (empty when the page has no form).
pub fn confirm_nonce(html: &str) -> String {
    html.split_once("name=\"nonce\" value=\"")
        .and_then(|(_, rest)| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}

/// Submits the confirm form of sign-in `link` as a browser does: its page's nonce, form-encoded.
pub async fn submit_confirm(http: &reqwest::Client, link: &str, nonce: &str) -> reqwest::Response {
    http.post(link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("nonce={nonce}"))
        .send()
        .await
        .expect("confirm form")
}

/// The auth token a finished sign-in's redirect carries in its fragment (`…/_auth#token=…&redirect=…`).
pub fn redirect_token(location: &str) -> String {
    location
        .split("token=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap_or_else(|| panic!("an auth token in the redirect: {location}"))
        .to_owned()
}

/// The sign-in link in the newest `.eml` of `outbox` (quoted-printable unfolded).
pub async fn emailed_link(outbox: &std::path::Path) -> String {
    let mut link = None;
    let found = eventually(std::time::Duration::from_secs(10), || {
        let found = std::fs::read_dir(outbox).ok().and_then(|entries| {
            let mut files: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
            files.sort();
            let raw = std::fs::read_to_string(files.last()?).ok()?;
            let text = raw
                .replace("=\r\n", "")
                .replace("=\n", "")
                .replace("=3D", "=");
            let start = text.find("http://")?;
            let rest = &text[start..];
            let end = rest
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '<' | '>' | ')'))
                .unwrap_or(rest.len());
            Some(rest[..end].to_owned()).filter(|l| l.contains("/auth/login/"))
        });
        let hit = found.is_some();
        link = found.or(link.take());
        async move { hit }
    });
    assert!(
        found.await.is_some(),
        "no sign-in email in {}",
        outbox.display()
    );
    link.expect("link")
}

/// Installs a log subscriber when `TEST_LOG` is set (once per process).
pub fn init_test_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,sqlx=warn")
            .with_test_writer()
            .try_init();
    }
}

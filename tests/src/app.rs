//! `spawn_app`: the real HTTP API on port 0 over isolated storage (as `--mode api` runs it, schedule refresher
//! included), with a generic JSON client and token minting.

use std::collections::HashMap;
use std::sync::Arc;

use plaza_core::Config;
use plaza_core::queries::{attendees, tickets};
use plaza_jobs::JobContext;
use plaza_server::{AppState, Application};
use tokio_util::sync::CancellationToken;

use crate::storage::{Backend, TestCache, TestDb};

/// The address the test apps treat as an admin (`ADMIN_EMAILS`, unless a test sets its own).
pub const TEST_ADMIN: &str = "admin@example.org";

/// The JWT secret of every test app.
const TEST_JWT_SECRET: &str = "test-secret-test-secret-test-secret-0123";

/// A running plaza API for one test. Stops when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The state the app runs with (tests reach storage through it).
    pub state: AppState,
    /// HTTP client (no redirects followed, so redirects can be asserted).
    pub client: reqwest::Client,
    server: actix_web::dev::ServerHandle,
    shutdown: CancellationToken,
    db: Arc<TestDb>,
    cache: Arc<TestCache>,
}

/// Starts the API on `backend` with extra environment `vars` (on top of test defaults).
pub async fn spawn_app(backend: Backend, vars: &[(&str, &str)]) -> TestApp {
    crate::init_test_logs();
    let db = Arc::new(TestDb::new(backend).await);
    let cache = Arc::new(TestCache::new(backend));
    spawn_on(db, cache, vars).await
}

/// Starts the API on existing storage: a second pod, or a restart.
pub async fn spawn_on(db: Arc<TestDb>, cache: Arc<TestCache>, vars: &[(&str, &str)]) -> TestApp {
    let mut env: HashMap<String, String> = HashMap::from([
        ("LISTEN_ADDR".into(), "127.0.0.1:0".into()),
        ("DATABASE_URL".into(), db.url.expose().to_owned()),
        ("REDIS_PREFIX".into(), cache.prefix.clone()),
        ("SHUTDOWN_GRACE_SECONDS".into(), "1".into()),
        ("JWT_SECRET".into(), TEST_JWT_SECRET.into()),
        // Roles are evaluated on every request: `token_for(_, &["admin"])` needs an admin address.
        ("ADMIN_EMAILS".into(), TEST_ADMIN.into()),
        // Emails a test does not catch with the SMTP sink (schedule digests) stay out of the source tree.
        (
            "OUTBOX_DIR".into(),
            std::env::temp_dir()
                .join("plaza-test-outbox")
                .display()
                .to_string(),
        ),
    ]);
    if let Some(url) = &cache.redis_url {
        env.insert("REDIS_URL".into(), url.expose().to_owned());
    }
    env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test configuration is valid");
    // Built from the final configuration, so a test's own REDIS_URL (a closed port, a private server) is used.
    let app_cache = plaza_core::Cache::connect(config.redis_url.as_ref(), &config.redis_prefix)
        .expect("cache URL");
    let state = AppState::new(config, app_cache, db.db.clone()).expect("state builds");
    // As `--mode api` does at start (there in the background).
    state.revoke_removed_admins().await;
    let shutdown = CancellationToken::new();
    state.health();
    tokio::spawn(state.access.clone().follow());
    plaza_server::snapshot::refresher::start(&state, shutdown.clone()).await;
    plaza_server::digest::start(&state, shutdown.clone());
    let (address, server) = start(state.clone());
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client builds");
    TestApp {
        address,
        state,
        client,
        server,
        shutdown,
        db,
        cache,
    }
}

/// Starts the API with `state` as it is (storage owned by the caller); returns its address and stop handle.
pub fn start(state: AppState) -> (String, actix_web::dev::ServerHandle) {
    let app = Application::build(state).expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let server = app.handle();
    tokio::spawn(app.run_until_stopped());
    (address, server)
}

impl TestApp {
    /// Another API process on the same database and cache (a second pod, or this one restarted).
    pub async fn sibling(&self, vars: &[(&str, &str)]) -> TestApp {
        spawn_on(self.db.clone(), self.cache.clone(), vars).await
    }

    /// This app restarted on the same database with a cache that forgot everything (the embedded tier's memory
    /// cache after a restart, or a flushed Redis).
    pub async fn restarted_with_empty_cache(&self, vars: &[(&str, &str)]) -> TestApp {
        spawn_on(
            self.db.clone(),
            Arc::new(TestCache::new(self.backend())),
            vars,
        )
        .await
    }

    /// The variables that point a `plaza` process at this app's storage (same database, cache and secret).
    pub fn storage_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            ("DATABASE_URL", self.db.url.expose().to_owned()),
            ("REDIS_PREFIX", self.cache.prefix.clone()),
            ("JWT_SECRET", TEST_JWT_SECRET.to_owned()),
            // Roles are evaluated on every request: the processes need the same admins as this app.
            ("ADMIN_EMAILS", self.state.config.admin_emails.join(",")),
        ];
        if let Some(url) = &self.cache.redis_url {
            env.push(("REDIS_URL", url.expose().to_owned()));
        }
        env
    }

    /// The storage backend this app runs on.
    pub fn backend(&self) -> Backend {
        if self.cache.redis_url.is_some() {
            Backend::Real
        } else {
            Backend::Embedded
        }
    }

    /// The job context of this app's storage and configuration.
    pub fn jobs(&self) -> JobContext {
        self.state.jobs()
    }

    /// Runs the schedule import once and waits (10 s at most) until this app serves the version it stored.
    pub async fn import_schedule(&self) -> plaza_jobs::schedule::ImportSummary {
        let summary = plaza_jobs::schedule::run_once(&self.jobs())
            .await
            .expect("import succeeds");
        let served = crate::eventually(std::time::Duration::from_secs(10), || async {
            self.state.schedule.current().version == summary.version
        });
        assert!(served.await.is_some(), "version {} served", summary.version);
        summary
    }

    /// Absolute URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request is sent")
    }

    /// `GET path` with a bearer token.
    pub async fn get_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request is sent")
    }

    /// `POST path` with a bearer token and no body.
    pub async fn post_as(&self, token: &str, path: &str) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request is sent")
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request is sent")
    }

    /// `method path` with a raw body and content type.
    pub async fn send_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request is sent")
    }

    /// The confirm page of login link `token` (asserting a 200) and the nonce its form carries (empty without a form).
    pub async fn confirm_page(&self, token: &str) -> (String, String) {
        let page = self.get(&format!("/api/auth/login/{token}")).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.expect("page");
        let nonce = crate::confirm_nonce(&html);
        (html, nonce)
    }

    /// A valid auth token of a verified attendee `email` with `roles` (created if needed), who holds a complete
    /// ticket (roles are evaluated on every request: without one, only an admin address keeps access).
    pub async fn token_for(&self, email: &str, roles: &[&str]) -> String {
        let attendee = attendees::upsert_verified(&self.state.db, email, "Test Person")
            .await
            .expect("attendee");
        let ticket = tickets::Ticket {
            slug: format!("test-{}", attendee.id),
            email_hash: Some(plaza_core::model::schedule::hash_email(&attendee.email)),
            name: attendee.name.clone(),
            state: tickets::COMPLETE.into(),
            tito_updated_at: chrono::Utc::now(),
        };
        tickets::upsert_many(&self.state.db, &[ticket])
            .await
            .expect("ticket");
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        self.state
            .tokens
            .sign_auth(attendee.id, &roles, "en", attendee.token_version)
            .expect("token")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let server = self.server.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { server.stop(false).await });
        }
    }
}

/// Reads a response as JSON, asserting it is JSON.
pub async fn json_body(response: reqwest::Response) -> serde_json::Value {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "expected JSON, got {content_type:?}"
    );
    response.json().await.expect("body is JSON")
}

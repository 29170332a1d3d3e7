//! The one application state handed to every handler: configuration, storage handles, token keys, and the
//! in-memory schedule and content (the content bundled into the binary until an import publishes one).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use std::collections::HashSet;

use arc_swap::ArcSwap;
use plaza_core::auth::Tokens;
use plaza_core::config::{Secret, normalise_email};
use plaza_core::email::{Mailer, Templates};
use plaza_core::{Cache, Config, Db};
use plaza_jobs::JobContext;

use plaza_core::content::{self, ContentFiles};
use plaza_jobs::content::Published as ContentPublished;

use crate::health::Health;
use crate::log_sink::LazyLogSink;
use crate::snapshot::{ContentSnapshot, ContentStore, ScheduleStore};

/// Shared state of the HTTP API. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Process configuration.
    pub config: Config,
    /// Cache and broker.
    pub cache: Cache,
    /// Database pool.
    pub db: Db,
    /// Token signing and verification.
    pub tokens: Tokens,
    /// The schedule served from memory.
    pub schedule: ScheduleStore,
    /// The content served from memory.
    pub content: ContentStore,
    templates: Arc<ArcSwap<Templates>>,
    /// Where emails go.
    pub mailer: Mailer,
    /// Batched writes of `logs` rows from request handlers.
    pub logs: LazyLogSink,
    blocked: Arc<ArcSwap<HashSet<String>>>,
    draining: Arc<AtomicBool>,
    health: Arc<OnceLock<Health>>,
}

impl AppState {
    /// Opens the cache and the database named by `config` (lazily for Redis and Postgres). On the embedded tier
    /// without `JWT_SECRET`, a secret is generated once and kept beside the SQLite file.
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        let cache = Cache::connect(config.redis_url.as_ref(), &config.redis_prefix)?;
        let db = Db::connect(&config.database_url, config.database_max_connections)
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open the database {}: {e}",
                    config.database_url.redacted()
                )
            })?;
        let mut config = config;
        let sqlite_path = config.database_url.sqlite_path();
        if config.jwt_secret.is_none()
            && let Some(dir) = sqlite_path.as_deref().and_then(Path::parent)
        {
            config.jwt_secret = Some(embedded_secret(dir)?);
        }
        Self::new(config, cache, db)
    }

    /// State from existing handles. Without a JWT secret (in-memory SQLite, tests) a random one is used.
    pub fn new(config: Config, cache: Cache, db: Db) -> anyhow::Result<Self> {
        let secret = config.jwt_secret.clone().unwrap_or_else(random_secret);
        let tokens = Tokens::new(&secret, &config.jwt_issuer, config.auth_token_ttl);
        let bundled = content::build(&ContentFiles::bundled(), &config.locales)
            .context("the content bundled into plaza is invalid")?
            .bundle;
        let schedule = ScheduleStore::new(bundled.settings.clone())?;
        let templates = Templates::from_sources(&bundled.emails)?;
        let mailer = Mailer::from_config(&config)?;
        let blocked = bundled.blocked.iter().cloned().collect();
        let logs = LazyLogSink::new(db.clone());
        Ok(Self {
            config,
            cache,
            db,
            tokens,
            schedule,
            content: ContentStore::new(ContentSnapshot::build(0, bundled)?),
            templates: Arc::new(ArcSwap::from_pointee(templates)),
            mailer,
            logs,
            blocked: Arc::new(ArcSwap::from_pointee(blocked)),
            draining: Arc::new(AtomicBool::new(false)),
            health: Arc::default(),
        })
    }

    /// What the allow-list says about `email` now (tickets, the served schedule's facilitators, admins, block list).
    pub async fn allowance(
        &self,
        email: &str,
    ) -> Result<plaza_core::identity::Allowance, sqlx::Error> {
        let snapshot = self.schedule.current();
        let blocked = self.blocked();
        plaza_core::identity::allowance(
            &self.db,
            &self.config,
            &snapshot.schedule.facilitators,
            &blocked,
            email,
        )
        .await
    }

    /// The normalised blocked addresses.
    pub fn blocked(&self) -> Arc<HashSet<String>> {
        self.blocked.load_full()
    }

    /// Replaces the block list (content import; tests).
    pub fn set_blocked(&self, emails: impl IntoIterator<Item = String>) {
        self.blocked.store(Arc::new(
            emails.into_iter().map(|e| normalise_email(&e)).collect(),
        ));
    }

    /// Serves a published content version: pages, the settings inside `/schedule`, the block list and the email
    /// templates all switch together. No-op when that version is served already.
    pub fn install_content(&self, published: ContentPublished) -> anyhow::Result<bool> {
        if self.content.current().version == published.version {
            return Ok(false);
        }
        let bundle = published.data;
        let templates = Templates::from_sources(&bundle.emails)?;
        self.schedule.set_settings(bundle.settings.clone())?;
        self.set_blocked(bundle.blocked.iter().cloned());
        self.templates.store(Arc::new(templates));
        let pages = bundle.pages.len();
        self.content
            .store(ContentSnapshot::build(published.version, bundle)?);
        metrics::gauge!("plaza_content_served_version").set(published.version as f64);
        tracing::info!(
            version = published.version,
            pages,
            "serving content version"
        );
        Ok(true)
    }

    /// Renders email template `template` in `locale` (English fallback) from the served content.
    pub fn render_email(
        &self,
        template: &str,
        locale: &str,
        values: &[(&str, &str)],
    ) -> Result<plaza_core::email::Rendered, plaza_core::email::EmailError> {
        self.templates.load().render(template, locale, values)
    }

    /// Renders and sends an email in the background: the caller never waits for SMTP and a failure is logged (and
    /// counted in `/metrics`), never surfaced to the person who triggered it.
    pub fn send_email(&self, to: &str, template: &str, locale: &str, values: &[(&str, &str)]) {
        let email = match self.render_email(template, locale, values) {
            Ok(email) => email,
            Err(err) => {
                tracing::error!(%err, template, "cannot render an email");
                return;
            }
        };
        let mailer = self.mailer.clone();
        let to = to.to_owned();
        tokio::spawn(async move {
            if let Err(err) = mailer.send(&to, &email).await {
                tracing::warn!(%err, template = %email.template, "email not sent");
            }
        });
    }

    /// The context jobs run with, sharing this state's storage.
    pub fn jobs(&self) -> JobContext {
        JobContext {
            config: self.config.clone(),
            cache: self.cache.clone(),
            db: self.db.clone(),
        }
    }

    /// The dependency monitor, started on first use (servers start it at once; one-shot modes never do).
    pub fn health(&self) -> &Health {
        self.health.get_or_init(|| {
            Health::start(
                self.cache.clone(),
                self.db.clone(),
                self.config.readiness_timeout,
            )
        })
    }

    /// Marks the process as shutting down: `/readyz` answers 503 so load balancers stop sending traffic.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    /// True once shutdown has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

fn random_secret() -> Secret {
    Secret::new(format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    ))
}

/// Reads `<dir>/jwt-secret`, creating it (owner-only permissions) on first start.
fn embedded_secret(dir: &Path) -> anyhow::Result<Secret> {
    let path = dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path)
        && existing.trim().len() >= 32
    {
        return Ok(Secret::new(existing.trim()));
    }
    let secret = random_secret();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&path, secret.expose())
        .with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("restricting {}", path.display()))?;
    }
    tracing::info!(path = %path.display(), "generated the embedded tier's JWT secret");
    Ok(secret)
}

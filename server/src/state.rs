//! The one application state handed to every handler: configuration, storage handles, token keys, and the
//! in-memory schedule and content (the content bundled into the binary until an import publishes one).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use std::collections::HashSet;

use arc_swap::ArcSwap;
use plaza_core::auth::Tokens;
use plaza_core::authz::view::{AccessView, Changed};
use plaza_core::authz::{self, Policy, Presented, Principal};
use plaza_core::config::{Secret, normalise_email};
use plaza_core::email::{Mailer, Templates};
use plaza_core::queries::attendees;
use plaza_core::{Cache, Config, Db};
use plaza_jobs::JobContext;

use plaza_core::content::{self, ContentFiles};
use plaza_jobs::content::Published as ContentPublished;

use crate::health::Health;
use crate::http::access_log::AccessLog;
use crate::http::attendance::{ScheduleView, schedule_view};
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
    /// Which requests get an access-log line (its per-second budget is shared by every worker).
    pub access_log: AccessLog,
    /// The attendees' access state kept in memory (`AUTH_CACHE_TTL_MS`); writers that change it call
    /// [`AccessView::changed`].
    pub access: AccessView,
    /// The attendees' "My Schedule" lists kept in memory (same TTL, `ATTENDANCE_CACHE_MAX_BYTES`); attend and
    /// unattend call `changed` on it.
    pub my_schedules: ScheduleView,
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
        let logs = LazyLogSink::new(db.clone(), config.log_queue_max_bytes);
        let access_log = AccessLog::new(&config);
        let access = plaza_core::authz::view::access_view(
            cache.clone(),
            config.auth_cache_ttl,
            config.auth_cache_max_entries,
        );
        let my_schedules = schedule_view(
            cache.clone(),
            config.auth_cache_ttl,
            config.attendance_cache_max_bytes,
        );
        Ok(Self {
            my_schedules,
            config,
            cache,
            db,
            tokens,
            schedule,
            content: ContentStore::new(ContentSnapshot::build(0, bundled)?),
            templates: Arc::new(ArcSwap::from_pointee(templates)),
            mailer,
            logs,
            access_log,
            access,
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

    /// The one authorisation check ([`plaza_core::authz`]) under the rules in force now: `ADMIN_EMAILS`, the
    /// served schedule's facilitators, the block list, the ticket table. 401 on refusal; a loss of access bumps
    /// the token version.
    pub async fn authorize(
        &self,
        presented: &Presented<'_>,
    ) -> Result<Principal, plaza_core::ApiError> {
        let snapshot = self.schedule.current();
        let blocked = self.blocked();
        let policy = Policy::new(&self.config, &snapshot.schedule.facilitators, &blocked);
        authz::authorize(&self.db, &self.access, &policy, presented).await
    }

    /// Revokes the tokens of addresses that left `ADMIN_EMAILS` since the last start (recorded in
    /// `admin_grants`), then records the current list. Request-time checks catch the rest (a pod still running the
    /// old list, a database that was down now); failures are logged, never fatal.
    pub async fn revoke_removed_admins(&self) {
        let removed =
            match attendees::replace_admin_grants(&self.db, &self.config.admin_emails).await {
                Ok(removed) => removed,
                Err(err) => {
                    tracing::warn!(%err, "cannot compare ADMIN_EMAILS with the last start's");
                    return;
                }
            };
        for email in removed {
            match attendees::find_by_email(&self.db, &email).await {
                Ok(Some(attendee)) => {
                    if let Err(err) = attendees::revoke_tokens(&self.db, attendee.id).await {
                        tracing::warn!(%err, "cannot revoke a former admin's tokens");
                    } else {
                        self.access.changed(Changed::One(attendee.id)).await;
                        tracing::info!(
                            attendee = attendee.id,
                            "revoked the tokens of an address removed from ADMIN_EMAILS"
                        );
                    }
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(%err, "cannot look up a former admin"),
            }
        }
    }

    /// The normalised blocked addresses.
    pub fn blocked(&self) -> Arc<HashSet<String>> {
        self.blocked.load_full()
    }

    /// Revokes the tokens of addresses blocked now but not in `before` (in the background; the authorisation check
    /// refuses them meanwhile, and bumps their version itself if this fails).
    fn revoke_newly_blocked(&self, before: &HashSet<String>) {
        let added: Vec<String> = self.blocked().difference(before).cloned().collect();
        if added.is_empty() {
            return;
        }
        let (db, access) = (self.db.clone(), self.access.clone());
        tokio::spawn(async move {
            for email in added {
                let revoked = match attendees::find_by_email(&db, &email).await {
                    Ok(Some(attendee)) => attendees::revoke_tokens(&db, attendee.id)
                        .await
                        .map(|bumped| bumped.then_some(attendee.id)),
                    Ok(None) => Ok(None),
                    Err(err) => Err(err),
                };
                match revoked {
                    Ok(Some(id)) => access.changed(Changed::One(id)).await,
                    Ok(None) => {}
                    Err(err) => tracing::warn!(%err, "cannot revoke a blocked address's tokens"),
                }
            }
        });
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
        let before = self.blocked();
        self.set_blocked(bundle.blocked.iter().cloned());
        self.revoke_newly_blocked(&before);
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

/// Reads `<dir>/jwt-secret`, creating it on first start: written in full to a private temporary file (created
/// with mode 0600, never world-readable for a moment), then hard-linked into place — which fails rather than
/// overwrite, so two processes starting together agree on one secret and no reader ever sees a partial file.
fn embedded_secret(dir: &Path) -> anyhow::Result<Secret> {
    use std::io::Write as _;
    let path = dir.join("jwt-secret");
    let read = || -> Option<Secret> {
        let existing = std::fs::read_to_string(&path).ok()?;
        (existing.trim().len() >= 32).then(|| Secret::new(existing.trim()))
    };
    if let Some(secret) = read() {
        return Ok(secret);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let secret = random_secret();
    let temp = dir.join(format!(".jwt-secret.{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let written = options
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(secret.expose().as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::hard_link(&temp, &path));
    let _ = std::fs::remove_file(&temp);
    match written {
        Ok(()) => {
            tracing::info!(path = %path.display(), "generated the embedded tier's JWT secret");
            Ok(secret)
        }
        // Another process got there first (or an unusable file is in the way): use what is there.
        Err(err) => read().ok_or_else(|| {
            anyhow::Error::new(err).context(format!(
                "writing {} (remove it if it holds fewer than 32 characters)",
                path.display()
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::embedded_secret;

    #[test]
    fn the_embedded_secret_is_private_and_stable() {
        let dir =
            std::env::temp_dir().join(format!("plaza-secret-{}", uuid::Uuid::new_v4().simple()));
        let first = embedded_secret(&dir).expect("created");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("jwt-secret"))
                .expect("file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = embedded_secret(&dir).expect("read back");
        assert_eq!(first.expose(), again.expose());
        let leftovers = std::fs::read_dir(&dir).expect("dir").count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

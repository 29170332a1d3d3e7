//! What each `--mode` runs. Long-running modes share one shutdown token; one-shot modes return an exit status.

use plaza_core::Config;
use plaza_core::config::{ConfigError, DatabaseKind, TitoSource};
use tokio_util::sync::CancellationToken;

use plaza_jobs::content::{self, Origin};
use plaza_jobs::schedule::{self, ImportSummary};
use plaza_jobs::tito::TicketQuery;
use plaza_jobs::users;

use plaza_core::queries::versions::{self, Table};

use crate::cli::{Command, Mode, TitoList, VersionAction};
use crate::live::LiveServer;
use crate::scheduler;
use crate::snapshot::refresher;
use crate::startup::Servers;
use crate::state::AppState;
/// Command-line options of one-shot modes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// `--full`: `fetch-users` rebuilds the allow-list from every ticket instead of reading changes.
    pub full: bool,
    /// `--local PATH`: `fetch-content` imports a local folder instead of the configured source.
    pub local: Option<std::path::PathBuf>,
}

/// Runs `mode` to completion (for servers: until `shutdown` is cancelled).
pub async fn run(
    mode: Mode,
    options: Options,
    config: Config,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    if matches!(mode, Mode::FetchSchedule | Mode::All | Mode::Api) {
        // Every import would fail on bad options: refuse to start instead (exit 2, naming the field).
        schedule::import_options(&config)?;
    }
    match mode {
        Mode::Migrate => migrate(&config).await,
        Mode::Api => serve_api(AppState::connect(config).await?, shutdown, false).await,
        Mode::Live => serve_live(AppState::connect(config).await?, shutdown).await,
        Mode::All => {
            let state = AppState::connect(config).await?;
            migrate_if_embedded(&state).await?;
            // The scheduler imports the schedule (and content from git, when configured) at start — in the
            // background: a slow Pretalx must not delay serving — then runs every job on its `*_CRON` expression.
            scheduler::start(
                state.jobs(),
                scheduler::jobs(&state.config),
                shutdown.clone(),
            )
            .await?;
            serve_api(state, shutdown, true).await
        }
        Mode::FetchSchedule => {
            let state = AppState::connect(config).await?;
            migrate_if_embedded(&state).await?;
            let summary = schedule::run_once(&state.jobs()).await;
            state.db.close().await;
            print_summary(&summary?);
            Ok(())
        }
        Mode::FetchContent => {
            let state = AppState::connect(config).await?;
            migrate_if_embedded(&state).await?;
            let origin = match options.local {
                Some(path) => Origin::Local(path),
                None => Origin::Configured,
            };
            let summary = content::run_once(&state.jobs(), &origin).await;
            state.db.close().await;
            let summary = summary?;
            let outcome = match (summary.stored.created, summary.stored.published) {
                (true, _) => "new version, published",
                (false, true) => "published",
                (false, false) => "unchanged",
            };
            println!(
                "content version {}: {outcome} — {} pages, {} warnings, from {}",
                summary.stored.version,
                summary.pages,
                summary.warnings.len(),
                summary.source
            );
            Ok(())
        }
        Mode::FetchUsers => {
            require_tito(&config, "--mode fetch-users")?;
            let state = AppState::connect(config).await?;
            migrate_if_embedded(&state).await?;
            let summary = users::run_once(&state.jobs(), options.full).await;
            state.db.close().await;
            println!("{}", summary?);
            Ok(())
        }
        Mode::LogVisitors => {
            // The count lives in the cache: a separate process on the memory cache would always see 0.
            if config.redis_url.is_none() {
                return Err(ConfigError {
                    var: "REDIS_URL",
                    reason: "is required by --mode log-visitors (live processes keep their counts in Redis)"
                        .into(),
                }
                .into());
            }
            let state = AppState::connect(config).await?;
            migrate_if_embedded(&state).await?;
            let visitors = plaza_jobs::visitors::run_once(&state.jobs()).await;
            state.db.close().await;
            println!("logged {} visitors", visitors?);
            Ok(())
        }
        Mode::Retention => {
            let state = AppState::connect(config).await?;
            migrate_if_embedded(&state).await?;
            let deleted = plaza_jobs::retention::run_once(&state.jobs()).await;
            state.db.close().await;
            println!("{}", deleted?);
            Ok(())
        }
        Mode::Reminders => {
            let state = AppState::connect(config).await?;
            migrate_if_embedded(&state).await?;
            let reminders = plaza_jobs::reminders::Reminders::new(&state.config);
            let tick =
                plaza_jobs::reminders::run_once(&state.jobs(), &reminders, chrono::Utc::now())
                    .await;
            // Queued pushes get most of the minute; what is left is retried by the next run (outbox lease).
            if !reminders.drain(std::time::Duration::from_secs(45)).await {
                tracing::warn!("pushes still in flight at exit; the next run retries them");
            }
            state.db.close().await;
            println!("{}", tick?);
            Ok(())
        }
    }
}

/// Runs a maintenance command (not a server) against the configured storage.
pub async fn run_command(command: Command, config: Config) -> anyhow::Result<()> {
    if let Command::VapidKeygen = command {
        let key = plaza_core::push::VapidKey::generate();
        println!("VAPID_PRIVATE_KEY={}", key.private_base64url());
        println!(
            "# public key (GET /push/key serves it): {}",
            key.public_key()
        );
        return Ok(());
    }
    if let Command::Tito { list } = command {
        // Reads Tito only: no storage to open.
        return print_tito(list, &config).await;
    }
    let state = AppState::connect(config).await?;
    migrate_if_embedded(&state).await?;
    let ctx = state.jobs();
    match command {
        Command::EnvExample => print!("{}", plaza_core::config::env_example()),
        Command::VapidKeygen => {}
        Command::Schedule {
            action: VersionAction::Versions { limit },
        } => print_versions(&state, Table::Schedule, "sessions", limit).await?,
        Command::Content {
            action: VersionAction::Versions { limit },
        } => print_versions(&state, Table::Content, "pages", limit).await?,
        Command::Schedule {
            action: VersionAction::Rollback { id },
        } => {
            let published = schedule::publish_version(&ctx, id).await?;
            println!("schedule version {} is now served", published.version);
        }
        Command::Content {
            action: VersionAction::Rollback { id },
        } => {
            let published = content::publish_version(&ctx, id).await?;
            println!("content version {} is now served", published.version);
        }
        Command::Export { out } => {
            for (name, bytes) in crate::export::run(&state, &out).await? {
                println!("{} ({bytes} bytes)", out.join(name).display());
            }
        }
        Command::FakeSchedule => {
            let ctx = plaza_jobs::JobContext {
                config: Config {
                    pretalx: plaza_core::config::PretalxSource::Demo,
                    pretalx_import: None,
                    ..ctx.config
                },
                ..ctx
            };
            print_summary(&schedule::run_once(&ctx).await?);
        }
        Command::FakeTito { count } => {
            for email in users::insert_fake(&ctx, count).await? {
                println!("{email}");
            }
        }
        Command::Tito { list } => print_tito(list, &ctx.config).await?,
        Command::DevToken { email, roles } => {
            if !plaza_core::identity::looks_like_email(&email) {
                return Err(ConfigError {
                    var: "EMAIL",
                    reason: format!("{email:?} is not an email address"),
                }
                .into());
            }
            state.config.require_jwt_secret()?;
            let email = plaza_core::config::normalise_email(&email);
            let name = email.split('@').next().unwrap_or_default().to_owned();
            let attendee =
                plaza_core::queries::attendees::upsert_verified(&state.db, &email, &name).await?;
            let token = state.tokens.sign_auth(
                attendee.id,
                &roles,
                &attendee.language,
                attendee.token_version,
            )?;
            println!("{token}");
            println!("{}_auth#token={token}", state.config.client_url);
            // Roles are evaluated on every request, never taken from the token: say so when it will be refused.
            if !state.allowance(&email).await?.is_allowed() {
                eprintln!(
                    "warning: {email} has no access now (no complete ticket, not a facilitator, not in ADMIN_EMAILS): \
                     the API will refuse this token"
                );
            }
        }
    }
    state.db.close().await;
    Ok(())
}

/// Lists the newest `limit` versions of `table`, marking the served one; `count` names the summary count shown.
async fn print_versions(
    state: &AppState,
    table: Table,
    count: &str,
    limit: i64,
) -> anyhow::Result<()> {
    let served = versions::latest_published(&state.db, table)
        .await?
        .map(|(v, _)| v.id);
    println!(
        "{:>6}  {:<25}  {:<8}  {:<10}  source",
        "id", "created", count, "served"
    );
    for v in versions::list(&state.db, table, limit).await? {
        let n = v
            .counts
            .0
            .get(count)
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let mark = if Some(v.id) == served {
            "← served"
        } else {
            ""
        };
        println!(
            "{:>6}  {:<25}  {:<8}  {:<10}  {}",
            v.id,
            v.created.format("%Y-%m-%d %H:%M:%S").to_string(),
            n,
            mark,
            v.source
        );
    }
    Ok(())
}

/// A [`ConfigError`] (exit 2) when Tito is not configured, for `what` that needs it.
fn require_tito(config: &Config, what: &str) -> Result<(), ConfigError> {
    match config.tito {
        TitoSource::Api { .. } => Ok(()),
        TitoSource::Disabled => Err(ConfigError {
            var: "TITO_API_TOKEN",
            reason: format!("is required by {what} (with TITO_ACCOUNT and TITO_EVENT)"),
        }),
    }
}

/// `plaza tito <list>`: the list as Tito sends it, pretty JSON on stdout (logs go to stderr).
async fn print_tito(list: TitoList, config: &Config) -> anyhow::Result<()> {
    require_tito(config, "plaza tito")?;
    let client = users::client(config)?;
    let values = match list {
        TitoList::Tickets => client.tickets_raw(&TicketQuery::access()).await?,
        TitoList::Registrations => client.registrations().await?,
        TitoList::Events => client.events().await?,
    };
    println!("{}", serde_json::to_string_pretty(&values)?);
    Ok(())
}

/// The embedded tier (SQLite) owns its schema and migrates itself before any mode or job touches it (so a job on a
/// fresh directory works); the large tiers run `--mode migrate` as a Job first.
async fn migrate_if_embedded(state: &AppState) -> anyhow::Result<()> {
    if state.db.kind() == DatabaseKind::Sqlite {
        state
            .db
            .migrate()
            .await
            .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
    }
    Ok(())
}

/// Applies migrations and reports them; any failure is an error (non-zero exit).
async fn migrate(config: &Config) -> anyhow::Result<()> {
    let db = plaza_core::Db::connect(&config.database_url, 2)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot open the database {}: {e}",
                config.database_url.redacted()
            )
        })?;
    db.migrate()
        .await
        .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
    let applied = db.migrations();
    tracing::info!(database = %config.database_url.redacted(), migrations = applied.len(), "database is up to date");
    for (version, description) in applied {
        println!("migrated {version} {description}");
    }
    db.close().await;
    Ok(())
}

/// Serves the live server alone until `shutdown`, then closes its sockets and writes the metrics they sent.
async fn serve_live(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    state.config.require_jwt_secret()?;
    let config = &state.config;
    let (addr, var) = match config.live_addr {
        Some(addr) => (addr, "LIVE_ADDR"),
        None => (config.listen_addr, "LISTEN_ADDR"),
    };
    let listener = crate::startup::bind(addr, var)?;
    state.health();
    // Socket `auth` uses the kept access state too: follow the invalidations of other processes.
    tokio::spawn(state.access.clone().follow());
    // Socket `auth` enforces the published block list: follow the content feed (from Postgres when Redis is down,
    // like the api). The schedule is not needed here.
    refresher::follow(
        refresher::ContentTarget(state.clone()),
        state.jobs(),
        config.schedule_refresh,
        shutdown.clone(),
    )
    .await;
    // Draining: /readyz turns 503 so the Service stops routing new sockets here while open ones close.
    tokio::spawn({
        let (state, shutdown) = (state.clone(), shutdown.clone());
        async move {
            shutdown.cancelled().await;
            state.start_draining();
        }
    });
    let live = LiveServer::build(state.clone(), listener, shutdown).await?;
    warn_compatibility(config);
    tracing::info!(
        database = %config.database_url.redacted(),
        cache = state.cache.kind(),
        "plaza {} live server on {}:{}{}/",
        env!("CARGO_PKG_VERSION"),
        addr.ip(),
        live.port().unwrap_or(addr.port()),
        config.socket_path,
    );
    live.run().await;
    state.db.close().await;
    Ok(())
}

/// Logs what a deconf client elsewhere would trip over (see `Config::compatibility_warnings`).
fn warn_compatibility(config: &plaza_core::Config) {
    for warning in config.compatibility_warnings() {
        tracing::warn!("{warning}");
    }
}

/// Serves the HTTP API (and with `with_live`, the live server: on `LIVE_ADDR` if set, else on the API's own port,
/// forwarding other paths to the API on an internal port) until `shutdown`, then drains: `/readyz` turns 503,
/// in-flight requests get `SHUTDOWN_GRACE_SECONDS` to finish, connections close.
async fn serve_api(
    state: AppState,
    shutdown: CancellationToken,
    with_live: bool,
) -> anyhow::Result<()> {
    state.config.require_jwt_secret()?;
    state.health();
    // In the background: a database that is still down must not delay serving (requests check admins anyway).
    tokio::spawn({
        let state = state.clone();
        async move { state.revoke_removed_admins().await }
    });
    tokio::spawn(state.access.clone().follow());
    tokio::spawn(state.my_schedules.clone().follow());
    refresher::start(&state, shutdown.clone()).await;
    crate::digest::start(&state, shutdown.clone());
    let config = &state.config;
    let Servers {
        api: app,
        live,
        public_port: port,
    } = Servers::build(&state, &shutdown, with_live).await?;
    let handle = app.handle();
    let host = match config.listen_addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        ip => ip.to_string(),
    };
    tracing::info!(
        database = %config.database_url.redacted(),
        cache = state.cache.kind(),
        "plaza {} listening on http://{host}:{port}{}/",
        env!("CARGO_PKG_VERSION"),
        config.api_base_path,
    );
    warn_compatibility(config);
    if let Some(live) = &live {
        tracing::info!(
            "socket.io on http://{host}:{}{}/",
            live.port().unwrap_or(port),
            config.socket_path
        );
    }
    // A live server on its own listener stops beside the API. One inside the API's listener closes its sockets
    // before the API stops: they run on the API's workers, which end with it.
    let (beside, inside) = match live {
        Some(live) if live.port().is_some() => (Some(tokio::spawn(live.run())), None),
        live => (None, live),
    };
    let drain = {
        let (state, shutdown) = (state.clone(), shutdown.clone());
        tokio::spawn(async move {
            shutdown.cancelled().await;
            state.start_draining();
            if let Some(live) = inside {
                live.run().await;
            }
            handle.stop(true).await;
        })
    };
    let served = app.run_until_stopped().await;
    if let Some(live) = beside {
        let _ = live.await;
    }
    if shutdown.is_cancelled() {
        // The sockets inside the API closed before it stopped.
        let _ = drain.await;
    } else {
        drain.abort();
    }
    state.db.close().await;
    tracing::info!("stopped");
    served.map_err(Into::into)
}

/// Prints the one-line summary of a schedule import.
fn print_summary(summary: &ImportSummary) {
    let c = summary.counts;
    let outcome = match (summary.created, summary.published) {
        (true, _) => "new version, published",
        (false, true) => "published",
        (false, false) => "unchanged",
    };
    println!(
        "schedule version {}: {outcome} — {} sessions, {} speakers, {} slots, {} breaks, {} lint issues ({} blocking)",
        summary.version,
        c.sessions,
        c.speakers,
        c.slots,
        c.breaks,
        c.issues,
        summary.blocking_issues
    );
}

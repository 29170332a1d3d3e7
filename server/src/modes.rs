//! What each `--mode` runs. Long-running modes share one shutdown token; one-shot modes return an exit status.

use plaza_core::Config;
use plaza_core::config::DatabaseKind;
use tokio_util::sync::CancellationToken;

use crate::cli::Mode;
use crate::startup::Application;
use crate::state::AppState;

/// A mode that exists on the command line but is not built yet.
#[derive(Debug, thiserror::Error)]
#[error("mode `{0}` is not implemented yet")]
pub struct NotImplemented(pub String);

/// Runs `mode` to completion (for servers: until `shutdown` is cancelled).
pub async fn run(mode: Mode, config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    match mode {
        Mode::Migrate => migrate(&config).await,
        Mode::Api => serve_api(AppState::connect(config).await?, shutdown).await,
        Mode::All => {
            let state = AppState::connect(config).await?;
            if state.db.kind() == DatabaseKind::Sqlite {
                // The embedded tier migrates itself; the large tiers run `--mode migrate` as a Job first.
                state
                    .db
                    .migrate()
                    .await
                    .map_err(|e| anyhow::anyhow!("database migration failed: {e}"))?;
            }
            tracing::warn!(
                "`all` runs the HTTP API only for now: the live server and the scheduler are not built yet"
            );
            serve_api(state, shutdown).await
        }
        other => Err(NotImplemented(other.name()).into()),
    }
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

/// Serves the HTTP API until `shutdown`, then drains: `/readyz` turns 503, in-flight requests get
/// `SHUTDOWN_GRACE_SECONDS` to finish, connections close.
async fn serve_api(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let app = Application::build(state.clone())?;
    let handle = app.handle();
    let config = &state.config;
    let host = match config.listen_addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
        ip => ip.to_string(),
    };
    tracing::info!(
        database = %config.database_url.redacted(),
        cache = state.cache.kind(),
        "plaza {} listening on http://{host}:{}{}/",
        env!("CARGO_PKG_VERSION"),
        app.port(),
        config.api_base_path,
    );
    let drain = {
        let state = state.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            state.start_draining();
            handle.stop(true).await;
        })
    };
    let served = app.run_until_stopped().await;
    drain.abort();
    state.db.close().await;
    tracing::info!("stopped");
    served.map_err(Into::into)
}

//! The one application state handed to every handler: configuration and storage handles.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use plaza_core::{Cache, Config, Db};

/// Shared state of the HTTP API. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Process configuration.
    pub config: Config,
    /// Cache and broker.
    pub cache: Cache,
    /// Database pool.
    pub db: Db,
    draining: Arc<AtomicBool>,
}

impl AppState {
    /// Opens the cache and the database named by `config` (lazily for Redis and Postgres).
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
        Ok(Self::new(config, cache, db))
    }

    /// State from existing handles (tests build their own).
    pub fn new(config: Config, cache: Cache, db: Db) -> Self {
        Self {
            config,
            cache,
            db,
            draining: Arc::new(AtomicBool::new(false)),
        }
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

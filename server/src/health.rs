//! Dependency health, kept apart from readiness: a background monitor probes the cache and the database every
//! [`PROBE_EVERY`] (each probe bounded by `READINESS_TIMEOUT_MS`) and records what it saw in
//! `plaza_dependency_up{dep="cache"|"database"}` and in the `/healthz` detail. Nothing here decides readiness: a
//! dependency outage degrades some routes (see the README's outage table) but never takes a pod out of its Service.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use plaza_core::{Cache, Db};
use serde::Serialize;

/// How often the monitor probes each dependency.
pub const PROBE_EVERY: Duration = Duration::from_secs(2);

/// What the last probe of one dependency found.
#[derive(Debug, Clone, Serialize)]
pub struct DependencyState {
    /// `redis`, `memory`, `postgres`, `sqlite`.
    pub kind: String,
    /// `None` until the first probe.
    pub up: Option<bool>,
    /// The last failure, while down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When `up` last changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

impl DependencyState {
    fn new(kind: String) -> Self {
        Self {
            kind,
            up: None,
            error: None,
            since: None,
        }
    }

    fn record(&mut self, dep: &'static str, outcome: Result<(), String>) {
        let up = outcome.is_ok();
        if self.up != Some(up) {
            self.since = Some(Utc::now());
            match &outcome {
                Ok(()) if self.up.is_some() => tracing::info!(dep, "dependency is back"),
                Ok(()) => {}
                Err(err) => tracing::warn!(dep, %err, "dependency is down"),
            }
        }
        self.up = Some(up);
        self.error = outcome.err();
        metrics::gauge!("plaza_dependency_up", "dep" => dep).set(if up { 1.0 } else { 0.0 });
    }
}

/// The dependencies' state as last probed.
#[derive(Debug, Clone, Serialize)]
pub struct Dependencies {
    /// The cache (Redis or memory).
    pub cache: DependencyState,
    /// The database (Postgres or SQLite).
    pub database: DependencyState,
}

/// The monitor's shared state. Cheap to clone; the probing task ends when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct Health(Arc<Mutex<Dependencies>>);

impl Health {
    /// Starts probing `cache` and `db` every [`PROBE_EVERY`] (first probe at once), each probe within `timeout`.
    /// Must be called inside a tokio runtime.
    pub fn start(cache: Cache, db: Db, timeout: Duration) -> Self {
        let state = Arc::new(Mutex::new(Dependencies {
            cache: DependencyState::new(cache.kind().to_owned()),
            database: DependencyState::new(format!("{:?}", db.kind()).to_lowercase()),
        }));
        tokio::spawn(monitor(Arc::downgrade(&state), cache, db, timeout));
        Self(state)
    }

    /// The dependencies as last probed.
    pub fn snapshot(&self) -> Dependencies {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn monitor(state: Weak<Mutex<Dependencies>>, cache: Cache, db: Db, timeout: Duration) {
    let mut ticker = tokio::time::interval(PROBE_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let (cache_up, db_up) =
            tokio::join!(check(timeout, cache.ping()), check(timeout, db.ping()));
        let Some(state) = state.upgrade() else {
            return;
        };
        let mut deps = state.lock().unwrap_or_else(PoisonError::into_inner);
        deps.cache.record("cache", cache_up);
        deps.database.record("database", db_up);
    }
}

/// Runs one dependency check within `timeout`.
async fn check<E: std::fmt::Display>(
    timeout: Duration,
    probe: impl Future<Output = Result<(), E>>,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

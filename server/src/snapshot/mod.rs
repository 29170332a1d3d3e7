//! The api pods' in-memory schedule: the published version pre-serialised and pre-compressed once, swapped
//! atomically (`arc-swap`) when a new version is announced. Hot reads never touch Redis or the database.
//!
//! [`refresher`] keeps it current: the cache notice triggers a reload; a slow timer re-checks the cache (and
//! rebuilds it from Postgres when it was flushed), so a missed notice only delays an update.

mod body;
pub mod refresher;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use plaza_core::model::schedule::{Schedule, Session};
use plaza_jobs::schedule::Published;

pub use self::body::Representation;

/// One published schedule, ready to serve.
#[derive(Debug)]
pub struct Snapshot {
    /// `schedule_versions.id` (0: nothing published yet).
    pub version: i64,
    /// The full schedule, links included (for `/links`, lint, attendance).
    pub schedule: Schedule,
    /// `GET /schedule`.
    pub schedule_body: Representation,
    /// `GET /schedule/whats-on`.
    pub whats_on_body: Representation,
    sessions: HashMap<String, usize>,
    slots: HashMap<String, (DateTime<Utc>, DateTime<Utc>)>,
}

impl Snapshot {
    /// Builds the representations of `published` with the site `settings`.
    pub fn build(
        version: i64,
        schedule: Schedule,
        settings: &serde_json::Value,
    ) -> anyhow::Result<Self> {
        let schedule_body = body::schedule(&schedule, settings)?;
        let whats_on_body = body::whats_on(&schedule)?;
        let sessions = schedule
            .sessions
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.clone(), i))
            .collect();
        let slots = schedule
            .slots
            .iter()
            .map(|s| (s.id.clone(), (s.start, s.end)))
            .collect();
        Ok(Self {
            version,
            schedule,
            schedule_body,
            whats_on_body,
            sessions,
            slots,
        })
    }

    /// The session with `id`, any state.
    pub fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id).map(|&i| &self.schedule.sessions[i])
    }

    /// Start and end of the slot with `id`.
    pub fn slot_times(&self, id: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        self.slots.get(id).copied()
    }
}

/// The current snapshot of this process. Cheap to clone; reads are lock-free.
#[derive(Clone, Debug)]
pub struct ScheduleStore {
    current: Arc<ArcSwap<Snapshot>>,
    settings: Arc<serde_json::Value>,
}

impl ScheduleStore {
    /// A store serving an empty schedule (version 0) until the first version is installed.
    pub fn new(settings: serde_json::Value) -> anyhow::Result<Self> {
        let empty = Snapshot::build(0, Schedule::default(), &settings)?;
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(empty)),
            settings: Arc::new(settings),
        })
    }

    /// The snapshot being served.
    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Serves `published` from now on (no-op when that version is already served). Returns true when swapped.
    pub fn install(&self, published: Published) -> anyhow::Result<bool> {
        if self.current.load().version == published.version {
            return Ok(false);
        }
        let snapshot = Snapshot::build(published.version, published.schedule, &self.settings)?;
        let size = snapshot.schedule_body.identity_len();
        self.current.store(Arc::new(snapshot));
        metrics::gauge!("plaza_schedule_served_version").set(published.version as f64);
        tracing::info!(
            version = published.version,
            bytes = size,
            "serving schedule version"
        );
        Ok(true)
    }
}

//! The api pods' in-memory schedule and content: each published version pre-serialised and pre-compressed once,
//! swapped atomically (`arc-swap`) when a new version is announced. Hot reads never touch Redis or the database.
//! The schedule snapshot carries the content's site settings, so new settings rebuild it.
//!
//! [`refresher`] keeps it current: the cache notice triggers a reload; a slow timer re-checks the cache (and
//! rebuilds it from Postgres when it was flushed), so a missed notice only delays an update.

mod body;
mod content;
pub mod refresher;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::web::Bytes;
use arc_swap::ArcSwap;
use chrono::{DateTime, Utc};
use plaza_core::content::Settings;
use plaza_core::model::schedule::{Schedule, Session};
use plaza_jobs::schedule::Published;

pub use self::body::Representation;
pub use self::content::{ContentSnapshot, ContentStore};

/// One published schedule with the site settings, ready to serve.
#[derive(Debug)]
pub struct Snapshot {
    /// `schedule_versions.id` (0: nothing published yet).
    pub version: i64,
    /// The full schedule, links included (for `/links`, lint, attendance), with the settings' capacity overrides.
    pub schedule: Schedule,
    /// The site settings served inside `/schedule`.
    pub settings: Arc<Settings>,
    /// `GET /schedule`.
    pub schedule_body: Representation,
    /// `GET /schedule/whats-on`.
    pub whats_on_body: Representation,
    /// Share pages rendered so far (public variant only), by session id; dropped with the snapshot.
    pub share_pages: Mutex<HashMap<String, Bytes>>,
    sessions: HashMap<String, usize>,
    slots: HashMap<String, (DateTime<Utc>, DateTime<Utc>)>,
}

impl Snapshot {
    /// Builds the representations of `schedule` with the site `settings` (whose `participantCaps` override the
    /// sessions' caps).
    pub fn build(
        version: i64,
        mut schedule: Schedule,
        settings: Arc<Settings>,
    ) -> anyhow::Result<Self> {
        for session in &mut schedule.sessions {
            if let Some(cap) = settings.participant_caps.get(&session.id) {
                session.participant_cap = *cap;
            }
        }
        let schedule_body = body::schedule(&schedule, &settings)?;
        let whats_on_body = body::whats_on(&schedule)?;
        // Only listed sessions can be found by id, so every route resolves ids against the public set.
        let sessions = schedule
            .sessions
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_listed())
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
            settings,
            schedule_body,
            whats_on_body,
            share_pages: Mutex::default(),
            sessions,
            slots,
        })
    }

    /// The public session with `id` (one that `/schedule` lists); `None` for an unknown id and for a session that
    /// is not public alike, so no route can tell them apart.
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
    /// The published schedule before settings are applied, kept to rebuild when only the settings change.
    schedule: Arc<ArcSwap<Schedule>>,
    settings: Arc<ArcSwap<Settings>>,
    /// Serialises rebuilds, so a new schedule and new settings arriving together cannot undo each other.
    writer: Arc<Mutex<()>>,
    /// True once the published version is served (or the database said none is published): the API is ready.
    loaded: Arc<AtomicBool>,
}

impl ScheduleStore {
    /// A store serving an empty schedule (version 0) until the first version is installed.
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        let empty = Snapshot::build(0, Schedule::default(), settings.clone())?;
        Ok(Self {
            current: Arc::new(ArcSwap::from_pointee(empty)),
            schedule: Arc::new(ArcSwap::from_pointee(Schedule::default())),
            settings: Arc::new(ArcSwap::new(settings)),
            writer: Arc::default(),
            loaded: Arc::default(),
        })
    }

    /// True once the start-up load is done: the published version is served, or none was ever published.
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::SeqCst)
    }

    /// Records that the start-up load is done (see [`ScheduleStore::is_loaded`]).
    pub fn mark_loaded(&self) {
        self.loaded.store(true, Ordering::SeqCst);
    }

    /// The snapshot being served.
    pub fn current(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Serves `published` from now on (no-op when that version is already served). Returns true when swapped.
    pub fn install(&self, published: Published) -> anyhow::Result<bool> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        if self.current.load().version == published.version {
            return Ok(false);
        }
        let snapshot = Snapshot::build(
            published.version,
            published.data.clone(),
            self.settings.load_full(),
        )?;
        let size = snapshot.schedule_body.identity_len();
        self.current.store(Arc::new(snapshot));
        self.schedule.store(Arc::new(published.data));
        metrics::gauge!("plaza_schedule_served_version").set(published.version as f64);
        tracing::info!(
            version = published.version,
            bytes = size,
            "serving schedule version"
        );
        Ok(true)
    }

    /// Serves the current schedule with new site settings.
    pub fn set_settings(&self, settings: Settings) -> anyhow::Result<()> {
        let _writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let settings = Arc::new(settings);
        let version = self.current.load().version;
        let schedule = Schedule::clone(&self.schedule.load());
        let snapshot = Snapshot::build(version, schedule, settings.clone())?;
        self.settings.store(settings);
        self.current.store(Arc::new(snapshot));
        Ok(())
    }
}

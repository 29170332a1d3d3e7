//! The in-process view of access state (issue #19): attendee id → the [`AccessRecord`] the check needs, so an
//! authenticated request does not read the database.
//!
//! Kept correct by notices: every writer that can lose or change an attendee's access (token-version bumps, the
//! check's own revoke, deletion, a lost ticket, verification, profile changes) calls [`AccessView::changed`] (or
//! [`publish`] from a process without a view, such as the jobs). That drops the entry here at once and publishes the
//! attendee id (or [`ALL`]) on [`ACCESS_CHANNEL`]; every process running [`AccessView::follow`] drops it too, and a
//! `Resync` (pub/sub reconnect) clears everything. Entries also expire after a short TTL (`AUTH_CACHE_TTL_MS`), so a
//! lost notice (Redis away) delays a revocation by at most that long. The view holds at most
//! `AUTH_CACHE_MAX_ENTRIES` entries; past that, new attendees are read from the database without being kept.
//!
//! A load that races an invalidation cannot re-insert what it read before it: [`AccessView::insert`] takes the
//! invalidation epoch seen before the read and drops its own entry if the epoch moved meanwhile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::AccessRecord;
use crate::cache::{Cache, Notice};

/// The cache channel carrying access invalidations: an attendee id, or [`ALL`].
pub const ACCESS_CHANNEL: &str = "notify.access";

/// The payload on [`ACCESS_CHANNEL`] dropping every entry (bulk changes).
pub const ALL: &str = "all";

/// Above this many attendees, [`publish_many`] sends one [`ALL`] instead of one notice each.
const MANY: usize = 64;

/// Shards of the map, so concurrent requests rarely wait on one lock.
const SHARDS: usize = 16;

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Changed {
    /// The state of one attendee.
    One(i32),
    /// Possibly anyone's.
    All,
}

impl Changed {
    fn payload(self) -> String {
        match self {
            Self::One(id) => id.to_string(),
            Self::All => ALL.to_owned(),
        }
    }

    fn parse(payload: &str) -> Option<Self> {
        if payload == ALL {
            return Some(Self::All);
        }
        payload.parse().ok().map(Self::One)
    }
}

/// Tells every process that `changed` (best effort: a failure is logged, and the TTL bounds what it delays).
pub async fn publish(cache: &Cache, changed: Changed) {
    if let Err(err) = cache.publish(ACCESS_CHANNEL, &changed.payload()).await {
        tracing::warn!(%err, "cannot publish an access invalidation; caches expire it within AUTH_CACHE_TTL_MS");
    }
}

/// [`publish`] for several attendees: one notice each, or one [`ALL`] when there are many.
pub async fn publish_many(cache: &Cache, ids: &[i32]) {
    if ids.len() > MANY {
        publish(cache, Changed::All).await;
        return;
    }
    for id in ids {
        publish(cache, Changed::One(*id)).await;
    }
}

struct Entry {
    record: Arc<AccessRecord>,
    expires: Instant,
}

#[derive(Default)]
struct Shard {
    map: HashMap<i32, Entry>,
    /// When this shard last dropped its expired entries because it was full.
    swept: Option<Instant>,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    ttl: Duration,
    per_shard: usize,
    /// Bumped by every invalidation; see [`AccessView::insert`].
    epoch: AtomicU64,
}

impl Inner {
    fn shard(&self, id: i32) -> MutexGuard<'_, Shard> {
        let index = (id as u32 as usize) % self.shards.len();
        // A panic while holding the lock cannot leave a shard inconsistent (plain map operations): keep using it.
        self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The view of one process. Cheap to clone (shared). Disabled (every call a miss) when the TTL is zero.
#[derive(Clone)]
pub struct AccessView {
    inner: Option<Arc<Inner>>,
    cache: Cache,
}

impl std::fmt::Debug for AccessView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessView")
            .field("ttl", &self.inner.as_ref().map(|i| i.ttl))
            .field("entries", &self.len())
            .finish()
    }
}

impl AccessView {
    /// A view keeping entries for `ttl` (zero: none), at most about `max_entries`, publishing on `cache`.
    pub fn new(cache: Cache, ttl: Duration, max_entries: usize) -> Self {
        let inner = (!ttl.is_zero()).then(|| {
            Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                ttl,
                per_shard: max_entries.div_ceil(SHARDS).max(1),
                epoch: AtomicU64::new(0),
            })
        });
        Self { inner, cache }
    }

    /// True when entries are kept.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The unexpired record of attendee `id`.
    pub fn get(&self, id: i32) -> Option<Arc<AccessRecord>> {
        let inner = self.inner.as_ref()?;
        let mut shard = inner.shard(id);
        let entry = shard.map.get(&id)?;
        if entry.expires > Instant::now() {
            return Some(entry.record.clone());
        }
        shard.map.remove(&id);
        None
    }

    /// The invalidation epoch: read it before loading a record and hand it to [`AccessView::insert`].
    pub fn epoch(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |i| i.epoch.load(Ordering::SeqCst))
    }

    /// Keeps `record` for attendee `id` unless an invalidation happened since `epoch` (read before the load), or
    /// the view is full of unexpired entries.
    pub fn insert(&self, id: i32, record: Arc<AccessRecord>, epoch: u64) {
        let Some(inner) = self.inner.as_ref() else {
            return;
        };
        {
            let now = Instant::now();
            let mut shard = inner.shard(id);
            if shard.map.len() >= inner.per_shard && !shard.map.contains_key(&id) {
                // Full: drop what expired, at most once per TTL (a full shard of live entries must not make every
                // miss scan it); still full, the record is not kept.
                if shard.swept.is_none_or(|at| now - at >= inner.ttl) {
                    shard.swept = Some(now);
                    shard.map.retain(|_, e| e.expires > now);
                }
                if shard.map.len() >= inner.per_shard {
                    return;
                }
            }
            shard.map.insert(
                id,
                Entry {
                    record,
                    expires: now + inner.ttl,
                },
            );
        }
        // An invalidation between the load and the insert above must not leave what the load read: either it ran
        // after the insert (and removed it) or it moved the epoch, which is checked after inserting.
        if inner.epoch.load(Ordering::SeqCst) != epoch {
            inner.shard(id).map.remove(&id);
        }
    }

    /// Drops attendee `id` (or everything) here, without telling other processes.
    pub fn forget(&self, changed: Changed) {
        let Some(inner) = self.inner.as_ref() else {
            return;
        };
        inner.epoch.fetch_add(1, Ordering::SeqCst);
        match changed {
            Changed::One(id) => {
                inner.shard(id).map.remove(&id);
            }
            Changed::All => {
                for shard in inner.shards.iter() {
                    shard
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .map
                        .clear();
                }
            }
        }
    }

    /// A write changed access state: drops it here at once, then tells every other process.
    pub async fn changed(&self, changed: Changed) {
        self.forget(changed);
        publish(&self.cache, changed).await;
    }

    /// [`AccessView::changed`] for several attendees.
    pub async fn changed_many(&self, ids: &[i32]) {
        if ids.len() > MANY {
            self.forget(Changed::All);
        } else {
            for id in ids {
                self.forget(Changed::One(*id));
            }
        }
        publish_many(&self.cache, ids).await;
    }

    /// Entries held now (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |inner| {
            inner
                .shards
                .iter()
                .map(|s| {
                    s.lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .map
                        .len()
                })
                .sum()
        })
    }

    /// True when no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Applies the invalidations other processes publish, until the cache is dropped. Run it in the background in
    /// every serving process. Everything is dropped whenever notices may have been missed: on (re)subscribing and
    /// on `Resync`. While the broker is away, entries still expire after the TTL.
    pub async fn follow(self) {
        if !self.is_enabled() {
            return;
        }
        loop {
            let mut subscription = match self.cache.subscribe(ACCESS_CHANNEL).await {
                Ok(subscription) => subscription,
                Err(err) => {
                    tracing::debug!(%err, "cannot subscribe to access invalidations yet");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            self.forget(Changed::All);
            loop {
                match subscription.recv().await {
                    Some(Notice::Message(payload)) => match Changed::parse(&payload) {
                        Some(changed) => self.forget(changed),
                        None => {
                            tracing::warn!(%payload, "ignoring a malformed access invalidation");
                        }
                    },
                    Some(Notice::Resync) => self.forget(Changed::All),
                    None => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::MemoryCache;

    fn record(id: i32, ver: i32) -> Arc<AccessRecord> {
        Arc::new(crate::authz::test_record(
            id,
            &format!("a{id}@example.org"),
            ver,
            true,
        ))
    }

    fn view(ttl: Duration, max: usize) -> (AccessView, Cache) {
        let cache = Cache::Memory(MemoryCache::new("t:"));
        (AccessView::new(cache.clone(), ttl, max), cache)
    }

    #[test]
    fn a_kept_record_is_served_until_its_ttl() {
        let (view, _) = view(Duration::from_millis(80), 100);
        assert!(view.get(1).is_none(), "empty at first");
        view.insert(1, record(1, 3), view.epoch());
        assert_eq!(view.get(1).map(|r| r.attendee.token_version), Some(3));
        std::thread::sleep(Duration::from_millis(100));
        assert!(view.get(1).is_none(), "expired after the TTL");
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let (view, _) = view(Duration::ZERO, 100);
        view.insert(1, record(1, 3), view.epoch());
        assert!(view.get(1).is_none());
        assert!(!view.is_enabled());
    }

    #[test]
    fn forgetting_drops_one_or_all() {
        let (view, _) = view(Duration::from_secs(60), 100);
        for id in 1..=3 {
            view.insert(id, record(id, 1), view.epoch());
        }
        view.forget(Changed::One(2));
        assert!(view.get(2).is_none());
        assert!(view.get(1).is_some() && view.get(3).is_some());
        view.forget(Changed::All);
        assert!(view.is_empty());
    }

    #[test]
    fn a_load_that_raced_an_invalidation_is_not_kept() {
        let (view, _) = view(Duration::from_secs(60), 100);
        let before = view.epoch();
        view.forget(Changed::One(7)); // a writer invalidated while the record was being read
        view.insert(1, record(1, 1), before);
        assert!(view.get(1).is_none(), "read before the invalidation");
        view.insert(1, record(1, 1), view.epoch());
        assert!(view.get(1).is_some());
    }

    #[test]
    fn the_size_is_bounded() {
        let (view, _) = view(Duration::from_secs(60), 32);
        for id in 0..1_000 {
            view.insert(id, record(id, 1), view.epoch());
        }
        assert!(view.len() <= 32, "{} entries", view.len());
        assert!(
            view.get(0).is_some(),
            "early entries stay until they expire"
        );
    }

    #[test]
    fn a_full_view_takes_new_entries_once_old_ones_expired() {
        let (view, _) = view(Duration::from_millis(50), 16);
        for id in 0..16 {
            view.insert(id, record(id, 1), view.epoch());
        }
        std::thread::sleep(Duration::from_millis(70));
        view.insert(100, record(100, 1), view.epoch());
        assert!(view.get(100).is_some());
        assert!(view.len() <= 16);
    }

    #[test]
    fn notices_are_parsed_both_ways() {
        assert_eq!(
            Changed::parse(&Changed::One(42).payload()),
            Some(Changed::One(42))
        );
        assert_eq!(Changed::parse(&Changed::All.payload()), Some(Changed::All));
        assert_eq!(Changed::parse("nonsense"), None);
    }

    async fn eventually(what: &str, check: impl Fn() -> bool) {
        for _ in 0..200 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("{what}");
    }

    #[tokio::test]
    async fn notices_from_other_processes_drop_entries_and_resync_clears() {
        let (view, cache) = view(Duration::from_secs(60), 100);
        tokio::spawn(view.clone().follow());
        // Let `follow` subscribe (it clears everything when it does) before filling the view.
        tokio::time::sleep(Duration::from_millis(20)).await;
        for id in 1..=3 {
            view.insert(id, record(id, 1), view.epoch());
        }
        publish(&cache, Changed::One(2)).await;
        eventually("id 2 dropped", || view.get(2).is_none()).await;
        assert!(view.get(1).is_some(), "other ids stay");
        publish(&cache, Changed::All).await;
        eventually("all dropped", || view.is_empty()).await;

        // A receiver that lags behind (here: more notices than the channel holds, sent without yielding) gets a
        // `Resync`: notices about anyone may have been lost.
        view.insert(1, record(1, 1), view.epoch());
        for _ in 0..2_000 {
            publish(&cache, Changed::One(9_999)).await;
        }
        eventually("resync clears", || view.get(1).is_none()).await;
    }

    #[tokio::test]
    async fn changed_drops_the_local_entry_before_returning() {
        let (view, cache) = view(Duration::from_secs(60), 100);
        let mut sub = cache.subscribe(ACCESS_CHANNEL).await.expect("subscribes");
        view.insert(5, record(5, 1), view.epoch());
        view.changed(Changed::One(5)).await;
        assert!(
            view.get(5).is_none(),
            "synchronous for the writer's own process"
        );
        assert_eq!(sub.recv().await, Some(Notice::Message("5".into())));
    }
}

//! A process-local view of per-attendee state kept correct by notices (issue #19): attendee id → a value read from
//! the database, so a hot request path does not read it again. The access check keeps its [`AccessRecord`]s here
//! (`authz::view`), "My Schedule" its attendance list.
//!
//! Kept correct by notices: every writer that changes an attendee's state calls [`KeyedView::changed`] (or
//! [`publish`] from a process without a view, such as the jobs). That drops the entry here at once and publishes the
//! attendee id (or [`ALL`]) on the view's channel; every process running [`KeyedView::follow`] drops it too, and a
//! `Resync` (pub/sub reconnect) clears everything. Entries also expire a TTL after they were read, so a lost notice
//! (Redis away) delays a change by at most that long. The view holds values weighing at most its capacity (entries
//! for the access view, bytes for the attendance view); past that, new values are read without being kept.
//!
//! **Refresh ahead**: once an entry is half its TTL old, the one request that sees it first is told to reload it in
//! the background ([`KeyedView::lookup`], [`KeyedView::refresh`]) while every request keeps being served the kept
//! value, so a hot entry is never expired under its readers: no herd of concurrent misses on one attendee queues on
//! the database pool once a second (the p99 of issue #19). Staleness is unchanged: no value is served longer than the
//! TTL after it was read.
//!
//! A load that races an invalidation cannot re-insert what it read before it: [`KeyedView::insert`] takes the
//! invalidation epoch seen before the read and drops its own entry if the epoch moved meanwhile.
//!
//! [`AccessRecord`]: crate::authz::AccessRecord

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Cache, Notice};

/// The payload dropping every entry (bulk changes).
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

/// Tells every process following `channel` that `changed` (best effort: a failure is logged, and the TTL bounds
/// what it delays).
pub async fn publish(cache: &Cache, channel: &str, changed: Changed) {
    if let Err(err) = cache.publish(channel, &changed.payload()).await {
        tracing::warn!(%err, channel, "cannot publish an invalidation; kept copies expire within their TTL");
    }
}

/// [`publish`] for several attendees: one notice each, or one [`ALL`] when there are many.
pub async fn publish_many(cache: &Cache, channel: &str, ids: &[i32]) {
    if ids.len() > MANY {
        publish(cache, channel, Changed::All).await;
        return;
    }
    for id in ids {
        publish(cache, channel, Changed::One(*id)).await;
    }
}

struct Entry<V> {
    value: Arc<V>,
    weight: usize,
    /// Past this, the next reader is asked to refresh the entry (once).
    refresh_at: Instant,
    expires: Instant,
    refreshing: bool,
}

struct Shard<V> {
    map: HashMap<i32, Entry<V>>,
    /// Sum of the weights in `map`.
    weight: usize,
    /// When this shard last dropped its expired entries because it was full.
    swept: Option<Instant>,
}

impl<V> Default for Shard<V> {
    fn default() -> Self {
        Self {
            map: HashMap::new(),
            weight: 0,
            swept: None,
        }
    }
}

impl<V> Shard<V> {
    fn remove(&mut self, id: i32) {
        if let Some(entry) = self.map.remove(&id) {
            self.weight -= entry.weight;
        }
    }

    fn clear(&mut self) {
        self.map.clear();
        self.weight = 0;
    }

    fn drop_expired(&mut self, now: Instant) {
        self.map.retain(|_, e| e.expires > now);
        self.weight = self.map.values().map(|e| e.weight).sum();
    }
}

struct Inner<V> {
    shards: Box<[Mutex<Shard<V>>]>,
    ttl: Duration,
    /// Most weight one shard holds.
    per_shard: usize,
    weigh: fn(&V) -> usize,
    /// Bumped by every invalidation; see [`KeyedView::insert`].
    epoch: AtomicU64,
}

impl<V> Inner<V> {
    fn shard(&self, id: i32) -> MutexGuard<'_, Shard<V>> {
        let index = (id as u32 as usize) % self.shards.len();
        // A panic while holding the lock cannot leave a shard inconsistent (plain map operations): keep using it.
        self.shards[index]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A kept value, as [`KeyedView::lookup`] finds it.
#[derive(Debug)]
pub struct Hit<V> {
    /// The value.
    pub value: Arc<V>,
    /// True for the one reader asked to reload it in the background ([`KeyedView::refresh`]).
    pub refresh: bool,
}

/// The view of one process. Cheap to clone (shared). Disabled (every call a miss) when the TTL is zero.
pub struct KeyedView<V> {
    inner: Option<Arc<Inner<V>>>,
    cache: Cache,
    channel: &'static str,
}

impl<V> Clone for KeyedView<V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            cache: self.cache.clone(),
            channel: self.channel,
        }
    }
}

impl<V: Send + Sync + 'static> std::fmt::Debug for KeyedView<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyedView")
            .field("channel", &self.channel)
            .field("ttl", &self.inner.as_ref().map(|i| i.ttl))
            .field("entries", &self.len())
            .finish()
    }
}

impl<V: Send + Sync + 'static> KeyedView<V> {
    /// A view keeping values for `ttl` (zero: none), weighing at most about `capacity` by `weigh`, notified on
    /// `channel` of `cache`.
    pub fn new(
        cache: Cache,
        channel: &'static str,
        ttl: Duration,
        capacity: usize,
        weigh: fn(&V) -> usize,
    ) -> Self {
        let inner = (!ttl.is_zero()).then(|| {
            Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                ttl,
                per_shard: capacity.div_ceil(SHARDS).max(1),
                weigh,
                epoch: AtomicU64::new(0),
            })
        });
        Self {
            inner,
            cache,
            channel,
        }
    }

    /// True when values are kept.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// The unexpired value of attendee `id`.
    pub fn get(&self, id: i32) -> Option<Arc<V>> {
        self.find(id, false).map(|hit| hit.value)
    }

    /// The unexpired value of attendee `id`; its `refresh` is true for the first reader once it is half its TTL
    /// old — that reader should call [`KeyedView::refresh`].
    pub fn lookup(&self, id: i32) -> Option<Hit<V>> {
        self.find(id, true)
    }

    fn find(&self, id: i32, claim_refresh: bool) -> Option<Hit<V>> {
        let inner = self.inner.as_ref()?;
        let now = Instant::now();
        let mut shard = inner.shard(id);
        let entry = shard.map.get_mut(&id)?;
        if entry.expires <= now {
            shard.remove(id);
            return None;
        }
        let refresh = claim_refresh && !entry.refreshing && entry.refresh_at <= now;
        entry.refreshing |= refresh;
        Some(Hit {
            value: entry.value.clone(),
            refresh,
        })
    }

    /// Reloads attendee `id` in the background with `load` (after [`KeyedView::lookup`] asked for it): a value
    /// replaces the kept one (unless invalidated meanwhile), `None` (the attendee is gone) drops it, an error keeps
    /// it until it expires.
    pub fn refresh<F, E>(&self, id: i32, load: F)
    where
        F: Future<Output = Result<Option<V>, E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let view = self.clone();
        let epoch = self.epoch();
        tokio::spawn(async move {
            match load.await {
                Ok(Some(value)) => view.insert(id, Arc::new(value), epoch),
                Ok(None) => view.forget(Changed::One(id)),
                Err(err) => {
                    tracing::debug!(%err, id, "cannot refresh a kept value; it expires on time")
                }
            }
        });
    }

    /// The invalidation epoch: read it before loading a value and hand it to [`KeyedView::insert`].
    pub fn epoch(&self) -> u64 {
        self.inner
            .as_ref()
            .map_or(0, |i| i.epoch.load(Ordering::SeqCst))
    }

    /// Keeps `value` for attendee `id` unless an invalidation happened since `epoch` (read before the load), or
    /// the view is full of unexpired values.
    pub fn insert(&self, id: i32, value: Arc<V>, epoch: u64) {
        let Some(inner) = self.inner.as_ref() else {
            return;
        };
        let weight = (inner.weigh)(&value);
        {
            let now = Instant::now();
            let mut shard = inner.shard(id);
            shard.remove(id);
            if shard.weight + weight > inner.per_shard {
                // Full: drop what expired, at most once per TTL (a full shard of live entries must not make every
                // miss scan it); still full, the value is not kept.
                if shard.swept.is_none_or(|at| now - at >= inner.ttl) {
                    shard.swept = Some(now);
                    shard.drop_expired(now);
                }
                if shard.weight + weight > inner.per_shard {
                    return;
                }
            }
            shard.weight += weight;
            shard.map.insert(
                id,
                Entry {
                    value,
                    weight,
                    refresh_at: now + inner.ttl / 2,
                    expires: now + inner.ttl,
                    refreshing: false,
                },
            );
        }
        // An invalidation between the load and the insert above must not leave what the load read: either it ran
        // after the insert (and removed it) or it moved the epoch, which is checked after inserting.
        if inner.epoch.load(Ordering::SeqCst) != epoch {
            inner.shard(id).remove(id);
        }
    }

    /// Drops attendee `id` (or everything) here, without telling other processes.
    pub fn forget(&self, changed: Changed) {
        let Some(inner) = self.inner.as_ref() else {
            return;
        };
        inner.epoch.fetch_add(1, Ordering::SeqCst);
        match changed {
            Changed::One(id) => inner.shard(id).remove(id),
            Changed::All => {
                for shard in inner.shards.iter() {
                    shard
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clear();
                }
            }
        }
    }

    /// A write changed an attendee's state: drops it here at once, then tells every other process.
    pub async fn changed(&self, changed: Changed) {
        self.forget(changed);
        publish(&self.cache, self.channel, changed).await;
    }

    /// [`KeyedView::changed`] for several attendees.
    pub async fn changed_many(&self, ids: &[i32]) {
        if ids.len() > MANY {
            self.forget(Changed::All);
        } else {
            for id in ids {
                self.forget(Changed::One(*id));
            }
        }
        publish_many(&self.cache, self.channel, ids).await;
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
            let mut subscription = match self.cache.subscribe(self.channel).await {
                Ok(subscription) => subscription,
                Err(err) => {
                    tracing::debug!(%err, channel = self.channel, "cannot subscribe to invalidations yet");
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
                            tracing::warn!(%payload, channel = self.channel, "ignoring a malformed invalidation");
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

    const CHANNEL: &str = "notify.test";

    /// A value of weight `w` (its length).
    fn value(w: usize) -> Arc<Vec<u8>> {
        Arc::new(vec![0; w])
    }

    fn view(ttl: Duration, capacity: usize) -> (KeyedView<Vec<u8>>, Cache) {
        let cache = Cache::Memory(MemoryCache::new("t:"));
        let view = KeyedView::new(cache.clone(), CHANNEL, ttl, capacity, Vec::len);
        (view, cache)
    }

    #[test]
    fn a_kept_value_is_served_until_its_ttl() {
        let (view, _) = view(Duration::from_millis(80), 100);
        assert!(view.get(1).is_none(), "empty at first");
        view.insert(1, value(3), view.epoch());
        assert_eq!(view.get(1).map(|v| v.len()), Some(3));
        std::thread::sleep(Duration::from_millis(100));
        assert!(view.get(1).is_none(), "expired after the TTL");
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let (view, _) = view(Duration::ZERO, 100);
        view.insert(1, value(1), view.epoch());
        assert!(view.get(1).is_none());
        assert!(!view.is_enabled());
    }

    #[test]
    fn forgetting_drops_one_or_all() {
        let (view, _) = view(Duration::from_secs(60), 100);
        for id in 1..=3 {
            view.insert(id, value(1), view.epoch());
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
        view.forget(Changed::One(7)); // a writer invalidated while the value was being read
        view.insert(1, value(1), before);
        assert!(view.get(1).is_none(), "read before the invalidation");
        view.insert(1, value(1), view.epoch());
        assert!(view.get(1).is_some());
    }

    #[test]
    fn the_weight_is_bounded() {
        let (counted, _) = view(Duration::from_secs(60), 32);
        for id in 0..1_000 {
            counted.insert(id, value(1), counted.epoch());
        }
        assert!(counted.len() <= 32, "{} entries", counted.len());
        assert!(
            counted.get(0).is_some(),
            "early entries stay until they expire"
        );
        // Weighed in bytes: a value heavier than a shard's share is never kept.
        let (bytes, _) = view(Duration::from_secs(60), 16 * 100);
        bytes.insert(1, value(101), bytes.epoch());
        assert!(bytes.get(1).is_none(), "over the shard's budget");
        bytes.insert(1, value(60), bytes.epoch());
        bytes.insert(1, value(60), bytes.epoch());
        assert!(
            bytes.get(1).is_some(),
            "replacing a value frees its old weight"
        );
    }

    #[test]
    fn a_full_view_takes_new_entries_once_old_ones_expired() {
        let (view, _) = view(Duration::from_millis(50), 16);
        for id in 0..16 {
            view.insert(id, value(1), view.epoch());
        }
        std::thread::sleep(Duration::from_millis(70));
        view.insert(100, value(1), view.epoch());
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

    #[tokio::test]
    async fn past_half_its_ttl_one_reader_refreshes_and_everyone_is_served_meanwhile() {
        let (view, _) = view(Duration::from_millis(200), 100);
        view.insert(1, value(1), view.epoch());
        let young = view.lookup(1).expect("kept");
        assert!(!young.refresh, "young entries are not refreshed");
        tokio::time::sleep(Duration::from_millis(120)).await;
        let claims: Vec<bool> = (0..50)
            .map(|_| view.lookup(1).expect("still served").refresh)
            .collect();
        assert_eq!(
            claims.iter().filter(|c| **c).count(),
            1,
            "exactly one reader refreshes"
        );
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        view.refresh(1, async move {
            rx.await.ok();
            Ok::<_, std::convert::Infallible>(Some(vec![0; 2]))
        });
        assert_eq!(
            view.get(1).map(|v| v.len()),
            Some(1),
            "the old value is served while the load runs"
        );
        tx.send(()).expect("load waiting");
        let deadline = Instant::now() + Duration::from_secs(2);
        while view.get(1).map(|v| v.len()) != Some(2) {
            assert!(
                Instant::now() < deadline,
                "the refreshed value replaces the old one"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The refreshed entry lives a full TTL from its load: a stream of readers never sees a miss.
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(view.get(1).is_some(), "not expired: refreshed 120 ms ago");
    }

    #[tokio::test]
    async fn a_refresh_that_finds_the_attendee_gone_drops_it_and_one_that_fails_keeps_it() {
        let (view, _) = view(Duration::from_secs(60), 100);
        view.insert(1, value(1), view.epoch());
        view.insert(2, value(1), view.epoch());
        view.refresh(1, async { Ok::<_, std::convert::Infallible>(None) });
        view.refresh(2, async { Err::<Option<Vec<u8>>, _>("database away") });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(view.get(1).is_none(), "gone");
        assert!(view.get(2).is_some(), "kept until it expires");
    }

    #[tokio::test]
    async fn a_refresh_that_raced_an_invalidation_is_not_kept() {
        let (view, _) = view(Duration::from_secs(60), 100);
        view.insert(1, value(1), view.epoch());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        view.refresh(1, async move {
            rx.await.ok();
            Ok::<_, std::convert::Infallible>(Some(vec![0; 5]))
        });
        view.forget(Changed::One(1)); // a writer changed the attendee while the refresh was reading
        tx.send(()).expect("load waiting");
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(view.get(1).is_none(), "the refresh read before the change");
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
            view.insert(id, value(1), view.epoch());
        }
        publish(&cache, CHANNEL, Changed::One(2)).await;
        eventually("id 2 dropped", || view.get(2).is_none()).await;
        assert!(view.get(1).is_some(), "other ids stay");
        publish(&cache, "notify.other", Changed::One(1)).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            view.get(1).is_some(),
            "another view's channel changes nothing here"
        );
        publish(&cache, CHANNEL, Changed::All).await;
        eventually("all dropped", || view.is_empty()).await;

        // A receiver that lags behind (here: more notices than the channel holds, sent without yielding) gets a
        // `Resync`: notices about anyone may have been lost.
        view.insert(1, value(1), view.epoch());
        for _ in 0..2_000 {
            publish(&cache, CHANNEL, Changed::One(9_999)).await;
        }
        eventually("resync clears", || view.get(1).is_none()).await;
    }

    #[tokio::test]
    async fn changed_drops_the_local_entry_before_returning() {
        let (view, cache) = view(Duration::from_secs(60), 100);
        let mut sub = cache.subscribe(CHANNEL).await.expect("subscribes");
        view.insert(5, value(1), view.epoch());
        view.changed(Changed::One(5)).await;
        assert!(
            view.get(5).is_none(),
            "synchronous for the writer's own process"
        );
        assert_eq!(sub.recv().await, Some(Notice::Message("5".into())));
    }
}

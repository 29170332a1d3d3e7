//! In-process cache for the embedded tier: a map with lazy expiry plus an amortised sweep (so expired keys, such as
//! one rate-limit counter per address and minute, do not pile up) and a broadcast channel for notices.
//!
//! It mirrors the Redis semantics the contract suite checks (atomic multi-writes, NX locks, counters), but it is
//! per-process: two processes on memory caches do not see each other, which is why the large tiers need Redis.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::broadcast;

use super::{CacheError, RawNotice, Subscription};

#[derive(Debug)]
struct Entry {
    value: String,
    expires: Option<Instant>,
}

impl Entry {
    fn live(&self, now: Instant) -> bool {
        self.expires.is_none_or(|at| at > now)
    }
}

/// Fewest writes between two sweeps of expired keys.
const SWEEP_EVERY: usize = 1024;

/// One gauge: member → (value, expiry).
type Gauge = HashMap<String, (i64, Instant)>;

#[derive(Debug)]
struct Inner {
    map: Mutex<HashMap<String, Entry>>,
    /// Writes since the last sweep, and the number of keys it left: the next sweep comes after as many writes as
    /// it left keys (at least [`SWEEP_EVERY`]), so sweeping costs O(1) per write and the map holds at most about
    /// twice its live keys.
    writes: AtomicUsize,
    swept_to: AtomicUsize,
    /// Gauges: name → member → (value, expiry).
    gauges: Mutex<HashMap<String, Gauge>>,
    notices: broadcast::Sender<RawNotice>,
}

/// The in-memory cache. Clones share one map.
#[derive(Clone, Debug)]
pub struct MemoryCache {
    inner: Arc<Inner>,
    // Kept so keys look the same in both backends (and in debugging output).
    prefix: String,
}

impl MemoryCache {
    /// An empty cache whose keys carry `prefix`.
    pub fn new(prefix: &str) -> Self {
        let (notices, _) = broadcast::channel(1024);
        Self {
            inner: Arc::new(Inner {
                map: Mutex::new(HashMap::new()),
                writes: AtomicUsize::new(0),
                swept_to: AtomicUsize::new(0),
                gauges: Mutex::new(HashMap::new()),
                notices,
            }),
            prefix: prefix.to_owned(),
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock cannot leave the map half-written (every write is one insert/remove),
        // so a poisoned lock is safe to keep using.
        self.inner
            .map
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read(&self, map: &HashMap<String, Entry>, key: &str) -> Option<String> {
        map.get(&self.key(key))
            .filter(|e| e.live(Instant::now()))
            .map(|e| e.value.clone())
    }

    fn write(
        &self,
        map: &mut HashMap<String, Entry>,
        key: &str,
        value: String,
        ttl: Option<Duration>,
    ) {
        map.insert(
            self.key(key),
            Entry {
                value,
                expires: ttl.map(|t| Instant::now() + t),
            },
        );
        self.wrote(map);
    }

    /// Counts a write under the map's lock, sweeping expired keys when enough writes came since the last sweep.
    fn wrote(&self, map: &mut HashMap<String, Entry>) {
        let writes = self.inner.writes.fetch_add(1, Ordering::Relaxed) + 1;
        if writes < SWEEP_EVERY.max(self.inner.swept_to.load(Ordering::Relaxed)) {
            return;
        }
        let now = Instant::now();
        map.retain(|_, entry| entry.live(now));
        self.inner.writes.store(0, Ordering::Relaxed);
        self.inner.swept_to.store(map.len(), Ordering::Relaxed);
    }

    pub(super) async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        Ok(self.read(&self.map(), key))
    }

    pub(super) async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, CacheError> {
        let map = self.map();
        Ok(keys.iter().map(|k| self.read(&map, k)).collect())
    }

    pub(super) async fn set(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        self.write(&mut self.map(), key, value.to_owned(), ttl);
        Ok(())
    }

    pub(super) async fn set_many(
        &self,
        entries: &[(String, String)],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let mut map = self.map();
        for (key, value) in entries {
            self.write(&mut map, key, value.clone(), ttl);
        }
        Ok(())
    }

    pub(super) async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let now = Instant::now();
        Ok(self
            .map()
            .remove(&self.key(key))
            .is_some_and(|e| e.live(now)))
    }

    pub(super) async fn incr(
        &self,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError> {
        let mut map = self.map();
        let current = match self.read(&map, key) {
            None => 0,
            Some(raw) => raw
                .parse::<i64>()
                .map_err(|_| CacheError::Command(format!("value at {key} is not an integer")))?,
        };
        let next = current + delta;
        let expires = match ttl {
            Some(t) => Some(Instant::now() + t),
            // Like Redis INCRBY: an existing expiry is kept.
            None => map
                .get(&self.key(key))
                .filter(|e| e.live(Instant::now()))
                .and_then(|e| e.expires),
        };
        map.insert(
            self.key(key),
            Entry {
                value: next.to_string(),
                expires,
            },
        );
        self.wrote(&mut map);
        Ok(next)
    }

    pub(super) async fn publish(&self, channel: &str, payload: &str) -> Result<(), CacheError> {
        // No receiver is not an error: nobody is listening yet.
        let _ = self
            .inner
            .notices
            .send(Some((channel.to_owned(), payload.to_owned())));
        Ok(())
    }

    pub(super) async fn subscribe(&self, channel: &str) -> Result<Subscription, CacheError> {
        Ok(Subscription::new(channel, self.inner.notices.subscribe()))
    }

    pub(super) async fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let mut map = self.map();
        if self.read(&map, key).is_some() {
            return Ok(false);
        }
        self.write(&mut map, key, value.to_owned(), Some(ttl));
        Ok(true)
    }

    pub(super) async fn delete_if_equals(
        &self,
        key: &str,
        expected: &str,
    ) -> Result<bool, CacheError> {
        let mut map = self.map();
        if self.read(&map, key).as_deref() != Some(expected) {
            return Ok(false);
        }
        map.remove(&self.key(key));
        Ok(true)
    }

    pub(super) async fn expire_if_equals(
        &self,
        key: &str,
        expected: &str,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let mut map = self.map();
        if self.read(&map, key).as_deref() != Some(expected) {
            return Ok(false);
        }
        self.write(&mut map, key, expected.to_owned(), Some(ttl));
        Ok(true)
    }

    fn gauges(&self) -> MutexGuard<'_, HashMap<String, Gauge>> {
        // As for the map: every write is one insert/remove, so a poisoned lock is safe to keep using.
        self.inner
            .gauges
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) async fn gauge_set(
        &self,
        name: &str,
        member: &str,
        value: i64,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        self.gauges()
            .entry(name.to_owned())
            .or_default()
            .insert(member.to_owned(), (value, Instant::now() + ttl));
        Ok(())
    }

    pub(super) async fn gauge_remove(&self, name: &str, member: &str) -> Result<(), CacheError> {
        if let Some(gauge) = self.gauges().get_mut(name) {
            gauge.remove(member);
        }
        Ok(())
    }

    pub(super) async fn gauge_sum(&self, name: &str) -> Result<i64, CacheError> {
        let now = Instant::now();
        let mut gauges = self.gauges();
        let Some(gauge) = gauges.get_mut(name) else {
            return Ok(0);
        };
        gauge.retain(|_, (_, expires)| *expires > now);
        Ok(gauge.values().map(|(value, _)| value).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn expired_rate_limit_keys_do_not_pile_up() {
        let cache = MemoryCache::new("t:");
        // One counter per address and minute, as the login limits keep them: each expires, none is read again.
        for i in 0..50_000 {
            let key = format!("ratelimit/login-ip/10.0.{}.{}/{i}", i / 256 % 256, i % 256);
            cache
                .incr(&key, 1, Some(Duration::ZERO))
                .await
                .expect("incr");
        }
        let left = cache.map().len();
        assert!(left <= SWEEP_EVERY, "{left} expired keys kept");

        // Live keys are kept while expired ones go.
        for i in 0..3_000 {
            let key = format!("live/{i}");
            cache
                .set(&key, "1", Some(Duration::from_secs(60)))
                .await
                .expect("set");
            cache
                .incr(&format!("gone/{i}"), 1, Some(Duration::ZERO))
                .await
                .expect("incr");
        }
        let len = cache.map().len();
        assert!(
            (3_000..=3_000 + 2 * SWEEP_EVERY).contains(&len),
            "{len} keys"
        );
        assert_eq!(
            cache.get("live/0").await.expect("get").as_deref(),
            Some("1")
        );
    }
}

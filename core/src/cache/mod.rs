//! The cache and broker: Redis in the large tiers, memory in the embedded one.
//!
//! [`Cache`] offers exactly the operations the product needs (JSON values with TTLs, atomic multi-key writes,
//! snapshot multi-key reads, counters, expiring per-member gauges, pub/sub notices, expiring locks that only their holder can release) and
//! prefixes every key and channel with the configured prefix. Both implementations pass one contract suite
//! (`tests/tests/cache_contract.rs`). Nothing here knows about HTTP or sockets.

mod memory;
mod redis;
pub mod view;

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::memory::MemoryCache;
pub use self::redis::RedisCache;
use crate::config::Secret;

/// A cache failure.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Redis could not be reached or did not answer in time (503 at the edge).
    #[error("cache unavailable: {0}")]
    Unavailable(String),
    /// Redis answered with an error.
    #[error("cache command failed: {0}")]
    Command(String),
    /// A stored value is not the JSON the caller expected.
    #[error("cached value at {key} is not valid: {reason}")]
    Decode {
        /// The key, without prefix.
        key: String,
        /// The decoding error.
        reason: String,
    },
}

/// A held lock: only the holder of the token can release or extend it, and it expires on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// The lock's name (without prefix).
    pub name: String,
    /// The random token proving ownership.
    pub token: String,
}

/// What a [`Subscription`] yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A message published on the subscribed channel.
    Message(String),
    /// Messages may have been missed (broker reconnect, slow receiver): the subscriber should re-read its state.
    Resync,
}

/// Raw notice as fanned out inside a process: `(channel without prefix, payload)`, or `None` for a resync.
type RawNotice = Option<(String, String)>;

/// A subscription to one channel; survives broker reconnects.
#[derive(Debug)]
pub struct Subscription {
    channel: String,
    rx: tokio::sync::broadcast::Receiver<RawNotice>,
}

impl Subscription {
    fn new(channel: &str, rx: tokio::sync::broadcast::Receiver<RawNotice>) -> Self {
        Self {
            channel: channel.to_owned(),
            rx,
        }
    }

    /// Waits for the next notice on this channel. `None` when the cache was dropped.
    pub async fn recv(&mut self) -> Option<Notice> {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match self.rx.recv().await {
                Ok(Some((channel, payload))) if channel == self.channel => {
                    return Some(Notice::Message(payload));
                }
                Ok(Some(_)) => continue,
                Ok(None) | Err(RecvError::Lagged(_)) => return Some(Notice::Resync),
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

/// The cache of one process: cheap to clone (shared connections).
#[derive(Clone, Debug)]
pub enum Cache {
    /// Redis through a deadpool pool plus one pub/sub connection.
    Redis(RedisCache),
    /// In-process maps, for the embedded tier and single-process runs.
    Memory(MemoryCache),
}

/// Calls the same method on whichever implementation this cache is.
macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            Cache::Redis(c) => c.$method($($arg),*).await,
            Cache::Memory(c) => c.$method($($arg),*).await,
        }
    };
}

impl Cache {
    /// Redis when `redis_url` is set (connections are made lazily, so a down Redis does not stop start-up),
    /// memory otherwise. Fails only on an unusable URL.
    pub fn connect(redis_url: Option<&Secret>, prefix: &str) -> Result<Self, CacheError> {
        match redis_url {
            Some(url) => Ok(Self::Redis(RedisCache::new(url.expose(), prefix)?)),
            None => Ok(Self::Memory(MemoryCache::new(prefix))),
        }
    }

    /// `"redis"` or `"memory"`, for logs and `/readyz`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Redis(_) => "redis",
            Self::Memory(_) => "memory",
        }
    }

    /// Checks the cache answers.
    pub async fn ping(&self) -> Result<(), CacheError> {
        dispatch!(self.ping())
    }

    /// The string at `key`.
    pub async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        dispatch!(self.get(key))
    }

    /// Several keys read as one snapshot (Redis `MGET`): a concurrent [`Cache::set_many`] is seen whole or not at all.
    pub async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, CacheError> {
        dispatch!(self.get_many(keys))
    }

    /// Stores `value` at `key`, expiring after `ttl` if given.
    pub async fn set(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        dispatch!(self.set(key, value, ttl))
    }

    /// Stores every entry in one atomic step (Redis `MULTI`/`EXEC`): readers see all new values or none.
    pub async fn set_many(
        &self,
        entries: &[(String, String)],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        dispatch!(self.set_many(entries, ttl))
    }

    /// Deletes `key`; true when it existed.
    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        dispatch!(self.delete(key))
    }

    /// Adds `delta` to the integer at `key` (0 when absent) and returns the new value; `ttl` (re)sets its expiry.
    pub async fn incr(
        &self,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError> {
        dispatch!(self.incr(key, delta, ttl))
    }

    /// Publishes `payload` on `channel` to every subscribed process.
    pub async fn publish(&self, channel: &str, payload: &str) -> Result<(), CacheError> {
        dispatch!(self.publish(channel, payload))
    }

    /// Subscribes to `channel`. Returns once the subscription is active, so a later publish is received.
    pub async fn subscribe(&self, channel: &str) -> Result<Subscription, CacheError> {
        dispatch!(self.subscribe(channel))
    }

    /// Takes the lock `name` for `ttl` if nobody holds it (atomic `SET NX PX`). `None` when it is held.
    pub async fn try_lock(&self, name: &str, ttl: Duration) -> Result<Option<Lock>, CacheError> {
        let token = uuid::Uuid::new_v4().to_string();
        let taken = match self {
            Cache::Redis(c) => c.set_if_absent(name, &token, ttl).await?,
            Cache::Memory(c) => c.set_if_absent(name, &token, ttl).await?,
        };
        Ok(taken.then(|| Lock {
            name: name.to_owned(),
            token,
        }))
    }

    /// Releases `lock` if this holder still owns it; true when released.
    pub async fn release(&self, lock: &Lock) -> Result<bool, CacheError> {
        dispatch!(self.delete_if_equals(&lock.name, &lock.token))
    }

    /// Extends `lock` to expire `ttl` from now if this holder still owns it; true when extended.
    pub async fn extend(&self, lock: &Lock, ttl: Duration) -> Result<bool, CacheError> {
        dispatch!(self.expire_if_equals(&lock.name, &lock.token, ttl))
    }

    /// Sets `member`'s share of the gauge `name` to `value` for `ttl`: a member that stops refreshing its share
    /// (a crashed process) drops out of [`Cache::gauge_sum`] once `ttl` has passed. Expiry uses Redis's clock, so
    /// the processes' clocks need not agree.
    pub async fn gauge_set(
        &self,
        name: &str,
        member: &str,
        value: i64,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        dispatch!(self.gauge_set(name, member, value, ttl))
    }

    /// Removes `member`'s share of the gauge `name` (a process stopping cleanly).
    pub async fn gauge_remove(&self, name: &str, member: &str) -> Result<(), CacheError> {
        dispatch!(self.gauge_remove(name, member))
    }

    /// The sum of the unexpired shares of the gauge `name` (0 when it has none); expired shares are pruned.
    pub async fn gauge_sum(&self, name: &str) -> Result<i64, CacheError> {
        dispatch!(self.gauge_sum(name))
    }

    /// True when someone holds the lock `name` (an expired lock is not held).
    pub async fn is_locked(&self, name: &str) -> Result<bool, CacheError> {
        Ok(self.get(name).await?.is_some())
    }

    /// The JSON value at `key`, decoded.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        match self.get(key).await? {
            None => Ok(None),
            Some(raw) => serde_json::from_str(&raw)
                .map(Some)
                .map_err(|e| CacheError::Decode {
                    key: key.to_owned(),
                    reason: e.to_string(),
                }),
        }
    }

    /// Stores `value` as JSON at `key`.
    pub async fn set_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let raw = serde_json::to_string(value).map_err(|e| CacheError::Decode {
            key: key.to_owned(),
            reason: e.to_string(),
        })?;
        self.set(key, &raw, ttl).await
    }
}

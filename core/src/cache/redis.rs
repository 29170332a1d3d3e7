//! Redis implementation of the cache: a deadpool pool for commands, one pub/sub connection per process.
//!
//! Every command is bounded by a timeout, so a hung or unreachable Redis turns into [`CacheError::Unavailable`]
//! quickly instead of stalling requests. The pub/sub connection reconnects on its own with backoff and tells
//! subscribers to resync after a reconnect (messages sent while it was down are lost).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use deadpool_redis::{Pool, PoolConfig, Runtime, Timeouts};
use futures_util::StreamExt;
use tokio::sync::{broadcast, watch};

use super::{CacheError, RawNotice, Subscription};

/// Upper bound of one Redis round-trip, pool wait included.
const OP_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest pause between two reconnection attempts of the pub/sub connection: a restarted Redis is re-subscribed
/// (and subscribers told to resync) within about this long.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

const RELEASE_SCRIPT: &str = r"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";
const EXTEND_SCRIPT: &str = r"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

// Gauges: a hash `gauge/<name>` (member → value) and a sorted set `gauge/<name>/expiry` (member → expiry in ms of
// Redis's own clock). Both keys also expire as a whole, so a deployment that stopped leaves nothing behind.
const GAUGE_SET_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1";
const GAUGE_SUM_SCRIPT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, member in ipairs(expired) do redis.call('HDEL', KEYS[1], member) end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
local sum = 0
for _, v in ipairs(redis.call('HVALS', KEYS[1])) do sum = sum + tonumber(v) end
return sum";

/// The Redis cache. Clones share the pool and the pub/sub connection.
#[derive(Clone)]
pub struct RedisCache {
    pool: Pool,
    client: redis::Client,
    prefix: String,
    hub: Arc<tokio::sync::OnceCell<Hub>>,
}

impl std::fmt::Debug for RedisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCache")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// The process's pub/sub connection: a task fanning messages out to subscribers.
struct Hub {
    notices: broadcast::Sender<RawNotice>,
    connected: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn unavailable(err: impl std::fmt::Display) -> CacheError {
    CacheError::Unavailable(err.to_string())
}

fn command_error(err: redis::RedisError) -> CacheError {
    if err.is_io_error()
        || err.is_connection_dropped()
        || err.is_connection_refusal()
        || err.is_timeout()
    {
        unavailable(err)
    } else {
        CacheError::Command(err.to_string())
    }
}

impl RedisCache {
    /// A cache on `url` (connections are opened on first use). Fails only when the URL is unusable.
    pub fn new(url: &str, prefix: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url)
            .map_err(|e| CacheError::Command(format!("invalid REDIS_URL: {e}")))?;
        let mut config = deadpool_redis::Config::from_url(url);
        config.pool = Some(PoolConfig {
            max_size: 32,
            timeouts: Timeouts {
                wait: Some(OP_TIMEOUT),
                create: Some(OP_TIMEOUT),
                recycle: Some(OP_TIMEOUT),
            },
            ..PoolConfig::default()
        });
        let pool = config
            .create_pool(Some(Runtime::Tokio1))
            .map_err(|e| CacheError::Command(format!("invalid REDIS_URL: {e}")))?;
        Ok(Self {
            pool,
            client,
            prefix: prefix.to_owned(),
            hub: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    fn key(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key)
    }

    /// Runs `f` on a pooled connection within [`OP_TIMEOUT`].
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, CacheError>
    where
        F: FnOnce(deadpool_redis::Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let work = async {
            let conn = self.pool.get().await.map_err(unavailable)?;
            f(conn).await.map_err(command_error)
        };
        tokio::time::timeout(OP_TIMEOUT, work)
            .await
            .map_err(|_| unavailable("timed out"))?
    }

    async fn query<T: redis::FromRedisValue + Send>(
        &self,
        cmd: redis::Cmd,
    ) -> Result<T, CacheError> {
        self.run(|mut conn| async move { cmd.query_async::<T>(&mut conn).await })
            .await
    }

    pub(super) async fn ping(&self) -> Result<(), CacheError> {
        let pong: String = self.query(redis::cmd("PING")).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(CacheError::Command(format!("PING answered {pong}")))
        }
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<String>, CacheError> {
        self.query(redis::cmd("GET").arg(self.key(key)).to_owned())
            .await
    }

    pub(super) async fn get_many(&self, keys: &[&str]) -> Result<Vec<Option<String>>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("MGET");
        for key in keys {
            cmd.arg(self.key(key));
        }
        self.query(cmd).await
    }

    fn set_cmd(&self, key: &str, value: &str, ttl: Option<Duration>) -> redis::Cmd {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
        }
        cmd
    }

    pub(super) async fn set(
        &self,
        key: &str,
        value: &str,
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        self.query::<()>(self.set_cmd(key, value, ttl)).await
    }

    pub(super) async fn set_many(
        &self,
        entries: &[(String, String)],
        ttl: Option<Duration>,
    ) -> Result<(), CacheError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for (key, value) in entries {
            pipe.add_command(self.set_cmd(key, value, ttl)).ignore();
        }
        self.run(|mut conn| async move { pipe.query_async::<()>(&mut conn).await })
            .await
    }

    pub(super) async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let n: i64 = self
            .query(redis::cmd("DEL").arg(self.key(key)).to_owned())
            .await?;
        Ok(n > 0)
    }

    pub(super) async fn incr(
        &self,
        key: &str,
        delta: i64,
        ttl: Option<Duration>,
    ) -> Result<i64, CacheError> {
        let mut pipe = redis::pipe();
        pipe.atomic().cmd("INCRBY").arg(self.key(key)).arg(delta);
        if let Some(ttl) = ttl {
            pipe.cmd("PEXPIRE")
                .arg(self.key(key))
                .arg(ttl.as_millis().max(1) as u64)
                .ignore();
        }
        let (value,): (i64,) = self
            .run(|mut conn| async move { pipe.query_async(&mut conn).await })
            .await?;
        Ok(value)
    }

    pub(super) async fn publish(&self, channel: &str, payload: &str) -> Result<(), CacheError> {
        self.query::<i64>(
            redis::cmd("PUBLISH")
                .arg(self.key(channel))
                .arg(payload)
                .to_owned(),
        )
        .await
        .map(drop)
    }

    pub(super) async fn subscribe(&self, channel: &str) -> Result<Subscription, CacheError> {
        let hub = self.hub.get_or_init(|| async { self.start_hub() }).await;
        let rx = hub.notices.subscribe();
        let mut connected = hub.connected.clone();
        tokio::time::timeout(OP_TIMEOUT, connected.wait_for(|up| *up))
            .await
            .map_err(|_| unavailable("pub/sub connection not established"))?
            .map_err(unavailable)?;
        Ok(Subscription::new(channel, rx))
    }

    fn start_hub(&self) -> Hub {
        let (notices, _) = broadcast::channel(1024);
        let (connected_tx, connected) = watch::channel(false);
        let task = tokio::spawn(pubsub_loop(
            self.client.clone(),
            self.prefix.clone(),
            notices.clone(),
            connected_tx,
        ));
        Hub {
            notices,
            connected,
            task,
        }
    }

    pub(super) async fn set_if_absent(
        &self,
        key: &str,
        value: &str,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ttl.as_millis().max(1) as u64);
        let answer: Option<String> = self.query(cmd).await?;
        Ok(answer.is_some())
    }

    pub(super) async fn delete_if_equals(
        &self,
        key: &str,
        expected: &str,
    ) -> Result<bool, CacheError> {
        let script = redis::Script::new(RELEASE_SCRIPT);
        let key = self.key(key);
        let expected = expected.to_owned();
        let n: i64 =
            self.run(|mut conn| async move {
                script.key(key).arg(expected).invoke_async(&mut conn).await
            })
            .await?;
        Ok(n > 0)
    }

    pub(super) async fn expire_if_equals(
        &self,
        key: &str,
        expected: &str,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let script = redis::Script::new(EXTEND_SCRIPT);
        let key = self.key(key);
        let expected = expected.to_owned();
        let ms = ttl.as_millis().max(1) as u64;
        let n: i64 = self
            .run(|mut conn| async move {
                script
                    .key(key)
                    .arg(expected)
                    .arg(ms)
                    .invoke_async(&mut conn)
                    .await
            })
            .await?;
        Ok(n > 0)
    }
}

impl RedisCache {
    fn gauge_keys(&self, name: &str) -> (String, String) {
        let hash = self.key(&format!("gauge/{name}"));
        let expiry = format!("{hash}/expiry");
        (hash, expiry)
    }

    pub(super) async fn gauge_set(
        &self,
        name: &str,
        member: &str,
        value: i64,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let script = redis::Script::new(GAUGE_SET_SCRIPT);
        let (hash, expiry) = self.gauge_keys(name);
        let member = member.to_owned();
        let ms = ttl.as_millis().max(1) as u64;
        self.run(|mut conn| async move {
            script
                .key(hash)
                .key(expiry)
                .arg(member)
                .arg(value)
                .arg(ms)
                .invoke_async::<i64>(&mut conn)
                .await
        })
        .await
        .map(drop)
    }

    pub(super) async fn gauge_remove(&self, name: &str, member: &str) -> Result<(), CacheError> {
        let (hash, expiry) = self.gauge_keys(name);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("HDEL")
            .arg(hash)
            .arg(member)
            .ignore()
            .cmd("ZREM")
            .arg(expiry)
            .arg(member)
            .ignore();
        self.run(|mut conn| async move { pipe.query_async::<()>(&mut conn).await })
            .await
    }

    pub(super) async fn gauge_sum(&self, name: &str) -> Result<i64, CacheError> {
        let script = redis::Script::new(GAUGE_SUM_SCRIPT);
        let (hash, expiry) = self.gauge_keys(name);
        self.run(|mut conn| async move {
            script
                .key(hash)
                .key(expiry)
                .invoke_async::<i64>(&mut conn)
                .await
        })
        .await
    }
}

/// Escapes glob characters so the prefix is matched literally by `PSUBSCRIBE`.
fn glob_escape(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

/// Keeps one pub/sub connection subscribed to every channel under the prefix, reconnecting with backoff.
async fn pubsub_loop(
    client: redis::Client,
    prefix: String,
    notices: broadcast::Sender<RawNotice>,
    connected: watch::Sender<bool>,
) {
    let pattern = format!("{}*", glob_escape(&prefix));
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        match tokio::time::timeout(OP_TIMEOUT, client.get_async_pubsub()).await {
            Ok(Ok(mut pubsub)) => match pubsub.psubscribe(&pattern).await {
                Ok(()) => {
                    backoff = Duration::from_millis(100);
                    if !first {
                        tracing::info!("redis pub/sub reconnected");
                        let _ = notices.send(None);
                    }
                    first = false;
                    let _ = connected.send(true);
                    let mut stream = pubsub.on_message();
                    while let Some(msg) = stream.next().await {
                        let channel = msg.get_channel_name();
                        let Some(channel) = channel.strip_prefix(&prefix) else {
                            continue;
                        };
                        match msg.get_payload::<String>() {
                            Ok(payload) => {
                                let _ = notices.send(Some((channel.to_owned(), payload)));
                            }
                            Err(err) => {
                                tracing::warn!(%err, channel, "ignoring a non-text pub/sub message")
                            }
                        }
                    }
                    let _ = connected.send(false);
                    tracing::warn!("redis pub/sub connection lost; reconnecting");
                }
                Err(err) => tracing::warn!(%err, "redis psubscribe failed"),
            },
            Ok(Err(err)) => tracing::warn!(%err, "redis pub/sub connection failed"),
            Err(_) => tracing::warn!("redis pub/sub connection timed out"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

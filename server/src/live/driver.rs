//! The Redis pub/sub driver of the socket.io adapter, built on redis-rs's `ConnectionManager`, that keeps the
//! adapter in the cluster through any Redis outage:
//!
//! - **Subscriptions are owned here**, not by the connection: the adapter's channels are recorded when it
//!   subscribes, and a supervisor task (re)subscribes all of them whenever the connection is new — after a Redis
//!   restart, or when Redis first answers for a process started while it was down. `subscribe` therefore never
//!   fails: the socket.io namespace registers at once and sockets are served locally while Redis is away.
//! - **Disconnections are noticed without traffic**: the connection's `Disconnection` push wakes the supervisor,
//!   and a PING every [`HEARTBEAT`] catches a connection that died silently (a process that never publishes would
//!   otherwise stay unsubscribed, as `ConnectionManager` only reconnects on a failed command).
//! - **A publish never fails the broadcast**: while Redis is away (or a publish fails) the message is not sent to
//!   other processes — counted in `plaza_live_adapter_dropped_total` — and socketioxide still delivers it to this
//!   process's own sockets (it publishes first and would otherwise skip the local delivery).
//!
//! socketioxide-redis's own driver holds one multiplexed connection that never reconnects. RESP3 is required (push
//! messages on the command connection): `?protocol=resp3` is added to the URL when absent.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands as _, FromRedisValue as _, PushInfo, PushKind};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

/// How often a healthy connection is checked (a dead one is then replaced and re-subscribed).
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long the supervisor waits between two attempts while Redis is away.
const RETRY: Duration = Duration::from_millis(250);
/// Bound of one Redis command of the driver.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// A reconnecting Redis pub/sub driver. Clones share the connection and the subscriptions.
#[derive(Clone)]
pub struct ManagedDriver {
    shared: Arc<Shared>,
    conn: ConnectionManager,
}

/// What the push handler, the supervisor and the adapter share.
#[derive(Default)]
struct Shared {
    /// The adapter's channels and the streams their messages go to.
    handlers: RwLock<HashMap<String, mpsc::Sender<ChanItem>>>,
    /// True while every channel is subscribed on the current connection.
    subscribed: AtomicBool,
    /// A channel was added since the supervisor last subscribed.
    dirty: AtomicBool,
    /// Wakes the supervisor (a disconnection or a new channel).
    wake: Notify,
}

impl Shared {
    fn lost(&self) {
        if self.subscribed.swap(false, Ordering::SeqCst) {
            metrics::gauge!("plaza_dependency_up", "dep" => "adapter").set(0.0);
            tracing::warn!(
                "socket.io adapter lost Redis; serving this process's sockets only until it is back"
            );
        }
        self.wake.notify_one();
    }

    fn channels(&self) -> Vec<String> {
        self.handlers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}

/// A Redis error seen by the adapter.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct DriverError(#[from] redis::RedisError);

/// `url` with `protocol=resp3` (the adapter needs push messages).
pub fn resp3_url(url: &str) -> String {
    if url.contains("protocol=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&protocol=resp3")
    } else {
        format!("{url}?protocol=resp3")
    }
}

impl ManagedDriver {
    /// Connects lazily to `url` (a down Redis does not stop start-up) and starts the supervisor, which runs until
    /// `shutdown`.
    pub fn new(url: &str, shutdown: CancellationToken) -> Result<Self, DriverError> {
        let client = redis::Client::open(resp3_url(url))?;
        let shared: Arc<Shared> = Arc::default();
        let sink = shared.clone();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            // The supervisor retries; one quick attempt per reconnect keeps commands from waiting on backoff.
            .set_number_of_retries(1)
            .set_max_delay(RETRY)
            .set_push_sender(move |msg: PushInfo| {
                if msg.kind == PushKind::Disconnection {
                    sink.lost();
                } else {
                    route(msg, &sink.handlers);
                }
                Ok::<(), std::convert::Infallible>(())
            });
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        metrics::gauge!("plaza_dependency_up", "dep" => "adapter").set(0.0);
        let driver = Self { shared, conn };
        tokio::spawn(driver.clone().supervise(shutdown));
        Ok(driver)
    }

    /// Keeps every channel subscribed: subscribes them all whenever the connection is new or a channel was added,
    /// and checks a healthy connection every [`HEARTBEAT`].
    async fn supervise(self, shutdown: CancellationToken) {
        let shared = &self.shared;
        loop {
            let dirty = shared.dirty.swap(false, Ordering::SeqCst);
            if !shared.subscribed.load(Ordering::SeqCst) || dirty {
                let channels = self.shared.channels();
                match self
                    .command(self.conn.clone().subscribe(channels.clone()))
                    .await
                {
                    Ok(()) => {
                        if !shared.subscribed.swap(true, Ordering::SeqCst) {
                            metrics::gauge!("plaza_dependency_up", "dep" => "adapter").set(1.0);
                            tracing::info!(
                                channels = channels.len(),
                                "socket.io adapter subscribed; this process is part of the cluster"
                            );
                        }
                    }
                    Err(err) => {
                        tracing::debug!(%err, "socket.io adapter cannot subscribe yet");
                        shared.lost();
                    }
                }
            } else if let Err(err) = self
                .command(redis::cmd("PING").query_async::<()>(&mut self.conn.clone()))
                .await
            {
                tracing::debug!(%err, "socket.io adapter connection check failed");
                shared.lost();
            }
            let pause = if shared.subscribed.load(Ordering::SeqCst) {
                HEARTBEAT
            } else {
                RETRY
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = shared.wake.notified() => {}
                () = shutdown.cancelled() => return,
            }
        }
    }

    /// Runs one Redis command within [`COMMAND_TIMEOUT`].
    async fn command<T>(
        &self,
        work: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, DriverError> {
        match tokio::time::timeout(COMMAND_TIMEOUT, work).await {
            Ok(result) => Ok(result?),
            Err(_) => Err(DriverError(redis::RedisError::from((
                redis::ErrorKind::Io,
                "timed out",
            )))),
        }
    }
}

/// Hands a pub/sub message to the stream of its channel.
fn route(msg: PushInfo, handlers: &RwLock<HashMap<String, mpsc::Sender<ChanItem>>>) {
    if !matches!(msg.kind, PushKind::Message | PushKind::SMessage) || msg.data.len() < 2 {
        return;
    }
    let mut data = msg.data.into_iter();
    let (Some(channel), Some(payload)) = (data.next(), data.next()) else {
        return;
    };
    let (Ok(channel), Ok(payload)) = (
        String::from_redis_value(channel),
        Vec::<u8>::from_redis_value(payload),
    ) else {
        tracing::warn!("ignoring a malformed adapter message");
        return;
    };
    let handlers = handlers.read().unwrap_or_else(|p| p.into_inner());
    if let Some(tx) = handlers.get(&channel)
        && let Err(err) = tx.try_send((channel, payload))
    {
        tracing::warn!(%err, "socket.io adapter stream is full; message dropped");
    }
}

impl Driver for ManagedDriver {
    type Error = DriverError;

    /// Publishes to the other processes when the adapter is in the cluster; otherwise (or when Redis fails) the
    /// message is counted as dropped and `Ok` is returned, so socketioxide still delivers it locally.
    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        if !self.shared.subscribed.load(Ordering::SeqCst) {
            metrics::counter!("plaza_live_adapter_dropped_total").increment(1);
            return Ok(());
        }
        let sent = self
            .command(self.conn.clone().publish::<_, _, redis::Value>(chan, val))
            .await;
        if let Err(err) = sent {
            metrics::counter!("plaza_live_adapter_dropped_total").increment(1);
            tracing::warn!(%err, "socket.io adapter could not publish; delivered to this process only");
            self.shared.lost();
        }
        Ok(())
    }

    /// Records the channel and returns its stream at once; the supervisor subscribes it on Redis (now, or when
    /// Redis is back).
    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        self.shared
            .handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(chan, tx);
        self.shared.dirty.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.shared
            .handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&chan);
        if self.shared.subscribed.load(Ordering::SeqCst) {
            self.command(self.conn.clone().unsubscribe(chan)).await?;
        }
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let (_, count): (String, u16) = self
            .command(
                redis::cmd("PUBSUB")
                    .arg("NUMSUB")
                    .arg(chan)
                    .query_async(&mut self.conn.clone()),
            )
            .await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp3_is_added_once() {
        assert_eq!(resp3_url("redis://h:6379"), "redis://h:6379?protocol=resp3");
        assert_eq!(
            resp3_url("redis://h/0?x=1"),
            "redis://h/0?x=1&protocol=resp3"
        );
        assert_eq!(
            resp3_url("redis://h?protocol=resp3"),
            "redis://h?protocol=resp3"
        );
    }

    #[test]
    fn messages_reach_the_stream_of_their_channel_only() {
        let handlers = RwLock::new(HashMap::new());
        let (tx, mut rx) = mpsc::channel(4);
        handlers
            .write()
            .expect("lock")
            .insert("socket.io-request#/#".into(), tx);
        let message = |channel: &str| PushInfo {
            kind: PushKind::Message,
            data: vec![
                redis::Value::BulkString(channel.as_bytes().to_vec()),
                redis::Value::BulkString(b"payload".to_vec()),
            ],
        };
        route(message("other"), &handlers);
        route(message("socket.io-request#/#"), &handlers);
        let (channel, payload) = rx.try_recv().expect("routed");
        assert_eq!(channel, "socket.io-request#/#");
        assert_eq!(payload, b"payload");
        assert!(rx.try_recv().is_err());
    }
}

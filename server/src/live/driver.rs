//! The Redis pub/sub driver of the socket.io adapter, built on redis-rs's `ConnectionManager` so that it survives a
//! Redis restart: the manager reconnects with backoff and re-subscribes every channel, and the adapter's message
//! streams (kept here, not in the connection) carry on. socketioxide-redis's own driver holds one multiplexed
//! connection that never reconnects, which would leave a live process deaf to other pods after a Redis restart.
//!
//! RESP3 is required (push messages on the command connection): `?protocol=resp3` is added to the URL when absent.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands as _, FromRedisValue as _, PushInfo, PushKind};
use socketioxide_redis::drivers::{ChanItem, Driver, MessageStream};
use tokio::sync::mpsc;

type Handlers = Arc<RwLock<HashMap<String, mpsc::Sender<ChanItem>>>>;

/// A reconnecting Redis pub/sub driver. Clones share the connection and the subscriptions.
#[derive(Clone)]
pub struct ManagedDriver {
    handlers: Handlers,
    conn: ConnectionManager,
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
    /// Connects lazily to `url` (a down Redis does not stop start-up; commands fail until it is back).
    pub fn new(url: &str) -> Result<Self, DriverError> {
        let client = redis::Client::open(resp3_url(url))?;
        let handlers: Handlers = Arc::default();
        let sink = handlers.clone();
        let config = ConnectionManagerConfig::new()
            .set_automatic_resubscription()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_max_delay(Duration::from_secs(2))
            .set_push_sender(move |msg: PushInfo| {
                route(msg, &sink);
                Ok::<(), std::convert::Infallible>(())
            });
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self { handlers, conn })
    }
}

/// Hands a pub/sub message to the stream of its channel.
fn route(msg: PushInfo, handlers: &Handlers) {
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

    async fn publish(&self, chan: String, val: Vec<u8>) -> Result<(), Self::Error> {
        self.conn
            .clone()
            .publish::<_, _, redis::Value>(chan, val)
            .await?;
        Ok(())
    }

    async fn subscribe(
        &self,
        chan: String,
        size: usize,
    ) -> Result<MessageStream<ChanItem>, Self::Error> {
        let (tx, rx) = mpsc::channel(size);
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(chan.clone(), tx);
        if let Err(err) = self.conn.clone().subscribe(chan.as_str()).await {
            self.handlers
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&chan);
            return Err(err.into());
        }
        Ok(MessageStream::new(rx))
    }

    async fn unsubscribe(&self, chan: String) -> Result<(), Self::Error> {
        self.handlers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&chan);
        self.conn.clone().unsubscribe(chan).await?;
        Ok(())
    }

    async fn num_serv(&self, chan: &str) -> Result<u16, Self::Error> {
        let (_, count): (String, u16) = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(chan)
            .query_async(&mut self.conn.clone())
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
        let handlers: Handlers = Arc::default();
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

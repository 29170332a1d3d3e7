//! Web Push delivery of reminders (RFC 8030): each push is encrypted for its subscription (RFC 8291 `aes128gcm`,
//! web-push-native), signed for its push service (VAPID, RFC 8292: `core::push::VapidKey`) and POSTed with the
//! project's reqwest — no redirects, a 10 s timeout.
//!
//! A bounded queue: a tick hands at most [`QUEUE`] pushes (free slots) to background tasks, [`CONCURRENCY`] of which
//! send at once, and returns; a slow push service therefore never stalls a tick, and what does not fit stays in
//! `push_outbox` for the next one. Outcomes: 2xx delivered (row deleted); 404/410 the browser unsubscribed
//! (subscription deleted); 429, 5xx or no answer: retried a minute later, at most [`MAX_ATTEMPTS`] times and never
//! after the session started; any other status is logged and dropped.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use plaza_core::Db;
use plaza_core::config::PushConfig;
use plaza_core::queries::push::{self, Pending};
use reqwest::StatusCode;
use tokio::sync::Semaphore;

/// Pushes queued or in flight per process; more wait in `push_outbox`.
pub const QUEUE: usize = 1024;
/// Pushes sent at once.
pub const CONCURRENCY: usize = 16;
/// Deliveries tried per push before it is dropped.
pub const MAX_ATTEMPTS: i32 = 5;
/// How long a taken push is not taken again (covers its time in the queue); a crash mid-flight retries after it.
pub const LEASE_SECONDS: i64 = 120;
/// Delay before retrying a push the service refused for now (429, 5xx) or did not answer.
pub const RETRY_SECONDS: i64 = 60;
/// Longest wait for one push service answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The sender: settings, HTTP client and the queue's slots. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Pusher(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    config: PushConfig,
    client: reqwest::Client,
    slots: Arc<Semaphore>,
    senders: Semaphore,
}

/// What became of one push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The push service accepted it.
    Delivered,
    /// The subscription is gone (404/410) and was deleted.
    Gone,
    /// Retried later (429, 5xx, no answer).
    Retry,
    /// Refused for good (another status, a broken subscription).
    Refused,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Gone => "gone",
            Self::Retry => "retry",
            Self::Refused => "refused",
        }
    }
}

impl Pusher {
    /// A sender for `config`.
    pub fn new(config: PushConfig) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("plaza/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self(Arc::new(Inner {
            config,
            client,
            slots: Arc::new(Semaphore::new(QUEUE)),
            senders: Semaphore::new(CONCURRENCY),
        })))
    }

    /// Free queue slots.
    pub fn free(&self) -> usize {
        self.0.slots.available_permits()
    }

    /// Queues `pending` with its plaintext `payload`; the tick's clock `now` dates a retry. False when the queue
    /// is full (the push stays in the outbox and is taken again once its lease ends).
    pub fn enqueue(&self, db: &Db, pending: Pending, payload: Vec<u8>, now: DateTime<Utc>) -> bool {
        let Ok(slot) = self.0.slots.clone().try_acquire_owned() else {
            return false;
        };
        let (this, db) = (self.clone(), db.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let Ok(_sending) = this.0.senders.acquire().await else {
                return;
            };
            let outcome = this.deliver(&db, &pending, payload, now).await;
            metrics::counter!("plaza_push_total", "outcome" => outcome.label()).increment(1);
        });
        true
    }

    /// Waits up to `timeout` for the queue to empty (one-shot processes, tests). True when it did.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let all = u32::try_from(QUEUE).unwrap_or(u32::MAX);
        matches!(
            tokio::time::timeout(timeout, self.0.slots.acquire_many(all)).await,
            Ok(Ok(_))
        )
    }

    async fn deliver(&self, db: &Db, p: &Pending, payload: Vec<u8>, now: DateTime<Utc>) -> Outcome {
        let outcome = match self.send(p, payload, now).await {
            Ok(status) if status.is_success() => Outcome::Delivered,
            Ok(StatusCode::NOT_FOUND | StatusCode::GONE) => Outcome::Gone,
            Ok(status) if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() => {
                tracing::info!(%status, endpoint = %host_of(&p.endpoint), "push service busy; retrying next tick");
                Outcome::Retry
            }
            Ok(status) => {
                tracing::warn!(%status, endpoint = %host_of(&p.endpoint), "push refused");
                Outcome::Refused
            }
            Err(SendError::Network(err)) => {
                tracing::info!(%err, endpoint = %host_of(&p.endpoint), "push service unreachable; retrying next tick");
                Outcome::Retry
            }
            Err(SendError::Broken(reason)) => {
                tracing::warn!(reason, "push subscription unusable; dropping the push");
                Outcome::Refused
            }
        };
        let stored = match outcome {
            Outcome::Delivered | Outcome::Refused => push::done(db, p).await,
            Outcome::Gone => push::delete_subscription(db, p.subscription).await,
            Outcome::Retry => push::retry_at(db, p, now.timestamp() + RETRY_SECONDS).await,
        };
        if let Err(err) = stored {
            tracing::warn!(%err, "cannot record a push outcome; it is retried after its lease");
        }
        outcome
    }

    async fn send(
        &self,
        p: &Pending,
        payload: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<StatusCode, SendError> {
        let endpoint = url::Url::parse(&p.endpoint).map_err(|_| SendError::Broken("endpoint"))?;
        let ua_public = web_push_native::p256::PublicKey::from_sec1_bytes(&p.p256dh)
            .map_err(|_| SendError::Broken("p256dh"))?;
        let auth: [u8; plaza_core::push::AUTH_LEN] = p
            .auth
            .as_slice()
            .try_into()
            .map_err(|_| SendError::Broken("auth"))?;
        let auth = web_push_native::Auth::from(auth);
        let body = web_push_native::encrypt(payload, &ua_public, &auth)
            .map_err(|_| SendError::Broken("encrypt"))?;
        // Worth delivering until the session starts; the VAPID token must not outlive 24 h (real clock).
        let ttl = (p.starts_at - now.timestamp()).max(0);
        let authorization = self.0.config.key.authorization(
            &endpoint,
            &self.0.config.subject,
            Utc::now() + chrono::Duration::hours(12),
        );
        let response = self
            .0
            .client
            .post(endpoint)
            .header("TTL", ttl.to_string())
            .header("Urgency", "high")
            .header(reqwest::header::CONTENT_ENCODING, "aes128gcm")
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::AUTHORIZATION, authorization)
            .body(body)
            .send()
            .await
            .map_err(SendError::Network)?;
        Ok(response.status())
    }
}

enum SendError {
    Network(reqwest::Error),
    Broken(&'static str),
}

/// The endpoint's host, for logs (the path identifies a browser).
fn host_of(endpoint: &str) -> String {
    url::Url::parse(endpoint)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default()
}

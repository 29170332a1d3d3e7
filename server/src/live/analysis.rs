//! Whether any admin, anywhere in the cluster, is watching the live analytics (`startAnalyse`): metrics are
//! streamed as `liveEvent` / `liveError` — through the Redis adapter, to every process — only while one is, instead
//! of publishing every socket metric to Redis for nobody.
//!
//! A process with analysing sockets keeps the cache flag [`FLAG`] alive (written at once on each `startAnalyse`,
//! then every [`FLAG_TTL`] / 3, expiring [`FLAG_TTL`] after its last write, so a crashed process cannot leave it
//! on), and announces a start on [`CHANNEL`] so every process streams at once. Every process also re-reads the flag
//! every [`POLL`] (a missed notice, the flag's expiry).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use plaza_core::Cache;
use plaza_core::cache::Notice;
use tokio_util::sync::CancellationToken;

/// The cache key of the cluster-wide "some admin is analysing" flag.
pub const FLAG: &str = "live.analysing";
/// The cache channel announcing that an admin started analysing.
pub const CHANNEL: &str = "notify.analysis";
/// How long the flag outlives its last refresh.
const FLAG_TTL: Duration = Duration::from_secs(30);
/// How often a process re-reads the flag (and refreshes it while it has analysing sockets).
const POLL: Duration = Duration::from_secs(1);

/// This process's view of the flag. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Analysis(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    cache: Cache,
    /// Analysing sockets on this process.
    local: AtomicUsize,
    /// The flag as last read.
    cluster: AtomicBool,
}

impl Analysis {
    /// Nobody analysing yet.
    pub fn new(cache: Cache) -> Self {
        Self(Arc::new(Inner {
            cache,
            local: AtomicUsize::new(0),
            cluster: AtomicBool::new(false),
        }))
    }

    /// Whether metrics should be streamed: an admin here, or the flag was set when last read.
    pub fn active(&self) -> bool {
        self.0.local.load(Ordering::Relaxed) > 0 || self.0.cluster.load(Ordering::Relaxed)
    }

    /// A socket of this process started analysing: the flag is set and announced before this returns.
    pub async fn started(&self) {
        self.0.local.fetch_add(1, Ordering::SeqCst);
        self.announce().await;
    }

    /// Sets the flag and announces it, so every process streams at once.
    async fn announce(&self) {
        self.write_flag().await;
        if let Err(err) = self.0.cache.publish(CHANNEL, "start").await {
            tracing::debug!(%err, "could not announce the analysis flag");
        }
    }

    fn watching_here(&self) -> bool {
        self.0.local.load(Ordering::SeqCst) > 0
    }

    /// A socket of this process stopped analysing (or left while it was).
    pub fn stopped(&self) {
        let _ = self
            .0
            .local
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    async fn write_flag(&self) {
        if let Err(err) = self.0.cache.set(FLAG, "1", Some(FLAG_TTL)).await {
            tracing::debug!(%err, "could not set the analysis flag");
        }
    }

    /// Follows [`CHANNEL`] and reads the flag every [`POLL`] (refreshing it every third of its TTL while this
    /// process has analysing sockets) until `shutdown`.
    pub fn start(&self, shutdown: CancellationToken) {
        let this = self.clone();
        tokio::spawn(async move {
            let refresh_every = (FLAG_TTL.as_secs() / 3 / POLL.as_secs()).max(1);
            let mut ticks = 0u64;
            let mut interval = tokio::time::interval(POLL);
            let mut notices = None;
            loop {
                if notices.is_none() {
                    notices = this.0.cache.subscribe(CHANNEL).await.ok();
                }
                let notice = async {
                    match notices.as_mut() {
                        Some(notices) => notices.recv().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    notice = notice => {
                        match notice {
                            Some(Notice::Message(_)) => this.0.cluster.store(true, Ordering::Relaxed),
                            // Redis is back, perhaps empty: admins here set and announce the flag again.
                            Some(Notice::Resync) if this.watching_here() => this.announce().await,
                            Some(Notice::Resync) => {}
                            None => notices = None,
                        }
                        continue;
                    }
                    _ = interval.tick() => {}
                    () = shutdown.cancelled() => return,
                }
                ticks += 1;
                if this.watching_here() && ticks.is_multiple_of(refresh_every) {
                    this.write_flag().await;
                }
                // A cache error reads as "nobody": analytics pause rather than flood a failing Redis.
                let set = matches!(this.0.cache.get(FLAG).await, Ok(Some(_)));
                if !set && this.watching_here() {
                    // The flag was lost (a Redis restart or flush, or set while Redis was away) although admins
                    // here still watch: set and announce it again, so the other processes resume streaming.
                    this.announce().await;
                }
                this.0.cluster.store(set, Ordering::Relaxed);
            }
        });
    }
}

//! The site-visitor count, cheap at any scale: each live process counts its own sockets and keeps that number in
//! a cache gauge (one share per process, expiring after `VISITORS_TTL_SECONDS` unless refreshed every third of
//! it), so the cluster count is one small read and a crashed process's sockets vanish within the TTL. A process
//! whose share changed publishes a notice; every process then re-reads the sum and emits it to its *own* sockets
//! (no adapter traffic, no cross-node `fetchSockets`), at most once per `VISITORS_DEBOUNCE_MS`.
//!
//! Fan-out (issue #19): greeted sockets are spread over 16 part rooms ([`PARTS`]); a broadcast encodes the packet
//! once per part and hands the same bytes to every socket of the part, all parts at once on every worker thread.
//! Each socket gets it as a *volatile* packet: written straight into its websocket with one non-blocking `send`
//! when nothing else waits to be written there (engine.io change 4), else through its volatile slot — the latest
//! value replacing one not yet written — so a slow socket never queues stale counts and counts stay in order.
//! Sockets that arrived since the last broadcast wait in [`ARRIVING`]: they were greeted one by one, so they are
//! sent the new count only if it differs from their greeting, then join a part (issue #18: no count twice).
//! Broadcasts coalesce: after one that reached `n` sockets the next waits at least
//! `max(VISITORS_DEBOUNCE_MS, n × FANOUT_GAP_PER_SOCKET)`, the latest count winning, so a connection storm costs a
//! bounded number of socket sends per second whatever the debounce (not one broadcast to everyone per connect).
//! `plaza_live_visitor_broadcasts_total` and `plaza_live_visitor_broadcast_sockets_total` count them.
//!
//! Through a Redis outage the count stays honest: what is emitted is always *the other processes' sockets as last
//! read plus this process's sockets now*, so it never drops below the local count (a process started while Redis
//! is down counts its own sockets). When Redis is back (a pub/sub resync, or the first read that succeeds after
//! failures) the process writes its share at once, and for one heartbeat — the time every process takes to
//! re-register its share in a restarted, empty Redis — a lower sum is taken for a missing share, not for fewer
//! visitors: the count may rise in that window but not fall.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use plaza_core::Cache;
use plaza_core::cache::Notice;
use plaza_core::live::{VISITORS_CHANNEL, VISITORS_GAUGE};
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use socketioxide::extract::SocketRef;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The event carrying the count (the reference's name).
const EVENT: &str = "site-visitors";

/// The rooms greeted sockets are spread over (round robin), each broadcast by a task of its own: the sends of one
/// broadcast — straight `send`s into each idle websocket (engine.io change 4) — run on every worker thread at once.
const PARTS: [&str; 16] = [
    "site-visitors:0",
    "site-visitors:1",
    "site-visitors:2",
    "site-visitors:3",
    "site-visitors:4",
    "site-visitors:5",
    "site-visitors:6",
    "site-visitors:7",
    "site-visitors:8",
    "site-visitors:9",
    "site-visitors:10",
    "site-visitors:11",
    "site-visitors:12",
    "site-visitors:13",
    "site-visitors:14",
    "site-visitors:15",
];

/// The part the next greeted socket joins.
static NEXT_PART: AtomicUsize = AtomicUsize::new(0);

/// Sends `count` to every greeted socket of this process: each part by its own task, all awaited (so the next
/// broadcast never overtakes this one).
async fn broadcast<A: Adapter>(io: &SocketIo<A>, count: i64) {
    let parts: Vec<_> = PARTS
        .iter()
        .map(|&part| {
            let io = io.clone();
            tokio::spawn(async move {
                let Some(ns) = io.of("/") else { return };
                if let Err(err) = ns.local().to(part).volatile().emit(EVENT, &count).await {
                    tracing::debug!(%err, "visitor broadcast failed");
                }
            })
        })
        .collect();
    for part in parts {
        let _ = part.await;
    }
}

/// The room of sockets that arrived since the last broadcast (see the module header).
pub const ARRIVING: &str = "site-visitors:arriving";

/// The least gap between two broadcasts, per socket the previous one reached: 20 µs, so 10,000 sockets are sent
/// at most one count every 200 ms (at most 50,000 socket sends a second from broadcasts, whatever the debounce).
/// The first change after a quiet spell still goes out at once.
const FANOUT_GAP_PER_SOCKET: Duration = Duration::from_micros(20);

/// The count last sent to an arriving socket (in its extensions; -1: none yet).
#[derive(Clone, Debug)]
pub struct Sent(Arc<AtomicI64>);

impl Default for Sent {
    fn default() -> Self {
        Self(Arc::new(AtomicI64::new(-1)))
    }
}

/// Sends `count` to `socket` through its volatile slot (where broadcasts go too, so counts stay in order).
fn emit<A: Adapter>(socket: &SocketRef<A>, count: i64) {
    let _ = socket.volatile().emit(EVENT, &count);
}

/// The greeting of a new socket: `count`, unless the broadcaster got to the socket first.
pub fn greet<A: Adapter>(socket: &SocketRef<A>, count: i64) {
    let first = socket.extensions.get::<Sent>().is_none_or(|sent| {
        sent.0
            .compare_exchange(-1, count, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    });
    if first {
        emit(socket, count);
    }
}

/// Brings an arriving socket to `count` (unless it was greeted with it) and moves it into a part room. One still
/// connecting is left for its greeting and the next round.
fn admit<A: Adapter>(socket: &SocketRef<A>, count: i64) {
    if !socket.connected() {
        return;
    }
    let repeated = socket
        .extensions
        .get::<Sent>()
        .is_some_and(|sent| sent.0.swap(count, Ordering::SeqCst) == count);
    if !repeated {
        emit(socket, count);
    }
    socket.join(PARTS[NEXT_PART.fetch_add(1, Ordering::Relaxed) % PARTS.len()]);
    socket.leave(ARRIVING);
}

/// The shortest gap between two writes of this process's share: the first change after a quiet spell is written at
/// once, later ones are gathered until the gap has passed (a connection burst costs a few writes, not one per
/// socket).
const WRITE_COALESCE: Duration = Duration::from_millis(10);

/// This process's visitor bookkeeping. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Visitors(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    node: String,
    cache: Cache,
    debounce: Duration,
    ttl: Duration,
    /// Sockets connected to this process now.
    local: AtomicI64,
    /// This process's share as last written to the gauge.
    written: AtomicI64,
    /// The other processes' sockets as of the last read (the total minus this process's share then).
    others: AtomicI64,
    /// Wakes the share writer.
    changed: Notify,
    /// Wakes the broadcaster on a local join or leave (the count moves even while Redis is away).
    local_changed: Notify,
    /// The cache may have lost this process's share (Redis restarted or was unreachable): write and announce it.
    rewrite: AtomicBool,
}

impl Visitors {
    /// Bookkeeping for one process, identified by a fresh random id.
    pub fn new(cache: Cache, debounce: Duration, ttl: Duration) -> Self {
        Self(Arc::new(Inner {
            node: uuid::Uuid::new_v4().simple().to_string(),
            cache,
            debounce,
            ttl,
            local: AtomicI64::new(0),
            written: AtomicI64::new(0),
            others: AtomicI64::new(0),
            changed: Notify::new(),
            local_changed: Notify::new(),
            rewrite: AtomicBool::new(false),
        }))
    }

    /// A socket connected here.
    pub fn joined(&self) {
        let now = self.0.local.fetch_add(1, Ordering::SeqCst) + 1;
        metrics::gauge!("plaza_live_connections").set(now as f64);
        self.0.changed.notify_one();
        self.0.local_changed.notify_one();
    }

    /// A socket left this process.
    pub fn left(&self) {
        let now = self.0.local.fetch_sub(1, Ordering::SeqCst) - 1;
        metrics::gauge!("plaza_live_connections").set(now as f64);
        self.0.changed.notify_one();
        self.0.local_changed.notify_one();
    }

    /// Sockets connected to this process.
    pub fn local(&self) -> i64 {
        self.0.local.load(Ordering::SeqCst)
    }

    /// The best current estimate of the cluster count: the other processes' sockets as last read plus this
    /// process's now (what a newly connected socket is sent at once; the next broadcast corrects it).
    pub fn estimate(&self) -> i64 {
        (self.0.others.load(Ordering::SeqCst) + self.local()).max(0)
    }

    /// Starts the two background tasks (share writer, broadcaster) until `shutdown`; on shutdown this process's
    /// share is removed so the others' counts drop at once. The caller awaits the handles before the socket.io
    /// namespace goes, so nothing emits into a closed server.
    pub fn start<A: Adapter>(
        &self,
        io: SocketIo<A>,
        shutdown: CancellationToken,
    ) -> [tokio::task::JoinHandle<()>; 2] {
        [
            tokio::spawn(self.clone().write_loop(shutdown.clone())),
            tokio::spawn(self.clone().broadcast_loop(io, shutdown)),
        ]
    }

    fn heartbeat(&self) -> Duration {
        self.0.ttl / 3
    }

    /// Asks the writer to write and announce this process's share now (the cache may have lost it).
    fn rewrite(&self) {
        self.0.rewrite.store(true, Ordering::SeqCst);
        self.0.changed.notify_one();
    }

    /// Keeps this process's share of the gauge current: on change (coalesced) and every heartbeat.
    async fn write_loop(self, shutdown: CancellationToken) {
        let inner = &self.0;
        let mut published: Option<i64> = None;
        let mut failing = false;
        let mut last_write: Option<Instant> = None;
        loop {
            tokio::select! {
                () = inner.changed.notified() => {
                    if let Some(due) = last_write.map(|at| at + WRITE_COALESCE)
                        && due > Instant::now()
                    {
                        tokio::time::sleep_until(due).await;
                    }
                }
                () = tokio::time::sleep(self.heartbeat()) => {}
                () = shutdown.cancelled() => break,
            }
            if inner.rewrite.swap(false, Ordering::SeqCst) {
                published = None;
            }
            last_write = Some(Instant::now());
            let local = self.local();
            // `written` before the write: a sum read that already holds the new share then never pairs it with
            // the old one (which made a lone new socket see 1, 2, 1 — issue #18).
            let previous = inner.written.swap(local, Ordering::SeqCst);
            match inner
                .cache
                .gauge_set(VISITORS_GAUGE, &inner.node, local, inner.ttl)
                .await
            {
                Ok(()) => {
                    if failing {
                        tracing::info!("visitor count is written again");
                        failing = false;
                    }
                    if published != Some(local) {
                        published = Some(local);
                        if let Err(err) = inner.cache.publish(VISITORS_CHANNEL, &inner.node).await {
                            tracing::warn!(%err, "could not announce a visitor change");
                        }
                    }
                }
                Err(err) => {
                    inner.written.store(previous, Ordering::SeqCst);
                    if !failing {
                        tracing::warn!(%err, "could not write the visitor count; retrying when the cache is back");
                        failing = true;
                    }
                    // After an outage (a restarted Redis is empty) announce again once written.
                    published = None;
                }
            }
        }
        if let Err(err) = inner.cache.gauge_remove(VISITORS_GAUGE, &inner.node).await {
            tracing::warn!(%err, "could not remove this process's visitor count; it expires on its own");
        }
        let _ = inner.cache.publish(VISITORS_CHANNEL, &inner.node).await;
    }

    /// Emits the cluster count to this process's sockets after a change notice or a local join/leave (at most once
    /// per gap — the debounce, longer for a large audience — the first at once) and whenever a heartbeat finds it
    /// changed (a crashed process expired); admits the sockets that arrived meanwhile. See the module header for what happens while Redis is away and when it returns.
    async fn broadcast_loop<A: Adapter>(self, io: SocketIo<A>, shutdown: CancellationToken) {
        let inner = &self.0;
        let mut subscription = None;
        let mut last_sent: Option<i64> = None;
        let mut reachable = true;
        let mut settle_until: Option<Instant> = None;
        let started = Instant::now();
        let mut last_emit = started.checked_sub(inner.debounce).unwrap_or(started);
        // The least time from one broadcast to the next (see `FANOUT_GAP_PER_SOCKET`).
        let mut gap = inner.debounce;
        loop {
            if subscription.is_none() {
                match inner.cache.subscribe(VISITORS_CHANNEL).await {
                    Ok(sub) => subscription = Some(sub),
                    Err(err) => tracing::debug!(%err, "cannot subscribe to visitor notices yet"),
                }
            }
            // Without a subscription, retry it soon rather than after a whole heartbeat.
            let pause = if subscription.is_some() {
                self.heartbeat()
            } else {
                self.heartbeat().min(Duration::from_secs(1))
            };
            let notice = async {
                match subscription.as_mut() {
                    Some(sub) => sub.recv().await,
                    None => std::future::pending().await,
                }
            };
            let wake = tokio::select! {
                notice = notice => match notice {
                    Some(Notice::Message(_)) => Wake::Notice,
                    Some(Notice::Resync) => {
                        // Redis is back (maybe empty): re-register at once, and let every process do the same.
                        self.rewrite();
                        settle_until = Some(Instant::now() + self.heartbeat());
                        Wake::Notice
                    }
                    None => {
                        subscription = None;
                        Wake::Tick
                    }
                },
                () = inner.local_changed.notified() => Wake::Local,
                () = tokio::time::sleep(pause) => Wake::Tick,
                () = shutdown.cancelled() => break,
            };
            if wake != Wake::Tick {
                tokio::select! {
                    () = tokio::time::sleep_until(last_emit + gap) => {}
                    () = shutdown.cancelled() => break,
                }
                // Notices that arrived meanwhile are covered by the read below.
                if let Some(sub) = subscription.as_mut() {
                    while let Ok(Some(_)) = tokio::time::timeout(Duration::ZERO, sub.recv()).await {
                    }
                }
            }
            if shutdown.is_cancelled() {
                break;
            }
            // Our share inside the sum is what was last written, read *after* the sum: `written` changes before
            // the gauge does, so a sum holding a new share is never paired with the old one (a write racing this
            // read is corrected by the notice it publishes).
            let sum = inner.cache.gauge_sum(VISITORS_GAUGE).await;
            let ours = inner.written.load(Ordering::SeqCst);
            let total = match sum {
                Ok(total) => {
                    if !reachable {
                        reachable = true;
                        self.rewrite();
                        settle_until = Some(Instant::now() + self.heartbeat());
                    }
                    inner.others.store((total - ours).max(0), Ordering::SeqCst);
                    self.estimate()
                }
                Err(err) => {
                    if reachable {
                        tracing::warn!(%err, "cannot read the visitor count; counting from the last read");
                        reachable = false;
                    }
                    self.estimate()
                }
            };
            let settling = settle_until.is_some_and(|until| Instant::now() < until);
            let total = match last_sent {
                Some(sent) if settling && total < sent => sent,
                _ => total,
            };
            metrics::gauge!("plaza_live_visitors").set(total as f64);
            if last_sent != Some(total) {
                last_sent = Some(total);
                last_emit = Instant::now();
                // Greeted sockets all hold `last_sent`: one encoding per part, the same bytes for each socket.
                let audience = u32::try_from(self.local().max(0)).unwrap_or(u32::MAX);
                broadcast(&io, total).await;
                gap = inner.debounce.max(FANOUT_GAP_PER_SOCKET * audience);
                metrics::counter!("plaza_live_visitor_broadcasts_total").increment(1);
                metrics::counter!("plaza_live_visitor_broadcast_sockets_total")
                    .increment(u64::from(audience));
            }
            // The arrivals since the last round, one by one (only they may hold another count).
            let Some(ns) = io.of("/") else { break };
            for socket in ns.local().to(ARRIVING).sockets() {
                admit(&socket, total);
            }
        }
    }
}

/// Why the broadcaster woke up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wake {
    /// A change notice from some process (or a resync).
    Notice,
    /// A socket joined or left this process.
    Local,
    /// The heartbeat.
    Tick,
}

//! Batched writes to `logs` from hot paths (socket metrics, share-page visits): handlers hand rows to a bounded
//! queue and never wait; one task writes them in multi-row inserts (up to [`BATCH`] rows, at most [`FLUSH_EVERY`]
//! after the first), so a burst of events costs a few statements instead of a connection per event. When the queue
//! is full, rows are dropped and counted (`plaza_logs_dropped_total`) rather than slowing anything down or growing
//! memory without bound.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use plaza_core::Db;
use plaza_core::queries::logs::{self, NewLog};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Largest batch written in one transaction.
const BATCH: usize = 1000;
/// Longest a row waits in the queue before its batch is written.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Rows queued before new ones are dropped.
const QUEUE: usize = 20_000;

/// The sending side, cheap to clone.
#[derive(Clone, Debug)]
pub struct LogSink {
    tx: mpsc::Sender<NewLog>,
}

impl LogSink {
    /// Starts the writer task on `db`; it flushes what is queued and stops when `shutdown` is cancelled (await the
    /// returned handle to know the last rows are written).
    pub fn start(db: Db, shutdown: CancellationToken) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(write_loop(db, rx, shutdown));
        (Self { tx }, writer)
    }

    /// Queues `log` for writing; never waits.
    pub fn push(&self, log: NewLog) {
        if self.tx.try_send(log).is_err() {
            metrics::counter!("plaza_logs_dropped_total").increment(1);
            tracing::warn!("metric log queue is full (or closed); a metric was dropped");
        }
    }
}

/// A [`LogSink`] started on first use, for the HTTP API's handlers (the live server starts its own, tied to its
/// shutdown so the last rows are flushed).
#[derive(Clone, Debug)]
pub struct LazyLogSink {
    db: Db,
    sink: Arc<OnceLock<LogSink>>,
}

impl LazyLogSink {
    /// A sink for `db`; nothing runs until the first row (which must come from inside the runtime).
    pub fn new(db: Db) -> Self {
        Self {
            db,
            sink: Arc::default(),
        }
    }

    /// Queues `log` for writing; never waits.
    pub fn push(&self, log: NewLog) {
        self.sink
            .get_or_init(|| LogSink::start(self.db.clone(), CancellationToken::new()).0)
            .push(log);
    }
}

async fn write_loop(db: Db, mut rx: mpsc::Receiver<NewLog>, shutdown: CancellationToken) {
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let first = tokio::select! {
            first = rx.recv() => first,
            () = shutdown.cancelled() => None,
        };
        let Some(first) = first else { break };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while batch.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(log)) => batch.push(log),
                Ok(None) | Err(_) => break,
            }
        }
        flush(&db, &mut batch).await;
    }
    // Shutting down: write what is already queued.
    while let Ok(log) = rx.try_recv() {
        batch.push(log);
        if batch.len() == BATCH {
            flush(&db, &mut batch).await;
        }
    }
    flush(&db, &mut batch).await;
}

async fn flush(db: &Db, batch: &mut Vec<NewLog>) {
    if batch.is_empty() {
        return;
    }
    match logs::insert_many(db, batch).await {
        Ok(written) => {
            metrics::counter!("plaza_logs_written_total").increment(written);
        }
        Err(err) => {
            metrics::counter!("plaza_logs_dropped_total").increment(batch.len() as u64);
            tracing::error!(%err, rows = batch.len(), "could not store socket metrics");
        }
    }
    batch.clear();
}

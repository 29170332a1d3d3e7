//! Batched writes to `logs` from hot paths (socket metrics, share-page visits): handlers hand rows to a bounded
//! queue and never wait; one task writes them in multi-row inserts (up to [`BATCH`] rows, at most [`FLUSH_EVERY`]
//! after the first), so a burst of events costs a few statements instead of a connection per event.
//!
//! Bounds and robustness:
//! - The queue is bounded in rows ([`QUEUE`]) *and* in bytes (`LOG_QUEUE_MAX_BYTES`, rows' approximate sizes,
//!   counting the batch being written or retried); over either, rows are dropped and counted
//!   (`plaza_logs_dropped_total{reason}`) rather than slowing anything down or growing memory.
//! - Rows are made storable before they are queued ([`NewLog::make_storable`]: NUL → U+FFFD), and a batch the
//!   database refuses for its data is retried row by row, so one bad row costs only itself.
//! - A batch that fails because the database is unreachable (or locked) is kept and retried with backoff (up to
//!   [`RETRY_MAX`] apart, each retry counted in `plaza_logs_retries_total`) until it is stored; meanwhile new rows
//!   queue within the byte bound. On shutdown the last try is made once.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
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
/// First wait before a batch is retried during a database outage (doubling up to [`RETRY_MAX`]).
const RETRY_FIRST: Duration = Duration::from_millis(500);
/// Longest wait between two tries of a batch during an outage.
const RETRY_MAX: Duration = Duration::from_secs(30);

/// A queued row and its size, as counted against the byte bound.
type Sized = (NewLog, usize);

/// The sending side, cheap to clone.
#[derive(Clone, Debug)]
pub struct LogSink {
    tx: mpsc::Sender<Sized>,
    /// Bytes queued or in the batch being written.
    bytes: Arc<AtomicUsize>,
    max_bytes: usize,
}

impl LogSink {
    /// Starts the writer task on `db` with a queue of at most `max_bytes`; it flushes what is queued and stops when
    /// `shutdown` is cancelled (await the returned handle to know the last rows are written).
    pub fn start(
        db: Db,
        max_bytes: usize,
        shutdown: CancellationToken,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let bytes = Arc::new(AtomicUsize::new(0));
        let writer = tokio::spawn(write_loop(db, rx, bytes.clone(), shutdown));
        (
            Self {
                tx,
                bytes,
                max_bytes,
            },
            writer,
        )
    }

    /// Queues `log` for writing (made storable first); never waits.
    pub fn push(&self, mut log: NewLog) {
        let size = log.make_storable();
        let before = self.bytes.fetch_add(size, Ordering::SeqCst);
        if before + size > self.max_bytes {
            self.bytes.fetch_sub(size, Ordering::SeqCst);
            return dropped("bytes", 1);
        }
        if self.tx.try_send((log, size)).is_err() {
            self.bytes.fetch_sub(size, Ordering::SeqCst);
            dropped("rows", 1);
        }
    }
}

/// Counts dropped rows (no log line per row: a flood would turn into a log flood).
fn dropped(reason: &'static str, rows: u64) {
    metrics::counter!("plaza_logs_dropped_total", "reason" => reason).increment(rows);
}

/// A [`LogSink`] started on first use, for the HTTP API's handlers (the live server starts its own, tied to its
/// shutdown so the last rows are flushed).
#[derive(Clone, Debug)]
pub struct LazyLogSink {
    db: Db,
    max_bytes: usize,
    sink: Arc<OnceLock<LogSink>>,
}

impl LazyLogSink {
    /// A sink for `db` bounded to `max_bytes`; nothing runs until the first row (which must come from inside the
    /// runtime).
    pub fn new(db: Db, max_bytes: usize) -> Self {
        Self {
            db,
            max_bytes,
            sink: Arc::default(),
        }
    }

    /// Queues `log` for writing; never waits.
    pub fn push(&self, log: NewLog) {
        self.sink
            .get_or_init(|| {
                LogSink::start(self.db.clone(), self.max_bytes, CancellationToken::new()).0
            })
            .push(log);
    }
}

async fn write_loop(
    db: Db,
    mut rx: mpsc::Receiver<Sized>,
    bytes: Arc<AtomicUsize>,
    shutdown: CancellationToken,
) {
    let mut batch = Batch::default();
    loop {
        let first = tokio::select! {
            first = rx.recv() => first,
            () = shutdown.cancelled() => None,
        };
        let Some(first) = first else { break };
        batch.add(first);
        let deadline = tokio::time::Instant::now() + FLUSH_EVERY;
        while batch.rows.len() < BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(log)) => batch.add(log),
                Ok(None) | Err(_) => break,
            }
        }
        batch.write(&db, &bytes, &shutdown).await;
    }
    // Shutting down: write what is already queued.
    while let Ok(log) = rx.try_recv() {
        batch.add(log);
        if batch.rows.len() == BATCH {
            batch.write(&db, &bytes, &shutdown).await;
        }
    }
    batch.write(&db, &bytes, &shutdown).await;
}

/// The rows being written and their bytes (still counted against the bound until they are stored or dropped).
#[derive(Default)]
struct Batch {
    rows: VecDeque<NewLog>,
    bytes: usize,
}

impl Batch {
    fn add(&mut self, (log, size): Sized) {
        self.rows.push_back(log);
        self.bytes += size;
    }

    /// Stores the rows, retrying through an outage (once more only when shutting down), then frees their bytes.
    async fn write(&mut self, db: &Db, bytes: &AtomicUsize, shutdown: &CancellationToken) {
        let mut wait = RETRY_FIRST;
        while !self.rows.is_empty() {
            let Err(err) = self.store(db).await else {
                break;
            };
            if shutdown.is_cancelled() {
                let rows = self.rows.len();
                tracing::error!(%err, rows, "metric rows lost: the database is unreachable at shutdown");
                dropped("outage", self.rows.len() as u64);
                self.rows.clear();
                break;
            }
            metrics::counter!("plaza_logs_retries_total").increment(1);
            let rows = self.rows.len();
            tracing::warn!(%err, rows, retry_in = ?wait, "cannot store metric rows yet; keeping them");
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = shutdown.cancelled() => {}
            }
            wait = (wait * 2).min(RETRY_MAX);
        }
        bytes.fetch_sub(std::mem::take(&mut self.bytes), Ordering::SeqCst);
    }

    /// One try: the whole batch, or — when the database refuses its data — row by row, dropping only the rows it
    /// refuses. Stored and dropped rows leave the batch; on an outage (the error returned) the rest stays.
    async fn store(&mut self, db: &Db) -> Result<(), sqlx::Error> {
        match logs::insert_many(db, self.rows.make_contiguous()).await {
            Ok(written) => {
                metrics::counter!("plaza_logs_written_total").increment(written);
                self.rows.clear();
                return Ok(());
            }
            Err(err) if is_outage(&err) => return Err(err),
            Err(err) => {
                tracing::warn!(%err, rows = self.rows.len(), "a metric batch was refused; storing its rows one by one");
            }
        }
        while let Some(row) = self.rows.front() {
            match logs::insert_many(db, std::slice::from_ref(row)).await {
                Ok(written) => metrics::counter!("plaza_logs_written_total").increment(written),
                Err(err) if is_outage(&err) => return Err(err),
                Err(err) => {
                    tracing::warn!(%err, event = %row.event, "a metric row was refused and dropped");
                    dropped("refused", 1);
                }
            }
            self.rows.pop_front();
        }
        Ok(())
    }
}

/// Whether `err` says the database is unavailable (worth retrying the same rows) rather than that it refused them.
fn is_outage(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => {
            // SQLSTATE classes: 08 connection exception, 53 insufficient resources, 57 operator intervention
            // (admin shutdown, cannot connect now), 58 system error. SQLite's BUSY/LOCKED are transient too.
            let code = db.code().unwrap_or_default();
            ["08", "53", "57", "58"]
                .iter()
                .any(|class| code.starts_with(class))
                || matches!(code.as_ref(), "5" | "6" | "261" | "262" | "517")
        }
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}

//! Background writer for `logs` rows produced on hot paths (share-page visits): a bounded queue drained in batches
//! by one task, so a burst of requests becomes a few multi-row INSERTs instead of a task and a connection per
//! event. When the queue is full, events are dropped and counted (`plaza_logs_dropped_total`) — a flood of visits
//! must never grow memory without bound or slow the pages down.

use std::sync::{Arc, OnceLock};

use plaza_core::Db;
use plaza_core::queries::logs::{self, NewLog};
use tokio::sync::mpsc;

/// Events waiting to be written, at most.
const QUEUE: usize = 10_000;
/// Rows per INSERT batch, at most.
const BATCH: usize = 500;

/// A handle to the writer of one database. Cheap to clone; the task starts on first use (inside the runtime).
#[derive(Clone, Debug)]
pub struct LogWriter {
    db: Db,
    sender: Arc<OnceLock<mpsc::Sender<NewLog>>>,
}

impl LogWriter {
    /// A writer for `db` (nothing runs until the first event).
    pub fn new(db: Db) -> Self {
        Self {
            db,
            sender: Arc::default(),
        }
    }

    /// Queues `entry` without waiting; drops it (counted) when the queue is full.
    pub fn record(&self, entry: NewLog) {
        let sender = self.sender.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(drain(self.db.clone(), receiver));
            sender
        });
        if sender.try_send(entry).is_err() {
            metrics::counter!("plaza_logs_dropped_total").increment(1);
        }
    }
}

async fn drain(db: Db, mut receiver: mpsc::Receiver<NewLog>) {
    let mut batch = Vec::with_capacity(BATCH);
    while receiver.recv_many(&mut batch, BATCH).await > 0 {
        match logs::insert_many(&db, &batch).await {
            Ok(written) => metrics::counter!("plaza_logs_written_total").increment(written),
            Err(err) => {
                metrics::counter!("plaza_logs_dropped_total").increment(batch.len() as u64);
                tracing::warn!(%err, rows = batch.len(), "log rows not written");
            }
        }
        batch.clear();
    }
}

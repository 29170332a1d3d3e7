//! plaza-jobs: the batch jobs (Pretalx schedule import, Tito sync, content import, visitor logging, retention, reminders) and what they
//! share: a [`JobContext`] and [`run_exclusive`], which runs a job under the cluster-wide lock with metrics.
//!
//! Each job exposes `run_once(&JobContext)`; the server calls it from a CLI mode, an admin route or its
//! in-process scheduler, and tests call it directly.

pub mod content;
pub mod pretalx;
pub mod publication;
pub mod push;
pub mod reminders;
pub mod retention;
mod runner;
pub mod schedule;
pub mod tito;
pub mod upstream;
pub mod users;
pub mod visitors;

pub use runner::{JobError, JobGuard, acquire, is_running, run_exclusive};

use plaza_core::{Cache, Config, Db};

/// Everything a job needs: configuration and the shared storage handles.
#[derive(Clone, Debug)]
pub struct JobContext {
    /// The process configuration.
    pub config: Config,
    /// Cache and broker.
    pub cache: Cache,
    /// The database.
    pub db: Db,
}

//! `retention`: deletes what plaza no longer needs to keep — `logs` rows older than `LOGS_RETENTION_DAYS`, and
//! schedule and content versions beyond the `VERSIONS_KEEP` newest of each (the served version always stays, even
//! when older, so a rollback target in use is never deleted). Runs under the `jobs/retention` lock; `0` in either
//! variable keeps those rows forever.

use std::time::Duration;

use anyhow::Context as _;
use plaza_core::queries::versions::Table;
use plaza_core::queries::{logs, versions};

use crate::{JobContext, JobError, run_exclusive};

/// The job's name (its lock is `jobs/retention`).
pub const JOB: &str = "retention";
/// Lock lifetime (renewed while the job runs).
pub const LOCK_TTL: Duration = Duration::from_secs(300);

/// What one run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Deleted {
    /// `logs` rows.
    pub logs: u64,
    /// `schedule_versions` rows.
    pub schedule_versions: u64,
    /// `content_versions` rows.
    pub content_versions: u64,
}

impl std::fmt::Display for Deleted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "deleted {} logs rows, {} schedule versions, {} content versions",
            self.logs, self.schedule_versions, self.content_versions
        )
    }
}

/// Applies the configured retention once.
pub async fn run_once(ctx: &JobContext) -> Result<Deleted, JobError> {
    let retention = ctx.config.retention;
    run_exclusive(ctx, JOB, LOCK_TTL, || async {
        let mut deleted = Deleted::default();
        if let Some(age) = retention.logs {
            let cutoff = chrono::Utc::now()
                - chrono::Duration::from_std(age).context("LOGS_RETENTION_DAYS is out of range")?;
            deleted.logs = logs::delete_older_than(&ctx.db, cutoff)
                .await
                .context("deleting old logs rows")?;
        }
        if let Some(keep) = retention.versions_keep {
            deleted.schedule_versions = versions::prune(&ctx.db, Table::Schedule, keep)
                .await
                .context("deleting old schedule versions")?;
            deleted.content_versions = versions::prune(&ctx.db, Table::Content, keep)
                .await
                .context("deleting old content versions")?;
        }
        tracing::info!(%deleted, "retention applied");
        Ok(deleted)
    })
    .await
}

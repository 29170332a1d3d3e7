//! `log-visitors`: records the cluster's connected-socket count into `logs` as `internal/siteVisitors`
//! (`{visitors: n}`). The count is the sum of every live process's share of the visitor gauge in the cache (shares
//! of crashed processes expire on their own), so no process is asked anything and none can time the job out.

use std::time::Duration;

use anyhow::Context as _;
use plaza_core::live::{SITE_VISITORS_EVENT, VISITORS_GAUGE};
use plaza_core::queries::logs::{self, NewLog};

use crate::{JobContext, JobError, run_exclusive};

/// The job's name (its lock is `jobs/log-visitors`).
pub const JOB: &str = "log-visitors";
/// Lock lifetime (the reference's `log_visitors_lock` is stale after one minute).
pub const LOCK_TTL: Duration = Duration::from_secs(60);

/// Reads the cluster's visitor count and stores it; returns the count.
pub async fn run_once(ctx: &JobContext) -> Result<i64, JobError> {
    run_exclusive(ctx, JOB, LOCK_TTL, || async {
        let visitors = ctx
            .cache
            .gauge_sum(VISITORS_GAUGE)
            .await
            .context("reading the visitor count")?;
        logs::insert_many(
            &ctx.db,
            &[NewLog {
                event: SITE_VISITORS_EVENT.to_owned(),
                attendee: None,
                socket: None,
                data: serde_json::json!({ "visitors": visitors }),
            }],
        )
        .await
        .context("storing the visitor count")?;
        Ok(visitors)
    })
    .await
}

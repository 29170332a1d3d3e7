//! Runs one job exclusively across the cluster: takes its lock (atomic, expiring, token-guarded), keeps it alive
//! while the job runs, releases it after, and records `plaza_job_runs_total` / `plaza_job_duration_seconds`.

use std::future::Future;
use std::time::{Duration, Instant};

use plaza_core::cache::Lock;

use crate::JobContext;

/// Why a job did not complete.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Another process holds the job's lock.
    #[error("{0} is already running")]
    AlreadyRunning(String),
    /// The job ran and failed.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// The held lock of one job run; [`JobGuard::run`] runs the job and releases it.
#[derive(Debug)]
pub struct JobGuard {
    ctx: JobContext,
    name: String,
    ttl: Duration,
    lock: Lock,
}

/// Takes the lock `jobs/<name>` for `lock_ttl` (`JobError::AlreadyRunning` when another run holds it). Callers that
/// must answer before the job ends (an admin route) take the lock first, then run the job in the background.
pub async fn acquire(
    ctx: &JobContext,
    name: &str,
    lock_ttl: Duration,
) -> Result<JobGuard, JobError> {
    let lock = ctx
        .cache
        .try_lock(&format!("jobs/{name}"), lock_ttl)
        .await
        .map_err(|e| {
            JobError::Failed(anyhow::Error::new(e).context(format!("taking the lock of {name}")))
        })?
        .ok_or_else(|| JobError::AlreadyRunning(name.to_owned()))?;
    Ok(JobGuard {
        ctx: ctx.clone(),
        name: name.to_owned(),
        ttl: lock_ttl,
        lock,
    })
}

/// True when a run of `name` holds its lock somewhere in the cluster.
pub async fn is_running(
    ctx: &JobContext,
    name: &str,
) -> Result<bool, plaza_core::cache::CacheError> {
    ctx.cache.is_locked(&format!("jobs/{name}")).await
}

/// Runs `job` while holding the lock `jobs/<name>` (expires after `lock_ttl` unless renewed; it is renewed every
/// third of it while the job runs, so a crashed process frees it within `lock_ttl`).
pub async fn run_exclusive<T, F, Fut>(
    ctx: &JobContext,
    name: &str,
    lock_ttl: Duration,
    job: F,
) -> Result<T, JobError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    acquire(ctx, name, lock_ttl).await?.run(job).await
}

impl JobGuard {
    /// Runs `job`, renewing the lock meanwhile, then releases it and records metrics.
    pub async fn run<T, F, Fut>(self, job: F) -> Result<T, JobError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let Self {
            ctx,
            name,
            ttl: lock_ttl,
            lock,
        } = self;
        let name = name.as_str();
        let keepalive = {
            let cache = ctx.cache.clone();
            let lock = lock.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lock_ttl / 3).await;
                    match cache.extend(&lock, lock_ttl).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::error!(lock = %lock.name, "job lock lost (expired or taken over)");
                            break;
                        }
                        Err(err) => {
                            tracing::warn!(%err, lock = %lock.name, "could not extend the job lock")
                        }
                    }
                }
            })
        };

        let started = Instant::now();
        tracing::info!(job = name, "job started");
        let outcome = job().await;
        keepalive.abort();
        if let Err(err) = ctx.cache.release(&lock).await {
            tracing::warn!(%err, job = name, "could not release the job lock; it expires on its own");
        }

        let elapsed = started.elapsed();
        let label = if outcome.is_ok() {
            "success"
        } else {
            "failure"
        };
        metrics::counter!("plaza_job_runs_total", "job" => name.to_owned(), "outcome" => label)
            .increment(1);
        metrics::histogram!("plaza_job_duration_seconds", "job" => name.to_owned())
            .record(elapsed.as_secs_f64());
        match &outcome {
            Ok(_) => tracing::info!(job = name, seconds = elapsed.as_secs_f64(), "job finished"),
            Err(err) => tracing::error!(
                job = name,
                seconds = elapsed.as_secs_f64(),
                error = format!("{err:#}"),
                "job failed"
            ),
        }
        outcome.map_err(JobError::Failed)
    }
}

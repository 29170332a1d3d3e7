//! The in-process scheduler of `--mode all` (tokio-cron-scheduler): runs each job on its own cron expression from
//! the `*_CRON` variables. It owns timing only — the jobs themselves live in `plaza-jobs`, and the Kubernetes tiers
//! run them as CronJobs instead of this.
//!
//! Never two runs of one job at once: a tick that finds the previous run of its job still going in this process is
//! skipped, and each job takes its cluster-wide lock (`plaza_jobs::run_exclusive`), so a second `all` process on the
//! same storage cannot overlap either. Every tick's outcome is counted in `plaza_scheduler_runs_total{job,outcome}`
//! (`success`, `failure`, `locked`, `overlap`) and failures are logged; the jobs record `plaza_job_runs_total` and
//! `plaza_job_duration_seconds` themselves.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::BoxFuture;
use plaza_core::Config;
use plaza_core::config::{ContentSource, TitoSource};
use plaza_jobs::content::{self, Origin};
use plaza_jobs::{JobContext, JobError, reminders, retention, schedule, users, visitors};
use tokio_cron_scheduler::{Job, JobScheduler};
use tokio_util::sync::CancellationToken;

type RunFn = dyn Fn(JobContext) -> BoxFuture<'static, Result<(), JobError>> + Send + Sync;

/// One job as the scheduler knows it: a name, the variable its cron expression comes from, and how to run it.
pub struct ScheduledJob {
    /// The job's name in logs and metrics (`schedule`, `users`…).
    pub name: &'static str,
    /// The variable holding its cron expression, named in log lines.
    pub var: &'static str,
    cron: Option<String>,
    disabled_because: Option<&'static str>,
    at_start: bool,
    running: AtomicBool,
    run: Box<RunFn>,
}

impl ScheduledJob {
    /// A job that runs `run` at each tick of `cron` (`None`: disabled). `run` is usually one call of a job's
    /// `run_once`; its summary is not used here (the job logs its own).
    pub fn new<T, E, F, Fut>(
        name: &'static str,
        var: &'static str,
        cron: &Option<String>,
        run: F,
    ) -> Self
    where
        F: Fn(JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
        E: Into<JobError>,
    {
        Self {
            name,
            var,
            cron: cron.clone(),
            disabled_because: None,
            at_start: false,
            running: AtomicBool::new(false),
            run: Box::new(move |ctx| {
                let run = run(ctx);
                Box::pin(async move { run.await.map(drop).map_err(Into::into) })
            }),
        }
    }

    /// Disables the job when `condition` holds, logging `reason` at start (e.g. a source that is not configured).
    pub fn unless(mut self, condition: bool, reason: &'static str) -> Self {
        if condition {
            self.disabled_because = Some(reason);
        }
        self
    }

    /// Also runs the job once as soon as the scheduler starts (the schedule, so a fresh plaza has one at once).
    pub fn at_start(mut self) -> Self {
        self.at_start = true;
        self
    }

    /// Runs one tick: skipped while the previous run of this job goes on here; outcome logged and counted.
    async fn tick(&self, ctx: JobContext) {
        let outcome = if self.running.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                job = self.name,
                "previous run still going; skipping this tick"
            );
            "overlap"
        } else {
            // Reset on drop, so a run that panics does not block every later tick.
            let _running = Running(&self.running);
            match (self.run)(ctx).await {
                Ok(()) => "success",
                Err(JobError::AlreadyRunning(_)) => {
                    tracing::info!(
                        job = self.name,
                        "another process is running this job; skipping this tick"
                    );
                    "locked"
                }
                Err(JobError::Failed(err)) => {
                    tracing::error!(
                        job = self.name,
                        error = format!("{err:#}"),
                        "scheduled run failed"
                    );
                    "failure"
                }
            }
        };
        metrics::counter!("plaza_scheduler_runs_total", "job" => self.name, "outcome" => outcome)
            .increment(1);
    }
}

/// Clears a job's "running" flag when its run ends, however it ends.
struct Running<'a>(&'a AtomicBool);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// The jobs of `all` mode, each with its cron expression from `config`. Adding a job is one entry here.
pub fn jobs(config: &Config) -> Vec<ScheduledJob> {
    let cron = &config.cron;
    vec![
        ScheduledJob::new(
            "schedule",
            "SCHEDULE_CRON",
            &cron.schedule,
            |ctx| async move { schedule::run_once(&ctx).await },
        )
        .at_start(),
        ScheduledJob::new("users", "USERS_CRON", &cron.users, |ctx| async move {
            users::run_once(&ctx, false).await
        })
        .unless(
            config.tito == TitoSource::Disabled,
            "TITO_API_TOKEN is not set",
        ),
        ScheduledJob::new("content", "CONTENT_CRON", &cron.content, |ctx| async move {
            content::run_once(&ctx, &Origin::Configured).await
        })
        .unless(
            config.content == ContentSource::Bundled,
            "CONTENT_REPO_REMOTE is not set (the bundled content is served)",
        )
        .at_start(),
        ScheduledJob::new(
            "visitors",
            "VISITORS_CRON",
            &cron.visitors,
            |ctx| async move { visitors::run_once(&ctx).await },
        ),
        ScheduledJob::new(
            "retention",
            "RETENTION_CRON",
            &cron.retention,
            |ctx| async move { retention::run_once(&ctx).await },
        ),
        {
            // One state for every tick: the parsed schedule and the push queue outlive a run.
            let state = reminders::Reminders::new(config);
            ScheduledJob::new("reminders", "REMINDERS_CRON", &cron.reminders, move |ctx| {
                let state = state.clone();
                async move { reminders::run_once(&ctx, &state, chrono::Utc::now()).await }
            })
        },
    ]
}

/// Every `*_CRON` variable; one that no job in [`jobs`] reads (its job is not built yet) is reported at start, so
/// an operator who sets it is not misled.
const VARS: [&str; 6] = [
    "SCHEDULE_CRON",
    "USERS_CRON",
    "CONTENT_CRON",
    "VISITORS_CRON",
    "RETENTION_CRON",
    "REMINDERS_CRON",
];

/// Starts the scheduler with `jobs` over `ctx`; it stops when `shutdown` is cancelled (runs in progress are left
/// to finish or die with the process — their locks expire on their own). Logs each job's next run time.
pub async fn start(
    ctx: JobContext,
    jobs: Vec<ScheduledJob>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    // Counters recorded before the recorder exists would be lost.
    crate::telemetry::metrics_handle();
    for var in VARS {
        if !jobs.iter().any(|job| job.var == var) {
            tracing::info!(var, "no job in this build reads {var}; it is ignored");
        }
    }
    let mut scheduler = JobScheduler::new().await?;
    let mut scheduled = Vec::new();
    for job in jobs {
        let Some(cron) = job.cron.clone() else {
            tracing::info!(job = job.name, "job disabled: {} is empty", job.var);
            continue;
        };
        if let Some(reason) = job.disabled_because {
            tracing::info!(job = job.name, "job disabled: {reason}");
            continue;
        }
        let job = Arc::new(job);
        if job.at_start {
            let (job, ctx) = (job.clone(), ctx.clone());
            tokio::spawn(async move { job.tick(ctx).await });
        }
        let entry = {
            let (job, ctx, var) = (job.clone(), ctx.clone(), job.var);
            Job::new_async(cron.as_str(), move |_id, _scheduler| {
                let (job, ctx) = (job.clone(), ctx.clone());
                Box::pin(async move { job.tick(ctx).await })
            })
            .map_err(|e| anyhow::anyhow!("{var}: cannot schedule {cron:?}: {e}"))?
        };
        let id = scheduler.add(entry).await?;
        scheduled.push((job, cron, id));
    }
    scheduler.start().await?;
    for (job, cron, id) in &scheduled {
        let next = scheduler.next_tick_for_job(*id).await?;
        tracing::info!(
            job = job.name,
            cron = %cron,
            next_run = next.map(|t| t.to_rfc3339()).unwrap_or_else(|| "never".into()),
            "job scheduled"
        );
    }
    tokio::spawn(async move {
        shutdown.cancelled().await;
        if let Err(err) = scheduler.shutdown().await {
            tracing::warn!(%err, "scheduler did not shut down cleanly");
        }
    });
    Ok(())
}

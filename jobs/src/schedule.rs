//! The schedule job: Pretalx (or the bundled demo event) → validated, mapped schedule → a `schedule_versions` row
//! → published atomically to the cache with a notice to every api pod. A failure changes nothing that readers see.
//!
//! Publishing writes one cache record (`schedule.current`: version id, content hash, whole schedule) and its version
//! number in one `MULTI`, so readers can never see half of a schedule. Postgres stays the source of truth: an empty
//! cache is rebuilt from the latest published version ([`ensure_cache`]), and [`publish_version`] rolls back.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::{NaiveDate, Utc};
use plaza_core::Config;
use plaza_core::config::{ConfigError, PretalxSource};
use plaza_core::live::MY_SCHEDULE_CHANNEL;
use plaza_core::model::changes::{self, SessionChange};
use plaza_core::model::schedule::Schedule;
use plaza_core::queries::{
    self,
    versions::{self, Table},
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::pretalx::{ClientConfig, ImportConfig, PretalxClient, demo, map_schedule};
use crate::publication::{self, SCHEDULE, Stored};
use crate::{JobContext, JobError, run_exclusive};

/// The job's name (its lock is `jobs/schedule`).
pub const JOB: &str = "schedule";
/// Lock lifetime; renewed while the job runs, so it only bounds how long a crashed run blocks the next one.
pub const LOCK_TTL: Duration = Duration::from_secs(120);
/// Cache key of the published schedule record.
pub const CURRENT_KEY: &str = SCHEDULE.current_key;
/// Cache key of the published version id alone (cheap to poll).
pub const VERSION_KEY: &str = SCHEDULE.version_key;
/// Channel on which a publish is announced (payload: the version id).
pub const NOTICE_CHANNEL: &str = SCHEDULE.notice_channel;

/// The published schedule as stored in the cache.
pub type Published = publication::Published<Schedule>;

/// What one import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// The version the imported content is stored as.
    pub version: i64,
    /// True when the content was new (a version row was created).
    pub created: bool,
    /// True when this run changed the served schedule.
    pub published: bool,
    /// Sessions, speakers, slots and breaks in the imported schedule.
    pub counts: Counts,
    /// Lint issues that keep a session from showing properly.
    pub blocking_issues: usize,
    /// Sessions this run changed for attendees (stored in `schedule_changes`); 0 unless it published.
    pub changed: usize,
}

/// Sizes of an imported schedule, stored with its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Sessions (all states).
    pub sessions: usize,
    /// Speakers.
    pub speakers: usize,
    /// Slots.
    pub slots: usize,
    /// Breaks.
    pub breaks: usize,
    /// Lint issues.
    pub issues: usize,
}

impl Counts {
    fn of(schedule: &Schedule) -> Self {
        Self {
            sessions: schedule.sessions.len(),
            speakers: schedule.speakers.len(),
            slots: schedule.slots.len(),
            breaks: schedule.breaks.len(),
            issues: schedule.lint.issues.len(),
        }
    }
}

/// Runs one import under the job lock (`JobError::AlreadyRunning` if another process is importing).
pub async fn run_once(ctx: &JobContext) -> Result<ImportSummary, JobError> {
    run_exclusive(ctx, JOB, LOCK_TTL, || import(ctx)).await
}

/// The import itself, without the lock (callers hold it).
pub async fn import(ctx: &JobContext) -> anyhow::Result<ImportSummary> {
    let started = Instant::now();
    // Read first: an un-migrated database stops the import before anything is fetched, with the fix.
    let current = versions::latest_published(&ctx.db, Table::Schedule)
        .await
        .map_err(|error| {
            if plaza_core::db::is_missing_table(&error) {
                anyhow::anyhow!(
                    "the database has no schedule tables: run `plaza --mode migrate` first"
                )
            } else {
                anyhow::Error::from(error).context("reading the published version")
            }
        })?;
    let (schedule, source) = fetch(ctx).await?;
    let counts = Counts::of(&schedule);
    tracing::info!(
        source,
        sessions = counts.sessions,
        speakers = counts.speakers,
        slots = counts.slots,
        breaks = counts.breaks,
        issues = counts.issues,
        seconds = started.elapsed().as_secs_f64(),
        "schedule fetched and mapped"
    );
    if let Some((current, _)) = &current {
        let served = current
            .counts
            .0
            .get("sessions")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        if counts.sessions == 0 && served > 0 {
            anyhow::bail!(
                "the import produced no sessions; refusing to replace the published schedule of {served} sessions \
                 (check PRETALX_EVENT and the token's scope)"
            );
        }
    }

    let hash = schedule.fingerprint().context("hashing the schedule")?;
    // Measured against the served version before it is replaced; stored only if this import publishes.
    let diff = current
        .as_ref()
        .and_then(|(served, data)| changes_since(served.id, data, &schedule));
    let counts_json = serde_json::to_value(counts).context("serialising counts")?;
    let (stored, published) = SCHEDULE
        .store(ctx, &source, &hash, schedule, &counts_json)
        .await?;
    let Stored {
        version,
        created,
        published: publish,
    } = stored;
    let mut changed = 0;
    if let (true, Some((previous, diff))) = (created && publish, diff) {
        changed = diff.len();
        queries::changes::record(&ctx.db, version, previous, &diff)
            .await
            .context("storing the schedule changes")?;
        if changed > 0 {
            // Best effort: the version is served and its changes stored whatever happens to the notice.
            if let Err(error) = ctx
                .cache
                .publish(MY_SCHEDULE_CHANNEL, &version.to_string())
                .await
            {
                tracing::warn!(version, %error, "cannot announce the schedule changes");
            }
        }
    }
    let blocking_issues = published
        .data
        .lint
        .issues
        .iter()
        .filter(|i| i.blocks_publishing)
        .count();
    metrics::gauge!("plaza_schedule_sessions").set(counts.sessions as f64);
    tracing::info!(
        version,
        created,
        published = publish,
        blocking_issues,
        changed,
        seconds = started.elapsed().as_secs_f64(),
        "schedule import finished"
    );
    Ok(ImportSummary {
        version,
        created,
        published: publish,
        counts,
        blocking_issues,
        changed,
    })
}

/// The per-session changes from the served version `previous` (stored as `data`) to `schedule`, with `previous`;
/// `None` (logged) when the stored version no longer parses, so a format change never blocks an import.
fn changes_since(
    previous: i64,
    data: &serde_json::Value,
    schedule: &Schedule,
) -> Option<(i64, Vec<SessionChange>)> {
    match Schedule::deserialize(data) {
        Ok(served) => Some((previous, changes::diff(&served, schedule))),
        Err(error) => {
            tracing::warn!(previous, %error, "the served schedule does not parse; no changes recorded");
            None
        }
    }
}

/// Fetches and maps the configured source; returns the schedule and a description of the source.
pub async fn fetch(ctx: &JobContext) -> anyhow::Result<(Schedule, String)> {
    let options = import_config(ctx)?;
    match &ctx.config.pretalx {
        PretalxSource::Api {
            base_url,
            event,
            token,
        } => {
            let base = Url::parse(base_url).context("PRETALX_URL is not a URL")?;
            let client =
                PretalxClient::new(ClientConfig::new(base, event.clone(), token.expose()))?;
            let data = client.fetch_all(&options.question_ids()).await?;
            Ok((
                map_schedule(&data, &options),
                format!("pretalx {base_url} {event}"),
            ))
        }
        PretalxSource::Demo => {
            let start = demo_start();
            let client = demo::client(start)?;
            let options = ctx
                .config
                .pretalx_import
                .as_ref()
                .map(|_| options)
                .unwrap_or_else(demo::import_config);
            let data = client.fetch_all(&options.question_ids()).await?;
            Ok((
                map_schedule(&data, &options),
                format!("demo event starting {start}"),
            ))
        }
    }
}

/// The demo event runs from yesterday to tomorrow, so "live now" has sessions whenever plaza is started.
pub fn demo_start() -> NaiveDate {
    Utc::now()
        .date_naive()
        .pred_opt()
        .unwrap_or_else(|| Utc::now().date_naive())
}

/// The import options of `PRETALX_IMPORT` (defaults when unset); a [`ConfigError`] naming the variable and the
/// field when they do not parse, so processes can refuse to start (exit 2) instead of failing every import.
pub fn import_options(config: &Config) -> Result<ImportConfig, ConfigError> {
    match &config.pretalx_import {
        None => Ok(ImportConfig::default()),
        Some(value) => serde_path_to_error::deserialize(value.clone()).map_err(|e| ConfigError {
            var: "PRETALX_IMPORT",
            reason: format!("at `{}`: {}", e.path(), e.inner()),
        }),
    }
}

fn import_config(ctx: &JobContext) -> anyhow::Result<ImportConfig> {
    Ok(import_options(&ctx.config)?)
}

/// The published schedule in the cache, if any.
pub async fn cached(ctx: &JobContext) -> anyhow::Result<Option<Published>> {
    SCHEDULE.cached(ctx).await
}

/// Makes sure the cache holds the database's published version (after a Redis flush or a failed write), and returns
/// the published schedule. `None` when nothing was ever published.
pub async fn ensure_cache(ctx: &JobContext) -> anyhow::Result<Option<Published>> {
    SCHEDULE.ensure_cache(ctx).await
}

/// Makes version `id` the served schedule again (rollback or re-publish), under the job lock.
pub async fn publish_version(ctx: &JobContext, id: i64) -> Result<Published, JobError> {
    run_exclusive(ctx, JOB, LOCK_TTL, || SCHEDULE.publish_version(ctx, id)).await
}

//! `reminders` (#20): "your saved session starts in N minutes", N the attendee's setting (5, 10 or 15; 0 = off).
//! Ticks every minute (`REMINDERS_CRON` in `all`, the `reminders` CronJob otherwise) under the `jobs/reminders`
//! lock; the clock is a parameter (`now`) so tests drive it.
//!
//! Each tick: the served schedule's sessions starting in `(now, now + 15 min]` (parsed once per version); for each,
//! claim `(attendee, session, start)` for every attendee who saved it and whose setting reaches `now`
//! (`queries::reminders::claim`: insert or nothing, so each reminder happens once across pods and restarts; a moved
//! session has another start and re-arms; a missed tick is caught up while the session has not started). Claimed
//! reminders go out live — one [`ReminderNotice`] per session on `notify.reminders`, which every live process
//! emits to its own sockets — and by Web Push through the bounded queue of [`Pusher`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use plaza_core::Config;
use plaza_core::live::{REMINDERS_CHANNEL, ReminderNotice, title_in};
use plaza_core::model::schedule::{Localised, Schedule};
use plaza_core::queries::versions::{self, Table};
use plaza_core::queries::{push, reminders};
use serde::Deserialize as _;

use crate::push::{LEASE_SECONDS, MAX_ATTEMPTS, Pusher};
use crate::{JobContext, JobError, run_exclusive};

/// The job's name (its lock is `jobs/reminders`).
pub const JOB: &str = "reminders";
/// Lock lifetime (renewed while the job runs).
pub const LOCK_TTL: Duration = Duration::from_secs(60);
/// The longest reminder setting, in minutes: how far ahead a tick looks.
pub const HORIZON_MINUTES: i64 = 15;
/// The settings an attendee may choose (`reminderMinutes`).
pub const SETTINGS: [i16; 4] = [0, 5, 10, 15];
/// Attendees per live notice (keeps each pub/sub message small).
const NOTICE_CHUNK: usize = 1000;

/// A listed session of the served schedule, as reminders need it.
#[derive(Debug, Clone, PartialEq)]
struct Upcoming {
    start: DateTime<Utc>,
    titles: Localised,
}

/// The listed sessions of one schedule version, by id.
type Sessions = Arc<HashMap<String, Upcoming>>;

/// The job's state across ticks: the served schedule's sessions (per version) and the push sender.
#[derive(Clone, Debug)]
pub struct Reminders {
    sessions: Arc<Mutex<Option<(i64, Sessions)>>>,
    pusher: Option<Pusher>,
    client_url: String,
}

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    /// Reminders claimed (each sent live to the attendee's open tabs).
    pub claimed: usize,
    /// Pushes handed to the queue.
    pub pushes: usize,
}

impl std::fmt::Display for Tick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} reminders claimed, {} pushes queued",
            self.claimed, self.pushes
        )
    }
}

impl Reminders {
    /// The state for `config` (push enabled when `VAPID_*` are set).
    pub fn new(config: &Config) -> Self {
        let pusher = config.push.clone().and_then(|push| {
            Pusher::new(push)
                .map_err(|err| tracing::error!(%err, "cannot build the push client; reminders are live only"))
                .ok()
        });
        Self {
            sessions: Arc::default(),
            pusher,
            client_url: config.client_url.clone(),
        }
    }

    /// Waits up to `timeout` for queued pushes to be sent (before a one-shot process exits; tests).
    pub async fn drain(&self, timeout: Duration) -> bool {
        match &self.pusher {
            Some(pusher) => pusher.drain(timeout).await,
            None => true,
        }
    }

    /// The listed sessions of the served schedule, parsed once per served version.
    async fn sessions(&self, ctx: &JobContext) -> anyhow::Result<Sessions> {
        let Some(id) = versions::published_id(&ctx.db, Table::Schedule).await? else {
            return Ok(Arc::default());
        };
        if let Some((version, sessions)) = self
            .sessions
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))?
            .as_ref()
            && *version == id
        {
            return Ok(sessions.clone());
        }
        let sessions = match versions::get(&ctx.db, Table::Schedule, id).await? {
            Some((_, data)) => match Schedule::deserialize(&data) {
                Ok(schedule) => Arc::new(listed(&schedule)),
                Err(err) => {
                    tracing::warn!(version = id, %err, "the served schedule does not parse; no reminders");
                    Arc::default()
                }
            },
            None => Arc::default(),
        };
        *self
            .sessions
            .lock()
            .map_err(|_| anyhow::anyhow!("poisoned"))? = Some((id, sessions.clone()));
        Ok(sessions)
    }
}

fn listed(schedule: &Schedule) -> HashMap<String, Upcoming> {
    let starts: HashMap<&str, DateTime<Utc>> = schedule
        .slots
        .iter()
        .map(|s| (s.id.as_str(), s.start))
        .collect();
    schedule
        .sessions
        .iter()
        .filter(|s| s.is_listed())
        .filter_map(|s| {
            let start = *starts.get(s.slot.as_deref()?)?;
            Some((
                s.id.clone(),
                Upcoming {
                    start,
                    titles: s.title.clone(),
                },
            ))
        })
        .collect()
}

/// Runs one tick at `now` under the job lock.
pub async fn run_once(
    ctx: &JobContext,
    state: &Reminders,
    now: DateTime<Utc>,
) -> Result<Tick, JobError> {
    run_exclusive(ctx, JOB, LOCK_TTL, || tick(ctx, state, now)).await
}

async fn tick(ctx: &JobContext, state: &Reminders, now: DateTime<Utc>) -> anyhow::Result<Tick> {
    let sessions = state
        .sessions(ctx)
        .await
        .context("reading the served schedule")?;
    let horizon = now + chrono::Duration::minutes(HORIZON_MINUTES);
    let mut tick = Tick::default();
    let mut starting: Vec<(&String, &Upcoming)> = sessions
        .iter()
        .filter(|(_, s)| s.start > now && s.start <= horizon)
        .collect();
    starting.sort_by_key(|(id, s)| (s.start, id.as_str()));
    for (id, session) in starting {
        // Reminded when start − minutes ≤ now, i.e. minutes ≥ the minutes left (rounded up).
        let left_ms = (session.start - now).num_milliseconds();
        let min_minutes = i16::try_from((left_ms + 59_999) / 60_000).unwrap_or(i16::MAX);
        let claimed = reminders::claim(
            &ctx.db,
            id,
            session.start.timestamp(),
            min_minutes,
            now.timestamp(),
        )
        .await
        .with_context(|| format!("claiming the reminders of session {id}"))?;
        if claimed.is_empty() {
            continue;
        }
        tick.claimed += claimed.len();
        for chunk in claimed.chunks(NOTICE_CHUNK) {
            let notice = ReminderNotice {
                session_id: id.clone(),
                start: session.start,
                titles: session.titles.clone(),
                to: chunk
                    .iter()
                    .map(|d| (d.attendee, d.minutes, d.language.clone()))
                    .collect(),
            };
            // Best effort, like the release notice: the push channel (and the claim) stand on their own.
            let published = match serde_json::to_string(&notice) {
                Ok(json) => ctx
                    .cache
                    .publish(REMINDERS_CHANNEL, &json)
                    .await
                    .map_err(anyhow::Error::from),
                Err(err) => Err(err.into()),
            };
            if let Err(err) = published {
                tracing::warn!(session = %id, error = %err, "cannot announce reminders to live processes");
            }
        }
    }
    tick.pushes = queue_pushes(ctx, state, &sessions, now)
        .await
        .context("queuing pushes")?;
    metrics::counter!("plaza_reminders_total").increment(tick.claimed as u64);
    if tick.claimed > 0 || tick.pushes > 0 {
        tracing::info!(%tick, "reminders sent");
    }
    Ok(tick)
}

/// Hands due outbox pushes to the queue (as many as it has room for).
async fn queue_pushes(
    ctx: &JobContext,
    state: &Reminders,
    sessions: &HashMap<String, Upcoming>,
    now: DateTime<Utc>,
) -> anyhow::Result<usize> {
    let now_s = now.timestamp();
    let Some(pusher) = &state.pusher else {
        // Push is off: only drop what is stale (subscriptions saved while it was on).
        push::take_due(&ctx.db, now_s, MAX_ATTEMPTS, 0, now_s).await?;
        return Ok(0);
    };
    let free = i64::try_from(pusher.free()).unwrap_or(0);
    if free == 0 {
        return Ok(0);
    }
    let mut queued = 0;
    for pending in push::take_due(&ctx.db, now_s, MAX_ATTEMPTS, free, now_s + LEASE_SECONDS).await?
    {
        // A session moved (or gone) since the claim: its old start's pushes are obsolete.
        let Some(session) = sessions
            .get(&pending.session)
            .filter(|s| s.start.timestamp() == pending.starts_at)
        else {
            push::done(&ctx.db, &pending).await?;
            continue;
        };
        let payload = serde_json::json!({
            "type": "sessionReminder",
            "sessionId": pending.session,
            "title": title_in(&session.titles, &pending.language),
            "start": session.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "minutes": pending.minutes,
            "url": format!("{}session/{}", state.client_url, pending.session),
        });
        if pusher.enqueue(&ctx.db, pending, payload.to_string().into_bytes(), now) {
            queued += 1;
        }
    }
    Ok(queued)
}

//! Keeps a [`ScheduleStore`] current: load at start (rebuilding the cache from Postgres if it is empty), reload on
//! every `notify.schedule` notice, and re-check on a slow timer so a lost notice or a flushed Redis heals itself.

use std::time::Duration;

use plaza_jobs::JobContext;
use plaza_jobs::schedule::{self, NOTICE_CHANNEL, VERSION_KEY};
use tokio_util::sync::CancellationToken;

use super::ScheduleStore;
use crate::state::AppState;

/// Loads the schedule (best effort) and spawns [`run`] for `state`'s store until `shutdown`.
pub async fn start(state: &AppState, shutdown: CancellationToken) {
    if let Err(err) = load(&state.schedule, &state.jobs()).await {
        tracing::warn!(
            error = format!("{err:#}"),
            "no schedule loaded at start; serving an empty one until it arrives"
        );
    }
    let interval = state.config.schedule_refresh;
    tokio::spawn(run(
        state.schedule.clone(),
        state.jobs(),
        interval,
        shutdown,
    ));
}

/// Loads the published schedule into `store` (rebuilding the cache from the database when needed).
pub async fn load(store: &ScheduleStore, ctx: &JobContext) -> anyhow::Result<()> {
    if let Some(published) = schedule::ensure_cache(ctx).await? {
        store.install(published)?;
    }
    Ok(())
}

/// Runs until `shutdown`: reloads on notices and every `interval`. Errors are logged and retried, never fatal; the
/// store keeps serving what it has.
pub async fn run(
    store: ScheduleStore,
    ctx: JobContext,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut subscription = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if subscription.is_none() {
            match ctx.cache.subscribe(NOTICE_CHANNEL).await {
                Ok(sub) => subscription = Some(sub),
                Err(err) => {
                    tracing::warn!(%err, "cannot subscribe to schedule notices; relying on the timer")
                }
            }
        }
        let notice = async {
            match subscription.as_mut() {
                Some(sub) => sub.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            received = notice => {
                if received.is_none() {
                    subscription = None;
                }
                reload(&store, &ctx).await;
            }
            _ = ticker.tick() => check(&store, &ctx).await,
        }
    }
}

async fn reload(store: &ScheduleStore, ctx: &JobContext) {
    match schedule::cached(ctx).await {
        Ok(Some(published)) => {
            if let Err(err) = store.install(published) {
                tracing::error!(
                    error = format!("{err:#}"),
                    "cannot build the schedule snapshot"
                );
            }
        }
        Ok(None) => check(store, ctx).await,
        Err(err) => tracing::warn!(
            error = format!("{err:#}"),
            "cannot read the published schedule"
        ),
    }
}

/// Cheap periodic check: compare the cached version id with the served one; rebuild the cache if it is empty.
async fn check(store: &ScheduleStore, ctx: &JobContext) {
    let served = store.current().version;
    match ctx.cache.get(VERSION_KEY).await {
        Ok(Some(version)) if version == served.to_string() => {}
        Ok(_) => {
            if let Err(err) = load(store, ctx).await {
                tracing::warn!(error = format!("{err:#}"), "cannot refresh the schedule");
            }
        }
        Err(err) => tracing::debug!(%err, "schedule check skipped: cache unavailable"),
    }
}

//! Keeps the served snapshots current. For each feed (schedule, content): load at start (rebuilding the cache from
//! Postgres if it is empty), reload on every notice, and re-check on a slow timer so a lost notice or a flushed
//! Redis heals itself.
//!
//! Dependencies may be away at start: with Redis down the published versions are read from Postgres (the source
//! of truth), with Postgres down from the cache; the notice subscription is retried every [`RETRY`] until Redis
//! answers, and a start-up load that found neither is retried as often. Snapshots are built on the blocking pool,
//! so a rebuild neither holds a runtime worker nor delays shutdown (the runtime stops without waiting for it).
//!
//! On the embedded tier (no Redis, so no notices between processes) it also polls the database's published version
//! id ([`poll_database`]).

use std::time::Duration;

use plaza_core::content::Bundle;
use plaza_core::model::schedule::Schedule;
use plaza_core::queries::versions;
use plaza_jobs::JobContext;
use plaza_jobs::publication::{CONTENT, Feed, Published, SCHEDULE};
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::ScheduleStore;
use crate::state::AppState;

/// What a feed's published versions are installed into.
pub trait Target: Clone + Send + Sync + 'static {
    /// The published value.
    type Data: DeserializeOwned + Send + 'static;
    /// The feed it follows.
    const FEED: Feed;
    /// The version served now (0: none published).
    fn served(&self) -> i64;
    /// Serves `published`; true when something changed.
    fn install(&self, published: Published<Self::Data>) -> anyhow::Result<bool>;
    /// The start-up load is done (something published is served, or nothing was ever published).
    fn loaded(&self) {}
    /// True once [`Target::loaded`] was called.
    fn is_loaded(&self) -> bool {
        true
    }
}

impl Target for ScheduleStore {
    type Data = Schedule;
    const FEED: Feed = SCHEDULE;

    fn served(&self) -> i64 {
        self.current().version
    }

    fn install(&self, published: Published<Schedule>) -> anyhow::Result<bool> {
        ScheduleStore::install(self, published)
    }

    fn loaded(&self) {
        self.mark_loaded();
    }

    fn is_loaded(&self) -> bool {
        ScheduleStore::is_loaded(self)
    }
}

/// The content feed, installed into the whole state (pages, settings, block list, email templates).
#[derive(Clone, Debug)]
pub struct ContentTarget(pub AppState);

impl Target for ContentTarget {
    type Data = Bundle;
    const FEED: Feed = CONTENT;

    fn served(&self) -> i64 {
        self.0.content.current().version
    }

    fn install(&self, published: Published<Bundle>) -> anyhow::Result<bool> {
        self.0.install_content(published)
    }
}

/// Loads the schedule and content (best effort) and keeps both current until `shutdown`.
pub async fn start(state: &AppState, shutdown: CancellationToken) {
    let interval = state.config.schedule_refresh;
    tokio::join!(
        follow(
            state.schedule.clone(),
            state.jobs(),
            interval,
            shutdown.clone(),
        ),
        follow(
            ContentTarget(state.clone()),
            state.jobs(),
            interval,
            shutdown,
        )
    );
}

/// Loads `target`'s feed now, then spawns [`run`] for it.
pub async fn follow<T: Target>(
    target: T,
    ctx: JobContext,
    interval: Duration,
    shutdown: CancellationToken,
) {
    if let Err(err) = load(&target, &ctx).await {
        tracing::warn!(
            feed = T::FEED.name,
            error = format!("{err:#}"),
            "nothing loaded at start; serving the default until it arrives"
        );
    }
    if ctx.cache.kind() == "memory" {
        tokio::spawn(poll_database(
            target.clone(),
            ctx.clone(),
            EMBEDDED_POLL,
            shutdown.clone(),
        ));
    }
    tokio::spawn(run(target, ctx, interval, shutdown));
}

/// How often a missing notice subscription, or a start-up load that found no source, is retried.
const RETRY: Duration = Duration::from_secs(2);

/// How often the embedded tier polls the database for a version published by another process.
pub const EMBEDDED_POLL: Duration = Duration::from_secs(1);

/// Embedded tier only (memory cache, no Redis): a cache and its notices belong to one process, so a version that
/// another process publishes (a separate `fetch-schedule`, `plaza schedule rollback`) reaches this one only through
/// the database. Polls the published version's id (one small indexed query) every `every` and loads it when it
/// differs from the served one; so the CLI, the HTTP API and the admin view agree within seconds.
pub async fn poll_database<T: Target>(
    target: T,
    ctx: JobContext,
    every: Duration,
    shutdown: CancellationToken,
) {
    let feed = T::FEED.name;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        match versions::published_id(&ctx.db, T::FEED.table).await {
            Ok(Some(id)) if id != target.served() => {
                tracing::info!(
                    feed,
                    version = id,
                    "a version was published by another process"
                );
                if let Err(err) = load(&target, &ctx).await {
                    tracing::warn!(feed, error = format!("{err:#}"), "cannot load it");
                }
            }
            Ok(_) => {}
            Err(err) => tracing::debug!(%err, feed, "database poll skipped"),
        }
    }
}

/// Loads the published version into `target` (rebuilding the cache from the database when needed; from whichever
/// of the two answers when one is away).
pub async fn load<T: Target>(target: &T, ctx: &JobContext) -> anyhow::Result<()> {
    if let Some(published) = T::FEED.published_anywhere::<T::Data>(ctx).await? {
        install(target, published).await?;
    }
    target.loaded();
    Ok(())
}

/// Builds and serves `published` on the blocking pool (large schedules take a while to compress).
async fn install<T: Target>(target: &T, published: Published<T::Data>) -> anyhow::Result<bool> {
    let target = target.clone();
    tokio::task::spawn_blocking(move || target.install(published)).await?
}

/// Runs until `shutdown`: reloads on notices and every `interval`. Errors are logged and retried, never fatal; the
/// target keeps serving what it has.
pub async fn run<T: Target>(
    target: T,
    ctx: JobContext,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let feed = T::FEED.name;
    let mut subscription = None;
    let mut warned = false;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if subscription.is_none() {
            match ctx.cache.subscribe(T::FEED.notice_channel).await {
                Ok(sub) => {
                    if warned {
                        tracing::info!(feed, "following notices again");
                        warned = false;
                        // Whatever was announced meanwhile is read now.
                        check(&target, &ctx).await;
                    }
                    subscription = Some(sub);
                }
                Err(err) => {
                    if !warned {
                        tracing::warn!(%err, feed, "cannot subscribe to notices; retrying, and relying on the timer");
                        warned = true;
                    }
                }
            }
        }
        let retrying = subscription.is_none() || !target.is_loaded();
        let notice = async {
            match subscription.as_mut() {
                Some(sub) => sub.recv().await,
                None => std::future::pending().await,
            }
        };
        let retry = async move {
            if retrying {
                tokio::time::sleep(RETRY).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = shutdown.cancelled() => return,
            received = notice => {
                if received.is_none() {
                    subscription = None;
                }
                reload(&target, &ctx).await;
            }
            () = retry => {
                if !target.is_loaded()
                    && let Err(err) = load(&target, &ctx).await
                {
                    tracing::debug!(feed, error = format!("{err:#}"), "still nothing to load");
                }
            }
            _ = ticker.tick() => check(&target, &ctx).await,
        }
    }
}

async fn reload<T: Target>(target: &T, ctx: &JobContext) {
    let feed = T::FEED.name;
    match T::FEED.cached::<T::Data>(ctx).await {
        Ok(Some(published)) => {
            if let Err(err) = install(target, published).await {
                tracing::error!(
                    feed,
                    error = format!("{err:#}"),
                    "cannot build the snapshot"
                );
            }
        }
        Ok(None) => check(target, ctx).await,
        Err(err) => tracing::warn!(
            feed,
            error = format!("{err:#}"),
            "cannot read the published version"
        ),
    }
}

/// Cheap periodic check: compare the cached version id with the served one; rebuild the cache if it is empty.
async fn check<T: Target>(target: &T, ctx: &JobContext) {
    let feed = T::FEED.name;
    let served = target.served();
    match ctx.cache.get(T::FEED.version_key).await {
        Ok(Some(version)) if version == served.to_string() => {}
        Ok(_) => {
            if let Err(err) = load(target, ctx).await {
                tracing::warn!(feed, error = format!("{err:#}"), "cannot refresh");
            }
        }
        Err(err) => tracing::debug!(%err, feed, "check skipped: cache unavailable"),
    }
}

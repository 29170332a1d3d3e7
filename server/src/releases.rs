//! The release notice (`notify.myschedule`): the schedule job announces the id of a published version that changed
//! sessions; live processes (`myScheduleChanged`) and api processes (email digests) act on it. This module owns
//! listening — subscribing, re-subscribing after the subscription ends, parsing the payload — for this and the other
//! notice channels.

use std::future::Future;
use std::time::Duration;

use plaza_core::Cache;
use plaza_core::cache::Notice;
use plaza_core::live::MY_SCHEDULE_CHANNEL;
use tokio_util::sync::CancellationToken;

/// Runs `on_release(version)` for every announced release, one at a time, until `shutdown`. A missed notice (Redis
/// away: pub/sub is at most once) is not replayed.
pub async fn for_each<F, Fut>(cache: Cache, shutdown: CancellationToken, mut on_release: F)
where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = ()>,
{
    for_each_notice(cache, MY_SCHEDULE_CHANNEL, shutdown, |version| {
        let version = version.parse::<i64>();
        let run = version.as_ref().ok().map(|v| on_release(*v));
        async move {
            match run {
                Some(run) => run.await,
                None => tracing::warn!("ignoring a malformed release notice"),
            }
        }
    })
    .await;
}

/// Runs `on_notice(payload)` for every message on `channel`, one at a time, until `shutdown`; subscribes again
/// after the subscription ends (Redis restarted). Shared by the release notices and the reminders
/// (`live::reminders`).
pub async fn for_each_notice<F, Fut>(
    cache: Cache,
    channel: &str,
    shutdown: CancellationToken,
    mut on_notice: F,
) where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut subscription = None;
    loop {
        if subscription.is_none() {
            match cache.subscribe(channel).await {
                Ok(sub) => subscription = Some(sub),
                Err(err) => tracing::debug!(%err, channel, "cannot subscribe to notices yet"),
            }
        }
        let notice = async {
            match subscription.as_mut() {
                Some(sub) => sub.recv().await,
                None => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    None
                }
            }
        };
        tokio::select! {
            notice = notice => match notice {
                Some(Notice::Message(payload)) => on_notice(payload).await,
                Some(Notice::Resync) => {}
                None => subscription = None,
            },
            () = shutdown.cancelled() => break,
        }
    }
}

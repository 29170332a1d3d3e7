//! The release notice (`notify.myschedule`): the schedule job announces the id of a published version that changed
//! sessions; live processes (`myScheduleChanged`) and api processes (email digests) act on it. This module owns
//! listening — subscribing, re-subscribing after the subscription ends, parsing the payload.

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
    let mut subscription = None;
    loop {
        if subscription.is_none() {
            match cache.subscribe(MY_SCHEDULE_CHANNEL).await {
                Ok(sub) => subscription = Some(sub),
                Err(err) => tracing::debug!(%err, "cannot subscribe to release notices yet"),
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
                Some(Notice::Message(version)) => match version.parse::<i64>() {
                    Ok(version) => on_release(version).await,
                    Err(_) => tracing::warn!(%version, "ignoring a malformed release notice"),
                },
                Some(Notice::Resync) => {}
                None => subscription = None,
            },
            () = shutdown.cancelled() => break,
        }
    }
}

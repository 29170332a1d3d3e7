//! `myScheduleChanged` (a plaza extension of the deconf protocol): when the schedule job publishes a release that
//! changed sessions, it announces the version on `notify.myschedule`; every live process reads that version's
//! changes and who saved each changed session, and emits one event per (attendee, changed session) to the
//! attendee's private room (`attendee:<id>`, joined on `auth`) — on its *own* sockets only (`local()`).
//!
//! Exactly once per tab, cluster-wide, without a lock: each socket lives on one process and each process emits
//! only to the sockets it holds, so no event crosses the adapter and none is sent twice. A notice missed while
//! Redis was away is lost (pub/sub is at most once); the stored changes and the other channels still hold it.

use plaza_core::live::{MY_SCHEDULE_EVENT, attendee_room};
use plaza_core::queries::{attendance, changes};
use serde_json::json;
use socketioxide::SocketIo;
use socketioxide::adapter::Adapter;
use tokio_util::sync::CancellationToken;

use super::Live;

/// Starts the notice listener until `shutdown`; the caller awaits it before the namespace goes.
pub fn start<A: Adapter>(
    live: Live,
    io: SocketIo<A>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(listen(live, io, shutdown))
}

async fn listen<A: Adapter>(live: Live, io: SocketIo<A>, shutdown: CancellationToken) {
    let cache = live.state.cache.clone();
    crate::releases::for_each(cache, shutdown, |version| notify(&live, &io, version)).await;
}

/// Emits version `version`'s changes to the sockets on this process of the attendees who saved a changed session.
async fn notify<A: Adapter>(live: &Live, io: &SocketIo<A>, version: i64) {
    let db = &live.state.db;
    let changes = match changes::of_version(db, version).await {
        Ok(changes) => changes,
        Err(err) => {
            tracing::warn!(version, %err, "cannot read the schedule changes to notify");
            return;
        }
    };
    let mut sent = 0_u64;
    for change in changes {
        let attendees = match attendance::attendees_of(db, &change.session_id).await {
            Ok(attendees) => attendees,
            Err(err) => {
                tracing::warn!(version, %err, "cannot read who saved a changed session");
                continue;
            }
        };
        let mut payload = json!(change);
        payload["version"] = version.into();
        for attendee in attendees {
            // `of` rather than `to`: no panic if the namespace is gone (shutdown).
            let Some(ns) = io.of("/") else { return };
            for socket in ns.local().to(attendee_room(attendee)).sockets() {
                if socket.emit(MY_SCHEDULE_EVENT, &payload).is_ok() {
                    sent += 1;
                }
            }
        }
    }
    metrics::counter!("plaza_live_my_schedule_notices_total").increment(sent);
    tracing::debug!(version, sent, "schedule change notices sent");
}

//! `sessionReminder` (a plaza extension of the deconf protocol, #20): the reminders job publishes each session's
//! claimed reminders on `notify.reminders` ([`ReminderNotice`]); every live process emits the event to its *own*
//! sockets in each named attendee's private room (`attendee:<id>`) — exactly once per tab, as `my_schedule` does.
//! A notice missed while Redis was away is lost (pub/sub); Web Push still carries the reminder.

use plaza_core::live::{REMINDERS_CHANNEL, ReminderNotice, SESSION_REMINDER_EVENT, attendee_room};
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
    let cache = live.state.cache.clone();
    tokio::spawn(async move {
        crate::releases::for_each_notice(cache, REMINDERS_CHANNEL, shutdown, |payload| {
            let io = &io;
            async move { notify(io, &payload) }
        })
        .await;
    })
}

fn notify<A: Adapter>(io: &SocketIo<A>, payload: &str) {
    let notice: ReminderNotice = match serde_json::from_str(payload) {
        Ok(notice) => notice,
        Err(err) => {
            tracing::warn!(%err, "ignoring a malformed reminder notice");
            return;
        }
    };
    let mut sent = 0_u64;
    for (attendee, minutes, language) in &notice.to {
        // `of` rather than `to`: no panic if the namespace is gone (shutdown).
        let Some(ns) = io.of("/") else { return };
        let sockets = ns.local().to(attendee_room(*attendee)).sockets();
        if sockets.is_empty() {
            continue;
        }
        let event = notice.payload(*minutes, language);
        for socket in sockets {
            if socket.emit(SESSION_REMINDER_EVENT, &event).is_ok() {
                sent += 1;
            }
        }
    }
    metrics::counter!("plaza_live_reminders_total").increment(sent);
}

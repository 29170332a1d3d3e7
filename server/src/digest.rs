//! Schedule change digests (#20): one email per attendee per release, listing every saved session the release
//! changed, rendered from the `schedule-changes` content template in the attendee's language.
//!
//! Every api process listens on `notify.myschedule` (the schedule job announces a release that changed sessions).
//! For each attendee who saved a changed session and has not opted out (`attendees.schedule_emails`), the first
//! process to insert `(version, attendee)` into `schedule_digests` sends it — so one digest cluster-wide however
//! many pods hear the notice — through a bounded queue drained by up to eight concurrent sends: the import never waits on
//! SMTP, and a slow SMTP server slows only this queue. The claim is taken before sending: a failed send is logged
//! and counted (`plaza_emails_total`), not retried (at most once).

use std::collections::BTreeMap;

use futures_util::StreamExt as _;
use plaza_core::email::Rendered;
use plaza_core::model::changes::{Placement, SessionChange};
use plaza_core::queries::{attendance, attendees, changes};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// The content email template of the digest.
pub const TEMPLATE: &str = "schedule-changes";

/// Digests rendered but not yet handed to SMTP; past this the listener waits (the import does not).
const QUEUE: usize = 1024;

/// Starts the notice listener and the sender until `shutdown`.
pub fn start(state: &AppState, shutdown: CancellationToken) {
    let (queue, rx) = mpsc::channel(QUEUE);
    tokio::spawn(send_loop(state.clone(), rx));
    tokio::spawn(listen(state.clone(), queue, shutdown));
}

/// Digests handed to SMTP at once (lettre's pool keeps up to 10 connections): one at a time, a release touching
/// 10,000 attendees waited on 10,000 SMTP round trips in a row.
const SENDERS: usize = 8;

async fn send_loop(state: AppState, rx: mpsc::Receiver<(String, Rendered)>) {
    let queued = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    queued
        .for_each_concurrent(SENDERS, |(to, email)| {
            let state = &state;
            async move {
                if let Err(err) = state.mailer.send(&to, &email).await {
                    tracing::warn!(%err, template = TEMPLATE, "schedule digest not sent");
                }
            }
        })
        .await;
}

async fn listen(
    state: AppState,
    queue: mpsc::Sender<(String, Rendered)>,
    shutdown: CancellationToken,
) {
    let cache = state.cache.clone();
    crate::releases::for_each(cache, shutdown, |version| {
        let (state, queue) = (&state, &queue);
        async move {
            if let Err(err) = digest(state, queue, version).await {
                tracing::warn!(version, %err, "schedule digests stopped");
            }
        }
    })
    .await;
}

/// Queues the digest of `version` for every attendee of a changed session this process claims.
async fn digest(
    state: &AppState,
    queue: &mpsc::Sender<(String, Rendered)>,
    version: i64,
) -> Result<(), sqlx::Error> {
    let mut by_attendee: BTreeMap<i32, Vec<SessionChange>> = BTreeMap::new();
    for change in changes::of_version(&state.db, version).await? {
        for attendee in attendance::attendees_of(&state.db, &change.session_id).await? {
            by_attendee
                .entry(attendee)
                .or_default()
                .push(change.clone());
        }
    }
    for (id, saved) in by_attendee {
        let Some(attendee) = attendees::get(&state.db, id).await? else {
            continue;
        };
        if !attendee.verified || !attendee.schedule_emails {
            continue;
        }
        let lines = saved
            .iter()
            .map(|c| line(c, &attendee.language))
            .collect::<Vec<_>>()
            .join("\n");
        let values = [
            ("name", attendee.name.as_str()),
            ("changes", lines.as_str()),
        ];
        // Rendered before the claim: content without the template sends nothing, and claims nothing.
        let email = match state.render_email(TEMPLATE, &attendee.language, &values) {
            Ok(email) => email,
            Err(err) => {
                tracing::error!(%err, "cannot render the schedule digest");
                return Ok(());
            }
        };
        if changes::claim_digest(&state.db, version, id).await?
            && queue.send((attendee.email, email)).await.is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}

/// `- Title: Mon 06 Dec 10:00–11:00 UTC, Room → Mon 06 Dec 11:00–12:00 UTC, Room` (`✕` when cancelled; a renamed
/// session shows its new title, then the old one in brackets).
fn line(change: &SessionChange, locale: &str) -> String {
    let old_title = localised(&change.old.title, locale);
    let (title, new) = match &change.new {
        Some(now) => {
            let title = localised(&now.title, locale);
            let title = if title == old_title {
                title
            } else {
                format!("{title} ({old_title})")
            };
            (title, placed(now, locale))
        }
        None => (old_title, "✕".to_owned()),
    };
    format!("- {title}: {} → {new}", placed(&change.old, locale))
}

fn placed(at: &Placement, locale: &str) -> String {
    let when = match (at.start, at.end) {
        (Some(start), Some(end)) => format!(
            "{}–{} UTC",
            start.format("%a %d %b %H:%M"),
            end.format("%H:%M")
        ),
        _ => String::new(),
    };
    let room = localised(&at.room, locale);
    if room.is_empty() {
        when
    } else {
        format!("{when}, {room}")
    }
}

fn localised(text: &plaza_core::model::schedule::Localised, locale: &str) -> String {
    text.get(locale)
        .or_else(|| text.get(plaza_core::email::DEFAULT_LOCALE))
        .or_else(|| text.values().next())
        .cloned()
        .unwrap_or_default()
}

//! What a schedule release changed for attendees: the per-session diff between the previously served schedule and
//! a newly published one (moved, room changed, title changed, cancelled or no longer public). Pure: the schedule
//! job stores the result with the version (`schedule_changes`), the admin API lists it and the notices read it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::schedule::{Localised, Schedule, Session};

/// One kind of change to a session an attendee saved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeKind {
    /// Its start or end moved.
    Moved,
    /// It is held in another room (track).
    Room,
    /// Its title changed (in any locale).
    Title,
    /// It is no longer listed: withdrawn, unscheduled or no longer public.
    Cancelled,
}

/// Where and when a session is, as an attendee sees it; what a change reports as old and new values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// Start (absent when the slot is unknown).
    pub start: Option<DateTime<Utc>>,
    /// End.
    pub end: Option<DateTime<Utc>>,
    /// Track (room) id.
    pub track: String,
    /// Room name per locale (empty when the room is unknown).
    pub room: Localised,
    /// Title per locale.
    pub title: Localised,
}

/// The changes of one session in one release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionChange {
    /// The session id.
    pub session_id: String,
    /// What changed, in [`ChangeKind`] order.
    pub changes: Vec<ChangeKind>,
    /// The session as previously served.
    pub old: Placement,
    /// The session as now served; `None` when cancelled.
    pub new: Option<Placement>,
}

fn placement(schedule: &Schedule, session: &Session) -> Placement {
    let slot = session
        .slot
        .as_deref()
        .and_then(|id| schedule.slots.iter().find(|s| s.id == id));
    let room = schedule
        .tracks
        .iter()
        .find(|t| t.id == session.track)
        .map(|t| t.title.clone())
        .unwrap_or_default();
    Placement {
        start: slot.map(|s| s.start),
        end: slot.map(|s| s.end),
        track: session.track.clone(),
        room,
        title: session.title.clone(),
    }
}

/// The changes from `old` to `new` of every session `old` listed, by session id. Sessions new in `new` are not
/// changes (nobody can have saved them); a session `new` no longer lists is [`ChangeKind::Cancelled`].
pub fn diff(old: &Schedule, new: &Schedule) -> Vec<SessionChange> {
    let current: std::collections::HashMap<&str, &Session> = new
        .sessions
        .iter()
        .filter(|s| s.is_listed())
        .map(|s| (s.id.as_str(), s))
        .collect();
    let mut changes: Vec<SessionChange> = old
        .sessions
        .iter()
        .filter(|s| s.is_listed())
        .filter_map(|before| {
            let was = placement(old, before);
            let Some(after) = current.get(before.id.as_str()) else {
                return Some(SessionChange {
                    session_id: before.id.clone(),
                    changes: vec![ChangeKind::Cancelled],
                    old: was,
                    new: None,
                });
            };
            let now = placement(new, after);
            let kinds: Vec<ChangeKind> = [
                (
                    ChangeKind::Moved,
                    was.start != now.start || was.end != now.end,
                ),
                (ChangeKind::Room, was.track != now.track),
                (ChangeKind::Title, was.title != now.title),
            ]
            .into_iter()
            .filter_map(|(kind, changed)| changed.then_some(kind))
            .collect();
            (!kinds.is_empty()).then(|| SessionChange {
                session_id: before.id.clone(),
                changes: kinds,
                old: was,
                new: Some(now),
            })
        })
        .collect();
    changes.sort_by(|a, b| a.session_id.cmp(&b.session_id));
    changes
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use serde_json::json;

    use super::*;
    use crate::model::schedule::{Slot, Track};

    fn session(id: &str, slot: Option<&Slot>, track: &str, title: &str, state: &str) -> Session {
        serde_json::from_value(json!({
            "id": id, "type": "1", "slot": slot.map(|s| s.id.clone()), "track": track, "themes": [],
            "title": {"en": title}, "content": {}, "links": [], "hostLanguages": [], "enableInterpretation": false,
            "speakers": [], "hostOrganisation": {}, "isRecorded": true, "isOfficial": false, "isFeatured": false,
            "visibility": "private", "state": state, "participantCap": null, "hideFromSchedule": false,
        }))
        .expect("a session")
    }

    fn schedule(sessions: Vec<Session>, slots: Vec<Slot>) -> Schedule {
        let track = |id: &str| Track {
            id: id.into(),
            title: [("en".to_owned(), format!("Room {id}"))].into(),
        };
        Schedule {
            sessions,
            slots,
            tracks: vec![track("1"), track("2")],
            ..Schedule::default()
        }
    }

    #[test]
    fn each_kind_of_change_is_reported_once_and_only_for_listed_sessions() {
        let at = |h| {
            Utc.with_ymd_and_hms(2026, 12, 3, h, 0, 0)
                .single()
                .expect("a time")
        };
        let (ten, eleven) = (Slot::new(at(10), at(11)), Slot::new(at(11), at(12)));
        let old = schedule(
            vec![
                session("SAME-1", Some(&ten), "1", "Same", "confirmed"),
                session("MOVE-1", Some(&ten), "1", "Move", "confirmed"),
                session("BOTH-1", Some(&ten), "1", "Both", "confirmed"),
                session("GONE-1", Some(&ten), "1", "Gone", "confirmed"),
                session("DRAFT-1", Some(&ten), "1", "Draft", "accepted"),
            ],
            vec![ten.clone()],
        );
        let new = schedule(
            vec![
                session("SAME-1", Some(&ten), "1", "Same", "confirmed"),
                session("MOVE-1", Some(&eleven), "1", "Move", "confirmed"),
                session("BOTH-1", Some(&ten), "2", "Both, renamed", "confirmed"),
                session("GONE-1", None, "1", "Gone", "confirmed"),
                session("DRAFT-1", Some(&eleven), "1", "Draft", "confirmed"),
                session("NEW-1", Some(&ten), "1", "New", "confirmed"),
            ],
            vec![ten.clone(), eleven.clone()],
        );
        let changes = diff(&old, &new);
        let summary: Vec<(&str, &[ChangeKind])> = changes
            .iter()
            .map(|c| (c.session_id.as_str(), c.changes.as_slice()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("BOTH-1", &[ChangeKind::Room, ChangeKind::Title][..]),
                ("GONE-1", &[ChangeKind::Cancelled][..]),
                ("MOVE-1", &[ChangeKind::Moved][..]),
            ]
        );
        let moved = &changes[2];
        assert_eq!(
            (moved.old.start, moved.new.as_ref().and_then(|n| n.start)),
            (Some(at(10)), Some(at(11)))
        );
        assert_eq!(
            changes[0].new.as_ref().map(|n| n.room["en"].as_str()),
            Some("Room 2")
        );
        assert!(changes[1].new.is_none());
        assert!(
            diff(&new, &new).is_empty(),
            "an identical release changes nothing"
        );
    }
}

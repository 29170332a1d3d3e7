//! The socket event contracts the live server and the jobs share: the metric events clients may track (the
//! reference's 13 kinds with strict payloads), the names of the events plaza logs itself, and the visitor gauge.
//!
//! Pure functions only: no socket, no storage, no HTTP.

use serde_json::Value;

use crate::error::{ApiError, Failure};

/// The cache gauge holding each live process's connected-socket count (member = the process's id).
pub const VISITORS_GAUGE: &str = "visitors";

/// The cache channel a live process publishes on when its share of [`VISITORS_GAUGE`] changed.
pub const VISITORS_CHANNEL: &str = "notify.visitors";

/// The cache channel the schedule job publishes on when a release changed sessions (payload: the version id); every
/// live process then tells its own sockets of the attendees who saved a changed session.
pub const MY_SCHEDULE_CHANNEL: &str = "notify.myschedule";

/// The socket event (a plaza extension of the deconf protocol) telling an attendee a saved session changed.
pub const MY_SCHEDULE_EVENT: &str = "myScheduleChanged";

/// The cache channel the reminders job publishes [`ReminderNotice`]s on (JSON); every live process emits
/// [`SESSION_REMINDER_EVENT`] to its own sockets of the attendees named.
pub const REMINDERS_CHANNEL: &str = "notify.reminders";

/// The socket event (a plaza extension of the deconf protocol) reminding an attendee a saved session starts soon:
/// `{sessionId, title, start, minutes}`.
pub const SESSION_REMINDER_EVENT: &str = "sessionReminder";

/// One session's reminders claimed by a tick, as published on [`REMINDERS_CHANNEL`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReminderNotice {
    /// The session id.
    pub session_id: String,
    /// Its start.
    pub start: chrono::DateTime<chrono::Utc>,
    /// Its title per locale.
    pub titles: crate::model::schedule::Localised,
    /// The attendees reminded: `(id, minutes, language)`.
    pub to: Vec<(i32, i16, String)>,
}

impl ReminderNotice {
    /// The `sessionReminder` payload for one attendee (`minutes`, title in `language`).
    pub fn payload(&self, minutes: i16, language: &str) -> Value {
        serde_json::json!({
            "sessionId": self.session_id,
            "title": title_in(&self.titles, language),
            "start": self.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "minutes": minutes,
        })
    }
}

/// A localised text in `language`, else English, else any locale, else empty.
pub fn title_in<'a>(titles: &'a crate::model::schedule::Localised, language: &str) -> &'a str {
    titles
        .get(language)
        .or_else(|| titles.get("en"))
        .or_else(|| titles.values().next())
        .map_or("", String::as_str)
}

/// The private room every socket of a signed-in attendee joins (after `auth`).
pub fn attendee_room(attendee: i32) -> String {
    format!("attendee:{attendee}")
}

/// Event logged by `log-visitors` with `{visitors: n}`.
pub const SITE_VISITORS_EVENT: &str = "internal/siteVisitors";

/// Event plaza logs when `POST /attendance/:id/attend` stored a new row, with `{sessionId}`. Not the client's
/// `attendance/attend` metric, which the client tracks itself and the reference's reporting queries count.
pub const ATTEND_EVENT: &str = "internal/attendance/attend";

/// Event plaza logs when `POST /attendance/:id/unattend` removed a row, with `{sessionId}`.
pub const UNATTEND_EVENT: &str = "internal/attendance/unattend";

/// Event logged for a socket `trackError` with `{message, stack}`.
pub const CLIENT_ERROR_EVENT: &str = "general/clientError";

/// The type a payload field must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// A required string.
    Text,
    /// A required boolean.
    Bool,
    /// A required number.
    Number,
    /// A string, or absent.
    OptionalText,
    /// Any value, or absent (superstruct's `any()`).
    Any,
}

/// The metric events a client may send, with their payload fields (MozillaFoundation/mozfest-plaza
/// server/src/deconf/metrics-broker.ts). Payloads are strict objects: unknown keys are rejected.
const METRIC_EVENTS: &[(&str, &[(&str, Field)])] = &[
    // `kind` (which calendar: ics, google…) is sent by the MozFest client; the reference rejected it (issue #18).
    (
        "session/ical",
        &[("sessionId", Field::Text), ("kind", Field::OptionalText)],
    ),
    ("attendance/attend", &[("sessionId", Field::Text)]),
    ("attendance/unattend", &[("sessionId", Field::Text)]),
    ("login/start", &[("emailHash", Field::Text)]),
    ("login/finish", &[]),
    ("login/logout", &[]),
    ("register/start", &[("country", Field::Text)]),
    ("login/unregister", &[("confirmed", Field::Bool)]),
    (
        "general/pageView",
        &[("routeName", Field::Text), ("params", Field::Any)],
    ),
    (
        "session/link",
        &[
            ("sessionId", Field::Text),
            ("action", Field::Text),
            ("link", Field::Text),
        ],
    ),
    ("atrium/widget", &[("widget", Field::Text)]),
    (
        "session/recommendation",
        &[
            ("fromSession", Field::Text),
            ("toSession", Field::Text),
            ("index", Field::Number),
        ],
    ),
    ("profile/userCalendar", &[]),
];

/// The names of every metric event a client may track.
pub fn metric_event_names() -> impl Iterator<Item = &'static str> {
    METRIC_EVENTS.iter().map(|(name, _)| *name)
}

/// Checks a `trackMetric(eventName, payload)`: an unknown or non-string name is 400 `metrics.badEvent`; a payload
/// that is not a strict object of the event's fields is 400 `general.badRequest` with one failure per problem.
/// Returns the event name on success.
pub fn validate_metric(event: &Value, payload: &Value) -> Result<&'static str, ApiError> {
    let Some((name, fields)) = event
        .as_str()
        .and_then(|event| METRIC_EVENTS.iter().find(|(name, _)| *name == event))
    else {
        return Err(ApiError::bad_request("metrics.badEvent"));
    };
    let Some(object) = payload.as_object() else {
        return Err(ApiError::validation(vec![Failure::new(
            "",
            "Expected an object",
        )]));
    };
    let mut failures = Vec::new();
    for (field, kind) in *fields {
        let value = object.get(*field);
        let ok = matches!(
            (kind, value),
            (Field::Any, _)
                | (Field::Text, Some(Value::String(_)))
                | (Field::Bool, Some(Value::Bool(_)))
                | (Field::Number, Some(Value::Number(_)))
                | (Field::OptionalText, None | Some(Value::String(_)))
        );
        if !ok {
            let expected = match kind {
                Field::Text | Field::OptionalText => "a string",
                Field::Bool => "a boolean",
                Field::Number => "a number",
                Field::Any => "any value",
            };
            failures.push(Failure::new(*field, format!("Expected {expected}")));
        }
    }
    for key in object.keys() {
        if !fields.iter().any(|(field, _)| field == key) {
            failures.push(Failure::new(key.as_str(), "Unexpected field"));
        }
    }
    if failures.is_empty() {
        Ok(name)
    } else {
        Err(ApiError::validation(failures))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn codes(err: ApiError) -> Vec<String> {
        err.codes()
    }

    #[test]
    fn the_reference_lists_thirteen_metric_events() {
        assert_eq!(metric_event_names().count(), 13);
    }

    #[test]
    fn valid_payloads_pass() {
        let cases = [
            ("session/ical", json!({"sessionId": "s1"})),
            ("login/finish", json!({})),
            ("login/unregister", json!({"confirmed": true})),
            ("general/pageView", json!({"routeName": "atrium"})),
            (
                "general/pageView",
                json!({"routeName": "session", "params": {"id": "1"}}),
            ),
            (
                "session/recommendation",
                json!({"fromSession": "a", "toSession": "b", "index": 2}),
            ),
        ];
        for (event, payload) in cases {
            assert_eq!(
                validate_metric(&json!(event), &payload).expect(event),
                event
            );
        }
    }

    #[test]
    fn session_ical_accepts_the_calendar_kind_the_mozfest_client_sends() {
        for kind in ["ical", "google"] {
            let payload = json!({"sessionId": "s1", "kind": kind});
            assert_eq!(
                validate_metric(&json!("session/ical"), &payload).expect(kind),
                "session/ical"
            );
        }
        let err = validate_metric(
            &json!("session/ical"),
            &json!({"sessionId": "s1", "kind": 3}),
        )
        .expect_err("kind must be a string");
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn unknown_events_are_bad_events() {
        for event in [json!("nope/never"), json!(42), Value::Null] {
            let err = validate_metric(&event, &json!({})).expect_err("unknown");
            assert_eq!(codes(err), vec!["metrics.badEvent"]);
        }
    }

    #[test]
    fn wrong_types_missing_and_extra_fields_are_each_reported() {
        let err = validate_metric(
            &json!("session/link"),
            &json!({"sessionId": 7, "action": "join", "extra": true}),
        )
        .expect_err("invalid");
        assert_eq!(err.status(), 400);
        let envelope = err.envelope();
        let paths: Vec<String> = envelope
            .failures
            .expect("failures")
            .into_iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(paths, vec!["sessionId", "link", "extra"]);
    }

    #[test]
    fn a_payload_must_be_an_object() {
        let err = validate_metric(&json!("login/finish"), &json!("x")).expect_err("not an object");
        assert_eq!(codes(err), vec!["general.badRequest"]);
    }
}

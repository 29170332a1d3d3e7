//! Calendars: one session as ICS (`/calendar/ical/:id`, and the deprecated `/schedule/:id/ics`), a Google Calendar
//! redirect, and the private feed of everything a user attends (`/calendar/me` gives its URL; the URL carries an
//! expiring, revocable `user-ical` token). ICS is built with the `icalendar` crate: CRLF, line folding, escaping,
//! UTC times, a `DTSTAMP`, and stable `UID`s (`<session id>@plaza`), localised to the user's language.
//!
//! Calendars that update (#20): every event carries `SEQUENCE` (how many published releases changed the session)
//! and `LAST-MODIFIED` (when the last of them was imported; the first import for a session never changed) from
//! `schedule_changes`, so a calendar app replaces the event it holds instead of keeping a stale one; the private
//! feed keeps a saved session a release cancelled as `STATUS:CANCELLED` for `CALENDAR_CANCELLED_DAYS`.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use icalendar::{Calendar, Component as _, Event, EventLike as _};
use plaza_core::ApiError;
use plaza_core::authz::Presented;
use plaza_core::model::changes::ChangeKind;
use plaza_core::model::schedule::{Localised, Session};
use plaza_core::queries::attendance;
use plaza_core::queries::changes::{self, History};
use serde_json::json;

use super::HttpError;
use super::auth::{AuthUser, MaybeUser};
use crate::snapshot::Snapshot;
use crate::state::AppState;

/// Registers the calendar routes under the API base path.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/calendar/ical/{session_id}").get(get_session_ics))
        .service(web::resource("/schedule/{session_id}/ics").get(get_session_ics))
        .service(web::resource("/calendar/google/{session_id}").get(get_google))
        .service(web::resource("/calendar/me").get(get_feed_url))
        .service(web::resource("/calendar/me/{token}").get(get_feed));
}

/// `texts[lang]`, else English, else `fallback`.
fn localised<'a>(texts: &'a Localised, lang: &str, fallback: &'a str) -> &'a str {
    texts
        .get(lang)
        .or_else(|| texts.get("en"))
        .map(String::as_str)
        .unwrap_or(fallback)
}

/// A scheduled session with its times, or 404.
fn scheduled<'a>(
    snapshot: &'a Snapshot,
    id: &str,
) -> Result<(&'a Session, DateTime<Utc>, DateTime<Utc>), HttpError> {
    let session = snapshot.session(id).ok_or(ApiError::NotFound)?;
    let slot = session.slot.as_deref().ok_or(ApiError::NotFound)?;
    let (start, end) = snapshot.slot_times(slot).ok_or(ApiError::NotFound)?;
    Ok((session, start, end))
}

/// `text` safe for an ICS text value: every line break (CRLF, a bare CR or LF, NEL, U+2028/U+2029) becomes one
/// `\n` (which the `icalendar` crate escapes), every other control character but tab is dropped. So no Pretalx
/// text can end a content line early, and a parser that splits on CR alone sees no injected property either.
fn ics_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                chars.next_if_eq(&'\n');
                out.push('\n');
            }
            '\n' | '\u{85}' | '\u{2028}' | '\u{2029}' => out.push('\n'),
            '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Where the version history puts an event: its `SEQUENCE` and `LAST-MODIFIED`.
#[derive(Debug, Clone, Copy)]
struct Revision {
    sequence: i64,
    modified: Option<DateTime<Utc>>,
}

impl Revision {
    /// From a session's history; a session no release changed is at sequence 0, modified at the first import.
    fn of(history: Option<&History>, first_import: Option<DateTime<Utc>>) -> Self {
        match history {
            Some(h) => Self {
                sequence: h.sequence,
                modified: Some(h.modified),
            },
            None => Self {
                sequence: 0,
                modified: first_import,
            },
        }
    }
}

/// One VEVENT: the session's UID, title, description, times and link, with its revision.
#[allow(clippy::too_many_arguments)]
fn event(
    state: &AppState,
    id: &str,
    title: &Localised,
    content: Option<&Localised>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    lang: &str,
    revision: Revision,
) -> Event {
    let url = ics_text(&format!("{}session/{id}", state.config.client_url));
    let mut event = Event::new();
    event
        .uid(&ics_text(&format!("{id}@plaza")))
        .summary(&ics_text(localised(title, lang, "Session")))
        .starts(start)
        .ends(end)
        .location(&url)
        .url(&url)
        .add_property("SEQUENCE", revision.sequence.to_string());
    if let Some(content) = content {
        event.description(&ics_text(localised(content, lang, "")));
    }
    if let Some(modified) = revision.modified {
        event.add_property(
            "LAST-MODIFIED",
            modified.format("%Y%m%dT%H%M%SZ").to_string(),
        );
    }
    event.done()
}

/// The event of a served session.
fn session_event(
    state: &AppState,
    session: &Session,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
    lang: &str,
    revision: Revision,
) -> Event {
    event(
        state,
        &session.id,
        &session.title,
        Some(&session.content),
        start,
        end,
        lang,
        revision,
    )
}

/// The history of `session` and the first import's time, for the public routes: an unreadable database costs
/// the revision (logged), never the calendar.
async fn revision_of(state: &AppState, session: &str) -> Revision {
    let read = async {
        let history = changes::history(&state.db, session).await?;
        let first = changes::first_import(&state.db).await?;
        Ok::<_, sqlx::Error>(Revision::of(history.as_ref(), first))
    };
    read.await.unwrap_or_else(|err| {
        tracing::warn!(%err, "cannot read the session's history; serving SEQUENCE 0");
        Revision {
            sequence: 0,
            modified: None,
        }
    })
}

fn ics_response(calendar: &Calendar, filename: &str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .body(calendar.to_string())
}

fn lang_of(user: &MaybeUser) -> String {
    user.0
        .as_ref()
        .map(|u| u.claims.user_lang.clone())
        .unwrap_or_else(|| "en".to_owned())
}

async fn get_session_ics(
    user: MaybeUser,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let snapshot = state.schedule.current();
    let (session, start, end) = scheduled(&snapshot, &path)?;
    let revision = revision_of(&state, &session.id).await;
    let mut calendar = Calendar::new();
    calendar.push(session_event(
        &state,
        session,
        (start, end),
        &lang_of(&user),
        revision,
    ));
    let name: String = session
        .id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    Ok(ics_response(&calendar.done(), &format!("{name}.ics")))
}

async fn get_google(
    user: MaybeUser,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let snapshot = state.schedule.current();
    let Ok((session, start, end)) = scheduled(&snapshot, &path) else {
        return HttpResponse::Found()
            .insert_header((
                header::LOCATION,
                format!("{}error", state.config.client_url),
            ))
            .finish();
    };
    let lang = lang_of(&user);
    let stamp = |t: DateTime<Utc>| t.format("%Y%m%dT%H%M%SZ").to_string();
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("action", "TEMPLATE")
        .append_pair("dates", &format!("{}/{}", stamp(start), stamp(end)))
        .append_pair("text", localised(&session.title, &lang, "Session"))
        .append_pair(
            "location",
            &format!("{}session/{}", state.config.client_url, session.id),
        )
        .finish();
    HttpResponse::Found()
        .insert_header((
            header::LOCATION,
            format!("https://calendar.google.com/event?{query}"),
        ))
        .finish()
}

/// `{url}` of the signed-in user's private feed.
async fn get_feed_url(
    user: AuthUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let token = state.tokens.sign_calendar(
        user.id(),
        &user.claims.user_lang,
        user.claims.ver,
        state.config.calendar_token_ttl,
    )?;
    Ok(HttpResponse::Ok()
        .json(json!({ "url": format!("{}calendar/me/{token}", state.config.self_url) })))
}

/// Every attended, scheduled session as one calendar, plus attended sessions a release cancelled within
/// `CALENDAR_CANCELLED_DAYS` as `STATUS:CANCELLED`; 401 for an expired or revoked token.
async fn get_feed(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let claims = state.tokens.verify_calendar(&path)?;
    state
        .authorize(&Presented {
            sub: claims.sub,
            ver: claims.ver,
            roles: &[],
        })
        .await?;
    let snapshot = state.schedule.current();
    let mut calendar = Calendar::new();
    calendar.name(&ics_text(&state.config.calendar_name));
    let first_import = changes::first_import(&state.db).await?;
    let kept_since = Utc::now()
        - chrono::Duration::from_std(state.config.calendar_cancelled_for)
            .unwrap_or(chrono::Duration::MAX);
    let lang = &claims.user_lang;
    for row in attendance::of_attendee(&state.db, claims.sub).await? {
        let history = changes::history(&state.db, &row.session).await?;
        let revision = Revision::of(history.as_ref(), first_import);
        if let Ok((session, start, end)) = scheduled(&snapshot, &row.session) {
            calendar.push(session_event(&state, session, (start, end), lang, revision));
        } else if let Some(history) = history
            .filter(|h| h.last.changes.contains(&ChangeKind::Cancelled) && h.modified >= kept_since)
            && let (Some(start), Some(end)) = (history.last.old.start, history.last.old.end)
        {
            let mut cancelled = event(
                &state,
                &row.session,
                &history.last.old.title,
                None,
                start,
                end,
                lang,
                revision,
            );
            cancelled.add_property("STATUS", "CANCELLED");
            calendar.push(cancelled);
        }
    }
    Ok(ics_response(&calendar.done(), "my-sessions.ics"))
}

#[cfg(test)]
mod tests {
    use super::ics_text;

    #[test]
    fn every_line_break_becomes_one_newline_and_other_controls_go() {
        assert_eq!(ics_text("a\r\nb\rc\nd\u{85}e\u{2028}f"), "a\nb\nc\nd\ne\nf");
        assert_eq!(ics_text("x\u{0}\u{7}\u{b}\u{1b}[31m\ty"), "x[31m\ty");
        assert_eq!(ics_text("Maps, mesh; 🦀"), "Maps, mesh; 🦀");
    }
}

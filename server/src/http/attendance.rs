//! "My Schedule": `GET /attendance/me`, `GET /attendance/:sessionId` (`isAttending`, `sessionCount`),
//! `POST /attendance/:sessionId/attend` (idempotent; 400 `general.badRequest` when the session is full) and
//! `POST /attendance/:sessionId/unattend`. Both changes are recorded in `logs` under plaza's own event names
//! ([`ATTEND_EVENT`], [`UNATTEND_EVENT`]): the client tracks `attendance/attend` / `unattend` itself over the socket,
//! and the reference's reporting queries count those, so the API must not log under the same names (issue #18).

use actix_web::{HttpResponse, web};
use plaza_core::ApiError;
use plaza_core::live::{ATTEND_EVENT, UNATTEND_EVENT};
use plaza_core::queries::attendance::{self, Attend};
use plaza_core::queries::logs::{self, NewLog};
use serde_json::json;

use super::HttpError;
use super::auth::AuthUser;
use crate::state::AppState;

/// Registers the attendance routes under the API base path.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/attendance/me").get(get_my_attendance))
        .service(web::resource("/attendance/{session_id}").get(get_session_attendance))
        .service(web::resource("/attendance/{session_id}/attend").post(post_attend))
        .service(web::resource("/attendance/{session_id}/unattend").post(post_unattend));
}

/// The session's capacity, or 404 when the served schedule has no such public session (an unknown id and a session
/// that is not public get the same 404).
fn session_cap(state: &AppState, id: &str) -> Result<Option<u32>, HttpError> {
    let snapshot = state.schedule.current();
    let session = snapshot.session(id).ok_or(ApiError::NotFound)?;
    Ok(session.participant_cap)
}

async fn get_my_attendance(
    user: AuthUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let rows = attendance::of_attendee(&state.db, user.id()).await?;
    Ok(HttpResponse::Ok().json(json!({ "attendance": rows })))
}

async fn get_session_attendance(
    user: AuthUser,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    session_cap(&state, &path)?;
    let (attending, count) = tokio::try_join!(
        attendance::is_attending(&state.db, user.id(), &path),
        attendance::count(&state.db, &path)
    )?;
    Ok(HttpResponse::Ok().json(json!({ "isAttending": attending, "sessionCount": count })))
}

async fn post_attend(
    user: AuthUser,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let cap = session_cap(&state, &path)?;
    match attendance::attend(&state.db, user.id(), &path, cap).await? {
        Attend::Full => return Err(ApiError::bad_request("general.badRequest").into()),
        Attend::Added => record(&state, user.id(), ATTEND_EVENT, &path).await,
        Attend::AlreadyAttending => {}
    }
    Ok(HttpResponse::Ok().json(json!({ "message": "ok" })))
}

async fn post_unattend(
    user: AuthUser,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    session_cap(&state, &path)?;
    if attendance::unattend(&state.db, user.id(), &path).await? {
        record(&state, user.id(), UNATTEND_EVENT, &path).await;
    }
    Ok(HttpResponse::Ok().json(json!({ "message": "ok" })))
}

/// Stores a metric event; a failure is logged, never fails the request the attendee made.
async fn record(state: &AppState, attendee: i32, event: &str, session: &str) {
    let entry = NewLog {
        event: event.to_owned(),
        attendee: Some(attendee),
        socket: None,
        data: json!({ "sessionId": session }),
    };
    if let Err(err) = logs::insert_many(&state.db, &[entry]).await {
        tracing::warn!(%err, event, "could not store a metric event");
    }
}

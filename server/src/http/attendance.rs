//! "My Schedule": `GET /attendance/me`, `GET /attendance/:sessionId` (`isAttending`, `sessionCount`),
//! `POST /attendance/:sessionId/attend` (idempotent; 400 `general.badRequest` when the session is full) and
//! `POST /attendance/:sessionId/unattend`. Both changes are recorded in `logs` under plaza's own event names
//! ([`ATTEND_EVENT`], [`UNATTEND_EVENT`]): the client tracks `attendance/attend` / `unattend` itself over the socket,
//! and the reference's reporting queries count those, so the API must not log under the same names (issue #18).
//!
//! An attendee's list is kept in memory ([`MySchedule`] in a [`KeyedView`] on [`ATTENDANCE_CHANNEL`], issue #19)
//! with its `GET /attendance/me` body encoded once: attend and unattend drop it here before answering and tell the
//! other processes; the access TTL (`AUTH_CACHE_TTL_MS`) bounds staleness when a notice is lost, and
//! `ATTENDANCE_CACHE_MAX_BYTES` the memory.

use std::sync::Arc;

use actix_web::http::header::ContentType;
use actix_web::web::Bytes;
use actix_web::{HttpResponse, web};
use plaza_core::ApiError;
use plaza_core::cache::view::{Changed, KeyedView};
use plaza_core::live::{ATTEND_EVENT, UNATTEND_EVENT};
use plaza_core::queries::attendance::{self, Attend};
use plaza_core::queries::logs::{self, NewLog};
use serde_json::json;

use super::HttpError;
use super::auth::AuthUser;
use crate::state::AppState;

/// The cache channel carrying "this attendee's list changed": an attendee id, or `all`.
pub const ATTENDANCE_CHANNEL: &str = "notify.attendance";

/// One attendee's sessions, as kept in memory.
#[derive(Debug)]
pub struct MySchedule {
    /// The rows, oldest first.
    rows: Vec<attendance::Attendance>,
    /// The `GET /attendance/me` body.
    body: Bytes,
}

impl MySchedule {
    fn new(rows: Vec<attendance::Attendance>) -> Result<Self, ApiError> {
        let body = serde_json::to_vec(&json!({ "attendance": rows })).map_err(|e| {
            ApiError::Internal(anyhow::anyhow!("cannot encode an attendance list: {e}"))
        })?;
        Ok(Self {
            rows,
            body: body.into(),
        })
    }

    /// True when the session with `id` is in the list.
    pub fn attends(&self, id: &str) -> bool {
        self.rows.iter().any(|row| row.session == id)
    }

    /// What it weighs in the view: the rows and the encoded body.
    fn weight(&self) -> usize {
        let rows: usize = self
            .rows
            .iter()
            .map(|row| size_of::<attendance::Attendance>() + row.session.len())
            .sum();
        size_of::<Self>() + rows + self.body.len()
    }
}

/// The view of every attendee's list in this process.
pub type ScheduleView = KeyedView<MySchedule>;

/// A view keeping lists for `ttl` (zero: none), weighing at most about `max_bytes`.
pub fn schedule_view(
    cache: plaza_core::Cache,
    ttl: std::time::Duration,
    max_bytes: usize,
) -> ScheduleView {
    KeyedView::new(
        cache,
        ATTENDANCE_CHANNEL,
        ttl,
        max_bytes,
        MySchedule::weight,
    )
}

/// Attendee `id`'s list: the kept one (reloaded in the background once half its TTL old), else read and kept.
pub async fn my_schedule(state: &AppState, id: i32) -> Result<Arc<MySchedule>, ApiError> {
    let view = &state.my_schedules;
    if let Some(hit) = view.lookup(id) {
        if hit.refresh {
            let db = state.db.clone();
            view.refresh(id, async move { load(&db, id).await.map(Some) });
        }
        return Ok(hit.value);
    }
    let epoch = view.epoch();
    let list = Arc::new(load(&state.db, id).await?);
    view.insert(id, list.clone(), epoch);
    Ok(list)
}

async fn load(db: &plaza_core::Db, id: i32) -> Result<MySchedule, ApiError> {
    MySchedule::new(attendance::of_attendee(db, id).await?)
}

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
    let list = my_schedule(&state, user.id()).await?;
    Ok(HttpResponse::Ok()
        .content_type(ContentType::json())
        .body(list.body.clone()))
}

async fn get_session_attendance(
    user: AuthUser,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    session_cap(&state, &path)?;
    let (list, count) = tokio::try_join!(my_schedule(&state, user.id()), async {
        Ok(attendance::count(&state.db, &path).await?)
    })?;
    Ok(HttpResponse::Ok()
        .json(json!({ "isAttending": list.attends(&path), "sessionCount": count })))
}

async fn post_attend(
    user: AuthUser,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let cap = session_cap(&state, &path)?;
    match attendance::attend(&state.db, user.id(), &path, cap).await? {
        Attend::Full => return Err(ApiError::bad_request("general.badRequest").into()),
        Attend::Added => {
            state.my_schedules.changed(Changed::One(user.id())).await;
            record(&state, user.id(), ATTEND_EVENT, &path).await;
        }
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
        state.my_schedules.changed(Changed::One(user.id())).await;
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

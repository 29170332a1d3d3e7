//! The `/schedule` family: the schedule and what's on (from memory, with ETag/304 and gzip/brotli), a session's
//! links (released 30 minutes before its start; admins always), and the admin-only lint report.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use plaza_core::ApiError;
use serde_json::json;

use super::HttpError;
use super::auth::{AdminUser, AuthUser};
use super::representation::serve;
use crate::state::AppState;

/// Links are released this long before a session starts (the reference's `LINKS_GRACE_MS`).
const LINKS_GRACE: chrono::Duration = chrono::Duration::minutes(30);

/// Registers the schedule routes under the API base path.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/schedule").get(get_schedule))
        .service(web::resource("/schedule/whats-on").get(get_whats_on))
        .service(web::resource("/schedule/lint").get(get_lint))
        .service(web::resource("/schedule/{session_id}/links").get(get_links));
}

async fn get_schedule(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.schedule.current();
    serve(&req, &snapshot.schedule_body)
}

async fn get_whats_on(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.schedule.current();
    serve(&req, &snapshot.whats_on_body)
}

/// `{links}` of a session: admins always; others once the session starts within 30 minutes (and, for a capped
/// session, only when attending it).
async fn get_links(
    user: AuthUser,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let snapshot = state.schedule.current();
    let session = snapshot.session(&path).ok_or(ApiError::NotFound)?;
    if !user.is_admin() {
        if session.participant_cap.is_some()
            && !super::attendance::my_schedule(&state, user.id())
                .await?
                .attends(&session.id)
        {
            return Err(ApiError::Unauthorized("general.unauthorized").into());
        }
        let slot = session.slot.as_deref().ok_or(ApiError::NotFound)?;
        let (start, _) = snapshot.slot_times(slot).ok_or(ApiError::NotFound)?;
        if start - LINKS_GRACE > Utc::now() {
            return Err(ApiError::Unauthorized("general.unauthorized").into());
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "links": session.links })))
}

/// The lint report as an HTML page (admins only; every value escaped).
async fn get_lint(_admin: AdminUser, state: web::Data<AppState>) -> HttpResponse {
    let snapshot = state.schedule.current();
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(super::lint_page::render(&snapshot))
}

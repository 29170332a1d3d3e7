//! The `/schedule` family: the schedule and what's on (from memory, with ETag/304 and gzip/brotli), a session's
//! links (released 30 minutes before its start; admins always), and the admin-only lint report.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use plaza_core::ApiError;
use plaza_core::queries::attendance;
use serde_json::json;

use super::HttpError;
use super::auth::{AdminUser, AuthUser};
use crate::snapshot::Representation;
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

/// The encodings plaza serves, best first.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Encoding {
    Brotli,
    Gzip,
    Identity,
}

/// Picks the best encoding the client accepts (`q=0` excludes one).
fn negotiate(accept: Option<&HeaderValue>) -> Encoding {
    let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
        return Encoding::Identity;
    };
    let accepts = |name: &str| {
        accept.split(',').any(|part| {
            let mut pieces = part.split(';');
            let coding = pieces.next().unwrap_or_default().trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            (coding.eq_ignore_ascii_case(name) || coding == "*") && q > 0.0
        })
    };
    if accepts("br") {
        Encoding::Brotli
    } else if accepts("gzip") {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

/// Serves a pre-built representation: 304 when `If-None-Match` names it, else the best encoding with its ETag.
fn serve(req: &HttpRequest, rep: &Representation) -> HttpResponse {
    let encoding = negotiate(req.headers().get(header::ACCEPT_ENCODING));
    let (body, etag, coding) = match encoding {
        Encoding::Brotli => (&rep.br, format!("\"{}-br\"", rep.tag), Some("br")),
        Encoding::Gzip => (&rep.gzip, format!("\"{}-gz\"", rep.tag), Some("gzip")),
        Encoding::Identity => (&rep.identity, format!("\"{}\"", rep.tag), None),
    };
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim().trim_start_matches("W/").trim_matches('"');
                t == "*" || t.split('-').next() == Some(rep.tag.as_str())
            })
        });
    let mut response = if matches {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=0, must-revalidate"));
    if matches {
        return response.finish();
    }
    if let Some(coding) = coding {
        response.insert_header((header::CONTENT_ENCODING, coding));
    }
    response.content_type("application/json").body(body.clone())
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
            && !attendance::is_attending(&state.db, user.id(), &session.id).await?
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_prefers_brotli_and_honours_q_zero() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(negotiate(Some(&h("gzip, deflate, br"))), Encoding::Brotli);
        assert_eq!(negotiate(Some(&h("gzip, br;q=0"))), Encoding::Gzip);
        assert_eq!(negotiate(Some(&h("identity"))), Encoding::Identity);
        assert_eq!(negotiate(None), Encoding::Identity);
    }
}

//! Share pages: `GET /share/session/:id` is a small HTML page with OpenGraph and Twitter card tags that sends the
//! visitor on to the session in the client; `GET /share/session` redirects to the client.
//!
//! Unlike the reference, every interpolated value is HTML-escaped; the event's name, handle and image come from the
//! content settings (`site`), not hard-coded strings; the public page is cached in the served snapshot (so a new
//! schedule or new settings drop it) while the `?dev` variant — the head shown as text — is never cached. Each visit
//! is logged as `session/shareVisit` with its referer through the batched [`LazyLogSink`](crate::log_sink).

use std::fmt::Write as _;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use plaza_core::ApiError;
use plaza_core::model::schedule::Session;
use plaza_core::queries::logs::NewLog;
use serde_json::json;

use super::HttpError;
use super::lint_page::escape;
use crate::snapshot::Snapshot;
use crate::state::AppState;

/// Longest `og:description`, in characters (the reference's cut).
const DESCRIPTION_CHARS: usize = 200;
/// Site name when the settings do not give one.
const DEFAULT_SITE_NAME: &str = "Plaza";

/// Registers the share routes under the API base path.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/share/session").get(get_share_index))
        .service(web::resource("/share/session/{session_id}").get(get_share_session));
}

async fn get_share_index(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, state.config.client_url.clone()))
        .finish()
}

async fn get_share_session(
    req: HttpRequest,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let dev = req
        .query_string()
        .split('&')
        .any(|p| p == "dev" || p.starts_with("dev="));
    let snapshot = state.schedule.current();
    let session = snapshot
        .session(&id)
        .filter(|s| s.title.get("en").is_some_and(|t| !t.trim().is_empty()))
        .ok_or(ApiError::NotFound)?;
    log_visit(&state, &session.id, &req);
    if dev {
        let head = head(&snapshot, session, &state.config.client_url);
        let body = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>share page preview</title></head>\
             <body><pre>{}</pre></body></html>",
            escape(&head)
        );
        return Ok(html(body.into(), "no-store"));
    }
    let cached = snapshot
        .share_pages
        .lock()
        .ok()
        .and_then(|pages| pages.get(&session.id).cloned());
    let page = match cached {
        Some(page) => page,
        None => {
            let page: Bytes = page(&head(&snapshot, session, &state.config.client_url)).into();
            if let Ok(mut pages) = snapshot.share_pages.lock() {
                pages.insert(session.id.clone(), page.clone());
            }
            page
        }
    };
    Ok(html(page, "public, max-age=300"))
}

fn html(body: Bytes, cache_control: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, cache_control.to_owned()))
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn page(head: &str) -> String {
    format!("<!doctype html><html><head>{head}</head><body><p>Redirecting…</p></body></html>")
}

/// The page head: title, OpenGraph and Twitter tags, and the refresh to the session. Every value is escaped.
fn head(snapshot: &Snapshot, session: &Session, client_url: &str) -> String {
    let site = snapshot.settings.site.as_ref();
    let site_name = site.map_or(DEFAULT_SITE_NAME, |s| s.name.as_str());
    let title = session.title.get("en").map_or("", |t| t.trim());
    let description = summary(session.content.get("en").map_or("", String::as_str));
    let url = format!("{client_url}session/{}?ref=share", encode(&session.id));
    let image = session
        .cover_image
        .as_deref()
        .filter(|i| i.starts_with("https://"))
        .map(str::to_owned)
        .or_else(|| site.and_then(|s| s.share_image.clone()))
        .unwrap_or_else(|| format!("{client_url}opengraph-session.png"));
    let mut out = String::with_capacity(1024);
    let mut meta = |attr: &str, key: &str, value: &str| {
        let _ = write!(out, "<meta {attr}=\"{key}\" content=\"{}\">", escape(value));
    };
    meta("name", "viewport", "width=device-width, initial-scale=1");
    meta("property", "og:title", title);
    meta("property", "og:description", &description);
    meta("property", "og:type", "website");
    meta("property", "og:site_name", site_name);
    meta("property", "og:url", &url);
    meta("property", "og:image", &image);
    meta("name", "twitter:card", "summary_large_image");
    if let Some(handle) = site.and_then(|s| s.twitter.as_deref()) {
        meta("name", "twitter:site", handle);
    }
    meta("http-equiv", "refresh", &format!("0; url={url}"));
    format!(
        "<meta charset=\"utf-8\"><title>{} | {}</title>{out}<link rel=\"canonical\" href=\"{}\">",
        escape(title),
        escape(site_name),
        escape(&url)
    )
}

/// The first [`DESCRIPTION_CHARS`] characters of `text` with whitespace collapsed (never cutting a character).
fn summary(text: &str) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match collapsed.char_indices().nth(DESCRIPTION_CHARS) {
        Some((cut, _)) => format!("{}…", collapsed[..cut].trim_end()),
        None => collapsed,
    }
}

/// Percent-encodes a path segment.
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

/// Records `session/shareVisit` through the batched log writer; never delays or fails the page.
fn log_visit(state: &AppState, session: &str, req: &HttpRequest) {
    let referer = req
        .headers()
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .map(|r| r.chars().take(1000).collect::<String>());
    let entry = NewLog {
        event: "session/shareVisit".into(),
        attendee: None,
        socket: None,
        data: json!({ "sessionId": session, "referer": referer }),
    };
    state.logs.push(entry);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_cut_on_characters_and_collapse_whitespace() {
        let long = "é".repeat(300);
        let cut = summary(&long);
        assert_eq!(cut.chars().count(), DESCRIPTION_CHARS + 1);
        assert_eq!(summary("a\n\n  b"), "a b");
    }
}

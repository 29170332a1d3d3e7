//! `GET /content/:slug`: a page's pre-rendered HTML per locale, `{content: {en: html, es: html}}`, from memory with
//! ETag/304 and gzip/brotli. A malformed slug is 400, an unknown page 404.

use actix_web::{HttpRequest, HttpResponse, web};
use plaza_core::ApiError;
use plaza_core::config::is_slug;

use super::HttpError;
use super::representation::serve;
use crate::state::AppState;

/// Registers the content route under the API base path.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/content/{slug}").get(get_content));
}

async fn get_content(
    req: HttpRequest,
    slug: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    if !is_slug(&slug) {
        return Err(ApiError::invalid("a page slug has only letters, digits, - and _").into());
    }
    let snapshot = state.content.current();
    let page = snapshot
        .pages
        .get(slug.as_str())
        .ok_or(ApiError::NotFound)?;
    Ok(serve(&req, page))
}

//! General routes of the deconf API: `GET /` (name and version), as the reference answers it.

use actix_web::{HttpResponse, web};
use serde_json::json;

/// Registers the general routes under the API base path.
pub fn config(cfg: &mut web::ServiceConfig) {
    // Two static resources rather than one with two patterns: actix matches a multi-pattern resource with a regex
    // set, and this one is tried before every other route of the scope (issue #19).
    cfg.service(web::resource("").get(get_index))
        .service(web::resource("/").get(get_index));
}

/// `{message: "ok", pkg: {name, version}}`.
async fn get_index() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "message": "ok",
        "pkg": { "name": "plaza", "version": env!("CARGO_PKG_VERSION") },
    }))
}

//! `GET {API_BASE_PATH}/openapi.json`: the OpenAPI 3.1 document of the HTTP API. `openapi.json` beside this file is
//! the source of truth (`tests/tests/openapi.rs` fails when a route and the document disagree on a path, a method or
//! a parameter name); it is served with `servers` set to this deployment's base path.

use actix_web::{HttpResponse, web};
use plaza_core::ApiError;
use serde_json::{Value, json};

use super::HttpError;
use crate::state::AppState;

/// The document as written.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Registers the route under the API base path.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/openapi.json").get(get_openapi));
}

/// The document for a deployment whose API lives under `base` (`""` = the root).
pub fn document(base: &str) -> Result<Value, serde_json::Error> {
    let mut doc: Value = serde_json::from_str(DOCUMENT)?;
    let url = if base.is_empty() { "/" } else { base };
    doc["servers"] = json!([{ "url": url }]);
    doc["info"]["version"] = json!(env!("CARGO_PKG_VERSION"));
    Ok(doc)
}

async fn get_openapi(state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    let doc = document(&state.config.api_base_path).map_err(|err| {
        ApiError::Internal(anyhow::anyhow!("the bundled OpenAPI document: {err}"))
    })?;
    Ok(HttpResponse::Ok().json(doc))
}

#[cfg(test)]
mod tests {
    use super::document;

    #[test]
    fn the_document_parses_and_names_this_deployments_base_path() {
        let doc = document("/api").expect("valid JSON");
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "/api");
        assert_eq!(document("").expect("valid")["servers"][0]["url"], "/");
    }
}

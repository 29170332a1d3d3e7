//! The attendee web client: the Vite build in `CLIENT_DIR`, read once at start and served from memory at `/` —
//! gzip/brotli pre-built for text formats, ETags, `immutable` caching for hashed files under `assets/`, and an SPA
//! fallback (any other extension-less GET outside the API answers `index.html`). `GET /client-config.json` tells the
//! client where the API and socket.io live, so one build works same-origin (`all`) and behind an ingress.

use std::collections::HashMap;
use std::path::Path;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse, web};
use plaza_core::ApiError;
use serde_json::json;

use super::HttpError;
use super::representation::{REVALIDATE, serve_with};
use crate::snapshot::Representation;
use crate::state::AppState;

/// Cache policy of content-hashed build files.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// What a client build may hold: 64 MiB in all, any depth, hidden files included (symlinks are skipped).
const LIMITS: plaza_core::tree::Limits = plaza_core::tree::Limits {
    max_file_bytes: 64 * 1024 * 1024,
    max_total_bytes: 64 * 1024 * 1024,
    max_files: usize::MAX,
    max_depth: usize::MAX,
    skip_hidden: false,
};

/// The client build, by path relative to `CLIENT_DIR` (`/`-separated).
#[derive(Debug, Default)]
pub struct ClientFiles {
    files: HashMap<String, Representation>,
}

impl ClientFiles {
    /// Reads `dir` (a missing folder serves no client, with a warning: API-only deployments need none).
    pub fn load(dir: Option<&Path>) -> anyhow::Result<Self> {
        let Some(dir) = dir else {
            return Ok(Self::default());
        };
        if !dir.is_dir() {
            tracing::warn!(
                dir = %dir.display(),
                "no web client build found (CLIENT_DIR); run scripts/run or `npm ci && npm run build` in client/"
            );
            return Ok(Self::default());
        }
        let tree = plaza_core::tree::read(dir, &LIMITS).map_err(anyhow::Error::msg)?;
        for skipped in &tree.skipped {
            tracing::warn!(dir = %dir.display(), "client build: {skipped}");
        }
        let files = tree
            .files
            .into_iter()
            .map(|(path, body)| {
                let (content_type, compress) = content_type(&path);
                Ok((path, Representation::bytes(body, content_type, compress)?))
            })
            .collect::<anyhow::Result<HashMap<_, _>>>()?;
        tracing::info!(dir = %dir.display(), files = files.len(), "serving the web client");
        Ok(Self { files })
    }

    /// True when a build with an `index.html` was found.
    pub fn is_present(&self) -> bool {
        self.files.contains_key("index.html")
    }
}

/// Registers `/client-config.json` (the catch-all is [`serve_client`], the app's default service).
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/client-config.json").get(get_client_config));
}

/// Where the client finds the API and socket.io.
async fn get_client_config(state: web::Data<AppState>) -> HttpResponse {
    let base = state.config.api_base_path.trim_end_matches('/');
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-cache"))
        .json(json!({
            "apiBase": base,
            "socketUrl": state.config.socket_url.as_deref().unwrap_or_default(),
            "socketPath": state.config.socket_path,
        }))
}

/// The default service: a client file, the SPA fallback, or the JSON 404.
pub async fn serve_client(
    req: HttpRequest,
    state: web::Data<AppState>,
    client: web::Data<ClientFiles>,
) -> Result<HttpResponse, HttpError> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return Err(ApiError::NotFound.into());
    }
    let path = req.path().trim_start_matches('/');
    let path = if path.is_empty() { "index.html" } else { path };
    if let Some(file) = client.files.get(path) {
        let cache = if path.starts_with("assets/") {
            IMMUTABLE
        } else {
            REVALIDATE
        };
        return Ok(serve_with(&req, file, cache));
    }
    let api = state.config.api_base_path.trim_end_matches('/');
    let in_api =
        !api.is_empty() && (req.path() == api || req.path().starts_with(&format!("{api}/")));
    let is_route = !path.rsplit('/').next().unwrap_or_default().contains('.');
    match client.files.get("index.html") {
        Some(index) if is_route && !in_api => Ok(serve_with(&req, index, REVALIDATE)),
        None if path == "index.html" => Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(
            "<!doctype html><meta charset=\"utf-8\"><title>plaza</title><p>The plaza API is running at \
             <a href=\"api/\">/api/</a>. The web client is not built: run <code>scripts/run</code>, or \
             <code>npm ci &amp;&amp; npm run build</code> in <code>client/</code> (see CLIENT_DIR).</p>",
        )),
        _ => Err(ApiError::NotFound.into()),
    }
}

/// `Content-Type` by extension, and whether compressing helps.
fn content_type(name: &str) -> (&'static str, bool) {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => ("text/html; charset=utf-8", true),
        "js" | "mjs" => ("text/javascript; charset=utf-8", true),
        "css" => ("text/css; charset=utf-8", true),
        "json" | "map" => ("application/json", true),
        "webmanifest" => ("application/manifest+json", true),
        "svg" => ("image/svg+xml", true),
        "txt" => ("text/plain; charset=utf-8", true),
        "ico" => ("image/x-icon", true),
        "png" => ("image/png", false),
        "jpg" | "jpeg" => ("image/jpeg", false),
        "webp" => ("image/webp", false),
        "avif" => ("image/avif", false),
        "woff2" => ("font/woff2", false),
        "woff" => ("font/woff", false),
        _ => ("application/octet-stream", false),
    }
}

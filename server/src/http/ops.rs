//! Operations endpoints at the root: `/healthz` (alive), `/readyz` (dependencies reachable), `/metrics`.

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::state::AppState;
use crate::telemetry;

/// Registers the operations routes.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/healthz").get(get_healthz))
        .service(web::resource("/readyz").get(get_readyz))
        .service(web::resource("/metrics").get(get_metrics));
}

/// Liveness: the process answers. Touches no dependency, so a Redis outage never restarts pods.
async fn get_healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: cache and database answer within `READINESS_TIMEOUT_MS`, and the process is not draining.
async fn get_readyz(state: web::Data<AppState>) -> HttpResponse {
    let (ready, body) = readiness(&state).await;
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// The readiness verdict and its JSON body (`/readyz` of the API and of live pods).
pub async fn readiness(state: &AppState) -> (bool, serde_json::Value) {
    let timeout = state.config.readiness_timeout;
    let (cache, database) = tokio::join!(
        check(timeout, state.cache.ping()),
        check(timeout, state.db.ping())
    );
    let draining = state.is_draining();
    let checks = json!({
        "cache": { "kind": state.cache.kind(), "status": status_text(&cache) },
        "database": { "kind": format!("{:?}", state.db.kind()).to_lowercase(), "status": status_text(&database) },
        "draining": draining,
    });
    if cache.is_ok() && database.is_ok() && !draining {
        return (true, json!({ "status": "ok", "checks": checks }));
    }
    let failing: Vec<&str> = [
        ("cache", cache.is_err()),
        ("database", database.is_err()),
        ("draining", draining),
    ]
    .into_iter()
    .filter_map(|(name, bad)| bad.then_some(name))
    .collect();
    tracing::warn!(?checks, "not ready");
    let envelope = plaza_core::ApiError::Unavailable(failing.join(", ")).envelope();
    let body = json!({
        "error": envelope.error,
        "codes": envelope.codes,
        "status": "error",
        "checks": checks,
    });
    (false, body)
}

/// Runs one dependency check within `timeout`.
async fn check<E: std::fmt::Display>(
    timeout: std::time::Duration,
    probe: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), String> {
    match tokio::time::timeout(timeout, probe).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err("timed out".to_owned()),
    }
}

fn status_text(result: &Result<(), String>) -> String {
    match result {
        Ok(()) => "ok".to_owned(),
        Err(err) => format!("error: {err}"),
    }
}

/// Prometheus text exposition of every metric this process records.
async fn get_metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(telemetry::metrics_handle().render())
}

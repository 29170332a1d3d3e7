//! Operations endpoints at the root: `/healthz` (alive, with the dependencies' state), `/readyz` (this process can
//! do its main job: see [`readiness`]), `/metrics`.

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

/// Liveness: the process answers. Touches no dependency (the detail is the monitor's last probe), so an outage
/// never restarts pods.
async fn get_healthz(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(health(&state))
}

/// Readiness: this process can do its main job now (see [`readiness`]).
async fn get_readyz(state: web::Data<AppState>) -> HttpResponse {
    let (ready, body) = readiness(&state, Role::Api);
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// What a process is ready for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The HTTP API (also `all`): ready once a schedule snapshot is loaded.
    Api,
    /// A live-only process: ready while its listener is up.
    Live,
}

/// The `/healthz` body: alive, plus the dependencies as the monitor last saw them (for people and dashboards;
/// `plaza_dependency_up` carries the same to Prometheus).
pub fn health(state: &AppState) -> serde_json::Value {
    json!({
        "status": "ok",
        "dependencies": state.health().snapshot(),
        "schedule": { "version": state.schedule.current().version, "loaded": state.schedule.is_loaded() },
    })
}

/// The readiness verdict and its JSON body. Ready means "this process can do its main job now": the listener
/// answers (this very request), the process is not draining and, for the API, a schedule snapshot is loaded (the
/// published one, or the database's word that none is). Dependencies are *not* part of it: a Redis or Postgres
/// outage degrades some routes (README: what each route does while a dependency is down) but taking every pod out
/// of its Service would turn that into a full outage. They are reported in the body for people.
pub fn readiness(state: &AppState, role: Role) -> (bool, serde_json::Value) {
    let draining = state.is_draining();
    let loaded = role == Role::Live || state.schedule.is_loaded();
    let checks = json!({
        "draining": draining,
        "schedule": { "loaded": state.schedule.is_loaded(), "version": state.schedule.current().version },
    });
    let dependencies = state.health().snapshot();
    if loaded && !draining {
        return (
            true,
            json!({ "status": "ok", "checks": checks, "dependencies": dependencies }),
        );
    }
    let failing = if draining { "draining" } else { "schedule" };
    tracing::warn!(?checks, "not ready");
    let envelope = plaza_core::ApiError::Unavailable(failing.to_owned()).envelope();
    let body = json!({
        "error": envelope.error,
        "codes": envelope.codes,
        "status": "error",
        "checks": checks,
        "dependencies": dependencies,
    });
    (false, body)
}

/// Prometheus text exposition of every metric this process records.
async fn get_metrics() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(telemetry::metrics_handle().render())
}

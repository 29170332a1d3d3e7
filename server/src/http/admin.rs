//! Admin routes: Pretalx import status and trigger (`/admin/pretalx`), schedule versions and rollback.

use actix_web::{HttpResponse, web};
use plaza_core::ApiError;
use plaza_core::config::PretalxSource;
use plaza_core::queries::versions::{self, Table};
use plaza_jobs::{JobError, schedule};
use serde_json::json;

use super::HttpError;
use super::auth::AdminUser;
use crate::state::AppState;

/// Registers the admin routes under the API base path.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/pretalx")
            .get(get_pretalx)
            .post(post_pretalx),
    )
    .service(web::resource("/admin/schedule/versions").get(get_versions))
    .service(web::resource("/admin/schedule/versions/{id}/publish").post(post_publish_version))
    .service(web::resource("/admin/users/{id}/revoke").post(post_revoke_user));
}

/// `{isEnabled, isRunning}`: a source is configured (a Pretalx token, or the demo event), and whether an import
/// holds the lock right now (locks expire, so a crashed import does not read as running forever).
async fn get_pretalx(
    _admin: AdminUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let running = plaza_jobs::is_running(&state.jobs(), schedule::JOB).await?;
    let source = match &state.config.pretalx {
        PretalxSource::Api { .. } => "pretalx",
        PretalxSource::Demo => "demo",
    };
    Ok(HttpResponse::Ok()
        .json(json!({ "isEnabled": true, "isRunning": running, "source": source })))
}

/// Starts an import in the background; 400 `admin.alreadyRunning` when one holds the lock.
async fn post_pretalx(
    _admin: AdminUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let ctx = state.jobs();
    let guard = plaza_jobs::acquire(&ctx, schedule::JOB, schedule::LOCK_TTL)
        .await
        .map_err(job_error)?;
    tokio::spawn(async move {
        // The runner logs failures and records them in /metrics.
        let _ = guard.run(|| schedule::import(&ctx)).await;
    });
    Ok(HttpResponse::Ok().json(json!({ "message": "ok" })))
}

fn job_error(err: JobError) -> HttpError {
    match err {
        JobError::AlreadyRunning(_) => ApiError::bad_request("admin.alreadyRunning").into(),
        JobError::Failed(err) => ApiError::Internal(err).into(),
    }
}

/// The 50 newest schedule versions.
async fn get_versions(
    _admin: AdminUser,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let versions = versions::list(&state.db, Table::Schedule, 50).await?;
    let served = state.schedule.current().version;
    let versions: Vec<_> = versions
        .into_iter()
        .map(|v| {
            json!({
                "id": v.id, "created": v.created, "source": v.source, "hash": v.content_hash,
                "counts": v.counts.0, "publishedAt": v.published_at, "served": v.id == served,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "versions": versions })))
}

/// Re-publishes version `id` (rollback); 404 for an unknown id.
async fn post_publish_version(
    _admin: AdminUser,
    path: web::Path<i64>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let id = path.into_inner();
    if versions::get(&state.db, Table::Schedule, id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound.into());
    }
    let published = schedule::publish_version(&state.jobs(), id)
        .await
        .map_err(job_error)?;
    Ok(HttpResponse::Ok().json(json!({ "message": "ok", "version": published.version })))
}

/// Revokes every token of attendee `id` (bumps their token version); 404 for an unknown id.
async fn post_revoke_user(
    _admin: AdminUser,
    path: web::Path<i32>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    if !plaza_core::queries::attendees::revoke_tokens(&state.db, path.into_inner()).await? {
        return Err(ApiError::NotFound.into());
    }
    Ok(HttpResponse::Ok().json(json!({ "message": "ok" })))
}

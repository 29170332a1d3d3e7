//! Admin routes: the imports' status and trigger (`/admin/pretalx` as in deconf, or `/admin/schedule`;
//! `/admin/content`), their stored versions and rollback (`/admin/{schedule|content}/versions`), and token
//! revocation.

use std::time::Duration;

use actix_web::{HttpResponse, web};
use plaza_core::ApiError;
use plaza_core::config::{ContentSource, PretalxSource};
use plaza_core::queries::versions::{self, Table};
use plaza_jobs::content::{self, Origin};
use plaza_jobs::{JobContext, JobError, schedule};
use serde::Deserialize;
use serde_json::json;

use super::HttpError;
use super::auth::AdminUser;
use crate::state::AppState;

/// Registers the admin routes under the API base path.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/{import}")
            .get(get_status)
            .post(post_start),
    )
    .service(web::resource("/admin/schedule/versions/{id}/changes").get(get_version_changes))
    .service(web::resource("/admin/{import}/versions").get(get_versions))
    .service(web::resource("/admin/{import}/versions/{id}/publish").post(post_publish_version))
    .service(web::resource("/admin/users/{id}/revoke").post(post_revoke_user));
}

/// An import the admin routes drive, named by its path segment (`pretalx` is deconf's name for the schedule).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Import {
    #[serde(alias = "pretalx")]
    Schedule,
    Content,
}

impl Import {
    fn job(self) -> (&'static str, Duration) {
        match self {
            Self::Schedule => (schedule::JOB, schedule::LOCK_TTL),
            Self::Content => (content::JOB, content::LOCK_TTL),
        }
    }

    fn table(self) -> Table {
        match self {
            Self::Schedule => Table::Schedule,
            Self::Content => Table::Content,
        }
    }

    /// Where the next run reads: `pretalx`/`demo` for the schedule, `git`/`bundled` for content.
    fn source(self, state: &AppState) -> &'static str {
        match (self, &state.config.pretalx, &state.config.content) {
            (Self::Schedule, PretalxSource::Api { .. }, _) => "pretalx",
            (Self::Schedule, PretalxSource::Demo, _) => "demo",
            (Self::Content, _, ContentSource::Git { .. }) => "git",
            (Self::Content, _, ContentSource::Bundled) => "bundled",
        }
    }

    /// The version this process serves (0: the bundled content, before any import).
    fn served(self, state: &AppState) -> i64 {
        match self {
            Self::Schedule => state.schedule.current().version,
            Self::Content => state.content.current().version,
        }
    }

    /// One import, without the lock (the caller holds it).
    async fn run(self, ctx: JobContext) -> anyhow::Result<()> {
        match self {
            Self::Schedule => schedule::import(&ctx).await.map(drop),
            Self::Content => content::import(&ctx, &Origin::Configured).await.map(drop),
        }
    }

    /// Publishes stored version `id` again; returns the version now published.
    async fn publish(self, ctx: &JobContext, id: i64) -> Result<i64, JobError> {
        Ok(match self {
            Self::Schedule => schedule::publish_version(ctx, id).await?.version,
            Self::Content => content::publish_version(ctx, id).await?.version,
        })
    }
}

/// `GET /admin/{pretalx|schedule|content}`: `{isEnabled, isRunning, source, version}` — a source is always
/// configured (the demo event and the bundled content stand in), whether a run holds the lock right now (locks
/// expire, so a crashed run does not read as running forever), and the version this process serves.
async fn get_status(
    _admin: AdminUser,
    path: web::Path<Import>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let import = path.into_inner();
    let running = plaza_jobs::is_running(&state.jobs(), import.job().0).await?;
    Ok(HttpResponse::Ok().json(json!({
        "isEnabled": true, "isRunning": running, "source": import.source(&state),
        "version": import.served(&state),
    })))
}

/// `POST /admin/{pretalx|schedule|content}`: starts a run in the background; 400 `admin.alreadyRunning` when one
/// holds the lock.
async fn post_start(
    _admin: AdminUser,
    path: web::Path<Import>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let import = path.into_inner();
    let ctx = state.jobs();
    let (job, ttl) = import.job();
    let guard = plaza_jobs::acquire(&ctx, job, ttl)
        .await
        .map_err(job_error)?;
    tokio::spawn(async move {
        // The runner logs failures and records them in /metrics.
        let _ = guard.run(|| import.run(ctx)).await;
    });
    Ok(HttpResponse::Ok().json(json!({ "message": "ok" })))
}

fn job_error(err: JobError) -> HttpError {
    match err {
        JobError::AlreadyRunning(_) => ApiError::bad_request("admin.alreadyRunning").into(),
        JobError::Failed(err) => ApiError::Internal(err).into(),
    }
}

/// `GET /admin/schedule/versions/{id}/changes`: what version `id` changed for attendees when it was published —
/// `{"version", "changes": [SessionChange]}`; 404 for an unknown version.
async fn get_version_changes(
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
    let changes = plaza_core::queries::changes::of_version(&state.db, id).await?;
    Ok(HttpResponse::Ok().json(json!({ "version": id, "changes": changes })))
}

/// The 50 newest versions of an import.
async fn get_versions(
    _admin: AdminUser,
    path: web::Path<Import>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let import = path.into_inner();
    let versions = versions::list(&state.db, import.table(), 50).await?;
    let served = import.served(&state);
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
    path: web::Path<(Import, i64)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let (import, id) = path.into_inner();
    if versions::get(&state.db, import.table(), id)
        .await?
        .is_none()
    {
        return Err(ApiError::NotFound.into());
    }
    let version = import.publish(&state.jobs(), id).await.map_err(job_error)?;
    Ok(HttpResponse::Ok().json(json!({ "message": "ok", "version": version })))
}

/// Revokes every token of attendee `id` (bumps their token version); 404 for an unknown id.
async fn post_revoke_user(
    _admin: AdminUser,
    path: web::Path<i32>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let id = path.into_inner();
    if !plaza_core::queries::attendees::revoke_tokens(&state.db, id).await? {
        return Err(ApiError::NotFound.into());
    }
    state
        .access
        .changed(plaza_core::authz::view::Changed::One(id))
        .await;
    Ok(HttpResponse::Ok().json(json!({ "message": "ok" })))
}

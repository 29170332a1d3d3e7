//! Web Push for reminders (#20): `GET /push/key` (the VAPID public key a browser subscribes with; public and
//! cacheable; 404 `push.disabled` when `VAPID_PRIVATE_KEY` is unset), `POST /push/subscriptions` (a signed-in
//! attendee saves a browser's `PushSubscription.toJSON()`, validated strictly by `core::push`; idempotent by
//! endpoint, newest 10 kept) and `DELETE /push/subscriptions` (`{endpoint}`; 204 whether or not it was saved).

use actix_web::{HttpResponse, web};
use plaza_core::ApiError;
use plaza_core::push::SubscriptionJson;
use plaza_core::queries::push;
use serde::Deserialize;
use serde_json::json;

use super::HttpError;
use super::auth::AuthUser;
use crate::state::AppState;

/// The envelope code of every push route while push is not configured.
pub const DISABLED: &str = "push.disabled";

/// Registers the push routes under the API base path.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/push/key").get(get_key))
        .service(
            web::resource("/push/subscriptions")
                .post(post_subscription)
                .delete(delete_subscription),
        );
}

fn enabled(state: &AppState) -> Result<&plaza_core::config::PushConfig, HttpError> {
    state
        .config
        .push
        .as_ref()
        .ok_or(HttpError(ApiError::Disabled(DISABLED)))
}

async fn get_key(state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    let push = enabled(&state)?;
    Ok(HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=3600"))
        .json(json!({ "publicKey": push.key.public_key() })))
}

async fn post_subscription(
    user: AuthUser,
    body: Result<web::Json<SubscriptionJson>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    // The caller is judged before the body: a refused token is a 401 whatever it sent.
    enabled(&state)?;
    let subscription = body?
        .validate(state.config.push_allow_http)
        .map_err(HttpError)?;
    push::subscribe(&state.db, user.id(), &subscription)
        .await
        .map_err(|e| HttpError(e.into()))?;
    Ok(HttpResponse::Created().json(json!({ "endpoint": subscription.endpoint })))
}

/// `DELETE /push/subscriptions` body.
#[derive(Debug, Deserialize)]
struct Unsubscribe {
    endpoint: String,
}

async fn delete_subscription(
    user: AuthUser,
    body: Result<web::Json<Unsubscribe>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    let Unsubscribe { endpoint } = body?.into_inner();
    push::unsubscribe(&state.db, user.id(), &endpoint)
        .await
        .map_err(|e| HttpError(e.into()))?;
    Ok(HttpResponse::NoContent().finish())
}

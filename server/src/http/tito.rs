//! The Tito webhook `POST /tito/webhook`: constant-time check of `Tito-Signature` (base64 HMAC-SHA256 of the raw
//! body keyed with `TITO_SECURITY_TOKEN`), then by `X-Webhook-Name`: `ticket.completed` grants access and emails a
//! login link (at most one per ticket per hour, so Tito's retries are harmless); `ticket.updated`/`reassigned`/
//! `unvoided` update the ticket; `ticket.voided` removes access and revokes the holder's tokens. Other names are a
//! logged no-op. Every write is an idempotent upsert keyed by the ticket slug.

use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit as _, Mac as _};
use plaza_core::ApiError;
use plaza_core::config::normalise_email;
use plaza_core::identity;
use plaza_core::model::schedule::hash_email;
use plaza_core::queries::{attendees, tickets};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use super::HttpError;
use crate::state::AppState;

/// Registers the webhook (with and without a trailing slash, as Tito is often configured).
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["/tito/webhook", "/tito/webhook/"]).post(post_webhook));
}

/// The fields of a Tito ticket payload plaza uses (extra fields are ignored).
#[derive(Debug, Deserialize)]
struct TicketPayload {
    #[serde(rename = "_type")]
    kind: String,
    slug: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    state_name: Option<String>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

/// True when `signature` is the base64 HMAC-SHA256 of `body` under `key` (constant-time comparison).
pub fn signature_is_valid(key: &str, body: &[u8], signature: &str) -> bool {
    let Ok(expected) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

async fn post_webhook(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let key = state.config.tito_security_token.as_ref().ok_or_else(|| {
        ApiError::Unavailable("the Tito webhook is not configured (TITO_SECURITY_TOKEN)".into())
    })?;
    let signature = req
        .headers()
        .get("Tito-Signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !signature_is_valid(key.expose(), &body, signature) {
        metrics::counter!("plaza_tito_webhooks_total", "outcome" => "bad_signature").increment(1);
        return Err(ApiError::Unauthorized("general.unauthorized").into());
    }
    let name = req
        .headers()
        .get("X-Webhook-Name")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let state_name = match name.as_str() {
        "ticket.completed" | "ticket.unvoided" => Some(tickets::COMPLETE),
        "ticket.voided" => Some("void"),
        "ticket.updated" | "ticket.reassigned" => None,
        other => {
            tracing::info!(
                webhook = other,
                "ignoring a Tito webhook plaza does not act on"
            );
            metrics::counter!("plaza_tito_webhooks_total", "outcome" => "ignored").increment(1);
            return Ok(HttpResponse::Ok().json(json!({ "message": "ok" })));
        }
    };
    let ticket: TicketPayload = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("Invalid ticket payload: {e}")))?;
    if ticket.kind != "ticket" {
        return Err(ApiError::invalid("Expected a ticket payload (_type = ticket)").into());
    }
    let email = ticket
        .email
        .as_deref()
        .map(normalise_email)
        .filter(|e| identity::looks_like_email(e));
    let state_text = state_name
        .map(str::to_owned)
        .or(ticket.state_name.clone())
        .unwrap_or_else(|| "complete".into());
    let row = tickets::Ticket {
        slug: ticket.slug.clone(),
        email_hash: email.as_deref().map(hash_email),
        name: ticket.name.clone().unwrap_or_default(),
        state: state_text.clone(),
        tito_updated_at: ticket.updated_at.unwrap_or_else(Utc::now),
    };
    tickets::upsert_many(&state.db, &[row]).await?;
    metrics::counter!("plaza_tito_webhooks_total", "outcome" => "applied").increment(1);

    if let Some(email) = email {
        if let Some(name) = ticket.name.as_deref().filter(|n| !n.trim().is_empty()) {
            attendees::rename(&state.db, &email, name.trim()).await?;
        }
        if state_text == tickets::COMPLETE && name == "ticket.completed" {
            send_login_once(&state, &ticket.slug, &email).await?;
        }
        if state_text != tickets::COMPLETE {
            revoke_if_no_longer_allowed(&state, &email).await?;
        }
    }
    Ok(HttpResponse::Ok().json(json!({ "message": "ok" })))
}

/// Emails a login link for ticket `slug` unless one was sent in the last hour (Tito retries deliveries).
async fn send_login_once(state: &AppState, slug: &str, email: &str) -> Result<(), HttpError> {
    if state
        .cache
        .try_lock(&format!("tito-mail/{slug}"), Duration::from_secs(3600))
        .await?
        .is_none()
    {
        return Ok(());
    }
    let allowance = state.allowance(email).await?;
    if !allowance.is_allowed() {
        return Ok(());
    }
    let attendee = attendees::ensure(&state.db, email, &allowance.display_name()).await?;
    let ttl = Duration::from_secs(3600).max(state.config.login_link_ttl);
    let token = state
        .tokens
        .sign_login(attendee.id, &allowance.roles, None, ttl)?;
    let url = format!("{}auth/login/{token}", state.config.self_url);
    let minutes = (ttl.as_secs() / 60).to_string();
    state.send_email(
        email,
        "login",
        &attendee.language,
        &[
            ("name", &attendee.name),
            ("url", &url),
            ("minutes", &minutes),
        ],
    );
    Ok(())
}

/// A voided ticket ends the holder's sessions now, unless they may still sign in (admin, facilitator, another ticket).
async fn revoke_if_no_longer_allowed(state: &AppState, email: &str) -> Result<(), HttpError> {
    let Some(attendee) = attendees::find_by_email(&state.db, email).await? else {
        return Ok(());
    };
    let allowance = state.allowance(email).await?;
    if !allowance.is_allowed() {
        attendees::revoke_tokens(&state.db, attendee.id).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_over_the_raw_bytes() {
        let body = br#"{"_type":"ticket","slug":"ti_1"}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"secret").expect("key");
        mac.update(body);
        let good = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        assert!(signature_is_valid("secret", body, &good));
        assert!(!signature_is_valid("other", body, &good));
        assert!(!signature_is_valid(
            "secret",
            br#"{"_type":"ticket","slug":"ti_2"}"#,
            &good
        ));
        assert!(!signature_is_valid("secret", body, "not base64!"));
        assert!(!signature_is_valid("secret", body, ""));
    }
}

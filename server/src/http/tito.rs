//! The Tito webhook `POST /tito/webhook`: constant-time check of `Tito-Signature` (base64 HMAC-SHA256 of the raw
//! body keyed with `TITO_SECURITY_TOKEN`). Everything it acts on comes from the signed body: the ticket's state
//! (`state_name`, or `state`) and its `updated_at`; the unsigned `X-Webhook-Name` only routes (ticket names are
//! applied, others are a logged no-op, and only `ticket.completed` sends a login link).
//!
//! Deliveries are ordered by their `updated_at`: one not newer than the newest applied for that ticket (a replay,
//! or Tito redelivering — also after a restart, the ledger is the `tito_deliveries` table) is acknowledged and
//! ignored, changing nothing and sending nothing. Input is bounded like any input: an unusable slug, state or
//! timestamp is a 400 envelope; an over-long name or control characters are cleaned. When a ticket stops granting
//! access to an address (voided, reassigned, its email changed) that address's tokens are revoked unless it may
//! still sign in otherwise.

use std::collections::HashSet;
use std::time::Duration;

use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit as _, Mac as _};
use plaza_core::ApiError;
use plaza_core::config::normalise_email;
use plaza_core::error::Failure;
use plaza_core::identity;
use plaza_core::model::schedule::hash_email;
use plaza_core::queries::{attendees, tickets};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;

use super::HttpError;
use crate::state::AppState;

/// Longest ticket slug stored (the column's limit).
const MAX_SLUG_CHARS: usize = 200;
/// Longest holder name stored; longer names are cut.
const MAX_NAME_CHARS: usize = 1000;
/// Longest ticket state accepted (Tito's are single words).
const MAX_STATE_CHARS: usize = 50;
/// The webhook names that carry a ticket plaza stores.
const TICKET_EVENTS: [&str; 5] = [
    "ticket.completed",
    "ticket.updated",
    "ticket.reassigned",
    "ticket.voided",
    "ticket.unvoided",
];

/// Registers the webhook (with and without a trailing slash, as Tito is often configured).
pub fn config(cfg: &mut web::ServiceConfig) {
    // Two static resources: a multi-pattern resource is matched with a regex set (see `general::config`).
    cfg.service(web::resource("/tito/webhook").post(post_webhook))
        .service(web::resource("/tito/webhook/").post(post_webhook));
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
    state: Option<String>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
}

/// A validated delivery: the row to store and the holder's normalised address, if it is one.
struct Delivery {
    row: tickets::Ticket,
    email: Option<String>,
}

/// Checks and cleans a payload: 400 with every failure for what cannot be stored or ordered.
fn validate(payload: TicketPayload) -> Result<Delivery, ApiError> {
    let mut failures = Vec::new();
    if payload.kind != "ticket" {
        failures.push(Failure::new("_type", "must be ticket"));
    }
    let slug = payload.slug.trim().to_owned();
    if slug.is_empty()
        || slug.chars().count() > MAX_SLUG_CHARS
        || slug.chars().any(char::is_control)
    {
        let message =
            format!("must be 1 to {MAX_SLUG_CHARS} characters without control characters");
        failures.push(Failure::new("slug", &message));
    }
    let state = payload
        .state_name
        .or(payload.state)
        .map(|s| s.trim().to_lowercase())
        .unwrap_or_default();
    if state.is_empty()
        || state.chars().count() > MAX_STATE_CHARS
        || state.chars().any(char::is_control)
    {
        let message = format!(
            "state_name must be 1 to {MAX_STATE_CHARS} characters without control characters"
        );
        failures.push(Failure::new("state_name", &message));
    }
    let Some(updated_at) = payload.updated_at else {
        failures.push(Failure::new(
            "updated_at",
            "is required to order deliveries",
        ));
        return Err(ApiError::validation(failures));
    };
    if !failures.is_empty() {
        return Err(ApiError::validation(failures));
    }
    let name: String = payload
        .name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect();
    let email = payload
        .email
        .as_deref()
        .map(normalise_email)
        .filter(|e| identity::looks_like_email(e));
    Ok(Delivery {
        row: tickets::Ticket {
            slug,
            email_hash: email.as_deref().map(hash_email),
            name: name.trim().to_owned(),
            state,
            tito_updated_at: updated_at,
        },
        email,
    })
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

fn acknowledged(outcome: &'static str) -> HttpResponse {
    metrics::counter!("plaza_tito_webhooks_total", "outcome" => outcome).increment(1);
    HttpResponse::Ok().json(json!({ "message": "ok" }))
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
    if !TICKET_EVENTS.contains(&name.as_str()) {
        tracing::info!(
            webhook = name.chars().take(100).collect::<String>(),
            "ignoring a Tito webhook plaza does not act on"
        );
        return Ok(acknowledged("ignored"));
    }
    let payload: TicketPayload = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("Invalid ticket payload: {e}")))?;
    let Delivery { row, email } = validate(payload)?;
    let Some(before) = tickets::apply_delivery(&state.db, &row).await? else {
        tracing::info!(slug = %row.slug, webhook = %name, "ignoring a Tito delivery not newer than the last applied");
        return Ok(acknowledged("stale"));
    };

    if let Some(email) = &email {
        if !row.name.is_empty() {
            attendees::rename(&state.db, email, &row.name).await?;
        }
        if row.state == tickets::COMPLETE && name == "ticket.completed" {
            send_login(&state, email).await?;
        }
    }
    // Addresses this delivery may have taken access from: the previous holder of a reassigned or re-addressed
    // ticket, and the holder of a ticket that no longer grants access.
    let mut lost = HashSet::new();
    if before.state == tickets::COMPLETE && before.email_hash != row.email_hash {
        lost.extend(before.email_hash.clone());
    }
    if row.state != tickets::COMPLETE {
        lost.extend(row.email_hash.clone());
    }
    let mut changed = revoke_if_no_longer_allowed(&state, &lost).await?;
    // The holder's name or ticket changed: every process re-reads their access state (and name) now.
    if let Some(email) = &email
        && let Some(holder) = attendees::find_by_email(&state.db, email).await?
    {
        changed.push(holder.id);
    }
    state.access.changed_many(&changed).await;
    Ok(acknowledged("applied"))
}

/// Emails a login link for a newly completed ticket (its first delivery: redeliveries never reach this).
async fn send_login(state: &AppState, email: &str) -> Result<(), HttpError> {
    let allowance = state.allowance(email).await?;
    if !allowance.is_allowed() {
        return Ok(());
    }
    let attendee = attendees::ensure(&state.db, email, &allowance.display_name()).await?;
    let ttl = Duration::from_secs(3600).max(state.config.login_link_ttl);
    super::login::send_login_link(state, &attendee, &allowance.roles, None, ttl)?;
    Ok(())
}

/// Ends the sessions of the attendees at these address hashes unless they may still sign in (an admin, a
/// facilitator, another ticket). Rare, so the hash lookup may scan. Returns the attendees found (their roles
/// changed either way).
async fn revoke_if_no_longer_allowed(
    state: &AppState,
    hashes: &HashSet<String>,
) -> Result<Vec<i32>, HttpError> {
    let mut found = Vec::new();
    for attendee in attendees::find_by_email_hashes(&state.db, hashes).await? {
        found.push(attendee.id);
        if !state.allowance(&attendee.email).await?.is_allowed() {
            attendees::revoke_tokens(&state.db, attendee.id).await?;
            tracing::info!(
                attendee = attendee.id,
                "revoked the tokens of an address that lost its ticket"
            );
        }
    }
    Ok(found)
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

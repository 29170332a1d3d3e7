//! Magic-link sign-in and the profile: `POST /auth/login` (same answer whether or not the address may sign in;
//! rate-limited per address and per IP), `GET /auth/login/:token` (a confirm page — mail scanners only GET, so
//! nothing is consumed), `POST /auth/login/:token` (consumes the single-use link, redirects to the client with an
//! auth token), `GET /auth/me`, `PATCH /auth/me` (the preferred language, which emails use) and `DELETE /auth/me`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{TimeZone as _, Utc};
use plaza_core::ApiError;
use plaza_core::error::Failure;
use plaza_core::identity;
use plaza_core::model::schedule::hash_email;
use plaza_core::queries::{attendees, login_tokens};
use serde::Deserialize;
use serde_json::json;

use super::HttpError;
use super::auth::AuthUser;
use super::lint_page::escape;
use crate::state::AppState;

/// Registers the sign-in routes under the API base path.
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/auth/login").post(post_login))
        .service(
            web::resource("/auth/login/{token}")
                .get(get_login_link)
                .post(post_login_link),
        )
        .service(
            web::resource("/auth/me")
                .get(get_me)
                .patch(patch_me)
                .delete(delete_me),
        )
        // deconf compatibility: the deconf-ui client's "unregister" is `GET /auth/unregister` with the bearer
        // token (reference §3.3, defect 23); it deletes the account like `DELETE /auth/me`.
        .service(web::resource("/auth/unregister").get(delete_me));
}

/// `POST /auth/login` body (strict, as the reference).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    #[serde(default)]
    redirect: Option<String>,
}

/// `PATCH /auth/me` body: the fields an attendee may change (at least one).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileBody {
    #[serde(default)]
    language: Option<String>,
    /// Schedule change digests on or off (#20; plaza addition, optional).
    #[serde(default, rename = "scheduleEmails")]
    schedule_emails: Option<bool>,
}

/// The client URL a relative `redirect` resolves to; anything else (absolute, protocol-relative) is dropped, so a
/// login can only land on the client's own origin.
fn client_redirect(client_url: &str, redirect: Option<&str>) -> Option<String> {
    let path = redirect?.trim();
    let safe = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.contains("://");
    safe.then(|| format!("{client_url}{}", path.trim_start_matches('/')))
}

/// Counts one request in the current minute's window of `key`; 429 past `limit`.
async fn rate_limit(state: &AppState, key: &str, limit: u32) -> Result<(), HttpError> {
    let now = Utc::now().timestamp();
    let window = now / 60;
    let count = state
        .cache
        .incr(
            &format!("ratelimit/{key}/{window}"),
            1,
            Some(std::time::Duration::from_secs(120)),
        )
        .await?;
    if count > i64::from(limit) {
        metrics::counter!("plaza_login_rate_limited_total").increment(1);
        return Err(ApiError::TooManyRequests {
            retry_after_secs: (60 - now % 60).max(1) as u64,
        }
        .into());
    }
    Ok(())
}

async fn post_login(
    req: HttpRequest,
    body: web::Json<LoginBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let LoginBody { email, redirect } = body.into_inner();
    if !identity::looks_like_email(&email) {
        return Err(
            ApiError::validation(vec![Failure::new("email", "is not an email address")]).into(),
        );
    }
    let ip = super::client_ip(&req, &state.config.trusted_proxies);
    let hash = hash_email(&email);
    rate_limit(
        &state,
        &format!("login-email/{hash}"),
        state.config.login_limit_per_email,
    )
    .await?;
    rate_limit(
        &state,
        &format!("login-ip/{ip}"),
        state.config.login_limit_per_ip,
    )
    .await?;

    let allowance = state.allowance(&email).await?;
    if allowance.is_allowed() {
        let attendee =
            attendees::ensure(&state.db, &allowance.email, &allowance.display_name()).await?;
        let redirect = client_redirect(&state.config.client_url, redirect.as_deref());
        let ttl = state.config.login_link_ttl;
        let token = state
            .tokens
            .sign_login(attendee.id, &allowance.roles, redirect, ttl)?;
        let url = format!("{}auth/login/{token}", state.config.self_url);
        let minutes = (ttl.as_secs() / 60).to_string();
        let values = [
            ("name", attendee.name.as_str()),
            ("url", url.as_str()),
            ("minutes", minutes.as_str()),
        ];
        state.send_email(&allowance.email, "login", &attendee.language, &values);
    } else if state.config.login_notify_unknown && !state.blocked().contains(&allowance.email) {
        state.send_email(&allowance.email, "login-unknown", "en", &[]);
    }
    // The same answer either way: the response does not tell whether an address holds a ticket.
    Ok(HttpResponse::Ok().json(json!({ "message": "ok" })))
}

/// Redirect to a client error page (the reference's URLs).
fn client_error(state: &AppState, page: &str) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((
            header::LOCATION,
            format!("{}{page}", state.config.client_url),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

fn login_error(state: &AppState, err: &ApiError) -> HttpResponse {
    let page = match err.codes().first().map(String::as_str) {
        Some("auth.tokenExpired") => "error/login_expired",
        Some("general.notFound") => "error/not_found",
        _ => "error",
    };
    client_error(state, page)
}

/// The confirm page: verifying the link consumes nothing, so a scanner's GET is harmless.
async fn get_login_link(path: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    if let Err(err) = state.tokens.verify_login(&path) {
        return login_error(&state, &err);
    }
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Sign in</title>\
         <style>body{{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;color:#1a1a1a}}\
         button{{font-size:1.2rem;padding:.8rem 1.6rem;border-radius:.4rem;border:0;background:#1a56db;color:#fff;\
         cursor:pointer}}</style></head><body><main><h1>Sign in to the plaza</h1>\
         <form method=\"post\" action=\"{}\"><button type=\"submit\">Continue</button></form></main></body></html>",
        escape(&path)
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(page)
}

/// Finishes a login: the link works once, roles are recomputed, blocked or no-longer-allowed addresses are refused.
async fn post_login_link(path: web::Path<String>, state: web::Data<AppState>) -> HttpResponse {
    match finish_login(&path, &state).await {
        Ok(location) => HttpResponse::SeeOther()
            .insert_header((header::LOCATION, location))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(err) => {
            if err.status() >= 500 {
                tracing::error!(error = format!("{err:#}"), "login failed");
            }
            login_error(&state, &err)
        }
    }
}

async fn finish_login(token: &str, state: &AppState) -> Result<String, ApiError> {
    let claims = state.tokens.verify_login(token)?;
    let expires = Utc
        .timestamp_opt(claims.exp, 0)
        .single()
        .unwrap_or_else(Utc::now);
    if !login_tokens::consume(&state.db, &claims.jti, expires).await? {
        return Err(ApiError::Unauthorized("auth.tokenExpired"));
    }
    let attendee = attendees::get(&state.db, claims.sub)
        .await?
        .ok_or(ApiError::NotFound)?;
    let allowance = state.allowance(&attendee.email).await?;
    if !allowance.is_allowed() {
        return Err(ApiError::Unauthorized("general.unauthorized"));
    }
    attendees::mark_verified(&state.db, attendee.id).await?;
    let auth = state.tokens.sign_auth(
        attendee.id,
        &allowance.roles,
        &attendee.language,
        attendee.token_version,
    )?;
    let mut fragment = url::form_urlencoded::Serializer::new(String::new());
    fragment.append_pair("token", &auth);
    if let Some(redirect) = &claims.redirect {
        fragment.append_pair("redirect", redirect);
    }
    Ok(format!(
        "{}_auth#{}",
        state.config.client_url,
        fragment.finish()
    ))
}

/// `{registration}`: the signed-in attendee's row (401 when blocked since).
async fn get_me(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    let attendee = current_attendee(&state, user.id()).await?;
    Ok(HttpResponse::Ok().json(json!({ "registration": attendee })))
}

/// Attendee `id`; 401 once the account is gone or blocked.
async fn current_attendee(state: &AppState, id: i32) -> Result<attendees::Attendee, HttpError> {
    let attendee = attendees::get(&state.db, id)
        .await?
        .ok_or(ApiError::Unauthorized("general.unauthorized"))?;
    if state.blocked().contains(&attendee.email) {
        return Err(ApiError::Unauthorized("general.unauthorized").into());
    }
    Ok(attendee)
}

/// Sets the preferred language (one of `LOCALES`); answers the updated `{registration}`. Tokens keep the language
/// they were signed with until the next sign-in; emails use the stored one at once.
async fn patch_me(
    user: AuthUser,
    body: web::Json<ProfileBody>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let ProfileBody {
        language,
        schedule_emails,
    } = body.into_inner();
    if language.is_none() && schedule_emails.is_none() {
        return Err(ApiError::validation(vec![Failure::new("language", "is required")]).into());
    }
    if let Some(language) = &language
        && !state.config.locales.contains(language)
    {
        let expected = format!("is not one of {}", state.config.locales.join(", "));
        return Err(ApiError::validation(vec![Failure::new("language", &expected)]).into());
    }
    // A blocked or deleted account is refused before anything is written.
    let mut attendee = current_attendee(&state, user.id()).await?;
    if let Some(language) = language {
        if !attendees::set_language(&state.db, attendee.id, &language).await? {
            return Err(ApiError::Unauthorized("general.unauthorized").into());
        }
        attendee.language = language;
    }
    if let Some(wanted) = schedule_emails {
        attendees::set_schedule_emails(&state.db, attendee.id, wanted).await?;
        attendee.schedule_emails = wanted;
    }
    Ok(HttpResponse::Ok().json(json!({ "registration": attendee })))
}

/// Deletes the account: the attendee row with its attendance and logs, in one statement; old tokens stop working.
async fn delete_me(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    attendees::delete(&state.db, user.id()).await?;
    Ok(HttpResponse::Ok().json(json!({ "message": "ok" })))
}

#[cfg(test)]
mod tests {
    use super::client_redirect;

    #[test]
    fn redirects_stay_on_the_client_origin() {
        let c = "https://plaza.example/";
        assert_eq!(
            client_redirect(c, Some("/session/A-1")).as_deref(),
            Some("https://plaza.example/session/A-1")
        );
        for bad in [
            "https://evil.example/",
            "//evil.example/x",
            "/\\evil.example",
            "session",
            "/x?u=https://e",
        ] {
            assert_eq!(client_redirect(c, Some(bad)), None, "{bad}");
        }
        assert_eq!(client_redirect(c, None), None);
    }
}

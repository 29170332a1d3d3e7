//! Magic-link sign-in and the profile: `POST /auth/login` (the same answer, in the same time, whatever the
//! address; 429 only per client IP — the per-address limits silently stop emails, see README "Sign-in limits"),
//! `GET /auth/login/:token` (a confirm page in the attendee's language, named after the event — mail scanners only
//! GET, so nothing is consumed; a used link gets a page saying so), `POST /auth/login/:token` (bound to the page by
//! a per-link nonce; consumes the single-use link, redirects to the client with an auth token), `GET /auth/me`,
//! `PATCH /auth/me` (the preferred language, which emails use; schedule emails; reminder minutes) and
//! `DELETE /auth/me`.

use std::net::IpAddr;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{TimeZone as _, Utc};
use plaza_core::ApiError;
use plaza_core::authz::view::Changed;
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
    /// Minutes before a saved session to be reminded: 0 (off), 5, 10 or 15 (#20; plaza addition, optional).
    #[serde(default, rename = "reminderMinutes")]
    reminder_minutes: Option<serde_json::Value>,
}

/// Longest `redirect` accepted (bytes): a path inside the client, not a payload carried into every email.
const MAX_REDIRECT_BYTES: usize = 2048;
/// How long an IP from which an address finished signing in stays that address's "own" IP (exempt from the
/// address-wide email cap, see README "Sign-in limits").
const KNOWN_IP_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The address-wide cap on login emails per minute, as a multiple of `LOGIN_LIMIT_PER_EMAIL` (which is the cap per
/// address *and* requesting IP).
const ADDRESS_CAP_FACTOR: u32 = 4;

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

/// Refuses a `redirect` that is too long or holds control characters (400); the shape is checked by
/// [`client_redirect`], which drops what would leave the client.
fn check_redirect(redirect: Option<&str>) -> Result<(), ApiError> {
    let Some(redirect) = redirect else {
        return Ok(());
    };
    if redirect.len() > MAX_REDIRECT_BYTES {
        let message = format!("is longer than {MAX_REDIRECT_BYTES} bytes");
        return Err(ApiError::validation(vec![Failure::new(
            "redirect", &message,
        )]));
    }
    if redirect.chars().any(char::is_control) {
        return Err(ApiError::validation(vec![Failure::new(
            "redirect",
            "contains control characters",
        )]));
    }
    Ok(())
}

/// Counts one event in the current minute's window of `key`; true while within `limit`.
async fn within_limit(state: &AppState, key: &str, limit: u32) -> Result<bool, ApiError> {
    let window = Utc::now().timestamp() / 60;
    let count = state
        .cache
        .incr(
            &format!("ratelimit/{key}/{window}"),
            1,
            Some(Duration::from_secs(120)),
        )
        .await?;
    Ok(count <= i64::from(limit))
}

/// The per-IP limit: 429 past `LOGIN_LIMIT_PER_IP` requests a minute from one client, whatever the addresses.
async fn limit_ip(state: &AppState, ip: IpAddr) -> Result<(), HttpError> {
    if within_limit(
        state,
        &format!("login-ip/{ip}"),
        state.config.login_limit_per_ip,
    )
    .await?
    {
        return Ok(());
    }
    metrics::counter!("plaza_login_rate_limited_total", "limit" => "ip").increment(1);
    let now = Utc::now().timestamp();
    Err(ApiError::TooManyRequests {
        retry_after_secs: (60 - now % 60).max(1) as u64,
    }
    .into())
}

/// The cache key marking `ip` as an IP the address with `hash` finished signing in from.
fn known_ip_key(hash: &str, ip: IpAddr) -> String {
    format!("login-known/{hash}/{ip}")
}

/// `POST /auth/login`. The request path does the same work for every address — validate, count the client IP,
/// hand the address to a task — so status, body, headers and timing say nothing about it. The allow-list check,
/// the per-address limits, the attendee upsert and the email happen in that task.
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
    check_redirect(redirect.as_deref())?;
    let ip = super::client_ip(&req, &state.config.trusted_proxies);
    limit_ip(&state, ip).await?;
    let state = state.into_inner();
    tokio::spawn(async move {
        // actix runs this task on the request's own worker thread: let the response go out first, so no part of
        // the decision (whose work differs by address) runs before it.
        tokio::time::sleep(Duration::from_millis(2)).await;
        if let Err(err) = deliver_login(&state, &email, redirect.as_deref(), ip).await {
            tracing::warn!(error = format!("{err:#}"), "a login request failed");
        }
    });
    Ok(HttpResponse::Ok().json(json!({ "message": "ok" })))
}

/// Decides and sends what a login request for `email` from `ip` gets: a link, a "no ticket" note, or (past the
/// per-address limits) nothing.
async fn deliver_login(
    state: &AppState,
    email: &str,
    redirect: Option<&str>,
    ip: IpAddr,
) -> Result<(), ApiError> {
    let hash = hash_email(email);
    let per_email = state.config.login_limit_per_email;
    // Per address and requesting IP: nobody can spend another IP's budget for an address.
    if !within_limit(state, &format!("login-email/{hash}/{ip}"), per_email).await? {
        metrics::counter!("plaza_login_rate_limited_total", "limit" => "email_ip").increment(1);
        return Ok(());
    }
    // Address-wide, so many IPs cannot flood one inbox; IPs the owner signed in from before are exempt.
    let own_ip = state.cache.get(&known_ip_key(&hash, ip)).await?.is_some();
    if !own_ip
        && !within_limit(
            state,
            &format!("login-email/{hash}"),
            per_email.saturating_mul(ADDRESS_CAP_FACTOR),
        )
        .await?
    {
        metrics::counter!("plaza_login_rate_limited_total", "limit" => "email").increment(1);
        return Ok(());
    }
    let allowance = state.allowance(email).await?;
    if allowance.is_allowed() {
        let attendee =
            attendees::ensure(&state.db, &allowance.email, &allowance.display_name()).await?;
        let redirect = client_redirect(&state.config.client_url, redirect);
        send_login_link(
            state,
            &attendee,
            &allowance.roles,
            redirect,
            state.config.login_link_ttl,
        )?;
    } else if state.config.login_notify_unknown && !state.blocked().contains(&allowance.email) {
        state.send_email(&allowance.email, "login-unknown", "en", &[]);
    }
    Ok(())
}

/// Emails `attendee` a login link valid for `ttl` (the `login` template in their language).
pub(super) fn send_login_link(
    state: &AppState,
    attendee: &attendees::Attendee,
    roles: &[String],
    redirect: Option<String>,
    ttl: Duration,
) -> Result<(), ApiError> {
    let token =
        state
            .tokens
            .sign_login(attendee.id, roles, Some(&attendee.language), redirect, ttl)?;
    let url = format!("{}auth/login/{token}", state.config.self_url);
    let minutes = ttl.as_secs() / 60;
    let expiry = plaza_core::email::duration_words(minutes, &attendee.language);
    let minutes = minutes.to_string();
    let values = [
        ("name", attendee.name.as_str()),
        ("url", url.as_str()),
        ("minutes", minutes.as_str()),
        ("expiry", expiry.as_str()),
    ];
    state.send_email(&attendee.email, "login", &attendee.language, &values);
    Ok(())
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

/// The confirm page's texts in one language.
struct PageTexts {
    lang: &'static str,
    title: &'static str,
    intro: &'static str,
    button: &'static str,
    used_title: &'static str,
    used_text: &'static str,
    new_link: &'static str,
}

/// The confirm page in the languages plaza ships; others fall back to English.
const PAGE_TEXTS: [PageTexts; 2] = [
    PageTexts {
        lang: "en",
        title: "Sign in to {site}",
        intro: "Press the button to finish signing in on this device.",
        button: "Continue",
        used_title: "This link was already used",
        used_text: "Each sign-in link works once. If it was not you who used it, request a new link.",
        new_link: "Request a new link",
    },
    PageTexts {
        lang: "es",
        title: "Inicia sesión en {site}",
        intro: "Pulsa el botón para terminar de iniciar sesión en este dispositivo.",
        button: "Continuar",
        used_title: "Este enlace ya se ha usado",
        used_text: "Cada enlace de acceso funciona una sola vez. Si no lo usaste tú, pide un enlace nuevo.",
        new_link: "Pedir un enlace nuevo",
    },
];

fn page_texts(lang: Option<&str>) -> &'static PageTexts {
    let lang = lang.unwrap_or_default();
    PAGE_TEXTS
        .iter()
        .find(|t| t.lang == lang)
        .unwrap_or(&PAGE_TEXTS[0])
}

/// A small HTML page in the attendee's language, titled with the event's name from the content settings.
fn html_page(state: &AppState, texts: &PageTexts, heading: &str, body: &str) -> HttpResponse {
    let snapshot = state.schedule.current();
    let site = snapshot
        .settings
        .site
        .as_ref()
        .map_or("the plaza", |s| s.name.as_str());
    let heading = escape(&heading.replace("{site}", site));
    let page = format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{heading}</title>\
         <style>body{{font-family:system-ui,sans-serif;display:grid;place-items:center;min-height:90vh;color:#1a1a1a;\
         margin:0 1rem}}main{{max-width:32rem}}.site{{color:#555;text-transform:uppercase;letter-spacing:.08em;\
         font-size:.85rem}}button,a.button{{font-size:1.2rem;padding:.8rem 1.6rem;border-radius:.4rem;border:0;\
         background:#1a56db;color:#fff;cursor:pointer;text-decoration:none;display:inline-block}}</style></head>\
         <body><main><p class=\"site\">{site}</p><h1>{heading}</h1>{body}</main></body></html>",
        lang = texts.lang,
        site = escape(site),
    );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(page)
}

/// The confirm page: verifying the link consumes nothing, so a scanner's GET is harmless. Its form carries the
/// link's nonce; a link used already gets a page saying so instead.
async fn get_login_link(
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, HttpError> {
    let claims = match state.tokens.verify_login(&path) {
        Ok(claims) => claims,
        Err(err) => return Ok(login_error(&state, &err)),
    };
    let texts = page_texts(claims.lang.as_deref());
    if login_tokens::is_used(&state.db, &claims.jti).await? {
        let body = format!(
            "<p>{}</p><p><a class=\"button\" href=\"{}login\">{}</a></p>",
            escape(texts.used_text),
            escape(&state.config.client_url),
            escape(texts.new_link)
        );
        return Ok(html_page(&state, texts, texts.used_title, &body));
    }
    let body = format!(
        "<p>{}</p><form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"nonce\" value=\"{}\">\
         <button type=\"submit\">{}</button></form>",
        escape(texts.intro),
        escape(&path),
        escape(&state.tokens.login_nonce(&claims.jti)),
        escape(texts.button)
    );
    Ok(html_page(&state, texts, texts.title, &body))
}

/// True when the confirm POST came from the link's own page: its form's nonce matches the link, and a browser
/// that says where the request comes from (`Sec-Fetch-Site`) says it is this origin (or typed/bookmarked).
fn confirm_is_bound(req: &HttpRequest, body: &[u8], state: &AppState, token: &str) -> bool {
    let site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if !matches!(site, None | Some("same-origin" | "none")) {
        return false;
    }
    let Ok(claims) = state.tokens.verify_login(token) else {
        // An invalid link fails in `finish_login` with its proper error page.
        return true;
    };
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == "nonce")
        .is_some_and(|(_, nonce)| state.tokens.login_nonce_is_valid(&claims.jti, &nonce))
}

/// Finishes a login: the link works once, roles are recomputed, blocked or no-longer-allowed addresses are refused.
/// A POST not bound to the link (no or a wrong nonce, a cross-site form) is sent back to the confirm page.
async fn post_login_link(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> HttpResponse {
    if !confirm_is_bound(&req, &body, &state, &path) {
        metrics::counter!("plaza_login_unbound_confirms_total").increment(1);
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, req.uri().path().to_owned()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish();
    }
    let ip = super::client_ip(&req, &state.config.trusted_proxies);
    match finish_login(&path, &state, ip).await {
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

async fn finish_login(token: &str, state: &AppState, ip: IpAddr) -> Result<String, ApiError> {
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
    if !attendee.verified {
        attendees::mark_verified(&state.db, attendee.id).await?;
        state.access.changed(Changed::One(attendee.id)).await;
    }
    // This IP is now one the owner signs in from: floods of requests for the address elsewhere cannot stop
    // its emails here (README "Sign-in limits"). Best effort.
    if let Err(err) = state
        .cache
        .set(
            &known_ip_key(&hash_email(&attendee.email), ip),
            "1",
            Some(KNOWN_IP_TTL),
        )
        .await
    {
        tracing::warn!(%err, "cannot remember the sign-in IP");
    }
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

/// `{registration}`: the signed-in attendee's row, as the authorisation check read it.
async fn get_me(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({ "registration": user.principal.attendee }))
}

/// Sets the preferred language (one of `LOCALES`); answers the updated `{registration}`. Tokens keep the language
/// they were signed with until the next sign-in; emails use the stored one at once.
async fn patch_me(
    user: AuthUser,
    body: Result<web::Json<ProfileBody>, actix_web::Error>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    // The body is judged only once the caller is: a refused token is a 401 whatever it sent.
    let ProfileBody {
        language,
        schedule_emails,
        reminder_minutes,
    } = body?.into_inner();
    if language.is_none() && schedule_emails.is_none() && reminder_minutes.is_none() {
        return Err(HttpError(ApiError::validation(vec![Failure::new(
            "language",
            "is required",
        )]))
        .into());
    }
    if let Some(language) = &language
        && !state.config.locales.contains(language)
    {
        let expected = format!("is not one of {}", state.config.locales.join(", "));
        return Err(HttpError(ApiError::validation(vec![Failure::new(
            "language", &expected,
        )]))
        .into());
    }
    let reminder_minutes = reminder_minutes
        .map(|value| {
            value
                .as_i64()
                .and_then(|n| i16::try_from(n).ok())
                .filter(|n| plaza_jobs::reminders::SETTINGS.contains(n))
                .ok_or_else(|| {
                    HttpError(ApiError::validation(vec![Failure::new(
                        "reminderMinutes",
                        "is not one of 0, 5, 10, 15",
                    )]))
                })
        })
        .transpose()?;
    // A blocked or deleted account was refused by the extractor, before anything is written.
    let mut attendee = user.principal.attendee;
    if let Some(language) = language {
        if !attendees::set_language(&state.db, attendee.id, &language)
            .await
            .map_err(|e| HttpError(e.into()))?
        {
            return Err(HttpError(ApiError::Unauthorized("general.unauthorized")).into());
        }
        attendee.language = language;
    }
    if let Some(wanted) = schedule_emails {
        attendees::set_schedule_emails(&state.db, attendee.id, wanted)
            .await
            .map_err(|e| HttpError(e.into()))?;
        attendee.schedule_emails = wanted;
    }
    if let Some(minutes) = reminder_minutes {
        attendees::set_reminder_minutes(&state.db, attendee.id, minutes)
            .await
            .map_err(|e| HttpError(e.into()))?;
        attendee.reminder_minutes = minutes;
    }
    // `/auth/me` in every process answers with the new values (the principal comes from the kept access state).
    state.access.changed(Changed::One(attendee.id)).await;
    Ok(HttpResponse::Ok().json(json!({ "registration": attendee })))
}

/// Deletes the account: the attendee row with its attendance and logs, in one statement; old tokens stop working.
async fn delete_me(user: AuthUser, state: web::Data<AppState>) -> Result<HttpResponse, HttpError> {
    attendees::delete(&state.db, user.id()).await?;
    state.access.changed(Changed::One(user.id())).await;
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

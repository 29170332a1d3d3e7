//! Revocation that always holds (issue #16): the Tito webhook acts only on what its signed body says and ignores
//! replays and redeliveries (also after a restart); every authenticated route and socket event refuses a blocked
//! user; each loss of access — void (webhook or sync), reassignment, email change, block, removal from
//! `ADMIN_EMAILS`, account deletion — turns the user's existing token into a 401 at once, for good; webhook input
//! is bounded; sign-in limits cannot be turned against the address's owner; the confirm page is bound to its link.

use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, TimeDelta, Utc};
use hmac::{Hmac, KeyInit as _, Mac as _};
use plaza_core::queries::{attendees, tickets};
use plaza_tests::app::json_body;
use plaza_tests::fake_tito::{FakeTito, ticket};
use plaza_tests::live::{JsClient, TestLive};
use plaza_tests::smtp_sink::SmtpSink;
use plaza_tests::{Backend, TestApp, for_each_backend, spawn_app};
use serde_json::{Value, json};

const CLIENT: &str = "https://client.example/";
const TITO_KEY: &str = "tito-test-security-token";
const WAIT: Duration = Duration::from_secs(10);

fn vars(sink: &SmtpSink) -> Vec<(&'static str, String)> {
    vec![
        ("SMTP_URL", sink.url()),
        ("CLIENT_URL", CLIENT.into()),
        ("ADMIN_EMAILS", "boss@example.org".into()),
        ("TITO_SECURITY_TOKEN", TITO_KEY.into()),
    ]
}

fn borrowed<'a>(vars: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    vars.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn app_with_mail(backend: Backend, extra: &[(&'static str, String)]) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let mut all = vars(&sink);
    all.extend_from_slice(extra);
    (spawn_app(backend, &borrowed(&all)).await, sink)
}

fn t(minutes: i64) -> DateTime<Utc> {
    Utc::now() - TimeDelta::hours(1) + TimeDelta::minutes(minutes)
}

/// A webhook body as Tito sends it (external-apis.md §2.3), updated at `updated_at`.
fn payload(slug: &str, email: &str, state: &str, updated_at: DateTime<Utc>) -> Vec<u8> {
    json!({
        "_type": "ticket", "id": 1, "slug": slug, "reference": "ABCD-1", "name": "Ticket Holder",
        "first_name": "Ticket", "last_name": "Holder", "email": email, "state_name": state,
        "updated_at": updated_at.to_rfc3339(), "release_title": "General Admission",
        "event": {"slug": "fest", "account_slug": "org"},
    })
    .to_string()
    .into_bytes()
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(TITO_KEY.as_bytes()).expect("key");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn webhook(app: &TestApp, name: &str, body: &[u8]) -> reqwest::Response {
    app.client
        .post(app.url("/api/tito/webhook"))
        .header("content-type", "application/json")
        .header("X-Webhook-Name", name)
        .header("Tito-Signature", sign(body))
        .body(body.to_vec())
        .send()
        .await
        .expect("sent")
}

/// A verified attendee `email` and an auth token for it (access comes from whatever tickets the test stores).
async fn signed_in(app: &TestApp, email: &str) -> String {
    let attendee = attendees::upsert_verified(&app.state.db, email, "Holder")
        .await
        .expect("attendee");
    app.state
        .tokens
        .sign_auth(attendee.id, &[], "en", attendee.token_version)
        .expect("token")
}

async fn me(app: &TestApp, token: &str) -> u16 {
    app.get_as(token, "/api/auth/me").await.status().as_u16()
}

async fn state_of(app: &TestApp, slug: &str) -> String {
    tickets::get(&app.state.db, slug)
        .await
        .expect("db")
        .expect("ticket")
        .state
}

/// The login token in the `count`-th email to `to`.
async fn login_token(sink: &SmtpSink, to: &str, count: usize) -> String {
    sink.login_token(to, count).await
}

/// The confirm page of `token` and its form's nonce.
async fn confirm_page(app: &TestApp, token: &str) -> (String, String) {
    app.confirm_page(token).await
}

async fn post_confirm(
    app: &TestApp,
    token: &str,
    nonce: &str,
    site: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(&format!("/api/auth/login/{token}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("nonce={nonce}"));
    if let Some(site) = site {
        request = request.header("sec-fetch-site", site);
    }
    request.send().await.expect("sent")
}

/// Signs in through the emailed link; returns the auth token.
async fn finish(app: &TestApp, token: &str) -> String {
    let (_, nonce) = confirm_page(app, token).await;
    let done = post_confirm(app, token, &nonce, Some("same-origin")).await;
    assert_eq!(done.status(), 303);
    let to = done.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let fragment = to.split_once('#').expect("fragment").1;
    url::form_urlencoded::parse(fragment.as_bytes())
        .find(|(k, _)| k == "token")
        .expect("token")
        .1
        .into_owned()
}

/// `path` with each `{param}` filled with a value its route accepts.
fn fill(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{id}" => "1",
            "{import}" => "schedule",
            s if s.starts_with('{') => "x",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Every `(method, path)` of the OpenAPI document that accepts a bearer token.
async fn bearer_routes(app: &TestApp) -> Vec<(String, String)> {
    let doc = json_body(app.get("/api/openapi.json").await).await;
    let mut routes = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let bearer = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            if bearer {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    routes
}

async fn api_error(client: &mut JsClient) -> Value {
    client.event("apiError", WAIT).await.expect("an apiError")
}

for_each_backend! {
    async fn a_signed_body_replayed_under_another_name_changes_nothing(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        let completed = payload("ti_r1", "ada@example.org", "complete", t(0));
        assert_eq!(webhook(&app, "ticket.completed", &completed).await.status(), 200);
        let auth = finish(&app, &login_token(&sink, "ada@example.org", 1).await).await;
        assert_eq!(me(&app, &auth).await, 200);

        // The same signed body under every other name: acknowledged, nothing changes, nothing is sent.
        for name in ["ticket.voided", "ticket.updated", "ticket.reassigned", "ticket.unvoided", "ticket.completed"] {
            assert_eq!(webhook(&app, name, &completed).await.status(), 200, "{name}");
            assert_eq!(me(&app, &auth).await, 200, "replayed as {name}");
        }
        assert_eq!(state_of(&app, "ti_r1").await, "complete");

        // A real void (newer), then the old completed body replayed as an unvoid: the ticket stays void.
        let void = payload("ti_r1", "ada@example.org", "void", t(1));
        assert_eq!(webhook(&app, "ticket.voided", &void).await.status(), 200);
        assert_eq!(me(&app, &auth).await, 401);
        assert_eq!(webhook(&app, "ticket.unvoided", &completed).await.status(), 200);
        assert_eq!(state_of(&app, "ti_r1").await, "void");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sink.wait_for("ada@example.org", 2, Duration::ZERO).await.len(), 1, "one email in all");
    }

    async fn a_redelivery_after_a_restart_sends_no_email(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        let body = payload("ti_r2", "grace@example.org", "complete", t(0));
        assert_eq!(webhook(&app, "ticket.completed", &body).await.status(), 200);
        assert_eq!(sink.wait_for("grace@example.org", 1, WAIT).await.len(), 1);

        let restarted = app.restarted_with_empty_cache(&borrowed(&vars(&sink))).await;
        let again = webhook(&restarted, "ticket.completed", &body).await;
        assert_eq!(again.status(), 200);
        assert_eq!(json_body(again).await, json!({"message": "ok"}));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(sink.wait_for("grace@example.org", 2, Duration::ZERO).await.len(), 1, "no second email");
    }

    async fn a_blocked_user_gets_401_on_every_authenticated_route_and_socket_event(backend: Backend) {
        let (app, _sink) = app_with_mail(backend, &[]).await;
        let live = TestLive::start(&app.state).await;
        let token = app.token_for("mallory@example.org", &[]).await;
        let admin = app.token_for("boss@example.org", &["admin"]).await;
        let feed = json_body(app.get_as(&token, "/api/calendar/me").await).await["url"]
            .as_str().expect("feed url").to_owned();
        let feed_path = feed.split_once("/api/").map(|(_, p)| format!("/api/{p}")).expect("under /api");
        assert_eq!(app.get(&feed_path).await.status(), 200);
        // An admin socket bound before the block.
        let mut admin_socket = live.client().await;
        admin_socket.emit("auth", json!([admin])).await;
        admin_socket.emit("startAnalyse", json!([])).await;
        admin_socket.emit("trackMetric", json!(["login/finish", {}])).await;
        assert!(admin_socket.event("liveEvent", WAIT).await.is_some(), "the admin watches before the block");

        app.state.set_blocked(["Mallory@example.org".to_owned(), "boss@example.org".to_owned()]);
        let routes = bearer_routes(&app).await;
        assert!(routes.len() >= 10, "{routes:?}");
        for (method, path) in &routes {
            for who in [&token, &admin] {
                let response = app.client
                    .request(method.parse().expect("method"), app.url(&format!("/api{}", fill(path))))
                    .bearer_auth(who)
                    .header("content-type", "application/json")
                    .body("{}")
                    .send().await.expect("sent");
                assert_eq!(response.status(), 401, "{method} {path}");
                assert_eq!(json_body(response).await["codes"][0], "general.unauthorized", "{method} {path}");
            }
        }
        assert_eq!(app.get(&feed_path).await.status(), 401, "the private calendar feed");

        // Sockets: binding is refused, and the admin bound before the block loses the admin events.
        let mut socket = live.client().await;
        socket.emit("auth", json!([token])).await;
        assert_eq!(api_error(&mut socket).await[0]["status"], 401, "auth");
        for event in ["startAnalyse", "stopAnalyse", "deauth"] {
            socket.emit(event, json!([])).await;
            assert_eq!(api_error(&mut socket).await[0]["status"], 401, "{event}");
        }
        for event in ["startAnalyse", "stopAnalyse"] {
            admin_socket.emit(event, json!([])).await;
            assert_eq!(api_error(&mut admin_socket).await[0]["status"], 401, "bound admin: {event}");
        }
    }

    async fn each_loss_of_access_turns_the_existing_token_into_401_for_good(backend: Backend) {
        let fake = FakeTito::start(vec![ticket("ti_sync", "complete", Some("sync@example.org"), t(0))]).await;
        let tito: Vec<(&'static str, String)> = fake.env();
        let (app, _sink) = app_with_mail(backend, &tito).await;

        // Void by webhook; an unvoid later does not revive the old token.
        assert_eq!(webhook(&app, "ticket.completed", &payload("ti_v", "void@example.org", "complete", t(0))).await.status(), 200);
        let token = signed_in(&app, "void@example.org").await;
        assert_eq!(me(&app, &token).await, 200);
        webhook(&app, "ticket.voided", &payload("ti_v", "void@example.org", "void", t(1))).await;
        assert_eq!(me(&app, &token).await, 401, "voided by webhook");
        webhook(&app, "ticket.unvoided", &payload("ti_v", "void@example.org", "complete", t(2))).await;
        assert_eq!(me(&app, &token).await, 401, "revoked for good");

        // Void found by the sync.
        plaza_jobs::users::run_once(&app.jobs(), false).await.expect("sync");
        let token = signed_in(&app, "sync@example.org").await;
        assert_eq!(me(&app, &token).await, 200);
        fake.edit("ti_sync", |t| { t["state"] = json!("void"); t["updated_at"] = json!(Utc::now().to_rfc3339()); });
        plaza_jobs::users::run_once(&app.jobs(), false).await.expect("sync");
        let row = attendees::find_by_email(&app.state.db, "sync@example.org").await.expect("db").expect("row");
        assert_eq!(row.token_version, 1, "the sync revoked the holder's tokens");
        assert_eq!(me(&app, &token).await, 401, "voided by the sync");

        // Reassignment, and an email change in ticket.updated: the previous holder loses access.
        for (name, slug) in [("ticket.reassigned", "ti_re"), ("ticket.updated", "ti_up")] {
            let old = format!("old-{slug}@example.org");
            webhook(&app, "ticket.completed", &payload(slug, &old, "complete", t(0))).await;
            let token = signed_in(&app, &old).await;
            assert_eq!(me(&app, &token).await, 200);
            webhook(&app, name, &payload(slug, &format!("new-{slug}@example.org"), "complete", t(1))).await;
            let row = attendees::find_by_email(&app.state.db, &old).await.expect("db").expect("row");
            assert_eq!(row.token_version, 1, "{name} revoked the previous holder at once");
            assert_eq!(me(&app, &token).await, 401, "{name}");
            webhook(&app, name, &payload(slug, &old, "complete", t(2))).await;
            assert_eq!(me(&app, &token).await, 401, "{name}: given back, the old token stays revoked");
        }

        // Block, then unblock.
        let token = app.token_for("blocked@example.org", &[]).await;
        app.state.set_blocked(["blocked@example.org".to_owned()]);
        assert_eq!(me(&app, &token).await, 401, "blocked");
        app.state.set_blocked(Vec::<String>::new());
        assert_eq!(me(&app, &token).await, 401, "unblocked, the old token stays revoked");

        // Account deletion.
        let token = app.token_for("gone@example.org", &[]).await;
        let deleted = app.client.delete(app.url("/api/auth/me")).bearer_auth(&token).send().await.expect("sent");
        assert_eq!(deleted.status(), 200);
        assert_eq!(me(&app, &token).await, 401, "deleted");
        app.token_for("gone@example.org", &[]).await;
        assert_eq!(me(&app, &token).await, 401, "a new account at the address does not revive it");
    }

    async fn an_admin_removed_from_admin_emails_gets_401_after_restart(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        app.post_json("/api/auth/login", &json!({"email": "boss@example.org"})).await;
        let admin = finish(&app, &login_token(&sink, "boss@example.org", 1).await).await;
        assert_eq!(app.get_as(&admin, "/api/admin/schedule").await.status(), 200);

        let mut restarted_vars = vars(&sink);
        restarted_vars.retain(|(k, _)| *k != "ADMIN_EMAILS");
        restarted_vars.push(("ADMIN_EMAILS", "someone-else@example.org".into()));
        let restarted = app.sibling(&borrowed(&restarted_vars)).await;
        let row = attendees::find_by_email(&app.state.db, "boss@example.org").await.expect("db").expect("row");
        assert_eq!(row.token_version, 1, "revoked at start, before any request");
        assert_eq!(restarted.get_as(&admin, "/api/admin/schedule").await.status(), 401);
        assert_eq!(restarted.post_as(&admin, "/api/admin/users/1/revoke").await.status(), 401);
        assert_eq!(restarted.get_as(&admin, "/api/auth/me").await.status(), 401);
    }

    async fn webhook_input_is_bounded_and_never_a_server_error(backend: Backend) {
        let (app, _sink) = app_with_mail(backend, &[]).await;
        let send = |edit: Value| {
            let mut body: Value = serde_json::from_slice(&payload("ti_b", "b@example.org", "complete", t(0))).expect("json");
            if let (Some(body), Some(edit)) = (body.as_object_mut(), edit.as_object()) {
                body.extend(edit.clone());
            }
            let body = body.to_string().into_bytes();
            let app = &app;
            async move { webhook(app, "ticket.completed", &body).await }
        };
        for (edit, field) in [
            (json!({"slug": "s".repeat(300)}), "slug"),
            (json!({"slug": "ti_\u{0}nul"}), "slug"),
            (json!({"state_name": "x".repeat(5000)}), "state_name"),
            (json!({"state_name": null}), "state_name"),
            (json!({"updated_at": null}), "updated_at"),
        ] {
            let response = send(edit).await;
            assert_eq!(response.status(), 400, "{field}");
            assert_eq!(json_body(response).await["failures"][0]["path"], field);
        }
        let long = send(json!({"slug": "ti_long", "name": "N".repeat(2000)})).await;
        assert_eq!(long.status(), 200);
        let stored = tickets::get(&app.state.db, "ti_long").await.expect("db").expect("row");
        assert_eq!(stored.name.chars().count(), 1000, "cut to the column's size");
        let nul = send(json!({"slug": "ti_nul", "name": "Ada\u{0} Lovelace\u{7}"})).await;
        assert_eq!(nul.status(), 200);
        assert_eq!(tickets::get(&app.state.db, "ti_nul").await.expect("db").expect("row").name, "Ada Lovelace");
    }

    async fn the_per_address_limit_never_locks_the_owner_out(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        app.token_for("victim@example.org", &[]).await;
        let login_from = |ip: &'static str| {
            let request = app.client.post(app.url("/api/auth/login"))
                .header("x-forwarded-for", ip)
                .json(&json!({"email": "victim@example.org"}));
            async move { request.send().await.expect("sent") }
        };
        // Someone else floods the address: same answer every time; only the first few emails go out.
        for _ in 0..12 {
            let response = login_from("203.0.113.7").await;
            assert_eq!(response.status(), 200);
            assert_eq!(json_body(response).await, json!({"message": "ok"}));
        }
        assert_eq!(sink.wait_for("victim@example.org", 5, WAIT).await.len(), 5);
        // The owner, from their own IP, still gets a link within the same minute.
        assert_eq!(login_from("198.51.100.20").await.status(), 200);
        let mails = sink.wait_for("victim@example.org", 6, WAIT).await;
        assert_eq!(mails.len(), 6, "the owner's request was emailed");
        assert!(mails[5].data.contains("/auth/login/"));
    }

    async fn the_confirm_page_is_localised_branded_and_bound_to_its_link(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        let token = app.token_for("lucia@example.org", &[]).await;
        let patched = app.client.patch(app.url("/api/auth/me")).bearer_auth(&token)
            .json(&json!({"language": "es"})).send().await.expect("sent");
        assert_eq!(patched.status(), 200);
        app.post_json("/api/auth/login", &json!({"email": "lucia@example.org"})).await;
        let link = login_token(&sink, "lucia@example.org", 1).await;
        let (page, nonce) = confirm_page(&app, &link).await;
        assert!(page.contains("lang=\"es\"") && page.contains("Continuar"), "{page}");
        assert!(page.contains("Plaza Demo Festival"), "named after the event: {page}");
        assert!(!nonce.is_empty());

        // Not bound: no nonce, another link's nonce, a cross-site form. Each goes back to the page, consuming nothing.
        let other = app.state.tokens.login_nonce("another-link");
        for (nonce, site) in [("", Some("same-origin")), (other.as_str(), None), (nonce.as_str(), Some("cross-site"))] {
            let refused = post_confirm(&app, &link, nonce, site).await;
            assert_eq!(refused.status(), 303);
            assert_eq!(refused.headers()["location"], format!("/api/auth/login/{link}").as_str());
        }
        let done = post_confirm(&app, &link, &nonce, Some("same-origin")).await;
        assert!(done.headers()["location"].to_str().expect("location").starts_with(&format!("{CLIENT}_auth#token=")));
        let (used, nonce) = confirm_page(&app, &link).await;
        assert!(used.contains("Este enlace ya se ha usado") && nonce.is_empty(), "{used}");
    }

    async fn bad_tokens_are_401_and_redirects_are_capped(backend: Backend) {
        let (app, _sink) = app_with_mail(backend, &[]).await;
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let claims = b64(json!({"kind": "auth", "sub": 1, "user_roles": ["admin"], "user_lang": "en",
            "iss": "plaza", "iat": 0, "exp": 4_000_000_000_i64, "ver": 0}));
        let none = format!("{}.{claims}.", b64(json!({"alg": "none", "typ": "JWT"})));
        for path in ["/api/auth/me", "/api/admin/schedule", "/api/attendance/me"] {
            assert_eq!(app.get_as(&none, path).await.status(), 401, "{path}");
        }
        let long = format!("/{}", "a".repeat(3000));
        let refused = app.post_json("/api/auth/login", &json!({"email": "a@example.org", "redirect": long})).await;
        assert_eq!(refused.status(), 400);
        assert_eq!(json_body(refused).await["failures"][0]["path"], "redirect");
        let fine = app.post_json("/api/auth/login", &json!({"email": "a@example.org", "redirect": "/session/A-1"})).await;
        assert_eq!(fine.status(), 200);
    }
}

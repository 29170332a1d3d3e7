//! Sign-in end to end over a real SMTP conversation: magic links (confirm page, single use, expiry, redirects),
//! the allow-list (tickets, facilitators, admins, block list), rate limits, the profile, account deletion and the
//! Tito webhook.

use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use hmac::{Hmac, KeyInit as _, Mac as _};
use plaza_core::model::schedule::hash_email;
use plaza_core::queries::{attendees, tickets};
use plaza_tests::app::json_body;
use plaza_tests::smtp_sink::SmtpSink;
use plaza_tests::{Backend, TestApp, for_each_backend, inside_one_limit_window, spawn_app};
use serde_json::json;

const CLIENT: &str = "https://client.example/";
const TITO_KEY: &str = "tito-test-security-token";

async fn app_with_mail(backend: Backend, extra: &[(&str, &str)]) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let url = sink.url();
    let mut vars = vec![
        ("SMTP_URL", url.as_str()),
        ("CLIENT_URL", CLIENT),
        ("ADMIN_EMAILS", "Boss@Example.org"),
        ("TITO_SECURITY_TOKEN", TITO_KEY),
    ];
    vars.extend_from_slice(extra);
    (spawn_app(backend, &vars).await, sink)
}

async fn give_ticket(app: &TestApp, slug: &str, email: &str, name: &str, state: &str) {
    let ticket = tickets::Ticket {
        slug: slug.into(),
        email_hash: Some(hash_email(email)),
        name: name.into(),
        state: state.into(),
        tito_updated_at: Utc::now(),
    };
    tickets::upsert_many(&app.state.db, &[ticket])
        .await
        .expect("ticket");
}

/// The login token in the `count`-th email to `to`.
async fn login_token(sink: &SmtpSink, to: &str, count: usize) -> String {
    sink.login_token(to, count).await
}

async fn request_link(app: &TestApp, email: &str) -> reqwest::Response {
    app.post_json(
        "/api/auth/login",
        &json!({ "email": email, "redirect": "/session/ABC-1" }),
    )
    .await
}

/// Requests a link as a proxy would forward it: `forwarded` goes into `Forwarded` when it has a `for=`, else into
/// `X-Forwarded-For`. Returns the status.
async fn login_via(app: &TestApp, email: &str, forwarded: &str) -> u16 {
    let header = if forwarded.contains("for=") {
        "forwarded"
    } else {
        "x-forwarded-for"
    };
    app.client
        .post(app.url("/api/auth/login"))
        .header(header, forwarded)
        .json(&json!({ "email": email }))
        .send()
        .await
        .expect("sent")
        .status()
        .as_u16()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned()
}

/// Completes a login through the confirm page; returns the auth token from the redirect.
async fn finish(app: &TestApp, token: &str) -> String {
    finish_to(app, token, true).await
}

/// The confirm page of `token` and its form's nonce.
async fn confirm_page(app: &TestApp, token: &str) -> (String, String) {
    app.confirm_page(token).await
}

/// Submits the confirm form of `token` as a browser would (the nonce from its page).
async fn confirm(app: &TestApp, token: &str) -> reqwest::Response {
    let (_, nonce) = confirm_page(app, token).await;
    app.client
        .post(app.url(&format!("/api/auth/login/{token}")))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("nonce={nonce}"))
        .send()
        .await
        .expect("sent")
}

/// Like [`finish`]; `redirected` says whether the link carries the `/session/ABC-1` redirect.
async fn finish_to(app: &TestApp, token: &str, redirected: bool) -> String {
    let done = confirm(app, token).await;
    assert_eq!(done.status(), 303);
    let to = location(&done);
    assert!(to.starts_with(&format!("{CLIENT}_auth#token=")), "{to}");
    assert_eq!(
        to.contains("&redirect=https%3A%2F%2Fclient.example%2Fsession%2FABC-1"),
        redirected,
        "{to}"
    );
    let fragment = to.split_once('#').expect("fragment").1;
    url::form_urlencoded::parse(fragment.as_bytes())
        .find(|(k, _)| k == "token")
        .expect("token")
        .1
        .into_owned()
}

fn sign(body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(TITO_KEY.as_bytes()).expect("key");
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn webhook(app: &TestApp, name: &str, body: &[u8], signature: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/tito/webhook"))
        .header("content-type", "application/json")
        .header("X-Webhook-Name", name)
        .header("Tito-Signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .expect("sent")
}

fn ticket_payload(slug: &str, email: &str, name: &str, state: &str) -> Vec<u8> {
    json!({
        "_type": "ticket", "id": 1, "slug": slug, "reference": "ABCD-1", "name": name, "email": email,
        "state_name": state, "updated_at": Utc::now().to_rfc3339(), "event": {"slug": "fest", "account_slug": "org"},
    })
    .to_string()
    .into_bytes()
}

for_each_backend! {
    async fn a_ticket_holder_signs_in_through_the_emailed_link(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        give_ticket(&app, "ti_1", "ada@example.org", "Ada Lovelace", "complete").await;
        let response = request_link(&app, " Ada@Example.org ").await;
        assert_eq!(json_body(response).await, json!({"message": "ok"}));
        let token = login_token(&sink, "ada@example.org", 1).await;

        // A scanner's GETs change nothing.
        for _ in 0..3 {
            assert_eq!(app.get(&format!("/api/auth/login/{token}")).await.status(), 200);
        }
        let row = attendees::find_by_email(&app.state.db, "ada@example.org").await.expect("db").expect("row");
        assert!(!row.verified);

        let auth = finish(&app, &token).await;
        let me = json_body(app.get_as(&auth, "/api/auth/me").await).await;
        assert_eq!(me["registration"]["email"], "ada@example.org");
        assert_eq!(me["registration"]["name"], "Ada Lovelace");
        assert_eq!(me["registration"]["verified"], true);
        let claims = app.state.tokens.verify_auth(&auth).expect("valid");
        assert_eq!(claims.user_roles, vec!["attendee"]);

        // The link works once; its page now says so.
        let (page, nonce) = confirm_page(&app, &token).await;
        assert!(page.contains("This link was already used") && nonce.is_empty(), "{page}");
        let again = app.client.post(app.url(&format!("/api/auth/login/{token}")))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("nonce={}", app.state.tokens.login_nonce(&app.state.tokens.verify_login(&token).expect("valid").jti)))
            .send().await.expect("sent");
        assert_eq!(location(&again), format!("{CLIENT}error/login_expired"));
    }

    async fn unknown_addresses_get_the_same_answer_and_a_no_ticket_email(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        let response = request_link(&app, "stranger@example.org").await;
        assert_eq!(response.status(), 200);
        assert_eq!(json_body(response).await, json!({"message": "ok"}));
        let mail = sink.wait_for("stranger@example.org", 1, Duration::from_secs(10)).await;
        assert_eq!(mail.len(), 1);
        assert!(!mail[0].data.contains("/auth/login/"), "no login link for an unknown address");
        assert!(attendees::find_by_email(&app.state.db, "stranger@example.org").await.expect("db").is_none());
    }

    async fn admins_and_facilitators_get_their_roles(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        request_link(&app, "boss@example.org").await;
        let auth = finish(&app, &login_token(&sink, "boss@example.org", 1).await).await;
        assert!(app.state.tokens.verify_auth(&auth).expect("valid").has_role("admin"));

        // Facilitators come from the published schedule (speakers of confirmed sessions, by email hash).
        let summary = plaza_jobs::schedule::run_once(&app.jobs()).await.expect("demo import");
        let served = plaza_tests::eventually(Duration::from_secs(10), || async {
            app.state.schedule.current().version == summary.version
        });
        assert!(served.await.is_some());
        let snapshot = app.state.schedule.current();
        let speakers = plaza_jobs::pretalx::demo::dataset(plaza_jobs::schedule::demo_start());
        let email = speakers.collections["speakers"]
            .iter()
            .filter_map(|s| s["email"].as_str())
            .map(plaza_core::config::normalise_email)
            .find(|e| snapshot.schedule.facilitators.contains(&hash_email(e)))
            .expect("a facilitator of the demo event");
        request_link(&app, &email).await;
        let auth = finish(&app, &login_token(&sink, &email, 1).await).await;
        let claims = app.state.tokens.verify_auth(&auth).expect("valid");
        assert!(claims.has_role("facilitator") && !claims.has_role("admin"), "{claims:?}");
    }

    async fn blocked_addresses_cannot_finish_signing_in(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        give_ticket(&app, "ti_2", "mallory@example.org", "Mallory", "complete").await;
        request_link(&app, "mallory@example.org").await;
        let token = login_token(&sink, "mallory@example.org", 1).await;
        app.state.set_blocked(["Mallory@example.org".to_owned()]);
        let done = confirm(&app, &token).await;
        assert_eq!(location(&done), format!("{CLIENT}error"));
    }

    async fn the_sixth_request_in_a_minute_gets_the_same_answer_and_no_email(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        give_ticket(&app, "ti_busy", "busy@example.org", "Busy", "complete").await;
        inside_one_limit_window(Duration::from_secs(15)).await;
        for _ in 0..6 {
            let response = request_link(&app, "busy@example.org").await;
            assert_eq!(response.status(), 200);
            assert_eq!(json_body(response).await, json!({"message": "ok"}));
        }
        assert_eq!(sink.wait_for("busy@example.org", 5, Duration::from_secs(10)).await.len(), 5);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sink.wait_for("busy@example.org", 6, Duration::ZERO).await.len(), 5, "the sixth is not sent");
    }

    async fn the_per_ip_limit_counts_the_client_its_trusted_proxies_vouch_for(backend: Backend) {
        // The test client connects from 127.0.0.1: a trusted hop by default, as the all-mode front is.
        let (app, _sink) = app_with_mail(backend, &[("LOGIN_LIMIT_PER_IP", "2")]).await;
        inside_one_limit_window(Duration::from_secs(15)).await;
        assert_eq!(login_via(&app, "a1@example.org", "8.8.4.4").await, 200);
        assert_eq!(login_via(&app, "a2@example.org", "8.8.4.4").await, 200);
        assert_eq!(login_via(&app, "a3@example.org", "8.8.4.4").await, 429);
        // A forged entry on the left does not make a new client: the proxy appended the real one.
        assert_eq!(login_via(&app, "a4@example.org", "1.1.1.1, 8.8.4.4").await, 429);
        assert_eq!(login_via(&app, "a5@example.org", "9.9.9.9").await, 200, "another client");
        // Forwarded is not the header trusted proxies write (CLIENT_IP_HEADER): a client-sent one names nobody, so the
        // sender is the peer itself, counted like any other client.
        for (i, expected) in [(6, 200), (7, 200), (8, 429)] {
            let forged = format!("for=\"203.0.113.{i}:4711\"; proto=https");
            assert_eq!(login_via(&app, &format!("a{i}@example.org"), &forged).await, expected, "a{i}");
        }

        // Trusting no proxy: the peer is the client, whatever the headers say.
        let (app, _sink) =
            app_with_mail(backend, &[("LOGIN_LIMIT_PER_IP", "2"), ("TRUSTED_PROXIES", "none")]).await;
        inside_one_limit_window(Duration::from_secs(10)).await;
        assert_eq!(login_via(&app, "b1@example.org", "8.8.4.4").await, 200);
        assert_eq!(login_via(&app, "b2@example.org", "8.8.8.8").await, 200);
        let refused = login_via(&app, "b3@example.org", "9.9.9.9").await;
        assert_eq!(refused, 429, "a forwarded header from an untrusted peer changes nothing");
    }

    async fn bad_login_bodies_get_clear_400s_and_huge_ones_413(backend: Backend) {
        let (app, _sink) = app_with_mail(backend, &[]).await;
        let not_email = app.post_json("/api/auth/login", &json!({"email": "nope"})).await;
        assert_eq!(not_email.status(), 400);
        assert_eq!(json_body(not_email).await["failures"][0]["path"], "email");
        let extra = app.post_json("/api/auth/login", &json!({"email": "a@example.org", "admin": true})).await;
        assert_eq!(extra.status(), 400);
        let huge = format!("{{\"email\": \"{}@example.org\"}}", "a".repeat(1024 * 1024));
        let response = app.send_raw(reqwest::Method::POST, "/api/auth/login", "application/json", huge).await;
        assert_eq!(response.status(), 413);
        assert_eq!(json_body(response).await["codes"][0], "general.payloadTooLarge");
    }

    async fn expired_links_redirect_to_the_expired_page(backend: Backend) {
        let (app, _sink) = app_with_mail(backend, &[]).await;
        let row = attendees::ensure(&app.state.db, "late@example.org", "Late").await.expect("row");
        let token = app.state.tokens.sign_login(row.id, &[], None, None, Duration::ZERO).expect("token");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(location(&app.get(&format!("/api/auth/login/{token}")).await), format!("{CLIENT}error/login_expired"));
        assert_eq!(location(&app.get("/api/auth/login/garbage").await), format!("{CLIENT}error"));
    }

    async fn deleting_the_account_erases_it_and_revokes_its_tokens(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        let name = "Zoë Ñandú-Øresund, Directora de Programación y Comunidades Internacionales";
        assert!(name.chars().count() > 50);
        give_ticket(&app, "ti_3", "zoë@example.org", name, "complete").await;
        request_link(&app, "zoë@example.org").await;
        let auth = finish(&app, &login_token(&sink, "zoë@example.org", 1).await).await;
        assert_eq!(json_body(app.get_as(&auth, "/api/auth/me").await).await["registration"]["name"], name);
        let deleted = app.client.delete(app.url("/api/auth/me")).bearer_auth(&auth).send().await.expect("sent");
        assert_eq!(json_body(deleted).await["message"], "ok");
        assert_eq!(app.get_as(&auth, "/api/auth/me").await.status(), 401);
        assert!(attendees::find_by_email(&app.state.db, "zoë@example.org").await.expect("db").is_none());
    }

    async fn the_preferred_language_is_saved_and_the_next_email_uses_it(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        give_ticket(&app, "ti_5", "lucia@example.org", "Lucía", "complete").await;
        request_link(&app, "lucia@example.org").await;
        let auth = finish(&app, &login_token(&sink, "lucia@example.org", 1).await).await;
        let patch = |body: serde_json::Value, token: Option<&str>| {
            let request = app.client.patch(app.url("/api/auth/me")).json(&body);
            let request = match token {
                Some(token) => request.bearer_auth(token),
                None => request,
            };
            async move { request.send().await.expect("sent") }
        };

        let saved = patch(json!({"language": "es"}), Some(&auth)).await;
        assert_eq!(saved.status(), 200);
        assert_eq!(json_body(saved).await["registration"]["language"], "es");
        let me = json_body(app.get_as(&auth, "/api/auth/me").await).await;
        assert_eq!(me["registration"]["language"], "es");
        request_link(&app, "lucia@example.org").await;
        let messages = sink.wait_for("lucia@example.org", 2, Duration::from_secs(10)).await;
        assert!(messages[1].data.contains("Tu enlace de acceso"), "{}", messages[1].data);

        let unknown = patch(json!({"language": "xx"}), Some(&auth)).await;
        assert_eq!(unknown.status(), 400);
        let failure = &json_body(unknown).await["failures"][0];
        assert_eq!((failure["path"].as_str(), failure["message"].as_str()), (Some("language"), Some("is not one of en, es")));
        let extra = patch(json!({"language": "en", "email": "x@example.org"}), Some(&auth)).await;
        assert_eq!(extra.status(), 400, "only the language can be changed");
        assert_eq!(patch(json!({"language": "en"}), None).await.status(), 401);
        let me = json_body(app.get_as(&auth, "/api/auth/me").await).await;
        assert_eq!(me["registration"]["language"], "es", "refused changes changed nothing");

        app.state.set_blocked(["lucia@example.org".to_owned()]);
        assert_eq!(patch(json!({"language": "en"}), Some(&auth)).await.status(), 401);
        let stored = attendees::find_by_email(&app.state.db, "lucia@example.org").await.expect("db").expect("row");
        assert_eq!(stored.language, "es", "a blocked account's profile is not written");
    }

    async fn an_admin_can_revoke_a_users_tokens(backend: Backend) {
        let (app, _sink) = app_with_mail(backend, &[]).await;
        let user = app.token_for("ada@example.org", &[]).await;
        let admin = app.token_for("boss@example.org", &["admin"]).await;
        let id = app.state.tokens.verify_auth(&user).expect("valid").sub;
        assert_eq!(app.post_as(&user, &format!("/api/admin/users/{id}/revoke")).await.status(), 401);
        assert_eq!(app.post_as(&admin, &format!("/api/admin/users/{id}/revoke")).await.status(), 200);
        assert_eq!(app.get_as(&user, "/api/auth/me").await.status(), 401);
        assert_eq!(app.post_as(&admin, "/api/admin/users/987654/revoke").await.status(), 404);
    }

    async fn a_signed_ticket_webhook_grants_access_once_however_often_tito_retries(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        let body = ticket_payload("ti_w1", "new@example.org", "New Person", "complete");
        for _ in 0..5 {
            let response = webhook(&app, "ticket.completed", &body, &sign(&body)).await;
            assert_eq!(response.status(), 200);
        }
        let token = login_token(&sink, "new@example.org", 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(sink.wait_for("new@example.org", 1, Duration::ZERO).await.len(), 1, "one email for five deliveries");
        assert_eq!(tickets::count_by_state(&app.state.db).await.expect("count"), vec![("complete".to_owned(), 1)]);
        let auth = finish_to(&app, &token, false).await;
        assert_eq!(app.get_as(&auth, "/api/auth/me").await.status(), 200);

        // Voided: access is removed and current tokens stop working.
        let void = ticket_payload("ti_w1", "new@example.org", "New Person", "void");
        assert_eq!(webhook(&app, "ticket.voided", &void, &sign(&void)).await.status(), 200);
        assert_eq!(app.get_as(&auth, "/api/auth/me").await.status(), 401);
        request_link(&app, "new@example.org").await;
        let mails = sink.wait_for("new@example.org", 2, Duration::from_secs(10)).await;
        assert!(!mails[1].data.contains("/auth/login/"), "a voided ticket gets no login link");
    }

    async fn webhooks_with_a_bad_signature_are_refused(backend: Backend) {
        let (app, sink) = app_with_mail(backend, &[]).await;
        let body = ticket_payload("ti_w2", "forged@example.org", "Forged", "complete");
        let bad = webhook(&app, "ticket.completed", &body, "bm90IGEgc2lnbmF0dXJl").await;
        assert_eq!(bad.status(), 401);
        assert_eq!(json_body(bad).await["codes"][0], "general.unauthorized");
        let mut tampered = body.clone();
        let last = tampered.len() - 2;
        tampered[last] ^= 1;
        assert_eq!(webhook(&app, "ticket.completed", &tampered, &sign(&body)).await.status(), 401);
        assert_eq!(webhook(&app, "ticket.completed", &body, "").await.status(), 401);
        let unknown = ticket_payload("ti_w3", "x@example.org", "X", "complete");
        assert_eq!(webhook(&app, "checkin.created", &unknown, &sign(&unknown)).await.status(), 200);
        assert!(tickets::get(&app.state.db, "ti_w3").await.expect("db").is_none(), "unknown events are a no-op");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(sink.messages().is_empty());
    }
}

//! The deconf / MozFest client's calls, written from the wire contract (`../shared/reference/deconf-api.md` §3, §5)
//! and played from another origin against the Kubernetes split: `--mode api` and `--mode live` as separate
//! processes on separate ports, one Postgres and one Redis. For each route the client uses: the request it sends
//! (with `Origin`, and the preflight a browser sends first) and the response shape it reads; for each socket event:
//! what it emits (websocket transport only, as the client connects) and what it receives. Every response carries
//! exactly one `Access-Control-Allow-Origin` naming the client's origin. Also: CORS once in every topology of `all`.

use base64::Engine as _;
use plaza_core::live::ATTEND_EVENT;
use plaza_core::queries::logs;
use plaza_tests::live::{JsClient, PlazaProcess, WAIT, free_port};
use plaza_tests::storage::TempDir;
use plaza_tests::{
    Backend, TestCache, TestDb, confirm_nonce, emailed_link, eventually, redirect_token, run_plaza,
    submit_confirm,
};
use reqwest::{Method, Response};
use serde_json::{Value, json};

/// The client's origin: nothing serves it, the browser only names it.
const ORIGIN: &str = "http://client.deconf.test:8080";
/// The MozFest client's configured issuer (its `JWT_ISSUER`).
const ISSUER: &str = "mozfest-localhost";
/// A Tito ticket holder made by `plaza fake-tito`.
const EMAIL: &str = "attendee-1@example.org";

/// A browser on [`ORIGIN`]: every request names the origin; a request that is not CORS-simple is preceded by
/// its preflight, which must allow it.
struct Browser {
    http: reqwest::Client,
}

impl Browser {
    fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Self { http }
    }

    /// The preflight a browser sends before `method url` with `headers` (lowercase names): 204, this origin, the
    /// method and the headers allowed.
    async fn preflight(&self, method: &Method, url: &str, headers: &str) {
        let res = self
            .http
            .request(Method::OPTIONS, url)
            .header("origin", ORIGIN)
            .header("access-control-request-method", method.as_str())
            .header("access-control-request-headers", headers)
            .send()
            .await
            .expect("preflight");
        assert_eq!(res.status(), 204, "preflight of {method} {url}");
        assert_one_origin(&res);
        let allowed = |name: &str| {
            res.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_ascii_lowercase()
        };
        assert!(
            allowed("access-control-allow-methods").contains(&method.as_str().to_ascii_lowercase()),
            "{method} not allowed for {url}"
        );
        for header in headers.split(',').map(str::trim).filter(|h| !h.is_empty()) {
            assert!(
                allowed("access-control-allow-headers").contains(header),
                "{header} not allowed for {url}"
            );
        }
    }

    /// `method url` as the client sends it: with the bearer token when signed in, a JSON body when given.
    async fn call(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut headers = Vec::new();
        if token.is_some() {
            headers.push("authorization");
        }
        if body.is_some() {
            headers.push("content-type");
        }
        if !headers.is_empty() || !matches!(method, Method::GET | Method::HEAD | Method::POST) {
            self.preflight(&method, url, &headers.join(",")).await;
        }
        let mut req = self.http.request(method, url).header("origin", ORIGIN);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request");
        assert_one_origin(&res);
        res
    }

    /// `call`, then the JSON body of a 200.
    async fn json(
        &self,
        method: Method,
        url: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let res = self.call(method.clone(), url, token, body).await;
        assert_eq!(res.status(), 200, "{method} {url}");
        plaza_tests::app::json_body(res).await
    }
}

/// Exactly one `Access-Control-Allow-Origin`, naming [`ORIGIN`].
fn assert_one_origin(res: &Response) {
    let values: Vec<_> = res
        .headers()
        .get_all("access-control-allow-origin")
        .iter()
        .collect();
    assert_eq!(values, [ORIGIN], "{} from {}", res.status(), res.url());
}

/// Asserts `value` is an object with (at least) `keys`.
fn has_keys(value: &Value, keys: &[&str]) {
    for key in keys {
        assert!(value.get(key).is_some(), "{key} missing in {value}");
    }
}

/// The claims of a JWT (unverified: the client only reads them).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Runs a one-shot mode (or command) to completion with `env`.
fn run(args: &[&str], env: &[(&str, &str)]) {
    let output = run_plaza(args, env.iter().copied().chain([("RUST_LOG", "warn")]));
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The value of gauge `name` in a Prometheus text scrape.
fn gauge(scrape: &str, name: &str) -> Option<f64> {
    scrape
        .lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deconf_client_on_another_origin_works_against_separate_api_and_live_processes() {
    let db = TestDb::new(Backend::Real).await;
    let cache = TestCache::new(Backend::Real);
    let dir = TempDir::new();
    let outbox = dir.path.join("outbox");
    let redis = cache
        .redis_url
        .as_ref()
        .expect("real cache")
        .expose()
        .to_owned();
    let owned: Vec<(&str, String)> = vec![
        ("DATABASE_URL", db.url.expose().to_owned()),
        ("REDIS_URL", redis),
        ("REDIS_PREFIX", cache.prefix.clone()),
        (
            "JWT_SECRET",
            "deconf-secret-deconf-secret-0123456789".into(),
        ),
        ("JWT_ISSUER", ISSUER.into()),
        ("CLIENT_URL", format!("{ORIGIN}/")),
        ("OUTBOX_DIR", outbox.to_string_lossy().into_owned()),
        ("VISITORS_DEBOUNCE_MS", "100".into()),
    ];
    let env: Vec<(&str, &str)> = owned.iter().map(|(k, v)| (*k, v.as_str())).collect();
    run(&["--mode", "migrate"], &env);
    run(&["--mode", "fetch-schedule"], &env);
    run(&["fake-tito", "--count", "1"], &env);
    let api = PlazaProcess::start("api", &dir.path, &env).await;
    let live = PlazaProcess::start("live", &dir.path, &env).await;
    let url = |path: &str| format!("{}/api{path}", api.address);
    let browser = Browser::new();

    // §3.6 the schedule, as the client loads it first.
    let schedule = browser
        .json(Method::GET, &url("/schedule"), None, None)
        .await;
    has_keys(
        &schedule,
        &[
            "sessions", "slots", "speakers", "themes", "tracks", "types", "settings",
        ],
    );
    let sessions: Vec<String> = schedule["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .filter(|s| s["slot"].is_string())
        .map(|s| {
            has_keys(
                s,
                &[
                    "id", "type", "themes", "title", "content", "links", "speakers", "state",
                ],
            );
            s["id"].as_str().expect("id").to_owned()
        })
        .take(5)
        .collect();
    assert_eq!(sessions.len(), 5, "the demo event has scheduled sessions");
    let whats_on = browser
        .json(Method::GET, &url("/schedule/whats-on"), None, None)
        .await;
    assert!(whats_on["sessions"].is_array());
    // §3.7 a content page.
    let content = browser
        .json(Method::GET, &url("/content/help"), None, None)
        .await;
    assert!(content["content"]["en"].is_string(), "{content}");

    // §5 the socket, websocket only; §5.4 one `site-visitors` on connect.
    let socket_url = live.address.clone();
    let mut socket = JsClient::connect(
        &socket_url,
        "/api/socket.io",
        json!({"transports": ["websocket"], "reconnection": false, "extraHeaders": {"origin": ORIGIN}}),
    )
    .await;
    assert!(socket.sees_visitors(1, WAIT).await, "{:?}", socket.seen);
    // The broadcast this arrival causes has gone out once the live process's gauge says 1 …
    let metrics = reqwest::Client::new();
    let broadcast = eventually(WAIT, || async {
        let scrape = metrics
            .get(format!("{}/metrics", live.address))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .unwrap_or_default();
        gauge(&scrape, "plaza_live_visitors") == Some(1.0)
    });
    assert!(broadcast.await.is_some(), "no visitor broadcast");
    // … and anything sent before an answer to a later request has arrived (one socket, in order).
    socket.emit("trackMetric", json!(["nope/never", {}])).await;
    socket
        .event("apiError", WAIT)
        .await
        .expect("apiError to a bad event");
    let visitor_messages = socket
        .seen
        .iter()
        .filter(|m| m["event"] == "site-visitors")
        .count();
    assert_eq!(visitor_messages, 1, "{:?}", socket.seen);

    // §3.3 sign-in: the link request, the emailed link (confirm page, then its form), the token in the fragment.
    let asked = browser
        .json(
            Method::POST,
            &url("/auth/login"),
            None,
            Some(json!({"email": EMAIL, "redirect": "/my-schedule"})),
        )
        .await;
    assert_eq!(asked, json!({"message": "ok"}));
    let link = emailed_link(&outbox).await;
    let page = browser.http.get(&link).send().await.expect("confirm page");
    assert_eq!(page.status(), 200);
    let nonce = confirm_nonce(&page.text().await.expect("confirm page"));
    let finished = submit_confirm(&browser.http, &link, &nonce).await;
    assert!(finished.status().is_redirection());
    let location = finished.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        location.starts_with(&format!("{ORIGIN}/_auth#token=")),
        "{location}"
    );
    let token = redirect_token(&location);
    assert!(location.contains("redirect="), "{location}");
    assert_eq!(
        claims(&token)["iss"],
        ISSUER,
        "the client drops other issuers"
    );
    assert!(claims(&token)["user_roles"].is_array());
    let me = browser
        .json(Method::GET, &url("/auth/me"), Some(&token), None)
        .await;
    has_keys(
        &me["registration"],
        &[
            "id",
            "created",
            "name",
            "email",
            "language",
            "country",
            "affiliation",
            "verified",
            "consented",
            "userData",
        ],
    );
    assert_eq!(me["registration"]["email"], EMAIL);

    // §5.1 `auth` binds the identity; §3.5 attending, with the client's own metric beside each call.
    socket.emit("auth", json!([token])).await;
    for session in &sessions {
        let done = browser
            .json(
                Method::POST,
                &url(&format!("/attendance/{session}/attend")),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(done, json!({"message": "ok"}));
        socket
            .emit(
                "trackMetric",
                json!(["attendance/attend", {"sessionId": session}]),
            )
            .await;
    }
    let mine = browser
        .json(Method::GET, &url("/attendance/me"), Some(&token), None)
        .await;
    let rows = mine["attendance"].as_array().expect("attendance");
    assert_eq!(rows.len(), 5);
    has_keys(&rows[0], &["id", "created", "attendee", "session"]);
    let one = browser
        .json(
            Method::GET,
            &url(&format!("/attendance/{}", sessions[0])),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(one, json!({"isAttending": true, "sessionCount": 1}));
    let stored = eventually(WAIT, || async {
        let client = logs::recent(&db.db, "attendance/attend", 20)
            .await
            .expect("logs");
        let own = logs::recent(&db.db, ATTEND_EVENT, 20).await.expect("logs");
        client.len() == 5 && own.len() == 5 && client.iter().all(|r| r.attendee.is_some())
    });
    assert!(
        stored.await.is_some(),
        "5 attends → 5 attendance/attend rows (and plaza's own 5)"
    );
    let left = browser
        .json(
            Method::POST,
            &url(&format!("/attendance/{}/unattend", sessions[4])),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(left, json!({"message": "ok"}));

    // §3.6 links (gated 30 min before the start: either the links or a 401 envelope), §3.9 calendars.
    let links = browser
        .call(
            Method::GET,
            &url(&format!("/schedule/{}/links", sessions[0])),
            Some(&token),
            None,
        )
        .await;
    let status = links.status().as_u16();
    let body = plaza_tests::app::json_body(links).await;
    match status {
        200 => assert!(body["links"].is_array(), "{body}"),
        401 => assert!(body["codes"].is_array(), "{body}"),
        other => panic!("links answered {other}: {body}"),
    }
    let feed = browser
        .json(Method::GET, &url("/calendar/me"), Some(&token), None)
        .await;
    let feed_url = feed["url"].as_str().expect("url").to_owned();
    let ics = browser.call(Method::GET, &feed_url, None, None).await;
    assert_eq!(ics.status(), 200);
    assert!(ics.text().await.expect("ics").contains("BEGIN:VCALENDAR"));
    let ical = browser
        .call(
            Method::GET,
            &url(&format!("/calendar/ical/{}", sessions[0])),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(ical.status(), 200);
    assert!(
        ical.headers()["content-type"]
            .to_str()
            .expect("type")
            .starts_with("text/calendar")
    );

    // §5.2 every metric the client tracks (`session/ical` with the `kind` the MozFest client adds), and an error.
    let metrics_sent = [
        (
            "session/ical",
            json!({"sessionId": sessions[0], "kind": "ical"}),
        ),
        ("attendance/unattend", json!({"sessionId": sessions[4]})),
        ("login/start", json!({"emailHash": "aGFzaA=="})),
        ("login/finish", json!({})),
        ("login/logout", json!({})),
        ("register/start", json!({"country": "GB"})),
        ("login/unregister", json!({"confirmed": true})),
        (
            "general/pageView",
            json!({"routeName": "session", "params": {"sessionId": sessions[0]}}),
        ),
        (
            "session/link",
            json!({"sessionId": sessions[0], "action": "click", "link": "https://example.org"}),
        ),
        ("atrium/widget", json!({"widget": "siteVisitors"})),
        (
            "session/recommendation",
            json!({"fromSession": sessions[0], "toSession": sessions[1], "index": 0}),
        ),
        ("profile/userCalendar", json!({})),
    ];
    for (name, payload) in &metrics_sent {
        socket.emit("trackMetric", json!([name, payload])).await;
    }
    socket
        .emit(
            "trackError",
            json!([{"name": "Error", "message": "boom", "stack": "at x", "info": {}}]),
        )
        .await;
    socket
        .emit("trackMetric", json!(["still/unknown", {}]))
        .await;
    socket
        .event("apiError", WAIT)
        .await
        .expect("the bad event's apiError");
    let errors = socket
        .seen
        .iter()
        .filter(|m| m["event"] == "apiError")
        .count();
    assert_eq!(
        errors, 2,
        "only the two unknown events are refused: {:?}",
        socket.seen
    );
    for (name, _) in &metrics_sent {
        let found = eventually(WAIT, || async {
            !logs::recent(&db.db, name, 5)
                .await
                .expect("logs")
                .is_empty()
        });
        assert!(found.await.is_some(), "{name} not stored");
    }
    let ical_row = logs::recent(&db.db, "session/ical", 1).await.expect("logs");
    assert_eq!(ical_row[0].data.0["kind"], "ical");
    socket.emit("deauth", json!([])).await;

    // §3.3 "Delete account": the client's GET /auth/unregister with the bearer token.
    let gone = browser
        .json(Method::GET, &url("/auth/unregister"), Some(&token), None)
        .await;
    assert_eq!(gone, json!({"message": "ok"}));
    let after = browser
        .call(Method::GET, &url("/auth/me"), Some(&token), None)
        .await;
    assert_eq!(after.status(), 401);
    let anonymous = browser
        .call(Method::GET, &url("/auth/unregister"), None, None)
        .await;
    assert_eq!(anonymous.status(), 401, "a bearer token is required");
    socket.close().await;
}

/// `GET path` from [`ORIGIN`] and a preflight for `DELETE` with a bearer token: one allow-origin header on each.
async fn assert_cors_once(base: &str, path: &str) {
    let browser = Browser::new();
    let url = format!("{base}{path}");
    let res = browser.call(Method::GET, &url, None, None).await;
    assert!(res.status().is_success(), "{url}: {}", res.status());
    browser
        .preflight(&Method::DELETE, &url, "authorization")
        .await;
    browser
        .preflight(&Method::PATCH, &url, "authorization,content-type")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_is_applied_once_to_the_api_and_the_socket_in_every_topology() {
    let client_url = format!("{ORIGIN}/");
    // `all` on one port: socket.io polling is an API route there and must get the headers once.
    let one = TempDir::new();
    let all = PlazaProcess::start("all", &one.path, &[("CLIENT_URL", &client_url)]).await;
    assert_cors_once(&all.address, "/api/content/help").await;
    assert_cors_once(&all.address, "/api/socket.io/?EIO=4&transport=polling").await;
    let unknown = Browser::new()
        .call(
            Method::GET,
            &format!("{}/api/nope", all.address),
            None,
            None,
        )
        .await;
    assert_eq!(unknown.status(), 404, "errors carry the headers too");

    // `all` with LIVE_ADDR: the API and the socket on their own ports.
    let split = TempDir::new();
    let live_port = free_port().to_string();
    let live_addr = format!("127.0.0.1:{live_port}");
    let all_split = PlazaProcess::start(
        "all",
        &split.path,
        &[("CLIENT_URL", &client_url), ("LIVE_ADDR", &live_addr)],
    )
    .await;
    assert_cors_once(&all_split.address, "/api/content/help").await;
    assert_cors_once(
        &format!("http://{live_addr}"),
        "/api/socket.io/?EIO=4&transport=polling",
    )
    .await;
}

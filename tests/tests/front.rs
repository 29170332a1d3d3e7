//! The HTTP front on the open internet, checked on the real binary (embedded tier): security headers on every
//! response class for GET and HEAD, a client IP that no spoofed header changes (`all`, `api`, behind a trusted proxy
//! hop), slowloris connections closed by the header timeout without delaying anyone else, idle keep-alive
//! connections closed, bounded method labels, and no token in any log line through sign-in, calendar feed, share
//! page and socket flows.

use std::path::Path;
use std::time::{Duration, Instant};

use plaza_tests::live::{JsClient, PlazaProcess, WAIT};
use plaza_tests::storage::TempDir;
use plaza_tests::{inside_one_limit_window, run_plaza};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const ADMIN: &str = "ada@example.org";
/// A live server on another origin, which the CSP's connect-src must name.
const SOCKET_URL: (&str, &str) = ("SOCKET_URL", "https://live.example.org");

/// The environment of a process of the embedded tier in `dir` (its own SQLite file, outbox and web client).
fn env(dir: &Path, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let client = dir.join("client");
    std::fs::create_dir_all(client.join("assets")).expect("client dir");
    std::fs::write(
        client.join("index.html"),
        "<!doctype html><div id=\"app\"></div><script type=\"module\" src=\"/assets/app.js\"></script>",
    )
    .expect("index");
    std::fs::write(client.join("assets/app.js"), "console.log('plaza')").expect("asset");
    let mut vars: Vec<(String, String)> = [
        (
            "DATABASE_URL",
            format!("sqlite://{}/plaza.db", dir.display()),
        ),
        (
            "JWT_SECRET",
            "front-secret-front-secret-front-secret-01".into(),
        ),
        ("OUTBOX_DIR", dir.join("outbox").display().to_string()),
        ("CLIENT_DIR", client.display().to_string()),
        ("ADMIN_EMAILS", ADMIN.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    vars
}

fn borrowed(vars: &[(String, String)]) -> Vec<(&str, &str)> {
    vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Starts `mode` on the embedded tier in `dir` (migrating first, which only `all` does itself).
async fn start(mode: &str, dir: &Path, extra: &[(&str, &str)]) -> PlazaProcess {
    let vars = env(dir, extra);
    if mode != "all" {
        let migrated = run_plaza(&["--mode", "migrate"], borrowed(&vars));
        assert!(
            migrated.status.success(),
            "{}",
            String::from_utf8_lossy(&migrated.stderr)
        );
    }
    PlazaProcess::start(mode, dir, &borrowed(&vars)).await
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Waits until the `all` process has imported and serves the demo schedule; returns its first session's id.
async fn served_session(process: &PlazaProcess) -> String {
    let http = http();
    let url = format!("{}/api/schedule", process.address);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(response) = http.get(&url).send().await
            && response.status() == StatusCode::OK
        {
            let schedule: Value = response.json().await.unwrap_or_default();
            if let Some(id) = schedule["sessions"][0]["id"].as_str() {
                return id.to_owned();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the demo schedule was not served");
}

fn assert_secured(response: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let csp = header("content-security-policy");
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert!(
        response
            .headers()
            .get("strict-transport-security")
            .is_none(),
        "{what}: no HSTS over plain http"
    );
    if header("content-type").starts_with("application/json") {
        // JSON loads and runs nothing: the short API policy, no page-only headers (issue #19).
        assert_eq!(
            csp, "default-src 'none'; frame-ancestors 'none'",
            "{what}: JSON policy"
        );
        assert_eq!(header("x-frame-options"), "DENY", "{what}");
        for page_only in [
            "referrer-policy",
            "cross-origin-opener-policy",
            "x-permitted-cross-domain-policies",
        ] {
            assert!(
                response.headers().get(page_only).is_none(),
                "{what}: {page_only} on JSON"
            );
        }
        return;
    }
    for directive in [
        "default-src 'self'",
        "script-src 'self';",
        "frame-ancestors 'self'",
        "object-src 'none'",
        "wss://live.example.org",
    ] {
        assert!(
            csp.contains(directive),
            "{what}: {directive} missing from {csp:?}"
        );
    }
    assert!(!csp.contains("'unsafe-eval'"), "{what}: {csp}");
    assert_eq!(header("x-frame-options"), "SAMEORIGIN", "{what}");
    assert!(!header("referrer-policy").is_empty(), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_class_carries_the_security_headers_for_get_and_head() {
    let dir = TempDir::new();
    let all = start("all", &dir.path, &[SOCKET_URL]).await;
    let session = served_session(&all).await;
    let http = http();
    let paths = [
        "/",
        "/session/ABC-1",
        "/assets/app.js",
        "/client-config.json",
        "/api/schedule",
        "/api/content/help",
        &format!("/api/share/session/{session}"),
        "/api/schedule/lint",
        "/api/nope",
        "/healthz",
    ];
    for path in paths {
        let url = format!("{}{path}", all.address);
        let get = http.get(&url).send().await.expect("GET");
        assert_secured(&get, &format!("GET {path}"));
        let head = http.head(&url).send().await.expect("HEAD");
        assert_secured(&head, &format!("HEAD {path}"));
        assert_eq!(head.status(), get.status(), "HEAD {path} answers like GET");
        assert_eq!(
            head.headers().get("content-type"),
            get.headers().get("content-type"),
            "HEAD {path}"
        );
        assert!(
            head.bytes().await.expect("body").is_empty(),
            "HEAD {path} has no body"
        );
    }
    for path in ["/", "/api/schedule", "/api/content/help"] {
        let url = format!("{}{path}", all.address);
        assert_eq!(
            http.head(&url).send().await.expect("HEAD").status(),
            200,
            "HEAD {path}"
        );
    }

    // HSTS only over https: as a trusted proxy (loopback) that terminated TLS says.
    let behind_tls = http
        .get(format!("{}/api/schedule", all.address))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("GET");
    assert_eq!(
        behind_tls.headers()["strict-transport-security"],
        "max-age=31536000"
    );

    // A live process's own answers (probes, its 404).
    let live_dir = TempDir::new();
    let live = start("live", &live_dir.path, &[SOCKET_URL]).await;
    for path in ["/healthz", "/nope"] {
        let response = http
            .get(format!("{}{path}", live.address))
            .send()
            .await
            .expect("GET");
        assert_secured(&response, &format!("live {path}"));
    }
}

/// A login request for `email` with extra `headers`; the status code.
async fn login(process: &PlazaProcess, email: &str, headers: &[(&str, &str)]) -> u16 {
    let mut request = http()
        .post(format!("{}/api/auth/login", process.address))
        .json(&json!({ "email": email }));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("sent").status().as_u16()
}

/// With `LOGIN_LIMIT_PER_IP=3`: three logins per client, whatever `Forwarded` / `X-Real-IP` say.
async fn spoofing_never_lifts_the_limit(process: &PlazaProcess, mode: &str) {
    inside_one_limit_window(Duration::from_secs(20)).await;
    for i in 0..6 {
        let forged = format!("for=203.0.113.{i}");
        let real_ip = format!("198.51.100.{i}");
        let status = login(
            process,
            &format!("direct-{i}@example.org"),
            &[("forwarded", &forged), ("x-real-ip", &real_ip)],
        )
        .await;
        let expected = if i < 3 { 200 } else { 429 };
        assert_eq!(
            status, expected,
            "{mode}: direct login {i} with a spoofed Forwarded header"
        );
    }
    // Behind a trusted proxy hop (loopback is trusted by default): the proxy's X-Forwarded-For names the client,
    // and a Forwarded header the client sent through it changes nothing.
    for i in 0..5 {
        let forged = format!("for=\"[2001:db8::{i}]\"");
        let status = login(
            process,
            &format!("proxied-{i}@example.org"),
            &[("x-forwarded-for", "8.8.4.4"), ("forwarded", &forged)],
        )
        .await;
        let expected = if i < 3 { 200 } else { 429 };
        assert_eq!(status, expected, "{mode}: proxied login {i}");
    }
    let other = login(
        process,
        "other@example.org",
        &[("x-forwarded-for", "8.8.8.8")],
    )
    .await;
    assert_eq!(
        other, 200,
        "{mode}: another client behind the proxy has its own allowance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spoofed_forwarded_header_never_lifts_the_per_ip_limit() {
    let limits = [
        ("LOGIN_LIMIT_PER_IP", "3"),
        ("LOGIN_NOTIFY_UNKNOWN", "false"),
    ];
    for mode in ["all", "api"] {
        let dir = TempDir::new();
        let process = start(mode, &dir.path, &limits).await;
        spoofing_never_lifts_the_limit(&process, mode).await;
    }
    // A deployment whose proxies write RFC 7239 Forwarded: X-Forwarded-For is the header that is ignored now.
    let dir = TempDir::new();
    let mut vars = limits.to_vec();
    vars.push(("CLIENT_IP_HEADER", "forwarded"));
    let process = start("api", &dir.path, &vars).await;
    inside_one_limit_window(Duration::from_secs(10)).await;
    for i in 0..5 {
        let forged = format!("192.0.2.{i}");
        let status = login(
            &process,
            &format!("rfc-{i}@example.org"),
            &[("forwarded", "for=8.8.4.4"), ("x-forwarded-for", &forged)],
        )
        .await;
        assert_eq!(
            status,
            if i < 3 { 200 } else { 429 },
            "Forwarded-reading login {i}"
        );
    }
}

/// Opens a connection and sends the start of a request's head, never its end.
async fn half_request(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /api/schedule HTTP/1.1\r\nHost: plaza\r\n")
        .await
        .expect("write");
    stream
}

/// Trickles a header byte every 200 ms until the server closes the connection; how long it stayed open.
async fn held_open(mut stream: TcpStream, opened: Instant) -> Duration {
    let mut buffer = [0u8; 256];
    loop {
        tokio::select! {
            read = stream.read(&mut buffer) => match read {
                Ok(0) | Err(_) => return opened.elapsed(),
                // 408, then the close.
                Ok(_) => continue,
            },
            () = tokio::time::sleep(Duration::from_millis(200)) => {
                if stream.write_all(b"x").await.is_err() {
                    return opened.elapsed();
                }
            }
        }
        if opened.elapsed() > Duration::from_secs(30) {
            return opened.elapsed();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_connections_are_closed_by_the_header_timeout_and_never_delay_a_request() {
    let dir = TempDir::new();
    let api = start("api", &dir.path, &[("HTTP_HEADER_TIMEOUT_SECONDS", "2")]).await;
    let address = api.address.trim_start_matches("http://").to_owned();
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..500 {
        let stream = half_request(&address).await;
        slow.push(tokio::spawn(held_open(stream, Instant::now())));
    }
    let opened_in = started.elapsed();

    // Normal requests while all 500 hang: each answered at once, on a new connection each.
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let client = http();
        let sent = Instant::now();
        let response = client
            .get(format!("{}/api/content/help", api.address))
            .send()
            .await
            .expect("answered");
        assert_eq!(response.status(), 200);
        slowest = slowest.max(sent.elapsed());
    }
    assert!(
        slowest < Duration::from_millis(1500),
        "a normal request waited {slowest:?} behind the slowloris connections"
    );

    let mut longest = Duration::ZERO;
    let mut shortest = Duration::MAX;
    for task in slow {
        let held = task.await.expect("task");
        longest = longest.max(held);
        shortest = shortest.min(held);
    }
    println!(
        "500 slowloris connections opened in {opened_in:?}, closed after {shortest:?}..{longest:?}; \
         slowest of 20 normal requests meanwhile: {slowest:?}"
    );
    // Each connection from its own opening: the configured 2 s (actix's own default, what old builds keep, is 5 s).
    assert!(
        longest < Duration::from_secs(4),
        "a half-sent request stayed open {longest:?} (all 500 opened in {opened_in:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed() {
    let dir = TempDir::new();
    let api = start("api", &dir.path, &[("HTTP_KEEP_ALIVE_SECONDS", "1")]).await;
    let mut stream = TcpStream::connect(api.address.trim_start_matches("http://"))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: plaza\r\n\r\n")
        .await
        .expect("write");
    let opened = Instant::now();
    let mut buffer = vec![0u8; 4096];
    let mut closed = false;
    while opened.elapsed() < Duration::from_secs(10) {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer)).await {
            Ok(Ok(0) | Err(_)) => {
                closed = true;
                break;
            }
            Ok(Ok(_)) => {}
            Err(_) => break,
        }
    }
    assert!(closed, "the idle connection stayed open");
    assert!(
        opened.elapsed() < Duration::from_secs(4),
        "closed after {:?}",
        opened.elapsed()
    );
}

/// Sends a whole request on a new connection and reads the start of its answer: the connection then idles.
async fn answered_connection(address: &str) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: plaza\r\n\r\n")
        .await
        .expect("write");
    let mut buffer = [0u8; 512];
    let read = stream.read(&mut buffer).await.expect("answer");
    assert!(
        buffer[..read].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&buffer[..read])
    );
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    // One connection per actix worker (one worker per core, as the server on this machine runs).
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let cap = workers.to_string();
    let dir = TempDir::new();
    let vars = [
        ("HTTP_MAX_CONNECTIONS", cap.as_str()),
        ("HTTP_KEEP_ALIVE_SECONDS", "3"),
    ];
    let api = start("api", &dir.path, &vars).await;
    let address = api.address.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..workers {
        held.push(answered_connection(&address).await);
    }
    // Over the cap: accepted by the kernel, served only once a held connection's keep-alive ends.
    let sent = Instant::now();
    let _late = answered_connection(&address).await;
    let waited = sent.elapsed();
    assert!(
        waited > Duration::from_secs(2),
        "a connection over HTTP_MAX_CONNECTIONS={cap} was served after {waited:?}"
    );
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_method_labels_are_a_fixed_set() {
    let dir = TempDir::new();
    let api = start("api", &dir.path, &[]).await;
    let method = "Q".repeat(2000);
    let mut stream = TcpStream::connect(api.address.trim_start_matches("http://"))
        .await
        .expect("connect");
    stream
        .write_all(
            format!("{method} /api/schedule HTTP/1.1\r\nHost: plaza\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("answer");
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    let metrics = http()
        .get(format!("{}/metrics", api.address))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(!metrics.contains("QQQQ"), "the method became a label");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("plaza_http_requests_total{") && l.contains("method=\"other\"")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_token_appears_in_any_log_line() {
    let dir = TempDir::new();
    let vars = env(
        &dir.path,
        &[
            (
                "RUST_LOG",
                "info,plaza=debug,plaza_core=debug,plaza_jobs=debug",
            ),
            // Every request gets its access-log line here (the default budget would skip some).
            ("ACCESS_LOG_PER_SECOND", "1000000"),
        ],
    );
    let mut all = PlazaProcess::start("all", &dir.path, &borrowed(&vars)).await;
    let session = served_session(&all).await;
    let http = http();
    let url = |path: &str| format!("{}{path}", all.address);

    // Sign-in: the link from the outbox, its confirm page, then the redirect carrying the auth token.
    let requested = http
        .post(url("/api/auth/login"))
        .json(&json!({"email": ADMIN}))
        .send()
        .await
        .expect("login");
    assert_eq!(requested.status(), 200);
    let emailed = plaza_tests::emailed_link(&dir.path.join("outbox")).await;
    let link = emailed
        .rsplit('/')
        .next()
        .expect("the link's token")
        .to_owned();
    let confirm = http
        .get(url(&format!("/api/auth/login/{link}")))
        .send()
        .await
        .expect("confirm page");
    assert_eq!(confirm.status(), 200);
    assert_eq!(
        confirm.headers()["referrer-policy"],
        "no-referrer",
        "the handler's own policy is kept"
    );
    let confirm_secured = confirm.headers().contains_key("content-security-policy");
    let nonce = plaza_tests::confirm_nonce(&confirm.text().await.expect("confirm page"));
    let finished =
        plaza_tests::submit_confirm(&http, &url(&format!("/api/auth/login/{link}")), &nonce).await;
    let location = finished.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    let auth = plaza_tests::redirect_token(&location);
    let me = http
        .get(url("/api/auth/me"))
        .bearer_auth(&auth)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);

    // The private calendar feed, fetched by its URL, plus the usual mistakes with tokens in URLs.
    let feed: Value = http
        .get(url("/api/calendar/me"))
        .bearer_auth(&auth)
        .send()
        .await
        .expect("feed url")
        .json()
        .await
        .expect("json");
    let feed_url = feed["url"].as_str().expect("url").to_owned();
    let feed_token = feed_url.rsplit('/').next().expect("token").to_owned();
    let calendar = http
        .get(url(&format!("/api/calendar/me/{feed_token}")))
        .send()
        .await
        .expect("feed");
    assert_eq!(calendar.status(), 200);
    for path in [
        format!("/api/calendar/me/{feed_token}.ics"),
        format!("/api/auth/login/{link}/again"),
        format!("/api/schedule?token={auth}"),
        format!("/_auth?token={auth}"),
    ] {
        http.get(url(&path)).send().await.expect("sent");
    }

    // A share page, and a signed-in socket whose metric an admin watches.
    let share = http
        .get(url(&format!("/api/share/session/{session}?ref={auth}")))
        .send()
        .await
        .expect("share");
    assert_eq!(share.status(), 200);
    let options = json!({
        "transports": ["websocket"],
        "emitOnConnect": [["auth", auth], ["startAnalyse"], ["trackMetric", "login/finish", {}]],
    });
    let mut socket = JsClient::connect(&all.address, "/api/socket.io", options).await;
    assert!(
        socket.event("liveEvent", WAIT).await.is_some(),
        "the signed-in socket's metric was seen"
    );
    socket.close().await;
    all.kill();

    let logged = all.logs();
    assert!(logged.contains("request"), "the access log was captured");
    for (name, token) in [
        ("login link", &link),
        ("auth", &auth),
        ("calendar feed", &feed_token),
    ] {
        // The whole token, or its signature alone (a token cut at a dot is still a leak).
        let signature = token.rsplit('.').next().expect("signature");
        for line in logged.lines() {
            assert!(
                !line.contains(token.as_str()) && !line.contains(signature),
                "the {name} token is in a log line: {line}"
            );
        }
    }
    assert!(
        confirm_secured,
        "the sign-in confirm page carries the security headers"
    );
}

/// Reads one response to `method` (a `Content-Length` body, none for HEAD) from `stream`, exactly; its head and body.
async fn read_framed(
    stream: &mut tokio::io::BufReader<TcpStream>,
    method: &str,
) -> (String, Vec<u8>) {
    use tokio::io::AsyncBufReadExt as _;
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read_line(&mut head))
            .await
            .expect("a response head within 10 s")
            .expect("read head");
        assert!(n > 0, "closed mid-head: {head}");
    }
    let length = plaza_tests::content_length(&head);
    let mut body = vec![0u8; if method == "HEAD" { 0 } else { length }];
    stream.read_exact(&mut body).await.expect("read body");
    (head, body)
}

/// Large bodies go out uncopied after their head (the patched actix-http's vectored write, issue #19): however the
/// writes are split — 40 pipelined requests mixing large, compressed, HEAD and small answers, read through a 4 KiB
/// receive window only after the server has stalled on a full socket — every response arrives whole, in order,
/// byte for byte what a lone request gets. In `all` on one port (its own connection wrappers) and in `api`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_arrive_whole_and_in_order_through_pipelining_and_a_slow_reader() {
    const REQUESTS: [(&str, &str, &str); 5] = [
        ("GET", "/api/schedule", ""),
        ("GET", "/api/schedule", "Accept-Encoding: br\r\n"),
        ("HEAD", "/api/schedule", ""),
        ("GET", "/api/content/atrium-public", ""),
        ("GET", "/healthz", ""),
    ];
    for mode in ["all", "api"] {
        let dir = TempDir::new();
        let process = start(mode, &dir.path, &[]).await;
        if mode == "all" {
            served_session(&process).await;
        }
        // What a lone request gets, each.
        let http = reqwest::Client::builder()
            .no_gzip()
            .no_brotli()
            .build()
            .expect("client");
        let mut expected = Vec::new();
        for (method, path, header) in REQUESTS {
            let mut request = http.request(
                method.parse().expect("method"),
                format!("{}{path}", process.address),
            );
            if let Some((name, value)) = header.trim_end().split_once(": ") {
                request = request.header(name, value);
            }
            let response = request.send().await.expect("lone request");
            assert_eq!(response.status(), StatusCode::OK, "{mode}: {method} {path}");
            expected.push(response.bytes().await.expect("body").to_vec());
        }
        assert!(
            expected[0].len() >= 4096 || mode == "api",
            "{mode}: the schedule is large"
        );
        assert!(
            expected[3].len() >= 2048,
            "{mode}: the content page is over the uncopied threshold"
        );

        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .set_recv_buffer_size(4096)
            .expect("small receive buffer");
        let address = process.address.trim_start_matches("http://");
        let mut stream = socket
            .connect(address.parse().expect("address"))
            .await
            .expect("connect");
        let mut pipelined = String::new();
        for i in 0..40 {
            let (method, path, header) = REQUESTS[i % REQUESTS.len()];
            pipelined.push_str(&format!(
                "{method} {path} HTTP/1.1\r\nHost: plaza\r\n{header}\r\n"
            ));
        }
        stream
            .write_all(pipelined.as_bytes())
            .await
            .expect("pipelined requests");
        // Let the server fill the socket and stall mid-body before anything is read.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut stream = tokio::io::BufReader::with_capacity(1024, stream);
        for i in 0..40 {
            let (method, path, _) = REQUESTS[i % REQUESTS.len()];
            let (head, body) = read_framed(&mut stream, method).await;
            assert!(
                head.starts_with("HTTP/1.1 200"),
                "{mode}: response {i} ({method} {path}): {head}"
            );
            assert!(
                body == expected[i % REQUESTS.len()],
                "{mode}: response {i} ({method} {path}): {} bytes, {} expected",
                body.len(),
                expected[i % REQUESTS.len()].len()
            );
        }
    }
}

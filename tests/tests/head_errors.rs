//! The errors the HTTP layer answers before any route runs — an unparsable request, an 80 KB query string, too
//! many headers, a 600 KB head, a body over `MAX_BODY_BYTES` — carry the JSON envelope, from the API's own
//! listener (`--mode api`) and from `all` on one port (the same listener, with socket.io inside).

use plaza_tests::live::PlazaProcess;
use plaza_tests::storage::TempDir;
use plaza_tests::{Backend, spawn_app};
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Sends `request` as raw bytes to `address` (`http://host:port`); returns the status and the JSON body.
async fn raw(address: &str, request: &[u8]) -> (u16, Value) {
    let host = address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    // The server may answer (and close) before it read everything: a failed write is part of the test.
    let _ = stream.write_all(request).await;
    // Read one response (the head, then `content-length` bytes): a server may keep the connection open.
    let mut response = Vec::new();
    let mut chunk = [0u8; 16384];
    loop {
        let text = String::from_utf8_lossy(&response);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                break;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => response.extend_from_slice(&chunk[..n]),
        }
    }
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head: {text:?}"));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line: {head}"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    let body = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {head}\n{body:?}"));
    (status, body)
}

/// Each HTTP-layer error, its expected status (`None`: 400 or 414, the layers differ) and code.
fn cases() -> Vec<(&'static str, Vec<u8>, &'static [u16], &'static str)> {
    let long_query = format!(
        "GET /api/schedule?q={} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(80_000)
    );
    let headers: String = (0..120).map(|i| format!("X-Header-{i}: v\r\n")).collect();
    let many = format!("GET /api/schedule HTTP/1.1\r\nHost: x\r\n{headers}\r\n");
    let big = format!(
        "GET /api/schedule HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(600_000)
    );
    let body = "POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                Content-Length: 9999999\r\n\r\n{}";
    vec![
        (
            "garbage",
            b"NOT HTTP AT ALL\r\n\r\n".to_vec(),
            &[400],
            "general.badRequest",
        ),
        // actix-http refuses the URI with 400; hyper (the live listener) with 414, or 431 once the head passes its
        // `LIVE_MAX_HEADER_BYTES` (16 KiB by default) before the request line ends.
        (
            "80 KB query",
            long_query.into_bytes(),
            &[400, 414, 431],
            "general.badRequest",
        ),
        (
            "120 headers",
            many.into_bytes(),
            &[431],
            "general.badRequest",
        ),
        (
            "140 KB header",
            big.into_bytes(),
            &[431],
            "general.badRequest",
        ),
        (
            "oversized body",
            body.as_bytes().to_vec(),
            &[413],
            "general.payloadTooLarge",
        ),
    ]
}

async fn every_layer_error_is_an_envelope(address: &str) {
    for (name, request, statuses, code) in cases() {
        let (status, body) =
            tokio::time::timeout(std::time::Duration::from_secs(20), raw(address, &request))
                .await
                .unwrap_or_else(|_| panic!("{name}: no complete answer"));
        assert!(statuses.contains(&status), "{name}: {status} {body}");
        assert_eq!(body["codes"][0], code, "{name}: {body}");
        assert!(body["error"].is_string(), "{name}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_listener_answers_http_layer_errors_with_the_envelope() {
    let app = spawn_app(Backend::Embedded, &[]).await;
    every_layer_error_is_an_envelope(&app.address).await;
    // A well-formed request on the same server is untouched.
    assert_eq!(app.get("/api/").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_on_one_port_answers_http_layer_errors_with_the_envelope() {
    let dir = TempDir::new();
    let all = PlazaProcess::start("all", &dir.path, &[]).await;
    every_layer_error_is_an_envelope(&all.address).await;
}

/// The other side of the header limit: a request with about as many headers as allowed (96) is read whole —
/// `If-None-Match` sent after 90 others is honoured (plaza's actix-http keeps the first 32 header indices inline and
/// the rest on the heap, change 3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_with_nearly_the_most_headers_allowed_is_read_whole() {
    let app = spawn_app(Backend::Embedded, &[]).await;
    let etag = app
        .get("/api/schedule")
        .await
        .headers()
        .get("etag")
        .expect("an ETag")
        .clone();
    let mut headers = reqwest::header::HeaderMap::new();
    for i in 0..90 {
        headers.insert(
            reqwest::header::HeaderName::from_bytes(format!("x-header-{i}").as_bytes())
                .expect("a name"),
            reqwest::header::HeaderValue::from_static("v"),
        );
    }
    headers.insert(reqwest::header::IF_NONE_MATCH, etag);
    let response = reqwest::Client::new()
        .get(format!("{}/api/schedule", app.address))
        .headers(headers)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status(), 304);
}

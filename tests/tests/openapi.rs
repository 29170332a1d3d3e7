//! The OpenAPI document (`server/src/http/openapi.json`) and the routes agree: every documented path is routed to
//! the documented pattern (same parameter names) and answers exactly the documented methods (any other gets 405);
//! every path the API registers with `web::resource` is documented; every path parameter is declared; and the
//! document is served under the base path.

use std::collections::BTreeSet;

use actix_web::http::Method;
use actix_web::test as actix_test;
use actix_web::{App, web};
use plaza_server::http::{ClientFiles, configure_app, openapi};
use plaza_tests::app::json_body;
use plaza_tests::{Backend, spawn_app};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];
/// Route modules outside the API base path (operations endpoints, the web client) or test-only.
const NOT_API: [&str; 3] = ["ops.rs", "client.rs", "error.rs"];

fn document() -> Value {
    serde_json::from_str(openapi::DOCUMENT).expect("openapi.json is JSON")
}

fn documented_paths(doc: &Value) -> BTreeSet<String> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect()
}

/// `/a/{b}/c` → `/a/x/c`: a concrete path the pattern matches.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// The `web::resource(…)` paths registered by the API's route modules.
fn registered_paths() -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src/http");
    let mut paths = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("server/src/http") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        if !name.ends_with(".rs") || NOT_API.contains(&name.as_str()) {
            continue;
        }
        let source = std::fs::read_to_string(&path).expect("source");
        for (at, _) in source.match_indices("web::resource(") {
            let args = &source[at + "web::resource(".len()..];
            let args = &args[..args.find(')').expect("closing parenthesis")];
            for literal in args.split('"').skip(1).step_by(2) {
                let normalised = match literal.trim_end_matches('/') {
                    "" => "/",
                    trimmed => trimmed,
                };
                paths.insert(normalised.to_owned());
            }
        }
    }
    paths
}

#[test]
fn every_registered_path_is_documented_and_nothing_else() {
    let doc = document();
    assert_eq!(registered_paths(), documented_paths(&doc));
}

#[test]
fn every_path_parameter_is_declared_with_its_name() {
    let doc = document();
    let shared = &doc["components"]["parameters"];
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let wanted: BTreeSet<&str> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
            .collect();
        for (method, operation) in item.as_object().expect("path item") {
            let declared: BTreeSet<&str> = operation["parameters"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|p| match p["$ref"].as_str() {
                    Some(r) => &shared[r.trim_start_matches("#/components/parameters/")],
                    None => p,
                })
                .filter(|p| p["in"] == "path")
                .map(|p| p["name"].as_str().expect("a parameter name"))
                .collect();
            assert_eq!(declared, wanted, "{method} {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_documented_path_answers_exactly_its_documented_methods() {
    let app = spawn_app(Backend::Embedded, &[]).await;
    let client = web::Data::new(ClientFiles::load(None).expect("no client"));
    let service =
        actix_test::init_service(App::new().configure(configure_app(&app.state, &client))).await;
    let doc = document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let request = actix_test::TestRequest::default()
                .method(Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"))
                .uri(&format!("/api{}", concrete(path)))
                .to_request();
            let response = actix_test::call_service(&service, request).await;
            let status = response.status().as_u16();
            if item.get(method).is_some() {
                assert_ne!(status, 405, "{method} {path} is documented but not served");
                // `/` is registered as both `/api` and `/api/`; the pattern reported is the first.
                let pattern = response.request().match_pattern();
                assert_eq!(
                    pattern.as_deref().map(|p| p.trim_end_matches('/')),
                    Some(format!("/api{path}").trim_end_matches('/')),
                    "{method} {path} reached another route"
                );
                checked += 1;
            } else {
                assert_eq!(status, 405, "{method} {path} is served but not documented");
            }
        }
    }
    assert_eq!(checked, 35, "documented operations");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_served_under_the_base_path() {
    let app = spawn_app(Backend::Embedded, &[]).await;
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    let served = json_body(response).await;
    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(served["servers"], serde_json::json!([{ "url": "/api" }]));
    assert_eq!(served["paths"], document()["paths"]);
}

#[test]
fn the_statuses_the_extractors_can_return_are_documented() {
    let doc = document();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let statuses = &op["responses"];
            let bearer = op["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s.get("bearer").is_some()));
            if bearer {
                // A token that is no JWT is 400 "Malformed token"; a bad, expired or revoked one 401.
                for status in ["400", "401"] {
                    assert!(statuses.get(status).is_some(), "{method} {path}: {status}");
                }
            }
            let json_body = op["requestBody"]["content"]
                .get("application/json")
                .is_some();
            if json_body {
                // `JsonConfig`: malformed 400, too large 413, another content type 415 (the Tito webhook reads
                // raw bytes, its signature is over them: no content-type check).
                let raw = path == "/tito/webhook";
                for status in ["400", "413", "415"]
                    .into_iter()
                    .filter(|s| !raw || *s != "415")
                {
                    assert!(statuses.get(status).is_some(), "{method} {path}: {status}");
                }
            }
        }
    }
}

//! The web client served by plaza: files from memory with the right types and caching, the SPA fallback, the
//! runtime client configuration, and JSON 404s wherever a file or an API route is missing.

use plaza_tests::{Backend, spawn_app};
use serde_json::Value;

fn client_build() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::create_dir_all(dir.path().join("assets")).expect("mkdir");
    std::fs::write(
        dir.path().join("index.html"),
        "<!doctype html><div id=\"app\"></div>",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("assets/index-3f2a.js"),
        "console.log('plaza');".repeat(50),
    )
    .expect("write");
    std::fs::write(dir.path().join("favicon.png"), [0x89, b'P', b'N', b'G']).expect("write");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_is_served_with_an_spa_fallback_and_long_caching_for_hashed_assets() {
    let build = client_build();
    let dir = build.path().to_string_lossy().into_owned();
    let app = spawn_app(Backend::Embedded, &[("CLIENT_DIR", dir.as_str())]).await;

    let index = app.get("/").await;
    assert_eq!(index.status(), 200);
    assert_eq!(index.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(
        index.headers()["cache-control"],
        "public, max-age=0, must-revalidate"
    );
    let index_body = index.text().await.expect("text");
    assert!(index_body.contains("id=\"app\""));

    let route = app.get("/session/ABC-1").await;
    assert_eq!(route.status(), 200, "client routes fall back to index.html");
    assert_eq!(route.text().await.expect("text"), index_body);

    let asset = app
        .client
        .get(app.url("/assets/index-3f2a.js"))
        .header("accept-encoding", "br")
        .send()
        .await
        .expect("send");
    assert_eq!(asset.status(), 200);
    assert_eq!(asset.headers()["content-encoding"], "br");
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        asset.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );

    let png = app
        .client
        .get(app.url("/favicon.png"))
        .header("accept-encoding", "br")
        .send()
        .await
        .expect("send");
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(
        png.headers().get("content-encoding").is_none(),
        "images are not re-compressed"
    );

    for missing in ["/missing.png", "/api/no-such-route", "/assets/gone-1234.js"] {
        let response = app.get(missing).await;
        assert_eq!(response.status(), 404, "{missing}");
        let body: Value = response.json().await.expect("JSON envelope");
        assert_eq!(body["codes"][0], "general.notFound");
    }
    let post = app
        .post_json("/session/ABC-1", &serde_json::json!({}))
        .await;
    assert_eq!(post.status(), 404);

    let config: Value = app
        .get("/client-config.json")
        .await
        .json()
        .await
        .expect("JSON");
    assert_eq!(config["apiBase"], "/api");
    assert_eq!(config["socketPath"], "/api/socket.io");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_build_the_root_says_how_to_build_it() {
    let app = spawn_app(
        Backend::Embedded,
        &[("CLIENT_DIR", "/nonexistent/client/dist")],
    )
    .await;
    let root = app.get("/").await;
    assert_eq!(root.status(), 200);
    assert!(root.text().await.expect("text").contains("npm ci"));
    assert_eq!(app.get("/schedule").await.status(), 404);
}

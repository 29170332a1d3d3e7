//! Content from git: import from a bare repository, changes served without restart, invalid content refused with
//! the old content still served, sanitised pages, settings inside `/schedule`, rollback, share pages and the static
//! export.

use std::time::Duration;

use plaza_core::queries::logs;
use plaza_jobs::content::{self, Origin};
use plaza_tests::app::json_body;
use plaza_tests::content_repo::ContentRepo;
use plaza_tests::fake_pretalx::{self, FakePretalx};
use plaza_tests::{Backend, TestApp, eventually, for_each_backend, run_plaza, spawn_app};
use serde_json::{Value, json};

async fn spawn_with_repo(backend: Backend, repo: &ContentRepo) -> TestApp {
    let env = repo.env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app(backend, &vars).await
}

async fn page(app: &TestApp, slug: &str) -> Value {
    let response = app.get(&format!("/api/content/{slug}")).await;
    assert_eq!(response.status(), 200, "GET /api/content/{slug}");
    response.json().await.expect("JSON")
}

/// Imports the configured content and waits until the app serves the version.
async fn import(app: &TestApp) -> i64 {
    let summary = content::run_once(&app.jobs(), &Origin::Configured)
        .await
        .expect("content import succeeds");
    let version = summary.stored.version;
    let served = eventually(Duration::from_secs(10), || async {
        app.state.content.current().version == version
    });
    assert!(
        served.await.is_some(),
        "content version {version} not served"
    );
    version
}

for_each_backend! {
    async fn a_commit_to_the_content_repo_is_served_after_the_next_fetch_without_restart(backend: Backend) {
        let repo = ContentRepo::seeded();
        let app = spawn_with_repo(backend, &repo).await;
        import(&app).await;
        let help = page(&app, "help").await;
        assert!(help["content"]["en"].as_str().expect("en").contains("<h2"), "{help}");

        repo.write("help/en.md", "## Need a hand?\n\nWrite to **desk@plaza.example**.\n");
        repo.write("settings.json", &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../content/settings.json"),
        ).expect("settings").replace("\"hubs\": false", "\"hubs\": true"));
        repo.commit("new help text, hubs on");
        let second = import(&app).await;

        let help = page(&app, "help").await;
        let en = help["content"]["en"].as_str().expect("en");
        assert!(en.contains("<strong>desk@plaza.example</strong>"), "{en}");
        assert!(help["content"]["es"].as_str().expect("es").contains("<h2"), "Spanish is untouched");
        let schedule: Value = app.get("/api/schedule").await.json().await.expect("JSON");
        assert_eq!(schedule["settings"]["atriumWidgets"]["hubs"], true);

        // Fetching the same commit again publishes nothing new.
        let again = content::run_once(&app.jobs(), &Origin::Configured).await.expect("again");
        assert_eq!((again.stored.version, again.stored.created), (second, false));
    }

    async fn script_in_markdown_never_reaches_the_served_html(backend: Backend) {
        let repo = ContentRepo::seeded();
        repo.write(
            "help/en.md",
            "## Help\n\n<script>alert('pwned')</script>\n\n<img src=\"x.png\" onerror=\"alert(1)\">\n\n\
             [tap](javascript:alert(2))\n\n%feedback_form%\n",
        );
        repo.commit("hostile help page");
        let app = spawn_with_repo(backend, &repo).await;
        import(&app).await;
        let help = page(&app, "help").await;
        let en = help["content"]["en"].as_str().expect("en");
        for banned in ["<script", "alert(", "onerror", "javascript:"] {
            assert!(!en.contains(banned), "{banned} reached the output: {en}");
        }
        assert!(en.contains("<div id=\"feedback_form\"></div>"), "{en}");
    }

    async fn content_versions_roll_back(backend: Backend) {
        let repo = ContentRepo::seeded();
        let app = spawn_with_repo(backend, &repo).await;
        let first = import(&app).await;
        repo.write("login/en.md", "## Sign in, version two\n");
        repo.commit("v2");
        let second = import(&app).await;
        assert_ne!(first, second);
        content::publish_version(&app.jobs(), first).await.expect("rollback");
        let rolled_back = eventually(Duration::from_secs(10), || async {
            app.state.content.current().version == first
        });
        assert!(rolled_back.await.is_some());
        let login = page(&app, "login").await;
        assert!(!login["content"]["en"].as_str().expect("en").contains("version two"));
    }

    async fn admins_import_list_and_roll_back_content_over_http(backend: Backend) {
        let repo = ContentRepo::seeded();
        let app = spawn_with_repo(backend, &repo).await;
        let admin = app.token_for("admin@example.org", &["admin"]).await;
        let attendee = app.token_for("ada@example.org", &[]).await;
        for path in ["/api/admin/content", "/api/admin/content/versions"] {
            assert_eq!(app.get_as(&attendee, path).await.status(), 401, "{path}");
        }
        assert_eq!(app.post_as(&attendee, "/api/admin/content").await.status(), 401);
        let status = json_body(app.get_as(&admin, "/api/admin/content").await).await;
        assert_eq!(status, json!({"isEnabled": true, "isRunning": false, "source": "git", "version": 0}));

        let first = import_over_http(&app, &admin, 0).await;
        repo.write("login/en.md", "## Sign in, version two\n");
        repo.commit("v2");
        let second = import_over_http(&app, &admin, first).await;
        let listed = json_body(app.get_as(&admin, "/api/admin/content/versions").await).await;
        let ids: Vec<(i64, bool)> = listed["versions"].as_array().expect("versions").iter()
            .map(|v| (v["id"].as_i64().expect("id"), v["served"].as_bool().expect("served")))
            .collect();
        assert_eq!(ids, [(second, true), (first, false)]);
        assert_eq!(listed["versions"][0]["source"].as_str().map(|s| s.starts_with("git ")), Some(true), "{listed}");

        let rollback = app.post_as(&admin, &format!("/api/admin/content/versions/{first}/publish")).await;
        assert_eq!(json_body(rollback).await, json!({"message": "ok", "version": first}));
        let served = eventually(Duration::from_secs(10), || async { app.state.content.current().version == first });
        assert!(served.await.is_some(), "the rollback is served");
        assert!(!page(&app, "login").await["content"]["en"].as_str().expect("en").contains("version two"));

        let unknown = app.post_as(&admin, "/api/admin/content/versions/999999/publish").await;
        assert_eq!(unknown.status(), 404);
        for path in ["/api/admin/speakers/versions", "/api/admin/speakers"] {
            let no_such_import = app.get_as(&admin, path).await;
            assert_eq!(no_such_import.status(), 404, "{path}");
            assert!(json_body(no_such_import).await["codes"].is_array(), "the error envelope");
        }
        let schedule = json_body(app.get_as(&admin, "/api/admin/schedule").await).await;
        assert_eq!(schedule["source"], "demo", "/admin/schedule is /admin/pretalx");

        let held = plaza_jobs::acquire(&app.jobs(), content::JOB, content::LOCK_TTL).await.expect("lock");
        assert_eq!(json_body(app.get_as(&admin, "/api/admin/content").await).await["isRunning"], true);
        let refused = app.post_as(&admin, "/api/admin/content").await;
        assert_eq!(refused.status(), 400);
        assert_eq!(json_body(refused).await["codes"], json!(["admin.alreadyRunning"]));
        held.run(|| async { Ok(()) }).await.expect("release");
    }
}

/// Starts a content import with `POST /api/admin/content` and waits until a version other than `previous` is served.
async fn import_over_http(app: &TestApp, admin: &str, previous: i64) -> i64 {
    let started = app.post_as(admin, "/api/admin/content").await;
    assert_eq!(json_body(started).await["message"], "ok");
    let served = eventually(Duration::from_secs(15), || async {
        app.state.content.current().version != previous
    });
    assert!(
        served.await.is_some(),
        "the background import published new content"
    );
    app.state.content.current().version
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_settings_exit_non_zero_naming_the_problem_and_the_old_content_stays() {
    let repo = ContentRepo::seeded();
    let app = spawn_with_repo(Backend::Real, &repo).await;
    let fetch = |repo: &ContentRepo| {
        let vars = app.storage_env().into_iter().chain(repo.env());
        run_plaza(
            &["--mode", "fetch-content"],
            vars.chain([("LOG_FORMAT", "json".to_owned())]),
        )
    };
    let ok = fetch(&repo);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("new version, published"));
    let served = eventually(Duration::from_secs(10), || async {
        app.state.content.current().version > 0
    });
    assert!(served.await.is_some());
    let before = page(&app, "help").await;

    repo.write("settings.json", r#"{"navigation": {"showLogn": true}}"#);
    repo.write("help/en.md", "## Changed help that must not go live\n");
    repo.commit("broken settings");
    let failed = fetch(&repo);
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("settings.json: at `navigation.showLogn`"),
        "{stderr}"
    );

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        page(&app, "help").await,
        before,
        "the old content is still served"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_that_is_not_a_repository_fails_clearly() {
    let app = spawn_app(
        Backend::Embedded,
        &[("CONTENT_REPO_REMOTE", "/nonexistent/plaza-content.git")],
    )
    .await;
    let err = content::run_once(&app.jobs(), &Origin::Configured)
        .await
        .expect_err("no repo");
    let text = format!("{err:#}");
    assert!(
        text.contains("cloning /nonexistent/plaza-content.git"),
        "{text}"
    );
    assert_eq!(
        app.state.content.current().version,
        0,
        "the bundled content is still served"
    );
}

for_each_backend! {
    async fn the_bundled_content_is_served_before_any_fetch(backend: Backend) {
        let app = spawn_app(backend, &[]).await;
        let help = page(&app, "help").await;
        assert!(help["content"]["en"].as_str().expect("en").len() > 100);
        assert!(help["content"]["es"].as_str().expect("es").len() > 100);
        let schedule: Value = app.get("/api/schedule").await.json().await.expect("JSON");
        assert_eq!(schedule["settings"]["navigation"]["showLogin"], true);

        let unknown = app.get("/api/content/no-such-page").await;
        assert_eq!(unknown.status(), 404);
        let bad = app.get("/api/content/bad%20slug").await;
        assert_eq!(bad.status(), 400);

        let first = app.get("/api/content/help").await;
        let etag = first.headers()["etag"].to_str().expect("etag").to_owned();
        let again = app
            .client
            .get(app.url("/api/content/help"))
            .header("if-none-match", etag)
            .send()
            .await
            .expect("send");
        assert_eq!(again.status(), 304);
    }

    async fn a_local_folder_can_be_imported(backend: Backend) {
        let app = spawn_app(backend, &[]).await;
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("settings.json"), r#"{"participantCaps": {}}"#).expect("write");
        std::fs::create_dir_all(dir.path().join("emails/login")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join("emails/login-unknown")).expect("mkdir");
        let template = "---\nsubject: Sign in\n---\nHello {{name}}";
        std::fs::write(dir.path().join("emails/login/en.md"), template).expect("write");
        std::fs::write(dir.path().join("emails/login-unknown/en.md"), template).expect("write");
        std::fs::create_dir_all(dir.path().join("faq")).expect("mkdir");
        std::fs::write(dir.path().join("faq/en.md"), "## Questions").expect("write");
        let summary = content::run_once(&app.jobs(), &Origin::Local(dir.path().to_path_buf()))
            .await
            .expect("local import");
        assert_eq!(summary.pages, 1);
        assert!(summary.warnings.iter().any(|w| w.contains("faq/es.md")), "{:?}", summary.warnings);
        let served = eventually(Duration::from_secs(10), || async {
            app.state.content.current().version == summary.stored.version
        });
        assert!(served.await.is_some());
        let faq = page(&app, "faq").await;
        assert_eq!(faq["content"]["es"], faq["content"]["en"], "Spanish falls back to English");
        assert_eq!(app.get("/api/content/help").await.status(), 404, "the new version replaced the old pages");
    }

    async fn share_pages_escape_session_text_and_log_visits(backend: Backend) {
        let mut dataset = fake_pretalx::demo_dataset(0);
        let id = fake_pretalx::edit_scheduled_session(&mut dataset, |sub| {
            sub["title"] = "\"><script>alert(1)</script>".into();
            sub["abstract"] = "Bring <b>friends</b> & snacks".into();
        });
        let (app, _fake) = fake_pretalx::app_with_imported(backend, dataset).await;

        let response = app
            .client
            .get(app.url(&format!("/api/share/session/{id}")))
            .header("referer", "https://social.example/post/1")
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "public, max-age=300");
        let html = response.text().await.expect("text");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"), "{html}");
        assert!(html.contains(&format!("session/{id}?ref=share")), "{html}");
        assert!(html.contains("og:image"), "{html}");

        let dev = app.get(&format!("/api/share/session/{id}?dev")).await;
        assert_eq!(dev.headers()["cache-control"], "no-store");
        let dev = dev.text().await.expect("text");
        assert!(dev.contains("<pre>&lt;meta charset"), "{dev}");
        // The public variant is cached per snapshot; the preview never replaces it.
        let public_again = app.get(&format!("/api/share/session/{id}")).await.text().await.expect("text");
        assert_eq!(public_again, html);

        let logged = eventually(Duration::from_secs(5), || async {
            let rows = logs::recent(&app.state.db, "session/shareVisit", 10).await.expect("logs");
            rows.iter().any(|r| r.data.0["referer"] == "https://social.example/post/1" && r.data.0["sessionId"] == id)
        });
        assert!(logged.await.is_some(), "share visit logged with its referer");

        assert_eq!(app.get("/api/share/session/NOPE-1").await.status(), 404);
        let index = app.get("/api/share/session").await;
        assert_eq!(index.status(), 302);
    }

    async fn capacity_overrides_from_settings_reach_the_schedule(backend: Backend) {
        let fake = FakePretalx::start(fake_pretalx::demo_dataset(0)).await;
        let mut env = fake.env();
        let repo = ContentRepo::seeded();
        env.extend(repo.env());
        let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let app = spawn_app(backend, &vars).await;
        let version = plaza_jobs::schedule::run_once(&app.jobs()).await.expect("import").version;
        let served = eventually(Duration::from_secs(10), || async {
            app.state.schedule.current().version == version
        });
        assert!(served.await.is_some());
        let id = app.state.schedule.current().schedule.sessions.iter()
            .find(|s| s.state == "confirmed").expect("a confirmed session").id.clone();
        let settings = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../content/settings.json"),
        ).expect("settings");
        let mut settings: Value = serde_json::from_str(&settings).expect("json");
        settings["participantCaps"] = serde_json::json!({ id.clone(): 2 });
        repo.write("settings.json", &settings.to_string());
        repo.commit("cap one session");
        import(&app).await;
        let schedule: Value = app.get("/api/schedule").await.json().await.expect("JSON");
        let session = schedule["sessions"].as_array().expect("sessions").iter()
            .find(|s| s["id"] == id.as_str()).expect("the session");
        assert_eq!(session["participantCap"], 2);
        assert_eq!(app.state.schedule.current().session(&id).expect("s").participant_cap, Some(2));
    }

    async fn the_static_export_writes_read_only_json(backend: Backend) {
        let (app, _fake) = fake_pretalx::app_with_imported(backend, fake_pretalx::demo_dataset(0)).await;
        let out = tempfile::tempdir().expect("dir");
        let written = plaza_server::export::run(&app.state, out.path()).await.expect("export");
        assert_eq!(written.len(), 6);
        let read = |name: &str| -> Value {
            serde_json::from_slice(&std::fs::read(out.path().join(name)).expect(name)).expect("json")
        };
        let schedule = read("schedule.json");
        assert_eq!(schedule["settings"]["navigation"]["showLogin"], false);
        assert_eq!(schedule["settings"]["atriumWidgets"]["siteVisitors"], false);
        assert!(!schedule["sessions"].as_array().expect("sessions").is_empty());
        assert!(read("whats-on.json")["sessions"].is_array());
        assert!(read("content.json")["help"]["en"].is_string());
        assert!(read("attendance.json").is_object());
        let links = read("links.json");
        for (_, list) in links.as_object().expect("object") {
            for link in list.as_array().expect("links") {
                assert!(!link["url"].as_str().expect("url").contains("zoom.us"), "{link}");
            }
        }
    }
}

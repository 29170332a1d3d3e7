//! The schedule slice end to end: a (fake) Pretalx event imported, versioned, published and served from memory.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use plaza_core::model::schedule::{Schedule, Session};
use plaza_core::queries::versions::{self, Table};
use plaza_jobs::JobError;
use plaza_jobs::schedule::{self, CURRENT_KEY, VERSION_KEY};
use plaza_tests::app::json_body;
use plaza_tests::fake_pretalx::{self, FakePretalx};
use plaza_tests::{Backend, TestApp, eventually, for_each_backend, spawn_app};
use serde_json::Value;

/// An app whose Pretalx is `fake`.
async fn app_for(backend: Backend, fake: &FakePretalx) -> TestApp {
    let env = fake.env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app(backend, &vars).await
}

/// Waits until `/api/schedule` serves `version` (published versions reach api pods through a notice).
async fn wait_for_version(app: &TestApp, version: i64) {
    let served = eventually(Duration::from_secs(10), || async {
        app.state.schedule.current().version == version
    });
    assert!(
        served.await.is_some(),
        "version {version} not served within 10 s"
    );
}

async fn import(app: &TestApp) -> schedule::ImportSummary {
    let summary = schedule::run_once(&app.jobs())
        .await
        .expect("import succeeds");
    wait_for_version(app, summary.version).await;
    summary
}

async fn published(app: &TestApp) -> Schedule {
    schedule::cached(&app.jobs())
        .await
        .expect("cache")
        .expect("a published schedule")
        .data
}

fn start_of(schedule: &Schedule, session: &Session) -> Option<chrono::DateTime<Utc>> {
    let slot = session.slot.as_deref()?;
    schedule
        .slots
        .iter()
        .find(|s| s.id == slot)
        .map(|s| s.start)
}

for_each_backend! {
    async fn an_imported_event_is_served_with_etag_and_compression(backend: Backend) {
        let fake = FakePretalx::start(fake_pretalx::demo_dataset(-1)).await;
        let app = app_for(backend, &fake).await;
        let summary = import(&app).await;
        assert!(summary.created && summary.published);
        assert!(summary.counts.sessions >= 120, "{summary:?}");

        let response = app.get("/api/schedule").await;
        assert_eq!(response.status(), 200);
        let etag = response.headers()["etag"].to_str().expect("etag").to_owned();
        let body = json_body(response).await;
        let sessions = body["sessions"].as_array().expect("sessions");
        assert!(sessions.len() >= 120);
        assert!(sessions.iter().all(|s| s["state"] == "confirmed" && s["links"] == serde_json::json!([])));
        assert!(sessions.iter().any(|s| s["id"].as_str().is_some_and(|id| id.ends_with("-2"))), "multi-slot");
        assert!(sessions.iter().any(|s| s["hostLanguages"].as_array().is_some_and(|l| l.contains(&"asl".into()))));
        for key in ["slots", "speakers", "themes", "tracks", "types", "breaks"] {
            assert!(!body[key].as_array().expect(key).is_empty(), "{key} is empty");
        }
        assert!(body["settings"]["navigation"].is_object());
        assert!(body.get("facilitators").is_none() && body.get("lint").is_none(), "private data must not leak");

        let not_modified = app.client.get(app.url("/api/schedule")).header("if-none-match", &etag).send().await.expect("sent");
        assert_eq!(not_modified.status(), 304);
        let brotli = app.client.get(app.url("/api/schedule")).header("accept-encoding", "br").send().await.expect("sent");
        assert_eq!(brotli.headers()["content-encoding"], "br");
        assert_eq!(brotli.headers()["vary"], "Accept-Encoding");

        let whats_on = json_body(app.get("/api/schedule/whats-on").await).await;
        let listed = whats_on["sessions"].as_array().expect("sessions");
        assert_eq!(listed.len(), sessions.len());
        assert!(listed.iter().all(|s| s.get("slot").is_none() && s["links"] == serde_json::json!([])));
    }

    async fn an_identical_reimport_creates_no_new_version(backend: Backend) {
        let fake = FakePretalx::start(fake_pretalx::demo_dataset(-1)).await;
        let app = app_for(backend, &fake).await;
        let first = import(&app).await;
        let second = schedule::run_once(&app.jobs()).await.expect("second import");
        assert_eq!((second.version, second.created, second.published), (first.version, false, false));
        let versions = versions::list(&app.state.db, Table::Schedule, 10).await.expect("list");
        assert_eq!(versions.len(), 1);
    }

    async fn a_malformed_submission_fails_the_import_and_the_old_schedule_stays(backend: Backend) {
        let fake = FakePretalx::start(fake_pretalx::demo_dataset(-1)).await;
        let app = app_for(backend, &fake).await;
        import(&app).await;
        let before = app.get("/api/schedule").await.bytes().await.expect("body");

        let mut broken = fake_pretalx::demo_dataset(-1);
        fake_pretalx::edit(&mut broken, "submissions", |subs| {
            subs[3].as_object_mut().expect("object").remove("state");
        });
        fake.set(broken);
        let err = schedule::run_once(&app.jobs()).await.expect_err("malformed data fails the import");
        let message = format!("{err:#}");
        assert!(message.contains("submissions") && message.contains("state"), "{message}");

        let after = app.get("/api/schedule").await.bytes().await.expect("body");
        assert_eq!(before, after, "the previous schedule is still served unchanged");
        assert!(!app.jobs().cache.is_locked("jobs/schedule").await.expect("lock state"), "lock released");
    }

    async fn a_rollback_serves_an_earlier_version_again(backend: Backend) {
        let fake = FakePretalx::start(fake_pretalx::demo_dataset(-1)).await;
        let app = app_for(backend, &fake).await;
        let first = import(&app).await;
        let mut edited = fake_pretalx::demo_dataset(-1);
        fake_pretalx::edit(&mut edited, "submissions", |subs| subs[0]["title"] = "Renamed by the programme team".into());
        fake.set(edited);
        let second = import(&app).await;
        assert!(second.created && second.version != first.version);
        assert!(app.get("/api/schedule").await.text().await.expect("text").contains("Renamed by the programme team"));

        let admin = app.token_for("admin@example.org", &["admin"]).await;
        let path = format!("/api/admin/schedule/versions/{}/publish", first.version);
        assert_eq!(app.post_as(&admin, &path).await.status(), 200);
        wait_for_version(&app, first.version).await;
        assert!(!app.get("/api/schedule").await.text().await.expect("text").contains("Renamed by the programme team"));
        let listed = json_body(app.get_as(&admin, "/api/admin/schedule/versions").await).await;
        assert_eq!(listed["versions"].as_array().expect("versions").len(), 2);
        assert_eq!(app.post_as(&admin, "/api/admin/schedule/versions/999999/publish").await.status(), 404);

        // An identical re-import does not undo the rollback.
        let third = schedule::run_once(&app.jobs()).await.expect("re-import");
        assert!(!third.published);
        assert_eq!(app.state.schedule.current().version, first.version);
    }

    async fn two_imports_racing_run_exactly_once(backend: Backend) {
        let fake = FakePretalx::start(fake_pretalx::demo_dataset(-1)).await;
        fake.slow_down(Duration::from_millis(150));
        let app = app_for(backend, &fake).await;
        let ctx = app.jobs();
        let (a, b) = tokio::join!(schedule::run_once(&ctx), schedule::run_once(&ctx));
        let outcomes = [a, b];
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
        let refused = outcomes.iter().find_map(|o| o.as_ref().err()).expect("one refused");
        assert!(matches!(refused, JobError::AlreadyRunning(_)));
        assert_eq!(refused.to_string(), "schedule is already running");
    }

    async fn session_links_open_thirty_minutes_before_the_start_and_always_for_admins(backend: Backend) {
        let fake = FakePretalx::start(fake_pretalx::demo_dataset(-1)).await;
        let app = app_for(backend, &fake).await;
        import(&app).await;
        let schedule = published(&app).await;
        let now = Utc::now();
        let with_links = |future: bool| {
            schedule
                .sessions
                .iter()
                .filter(|s| s.state == "confirmed" && !s.links.is_empty() && s.participant_cap.is_none())
                .find(|s| start_of(&schedule, s).is_some_and(|t| if future { t > now + chrono::Duration::hours(1) } else { t < now }))
                .expect("the demo has such a session")
        };
        let (later, earlier) = (with_links(true), with_links(false));
        let attendee = app.token_for("ada@example.org", &[]).await;
        let admin = app.token_for("admin@example.org", &["admin"]).await;

        let links = |id: &str| format!("/api/schedule/{id}/links");
        assert_eq!(app.get(&links(&earlier.id)).await.status(), 401, "anonymous");
        assert_eq!(app.get_as(&attendee, &links(&later.id)).await.status(), 401, "too early");
        let open = json_body(app.get_as(&attendee, &links(&earlier.id)).await).await;
        assert_eq!(open["links"].as_array().expect("links").len(), earlier.links.len());
        let early = json_body(app.get_as(&admin, &links(&later.id)).await).await;
        assert_eq!(early["links"][0]["url"], later.links[0].url.as_str());
        assert_eq!(app.get_as(&admin, &links("NOPE-1")).await.status(), 404);
        assert_eq!(app.get_as("not-a-token", &links(&earlier.id)).await.status(), 401);
    }

    async fn the_lint_report_is_for_admins_and_escapes_pretalx_text(backend: Backend) {
        let mut dataset = fake_pretalx::demo_dataset(-1);
        fake_pretalx::edit(&mut dataset, "submissions", |subs| {
            let unscheduled = subs.iter_mut().find(|s| s["slots"].as_array().is_some_and(|l| l.is_empty())).expect("one");
            unscheduled["title"] = r#""><script>alert(1)</script>"#.into();
        });
        let fake = FakePretalx::start(dataset).await;
        let app = app_for(backend, &fake).await;
        import(&app).await;
        let attendee = app.token_for("ada@example.org", &[]).await;
        assert_eq!(app.get("/api/schedule/lint").await.status(), 401);
        assert_eq!(app.get_as(&attendee, "/api/schedule/lint").await.status(), 401);
        let admin = app.token_for("admin@example.org", &["admin"]).await;
        let page = app.get_as(&admin, "/api/schedule/lint").await;
        assert_eq!(page.status(), 200);
        assert!(page.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
        let html = page.text().await.expect("html");
        assert!(html.contains("Unscheduled"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        let schedule = published(&app).await;
        let unscheduled = schedule.lint.issues.iter().find_map(|i| i.session_id.clone()).expect("an issue with a session");
        assert!(html.contains(&unscheduled));
    }

    async fn admins_see_and_trigger_imports_but_not_twice_at_once(backend: Backend) {
        let fake = FakePretalx::start(fake_pretalx::demo_dataset(-1)).await;
        let app = app_for(backend, &fake).await;
        let admin = app.token_for("admin@example.org", &["admin"]).await;
        let attendee = app.token_for("ada@example.org", &[]).await;
        assert_eq!(app.get_as(&attendee, "/api/admin/pretalx").await.status(), 401);
        assert_eq!(app.post_as(&attendee, "/api/admin/pretalx").await.status(), 401);
        let status = json_body(app.get_as(&admin, "/api/admin/pretalx").await).await;
        assert_eq!((status["isEnabled"].clone(), status["isRunning"].clone()), (true.into(), false.into()));

        let held = plaza_jobs::acquire(&app.jobs(), schedule::JOB, schedule::LOCK_TTL).await.expect("lock");
        assert_eq!(json_body(app.get_as(&admin, "/api/admin/pretalx").await).await["isRunning"], true);
        let refused = app.post_as(&admin, "/api/admin/pretalx").await;
        assert_eq!(refused.status(), 400);
        assert_eq!(json_body(refused).await["codes"], serde_json::json!(["admin.alreadyRunning"]));
        held.run(|| async { Ok(()) }).await.expect("release");

        let started = app.post_as(&admin, "/api/admin/pretalx").await;
        assert_eq!(json_body(started).await["message"], "ok");
        let imported = eventually(Duration::from_secs(15), || async { app.state.schedule.current().version > 0 });
        assert!(imported.await.is_some(), "the background import published a schedule");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn readers_during_publishes_see_one_whole_version_or_the_other() {
    let fake = FakePretalx::start(fake_pretalx::demo_dataset(-1)).await;
    let app = app_for(Backend::Real, &fake).await;
    let a = import(&app).await.version;
    let body_a = app.get("/api/schedule").await.bytes().await.expect("body");
    let mut edited = fake_pretalx::demo_dataset(-1);
    fake_pretalx::edit(&mut edited, "speakers", |speakers| {
        speakers[0]["name"] = "Another Name".into()
    });
    fake.set(edited);
    let b = import(&app).await.version;
    let body_b = app.get("/api/schedule").await.bytes().await.expect("body");
    assert_ne!(body_a, body_b);

    let publisher = {
        let ctx = app.jobs();
        tokio::spawn(async move {
            for round in 0..20 {
                let id = if round % 2 == 0 { a } else { b };
                schedule::publish_version(&ctx, id).await.expect("publish");
            }
        })
    };
    let mut seen = HashSet::new();
    while !publisher.is_finished() {
        let reads =
            (0..8).map(|_| async { app.get("/api/schedule").await.bytes().await.expect("body") });
        for body in futures_util::future::join_all(reads).await {
            assert!(
                body == body_a || body == body_b,
                "a reader saw a body that is neither version"
            );
            seen.insert(body == body_a);
        }
    }
    publisher.await.expect("publisher");
    // The cache record readers load from is also one whole version.
    let record: Value = app
        .jobs()
        .cache
        .get_json(CURRENT_KEY)
        .await
        .expect("cache")
        .expect("record");
    let version = app
        .jobs()
        .cache
        .get(VERSION_KEY)
        .await
        .expect("cache")
        .expect("version");
    assert_eq!(record["version"].to_string(), version);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_cache_keeps_serving_from_memory_and_a_restart_rebuilds_it_from_postgres() {
    let fake = FakePretalx::start(fake_pretalx::demo_dataset(-1)).await;
    let app = app_for(Backend::Real, &fake).await;
    let version = import(&app).await.version;
    let before = app.get("/api/schedule").await.bytes().await.expect("body");

    let cache = app.jobs().cache;
    cache.delete(CURRENT_KEY).await.expect("flush");
    cache.delete(VERSION_KEY).await.expect("flush");
    assert_eq!(
        app.get("/api/schedule").await.bytes().await.expect("body"),
        before,
        "served from memory"
    );

    let restarted = app.sibling(&[]).await;
    assert_eq!(
        restarted.state.schedule.current().version,
        version,
        "loaded at start"
    );
    assert_eq!(
        restarted
            .get("/api/schedule")
            .await
            .bytes()
            .await
            .expect("body"),
        before
    );
    assert_eq!(
        cache.get(VERSION_KEY).await.expect("cache").as_deref(),
        Some(version.to_string().as_str())
    );
    assert!(
        cache.get(CURRENT_KEY).await.expect("cache").is_some(),
        "the cache was rebuilt from Postgres"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_notice_is_healed_by_the_refresh_timer() {
    let fake = FakePretalx::start(fake_pretalx::demo_dataset(-1)).await;
    let env = fake.env();
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    vars.push(("SCHEDULE_REFRESH_SECONDS", "1"));
    let app = spawn_app(Backend::Real, &vars).await;
    let first = import(&app).await.version;
    let mut edited = fake_pretalx::demo_dataset(-1);
    fake_pretalx::edit(&mut edited, "speakers", |speakers| {
        speakers[0]["name"] = "Another Name".into()
    });
    fake.set(edited);
    let second = import(&app).await.version;

    // A rollback whose notice is lost: database and cache say `first`, nobody is told.
    let (row, data) = versions::get(&app.state.db, Table::Schedule, first)
        .await
        .expect("db")
        .expect("row");
    versions::mark_published(&app.state.db, Table::Schedule, first, Utc::now())
        .await
        .expect("db");
    let record = schedule::Published {
        version: first,
        hash: row.content_hash,
        data: serde_json::from_value(data).expect("schedule"),
    };
    let entries = [
        (
            CURRENT_KEY.to_owned(),
            serde_json::to_string(&record).expect("json"),
        ),
        (VERSION_KEY.to_owned(), first.to_string()),
    ];
    app.jobs()
        .cache
        .set_many(&entries, None)
        .await
        .expect("write");
    assert_eq!(app.state.schedule.current().version, second);
    let healed = eventually(Duration::from_secs(5), || async {
        app.state.schedule.current().version == first
    });
    assert!(healed.await.is_some());
}

//! My Schedule that keeps attendees on time (#20): what a schedule release changed, per session, stored with the
//! version and listed over the admin API; `myScheduleChanged` to every tab of an attendee who saved a changed
//! session, across two real `live` processes.

use plaza_core::queries::versions::{self, Table};
use plaza_jobs::schedule;
use plaza_tests::app::json_body;
use plaza_tests::fake_pretalx::{self, FakePretalx};
use plaza_tests::live::{JsClient, PlazaProcess};
use plaza_tests::smtp_sink::SmtpSink;
use plaza_tests::storage::TempDir;
use plaza_tests::{Backend, TestApp, for_each_backend, spawn_app};
use serde_json::{Value, json};
use std::time::Duration;

async fn app_for(backend: Backend, fake: &FakePretalx) -> TestApp {
    let env = fake.env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app(backend, &vars).await
}

async fn changes_of(app: &TestApp, admin: &str, version: i64) -> Value {
    let response = app
        .get_as(
            admin,
            &format!("/api/admin/schedule/versions/{version}/changes"),
        )
        .await;
    assert_eq!(response.status(), 200);
    json_body(response).await
}

for_each_backend! {
    async fn a_release_records_moves_rooms_titles_and_cancellations_once(backend: Backend) {
        let mut dataset = fake_pretalx::demo_dataset(1);
        let codes = fake_pretalx::scheduled_codes(&dataset, 4);
        let fake = FakePretalx::start(dataset.clone()).await;
        let app = app_for(backend, &fake).await;
        let first = app.import_schedule().await;
        assert_eq!(first.changed, 0, "a first release changes nothing");
        let before = app.state.schedule.current();

        fake_pretalx::move_slot(&mut dataset, &codes[0], 60, false);
        fake_pretalx::move_slot(&mut dataset, &codes[1], 0, true);
        fake_pretalx::edit(&mut dataset, "submissions", |subs| {
            for sub in subs.iter_mut() {
                if sub["code"] == codes[2].as_str() {
                    sub["title"] = "Renamed by the programme team".into();
                }
                if sub["code"] == codes[3].as_str() {
                    sub["state"] = "withdrawn".into();
                }
            }
        });
        fake.set(dataset);
        let second = app.import_schedule().await;
        assert!(second.created && second.published);
        assert_eq!(second.changed, 4, "{second:?}");

        let admin = app.token_for("admin@example.org", &["admin"]).await;
        let body = changes_of(&app, &admin, second.version).await;
        assert_eq!(body["version"], second.version);
        let listed = body["changes"].as_array().expect("changes");
        let of = |code: &str| {
            listed.iter().find(|c| c["sessionId"] == format!("{code}-1")).unwrap_or_else(|| panic!("{code}: {body}")).clone()
        };
        let moved = of(&codes[0]);
        assert_eq!(moved["changes"], json!(["moved"]));
        let old_start = chrono::DateTime::parse_from_rfc3339(moved["old"]["start"].as_str().expect("start")).expect("time");
        let new_start = chrono::DateTime::parse_from_rfc3339(moved["new"]["start"].as_str().expect("start")).expect("time");
        assert_eq!(new_start - old_start, chrono::Duration::hours(1));
        let served_before = before.session(&format!("{}-1", codes[0])).expect("served before");
        assert_eq!(moved["old"]["title"]["en"], served_before.title["en"].as_str());

        let room = of(&codes[1]);
        assert_eq!(room["changes"], json!(["room"]));
        assert_ne!(room["old"]["track"], room["new"]["track"]);
        assert!(room["new"]["room"]["en"].as_str().is_some_and(|name| !name.is_empty()), "{room}");

        let renamed = of(&codes[2]);
        assert_eq!(renamed["changes"], json!(["title"]));
        assert_eq!(renamed["new"]["title"]["en"], "Renamed by the programme team");

        let cancelled = of(&codes[3]);
        assert_eq!((cancelled["changes"].clone(), cancelled["new"].clone()), (json!(["cancelled"]), Value::Null));
        assert_eq!(listed.len(), 4, "{body}");

        assert_eq!(changes_of(&app, &admin, first.version).await["changes"], json!([]));
        let attendee = app.token_for("ada@example.org", &[]).await;
        let path = format!("/api/admin/schedule/versions/{}/changes", second.version);
        assert_eq!(app.get_as(&attendee, &path).await.status(), 401);
        assert_eq!(app.get_as(&admin, "/api/admin/schedule/versions/999999/changes").await.status(), 404);

        // An identical re-import publishes nothing and records nothing.
        let third = schedule::run_once(&app.jobs()).await.expect("re-import");
        assert_eq!((third.version, third.created, third.published, third.changed), (second.version, false, false, 0));
        assert_eq!(versions::list(&app.state.db, Table::Schedule, 10).await.expect("list").len(), 2);
        assert_eq!(changes_of(&app, &admin, second.version).await, body);
    }
}

/// A signed-in tab on a `live` process.
async fn signed_in_tab(process: &PlazaProcess, token: &str) -> JsClient {
    plaza_tests::live::signed_in_tab(&process.address, "/api/socket.io", token).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tab_of_an_attendee_who_saved_a_moved_session_is_told_once_across_processes() {
    let mut dataset = fake_pretalx::demo_dataset(1);
    let code = fake_pretalx::scheduled_codes(&dataset, 1).remove(0);
    let session = format!("{code}-1");
    let fake = FakePretalx::start(dataset.clone()).await;
    let app = app_for(Backend::Real, &fake).await;
    app.import_schedule().await;
    let ada = app.token_for("ada@example.org", &[]).await;
    let bob = app.token_for("bob@example.org", &[]).await;
    assert_eq!(
        app.post_as(&ada, &format!("/api/attendance/{session}/attend"))
            .await
            .status(),
        200
    );

    let dir = TempDir::new();
    let env = app.storage_env();
    let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut one = PlazaProcess::start("live", &dir.path, &vars).await;
    let mut two = PlazaProcess::start("live", &dir.path, &vars).await;
    let mut ada_on_one = signed_in_tab(&one, &ada).await;
    let mut ada_on_two = signed_in_tab(&two, &ada).await;
    let mut bob_on_one = signed_in_tab(&one, &bob).await;

    fake_pretalx::move_slot(&mut dataset, &code, 30, false);
    fake.set(dataset);
    let moved = schedule::run_once(&app.jobs()).await.expect("import");
    assert!(moved.published && moved.changed >= 1, "{moved:?}");
    for tab in [&mut ada_on_one, &mut ada_on_two] {
        let event = tab.event("myScheduleChanged", Duration::from_secs(1)).await;
        let event = event.unwrap_or_else(|| panic!("no notice within 1 s: {:?}", tab.seen));
        assert_eq!(event[0]["sessionId"], session.as_str());
        assert_eq!(event[0]["version"], moved.version);
        assert_eq!(event[0]["changes"], json!(["moved"]));
        assert_ne!(event[0]["old"]["start"], event[0]["new"]["start"]);
    }

    // An identical import sends nothing; nobody is told twice; bob saved nothing.
    let again = schedule::run_once(&app.jobs()).await.expect("re-import");
    assert!(!again.published);
    for tab in [&mut ada_on_one, &mut ada_on_two, &mut bob_on_one] {
        assert!(
            tab.event("myScheduleChanged", Duration::from_millis(1000))
                .await
                .is_none(),
            "{:?}",
            tab.seen
        );
    }
    one.kill();
    two.kill();
}

async fn patch_me(app: &TestApp, token: &str, body: Value) -> Value {
    let response = reqwest::Client::new()
        .patch(app.url("/api/auth/me"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("PATCH /auth/me");
    assert_eq!(response.status(), 200);
    json_body(response).await
}

for_each_backend! {
    async fn one_localised_digest_per_attendee_per_release_and_none_when_opted_out(backend: Backend) {
        let sink = SmtpSink::start().await;
        let mut dataset = fake_pretalx::demo_dataset(1);
        let codes = fake_pretalx::scheduled_codes(&dataset, 2);
        let fake = FakePretalx::start(dataset.clone()).await;
        let mut env = fake.env();
        env.push(("SMTP_URL", sink.url()));
        let vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let app = spawn_app(backend, &vars).await;
        app.import_schedule().await;
        let ada = app.token_for("ada@example.org", &[]).await;
        let bob = app.token_for("bob@example.org", &[]).await;
        let _carol = app.token_for("carol@example.org", &[]).await;
        for code in &codes {
            assert_eq!(app.post_as(&ada, &format!("/api/attendance/{code}-1/attend")).await.status(), 200);
            assert_eq!(app.post_as(&bob, &format!("/api/attendance/{code}-1/attend")).await.status(), 200);
        }
        let me = patch_me(&app, &ada, json!({"language": "es"})).await;
        assert_eq!(me["registration"]["scheduleEmails"], true, "on by default");
        let me = patch_me(&app, &bob, json!({"scheduleEmails": false})).await;
        assert_eq!((me["registration"]["scheduleEmails"].clone(), me["registration"]["language"].clone()), (json!(false), json!("en")));
        let refused = reqwest::Client::new().patch(app.url("/api/auth/me")).bearer_auth(&bob)
            .json(&json!({"scheduleEmails": "no"})).send().await.expect("PATCH");
        assert_eq!(refused.status(), 400);

        fake_pretalx::move_slot(&mut dataset, &codes[0], 30, false);
        fake_pretalx::edit(&mut dataset, "submissions", |subs| {
            let sub = subs.iter_mut().find(|s| s["code"] == codes[1].as_str()).expect("submission");
            sub["title"] = "Renamed by the programme team".into();
        });
        fake.set(dataset);
        let release = app.import_schedule().await;
        assert_eq!(release.changed, 2, "{release:?}");
        let digests = sink.wait_for("ada@example.org", 1, Duration::from_secs(10)).await;
        assert_eq!(digests.len(), 1, "one digest for two changed sessions");
        let digest = &digests[0].data;
        assert!(digest.contains("Cambios en tu programa"), "in the attendee's language: {digest}");
        assert!(digest.contains("Renamed by the programme team"), "{digest}");
        let moved_title = app.state.schedule.current().session(&format!("{}-1", codes[0])).expect("served").title["en"].clone();
        assert!(digest.contains(&moved_title), "{digest}");

        // An identical re-import sends nothing; the opted-out attendee and the one who saved nothing get nothing.
        let again = schedule::run_once(&app.jobs()).await.expect("re-import");
        assert!(!again.published);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(sink.wait_for("ada@example.org", 2, Duration::ZERO).await.len(), 1);
        let others: Vec<_> = sink.messages().into_iter().filter(|m| !m.to.contains(&"ada@example.org".to_owned())).collect();
        assert!(others.is_empty(), "{others:?}");
    }
}

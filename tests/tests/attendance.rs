//! "My Schedule" end to end: idempotent attend, capacity under concurrency on both engines, counts, metric events.

use plaza_core::live::{ATTEND_EVENT, UNATTEND_EVENT};
use plaza_core::queries::logs;
use plaza_tests::app::json_body;
use plaza_tests::fake_pretalx::{self, FakePretalx};
use plaza_tests::{Backend, TestApp, for_each_backend};

/// An app serving the demo event where the first confirmed scheduled submission has a capacity of `cap`.
/// Returns the app and that session's id.
async fn app_with_capped_session(backend: Backend, cap: u32) -> (TestApp, String, FakePretalx) {
    let mut dataset = fake_pretalx::demo_dataset(1);
    let session = fake_pretalx::edit_scheduled_session(&mut dataset, |sub| {
        sub["attendee_signup_capacity"] = cap.into();
    });
    let (app, fake) = fake_pretalx::app_with_imported(backend, dataset).await;
    (app, session, fake)
}

for_each_backend! {
    async fn attending_is_idempotent_and_unattending_frees_the_place(backend: Backend) {
        let (app, session, _fake) = app_with_capped_session(backend, 1).await;
        let ada = app.token_for("ada@example.org", &[]).await;
        let grace = app.token_for("grace@example.org", &[]).await;
        let path = format!("/api/attendance/{session}/attend");
        let attend = |t: String| {
            let (app, path) = (&app, path.clone());
            async move { app.post_as(&t, &path).await }
        };
        assert_eq!(attend(ada.clone()).await.status(), 200);
        assert_eq!(attend(ada.clone()).await.status(), 200, "attending twice is fine");
        let state = json_body(app.get_as(&ada, &format!("/api/attendance/{session}")).await).await;
        assert_eq!(state, serde_json::json!({"isAttending": true, "sessionCount": 1}));
        let full = attend(grace.clone()).await;
        assert_eq!(full.status(), 400);
        assert_eq!(json_body(full).await["codes"][0], "general.badRequest");

        assert_eq!(app.post_as(&ada, &format!("/api/attendance/{session}/unattend")).await.status(), 200);
        assert_eq!(attend(grace.clone()).await.status(), 200, "the freed place is taken");
        let mine = json_body(app.get_as(&grace, "/api/attendance/me").await).await;
        assert_eq!(mine["attendance"][0]["session"], session.as_str());
        // plaza's own records, under its own names: the client's `attendance/attend` metrics are not doubled.
        let events = logs::recent(&app.state.db, ATTEND_EVENT, 10).await.expect("logs");
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].data.0["sessionId"], session.as_str());
        assert_eq!(logs::recent(&app.state.db, UNATTEND_EVENT, 10).await.expect("logs").len(), 1);
        assert!(logs::recent(&app.state.db, "attendance/attend", 10).await.expect("logs").is_empty());
    }

    async fn fifty_concurrent_attends_on_a_cap_of_ten_admit_exactly_ten(backend: Backend) {
        let (app, session, _fake) = app_with_capped_session(backend, 10).await;
        let mut tokens = Vec::new();
        for i in 0..50 {
            tokens.push(app.token_for(&format!("person{i}@example.org"), &[]).await);
        }
        let path = format!("/api/attendance/{session}/attend");
        let results = futures_util::future::join_all(tokens.iter().map(|t| app.post_as(t, &path))).await;
        let ok = results.iter().filter(|r| r.status() == 200).count();
        let full = results.iter().filter(|r| r.status() == 400).count();
        assert_eq!((ok, full), (10, 40));
        let count = plaza_core::queries::attendance::count(&app.state.db, &session).await.expect("count");
        assert_eq!(count, 10);
    }

    async fn unknown_sessions_are_404_and_anonymous_callers_401(backend: Backend) {
        let (app, session, _fake) = app_with_capped_session(backend, 5).await;
        let ada = app.token_for("ada@example.org", &[]).await;
        assert_eq!(app.post_as(&ada, "/api/attendance/NOPE-1/attend").await.status(), 404);
        assert_eq!(app.get_as(&ada, "/api/attendance/NOPE-1").await.status(), 404);
        assert_eq!(app.client.post(app.url(&format!("/api/attendance/{session}/attend"))).send().await.expect("sent").status(), 401);
        assert_eq!(app.get("/api/attendance/me").await.status(), 401);

        // A token of an attendee who never used a login link (unverified) is refused.
        let pending = plaza_core::queries::attendees::ensure(&app.state.db, "pending@example.org", "P").await.expect("row");
        let token = app.state.tokens.sign_auth(pending.id, &[], "en", pending.token_version).expect("token");
        assert_eq!(app.post_as(&token, &format!("/api/attendance/{session}/attend")).await.status(), 401);
    }
}

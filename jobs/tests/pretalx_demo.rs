//! The bundled demo event, imported through the in-memory transport exactly like a real Pretalx.

use chrono::NaiveDate;
use plaza_jobs::pretalx::demo;

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 5).expect("valid date")
}

#[tokio::test]
async fn demo_import_yields_a_full_three_day_schedule() {
    let schedule = demo::schedule(start()).await.expect("demo imports");

    assert!(
        schedule.sessions.len() >= 120,
        "{} sessions",
        schedule.sessions.len()
    );
    assert!(schedule.speakers.len() >= 80);
    assert!(schedule.tracks.len() >= 6);
    assert!(schedule.themes.len() >= 10);
    assert!(!schedule.breaks.is_empty());
    assert!(
        schedule
            .sessions
            .iter()
            .any(|session| session.id.ends_with("-2"))
    );
    assert!(schedule.sessions.iter().any(|session| {
        session
            .host_languages
            .iter()
            .any(|language| language == "asl")
    }));
    let days: std::collections::BTreeSet<_> = schedule
        .slots
        .iter()
        .map(|slot| slot.start.date_naive())
        .collect();
    assert_eq!(days.len(), 3);
}

#[tokio::test]
async fn demo_import_is_deterministic() {
    let first = demo::schedule(start()).await.expect("demo imports");
    let second = demo::schedule(start()).await.expect("demo imports");

    assert_eq!(
        serde_json::to_string(&first).ok(),
        serde_json::to_string(&second).ok()
    );
    assert_eq!(first.fingerprint().ok(), second.fingerprint().ok());
}

#[tokio::test]
async fn demo_submissions_are_served_in_pages_of_fifty() {
    let dataset = demo::dataset(start());
    let submissions = dataset.collections.get("submissions").map_or(0, Vec::len);
    assert!(submissions >= 130, "{submissions} submissions");

    let fetched = demo::client(start())
        .expect("demo client")
        .submissions()
        .await
        .expect("all pages");

    assert_eq!(fetched.len(), submissions);
}

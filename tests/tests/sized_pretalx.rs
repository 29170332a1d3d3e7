//! The benchmark's fake Pretalx: a generated event of a given size, served over HTTP with Pretalx pagination,
//! imports whole through the real client and schedule job.

use chrono::NaiveDate;
use plaza_jobs::JobContext;
use plaza_tests::{Backend, TestCache, TestDb, sized_pretalx};
use serde_json::Value;

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).expect("valid date")
}

#[tokio::test]
async fn pages_link_to_the_next_page_with_absolute_urls_of_the_server() {
    let server = sized_pretalx::serve(sized_pretalx::dataset(start(), 120, 60)).await;
    let client = reqwest::Client::new();
    let get = |url: String| {
        client
            .get(url)
            .header("Authorization", format!("Token {}", sized_pretalx::TOKEN))
            .header("Pretalx-Version", "v2")
            .send()
    };
    let submissions = format!(
        "{}events/{}/submissions/",
        sized_pretalx::api_url(&server),
        sized_pretalx::EVENT
    );

    let first: Value = get(submissions.clone())
        .await
        .expect("request is sent")
        .json()
        .await
        .expect("JSON page");
    let next = first["next"].as_str().expect("a next link").to_owned();
    let unauthorised = client
        .get(&submissions)
        .send()
        .await
        .expect("request is sent");

    assert_eq!(first["count"], 120);
    assert_eq!(first["results"].as_array().map(Vec::len), Some(50));
    assert_eq!(next, format!("{submissions}?page=2"));
    let second: Value = get(next)
        .await
        .expect("request is sent")
        .json()
        .await
        .expect("JSON page");
    assert_eq!(second["results"].as_array().map(Vec::len), Some(50));
    assert_eq!(unauthorised.status(), 404);
}

#[tokio::test]
async fn a_generated_event_imports_whole_through_the_schedule_job() {
    let server = sized_pretalx::serve(sized_pretalx::dataset(start(), 130, 70)).await;
    let db = TestDb::new(Backend::Embedded).await;
    let cache = TestCache::new(Backend::Embedded);
    let vars = [
        ("PRETALX_URL", sized_pretalx::api_url(&server)),
        ("PRETALX_EVENT", sized_pretalx::EVENT.to_owned()),
        ("PRETALX_API_TOKEN", sized_pretalx::TOKEN.to_owned()),
        ("PRETALX_IMPORT", sized_pretalx::import_options()),
    ];
    let config = plaza_core::Config::from_lookup(|name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .expect("valid configuration");
    let ctx = JobContext {
        config,
        cache: cache.cache.clone(),
        db: db.db.clone(),
    };

    let summary = plaza_jobs::schedule::import(&ctx).await.expect("imports");

    assert!(summary.published);
    assert_eq!(summary.counts.sessions, 130);
    assert_eq!(summary.counts.speakers, 70);
    assert!(summary.counts.breaks > 0);
}

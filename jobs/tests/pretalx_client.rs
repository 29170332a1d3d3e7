//! The Pretalx client against a wiremock Pretalx: headers, pagination, retries, failures, validation.

mod common;

use common::{EVENT, TOKEN, collection_path, fixture, http_client, page, tag};
use plaza_jobs::pretalx::PretalxError;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn mount_single_page(server: &MockServer, resource: &str, results: Vec<Value>) {
    Mock::given(method("GET"))
        .and(path(collection_path(resource)))
        .respond_with(ok(page(results.len(), None, None, results)))
        .mount(server)
        .await;
}

#[tokio::test]
async fn lists_follow_next_across_three_pages() {
    let server = MockServer::start().await;
    let url = |page: u32| format!("{}{}?page={page}", server.uri(), collection_path("tags"));
    let pages = [
        (None, page(5, Some(url(2)), None, vec![tag(1), tag(2)])),
        (
            Some("2"),
            page(5, Some(url(3)), Some(url(1)), vec![tag(3), tag(4)]),
        ),
        (Some("3"), page(5, None, Some(url(2)), vec![tag(5)])),
    ];
    for (number, body) in pages {
        let mock = Mock::given(method("GET")).and(path(collection_path("tags")));
        let mock = match number {
            Some(number) => mock.and(query_param("page", number)),
            None => mock.and(query_param_is_missing("page")),
        };
        mock.respond_with(ok(body)).expect(1).mount(&server).await;
    }

    let tags = http_client(&server.uri())
        .tags()
        .await
        .expect("three pages");

    let ids: Vec<i64> = tags.iter().map(|tag| tag.id).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
}

#[tokio::test]
async fn every_request_sends_the_token_and_pretalx_version_v2() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/events/{EVENT}/")))
        .and(header("Authorization", format!("Token {TOKEN}").as_str()))
        .and(header("Pretalx-Version", "v2"))
        .respond_with(ok(fixture("event.json")))
        .expect(1)
        .mount(&server)
        .await;

    let event = http_client(&server.uri())
        .event()
        .await
        .expect("headers matched");

    assert_eq!(event.slug, "mozfest-2026");
}

#[tokio::test]
async fn rate_limited_request_honours_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(collection_path("tags")))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(collection_path("tags")))
        .respond_with(ok(page(1, None, None, vec![tag(7)])))
        .expect(1)
        .mount(&server)
        .await;

    let started = std::time::Instant::now();
    let tags = http_client(&server.uri())
        .tags()
        .await
        .expect("retried after 429");

    assert_eq!(tags.len(), 1);
    // Retry-After (1 s, capped at 50 ms by the test policy) was used, not the 1 ms backoff.
    assert!(started.elapsed() >= std::time::Duration::from_millis(45));
}

#[tokio::test]
async fn server_error_is_retried_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(collection_path("rooms")))
        .respond_with(ResponseTemplate::new(500).set_body_string("Internal Server Error"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    let room = json!({"id": 42, "name": {"en": "Main Stage"}, "description": null, "position": 0});
    mount_single_page(&server, "rooms", vec![room]).await;

    let rooms = http_client(&server.uri())
        .rooms()
        .await
        .expect("retried after 500");

    assert_eq!(rooms[0].id, 42);
}

#[tokio::test]
async fn persistent_server_error_fails_after_bounded_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(collection_path("rooms")))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .expect(3)
        .mount(&server)
        .await;

    let error = http_client(&server.uri())
        .rooms()
        .await
        .expect_err("never succeeds");

    assert!(
        matches!(error, PretalxError::GaveUp { attempts: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("503 maintenance"), "{error}");
}

#[tokio::test]
async fn unauthorized_fails_at_once_with_a_clear_message() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(collection_path("submissions")))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"detail": "Invalid token."})))
        .expect(1)
        .mount(&server)
        .await;

    let error = http_client(&server.uri())
        .submissions()
        .await
        .expect_err("bad token");

    assert!(
        matches!(error, PretalxError::BadToken { status: 401, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("refused the API token"),
        "{error}"
    );
}

#[tokio::test]
async fn wrong_event_slug_fails_at_once_with_the_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"detail": "Not found."})))
        .expect(1)
        .mount(&server)
        .await;

    let error = http_client(&server.uri()).event().await.expect_err("404");

    assert!(
        matches!(error, PretalxError::Status { status: 404, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("Not found."), "{error}");
}

async fn malformed_submission_error(edit: impl FnOnce(&mut Value)) -> String {
    let server = MockServer::start().await;
    let mut broken = fixture("submission.json");
    broken["code"] = json!("BRK3N1");
    edit(&mut broken);
    mount_single_page(
        &server,
        "submissions",
        vec![fixture("submission.json"), broken],
    )
    .await;
    http_client(&server.uri())
        .submissions()
        .await
        .expect_err("malformed")
        .to_string()
}

#[tokio::test]
async fn submission_without_state_fails_naming_the_submission_and_field() {
    let message = malformed_submission_error(|submission| {
        submission
            .as_object_mut()
            .map(|object| object.remove("state"));
    })
    .await;

    assert!(
        message.contains("Pretalx submissions: \"BRK3N1\" (results[1] of page 1)"),
        "{message}"
    );
    assert!(
        message.ends_with("(results[1] of page 1): missing field `state`"),
        "{message}"
    );
}

#[tokio::test]
async fn submission_whose_slots_is_not_a_list_fails_naming_the_field() {
    let message =
        malformed_submission_error(|submission| submission["slots"] = json!("88123")).await;

    assert!(message.contains("\"BRK3N1\""), "{message}");
    assert!(message.contains("at `slots`: invalid type"), "{message}");
}

#[tokio::test]
async fn next_link_to_another_host_stays_on_the_configured_host() {
    let server = MockServer::start().await;
    // Pretalx behind a proxy often advertises its internal address; the token must not go there.
    let internal_next = format!("http://pretalx-internal:8000/api/events/{EVENT}/tags/?page=2");
    Mock::given(method("GET"))
        .and(path(collection_path("tags")))
        .and(query_param_is_missing("page"))
        .respond_with(ok(page(2, Some(internal_next), None, vec![tag(1)])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(collection_path("tags")))
        .and(query_param("page", "2"))
        .respond_with(ok(page(2, None, None, vec![tag(2)])))
        .expect(1)
        .mount(&server)
        .await;

    let tags = http_client(&server.uri())
        .tags()
        .await
        .expect("second page from the configured host");

    assert_eq!(tags.len(), 2);
}

#[tokio::test]
async fn next_link_looping_back_fails_instead_of_spinning() {
    let server = MockServer::start().await;
    let url = |page: u32| format!("{}{}?page={page}", server.uri(), collection_path("tags"));
    Mock::given(method("GET"))
        .and(path(collection_path("tags")))
        .respond_with(ok(page(4, Some(url(2)), None, vec![tag(1)])))
        .mount(&server)
        .await;

    let error = http_client(&server.uri()).tags().await.expect_err("loop");

    assert!(matches!(error, PretalxError::Pagination { .. }), "{error}");
}

#[tokio::test]
async fn fetch_all_reads_every_resource_and_the_configured_answers() {
    let server = MockServer::start().await;
    let data = fixture("mapping.json");
    Mock::given(method("GET"))
        .and(path(format!("/api/events/{EVENT}/")))
        .respond_with(ok(fixture("event.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(collection_path("submissions")))
        .and(query_param("expand", "resources"))
        .respond_with(ok(page(1, None, None, vec![fixture("submission.json")])))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/events/{EVENT}/schedules/latest/")))
        .respond_with(ok(data["released"].clone()))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(collection_path("slots")))
        .and(query_param("schedule", "901"))
        .respond_with(ok(page(
            6,
            None,
            None,
            data["slots"].as_array().cloned().unwrap_or_default(),
        )))
        .expect(1)
        .mount(&server)
        .await;
    for (resource, key) in [
        ("speakers", "speakers"),
        ("rooms", "rooms"),
        ("tags", "tags"),
        ("tracks", "tracks"),
        ("submission-types", "submission_types"),
    ] {
        let results = data[key].as_array().cloned().unwrap_or_default();
        mount_single_page(&server, resource, results).await;
    }
    for question in [11_i64, 13] {
        let answers: Vec<Value> = data["answers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|answer| answer["question"] == question)
            .cloned()
            .collect();
        Mock::given(method("GET"))
            .and(path(collection_path("answers")))
            .and(query_param("question", question.to_string().as_str()))
            .respond_with(ok(page(answers.len(), None, None, answers)))
            .expect(1)
            .mount(&server)
            .await;
    }

    let fetched = http_client(&server.uri())
        .fetch_all(&[11, 13, 11])
        .await
        .expect("all resources");

    assert_eq!(fetched.submissions[0].resources.len(), 2);
    assert_eq!(fetched.released.map(|schedule| schedule.id), Some(901));
    assert_eq!(fetched.slots.len(), 6);
    assert_eq!(fetched.submission_types.len(), 2);
    assert_eq!(fetched.answers.len(), 2);
}

#[tokio::test]
async fn without_a_released_schedule_no_slots_are_read() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/events/{EVENT}/schedules/latest/")))
        .respond_with(ResponseTemplate::new(404).set_body_string(r#"{"detail":"Not found."}"#))
        .mount(&server)
        .await;

    let released = http_client(&server.uri())
        .released_schedule()
        .await
        .expect("no schedule is not an error");

    assert!(released.is_none());
}

#[tokio::test]
async fn a_response_over_the_size_limit_is_refused_without_retrying() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(collection_path("tags")))
        .respond_with(ok(page(
            1,
            None,
            None,
            vec![json!({"id": 1, "tag": "x".repeat(4096)})],
        )))
        .expect(1)
        .mount(&server)
        .await;
    let base = url::Url::parse(&format!("{}/api/", server.uri())).expect("url");
    let mut config = plaza_jobs::pretalx::ClientConfig::new(base, EVENT, TOKEN);
    config.retry = common::fast_retry();
    config.max_response_bytes = 1024;
    let client = plaza_jobs::pretalx::PretalxClient::new(config).expect("valid config");

    let error = client.tags().await.expect_err("too large");

    assert!(matches!(error, PretalxError::TooLarge { .. }), "{error}");
}

#[tokio::test]
async fn an_import_over_its_byte_limit_is_refused() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("/api/events/{EVENT}/")))
        .respond_with(ok(fixture("event.json")))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/api/events/{EVENT}/schedules/latest/")))
        .respond_with(ok(
            json!({"id": 1, "version": "1", "published": null, "comment": "x".repeat(4096)}),
        ))
        .mount(&server)
        .await;
    let base = url::Url::parse(&format!("{}/api/", server.uri())).expect("url");
    let mut config = plaza_jobs::pretalx::ClientConfig::new(base, EVENT, TOKEN);
    config.max_import_bytes = 2048;
    let client = plaza_jobs::pretalx::PretalxClient::new(config).expect("valid config");

    let error = client.fetch_all(&[]).await.expect_err("too large");

    assert!(matches!(error, PretalxError::TooLarge { .. }), "{error}");
}

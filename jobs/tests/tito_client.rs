//! The Tito client against a wiremock Tito: headers, `meta.next_page` pagination, filters, retries, failures,
//! validation. Bodies follow the Admin API v3 shapes (external-apis.md §2).

use std::time::Duration;

use chrono::{DateTime, Utc};
use plaza_jobs::tito::{ClientConfig, TicketQuery, TitoClient, TitoError};
use plaza_jobs::upstream::retry::RetryPolicy;
use plaza_jobs::upstream::transport::HttpTransport;
use serde_json::{Value, json};
use url::Url;
use wiremock::matchers::{header, method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const ACCOUNT: &str = "mozilla";
const EVENT: &str = "mozfest-2026";
const TOKEN: &str = "s3cr3t-tito-token";
const TICKETS: &str = "/v3/mozilla/mozfest-2026/tickets";

fn client(server: &MockServer) -> TitoClient<HttpTransport> {
    client_with(server, |_| {})
}

fn client_with(
    server: &MockServer,
    edit: impl FnOnce(&mut ClientConfig),
) -> TitoClient<HttpTransport> {
    let base = Url::parse(&format!("{}/v3/", server.uri())).expect("valid server uri");
    let mut config = ClientConfig::new(base, ACCOUNT, EVENT, TOKEN);
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_millis(50),
    };
    config.timeout = Duration::from_secs(5);
    edit(&mut config);
    TitoClient::new(config).expect("valid config")
}

/// A ticket as `GET /{account}/{event}/tickets` lists it.
fn ticket(n: u32) -> Value {
    json!({
        "_type": "ticket",
        "id": 1000 + n,
        "slug": format!("ti_test_{n}"),
        "reference": format!("ABCD-{n}"),
        "state": "complete",
        "email": format!("person{n}@example.org"),
        "name": format!("Person {n}"),
        "first_name": "Person",
        "last_name": n.to_string(),
        "company_name": "",
        "phone_number": "",
        "release_title": "General Admission",
        "release_id": 42,
        "registration_id": 7,
        "registration": {"id": 7, "slug": "reg_7", "email": "buyer@example.org", "name": "Buyer"},
        "discount_code_used": "",
        "consented_at": null,
        "created_at": "2026-09-01T12:00:00.000+01:00",
        "updated_at": "2026-09-02T12:00:00.000+01:00",
        "metadata": null,
        "answers": [],
    })
}

/// A list response: the objects under `key` and Tito's `meta`.
fn listing(
    key: &str,
    objects: Vec<Value>,
    page: u64,
    total_pages: u64,
    total_count: usize,
) -> Value {
    json!({
        key: objects,
        "meta": {
            "current_page": page,
            "next_page": (page < total_pages).then_some(page + 1),
            "prev_page": (page > 1).then(|| page - 1),
            "total_pages": total_pages,
            "total_count": total_count,
            "per_page": 2,
        },
    })
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

async fn mount_tickets(server: &MockServer, tickets: Vec<Value>) {
    let count = tickets.len();
    Mock::given(method("GET"))
        .and(path(TICKETS))
        .respond_with(ok(listing("tickets", tickets, 1, 1, count)))
        .mount(server)
        .await;
}

#[tokio::test]
async fn tickets_follow_meta_next_page_across_three_pages_keeping_the_filters() {
    let server = MockServer::start().await;
    let pages = [
        (None, vec![ticket(1), ticket(2)]),
        (Some("2"), vec![ticket(3), ticket(4)]),
        (Some("3"), vec![ticket(5)]),
    ];
    for (index, (number, tickets)) in pages.into_iter().enumerate() {
        let mock = Mock::given(method("GET"))
            .and(path(TICKETS))
            .and(query_param("search[states][]", "complete"))
            .and(query_param("search[states][]", "void"))
            .and(query_param("search[sort]", "created_at"))
            .and(query_param("search[direction]", "asc"));
        let mock = match number {
            Some(number) => mock.and(query_param("page", number)),
            None => mock.and(query_param_is_missing("page")),
        };
        mock.respond_with(ok(listing("tickets", tickets, index as u64 + 1, 3, 5)))
            .expect(1)
            .mount(&server)
            .await;
    }

    let mut progress = Vec::new();
    let tickets = client(&server)
        .tickets_with_progress(&TicketQuery::access(), |p| progress.push((p.page, p.read)))
        .await
        .expect("three pages");

    let slugs: Vec<&str> = tickets.iter().map(|t| t.slug.as_str()).collect();
    assert_eq!(
        slugs,
        [
            "ti_test_1",
            "ti_test_2",
            "ti_test_3",
            "ti_test_4",
            "ti_test_5"
        ]
    );
    assert_eq!(progress, [(1, 2), (2, 4), (3, 5)]);
    assert_eq!(tickets[0].holder_email(), Some("person1@example.org"));
}

#[tokio::test]
async fn every_request_sends_the_tito_token_header_and_accepts_json() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v3/hello"))
        .and(header(
            "Authorization",
            format!("Token token={TOKEN}").as_str(),
        ))
        .and(header("Accept", "application/json"))
        .respond_with(ok(json!({
            "authenticated": true,
            "access_token": "oken",
            "lookup_mode": "live",
            "accounts": ["mozilla"],
        })))
        .expect(1)
        .mount(&server)
        .await;

    let hello = client(&server).hello().await.expect("headers matched");

    assert!(hello.authenticated);
    assert_eq!(hello.lookup_mode.as_deref(), Some("live"));
}

#[tokio::test]
async fn a_differential_listing_sends_updated_at_gt() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TICKETS))
        .and(query_param(
            "search[updated_at][gt]",
            "2026-11-23T09:45:00Z",
        ))
        .respond_with(ok(listing("tickets", vec![ticket(1)], 1, 1, 1)))
        .expect(1)
        .mount(&server)
        .await;
    let since: DateTime<Utc> = "2026-11-23T09:45:00Z".parse().expect("valid date");

    let tickets = client(&server)
        .tickets(&TicketQuery::access().updated_after(since))
        .await
        .expect("filtered");

    assert_eq!(tickets.len(), 1);
}

#[tokio::test]
async fn rate_limited_request_honours_retry_after_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TICKETS))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "1"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    mount_tickets(&server, vec![ticket(1)]).await;

    let started = std::time::Instant::now();
    let tickets = client(&server)
        .tickets(&TicketQuery::access())
        .await
        .expect("retried after 429");

    assert_eq!(tickets.len(), 1);
    // Retry-After (1 s, capped at 50 ms by the test policy) was used, not the 1 ms backoff.
    assert!(started.elapsed() >= Duration::from_millis(45));
}

#[tokio::test]
async fn server_error_is_retried_then_succeeds() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TICKETS))
        .respond_with(ResponseTemplate::new(500).set_body_string("Internal Server Error"))
        .up_to_n_times(1)
        .expect(1)
        .mount(&server)
        .await;
    mount_tickets(&server, vec![ticket(1), ticket(2)]).await;

    let tickets = client(&server)
        .tickets(&TicketQuery::access())
        .await
        .expect("retried after 500");

    assert_eq!(tickets.len(), 2);
}

#[tokio::test]
async fn persistent_server_error_fails_after_bounded_attempts() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TICKETS))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .expect(3)
        .mount(&server)
        .await;

    let error = client(&server)
        .tickets(&TicketQuery::access())
        .await
        .expect_err("never succeeds");

    assert!(
        matches!(error, TitoError::GaveUp { attempts: 3, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("503 maintenance"), "{error}");
}

#[tokio::test]
async fn unauthorized_fails_at_once_with_a_clear_message() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TICKETS))
        .respond_with(
            ResponseTemplate::new(401)
                .set_body_json(json!({"errors": {"authentication": ["Invalid token"]}})),
        )
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .tickets(&TicketQuery::access())
        .await
        .expect_err("bad token");

    assert!(
        matches!(error, TitoError::BadToken { status: 401, .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("Tito refused the API token"),
        "{error}"
    );
    assert!(!error.to_string().contains(TOKEN), "{error}");
}

#[tokio::test]
async fn wrong_event_slug_fails_at_once_with_the_status() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"errors": ["Not found"]})))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .tickets(&TicketQuery::access())
        .await
        .expect_err("404");

    assert!(
        matches!(error, TitoError::Status { status: 404, .. }),
        "{error}"
    );
    assert!(error.to_string().contains("Not found"), "{error}");
}

async fn malformed_ticket_error(edit: impl FnOnce(&mut Value)) -> String {
    let server = MockServer::start().await;
    let mut broken = ticket(2);
    broken["slug"] = json!("ti_broken");
    edit(&mut broken);
    mount_tickets(&server, vec![ticket(1), broken]).await;
    client(&server)
        .tickets(&TicketQuery::access())
        .await
        .expect_err("malformed")
        .to_string()
}

#[tokio::test]
async fn a_ticket_without_updated_at_fails_naming_the_ticket_and_field() {
    let message = malformed_ticket_error(|ticket| {
        ticket
            .as_object_mut()
            .map(|object| object.remove("updated_at"));
    })
    .await;

    assert_eq!(
        message,
        "malformed object in Tito tickets: \"ti_broken\" (tickets[1] of page 1): missing field `updated_at`"
    );
}

#[tokio::test]
async fn a_ticket_whose_state_is_not_text_fails_naming_the_field() {
    let message = malformed_ticket_error(|ticket| ticket["state"] = json!(3)).await;

    assert!(message.contains("\"ti_broken\""), "{message}");
    assert!(message.contains("at `state`: invalid type"), "{message}");
}

#[tokio::test]
async fn a_ticket_with_an_empty_slug_fails_naming_the_field() {
    let message = malformed_ticket_error(|ticket| ticket["slug"] = json!("")).await;

    assert!(
        message.contains("at `slug`: expected 1 to 200 characters"),
        "{message}"
    );
}

#[tokio::test]
async fn a_page_without_meta_fails_instead_of_stopping_early() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TICKETS))
        .respond_with(ok(json!({"tickets": [ticket(1)]})))
        .mount(&server)
        .await;

    let error = client(&server)
        .tickets(&TicketQuery::access())
        .await
        .expect_err("no meta");

    assert!(
        error.to_string().contains("page 1: missing field `meta`"),
        "{error}"
    );
}

#[tokio::test]
async fn next_page_pointing_back_fails_instead_of_looping() {
    let server = MockServer::start().await;
    let mut body = listing("tickets", vec![ticket(1)], 1, 4, 4);
    body["meta"]["next_page"] = json!(1);
    Mock::given(method("GET"))
        .and(path(TICKETS))
        .respond_with(ok(body))
        .expect(1)
        .mount(&server)
        .await;

    let error = client(&server)
        .tickets(&TicketQuery::access())
        .await
        .expect_err("loop");

    assert!(matches!(error, TitoError::Pagination { .. }), "{error}");
    assert!(error.to_string().contains("not a later page"), "{error}");
}

#[tokio::test]
async fn an_absurd_page_count_fails_before_reading_on() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(TICKETS))
        .respond_with(ok(listing(
            "tickets",
            vec![ticket(1)],
            1,
            1_000_000,
            2_000_000,
        )))
        .expect(1)
        .mount(&server)
        .await;

    let error = client_with(&server, |config| config.max_pages = 50)
        .tickets(&TicketQuery::access())
        .await
        .expect_err("too many pages");

    assert!(matches!(error, TitoError::Pagination { .. }), "{error}");
    assert!(error.to_string().contains("1000000 pages"), "{error}");
}

#[tokio::test]
async fn registrations_and_events_are_listed_raw() {
    let server = MockServer::start().await;
    let registration =
        json!({"id": 7, "slug": "reg_7", "email": "buyer@example.org", "state": "complete"});
    Mock::given(method("GET"))
        .and(path("/v3/mozilla/mozfest-2026/registrations"))
        .respond_with(ok(listing(
            "registrations",
            vec![registration.clone()],
            1,
            1,
            1,
        )))
        .expect(1)
        .mount(&server)
        .await;
    let event = json!({"id": 1, "slug": EVENT, "title": "MozFest 2026", "account_slug": ACCOUNT});
    Mock::given(method("GET"))
        .and(path("/v3/mozilla/events"))
        .respond_with(ok(listing("events", vec![event.clone()], 1, 1, 1)))
        .expect(1)
        .mount(&server)
        .await;

    let client = client(&server);

    assert_eq!(
        client.registrations().await.expect("registrations"),
        [registration]
    );
    assert_eq!(client.events().await.expect("events"), [event]);
}

#[tokio::test]
async fn over_long_ticket_fields_are_cut_at_the_edge() {
    let server = MockServer::start().await;
    let mut long = ticket(1);
    long["name"] = json!("N".repeat(50_000));
    long["email"] = json!(format!("{}@example.org", "e".repeat(50_000)));
    mount_tickets(&server, vec![long]).await;

    let tickets = client(&server)
        .tickets(&TicketQuery::access())
        .await
        .expect("one ticket");

    let limit = plaza_jobs::tito::wire::FIELD_CHARS;
    assert_eq!(
        tickets[0].name.as_deref().map(|n| n.chars().count()),
        Some(limit)
    );
    assert_eq!(
        tickets[0].email.as_deref().map(|e| e.chars().count()),
        Some(limit)
    );
}

#[tokio::test]
async fn a_response_over_the_size_limit_is_refused_without_retrying() {
    let server = MockServer::start().await;
    let tickets: Vec<Value> = (1..=20).map(ticket).collect();
    Mock::given(method("GET"))
        .and(path(TICKETS))
        .respond_with(ok(listing("tickets", tickets, 1, 1, 20)))
        .expect(1)
        .mount(&server)
        .await;

    let error = client_with(&server, |config| config.max_response_bytes = 2048)
        .tickets(&TicketQuery::access())
        .await
        .expect_err("too large");

    assert!(matches!(error, TitoError::TooLarge { .. }), "{error}");
}

//! The users job end to end: a (fake) Tito event synced into the allow-list — full then differential runs, voids
//! and vanished tickets losing access, failed runs changing nothing, one run at a time.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use plaza_core::model::schedule::hash_email;
use plaza_core::queries::tickets::{self, Ticket};
use plaza_jobs::tito::TitoClient;
use plaza_jobs::upstream::retry::RetryPolicy;
use plaza_jobs::users::{self, SyncKind};
use plaza_jobs::{JobContext, JobError};
use plaza_tests::fake_tito::{FakeTito, ticket};
use plaza_tests::{Backend, TestCache, TestDb, for_each_backend};

/// A job context whose Tito is `fake`, on fresh storage.
async fn context(backend: Backend, fake: &FakeTito) -> (JobContext, TestDb, TestCache) {
    plaza_tests::init_test_logs();
    let db = TestDb::new(backend).await;
    let cache = TestCache::new(backend);
    let env: HashMap<&str, String> = fake.env().into_iter().collect();
    let config =
        plaza_core::Config::from_lookup(|k| env.get(k).cloned()).expect("valid configuration");
    let ctx = JobContext {
        config,
        cache: cache.cache.clone(),
        db: db.db.clone(),
    };
    (ctx, db, cache)
}

/// Monday 10:00 UTC of the event week: every ticket time is relative to it.
fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
        .expect("valid date")
        .with_timezone(&Utc)
}

fn minutes(n: i64) -> DateTime<Utc> {
    t0() + TimeDelta::minutes(n)
}

/// Ada and Grace hold complete tickets, Bob's is void.
fn three_tickets() -> Vec<serde_json::Value> {
    vec![
        ticket("ti_ada", "complete", Some("Ada@Example.org"), minutes(0)),
        ticket("ti_bob", "void", Some("bob@example.org"), minutes(10)),
        ticket(
            "ti_grace",
            "complete",
            Some("grace@example.org"),
            minutes(20),
        ),
    ]
}

async fn holder(ctx: &JobContext, email: &str) -> Option<String> {
    tickets::holder_name(&ctx.db, &hash_email(email))
        .await
        .expect("holder_name")
}

async fn stored(ctx: &JobContext, slugs: &[&str]) -> Vec<Option<Ticket>> {
    let mut rows = Vec::new();
    for slug in slugs {
        rows.push(tickets::get(&ctx.db, slug).await.expect("get"));
    }
    rows
}

/// A client for the context's Tito that retries within milliseconds.
fn fast_client(ctx: &JobContext) -> TitoClient<plaza_jobs::upstream::transport::HttpTransport> {
    let mut config = users::client_config(&ctx.config).expect("Tito is configured");
    config.retry = RetryPolicy {
        max_attempts: 3,
        base_delay: Duration::from_millis(1),
        max_delay: Duration::from_millis(5),
        max_retry_after: Duration::from_millis(50),
    };
    TitoClient::new(config).expect("valid client")
}

for_each_backend! {
    async fn the_first_run_is_full_and_grants_access_to_complete_tickets_only(backend: Backend) {
        let fake = FakeTito::start(three_tickets()).await;
        fake.set_per_page(2);
        let (ctx, _db, _cache) = context(backend, &fake).await;

        let summary = users::run_once(&ctx, false).await.expect("sync succeeds");

        assert_eq!(summary.kind, SyncKind::Full);
        assert_eq!((summary.fetched, summary.written, summary.with_access), (3, 3, 2));
        assert_eq!(summary.by_state.get("void"), Some(&1));
        assert_eq!(holder(&ctx, " ada@example.ORG ").await.as_deref(), Some("Ada"));
        assert_eq!(holder(&ctx, "grace@example.org").await.as_deref(), Some("grace"));
        assert_eq!(holder(&ctx, "bob@example.org").await, None, "a void ticket grants nothing");
        let queries = fake.ticket_queries().await;
        assert_eq!(queries.len(), 2, "two pages");
        for query in &queries {
            let states: Vec<&str> = query
                .iter()
                .filter(|(k, _)| k == "search[states][]")
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(states, ["complete", "void"], "{query:?}");
            assert!(!query.iter().any(|(k, _)| k == "search[updated_at][gt]"), "{query:?}");
        }
    }

    async fn the_second_run_reads_changes_since_the_cursor_minus_fifteen_minutes(backend: Backend) {
        let fake = FakeTito::start(three_tickets()).await;
        let (ctx, _db, _cache) = context(backend, &fake).await;
        users::run_once(&ctx, false).await.expect("first sync");
        assert_eq!(tickets::cursor(&ctx.db).await.expect("cursor"), Some(minutes(20)));
        let mut tickets = three_tickets();
        tickets.push(ticket("ti_alan", "complete", Some("alan@example.org"), minutes(90)));
        fake.set_tickets(tickets);

        let summary = users::run_once(&ctx, false).await.expect("second sync");

        assert_eq!(summary.kind, SyncKind::Differential { since: minutes(5) });
        // The overlap re-reads Bob and Grace (updated at +10 and +20 min): harmless, newer-or-equal data wins.
        assert_eq!(summary.fetched, 3);
        let last = fake.ticket_queries().await.pop().expect("a tickets request");
        assert!(
            last.contains(&("search[updated_at][gt]".to_owned(), "2026-11-23T10:05:00Z".to_owned())),
            "{last:?}"
        );
        assert_eq!(holder(&ctx, "alan@example.org").await.as_deref(), Some("alan"));
        assert_eq!(holder(&ctx, "ada@example.org").await.as_deref(), Some("Ada"), "unchanged tickets stay");
        assert_eq!(tickets::cursor(&ctx.db).await.expect("cursor"), Some(minutes(90)));
    }

    async fn a_ticket_voided_in_tito_loses_access_after_the_next_run(backend: Backend) {
        let fake = FakeTito::start(three_tickets()).await;
        let (ctx, _db, _cache) = context(backend, &fake).await;
        users::run_once(&ctx, false).await.expect("first sync");
        assert!(holder(&ctx, "ada@example.org").await.is_some());
        fake.edit("ti_ada", |t| {
            t["state"] = "void".into();
            t["updated_at"] = "2026-11-23T11:00:00.000Z".into();
        });

        let summary = users::run_once(&ctx, false).await.expect("second sync");

        assert!(matches!(summary.kind, SyncKind::Differential { .. }));
        assert_eq!(holder(&ctx, "ada@example.org").await, None);
        let ada = tickets::get(&ctx.db, "ti_ada").await.expect("get").expect("kept");
        assert_eq!(ada.state, "void");
        assert_eq!(summary.with_access, 1);
    }

    async fn a_full_run_drops_tickets_tito_no_longer_lists(backend: Backend) {
        let fake = FakeTito::start(three_tickets()).await;
        let (ctx, _db, _cache) = context(backend, &fake).await;
        users::run_once(&ctx, false).await.expect("first sync");
        // Grace's ticket vanishes (deleted, or moved to another event): no update carries that news.
        fake.set_tickets(three_tickets().into_iter().filter(|t| t["slug"] != "ti_grace").collect());
        users::run_once(&ctx, false).await.expect("differential sync");
        assert!(holder(&ctx, "grace@example.org").await.is_some(), "a differential run cannot see removals");

        let summary = users::run_once(&ctx, true).await.expect("full sync");

        assert_eq!(summary.kind, SyncKind::Full);
        assert_eq!(summary.fetched, 2);
        assert_eq!(holder(&ctx, "grace@example.org").await, None);
        assert_eq!(tickets::get(&ctx.db, "ti_grace").await.expect("get"), None);
        assert_eq!(holder(&ctx, "ada@example.org").await.as_deref(), Some("Ada"));
    }

    async fn a_failure_mid_listing_changes_nothing_and_reports_the_error(backend: Backend) {
        let fake = FakeTito::start(three_tickets()).await;
        fake.set_per_page(2);
        let (ctx, _db, _cache) = context(backend, &fake).await;
        users::run_once(&ctx, false).await.expect("first sync");
        let slugs = ["ti_ada", "ti_bob", "ti_grace", "ti_alan"];
        let before = stored(&ctx, &slugs).await;
        // Page 1 now carries a change (Ada voided) and page 2 never answers.
        let mut tickets = three_tickets();
        tickets[0] = ticket("ti_ada", "void", Some("ada@example.org"), minutes(60));
        tickets.push(ticket("ti_alan", "complete", Some("alan@example.org"), minutes(90)));
        fake.set_tickets(tickets);
        fake.fail_page(Some(2));
        let client = fast_client(&ctx);

        for full in [false, true] {
            let error = users::run_with(&ctx, &client, full).await.expect_err("page 2 fails");

            assert!(matches!(error, JobError::Failed(_)), "{error}");
            let message = format!("{error:#}");
            assert!(message.contains("500") && message.contains("page=2"), "{message}");
            assert_eq!(stored(&ctx, &slugs).await, before, "full = {full}");
        }
        assert_eq!(holder(&ctx, "ada@example.org").await.as_deref(), Some("Ada"));
    }

    async fn two_concurrent_runs_one_is_refused(backend: Backend) {
        let fake = FakeTito::start(three_tickets()).await;
        fake.slow_down(Duration::from_millis(300));
        let (ctx, _db, _cache) = context(backend, &fake).await;

        let (first, second) = tokio::join!(users::run_once(&ctx, false), users::run_once(&ctx, false));

        let (ok, refused) = match (first, second) {
            (Ok(summary), Err(error)) | (Err(error), Ok(summary)) => (summary, error),
            other => panic!("expected one success and one refusal: {other:?}"),
        };
        assert_eq!(ok.fetched, 3);
        assert!(matches!(refused, JobError::AlreadyRunning(ref name) if name == "users"), "{refused}");
        assert_eq!(refused.to_string(), "users is already running");
    }

    async fn a_full_run_that_lists_nothing_does_not_lock_everybody_out(backend: Backend) {
        let fake = FakeTito::start(three_tickets()).await;
        let (ctx, _db, _cache) = context(backend, &fake).await;
        users::run_once(&ctx, false).await.expect("first sync");
        // What a test-mode token or a wrong event looks like.
        fake.set_tickets(Vec::new());

        let error = users::run_once(&ctx, true).await.expect_err("refused");

        assert!(error.to_string().contains("refusing to replace the 3 stored tickets"), "{error}");
        assert!(holder(&ctx, "ada@example.org").await.is_some());
    }

    async fn a_bad_token_fails_with_a_clear_message(backend: Backend) {
        let fake = FakeTito::start(three_tickets()).await;
        let (mut ctx, _db, _cache) = context(backend, &fake).await;
        if let plaza_core::config::TitoSource::Api { token, .. } = &mut ctx.config.tito {
            *token = plaza_core::config::Secret::new("wrong");
        }

        let error = users::run_once(&ctx, false).await.expect_err("401");

        let message = format!("{error:#}");
        assert!(message.contains("Tito refused the API token (401)"), "{message}");
        assert!(!message.contains("wrong"), "the token must not be shown: {message}");
    }
}

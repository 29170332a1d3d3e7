//! The cache contract: Redis and the memory cache behave the same for every operation plaza relies on.

use std::collections::HashSet;
use std::time::Duration;

use plaza_core::cache::{CacheError, Notice};
use plaza_tests::{TestCache, eventually, for_each_backend};

for_each_backend! {
    async fn values_round_trip_and_missing_keys_are_none(backend: Backend) {
        let t = TestCache::new(backend);
        assert_eq!(t.cache.get("absent").await.expect("get"), None);
        t.cache.set("k", "välue ✓", None).await.expect("set");
        assert_eq!(t.cache.get("k").await.expect("get").as_deref(), Some("välue ✓"));
        assert!(t.cache.delete("k").await.expect("delete"));
        assert!(!t.cache.delete("k").await.expect("delete again"));
        assert_eq!(t.cache.get("k").await.expect("get"), None);
    }

    async fn json_values_round_trip_and_bad_json_is_a_decode_error(backend: Backend) {
        let t = TestCache::new(backend);
        let value = serde_json::json!({"sessions": [1, 2, 3], "name": "plaza"});
        t.cache.set_json("doc", &value, None).await.expect("set_json");
        let back: Option<serde_json::Value> = t.cache.get_json("doc").await.expect("get_json");
        assert_eq!(back, Some(value));
        t.cache.set("broken", "{not json", None).await.expect("set");
        let err = t.cache.get_json::<serde_json::Value>("broken").await.expect_err("must not decode");
        assert!(matches!(err, CacheError::Decode { ref key, .. } if key == "broken"), "{err:?}");
    }

    async fn values_expire_after_their_ttl(backend: Backend) {
        let t = TestCache::new(backend);
        t.cache.set("short", "x", Some(Duration::from_millis(100))).await.expect("set");
        t.cache.set("long", "y", Some(Duration::from_secs(60))).await.expect("set");
        assert!(t.cache.get("short").await.expect("get").is_some());
        let gone = eventually(Duration::from_secs(3), || async { t.cache.get("short").await.expect("get").is_none() }).await;
        assert!(gone.is_some(), "value with a 100 ms TTL still present after 3 s");
        assert_eq!(t.cache.get("long").await.expect("get").as_deref(), Some("y"));
    }

    async fn readers_never_see_a_half_applied_multi_key_write(backend: Backend) {
        let t = TestCache::new(backend);
        const KEYS: [&str; 3] = ["schedule.a", "schedule.b", "schedule.c"];
        let keys = KEYS;
        let write = |v: usize| KEYS.iter().map(|k| (k.to_string(), v.to_string())).collect::<Vec<_>>();
        t.cache.set_many(&write(0), None).await.expect("initial write");
        let writer = {
            let cache = t.cache.clone();
            tokio::spawn(async move {
                for v in 1..=200 {
                    cache.set_many(&write(v), None).await.expect("set_many");
                }
            })
        };
        let mut seen = HashSet::new();
        // Read at least once: on a loaded machine the memory cache's writer can finish before the first read.
        loop {
            let done = writer.is_finished();
            let values = t.cache.get_many(&keys).await.expect("get_many");
            let first = values[0].clone().expect("present");
            assert!(values.iter().all(|v| v.as_deref() == Some(first.as_str())), "mixed snapshot: {values:?}");
            seen.insert(first);
            if done {
                break;
            }
        }
        writer.await.expect("writer finished");
        assert!(!seen.is_empty());
        assert_eq!(t.cache.get("schedule.c").await.expect("get").as_deref(), Some("200"));
    }

    async fn counters_add_up_under_concurrency(backend: Backend) {
        let t = TestCache::new(backend);
        assert_eq!(t.cache.incr("hits", 5, None).await.expect("incr"), 5);
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let cache = t.cache.clone();
                tokio::spawn(async move { cache.incr("hits", 1, None).await.expect("incr") })
            })
            .collect();
        for task in tasks {
            task.await.expect("task");
        }
        assert_eq!(t.cache.incr("hits", -5, None).await.expect("incr"), 50);
        t.cache.incr("brief", 1, Some(Duration::from_millis(100))).await.expect("incr with ttl");
        let gone = eventually(Duration::from_secs(3), || async { t.cache.get("brief").await.expect("get").is_none() }).await;
        assert!(gone.is_some(), "counter with a TTL did not expire");
    }

    async fn a_lock_has_one_holder_and_only_the_holder_releases_it(backend: Backend) {
        let t = TestCache::new(backend);
        let lock = t.cache.try_lock("jobs/x", Duration::from_secs(30)).await.expect("try_lock").expect("free");
        assert!(t.cache.is_locked("jobs/x").await.expect("is_locked"));
        assert!(t.cache.try_lock("jobs/x", Duration::from_secs(30)).await.expect("try_lock").is_none());
        let impostor = plaza_core::cache::Lock { name: lock.name.clone(), token: "not-the-token".into() };
        assert!(!t.cache.release(&impostor).await.expect("release"));
        assert!(!t.cache.extend(&impostor, Duration::from_secs(60)).await.expect("extend"));
        assert!(t.cache.extend(&lock, Duration::from_secs(60)).await.expect("extend"));
        assert!(t.cache.release(&lock).await.expect("release"));
        assert!(!t.cache.is_locked("jobs/x").await.expect("is_locked"));
        assert!(t.cache.try_lock("jobs/x", Duration::from_secs(30)).await.expect("try_lock").is_some());
    }

    async fn concurrent_lock_attempts_have_exactly_one_winner(backend: Backend) {
        let t = TestCache::new(backend);
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let cache = t.cache.clone();
                tokio::spawn(async move { cache.try_lock("race", Duration::from_secs(30)).await.expect("try_lock") })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            winners += usize::from(task.await.expect("task").is_some());
        }
        assert_eq!(winners, 1);
    }

    async fn an_expired_lock_can_be_taken_again(backend: Backend) {
        let t = TestCache::new(backend);
        let old = t.cache.try_lock("stale", Duration::from_millis(100)).await.expect("try_lock").expect("free");
        let freed = eventually(Duration::from_secs(3), || async {
            t.cache.try_lock("stale", Duration::from_secs(30)).await.expect("try_lock").is_some()
        }).await;
        assert!(freed.is_some(), "lock did not expire");
        assert!(!t.cache.release(&old).await.expect("release"), "the old holder must not release the new lock");
        assert!(t.cache.is_locked("stale").await.expect("is_locked"));
    }

    async fn subscribers_receive_notices_on_their_channel_only(backend: Backend) {
        let t = TestCache::new(backend);
        let mut schedule = t.cache.subscribe("notify.schedule").await.expect("subscribe");
        t.cache.publish("notify.content", "c1").await.expect("publish");
        t.cache.publish("notify.schedule", "v42").await.expect("publish");
        let notice = tokio::time::timeout(Duration::from_secs(3), schedule.recv()).await.expect("a notice in time");
        assert_eq!(notice, Some(Notice::Message("v42".into())));
    }

    async fn gauges_sum_their_members_and_forget_those_that_stop_refreshing(backend: Backend) {
        let t = TestCache::new(backend);
        assert_eq!(t.cache.gauge_sum("visitors").await.expect("sum"), 0);
        t.cache.gauge_set("visitors", "node-a", 3, Duration::from_secs(60)).await.expect("set a");
        t.cache.gauge_set("visitors", "node-b", 4, Duration::from_millis(200)).await.expect("set b");
        t.cache.gauge_set("other", "node-a", 100, Duration::from_secs(60)).await.expect("other gauge");
        assert_eq!(t.cache.gauge_sum("visitors").await.expect("sum"), 7);
        t.cache.gauge_set("visitors", "node-a", 5, Duration::from_secs(60)).await.expect("replace a");
        let expired = eventually(Duration::from_secs(3), || async {
            t.cache.gauge_sum("visitors").await.expect("sum") == 5
        })
        .await;
        assert!(expired.is_some(), "node-b's share outlived its 200 ms TTL");
        t.cache.gauge_remove("visitors", "node-a").await.expect("remove");
        assert_eq!(t.cache.gauge_sum("visitors").await.expect("sum"), 0);
        assert_eq!(t.cache.gauge_sum("other").await.expect("sum"), 100);
    }

    async fn prefixes_isolate_deployments(backend: Backend) {
        let a = TestCache::new(backend);
        let b = TestCache::new(backend);
        a.cache.set("shared-name", "a", None).await.expect("set");
        assert_eq!(b.cache.get("shared-name").await.expect("get"), None);
        assert!(b.cache.try_lock("shared-lock", Duration::from_secs(5)).await.expect("lock").is_some());
        assert!(a.cache.try_lock("shared-lock", Duration::from_secs(5)).await.expect("lock").is_some());
    }
}

#[tokio::test]
async fn an_unreachable_redis_is_reported_unavailable_quickly() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let url = plaza_core::config::Secret::new(format!("redis://127.0.0.1:{port}"));
    let cache = plaza_core::Cache::connect(Some(&url), "closed:").expect("URL is valid");
    let started = std::time::Instant::now();
    let err = cache.ping().await.expect_err("nothing listens there");
    assert!(matches!(err, CacheError::Unavailable(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn subscriptions_resync_after_redis_restarts() {
    let mut server = plaza_tests::redis_server::RedisServer::start().await;
    let url = plaza_core::config::Secret::new(server.url());
    let cache = plaza_core::Cache::connect(Some(&url), "resync:").expect("URL is valid");
    let mut sub = cache.subscribe("ch").await.expect("subscribe");
    server.restart().await;
    let notice = tokio::time::timeout(Duration::from_secs(10), sub.recv())
        .await
        .expect("resync in time");
    assert_eq!(notice, Some(Notice::Resync));
    let delivered = eventually(Duration::from_secs(5), || async {
        cache.publish("ch", "after").await.is_ok()
    })
    .await;
    assert!(delivered.is_some());
    let notice = tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("message in time");
    assert_eq!(notice, Some(Notice::Message("after".into())));
}

//! The exclusive job runner: one run at a time across processes, lock always released, failures reported.

use std::time::Duration;

use plaza_jobs::{JobContext, JobError, run_exclusive};
use plaza_tests::{Backend, TestCache, TestDb, for_each_backend};

async fn context(backend: Backend) -> (JobContext, TestDb, TestCache) {
    let db = TestDb::new(backend).await;
    let cache = TestCache::new(backend);
    let config = plaza_core::Config::from_lookup(|_| None).expect("defaults");
    let ctx = JobContext {
        config,
        cache: cache.cache.clone(),
        db: db.db.clone(),
    };
    (ctx, db, cache)
}

for_each_backend! {
    async fn a_second_run_while_one_holds_the_lock_is_refused(backend: Backend) {
        let (ctx, _db, _cache) = context(backend).await;
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<()>();
        let first = {
            let ctx = ctx.clone();
            tokio::spawn(async move {
                run_exclusive(&ctx, "import", Duration::from_secs(30), || async move {
                    let _ = started_tx.send(());
                    let _ = finish_rx.await;
                    Ok(42)
                })
                .await
            })
        };
        started_rx.await.expect("first run started");
        let second = run_exclusive(&ctx, "import", Duration::from_secs(30), || async { Ok(0) }).await;
        assert!(matches!(second, Err(JobError::AlreadyRunning(ref name)) if name == "import"), "{second:?}");
        assert_eq!(second.expect_err("refused").to_string(), "import is already running");
        finish_tx.send(()).expect("first run waits");
        assert_eq!(first.await.expect("task").expect("first run succeeds"), 42);
        let third = run_exclusive(&ctx, "import", Duration::from_secs(30), || async { Ok(7) }).await;
        assert_eq!(third.expect("lock released after the first run"), 7);
    }

    async fn a_failed_run_reports_its_error_and_releases_the_lock(backend: Backend) {
        let (ctx, _db, _cache) = context(backend).await;
        let failed: Result<(), JobError> =
            run_exclusive(&ctx, "broken", Duration::from_secs(30), || async { anyhow::bail!("Pretalx said 500") })
                .await;
        let err = failed.expect_err("the job failed");
        assert!(matches!(err, JobError::Failed(_)));
        assert!(err.to_string().contains("Pretalx said 500"));
        assert!(!ctx.cache.is_locked("jobs/broken").await.expect("is_locked"));
    }

    async fn a_long_run_keeps_its_lock_alive(backend: Backend) {
        let (ctx, _db, _cache) = context(backend).await;
        let outcome = run_exclusive(&ctx, "slow", Duration::from_millis(300), || {
            let ctx = ctx.clone();
            async move {
                // Longer than the lock TTL: without renewal another process could start meanwhile.
                tokio::time::sleep(Duration::from_millis(900)).await;
                Ok(ctx.cache.is_locked("jobs/slow").await?)
            }
        })
        .await;
        assert!(outcome.expect("run succeeds"), "the lock expired while the job was still running");
    }
}

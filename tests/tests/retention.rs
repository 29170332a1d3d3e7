//! The `retention` job (issue #14): old `logs` rows and schedule/content versions beyond the newest N are deleted,
//! the served version never; `0` keeps everything. On both backends, through `run_once` and `--mode retention`.

use chrono::{Duration, Utc};
use plaza_core::on_db;
use plaza_core::queries::logs::{self, NewLog};
use plaza_core::queries::versions::{self, Table};
use plaza_tests::{TestApp, for_each_backend, spawn_app};
use serde_json::json;

async fn log_at(app: &TestApp, event: &str, days_ago: i64) {
    let created = Utc::now() - Duration::days(days_ago);
    on_db!(&app.state.db, pool => sqlx::query("INSERT INTO logs (event, data, created) VALUES ($1, $2, $3)")
        .bind(event)
        .bind(sqlx::types::Json(json!({})))
        .bind(created)
        .execute(pool)
        .await
        .map(drop))
    .expect("insert log");
}

async fn events(app: &TestApp) -> Vec<String> {
    on_db!(&app.state.db, pool => sqlx::query_scalar::<_, String>("SELECT event FROM logs ORDER BY event")
        .fetch_all(pool)
        .await)
    .expect("events")
}

/// Stores `n` versions of `table`; returns their ids, oldest first.
async fn versions_of(app: &TestApp, table: Table, n: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = versions::insert_if_new(
            &app.state.db,
            table,
            "test",
            &format!("hash-{i}"),
            &json!({}),
            &json!({}),
        )
        .await
        .expect("insert version")
        .expect("new version");
        ids.push(id);
    }
    ids
}

async fn remaining(app: &TestApp, table: Table) -> Vec<i64> {
    let mut ids: Vec<i64> = versions::list(&app.state.db, table, 100)
        .await
        .expect("list")
        .into_iter()
        .map(|v| v.id)
        .collect();
    ids.sort();
    ids
}

for_each_backend! {
    async fn old_logs_and_versions_beyond_the_newest_are_deleted_but_never_the_served_one(backend: Backend) {
        let app = spawn_app(backend, &[("LOGS_RETENTION_DAYS", "30"), ("VERSIONS_KEEP", "2")]).await;
        log_at(&app, "old/a", 45).await;
        log_at(&app, "old/b", 31).await;
        log_at(&app, "recent/c", 29).await;
        logs::insert_many(&app.state.db, &[NewLog {
            event: "recent/now".into(), attendee: None, socket: None, data: json!({}),
        }]).await.expect("insert");
        let schedule = versions_of(&app, Table::Schedule, 5).await;
        // A rollback made the oldest version the served one.
        versions::mark_published(&app.state.db, Table::Schedule, schedule[4], Utc::now() - Duration::hours(1))
            .await.expect("publish");
        versions::mark_published(&app.state.db, Table::Schedule, schedule[0], Utc::now())
            .await.expect("rollback");
        let content = versions_of(&app, Table::Content, 3).await;

        let deleted = plaza_jobs::retention::run_once(&app.jobs()).await.expect("retention runs");

        assert_eq!(events(&app).await, vec!["recent/c", "recent/now"]);
        assert_eq!(remaining(&app, Table::Schedule).await, vec![schedule[0], schedule[3], schedule[4]]);
        assert_eq!(remaining(&app, Table::Content).await, content[1..].to_vec());
        assert_eq!((deleted.logs, deleted.schedule_versions, deleted.content_versions), (2, 2, 1));
    }

    async fn zero_keeps_everything(backend: Backend) {
        let app = spawn_app(backend, &[("LOGS_RETENTION_DAYS", "0"), ("VERSIONS_KEEP", "0")]).await;
        log_at(&app, "old/a", 4000).await;
        versions_of(&app, Table::Schedule, 3).await;
        let deleted = plaza_jobs::retention::run_once(&app.jobs()).await.expect("retention runs");
        assert_eq!(deleted, plaza_jobs::retention::Deleted::default());
        assert_eq!(events(&app).await, vec!["old/a"]);
        assert_eq!(remaining(&app, Table::Schedule).await.len(), 3);
    }
}

#[test]
fn the_retention_mode_runs_the_job_and_says_what_it_deleted() {
    let dir = plaza_tests::storage::TempDir::new();
    let db = format!("sqlite://{}/plaza.db", dir.path.display());
    assert_eq!(
        plaza_tests::plaza_says(
            &["--mode", "retention"],
            [("DATABASE_URL", db.as_str()), ("RUST_LOG", "off")],
        ),
        "deleted 0 logs rows, 0 schedule versions, 0 content versions"
    );
}

//! The database contract: Postgres and SQLite apply the same schema and answer the same queries the same way.

use plaza_core::config::DatabaseUrl;
use plaza_core::queries::logs;
use plaza_core::queries::versions::{self, Table};
use plaza_core::{Db, on_db};
use plaza_tests::{Backend, TestDb, for_each_backend};
use serde_json::json;

async fn insert_attendee(db: &Db, name: &str, email: &str) -> Result<i32, sqlx::Error> {
    const SQL: &str = "INSERT INTO attendees (name, email) VALUES ($1, $2) RETURNING id";
    on_db!(db, pool => sqlx::query_scalar::<_, i32>(SQL).bind(name).bind(email).fetch_one(pool).await)
}

async fn attend(db: &Db, attendee: i32, session: &str) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO attendance (attendee, session) VALUES ($1, $2)";
    on_db!(db, pool => sqlx::query(SQL).bind(attendee).bind(session).execute(pool).await.map(drop))
}

async fn count(db: &Db, sql: &'static str) -> i64 {
    on_db!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.expect("count query"))
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(e) if e.is_unique_violation())
}

for_each_backend! {
    async fn migrations_are_idempotent(backend: Backend) {
        let t = TestDb::new(backend).await;
        t.db.migrate().await.expect("second run is a no-op");
        assert_eq!(count(&t.db, "SELECT COUNT(*) FROM attendees").await, 0);
        assert!(!t.db.migrations().is_empty());
    }

    async fn an_email_has_one_attendee_row(backend: Backend) {
        let t = TestDb::new(backend).await;
        insert_attendee(&t.db, "Ada", "ada@example.org").await.expect("first insert");
        let err = insert_attendee(&t.db, "Ada again", "ada@example.org").await.expect_err("duplicate email");
        assert!(is_unique_violation(&err), "{err:?}");
    }

    async fn long_and_non_ascii_names_fit(backend: Backend) {
        let t = TestDb::new(backend).await;
        let name = "Zoë Ñandú-Øresund ".repeat(10);
        assert!(name.chars().count() > 50);
        insert_attendee(&t.db, &name, "zoë@exämple.org").await.expect("long non-ASCII name is stored");
    }

    async fn attending_twice_is_refused_by_the_unique_pair(backend: Backend) {
        let t = TestDb::new(backend).await;
        let id = insert_attendee(&t.db, "Grace", "grace@example.org").await.expect("attendee");
        attend(&t.db, id, "ABC123-1").await.expect("first attend");
        let err = attend(&t.db, id, "ABC123-1").await.expect_err("second attend");
        assert!(is_unique_violation(&err), "{err:?}");
        attend(&t.db, id, "XYZ789-1").await.expect("another session");
    }

    async fn deleting_an_attendee_erases_attendance_and_logs(backend: Backend) {
        let t = TestDb::new(backend).await;
        let id = insert_attendee(&t.db, "Linus", "linus@example.org").await.expect("attendee");
        attend(&t.db, id, "S-1").await.expect("attend");
        let entry = logs::NewLog {
            event: "general/pageView".into(),
            attendee: Some(id),
            socket: Some("sock-1".into()),
            data: json!({"routeName": "atrium", "params": {}}),
        };
        logs::insert_many(&t.db, &[entry]).await.expect("log");
        on_db!(&t.db, pool => sqlx::query("DELETE FROM attendees WHERE id = $1").bind(id).execute(pool).await.map(|r| r.rows_affected()))
            .expect("delete attendee");
        assert_eq!(count(&t.db, "SELECT COUNT(*) FROM attendance").await, 0);
        assert_eq!(count(&t.db, "SELECT COUNT(*) FROM logs").await, 0);
    }

    async fn logs_are_stored_in_batches_and_unknown_attendees_become_anonymous(backend: Backend) {
        let t = TestDb::new(backend).await;
        let id = insert_attendee(&t.db, "Hedy", "hedy@example.org").await.expect("attendee");
        let mut batch: Vec<logs::NewLog> = (0..1200)
            .map(|i| logs::NewLog {
                event: "general/pageView".into(),
                attendee: if i % 2 == 0 { Some(id) } else { None },
                socket: Some(format!("s{i}")),
                data: json!({"routeName": "schedule", "params": {"i": i}}),
            })
            .collect();
        batch.push(logs::NewLog {
            event: "attendance/attend".into(),
            attendee: Some(id + 1000),
            socket: None,
            data: json!({"sessionId": "S-1"}),
        });
        assert_eq!(logs::insert_many(&t.db, &batch).await.expect("batch insert"), 1201);
        let recent = logs::recent(&t.db, "attendance/attend", 10).await.expect("recent");
        assert_eq!(recent.len(), 1);
        assert_eq!(recent[0].attendee, None, "a missing attendee is stored as anonymous");
        assert_eq!(recent[0].data.0, json!({"sessionId": "S-1"}));
        assert_eq!(logs::recent(&t.db, "general/pageView", 5000).await.expect("recent").len(), 1200);
    }

    async fn versions_are_stored_once_per_content_and_the_latest_published_wins(backend: Backend) {
        let t = TestDb::new(backend).await;
        // Schedule and content versions share one query module; each table is independent.
        for table in [Table::Schedule, Table::Content] {
            let data_a = json!({"sessions": [{"id": "A-1"}]});
            let data_b = json!({"sessions": [{"id": "B-1"}, {"id": "B-2"}]});
            let a = versions::insert_if_new(&t.db, table, "test", "hash-a", &data_a, &json!({"sessions": 1}))
                .await
                .expect("insert a")
                .expect("a is new");
            let again = versions::insert_if_new(&t.db, table, "test", "hash-a", &data_a, &json!({"sessions": 1}))
                .await
                .expect("insert a again");
            assert_eq!(again, None, "identical content is not stored twice");
            let b = versions::insert_if_new(&t.db, table, "test", "hash-b", &data_b, &json!({"sessions": 2}))
                .await
                .expect("insert b")
                .expect("b is new");
            assert!(versions::latest_published(&t.db, table).await.expect("latest").is_none());

            let t0 = chrono::Utc::now();
            assert!(versions::mark_published(&t.db, table, b, t0).await.expect("publish b"));
            let (latest, data) = versions::latest_published(&t.db, table).await.expect("latest").expect("one");
            assert_eq!((latest.id, data), (b, data_b.clone()));

            // Rollback: re-publishing an older version makes it the served one.
            assert!(versions::mark_published(&t.db, table, a, t0 + chrono::Duration::seconds(1)).await.expect("a"));
            let (latest, data) = versions::latest_published(&t.db, table).await.expect("latest").expect("one");
            assert_eq!((latest.id, data), (a, data_a));
            assert!(!versions::mark_published(&t.db, table, 999_999, t0).await.expect("unknown id"));

            let listed = versions::list(&t.db, table, 10).await.expect("list");
            assert_eq!(listed.iter().map(|v| v.id).collect::<Vec<_>>(), vec![b, a]);
            assert_eq!(listed[0].counts.0, json!({"sessions": 2}));
            let found = versions::find_by_hash(&t.db, table, "hash-b").await.expect("find").expect("found");
            assert_eq!(found.id, b);
            let (got, got_data) = versions::get(&t.db, table, b).await.expect("get").expect("found");
            assert_eq!((got.content_hash.as_str(), got_data), ("hash-b", data_b));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_postgres_migrations_are_serialised() {
    let t = TestDb::unmigrated(Backend::Real).await;
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = t.url.clone();
            tokio::spawn(async move {
                let db = Db::connect(&url, 2).await.expect("connect");
                db.migrate().await
            })
        })
        .collect();
    for run in runs {
        run.await
            .expect("task")
            .expect("every concurrent migrate succeeds");
    }
    assert_eq!(count(&t.db, "SELECT COUNT(*) FROM attendees").await, 0);
}

mod tickets_table {
    use super::*;
    use chrono::{Duration, Utc};
    use plaza_core::queries::tickets::{self, Ticket};

    fn ticket(slug: &str, email_hash: &str, state: &str, minutes_ago: i64) -> Ticket {
        Ticket {
            slug: slug.into(),
            email_hash: Some(email_hash.into()),
            name: format!("Holder of {slug}"),
            state: state.into(),
            tito_updated_at: Utc::now() - Duration::minutes(minutes_ago),
        }
    }

    for_each_backend! {
        async fn newer_ticket_data_wins_and_older_data_is_ignored(backend: Backend) {
            let t = TestDb::new(backend).await;
            tickets::upsert_many(&t.db, &[ticket("t-1", "h1", "complete", 10)]).await.expect("insert");
            assert_eq!(tickets::holder_name(&t.db, "h1").await.expect("lookup").as_deref(), Some("Holder of t-1"));
            // A late, older delivery must not resurrect or change it…
            tickets::upsert_many(&t.db, &[ticket("t-1", "h1", "void", 20)]).await.expect("older");
            assert!(tickets::holder_name(&t.db, "h1").await.expect("lookup").is_some());
            // …but a newer void removes access.
            tickets::upsert_many(&t.db, &[ticket("t-1", "h1", "void", 1)]).await.expect("newer");
            assert!(tickets::holder_name(&t.db, "h1").await.expect("lookup").is_none());
            assert_eq!(tickets::get(&t.db, "t-1").await.expect("get").expect("row").state, "void");
        }

        async fn a_full_replace_drops_tickets_no_longer_listed(backend: Backend) {
            let t = TestDb::new(backend).await;
            let many: Vec<Ticket> = (0..900).map(|i| ticket(&format!("t-{i}"), &format!("h{i}"), "complete", 5)).collect();
            assert_eq!(tickets::upsert_many(&t.db, &many).await.expect("insert"), 900);
            tickets::replace_all(&t.db, &many[..10]).await.expect("replace");
            assert!(tickets::holder_name(&t.db, "h5").await.expect("lookup").is_some());
            assert!(tickets::holder_name(&t.db, "h500").await.expect("lookup").is_none());
            assert_eq!(tickets::count_by_state(&t.db).await.expect("count"), vec![("complete".to_string(), 10)]);
        }

        async fn the_sync_cursor_only_moves_forward_and_duplicates_in_a_batch_collapse(backend: Backend) {
            let t = TestDb::new(backend).await;
            assert_eq!(tickets::sync_cursor(&t.db, "tito").await.expect("cursor"), None);
            let batch = [ticket("a", "ha", "complete", 30), ticket("a", "ha", "void", 3), ticket("b", "hb", "complete", 7)];
            tickets::upsert_many(&t.db, &batch).await.expect("insert");
            assert_eq!(tickets::get(&t.db, "a").await.expect("get").expect("row").state, "void");
            let newer = Utc::now() - Duration::minutes(3);
            tickets::advance_sync_cursor(&t.db, "tito", newer).await.expect("advance");
            tickets::advance_sync_cursor(&t.db, "tito", newer - Duration::minutes(60)).await.expect("older");
            let cursor = tickets::sync_cursor(&t.db, "tito").await.expect("cursor").expect("some");
            assert!((cursor - newer).num_seconds().abs() <= 1, "{cursor}");
        }
    }
}

/// Several processes starting on one fresh SQLite file (`all` migrates at start) all succeed: the migrator holds a
/// file lock beside the database while it runs, as Postgres's advisory lock does.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_migrations_on_one_sqlite_file_all_succeed() {
    for round in 0..5 {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = DatabaseUrl::parse(&format!("sqlite://{}/plaza.db", dir.path().display()))
            .expect("SQLite URL");
        let mut dbs = Vec::new();
        for _ in 0..4 {
            dbs.push(Db::connect(&url, 2).await.expect("opens"));
        }
        let mut runs = tokio::task::JoinSet::new();
        for db in &dbs {
            let db = db.clone();
            runs.spawn(async move { db.migrate().await });
        }
        while let Some(result) = runs.join_next().await {
            let result = result.expect("the task ran");
            result.unwrap_or_else(|err| panic!("round {round}: {err}"));
        }
        assert_eq!(count(&dbs[0], "SELECT COUNT(*) FROM attendees").await, 0);
    }
}

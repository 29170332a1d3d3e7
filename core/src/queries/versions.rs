//! The versioned publications: `schedule_versions` (imported schedules) and `content_versions` (imported site
//! content). Both tables have the same shape — every distinct import once (unique content hash), and which one is
//! published — so one set of queries serves both, picked by [`Table`].

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::db::Db;
use crate::on_db;

/// Which versioned publication a query reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `schedule_versions`: Pretalx (or demo) imports.
    Schedule,
    /// `content_versions`: settings, pages, emails and block list imported from git.
    Content,
}

/// A stored version, without its (large) data.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StoredVersion {
    /// Row id, used by rollback.
    pub id: i64,
    /// When it was imported.
    pub created: DateTime<Utc>,
    /// Where it came from (e.g. a Pretalx event, or a git remote and commit).
    pub source: String,
    /// SHA-256 of its canonical JSON.
    pub content_hash: String,
    /// Summary counts.
    pub counts: Json<serde_json::Value>,
    /// When it was last made the served version.
    pub published_at: Option<DateTime<Utc>>,
}

/// The columns of [`StoredVersion`], for `concat!` (sqlx only takes `'static` SQL).
macro_rules! columns {
    () => {
        "id, created, source, content_hash, counts, published_at"
    };
}

/// `$head <table> $tail` for the chosen table, as a `&'static str`.
macro_rules! sql {
    ($table:expr, $head:expr, $tail:expr) => {
        match $table {
            Table::Schedule => concat!($head, "schedule_versions", $tail),
            Table::Content => concat!($head, "content_versions", $tail),
        }
    };
}

/// Stores a version unless one with the same `content_hash` exists. Returns the new id, or `None` when the content
/// is already stored (identical re-import).
pub async fn insert_if_new(
    db: &Db,
    table: Table,
    source: &str,
    content_hash: &str,
    data: &serde_json::Value,
    counts: &serde_json::Value,
) -> Result<Option<i64>, sqlx::Error> {
    let sql = sql!(
        table,
        "INSERT INTO ",
        " (source, content_hash, data, counts) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (content_hash) DO NOTHING RETURNING id"
    );
    on_db!(db, pool => sqlx::query_scalar::<_, i64>(sql)
        .bind(source)
        .bind(content_hash)
        .bind(Json(data))
        .bind(Json(counts))
        .fetch_optional(pool)
        .await)
}

/// Marks version `id` as published at `at`; false when no such version exists.
pub async fn mark_published(
    db: &Db,
    table: Table,
    id: i64,
    at: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let sql = sql!(table, "UPDATE ", " SET published_at = $1 WHERE id = $2");
    on_db!(db, pool => sqlx::query(sql).bind(at).bind(id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// The version with `content_hash`, if stored.
pub async fn find_by_hash(
    db: &Db,
    table: Table,
    content_hash: &str,
) -> Result<Option<StoredVersion>, sqlx::Error> {
    let sql = sql!(
        table,
        concat!("SELECT ", columns!(), " FROM "),
        " WHERE content_hash = $1"
    );
    on_db!(db, pool => sqlx::query_as::<_, StoredVersion>(sql).bind(content_hash).fetch_optional(pool).await)
}

/// The `limit` newest versions, newest first.
pub async fn list(db: &Db, table: Table, limit: i64) -> Result<Vec<StoredVersion>, sqlx::Error> {
    let sql = sql!(
        table,
        concat!("SELECT ", columns!(), " FROM "),
        " ORDER BY id DESC LIMIT $1"
    );
    on_db!(db, pool => sqlx::query_as::<_, StoredVersion>(sql).bind(limit).fetch_all(pool).await)
}

/// Deletes all but the `keep` newest versions (by id), never the served one (the most recently published);
/// returns how many were deleted.
pub async fn prune(db: &Db, table: Table, keep: u32) -> Result<u64, sqlx::Error> {
    /// The statement for one table (named four times, hence no [`sql!`]).
    macro_rules! prune_sql {
        ($t:literal) => {
            concat!(
                "DELETE FROM ",
                $t,
                " WHERE id NOT IN (SELECT id FROM ",
                $t,
                " ORDER BY id DESC LIMIT $1) ",
                "AND id NOT IN (SELECT id FROM ",
                $t,
                " WHERE published_at IS NOT NULL ",
                "ORDER BY published_at DESC, id DESC LIMIT 1)"
            )
        };
    }
    let sql = match table {
        Table::Schedule => prune_sql!("schedule_versions"),
        Table::Content => prune_sql!("content_versions"),
    };
    let keep = i64::from(keep);
    Ok(on_db!(db, pool => sqlx::query(sql).bind(keep).execute(pool).await?.rows_affected()))
}

/// The currently published version (the most recently published one) with its data.
pub async fn latest_published(
    db: &Db,
    table: Table,
) -> Result<Option<(StoredVersion, serde_json::Value)>, sqlx::Error> {
    let sql = sql!(
        table,
        concat!("SELECT ", columns!(), ", data FROM "),
        " WHERE published_at IS NOT NULL ORDER BY published_at DESC, id DESC LIMIT 1"
    );
    fetch_with_data(db, sql, None).await
}

/// The id of the currently published version, without its data: cheap enough to poll.
pub async fn published_id(db: &Db, table: Table) -> Result<Option<i64>, sqlx::Error> {
    let sql = sql!(
        table,
        "SELECT id FROM ",
        " WHERE published_at IS NOT NULL ORDER BY published_at DESC, id DESC LIMIT 1"
    );
    on_db!(db, pool => sqlx::query_scalar::<_, i64>(sql).fetch_optional(pool).await)
}

/// Version `id` with its data.
pub async fn get(
    db: &Db,
    table: Table,
    id: i64,
) -> Result<Option<(StoredVersion, serde_json::Value)>, sqlx::Error> {
    let sql = sql!(
        table,
        concat!("SELECT ", columns!(), ", data FROM "),
        " WHERE id = $1"
    );
    fetch_with_data(db, sql, Some(id)).await
}

#[derive(sqlx::FromRow)]
struct WithData {
    #[sqlx(flatten)]
    version: StoredVersion,
    data: Json<serde_json::Value>,
}

async fn fetch_with_data(
    db: &Db,
    sql: &'static str,
    id: Option<i64>,
) -> Result<Option<(StoredVersion, serde_json::Value)>, sqlx::Error> {
    let row = on_db!(db, pool => {
        let query = sqlx::query_as::<_, WithData>(sql);
        let query = match id {
            Some(id) => query.bind(id),
            None => query,
        };
        query.fetch_optional(pool).await?
    });
    Ok(row.map(|r| (r.version, r.data.0)))
}

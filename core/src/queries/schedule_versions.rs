//! The `schedule_versions` table: every distinct imported schedule, and which one is published.

use chrono::{DateTime, Utc};
use sqlx::types::Json;

use crate::db::Db;
use crate::on_db;

/// A stored schedule version, without its (large) data.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ScheduleVersion {
    /// Row id, used by rollback.
    pub id: i64,
    /// When it was imported.
    pub created: DateTime<Utc>,
    /// Where it came from.
    pub source: String,
    /// SHA-256 of its canonical JSON.
    pub content_hash: String,
    /// Summary counts.
    pub counts: Json<serde_json::Value>,
    /// When it was last made the served version.
    pub published_at: Option<DateTime<Utc>>,
}

/// The columns of [`ScheduleVersion`], for `concat!` (sqlx only takes `'static` SQL).
macro_rules! columns {
    () => {
        "id, created, source, content_hash, counts, published_at"
    };
}

/// Stores a version unless one with the same `content_hash` exists. Returns the new id, or `None` when the content
/// is already stored (identical re-import).
pub async fn insert_if_new(
    db: &Db,
    source: &str,
    content_hash: &str,
    data: &serde_json::Value,
    counts: &serde_json::Value,
) -> Result<Option<i64>, sqlx::Error> {
    const SQL: &str = "INSERT INTO schedule_versions (source, content_hash, data, counts) VALUES ($1, $2, $3, $4) \
                       ON CONFLICT (content_hash) DO NOTHING RETURNING id";
    on_db!(db, pool => sqlx::query_scalar::<_, i64>(SQL)
        .bind(source)
        .bind(content_hash)
        .bind(Json(data))
        .bind(Json(counts))
        .fetch_optional(pool)
        .await)
}

/// Marks version `id` as published now; false when no such version exists.
pub async fn mark_published(db: &Db, id: i64, at: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE schedule_versions SET published_at = $1 WHERE id = $2";
    on_db!(db, pool => sqlx::query(SQL).bind(at).bind(id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// The version with `content_hash`, if stored.
pub async fn find_by_hash(
    db: &Db,
    content_hash: &str,
) -> Result<Option<ScheduleVersion>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM schedule_versions WHERE content_hash = $1"
    );
    on_db!(db, pool => sqlx::query_as::<_, ScheduleVersion>(SQL).bind(content_hash).fetch_optional(pool).await)
}

/// The `limit` newest versions, newest first.
pub async fn list(db: &Db, limit: i64) -> Result<Vec<ScheduleVersion>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        " FROM schedule_versions ORDER BY id DESC LIMIT $1"
    );
    on_db!(db, pool => sqlx::query_as::<_, ScheduleVersion>(SQL).bind(limit).fetch_all(pool).await)
}

/// The currently published version (the most recently published one) with its data.
pub async fn latest_published(
    db: &Db,
) -> Result<Option<(ScheduleVersion, serde_json::Value)>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        ", data FROM schedule_versions WHERE published_at IS NOT NULL ORDER BY published_at DESC, id DESC LIMIT 1"
    );
    fetch_with_data(db, SQL, None).await
}

/// Version `id` with its data.
pub async fn get(
    db: &Db,
    id: i64,
) -> Result<Option<(ScheduleVersion, serde_json::Value)>, sqlx::Error> {
    const SQL: &str = concat!(
        "SELECT ",
        columns!(),
        ", data FROM schedule_versions WHERE id = $1"
    );
    fetch_with_data(db, SQL, Some(id)).await
}

#[derive(sqlx::FromRow)]
struct WithData {
    #[sqlx(flatten)]
    version: ScheduleVersion,
    data: Json<serde_json::Value>,
}

async fn fetch_with_data(
    db: &Db,
    sql: &'static str,
    id: Option<i64>,
) -> Result<Option<(ScheduleVersion, serde_json::Value)>, sqlx::Error> {
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

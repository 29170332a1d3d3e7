//! The `logs` table: metric events from sockets, jobs and share pages (the reference's analytics store).

use std::collections::HashSet;

use sqlx::types::Json;

use crate::db::Db;
use crate::on_db;

/// A metric event to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLog {
    /// Event name, e.g. `general/pageView` or `internal/siteVisitors`.
    pub event: String,
    /// The attendee it concerns, if known.
    pub attendee: Option<i32>,
    /// The socket it came from, if any.
    pub socket: Option<String>,
    /// The event's payload.
    pub data: serde_json::Value,
}

/// A stored metric event.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct LogRow {
    /// Row id.
    pub id: i64,
    /// When it was stored.
    pub created: chrono::DateTime<chrono::Utc>,
    /// The attendee, if any.
    pub attendee: Option<i32>,
    /// The socket id, if any.
    pub socket: Option<String>,
    /// Event name.
    pub event: String,
    /// Payload.
    pub data: Json<serde_json::Value>,
}

/// Rows per INSERT statement (5 parameters each, well under both engines' parameter limits).
const CHUNK: usize = 500;

/// Stores `logs` in one transaction. An attendee that no longer exists (deleted while a socket still named it) is
/// stored as anonymous instead of failing the whole batch. Returns the number of rows written.
pub async fn insert_many(db: &Db, logs: &[NewLog]) -> Result<u64, sqlx::Error> {
    if logs.is_empty() {
        return Ok(0);
    }
    let wanted: Vec<i32> = logs
        .iter()
        .filter_map(|l| l.attendee)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let existing: HashSet<i32> = if wanted.is_empty() {
            HashSet::new()
        } else {
            let mut q = sqlx::QueryBuilder::new("SELECT id FROM attendees WHERE id IN (");
            let mut list = q.separated(", ");
            for id in &wanted {
                list.push_bind(*id);
            }
            q.push(")");
            q.build_query_scalar::<i32>().fetch_all(&mut *tx).await?.into_iter().collect()
        };
        let mut written = 0;
        for chunk in logs.chunks(CHUNK) {
            let mut q = sqlx::QueryBuilder::new("INSERT INTO logs (event, attendee, socket, data) ");
            q.push_values(chunk, |mut row, log| {
                row.push_bind(log.event.clone())
                    .push_bind(log.attendee.filter(|id| existing.contains(id)))
                    .push_bind(log.socket.clone())
                    .push_bind(Json(log.data.clone()));
            });
            written += q.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    })
}

/// The newest `limit` rows of `event`, newest first.
pub async fn recent(db: &Db, event: &str, limit: i64) -> Result<Vec<LogRow>, sqlx::Error> {
    const SQL: &str = "SELECT id, created, attendee, socket, event, data FROM logs \
                       WHERE event = $1 ORDER BY created DESC, id DESC LIMIT $2";
    on_db!(db, pool => sqlx::query_as::<_, LogRow>(SQL).bind(event).bind(limit).fetch_all(pool).await)
}

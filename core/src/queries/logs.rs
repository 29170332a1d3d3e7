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

impl NewLog {
    /// Makes the row storable in both engines — Postgres refuses NUL in `text` and `\u0000` in `jsonb`, so every
    /// NUL (in the event, the socket id, the payload's strings and keys) becomes U+FFFD — and returns its
    /// approximate size in bytes (the strings' lengths plus a little per value), for byte-bounded queues.
    /// (Unpaired surrogates cannot reach here: Rust strings and serde_json's parser refuse them.)
    pub fn make_storable(&mut self) -> usize {
        fn clean(text: &mut String) -> usize {
            if text.contains('\0') {
                *text = text.replace('\0', "\u{FFFD}");
            }
            text.len()
        }
        fn walk(value: &mut serde_json::Value) -> usize {
            use serde_json::Value;
            8 + match value {
                Value::String(text) => clean(text),
                Value::Array(items) => items.iter_mut().map(walk).sum(),
                Value::Object(map) => {
                    let mut size = 0;
                    if map.keys().any(|k| k.contains('\0')) {
                        let entries = std::mem::take(map);
                        for (mut key, value) in entries {
                            clean(&mut key);
                            map.insert(key, value);
                        }
                    }
                    for (key, value) in map.iter_mut() {
                        size += key.len() + walk(value);
                    }
                    size
                }
                Value::Null | Value::Bool(_) | Value::Number(_) => 0,
            }
        }
        clean(&mut self.event) + self.socket.as_mut().map_or(0, clean) + walk(&mut self.data)
    }
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

/// Rows deleted per statement by [`delete_older_than`], so no statement holds its locks for long.
const DELETE_CHUNK: i64 = 10_000;

/// Deletes every row created before `cutoff` (in chunks, via the `logs (created)` index); returns how many.
pub async fn delete_older_than(
    db: &Db,
    cutoff: chrono::DateTime<chrono::Utc>,
) -> Result<u64, sqlx::Error> {
    const SQL: &str =
        "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE created < $1 LIMIT $2)";
    let mut deleted = 0;
    loop {
        let n = on_db!(db, pool => {
            sqlx::query(SQL).bind(cutoff).bind(DELETE_CHUNK).execute(pool).await?.rows_affected()
        });
        deleted += n;
        if n < DELETE_CHUNK as u64 {
            return Ok(deleted);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nul_is_replaced_everywhere_and_the_size_counts_the_strings() {
        let mut log = NewLog {
            event: "a\0".into(),
            attendee: None,
            socket: Some("s\0".into()),
            data: json!({"k\0": ["x\0y", 1, {"deep": "\0"}]}),
        };
        let size = log.make_storable();
        assert_eq!(log.event, "a\u{FFFD}");
        assert_eq!(log.socket.as_deref(), Some("s\u{FFFD}"));
        assert_eq!(
            log.data,
            json!({"k\u{FFFD}": ["x\u{FFFD}y", 1, {"deep": "\u{FFFD}"}]})
        );
        assert!(
            size >= "a\u{FFFD}s\u{FFFD}k\u{FFFD}x\u{FFFD}ydeep\u{FFFD}".len(),
            "{size}"
        );
    }
}

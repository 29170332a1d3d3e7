//! The `attendance` table ("My Schedule"): idempotent attend, capacity enforced in one transaction, counts from
//! the `session` index.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::db::Db;
use crate::on_db;

/// An attendance row (the deconf `Attendance` shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Attendance {
    /// Row id.
    pub id: i32,
    /// When the attendee signed up.
    pub created: DateTime<Utc>,
    /// The attendee.
    pub attendee: i32,
    /// The session id.
    pub session: String,
}

/// What an attend request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attend {
    /// A new row was written.
    Added,
    /// The attendee already attended (nothing changed).
    AlreadyAttending,
    /// The session is at capacity (nothing changed).
    Full,
}

/// True when attendee `attendee` attends session `session`.
pub async fn is_attending(db: &Db, attendee: i32, session: &str) -> Result<bool, sqlx::Error> {
    const SQL: &str = "SELECT COUNT(*) FROM attendance WHERE attendee = $1 AND session = $2";
    let n: i64 = on_db!(db, pool => sqlx::query_scalar(SQL).bind(attendee).bind(session).fetch_one(pool).await)?;
    Ok(n > 0)
}

/// How many attend `session` (an index range scan).
pub async fn count(db: &Db, session: &str) -> Result<i64, sqlx::Error> {
    const SQL: &str = "SELECT COUNT(*) FROM attendance WHERE session = $1";
    on_db!(db, pool => sqlx::query_scalar(SQL).bind(session).fetch_one(pool).await)
}

/// Attendance per session (sessions nobody attends are absent), for exports.
pub async fn counts(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    const SQL: &str = "SELECT session, COUNT(*) FROM attendance GROUP BY session ORDER BY session";
    on_db!(db, pool => sqlx::query_as::<_, (String, i64)>(SQL).fetch_all(pool).await)
}

/// The attendees of `session`, by id (an index range scan).
pub async fn attendees_of(db: &Db, session: &str) -> Result<Vec<i32>, sqlx::Error> {
    const SQL: &str = "SELECT attendee FROM attendance WHERE session = $1 ORDER BY attendee";
    on_db!(db, pool => sqlx::query_scalar(SQL).bind(session).fetch_all(pool).await)
}

/// Every session attendee `attendee` attends, oldest first.
pub async fn of_attendee(db: &Db, attendee: i32) -> Result<Vec<Attendance>, sqlx::Error> {
    const SQL: &str =
        "SELECT id, created, attendee, session FROM attendance WHERE attendee = $1 ORDER BY id";
    on_db!(db, pool => sqlx::query_as::<_, Attendance>(SQL).bind(attendee).fetch_all(pool).await)
}

/// Adds `attendee` to `session`. With a `cap`, the check and the insert run in one transaction that first locks
/// the session's row in `session_locks`, so N concurrent attends of a cap-N session admit exactly N — never
/// check-then-insert across transactions.
pub async fn attend(
    db: &Db,
    attendee: i32,
    session: &str,
    cap: Option<u32>,
) -> Result<Attend, sqlx::Error> {
    const LOCK: &str = "INSERT INTO session_locks (session) VALUES ($1) \
                        ON CONFLICT (session) DO UPDATE SET session = excluded.session";
    const MINE: &str = "SELECT COUNT(*) FROM attendance WHERE attendee = $1 AND session = $2";
    const COUNT: &str = "SELECT COUNT(*) FROM attendance WHERE session = $1";
    const INSERT: &str = "INSERT INTO attendance (attendee, session) VALUES ($1, $2) \
                          ON CONFLICT (attendee, session) DO NOTHING";
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        if let Some(cap) = cap {
            sqlx::query(LOCK).bind(session).execute(&mut *tx).await?;
            let mine: i64 = sqlx::query_scalar(MINE).bind(attendee).bind(session).fetch_one(&mut *tx).await?;
            if mine > 0 {
                return Ok(Attend::AlreadyAttending);
            }
            let taken: i64 = sqlx::query_scalar(COUNT).bind(session).fetch_one(&mut *tx).await?;
            if taken >= i64::from(cap) {
                return Ok(Attend::Full);
            }
        }
        let added = sqlx::query(INSERT).bind(attendee).bind(session).execute(&mut *tx).await?.rows_affected();
        tx.commit().await?;
        Ok(if added == 1 { Attend::Added } else { Attend::AlreadyAttending })
    })
}

/// Removes `attendee` from `session`; true when they attended.
pub async fn unattend(db: &Db, attendee: i32, session: &str) -> Result<bool, sqlx::Error> {
    const SQL: &str = "DELETE FROM attendance WHERE attendee = $1 AND session = $2";
    on_db!(db, pool => sqlx::query(SQL).bind(attendee).bind(session).execute(pool).await.map(|r| r.rows_affected() > 0))
}

//! The `attendance` table ("My Schedule").

use crate::db::Db;
use crate::on_db;

/// True when attendee `attendee` attends session `session`.
pub async fn is_attending(db: &Db, attendee: i32, session: &str) -> Result<bool, sqlx::Error> {
    const SQL: &str = "SELECT COUNT(*) FROM attendance WHERE attendee = $1 AND session = $2";
    let n: i64 = on_db!(db, pool => sqlx::query_scalar(SQL).bind(attendee).bind(session).fetch_one(pool).await)?;
    Ok(n > 0)
}

//! The `schedule_changes` table: per published schedule version, what it changed for each session against the
//! version served before it (see `model::changes`). Written once per version, in one transaction.

use sqlx::types::Json;

use crate::db::Db;
use crate::model::changes::SessionChange;
use crate::on_db;

/// Stores the changes of `version` (measured against `previous`); a version's changes are written once, so a
/// repeated call for the same version adds nothing.
pub async fn record(
    db: &Db,
    version: i64,
    previous: i64,
    changes: &[SessionChange],
) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO schedule_changes (version, previous, session, change) \
                       VALUES ($1, $2, $3, $4) ON CONFLICT (version, session) DO NOTHING";
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        for change in changes {
            sqlx::query(SQL)
                .bind(version)
                .bind(previous)
                .bind(&change.session_id)
                .bind(Json(change))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await
    })
}

/// The changes of `version`, by session id.
pub async fn of_version(db: &Db, version: i64) -> Result<Vec<SessionChange>, sqlx::Error> {
    const SQL: &str = "SELECT change FROM schedule_changes WHERE version = $1 ORDER BY session";
    let rows: Vec<Json<SessionChange>> =
        on_db!(db, pool => sqlx::query_scalar(SQL).bind(version).fetch_all(pool).await)?;
    Ok(rows.into_iter().map(|Json(c)| c).collect())
}

/// Claims the digest of `version` for `attendee`: true for the one caller that should send it (cluster-wide, once).
pub async fn claim_digest(db: &Db, version: i64, attendee: i32) -> Result<bool, sqlx::Error> {
    const SQL: &str = "INSERT INTO schedule_digests (version, attendee) VALUES ($1, $2) \
                       ON CONFLICT (version, attendee) DO NOTHING";
    on_db!(db, pool => sqlx::query(SQL).bind(version).bind(attendee).execute(pool).await.map(|r| r.rows_affected() == 1))
}

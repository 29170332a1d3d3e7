//! The `schedule_changes` table: per published schedule version, what it changed for each session against the
//! version served before it (see `model::changes`). Written once per version, in one transaction.

use chrono::{DateTime, Utc};
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

/// What the version history says about one session, for calendars.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// How many published releases changed it (the ICS `SEQUENCE`).
    pub sequence: i64,
    /// When the release that last changed it was imported (the ICS `LAST-MODIFIED`).
    pub modified: DateTime<Utc>,
    /// That last change.
    pub last: SessionChange,
}

/// The history of `session`; `None` when no release ever changed it.
pub async fn history(db: &Db, session: &str) -> Result<Option<History>, sqlx::Error> {
    const SQL: &str = "SELECT c.change, v.created, \
                       (SELECT COUNT(*) FROM schedule_changes WHERE session = $1) \
                       FROM schedule_changes c JOIN schedule_versions v ON v.id = c.version \
                       WHERE c.session = $1 ORDER BY c.version DESC LIMIT 1";
    let row: Option<(Json<SessionChange>, DateTime<Utc>, i64)> =
        on_db!(db, pool => sqlx::query_as(SQL).bind(session).fetch_optional(pool).await)?;
    Ok(row.map(|(Json(last), modified, sequence)| History {
        sequence,
        modified,
        last,
    }))
}

/// When the first schedule version was imported: the `LAST-MODIFIED` of sessions no release has changed.
pub async fn first_import(db: &Db) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    const SQL: &str = "SELECT created FROM schedule_versions ORDER BY id LIMIT 1";
    on_db!(db, pool => sqlx::query_scalar(SQL).fetch_optional(pool).await)
}

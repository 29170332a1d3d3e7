//! `session_reminders` (#20): who to remind of a session about to start, and the claim that makes each reminder
//! happen once per (attendee, session, start) — cluster-wide and across restarts — while a moved session (another
//! start) re-arms. Claiming also queues one push per subscription of each claimed attendee (`push_outbox`, see
//! [`super::push`]), in the same transaction, so a claimed reminder never loses its pushes.

use crate::db::Db;
use crate::on_db;

/// Rows per multi-row statement (3 binds each: far below both engines' bind limits).
const CHUNK: usize = 500;

/// An attendee to remind of one session.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Due {
    /// The attendee.
    pub attendee: i32,
    /// Their setting (5, 10 or 15).
    pub minutes: i16,
    /// Their language (for the title).
    pub language: String,
}

/// Claims the reminders of `session` starting at `starts_at` (epoch seconds) for every attendee who saved it and
/// asked to be reminded at least `min_minutes` ahead, unless already claimed; queues their pushes (due at
/// `not_before`). Returns the claimed attendees (each returned by exactly one call, ever).
///
/// Cheap on a quiet tick: the candidates come from the `attendance (session)` index and the claims' primary key,
/// so attendees already reminded cost one index probe each and nothing is written.
pub async fn claim(
    db: &Db,
    session: &str,
    starts_at: i64,
    min_minutes: i16,
    not_before: i64,
) -> Result<Vec<Due>, sqlx::Error> {
    const CANDIDATES: &str = "SELECT a.attendee, t.reminder_minutes AS minutes, t.language \
        FROM attendance a JOIN attendees t ON t.id = a.attendee \
        WHERE a.session = $1 AND t.reminder_minutes >= $2 AND t.reminder_minutes > 0 \
        AND NOT EXISTS (SELECT 1 FROM session_reminders r \
                        WHERE r.attendee = a.attendee AND r.session = $1 AND r.starts_at = $3) \
        ORDER BY a.attendee";
    on_db!(db, pool => {
        let candidates: Vec<Due> = sqlx::query_as(CANDIDATES)
            .bind(session)
            .bind(min_minutes)
            .bind(starts_at)
            .fetch_all(pool)
            .await?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for chunk in candidates.chunks(CHUNK) {
            let mut tx = pool.begin().await?;
            let mut insert = sqlx::QueryBuilder::new(
                "INSERT INTO session_reminders (attendee, session, starts_at) ",
            );
            insert.push_values(chunk, |mut row, due| {
                row.push_bind(due.attendee).push_bind(session).push_bind(starts_at);
            });
            insert.push(" ON CONFLICT DO NOTHING RETURNING attendee");
            let ids: Vec<i32> = insert.build_query_scalar().fetch_all(&mut *tx).await?;
            if !ids.is_empty() {
                let mut outbox = sqlx::QueryBuilder::new(
                    "INSERT INTO push_outbox (subscription, session, starts_at, not_before) SELECT id, ",
                );
                outbox
                    .push_bind(session)
                    .push(", ")
                    .push_bind(starts_at)
                    .push(", ")
                    .push_bind(not_before)
                    .push(" FROM push_subscriptions WHERE attendee IN (");
                let mut list = outbox.separated(", ");
                for id in &ids {
                    list.push_bind(*id);
                }
                outbox.push(") ON CONFLICT DO NOTHING");
                outbox.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            claimed.extend(chunk.iter().filter(|due| ids.contains(&due.attendee)).cloned());
        }
        Ok(claimed)
    })
}

/// How many reminders were claimed for `attendee` (tests, support).
pub async fn count_of(db: &Db, attendee: i32) -> Result<i64, sqlx::Error> {
    const SQL: &str = "SELECT COUNT(*) FROM session_reminders WHERE attendee = $1";
    on_db!(db, pool => sqlx::query_scalar(SQL).bind(attendee).fetch_one(pool).await)
}

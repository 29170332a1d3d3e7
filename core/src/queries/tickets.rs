//! The `tito_tickets` table: who holds a ticket, by email hash. Written by `fetch-users` and the Tito webhook.

use chrono::{DateTime, Utc};

use crate::db::Db;
use crate::on_db;

/// A ticket as plaza keeps it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Ticket {
    /// Tito's stable ticket slug.
    pub slug: String,
    /// Base64 SHA-256 of the holder's normalised email (`None` while unassigned).
    pub email_hash: Option<String>,
    /// Holder's name.
    pub name: String,
    /// Tito state; only `complete` grants access.
    pub state: String,
    /// Tito's `updated_at`.
    pub tito_updated_at: DateTime<Utc>,
}

/// The state that grants access.
pub const COMPLETE: &str = "complete";

/// Rows per INSERT statement.
const CHUNK: usize = 400;

/// Inserts or updates `tickets` in one transaction; an update only applies when it is at least as new as the stored
/// row (a delayed webhook cannot undo a newer sync). Returns the number of rows written.
pub async fn upsert_many(db: &Db, tickets: &[Ticket]) -> Result<u64, sqlx::Error> {
    write(db, tickets, false).await
}

/// Replaces every ticket with `tickets` in one transaction (a full rebuild): tickets Tito no longer lists lose
/// access. Returns the number of rows written.
pub async fn replace_all(db: &Db, tickets: &[Ticket]) -> Result<u64, sqlx::Error> {
    write(db, tickets, true).await
}

async fn write(db: &Db, tickets: &[Ticket], replace: bool) -> Result<u64, sqlx::Error> {
    // One statement may not touch a row twice: keep the newest version of each slug.
    let mut newest: std::collections::BTreeMap<&str, &Ticket> = std::collections::BTreeMap::new();
    for ticket in tickets {
        let entry = newest.entry(ticket.slug.as_str()).or_insert(ticket);
        if ticket.tito_updated_at > entry.tito_updated_at {
            *entry = ticket;
        }
    }
    let tickets: Vec<&Ticket> = newest.into_values().collect();
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        if replace {
            sqlx::query("DELETE FROM tito_tickets").execute(&mut *tx).await?;
        }
        let mut written = 0;
        for chunk in tickets.chunks(CHUNK) {
            let mut q =
                sqlx::QueryBuilder::new("INSERT INTO tito_tickets (slug, email_hash, name, state, tito_updated_at) ");
            q.push_values(chunk, |mut row, t| {
                row.push_bind(t.slug.clone())
                    .push_bind(t.email_hash.clone())
                    .push_bind(t.name.clone())
                    .push_bind(t.state.clone())
                    .push_bind(t.tito_updated_at);
            });
            q.push(
                " ON CONFLICT (slug) DO UPDATE SET email_hash = excluded.email_hash, name = excluded.name, \
                 state = excluded.state, tito_updated_at = excluded.tito_updated_at, synced_at = excluded.synced_at \
                 WHERE tito_tickets.tito_updated_at <= excluded.tito_updated_at",
            );
            written += q.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(written)
    })
}

/// The name on a `complete` ticket held by `email_hash`, if any (the allow-list check).
pub async fn holder_name(db: &Db, email_hash: &str) -> Result<Option<String>, sqlx::Error> {
    const SQL: &str = "SELECT name FROM tito_tickets WHERE email_hash = $1 AND state = $2 ORDER BY tito_updated_at DESC LIMIT 1";
    on_db!(db, pool => sqlx::query_scalar::<_, String>(SQL).bind(email_hash).bind(COMPLETE).fetch_optional(pool).await)
}

/// The ticket with `slug`.
pub async fn get(db: &Db, slug: &str) -> Result<Option<Ticket>, sqlx::Error> {
    const SQL: &str =
        "SELECT slug, email_hash, name, state, tito_updated_at FROM tito_tickets WHERE slug = $1";
    on_db!(db, pool => sqlx::query_as::<_, Ticket>(SQL).bind(slug).fetch_optional(pool).await)
}

/// The newest `tito_updated_at` stored: the cursor of the next differential sync.
pub async fn cursor(db: &Db) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    const SQL: &str = "SELECT slug, email_hash, name, state, tito_updated_at FROM tito_tickets \
                       ORDER BY tito_updated_at DESC LIMIT 1";
    let newest = on_db!(db, pool => sqlx::query_as::<_, Ticket>(SQL).fetch_optional(pool).await)?;
    Ok(newest.map(|t| t.tito_updated_at))
}

/// Tickets by state, for summaries.
pub async fn count_by_state(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    const SQL: &str = "SELECT state, COUNT(*) FROM tito_tickets GROUP BY state ORDER BY state";
    on_db!(db, pool => sqlx::query_as::<_, (String, i64)>(SQL).fetch_all(pool).await)
}

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

/// The conflict clause of every ticket write: newer data wins (equal is the same version again).
const UPSERT_NEWER: &str = " ON CONFLICT (slug) DO UPDATE SET email_hash = excluded.email_hash, \
    name = excluded.name, state = excluded.state, tito_updated_at = excluded.tito_updated_at, \
    synced_at = excluded.synced_at WHERE tito_tickets.tito_updated_at <= excluded.tito_updated_at";

/// The INSERT of `$tickets` with [`UPSERT_NEWER`], as a `QueryBuilder` of whichever engine the caller's `on_db!`
/// arm binds (a macro, so one text serves both).
macro_rules! upsert_newer {
    ($tickets:expr) => {{
        let mut q = sqlx::QueryBuilder::new(
            "INSERT INTO tito_tickets (slug, email_hash, name, state, tito_updated_at) ",
        );
        q.push_values($tickets, |mut row, t| {
            row.push_bind(t.slug.clone())
                .push_bind(t.email_hash.clone())
                .push_bind(t.name.clone())
                .push_bind(t.state.clone())
                .push_bind(t.tito_updated_at);
        });
        q.push(UPSERT_NEWER);
        q
    }};
}

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
            written += upsert_newer!(chunk).build().execute(&mut *tx).await?.rows_affected();
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

/// Tickets by state, for summaries.
pub async fn count_by_state(db: &Db) -> Result<Vec<(String, i64)>, sqlx::Error> {
    const SQL: &str = "SELECT state, COUNT(*) FROM tito_tickets GROUP BY state ORDER BY state";
    on_db!(db, pool => sqlx::query_as::<_, (String, i64)>(SQL).fetch_all(pool).await)
}

/// Applies one webhook delivery of `ticket` unless it is not newer than the newest delivery already applied for
/// that ticket (a replay or a redelivery, even after a restart: the ledger is `tito_deliveries`). Returns `None`
/// for such a stale delivery; otherwise the ticket as stored before (or `ticket` itself when it was new), after
/// storing the delivery's data (newer-wins against the sync, as [`upsert_many`]). One transaction.
pub async fn apply_delivery(db: &Db, ticket: &Ticket) -> Result<Option<Ticket>, sqlx::Error> {
    const CLAIM: &str = "INSERT INTO tito_deliveries (slug, updated_at) VALUES ($1, $2) \
                         ON CONFLICT (slug) DO UPDATE SET updated_at = excluded.updated_at \
                         WHERE tito_deliveries.updated_at < excluded.updated_at";
    const GET: &str =
        "SELECT slug, email_hash, name, state, tito_updated_at FROM tito_tickets WHERE slug = $1";
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let claimed = sqlx::query(CLAIM)
            .bind(&ticket.slug)
            .bind(ticket.tito_updated_at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let before = sqlx::query_as::<_, Ticket>(GET)
            .bind(&ticket.slug)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or_else(|| ticket.clone());
        upsert_newer!([ticket]).build().execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(Some(before))
    })
}

/// The tickets with these slugs (those that exist).
pub async fn get_many(db: &Db, slugs: &[&str]) -> Result<Vec<Ticket>, sqlx::Error> {
    let mut found = Vec::new();
    for chunk in slugs.chunks(CHUNK) {
        let rows = on_db!(db, pool => {
            let mut q = sqlx::QueryBuilder::new(
                "SELECT slug, email_hash, name, state, tito_updated_at FROM tito_tickets WHERE slug IN (",
            );
            let mut list = q.separated(", ");
            for slug in chunk {
                list.push_bind(slug.to_string());
            }
            q.push(")");
            q.build_query_as::<Ticket>().fetch_all(pool).await
        })?;
        found.extend(rows);
    }
    Ok(found)
}

/// Every stored ticket (a full sync compares them with what Tito lists).
pub async fn all(db: &Db) -> Result<Vec<Ticket>, sqlx::Error> {
    const SQL: &str = "SELECT slug, email_hash, name, state, tito_updated_at FROM tito_tickets";
    on_db!(db, pool => sqlx::query_as::<_, Ticket>(SQL).fetch_all(pool).await)
}

/// The stored cursor of sync `name` (the newest `updated_at` that sync fetched), if it ran.
pub async fn sync_cursor(db: &Db, name: &str) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    const SQL: &str = "SELECT cursor FROM sync_cursors WHERE name = $1";
    on_db!(db, pool => sqlx::query_scalar::<_, DateTime<Utc>>(SQL).bind(name).fetch_optional(pool).await)
}

/// Moves the cursor of sync `name` forward to `cursor` (never back).
pub async fn advance_sync_cursor(
    db: &Db,
    name: &str,
    cursor: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    const SQL: &str = "INSERT INTO sync_cursors (name, cursor) VALUES ($1, $2) \
                       ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor \
                       WHERE sync_cursors.cursor < excluded.cursor";
    on_db!(db, pool => sqlx::query(SQL).bind(name).bind(cursor).execute(pool).await.map(|_| ()))
}

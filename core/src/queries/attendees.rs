//! The `attendees` table: registrations (the deconf `Registration` shape) and their token version.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::types::Json;

use crate::db::Db;
use crate::on_db;

/// An attendee row; serialises as the deconf `Registration` (`userData` camel-cased, no token version).
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Attendee {
    /// Row id (the `sub` of its tokens).
    pub id: i32,
    /// When the row was created.
    pub created: DateTime<Utc>,
    /// Display name.
    pub name: String,
    /// Normalised email.
    pub email: String,
    /// Preferred language.
    pub language: String,
    /// Country code.
    pub country: String,
    /// Affiliation.
    pub affiliation: String,
    /// True once a login link was used.
    pub verified: bool,
    /// When consent was given.
    pub consented: DateTime<Utc>,
    /// Free-form data.
    #[sqlx(rename = "userData")]
    #[serde(rename = "userData")]
    pub user_data: Json<serde_json::Value>,
    /// Current token version; tokens carrying an older one are revoked.
    #[serde(skip)]
    pub token_version: i32,
    /// Whether the attendee wants an email when a release changes a session they saved (plaza addition).
    #[serde(rename = "scheduleEmails")]
    pub schedule_emails: bool,
    /// Minutes before a saved session starts to remind the attendee: 0 (off), 5, 10 or 15 (plaza addition).
    #[serde(rename = "reminderMinutes")]
    pub reminder_minutes: i16,
}

macro_rules! columns {
    () => {
        r#"id, created, name, email, language, country, affiliation, verified, consented, "userData", token_version, schedule_emails, reminder_minutes"#
    };
}

/// The attendee with row id `id`.
pub async fn get(db: &Db, id: i32) -> Result<Option<Attendee>, sqlx::Error> {
    const SQL: &str = concat!("SELECT ", columns!(), " FROM attendees WHERE id = $1");
    on_db!(db, pool => sqlx::query_as::<_, Attendee>(SQL).bind(id).fetch_optional(pool).await)
}

/// Creates (or updates the name of) the attendee with `email` and marks it verified; for dev tokens and tests.
pub async fn upsert_verified(db: &Db, email: &str, name: &str) -> Result<Attendee, sqlx::Error> {
    const SQL: &str = concat!(
        "INSERT INTO attendees (name, email, verified) VALUES ($1, $2, TRUE) ",
        "ON CONFLICT (email) DO UPDATE SET name = excluded.name, verified = TRUE RETURNING ",
        columns!()
    );
    on_db!(db, pool => sqlx::query_as::<_, Attendee>(SQL).bind(name).bind(email).fetch_one(pool).await)
}

/// Bumps the token version of attendee `id`, revoking every token issued before; false when no such attendee.
pub async fn revoke_tokens(db: &Db, id: i32) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE attendees SET token_version = token_version + 1 WHERE id = $1";
    on_db!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// Sets the preferred language of attendee `id`; false when no such attendee.
pub async fn set_language(db: &Db, id: i32, language: &str) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE attendees SET language = $1 WHERE id = $2";
    on_db!(db, pool => sqlx::query(SQL).bind(language).bind(id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// Sets whether attendee `id` gets schedule change emails; false when no such attendee.
pub async fn set_schedule_emails(db: &Db, id: i32, wanted: bool) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE attendees SET schedule_emails = $1 WHERE id = $2";
    on_db!(db, pool => sqlx::query(SQL).bind(wanted).bind(id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// Sets how many minutes before a saved session attendee `id` is reminded (0, 5, 10 or 15; the column checks it);
/// false when no such attendee.
pub async fn set_reminder_minutes(db: &Db, id: i32, minutes: i16) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE attendees SET reminder_minutes = $1 WHERE id = $2";
    on_db!(db, pool => sqlx::query(SQL).bind(minutes).bind(id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// The attendee with (normalised) `email`.
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<Attendee>, sqlx::Error> {
    const SQL: &str = concat!("SELECT ", columns!(), " FROM attendees WHERE email = $1");
    on_db!(db, pool => sqlx::query_as::<_, Attendee>(SQL).bind(email).fetch_optional(pool).await)
}

/// The attendee with `email`, created (unverified, language `en`) with `name` if missing. Race-free: concurrent
/// calls for one address yield one row.
pub async fn ensure(db: &Db, email: &str, name: &str) -> Result<Attendee, sqlx::Error> {
    const SQL: &str = concat!(
        "INSERT INTO attendees (name, email) VALUES ($1, $2) ",
        // A no-op update so RETURNING yields the existing row too.
        "ON CONFLICT (email) DO UPDATE SET email = excluded.email RETURNING ",
        columns!()
    );
    on_db!(db, pool => sqlx::query_as::<_, Attendee>(SQL).bind(name).bind(email).fetch_one(pool).await)
}

/// Updates the name of the attendee with `email` (Tito `ticket.updated`); false when there is none.
pub async fn rename(db: &Db, email: &str, name: &str) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE attendees SET name = $1 WHERE email = $2";
    on_db!(db, pool => sqlx::query(SQL).bind(name).bind(email).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// Marks attendee `id` verified (a login link was used).
pub async fn mark_verified(db: &Db, id: i32) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE attendees SET verified = TRUE WHERE id = $1";
    on_db!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// Deletes attendee `id` with its attendance and logs (foreign keys cascade, so it is one atomic statement).
pub async fn delete(db: &Db, id: i32) -> Result<bool, sqlx::Error> {
    const SQL: &str = "DELETE FROM attendees WHERE id = $1";
    on_db!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// Bumps the token version of attendee `id` if it is still `ver` (a lost access noticed by the authorisation check;
/// concurrent requests holding the same token bump once). True when it was bumped.
pub async fn revoke_version(db: &Db, id: i32, ver: i32) -> Result<bool, sqlx::Error> {
    const SQL: &str = "UPDATE attendees SET token_version = token_version + 1 WHERE id = $1 AND token_version = $2";
    on_db!(db, pool => sqlx::query(SQL).bind(id).bind(ver).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// The attendees whose address hashes (base64 SHA-256 of the normalised email) are in `hashes`. Only hashes are
/// stored for tickets, so this reads every address and hashes it: meant for rare events (a ticket reassigned or
/// re-addressed), not for request paths.
pub async fn find_by_email_hashes(
    db: &Db,
    hashes: &std::collections::HashSet<String>,
) -> Result<Vec<Attendee>, sqlx::Error> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    const SQL: &str = concat!("SELECT ", columns!(), " FROM attendees");
    let all = on_db!(db, pool => sqlx::query_as::<_, Attendee>(SQL).fetch_all(pool).await)?;
    Ok(all
        .into_iter()
        .filter(|a| hashes.contains(&crate::model::schedule::hash_email(&a.email)))
        .collect())
}

/// Records `admins` (normalised `ADMIN_EMAILS`) as the admins in force and returns the addresses that were
/// recorded before but are no longer in the list (their holders lost admin access).
pub async fn replace_admin_grants(db: &Db, admins: &[String]) -> Result<Vec<String>, sqlx::Error> {
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        let before: Vec<String> = sqlx::query_scalar("SELECT email FROM admin_grants")
            .fetch_all(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM admin_grants").execute(&mut *tx).await?;
        for email in admins {
            sqlx::query("INSERT INTO admin_grants (email) VALUES ($1) ON CONFLICT (email) DO NOTHING")
                .bind(email)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(before.into_iter().filter(|e| !admins.contains(e)).collect())
    })
}

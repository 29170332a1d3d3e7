//! `push_subscriptions` (an attendee's browsers, `POST/DELETE /push/subscriptions`) and `push_outbox` (reminder
//! pushes still to deliver, written by [`super::reminders::claim`]). Deleting an attendee or a subscription
//! deletes what hangs off it (foreign keys cascade).

use crate::db::Db;
use crate::on_db;
use crate::push::{MAX_PER_ATTENDEE, Subscription};

/// Saves `subscription` for `attendee`. Idempotent by endpoint (a browser that subscribes again, or another
/// attendee signing in on it, takes the row over with the new keys); keeps the attendee's newest
/// [`MAX_PER_ATTENDEE`], deleting the oldest.
pub async fn subscribe(
    db: &Db,
    attendee: i32,
    subscription: &Subscription,
) -> Result<(), sqlx::Error> {
    const UPSERT: &str = "INSERT INTO push_subscriptions (attendee, endpoint, p256dh, auth) VALUES ($1, $2, $3, $4) \
        ON CONFLICT (endpoint) DO UPDATE SET attendee = excluded.attendee, p256dh = excluded.p256dh, \
        auth = excluded.auth";
    const PRUNE: &str = "DELETE FROM push_subscriptions WHERE attendee = $1 AND id NOT IN \
        (SELECT id FROM push_subscriptions WHERE attendee = $1 ORDER BY id DESC LIMIT $2)";
    on_db!(db, pool => {
        let mut tx = pool.begin().await?;
        sqlx::query(UPSERT)
            .bind(attendee)
            .bind(&subscription.endpoint)
            .bind(&subscription.p256dh)
            .bind(&subscription.auth)
            .execute(&mut *tx)
            .await?;
        sqlx::query(PRUNE).bind(attendee).bind(MAX_PER_ATTENDEE).execute(&mut *tx).await?;
        tx.commit().await
    })
}

/// Deletes `attendee`'s subscription at `endpoint`; false when they had none there.
pub async fn unsubscribe(db: &Db, attendee: i32, endpoint: &str) -> Result<bool, sqlx::Error> {
    const SQL: &str = "DELETE FROM push_subscriptions WHERE attendee = $1 AND endpoint = $2";
    on_db!(db, pool => sqlx::query(SQL).bind(attendee).bind(endpoint).execute(pool).await.map(|r| r.rows_affected() == 1))
}

/// The endpoints of `attendee`'s subscriptions, oldest first.
pub async fn endpoints_of(db: &Db, attendee: i32) -> Result<Vec<String>, sqlx::Error> {
    const SQL: &str = "SELECT endpoint FROM push_subscriptions WHERE attendee = $1 ORDER BY id";
    on_db!(db, pool => sqlx::query_scalar(SQL).bind(attendee).fetch_all(pool).await)
}

/// Deletes subscription `id` (its push service answered 404/410: the browser unsubscribed).
pub async fn delete_subscription(db: &Db, id: i64) -> Result<(), sqlx::Error> {
    const SQL: &str = "DELETE FROM push_subscriptions WHERE id = $1";
    on_db!(db, pool => sqlx::query(SQL).bind(id).execute(pool).await.map(drop))
}

/// One push to deliver: the outbox row with its subscription and attendee.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Pending {
    /// Subscription id.
    pub subscription: i64,
    /// Session id.
    pub session: String,
    /// Session start, epoch seconds.
    pub starts_at: i64,
    /// Deliveries tried so far.
    pub attempts: i32,
    /// Push service URL.
    pub endpoint: String,
    /// Browser public key (65 bytes).
    pub p256dh: Vec<u8>,
    /// Authentication secret (16 bytes).
    pub auth: Vec<u8>,
    /// The attendee's language.
    pub language: String,
    /// The attendee's reminder setting.
    pub minutes: i16,
}

/// Drops pushes that are pointless now (`starts_at <= now`: the session started) or failed `max_attempts` times,
/// then takes up to `limit` due ones (`not_before <= now`), pushing their `not_before` to `lease_until` so the next
/// tick does not take them again while they are in flight.
pub async fn take_due(
    db: &Db,
    now: i64,
    max_attempts: i32,
    limit: i64,
    lease_until: i64,
) -> Result<Vec<Pending>, sqlx::Error> {
    const EXPIRE: &str = "DELETE FROM push_outbox WHERE starts_at <= $1 OR attempts >= $2";
    const DUE: &str = "SELECT o.subscription, o.session, o.starts_at, o.attempts, s.endpoint, s.p256dh, s.auth, \
        t.language, t.reminder_minutes AS minutes \
        FROM push_outbox o JOIN push_subscriptions s ON s.id = o.subscription JOIN attendees t ON t.id = s.attendee \
        WHERE o.not_before <= $1 ORDER BY o.not_before LIMIT $2";
    const LEASE: &str = "UPDATE push_outbox SET not_before = $1 WHERE subscription = $2 AND session = $3 AND starts_at = $4";
    on_db!(db, pool => {
        sqlx::query(EXPIRE).bind(now).bind(max_attempts).execute(pool).await?;
        let mut tx = pool.begin().await?;
        let due: Vec<Pending> = sqlx::query_as(DUE).bind(now).bind(limit).fetch_all(&mut *tx).await?;
        for p in &due {
            sqlx::query(LEASE)
                .bind(lease_until)
                .bind(p.subscription)
                .bind(&p.session)
                .bind(p.starts_at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(due)
    })
}

/// The push was delivered (or can never be): forget it.
pub async fn done(db: &Db, p: &Pending) -> Result<(), sqlx::Error> {
    const SQL: &str =
        "DELETE FROM push_outbox WHERE subscription = $1 AND session = $2 AND starts_at = $3";
    on_db!(db, pool => sqlx::query(SQL).bind(p.subscription).bind(&p.session).bind(p.starts_at).execute(pool).await.map(drop))
}

/// The push service asked to come back (429/5xx, or did not answer): try again from `not_before`.
pub async fn retry_at(db: &Db, p: &Pending, not_before: i64) -> Result<(), sqlx::Error> {
    const SQL: &str = "UPDATE push_outbox SET attempts = attempts + 1, not_before = $1 \
        WHERE subscription = $2 AND session = $3 AND starts_at = $4";
    on_db!(db, pool => sqlx::query(SQL).bind(not_before).bind(p.subscription).bind(&p.session).bind(p.starts_at).execute(pool).await.map(drop))
}

/// Pushes waiting in the outbox (tests, metrics).
pub async fn pending_count(db: &Db) -> Result<i64, sqlx::Error> {
    on_db!(db, pool => sqlx::query_scalar("SELECT COUNT(*) FROM push_outbox").fetch_one(pool).await)
}

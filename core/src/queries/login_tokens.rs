//! The `used_login_tokens` table: makes each emailed login link work once.

use chrono::{DateTime, Utc};

use crate::db::Db;
use crate::on_db;

/// Records login token `jti` as used. True on its first use, false when it was used before. Expired records are
/// pruned on the way (they can no longer matter: their tokens fail verification).
pub async fn consume(db: &Db, jti: &str, expires: DateTime<Utc>) -> Result<bool, sqlx::Error> {
    const PRUNE: &str = "DELETE FROM used_login_tokens WHERE expires < $1";
    const INSERT: &str =
        "INSERT INTO used_login_tokens (jti, expires) VALUES ($1, $2) ON CONFLICT (jti) DO NOTHING";
    on_db!(db, pool => {
        sqlx::query(PRUNE).bind(Utc::now()).execute(pool).await?;
        let inserted = sqlx::query(INSERT).bind(jti).bind(expires).execute(pool).await?.rows_affected();
        Ok(inserted == 1)
    })
}

/// True when login token `jti` was used already (the confirm page then says so instead of offering a button).
pub async fn is_used(db: &Db, jti: &str) -> Result<bool, sqlx::Error> {
    const SQL: &str = "SELECT COUNT(*) FROM used_login_tokens WHERE jti = $1";
    on_db!(db, pool => sqlx::query_scalar::<_, i64>(SQL).bind(jti).fetch_one(pool).await.map(|n| n > 0))
}

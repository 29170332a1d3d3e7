//! The database: Postgres for the large tiers, SQLite for the embedded one, behind one [`Db`] handle.
//!
//! Queries (in `crate::queries`) are free functions taking `&Db`; [`on_db!`](crate::on_db) runs one body against
//! whichever pool this is, so a query written once in portable SQL serves both engines. Migrations live in
//! `migrations/<engine>/` and are embedded in the binary; only `plaza --mode migrate` (and `all` on the embedded
//! tier) applies them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::config::{DatabaseKind, DatabaseUrl};

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");

/// A pooled Postgres connection idle at least this long is pinged before use (see [`Db::connect`]).
const PING_AFTER_IDLE: Duration = Duration::from_secs(1);

/// Waits for and takes the migration lock of the SQLite database at `database` (released when the file is
/// dropped); `None` for an in-memory database, which no other process can see.
async fn sqlite_migration_lock(database: &Path) -> Result<Option<File>, sqlx::Error> {
    if database.as_os_str().is_empty() || database == Path::new(":memory:") {
        return Ok(None);
    }
    let mut name = database.as_os_str().to_owned();
    name.push(".migrate-lock");
    let path = PathBuf::from(name);
    let lock = tokio::task::spawn_blocking(move || {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|err| sqlx::Error::Io(std::io::Error::other(err)))??;
    Ok(Some(lock))
}

/// A connection pool on Postgres or SQLite. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    /// PostgreSQL.
    Postgres(PgPool),
    /// SQLite (embedded tier).
    Sqlite(SqlitePool),
}

/// Runs `$body` with `$pool` bound to the concrete pool of `$db`; the body is compiled once per engine.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Postgres($pool) => $body,
            $crate::db::Db::Sqlite($pool) => $body,
        }
    };
}

impl Db {
    /// Opens a pool. Postgres connects lazily (a database that is down makes `/readyz` fail, not start-up);
    /// SQLite creates the file and its folder if missing and fails at once when it cannot.
    pub async fn connect(url: &DatabaseUrl, max_connections: u32) -> Result<Self, sqlx::Error> {
        match url.kind {
            DatabaseKind::Postgres => {
                let options = PgConnectOptions::from_str(url.expose())?;
                let pool = PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(3))
                    // sqlx's default `test_before_acquire` pings on every acquire: one more round trip per query,
                    // doubling the hot path's trips (issue #19). Ping only a connection idle long enough for the
                    // server to have gone away; a busy one is checked by its next query anyway.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for >= PING_AFTER_IDLE {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
                    .connect_lazy_with(options);
                Ok(Self::Postgres(pool))
            }
            DatabaseKind::Sqlite => {
                let path = url.sqlite_path();
                let dir = path.as_deref().and_then(std::path::Path::parent);
                if let Some(dir) = dir.filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let options = SqliteConnectOptions::from_str(url.expose())?
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true);
                let pool = SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(3))
                    .connect_with(options)
                    .await?;
                Ok(Self::Sqlite(pool))
            }
        }
    }

    /// Which engine this is.
    pub fn kind(&self) -> DatabaseKind {
        match self {
            Self::Postgres(_) => DatabaseKind::Postgres,
            Self::Sqlite(_) => DatabaseKind::Sqlite,
        }
    }

    /// Applies pending migrations. Concurrent runs are serialised, so several processes starting together are
    /// safe: on Postgres by an advisory lock (sqlx's migrator takes one), on SQLite by an exclusive lock on the file
    /// `<database>.migrate-lock` beside it (sqlx takes none there). Fails on any error.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Self::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
            Self::Sqlite(pool) => {
                let _lock = sqlite_migration_lock(pool.connect_options().get_filename()).await?;
                SQLITE_MIGRATIONS.run(pool).await
            }
        }
    }

    /// The migrations embedded for this engine (`version`, `description`), for reporting.
    pub fn migrations(&self) -> Vec<(i64, String)> {
        let migrator = match self {
            Self::Postgres(_) => &POSTGRES_MIGRATIONS,
            Self::Sqlite(_) => &SQLITE_MIGRATIONS,
        };
        migrator
            .iter()
            .map(|m| (m.version, m.description.to_string()))
            .collect()
    }

    /// Checks the database answers `SELECT 1`.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        on_db!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        on_db!(self, pool => pool.close().await)
    }
}

/// Whether `error` says a table does not exist (Postgres `42P01`, SQLite "no such table"): the database was never
/// migrated, which callers turn into a one-line hint instead of a raw SQL error.
pub fn is_missing_table(error: &sqlx::Error) -> bool {
    error.as_database_error().is_some_and(|db| {
        db.code().as_deref() == Some("42P01") || db.message().contains("no such table")
    })
}

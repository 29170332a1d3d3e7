//! Isolated storage for one test: a fresh Postgres database or SQLite file, a Redis key prefix or memory cache.
//! Everything is removed when the value is dropped.

use plaza_core::config::{DatabaseUrl, Secret};
use plaza_core::{Cache, Db};
use sqlx::Connection;

/// Which storage engines a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Postgres + Redis: the large tiers.
    Real,
    /// SQLite + memory: the embedded tier.
    Embedded,
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres:postgres@127.0.0.1:5432/postgres".into())
}

/// The Redis URL tests use.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn unique(tag: &str) -> String {
    format!("{tag}_{}", uuid::Uuid::new_v4().simple())
}

/// A database of its own for one test, migrated. Dropped (with `WITH (FORCE)`) or deleted at the end.
#[derive(Debug)]
pub struct TestDb {
    /// The pool, migrated.
    pub db: Db,
    /// Its URL, for processes started by the test.
    pub url: DatabaseUrl,
    cleanup: Cleanup,
}

#[derive(Debug)]
enum Cleanup {
    Postgres { name: String },
    Sqlite { _dir: TempDir },
}

impl TestDb {
    /// A fresh database on `backend`'s engine, migrated.
    pub async fn new(backend: Backend) -> Self {
        let this = Self::unmigrated(backend).await;
        this.db.migrate().await.expect("migrations apply");
        this
    }

    /// A fresh, empty database (no migrations applied).
    pub async fn unmigrated(backend: Backend) -> Self {
        match backend {
            Backend::Real => Self::postgres().await,
            Backend::Embedded => Self::sqlite().await,
        }
    }

    async fn postgres() -> Self {
        let admin = admin_url();
        let name = unique("plaza_test");
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("Postgres must run at {admin} (scripts/test starts it): {e}")
            });
        sqlx::query(sqlx::AssertSqlSafe(format!(r#"CREATE DATABASE "{name}""#)))
            .execute(&mut conn)
            .await
            .expect("create test database");
        let base = admin
            .rsplit_once('/')
            .map(|(base, _)| base)
            .unwrap_or(&admin);
        let url = DatabaseUrl::parse(&format!("{base}/{name}")).expect("valid URL");
        let db = Db::connect(&url, 5)
            .await
            .expect("connect to test database");
        Self {
            db,
            url,
            cleanup: Cleanup::Postgres { name },
        }
    }

    async fn sqlite() -> Self {
        let dir = TempDir::new();
        let url = DatabaseUrl::parse(&format!("sqlite://{}/plaza.db", dir.path.display()))
            .expect("valid URL");
        let db = Db::connect(&url, 5).await.expect("open test SQLite");
        Self {
            db,
            url,
            cleanup: Cleanup::Sqlite { _dir: dir },
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres { name } = &self.cleanup {
            let name = name.clone();
            // Drop runs outside async; a short-lived thread with its own runtime removes the database.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await {
                        let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .execute(&mut conn)
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

/// A temporary directory removed on drop.
#[derive(Debug)]
pub struct TempDir {
    /// Its path.
    pub path: std::path::PathBuf,
}

impl TempDir {
    /// Creates a fresh directory under the system temp dir.
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(unique("plaza-test"));
        std::fs::create_dir_all(&path).expect("create temp dir");
        Self { path }
    }
}

impl Default for TempDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A cache for one test: Redis under a unique key prefix (its keys deleted on drop), or a fresh memory cache.
#[derive(Debug)]
pub struct TestCache {
    /// The cache.
    pub cache: Cache,
    /// Its key prefix.
    pub prefix: String,
    /// The Redis URL, when Redis.
    pub redis_url: Option<Secret>,
}

impl TestCache {
    /// A fresh cache on `backend`'s engine.
    pub fn new(backend: Backend) -> Self {
        let prefix = format!("{}:", unique("test"));
        let redis_url = (backend == Backend::Real).then(|| Secret::new(redis_url()));
        let cache = Cache::connect(redis_url.as_ref(), &prefix).expect("cache URL is valid");
        Self {
            cache,
            prefix,
            redis_url,
        }
    }
}

impl Drop for TestCache {
    fn drop(&mut self) {
        let Some(url) = self.redis_url.clone() else {
            return;
        };
        let pattern = format!("{}*", self.prefix);
        let _ = std::thread::spawn(move || {
            let Ok(client) = redis::Client::open(url.expose()) else {
                return;
            };
            let Ok(mut conn) = client.get_connection() else {
                return;
            };
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(&pattern)
                .query(&mut conn)
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
            }
        })
        .join();
    }
}

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    migrate::Migrator,
    mysql::{MySqlConnectOptions, MySqlPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    MySqlPool, SqlitePool,
};

/// Prepared statements kept per connection. A batch's statements differ by how many
/// rows they carry, so the writer alone uses a few per batch size; sqlx's default of 100
/// made SQLite parse them again and again under load (docs/benchmarks.md). MySQL's
/// server-wide limit (max_prepared_stmt_count, 16,382 by default) leaves room for
/// several processes with 16 connections each at this size.
const STATEMENT_CACHE: usize = 256;

static MYSQL_MIGRATIONS: Migrator = sqlx::migrate!("migrations/mysql");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");

/// Which SQL dialect a [`Db`] speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    MySql,
    Sqlite,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::MySql => "mysql",
            Dialect::Sqlite => "sqlite",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL must start with sqlite:// or mysql://, got {scheme:?}")]
    UnsupportedScheme { scheme: String },
    #[error("cannot create the directory {dir} for the SQLite file: {source}")]
    CreateDir { dir: String, source: std::io::Error },
    #[error("cannot connect to the {dialect} database: {source}")]
    Connect {
        dialect: &'static str,
        source: sqlx::Error,
    },
    #[error("preparing the database failed: {0}")]
    Query(sqlx::Error),
    #[error("migrating the {dialect} database failed: {source}")]
    Migrate {
        dialect: &'static str,
        source: sqlx::migrate::MigrateError,
    },
}

/// A connection pool on either backend.
///
/// An enum rather than sqlx's `Any` driver: each arm keeps its native types, its
/// connection options (SQLite pragmas, MySQL charset) and its error kinds, and the
/// code common to both is written once through [`with_pool!`].
#[derive(Clone, Debug)]
pub enum Db {
    MySql(MySqlPool),
    Sqlite(SqlitePool),
}

/// Runs the same sqlx code against whichever pool a [`Db`] holds. Both dialects use
/// `?` placeholders, so most queries are spelt once.
#[macro_export]
macro_rules! with_pool {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::MySql($pool) => $body,
            $crate::db::Db::Sqlite($pool) => $body,
        }
    };
}

/// Runs an `INSERT` (the same sqlx query expression on either pool) and evaluates to
/// the new row's id: the two dialects report it differently.
#[macro_export]
macro_rules! insert_id {
    ($db:expr, $query:expr) => {
        match $db {
            $crate::db::Db::MySql(pool) => {
                let done = $query.execute(pool).await?;
                i64::try_from(done.last_insert_id())
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?
            }
            $crate::db::Db::Sqlite(pool) => $query.execute(pool).await?.last_insert_rowid(),
        }
    };
}

impl Db {
    /// Opens a pool for `url`, creating a SQLite file (and its directory) if needed.
    /// Does not migrate: call [`Db::migrate`].
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        match url.split_once(':').map(|(scheme, _)| scheme) {
            Some("sqlite") => Self::connect_sqlite(url).await,
            Some("mysql" | "mariadb") => Self::connect_mysql(url).await,
            other => Err(DbError::UnsupportedScheme {
                scheme: other.unwrap_or(url).to_string(),
            }),
        }
    }

    async fn connect_sqlite(url: &str) -> Result<Db, DbError> {
        let connect_error = |source| DbError::Connect {
            dialect: "sqlite",
            source,
        };
        let options = SqliteConnectOptions::from_str(url)
            .map_err(connect_error)?
            .create_if_missing(true)
            // WAL lets readers proceed while a writer commits; NORMAL sync in WAL mode
            // is still durable against application crashes and far cheaper than FULL.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            .statement_cache_capacity(STATEMENT_CACHE);
        if let Some(dir) = Path::new(options.get_filename()).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|source| DbError::CreateDir {
                    dir: dir.display().to_string(),
                    source,
                })?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        Ok(Db::Sqlite(pool))
    }

    async fn connect_mysql(url: &str) -> Result<Db, DbError> {
        let connect_error = |source| DbError::Connect {
            dialect: "mysql",
            source,
        };
        // sqlx's URL parser knows only the mysql:// scheme; mariadb:// is accepted as a synonym.
        let url = url
            .strip_prefix("mariadb:")
            .map(|rest| format!("mysql:{rest}"))
            .unwrap_or_else(|| url.to_string());
        let options = MySqlConnectOptions::from_str(&url)
            .map_err(connect_error)?
            .charset("utf8mb4")
            .statement_cache_capacity(STATEMENT_CACHE);
        let pool = MySqlPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await
            .map_err(connect_error)?;
        Ok(Db::MySql(pool))
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Db::MySql(_) => Dialect::MySql,
            Db::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Applies the dialect's pending migrations; a no-op when all are applied.
    pub async fn migrate(&self) -> Result<(), DbError> {
        let dialect = self.dialect().name();
        let result = match self {
            Db::MySql(pool) => MYSQL_MIGRATIONS.run(pool).await,
            Db::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
        };
        result.map_err(|source| DbError::Migrate { dialect, source })
    }

    /// A round trip to the database, for health checks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(drop))
    }

    pub async fn close(&self) {
        with_pool!(self, pool => pool.close().await)
    }
}

/// Whether `error` is a transaction losing to a concurrent one (a deadlock, a lock-wait
/// timeout, a busy SQLite file, or a unique key another writer took first), so that the
/// same transaction run again can succeed.
pub fn is_contention(error: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db_error) = error else {
        return false;
    };
    if db_error.is_unique_violation() {
        return true;
    }
    if let Some(mysql) = db_error.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
        return matches!(mysql.number(), 1213 | 1205);
    }
    // SQLITE_BUSY, SQLITE_LOCKED
    matches!(db_error.code().as_deref(), Some("5") | Some("6"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_scheme_is_refused_by_name() {
        let err = Db::connect("postgres://localhost/x").await.unwrap_err();
        assert!(matches!(err, DbError::UnsupportedScheme { ref scheme } if scheme == "postgres"));
        assert!(err.to_string().contains("sqlite:// or mysql://"));
    }

    #[tokio::test]
    async fn sqlite_file_and_directory_are_created_and_migrations_rerun_cleanly() {
        let dir = std::env::temp_dir().join(format!("banter-db-test-{}", std::process::id()));
        let url = format!("sqlite://{}/nested/banter.db", dir.display());
        let db = Db::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        db.migrate().await.unwrap();
        db.ping().await.unwrap();
        db.close().await;
        assert!(dir.join("nested/banter.db").exists());
        std::fs::remove_dir_all(dir).unwrap();
    }
}

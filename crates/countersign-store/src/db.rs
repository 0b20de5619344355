//! The connection to whichever database is configured, and the dispatch macros for single statements
//! (transactions: `tx.rs`).

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use countersign_domain::secrets::MasterKey;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::StoreResult;
use crate::handoff::Wakeups;

/// SQLite write transactions begin with `BEGIN IMMEDIATE`: a deferred transaction that reads before
/// it writes can fail with `SQLITE_BUSY` (without waiting) when another writer commits in between.
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the concrete pool. The body is compiled once per backend, so the
/// same SQL text and the same row tuples serve both.
macro_rules! with_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// Like [`with_pool!`], for statements that write. On SQLite they go through a pool of one connection,
/// so writers queue in the async runtime (fair, immediate hand-over) instead of in SQLite's busy
/// handler, which sleeps in steps of milliseconds while another connection holds the write lock.
macro_rules! with_writer {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::db::Pool::Sqlite(_) => {
                let $pool = $store.writer();
                $body
            }
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_writer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The store: a pool and the master key that seals secrets before they reach a table.
pub struct Store {
    pub(crate) pool: Pool,
    pub(crate) master_key: MasterKey,
    /// Wake-ups and the hand-off to this node's engine (see `handoff.rs`, acted on by `tx.rs`).
    pub(crate) wakeups: Wakeups,
    /// SQLite only: the one connection every write goes through (see [`with_writer!`]).
    pub(crate) sqlite_writer: Option<SqlitePool>,
    /// API key digest → (account, valid until ms): see `account_by_api_key`.
    pub(crate) key_cache:
        std::sync::Mutex<std::collections::HashMap<Vec<u8>, (countersign_domain::account::Account, i64)>>,
}

impl Store {
    /// Opens (creating if needed) the SQLite database at `path`, in WAL mode, and migrates it.
    pub async fn open_sqlite(path: &Path, master_key: MasterKey) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // 16 MiB of page cache per connection (the default is 2), so hot deliveries are not re-read from the OS.
            .pragma("cache_size", "-16384");
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        let writer = SqlitePoolOptions::new().max_connections(1).connect_with(options).await?;
        Ok(Self {
            pool: Pool::Sqlite(pool),
            master_key,
            wakeups: Wakeups::default(),
            sqlite_writer: Some(writer),
            key_cache: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Connects to PostgreSQL at `url` (`postgres://…`) and migrates it.
    pub async fn open_postgres(url: &str, master_key: MasterKey) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            pool: Pool::Postgres(pool),
            master_key,
            wakeups: Wakeups::default(),
            sqlite_writer: None,
            key_cache: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The SQLite writer connection's pool.
    pub(crate) fn writer(&self) -> &SqlitePool {
        self.sqlite_writer.as_ref().expect("a SQLite store always has its writer")
    }

    /// One round trip to the database: what `/readyz` reports.
    pub async fn ping(&self) -> StoreResult<()> {
        with_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        if let Some(writer) = &self.sqlite_writer {
            writer.close().await;
        }
        with_pool!(self, pool => pool.close().await)
    }
}

/// A fresh, empty schema on the PostgreSQL server at `url`, returned as a database URL whose
/// connections use it (for benchmarks and tests that must not see each other's rows).
pub async fn postgres_scratch_schema(url: &str, prefix: &str) -> StoreResult<String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let schema = format!("{prefix}_{}_{}", countersign_domain::time::now_ms(), countersign_domain::ids::random_hex(4));
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\""))).execute(&mut conn).await?;
    let separator = if url.contains('?') { '&' } else { '?' };
    Ok(format!("{url}{separator}options=-c%20search_path%3D{schema}"))
}

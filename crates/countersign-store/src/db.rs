//! The connection to whichever database is configured, and the dispatch macro.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use countersign_domain::secrets::MasterKey;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::StoreResult;

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
    /// Woken after a commit that made deliveries due (see `outbox.rs`).
    pub(crate) delivery_wakeup: Arc<Notify>,
    /// Woken after a commit that made a document job due.
    pub(crate) job_wakeup: Arc<Notify>,
    /// SQLite only: the one connection every write goes through (see [`with_writer!`]).
    pub(crate) sqlite_writer: Option<SqlitePool>,
    /// API key digest → (account, valid until ms): see `account_by_api_key`.
    pub(crate) key_cache:
        std::sync::Mutex<std::collections::HashMap<Vec<u8>, (countersign_domain::account::Account, i64)>>,
    /// The engine on this node that takes committed deliveries directly, if one runs.
    pub(crate) handoff: std::sync::RwLock<Option<crate::outbox::Handoff>>,
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
            delivery_wakeup: Arc::new(Notify::new()),
            job_wakeup: Arc::new(Notify::new()),
            sqlite_writer: Some(writer),
            handoff: std::sync::RwLock::new(None),
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
            delivery_wakeup: Arc::new(Notify::new()),
            job_wakeup: Arc::new(Notify::new()),
            sqlite_writer: None,
            handoff: std::sync::RwLock::new(None),
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

    /// What the delivery engine waits on between claims.
    pub fn delivery_wakeup(&self) -> Arc<Notify> {
        self.delivery_wakeup.clone()
    }

    /// The store's background work, until `shutdown` fires. On PostgreSQL: wakes this node's delivery
    /// engine whenever any node commits deliveries (`LISTEN`), reconnecting after a lost connection (the
    /// engine's slow poll covers the gap). On SQLite: checkpoints the WAL every 200 ms in `PASSIVE` mode,
    /// which never blocks the writer, so the automatic checkpoint a commit runs when the WAL passes
    /// 1000 pages finds little left to copy and stays short; and truncates the WAL at shutdown.
    pub fn spawn_background(
        &self,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if let Pool::Sqlite(pool) = &self.pool {
            let pool = pool.clone();
            return Some(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(200)) => {
                            if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&pool).await {
                                tracing::warn!(%error, "WAL checkpoint failed");
                            }
                        }
                        _ = shutdown.changed() => {
                            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&pool).await;
                            return;
                        }
                    }
                }
            }));
        }
        let Pool::Postgres(pool) = &self.pool else { return None };
        let pool = pool.clone();
        let wakeup = self.delivery_wakeup.clone();
        let job_wakeup = self.job_wakeup.clone();
        Some(tokio::spawn(async move {
            loop {
                let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::warn!(%error, "cannot LISTEN for deliveries; retrying");
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            _ = shutdown.changed() => return,
                        }
                    }
                };
                let channels = [crate::outbox::DELIVERY_CHANNEL, crate::signature_requests::JOB_CHANNEL];
                if let Err(error) = listener.listen_all(channels).await {
                    tracing::warn!(%error, "LISTEN failed; retrying");
                    continue;
                }
                loop {
                    tokio::select! {
                        received = listener.recv() => match received {
                            Ok(notification) if notification.channel() == crate::signature_requests::JOB_CHANNEL => {
                                job_wakeup.notify_one()
                            }
                            Ok(_) => wakeup.notify_one(),
                            Err(error) => {
                                tracing::warn!(%error, "delivery notifications interrupted; reconnecting");
                                break;
                            }
                        },
                        _ = shutdown.changed() => return,
                    }
                }
            }
        }))
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

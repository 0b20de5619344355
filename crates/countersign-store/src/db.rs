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
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        Ok(Self { pool: Pool::Sqlite(pool), master_key, delivery_wakeup: Arc::new(Notify::new()) })
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
        Ok(Self { pool: Pool::Postgres(pool), master_key, delivery_wakeup: Arc::new(Notify::new()) })
    }

    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// What the delivery engine waits on between claims.
    pub fn delivery_wakeup(&self) -> Arc<Notify> {
        self.delivery_wakeup.clone()
    }

    /// On PostgreSQL, wakes this node's delivery engine whenever any node commits deliveries
    /// (`LISTEN`), until `shutdown` fires. Reconnects after a lost connection; the engine's slow poll
    /// covers the gap. Nothing to do on SQLite, where all writers are in this process.
    pub fn spawn_delivery_listener(
        &self,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let Pool::Postgres(pool) = &self.pool else { return None };
        let pool = pool.clone();
        let wakeup = self.delivery_wakeup.clone();
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
                if let Err(error) = listener.listen(crate::outbox::DELIVERY_CHANNEL).await {
                    tracing::warn!(%error, "LISTEN failed; retrying");
                    continue;
                }
                loop {
                    tokio::select! {
                        received = listener.recv() => match received {
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
        with_pool!(self, pool => pool.close().await)
    }
}

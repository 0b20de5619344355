//! The store's own background task, which `startup.rs` starts and stops with the others, and the
//! accessors through which the delivery engine and the job runner wait for work.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::Store;
use crate::db::Pool;
use crate::handoff::{DELIVERY_CHANNEL, Handoff, JOB_CHANNEL};

impl Store {
    /// What the delivery engine waits on between claims.
    pub fn delivery_wakeup(&self) -> Arc<Notify> {
        self.wakeups.deliveries.clone()
    }

    /// What the job runner waits on between claims.
    pub fn job_wakeup(&self) -> Arc<Notify> {
        self.wakeups.jobs.clone()
    }

    /// Wakes this process's delivery engine (after a commit that made deliveries due).
    pub fn wake_deliveries(&self) {
        self.wakeups.deliveries.notify_one();
    }

    /// Registers (or, with `None`, removes) this node's engine as the taker of deliveries committed
    /// here: they are inserted already leased to it and handed over in memory after commit, with no
    /// claim round trip. If this process dies first, the lease expires and any node sends them.
    pub fn set_handoff(&self, handoff: Option<Handoff>) {
        *self.wakeups.handoff.write().unwrap_or_else(|p| p.into_inner()) = handoff;
    }

    /// The store's background work, until `shutdown` fires. On PostgreSQL: wakes this node's delivery
    /// engine and job runner whenever any node commits deliveries or jobs (`LISTEN`), reconnecting
    /// after a lost connection (their slow polls cover the gap). On SQLite: checkpoints the WAL every
    /// 200 ms in `PASSIVE` mode, which never blocks the writer, so the automatic checkpoint a commit
    /// runs when the WAL passes 1000 pages finds little left to copy and stays short; and truncates the
    /// WAL at shutdown.
    pub fn spawn_listener(&self, shutdown: tokio::sync::watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        match &self.pool {
            Pool::Sqlite(pool) => spawn_checkpointer(pool.clone(), shutdown),
            Pool::Postgres(pool) => {
                spawn_pg_listener(pool.clone(), self.wakeups.deliveries.clone(), self.wakeups.jobs.clone(), shutdown)
            }
        }
    }
}

/// SQLite: a `PASSIVE` WAL checkpoint every 200 ms, `TRUNCATE` at shutdown.
fn spawn_checkpointer(
    pool: sqlx::SqlitePool,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
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
    })
}

/// PostgreSQL: `LISTEN` on both channels and wake whom each concerns, reconnecting after a loss.
fn spawn_pg_listener(
    pool: sqlx::PgPool,
    deliveries: Arc<Notify>,
    jobs: Arc<Notify>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "cannot LISTEN for deliveries and jobs; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        _ = shutdown.changed() => return,
                    }
                }
            };
            if let Err(error) = listener.listen_all([DELIVERY_CHANNEL, JOB_CHANNEL]).await {
                tracing::warn!(%error, "LISTEN failed; retrying");
                continue;
            }
            loop {
                tokio::select! {
                    received = listener.recv() => match received {
                        Ok(notification) if notification.channel() == JOB_CHANNEL => jobs.notify_one(),
                        Ok(_) => deliveries.notify_one(),
                        Err(error) => {
                            tracing::warn!(%error, "notifications interrupted; reconnecting");
                            break;
                        }
                    },
                    _ = shutdown.changed() => return,
                }
            }
        }
    })
}

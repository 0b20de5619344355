//! One transaction type over both backends, and [`Store::write`]: every multi-statement write begins,
//! commits and hands off through here.
//!
//! A statement inside a transaction is written once and dispatched per backend with [`on_tx!`], as
//! single statements outside one are with `with_pool!` / `with_writer!`. What a commit must tell the
//! rest of the process (deliveries to hand to this node's engine, deliveries or jobs due) is noted on
//! the [`Tx`] while it runs and acted on only after the commit succeeded: a rolled-back transaction
//! wakes no one and hands nothing off.

use countersign_domain::time::now_ms;
use sqlx::{Postgres, Sqlite, Transaction};

use crate::handoff::{ClaimedDelivery, DELIVERY_CHANNEL, Handoff, JOB_CHANNEL, Lease};
use crate::{Store, StoreError, StoreResult};

pub(crate) enum Conn {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// An open write transaction on either backend.
pub struct Tx {
    pub(crate) conn: Conn,
    /// Deliveries inserted under this node's lease, handed to the engine after commit.
    leased: Vec<ClaimedDelivery>,
    /// Deliveries any node may claim were inserted or re-queued.
    deliveries_due: bool,
    /// Jobs were inserted or rescheduled.
    jobs_due: bool,
    /// This node's engine as it was when the transaction began, if one takes hand-offs.
    handoff: Option<Handoff>,
}

/// Runs `$body` with `$conn` bound to the transaction's connection on its backend, e.g.
/// `on_tx!(tx, c => sqlx::query_as("…").bind(x).fetch_one(c).await)?`. The body is compiled once per
/// backend, so the same SQL text and the same row types serve both; both arms must give one type, so a
/// statement's result is mapped to its `rows_affected()`.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match &mut $tx.conn {
            $crate::tx::Conn::Sqlite(t) => {
                let $conn = &mut **t;
                $body
            }
            $crate::tx::Conn::Postgres(t) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

impl Tx {
    pub(crate) fn is_sqlite(&self) -> bool {
        matches!(self.conn, Conn::Sqlite(_))
    }

    /// The lease to insert `deliveries` new deliveries under, when this node's engine takes
    /// hand-offs and has room for them (and for those already leased in this transaction).
    pub(crate) fn lease(&self, deliveries: usize) -> Option<Lease> {
        self.handoff.as_ref()?.lease(deliveries, self.leased.len(), now_ms())
    }

    /// A delivery inserted under [`Tx::lease`]: handed to the engine once committed.
    pub(crate) fn hand_off(&mut self, delivery: ClaimedDelivery) {
        self.leased.push(delivery);
    }

    /// Notes that claimable deliveries were written: engines are woken after commit.
    pub(crate) fn deliveries_due(&mut self) {
        self.deliveries_due = true;
    }

    /// Notes that jobs were written: job runners are woken after commit.
    pub(crate) fn jobs_due(&mut self) {
        self.jobs_due = true;
    }
}

impl Store {
    /// Begins a write transaction: `BEGIN IMMEDIATE` on the SQLite writer (a deferred transaction that
    /// reads before it writes can fail with `SQLITE_BUSY` when another writer commits in between), a
    /// plain `BEGIN` on PostgreSQL.
    async fn begin(&self) -> StoreResult<Tx> {
        let conn = match &self.pool {
            crate::db::Pool::Sqlite(_) => Conn::Sqlite(self.writer().begin_with("BEGIN IMMEDIATE").await?),
            crate::db::Pool::Postgres(pool) => Conn::Postgres(pool.begin().await?),
        };
        let handoff = self.wakeups.handoff();
        Ok(Tx { conn, leased: Vec::new(), deliveries_due: false, jobs_due: false, handoff })
    }

    /// Commits, then tells whom it concerns: other PostgreSQL nodes by `NOTIFY` (sent inside the
    /// transaction, so delivered only if it commits), this node's engine by hand-off and wake-up, this
    /// node's job runner by wake-up.
    async fn commit(&self, tx: Tx) -> StoreResult<()> {
        let Tx { conn, leased, deliveries_due, jobs_due, handoff } = tx;
        match conn {
            Conn::Sqlite(t) => t.commit().await?,
            Conn::Postgres(mut t) => {
                if deliveries_due {
                    sqlx::query(sqlx::AssertSqlSafe(format!("NOTIFY {DELIVERY_CHANNEL}"))).execute(&mut *t).await?;
                }
                if jobs_due {
                    sqlx::query(sqlx::AssertSqlSafe(format!("NOTIFY {JOB_CHANNEL}"))).execute(&mut *t).await?;
                }
                t.commit().await?
            }
        }
        let handed_off = !leased.is_empty();
        // Leased deliveries exist only when an engine took hand-offs at `begin`.
        if let (true, Some(handoff)) = (handed_off, handoff) {
            let refused = handoff.hand_off(leased);
            if let (false, Err(error)) = (refused.is_empty(), self.release_leases(&refused).await) {
                tracing::error!(%error, "releasing leases of deliveries the engine could not take");
            }
        }
        if handed_off || deliveries_due {
            self.wake_deliveries();
        }
        if jobs_due {
            self.wakeups.jobs.notify_one();
        }
        Ok(())
    }

    /// Runs `work` in one write transaction and commits it, or rolls it back when `work` fails.
    pub(crate) async fn write<T, E: From<StoreError>>(
        &self,
        work: impl AsyncFnOnce(&mut Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut tx = self.begin().await?;
        let out = work(&mut tx).await?;
        self.commit(tx).await?;
        Ok(out)
    }
}

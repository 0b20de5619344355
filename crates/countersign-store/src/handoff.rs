//! What a commit tells the rest of the process: the wake-ups of this node's delivery engine and job
//! runner, the PostgreSQL channels that wake other nodes, and the in-memory hand-off of deliveries
//! committed here to this node's engine.
//!
//! A leaf module: it imports nothing else of the store, so `db.rs` (which owns a [`Wakeups`]), `tx.rs`
//! (which fills one at commit) and the listener can all use it without importing each other.

use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

/// The PostgreSQL channel that wakes delivery engines on other nodes.
pub const DELIVERY_CHANNEL: &str = "countersign_deliveries";

/// The PostgreSQL channel that wakes job runners on other nodes.
pub const JOB_CHANNEL: &str = "countersign_jobs";

/// A delivery claimed by this node until `locked_until_ms`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedDelivery {
    pub id: String,
    pub event_id: String,
    pub account_id: String,
    pub endpoint_id: String,
    pub url: String,
    #[sqlx(default)]
    pub payload: String,
    #[sqlx(default)]
    pub content_md5: String,
    #[sqlx(default)]
    pub content_sha256: String,
    /// Attempts made before this one, in all.
    pub attempts: i64,
    /// Attempts made since the delivery was created, resent or replayed: what the schedule counts.
    pub round_attempts: i64,
    /// The event's place among its signature request's events (sent as `Countersign-Event-Sequence`).
    pub event_sequence: Option<i64>,
}

/// A lease new deliveries are inserted under: already claimed by `node` until `until_ms`.
#[derive(Debug, Clone)]
pub struct Lease {
    pub node: String,
    pub until_ms: i64,
}

/// An engine that takes deliveries committed on this node directly (see `Store::set_handoff`).
#[derive(Clone)]
pub struct Handoff {
    pub node: String,
    pub lease_ms: i64,
    pub sender: tokio::sync::mpsc::Sender<ClaimedDelivery>,
}

impl Handoff {
    /// The lease to insert `deliveries` more deliveries under, when the engine has room for them
    /// beyond the `pending` already leased in the same transaction.
    pub(crate) fn lease(&self, deliveries: usize, pending: usize, now_ms: i64) -> Option<Lease> {
        (self.sender.capacity() >= deliveries + pending)
            .then(|| Lease { node: self.node.clone(), until_ms: now_ms + self.lease_ms })
    }

    /// Hands leased deliveries to the engine; returns the ids of those it could not take (it stopped
    /// meanwhile, or is full), whose leases the caller releases.
    pub(crate) fn hand_off(&self, leased: Vec<ClaimedDelivery>) -> Vec<String> {
        let mut refused = Vec::new();
        for delivery in leased {
            if let Err(error) = self.sender.try_send(delivery) {
                refused.push(error.into_inner().id);
            }
        }
        refused
    }
}

/// This process's wake-ups and hand-off, owned by the store.
#[derive(Default)]
pub(crate) struct Wakeups {
    /// Woken after a commit that made deliveries due.
    pub(crate) deliveries: Arc<Notify>,
    /// Woken after a commit that made a job due.
    pub(crate) jobs: Arc<Notify>,
    /// The engine on this node that takes committed deliveries directly, if one runs.
    pub(crate) handoff: RwLock<Option<Handoff>>,
}

impl Wakeups {
    /// The engine taking hand-offs now, if any.
    pub(crate) fn handoff(&self) -> Option<Handoff> {
        self.handoff.read().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

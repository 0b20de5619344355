//! The transactional outbox: events and their deliveries are inserted in the same transaction as the
//! state change that caused them, with payload bytes frozen at that moment.
//!
//! How a state change emits events: prepare an [`OutboxTargets`] before the transaction
//! ([`Store::outbox_targets`]: the account's key and callback URLs, endpoints created on first use),
//! then call `insert_events_sqlite` / `insert_events_postgres` on the transaction's connection inside
//! the change's own transaction. [`Store::record_events`] does both for events that change nothing else
//! (`callback_test`). After commit, [`Store::wake_deliveries`] wakes the engine (PostgreSQL nodes are
//! also woken by the `NOTIFY` the transaction sends).

use std::collections::HashMap;

use countersign_callback::{
    NewEvent, PayloadInput, Target, WebhookSecret, content_md5, content_sha256, new_event_id, payload_json,
};
use countersign_domain::ids::AccountId;
use countersign_domain::secrets::ApiKey;
use countersign_domain::time::{now_ms, unix_now};

use crate::db::{Pool, with_pool, with_writer};
use crate::deliveries::ClaimedDelivery;
use crate::{Store, StoreError, StoreResult};

/// The PostgreSQL channel that wakes delivery engines on other nodes.
pub const DELIVERY_CHANNEL: &str = "countersign_deliveries";

/// One callback URL an event goes to.
#[derive(Debug, Clone)]
pub struct TargetEndpoint {
    pub endpoint_id: String,
    pub url: String,
    pub disabled: bool,
}

/// What inserting an account's events needs, read before the transaction.
#[derive(Debug, Clone)]
pub struct OutboxTargets {
    pub account_id: AccountId,
    api_key: Option<ApiKey>,
    account_endpoint: Option<TargetEndpoint>,
    app_endpoints: HashMap<String, TargetEndpoint>,
}

/// An event as inserted.
#[derive(Debug, Clone)]
pub struct InsertedEvent {
    pub event_id: String,
    pub deliveries: usize,
}

impl Store {
    /// Reads the account's primary API key and the callback endpoints for the account and for the apps
    /// named in `client_ids`, creating endpoint rows (with their `whsec_` secrets) on first use.
    pub async fn outbox_targets(&self, account_id: &AccountId, client_ids: &[&str]) -> StoreResult<OutboxTargets> {
        let api_key = self.api_keys_of(account_id).await?.into_iter().next();
        let account = self
            .account_by_id(account_id)
            .await?
            .ok_or_else(|| StoreError::Corrupt("event for a missing account".into()))?;
        let account_endpoint = match &account.callback_url {
            Some(url) => Some(self.endpoint_for(account_id, url).await?),
            None => None,
        };
        let mut app_endpoints = HashMap::new();
        for client_id in client_ids {
            let row: Option<(Option<String>,)> = with_pool!(self, pool => sqlx::query_as(
                "SELECT callback_url FROM api_apps WHERE client_id = $1 AND account_id = $2")
                .bind(*client_id)
                .bind(account_id.as_str())
                .fetch_optional(pool)
                .await)?;
            if let Some((Some(url),)) = row {
                app_endpoints.insert((*client_id).to_owned(), self.endpoint_for(account_id, &url).await?);
            }
        }
        Ok(OutboxTargets { account_id: account_id.clone(), api_key, account_endpoint, app_endpoints })
    }

    /// The endpoint row of (account, url), created with a fresh secret if there is none.
    pub async fn endpoint_for(&self, account_id: &AccountId, url: &str) -> StoreResult<TargetEndpoint> {
        let find = || async {
            let row: Option<(String, Option<i64>)> = with_pool!(self, pool => sqlx::query_as(
                "SELECT id, disabled_at_ms FROM callback_endpoints WHERE account_id = $1 AND url = $2")
                .bind(account_id.as_str())
                .bind(url)
                .fetch_optional(pool)
                .await)?;
            Ok::<_, StoreError>(row)
        };
        if let Some((id, disabled)) = find().await? {
            return Ok(TargetEndpoint { endpoint_id: id, url: url.to_owned(), disabled: disabled.is_some() });
        }
        let secret = WebhookSecret::generate();
        let sealed = self.master_key.seal(secret.expose().as_bytes());
        // Two writers may create the same endpoint at once; the unique (account, url) keeps one.
        with_writer!(self, pool => sqlx::query(
            "INSERT INTO callback_endpoints (id, account_id, url, secret_sealed, created_at_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account_id, url) DO NOTHING")
            .bind(new_event_id())
            .bind(account_id.as_str())
            .bind(url)
            .bind(sealed)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ()))?;
        let (id, disabled) =
            find().await?.ok_or_else(|| StoreError::Corrupt("endpoint vanished after insert".into()))?;
        Ok(TargetEndpoint { endpoint_id: id, url: url.to_owned(), disabled: disabled.is_some() })
    }

    /// Records events that change nothing else (e.g. `callback_test`) in one transaction, then hands
    /// their deliveries to this node's engine (or wakes it).
    pub async fn record_events(&self, targets: &OutboxTargets, events: &[NewEvent]) -> StoreResult<Vec<InsertedEvent>> {
        let lease = self.handoff_lease(events.len() * 2);
        let (inserted, leased) = match &self.pool {
            Pool::Sqlite(_) => {
                let pool = self.writer();
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let inserted = insert_events_sqlite(&mut tx, targets, events, lease.as_ref()).await?;
                tx.commit().await?;
                inserted
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let inserted = insert_events_postgres(&mut tx, targets, events, lease.as_ref()).await?;
                tx.commit().await?;
                inserted
            }
        };
        self.after_commit(leased).await;
        Ok(inserted)
    }

    /// Registers (or, with `None`, removes) this node's engine as the taker of deliveries committed
    /// here: they are inserted already leased to it and handed over in memory after commit, with no
    /// claim round trip. If this process dies first, the lease expires and any node sends them.
    pub fn set_handoff(&self, handoff: Option<Handoff>) {
        *self.handoff.write().unwrap_or_else(|p| p.into_inner()) = handoff;
    }

    /// The lease to insert new deliveries under, if an engine here takes hand-offs and has room.
    pub fn handoff_lease(&self, deliveries: usize) -> Option<Lease> {
        let handoff = self.handoff.read().unwrap_or_else(|p| p.into_inner());
        let handoff = handoff.as_ref()?;
        (handoff.sender.capacity() >= deliveries)
            .then(|| Lease { node: handoff.node.clone(), until_ms: now_ms() + handoff.lease_ms })
    }

    /// After a commit: hands leased deliveries to the engine and wakes it. A delivery the engine can no
    /// longer take (it stopped meanwhile) has its lease released, so it is claimable at once.
    pub async fn after_commit(&self, leased: Vec<ClaimedDelivery>) {
        let sender = self.handoff.read().unwrap_or_else(|p| p.into_inner()).as_ref().map(|h| h.sender.clone());
        let mut refused = Vec::new();
        for delivery in leased {
            match &sender {
                Some(sender) => {
                    if let Err(error) = sender.try_send(delivery) {
                        refused.push(error.into_inner().id);
                    }
                }
                None => refused.push(delivery.id),
            }
        }
        if let (false, Err(error)) = (refused.is_empty(), self.release_leases(&refused).await) {
            tracing::error!(%error, "releasing leases of deliveries the engine could not take");
        }
        self.wake_deliveries();
    }

    /// Wakes this process's delivery engine (call after a commit that inserted deliveries).
    pub fn wake_deliveries(&self) {
        self.delivery_wakeup.notify_one();
    }
}

/// A lease new deliveries are inserted under: already claimed by `node` until `until_ms`.
#[derive(Debug, Clone)]
pub struct Lease {
    pub node: String,
    pub until_ms: i64,
}

/// An engine that takes deliveries committed on this node directly (see [`Store::set_handoff`]).
pub struct Handoff {
    pub node: String,
    pub lease_ms: i64,
    pub sender: tokio::sync::mpsc::Sender<ClaimedDelivery>,
}

/// One delivery row, built in memory before it is written.
struct DeliveryRow {
    id: String,
    endpoint: TargetEndpoint,
    target: Target,
    client_id: Option<String>,
    payload: String,
    md5: String,
    sha256: String,
}

fn delivery_rows(targets: &OutboxTargets, event: &NewEvent, input: &mut PayloadInput<'_>) -> Vec<DeliveryRow> {
    let key = targets.api_key.as_ref().map_or("", ApiKey::expose);
    let mut rows = Vec::new();
    let mut push = |endpoint: &TargetEndpoint, target: Target, input: &mut PayloadInput<'_>| {
        input.target = target;
        let payload = payload_json(input, key);
        rows.push(DeliveryRow {
            id: new_event_id(),
            endpoint: endpoint.clone(),
            target,
            client_id: event.client_id.clone(),
            md5: content_md5(key, &payload),
            sha256: content_sha256(key, &payload),
            payload,
        });
    };
    // A callback_test for an app goes to that app's URL only; every other event goes to the account's
    // URL and, when made with an app, to the app's URL as well (two independent deliveries).
    let app_only = event.event_type == countersign_callback::EventType::CallbackTest && event.client_id.is_some();
    if let (false, Some(endpoint)) = (app_only, &targets.account_endpoint) {
        push(endpoint, Target::Account, input);
    }
    if let Some(endpoint) = event.client_id.as_ref().and_then(|c| targets.app_endpoints.get(c)) {
        push(endpoint, Target::App, input);
    }
    rows
}

/// Inserts events and their deliveries on `conn` (an open transaction), for one backend.
macro_rules! define_insert_events {
    ($name:ident, $conn:ty, $notify:expr) => {
        /// Returns the events inserted and, when `lease` is given, the deliveries inserted under it (to
        /// be handed to the engine after commit with [`Store::after_commit`]).
        pub async fn $name(
            conn: &mut $conn,
            targets: &OutboxTargets,
            events: &[NewEvent],
            lease: Option<&Lease>,
        ) -> StoreResult<(Vec<InsertedEvent>, Vec<ClaimedDelivery>)> {
            let mut leased = Vec::new();
            let mut inserted = Vec::with_capacity(events.len());
            let created = now_ms();
            let event_time = unix_now();
            let mut any_delivery = false;
            for event in events {
                let event_id = new_event_id();
                let sequence: Option<i64> = match &event.signature_request_id {
                    Some(request_id) => {
                        let (last,): (Option<i64>,) =
                            sqlx::query_as("SELECT MAX(event_sequence) FROM events WHERE signature_request_id = $1")
                                .bind(request_id)
                                .fetch_one(&mut *conn)
                                .await?;
                        Some(last.unwrap_or(0) + 1)
                    }
                    None => None,
                };
                sqlx::query(
                    "INSERT INTO events (id, account_id, event_type, event_time, signature_request_id, event_sequence, client_id, \
                     related_signature_id, event_message, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(&event_id)
                .bind(targets.account_id.as_str())
                .bind(event.event_type.as_str())
                .bind(event_time)
                .bind(&event.signature_request_id)
                .bind(sequence)
                .bind(&event.client_id)
                .bind(&event.related_signature_id)
                .bind(&event.event_message)
                .bind(created)
                .execute(&mut *conn)
                .await?;
                let mut input = PayloadInput {
                    event_id: &event_id,
                    event_type: event.event_type,
                    event_time,
                    event_sequence: sequence,
                    account_id: targets.account_id.as_str(),
                    client_id: event.client_id.as_deref(),
                    related_signature_id: event.related_signature_id.as_deref(),
                    event_message: event.event_message.as_deref(),
                    object: event.object.as_ref(),
                    target: Target::Account,
                };
                let rows = delivery_rows(targets, event, &mut input);
                for row in &rows {
                    // A disabled URL's deliveries are parked: kept, not attempted, replayed on re-enable.
                    let state = if row.endpoint.disabled { "parked" } else { "pending" };
                    let lease = lease.filter(|_| !row.endpoint.disabled);
                    any_delivery |= !row.endpoint.disabled && lease.is_none();
                    sqlx::query(
                        "INSERT INTO deliveries (id, event_id, account_id, endpoint_id, target, client_id, url, state, \
                         next_attempt_ms, created_at_ms, locked_by, locked_until_ms, event_sequence) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                    )
                    .bind(&row.id)
                    .bind(&event_id)
                    .bind(targets.account_id.as_str())
                    .bind(&row.endpoint.endpoint_id)
                    .bind(row.target.as_str())
                    .bind(&row.client_id)
                    .bind(&row.endpoint.url)
                    .bind(state)
                    .bind(created)
                    .bind(created)
                    .bind(lease.map(|l| l.node.as_str()))
                    .bind(lease.map(|l| l.until_ms))
                    .bind(sequence)
                    .execute(&mut *conn)
                    .await?;
                    if lease.is_some() {
                        leased.push(ClaimedDelivery {
                            id: row.id.clone(),
                            event_id: event_id.clone(),
                            account_id: targets.account_id.as_str().to_owned(),
                            endpoint_id: row.endpoint.endpoint_id.clone(),
                            url: row.endpoint.url.clone(),
                            payload: row.payload.clone(),
                            content_md5: row.md5.clone(),
                            content_sha256: row.sha256.clone(),
                            attempts: 0,
                            round_attempts: 0,
                            event_sequence: sequence,
                        });
                    }
                    sqlx::query(
                        "INSERT INTO delivery_bodies (delivery_id, payload, content_md5, content_sha256) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&row.id)
                    .bind(&row.payload)
                    .bind(&row.md5)
                    .bind(&row.sha256)
                    .execute(&mut *conn)
                    .await?;
                }
                tracing::debug!(
                    event_id = %event_id,
                    event_type = %event.event_type,
                    account_id = %targets.account_id,
                    signature_request_id = event.signature_request_id.as_deref().unwrap_or(""),
                    deliveries = rows.len(),
                    "event recorded"
                );
                inserted.push(InsertedEvent { event_id, deliveries: rows.len() });
            }
            if any_delivery && $notify {
                sqlx::query(sqlx::AssertSqlSafe(format!("NOTIFY {DELIVERY_CHANNEL}"))).execute(&mut *conn).await?;
            }
            Ok((inserted, leased))
        }
    };
}

define_insert_events!(insert_events_sqlite, sqlx::SqliteConnection, false);
define_insert_events!(insert_events_postgres, sqlx::PgConnection, true);

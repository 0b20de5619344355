//! The transactional outbox: events and their deliveries are inserted in the same transaction as the
//! state change that caused them, with payload bytes frozen at that moment.
//!
//! How a state change emits events: inside the change's own transaction ([`Store::write`]), read the
//! targets with [`targets_in`] (the account's key and callback URLs, endpoints created on first use)
//! and insert the events with [`insert_events`]. [`Store::record_events`] does both for events that
//! change nothing else (`callback_test`). The commit hands the new deliveries to this node's engine,
//! or wakes the engines (see `tx.rs`).

use std::collections::HashMap;

use countersign_callback::{
    NewEvent, PayloadInput, Target, WebhookSecret, content_md5, content_sha256, new_event_id, payload_json,
};
use countersign_domain::ids::AccountId;
use countersign_domain::secrets::ApiKey;
use countersign_domain::time::{now_ms, unix_now};

use crate::handoff::ClaimedDelivery;
use crate::tx::{Tx, on_tx};
use crate::{Store, StoreError, StoreResult};

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
    app_endpoints: HashMap<String, AppTarget>,
}

/// An app's callback URL and the key its deliveries' `event_hash` is made with (the app owner's).
#[derive(Debug, Clone)]
struct AppTarget {
    endpoint: TargetEndpoint,
    api_key: Option<ApiKey>,
}

/// An event as inserted.
#[derive(Debug, Clone)]
pub struct InsertedEvent {
    pub event_id: String,
    /// The event's place among its signature request's events (none for account events).
    pub event_sequence: Option<i64>,
    pub deliveries: usize,
}

impl Store {
    /// Reads the account's primary API key and the callback endpoints for the account and for the apps
    /// named in `client_ids`, creating endpoint rows (with their `whsec_` secrets) on first use.
    pub async fn outbox_targets(&self, account_id: &AccountId, client_ids: &[&str]) -> StoreResult<OutboxTargets> {
        self.write(async |tx| targets_in(tx, &self.master_key, account_id, client_ids).await).await
    }

    /// Targets that send the account's events to `url` instead of its callback URL (and to no app): for
    /// sample events sent where a developer points them.
    pub async fn outbox_targets_to(&self, account_id: &AccountId, url: &str) -> StoreResult<OutboxTargets> {
        self.write(async |tx| {
            let mut targets = targets_in(tx, &self.master_key, account_id, &[]).await?;
            targets.account_endpoint = Some(endpoint_in(tx, &self.master_key, account_id, url).await?);
            Ok(targets)
        })
        .await
    }

    /// The endpoint row of (account, url), created with a fresh secret if there is none.
    pub async fn endpoint_for(&self, account_id: &AccountId, url: &str) -> StoreResult<TargetEndpoint> {
        self.write(async |tx| endpoint_in(tx, &self.master_key, account_id, url).await).await
    }

    /// Records events of `account_id` that change nothing else (e.g. `callback_test`), reading its
    /// targets (for the apps in `client_ids`) in the same transaction.
    pub async fn record_account_events(
        &self,
        account_id: &AccountId,
        client_ids: &[&str],
        events: &[NewEvent],
    ) -> StoreResult<Vec<InsertedEvent>> {
        self.write(async |tx| {
            let targets = targets_in(tx, &self.master_key, account_id, client_ids).await?;
            insert_events(tx, &targets, events).await
        })
        .await
    }

    /// Records events that change nothing else (e.g. `callback_test`) in one transaction, then hands
    /// their deliveries to this node's engine (or wakes it).
    pub async fn record_events(&self, targets: &OutboxTargets, events: &[NewEvent]) -> StoreResult<Vec<InsertedEvent>> {
        self.write(async |tx| insert_events(tx, targets, events).await).await
    }
}

/// [`Store::outbox_targets`] inside an open transaction.
pub(crate) async fn targets_in(
    tx: &mut Tx,
    master_key: &countersign_domain::secrets::MasterKey,
    account_id: &AccountId,
    client_ids: &[&str],
) -> StoreResult<OutboxTargets> {
    #[derive(sqlx::FromRow)]
    struct AccountTargets {
        callback_url: Option<String>,
        key_sealed: Option<Vec<u8>>,
    }
    let row: Option<AccountTargets> = on_tx!(tx, c => sqlx::query_as(
        "SELECT a.callback_url, (SELECT k.key_sealed FROM api_keys k WHERE k.account_id = a.id          AND k.revoked_at IS NULL ORDER BY k.id DESC LIMIT 1) AS key_sealed FROM accounts a WHERE a.id = $1")
        .bind(account_id.as_str())
        .fetch_optional(c)
        .await)?;
    let row = row.ok_or_else(|| StoreError::Corrupt("event for a missing account".into()))?;
    let api_key = match &row.key_sealed {
        Some(sealed) => Some(ApiKey::presented(&master_key.open_string(sealed)?)),
        None => None,
    };
    let account_endpoint = match &row.callback_url {
        Some(url) => Some(endpoint_in(tx, master_key, account_id, url).await?),
        None => None,
    };
    // An app's URL belongs to the app's owner: its endpoint row (and Standard Webhooks secret) is the
    // owner's, and its `event_hash` is keyed by the owner's API key, which is the key the owner's
    // receiver knows. For an app acting through OAuth for another account, the owner is not the
    // event's account. (Which apps an event names was checked when the request was made.)
    let mut app_endpoints = HashMap::new();
    for client_id in client_ids {
        let app: Option<(String, Option<String>, Option<Vec<u8>>)> = on_tx!(tx, c => sqlx::query_as(
            "SELECT p.account_id, p.callback_url, (SELECT k.key_sealed FROM api_keys k WHERE k.account_id = p.account_id \
             AND k.revoked_at IS NULL ORDER BY k.id DESC LIMIT 1) FROM api_apps p WHERE p.client_id = $1")
            .bind(*client_id)
            .fetch_optional(c)
            .await)?;
        let Some((owner, Some(url), owner_key)) = app else { continue };
        let owner = AccountId::from_trusted(owner);
        let key = if owner == *account_id {
            api_key.clone()
        } else {
            owner_key.map(|sealed| master_key.open_string(&sealed).map(|k| ApiKey::presented(&k))).transpose()?
        };
        let endpoint = endpoint_in(tx, master_key, &owner, &url).await?;
        app_endpoints.insert((*client_id).to_owned(), AppTarget { endpoint, api_key: key });
    }
    Ok(OutboxTargets { account_id: account_id.clone(), api_key, account_endpoint, app_endpoints })
}

/// The endpoint row of (account, url), created with a fresh secret if there is none.
async fn endpoint_in(
    tx: &mut Tx,
    master_key: &countersign_domain::secrets::MasterKey,
    account_id: &AccountId,
    url: &str,
) -> StoreResult<TargetEndpoint> {
    #[derive(sqlx::FromRow)]
    struct Found {
        id: String,
        disabled_at_ms: Option<i64>,
    }
    const FIND: &str = "SELECT id, disabled_at_ms FROM callback_endpoints WHERE account_id = $1 AND url = $2";
    let found: Option<Found> =
        on_tx!(tx, c => sqlx::query_as(FIND).bind(account_id.as_str()).bind(url).fetch_optional(c).await)?;
    let found = match found {
        Some(found) => found,
        None => {
            let secret = WebhookSecret::generate();
            let sealed = master_key.seal(secret.expose().as_bytes());
            // Two writers may create the same endpoint at once; the unique (account, url) keeps one, and
            // the second waits for the first's commit before it reads the row.
            on_tx!(tx, c => sqlx::query(
                "INSERT INTO callback_endpoints (id, account_id, url, secret_sealed, created_at_ms) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (account_id, url) DO NOTHING")
                .bind(new_event_id())
                .bind(account_id.as_str())
                .bind(url)
                .bind(sealed)
                .bind(now_ms())
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
            let found: Option<Found> =
                on_tx!(tx, c => sqlx::query_as(FIND).bind(account_id.as_str()).bind(url).fetch_optional(c).await)?;
            found.ok_or_else(|| StoreError::Corrupt("endpoint vanished after insert".into()))?
        }
    };
    Ok(TargetEndpoint { endpoint_id: found.id, url: url.to_owned(), disabled: found.disabled_at_ms.is_some() })
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
    let mut rows = Vec::new();
    let mut push = |endpoint: &TargetEndpoint, target: Target, key: Option<&ApiKey>, input: &mut PayloadInput<'_>| {
        let key = key.map_or("", ApiKey::expose);
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
        push(endpoint, Target::Account, targets.api_key.as_ref(), input);
    }
    if let Some(app) = event.client_id.as_ref().and_then(|c| targets.app_endpoints.get(c)) {
        push(&app.endpoint, Target::App, app.api_key.as_ref(), input);
    }
    rows
}

/// Inserts events and their deliveries in an open transaction. Deliveries are inserted leased to this
/// node's engine when it has room (the commit hands them over), otherwise claimable by any node.
pub(crate) async fn insert_events(
    tx: &mut Tx,
    targets: &OutboxTargets,
    events: &[NewEvent],
) -> StoreResult<Vec<InsertedEvent>> {
    let mut inserted = Vec::with_capacity(events.len());
    let created = now_ms();
    let event_time = unix_now();
    for event in events {
        let event_id = new_event_id();
        let sequence: Option<i64> = match &event.signature_request_id {
            Some(request_id) => {
                let (last,): (Option<i64>,) = on_tx!(tx, c => sqlx::query_as(
                    "SELECT MAX(event_sequence) FROM events WHERE signature_request_id = $1")
                    .bind(request_id)
                    .fetch_one(c)
                    .await)?;
                Some(last.unwrap_or(0) + 1)
            }
            None => None,
        };
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO events (id, account_id, event_type, event_time, signature_request_id, event_sequence, client_id, \
             related_signature_id, event_message, created_at_ms, template_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
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
            .bind(&event.template_id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
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
            let lease = if row.endpoint.disabled { None } else { tx.lease(1) };
            if !row.endpoint.disabled && lease.is_none() {
                tx.deliveries_due();
            }
            on_tx!(tx, c => sqlx::query(
                "INSERT INTO deliveries (id, event_id, account_id, endpoint_id, target, client_id, url, state, \
                 next_attempt_ms, created_at_ms, locked_by, locked_until_ms, event_sequence) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)")
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
                .bind(lease.as_ref().map(|l| l.node.as_str()))
                .bind(lease.as_ref().map(|l| l.until_ms))
                .bind(sequence)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
            on_tx!(tx, c => sqlx::query(
                "INSERT INTO delivery_bodies (delivery_id, payload, content_md5, content_sha256) VALUES ($1, $2, $3, $4)")
                .bind(&row.id)
                .bind(&row.payload)
                .bind(&row.md5)
                .bind(&row.sha256)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
            if lease.is_some() {
                tx.hand_off(ClaimedDelivery {
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
        }
        tracing::debug!(
            event_id = %event_id,
            event_type = %event.event_type,
            account_id = %targets.account_id,
            signature_request_id = event.signature_request_id.as_deref().unwrap_or(""),
            template_id = event.template_id.as_deref().unwrap_or(""),
            deliveries = rows.len(),
            "event recorded"
        );
        inserted.push(InsertedEvent { event_id, event_sequence: sequence, deliveries: rows.len() });
    }
    Ok(inserted)
}

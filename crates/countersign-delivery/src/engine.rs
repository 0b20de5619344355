//! The engine loop: claim, send, record.
//!
//! Concurrency, in prose (the way mini-redis explains its server):
//! - One **claimer** task asks the store for due deliveries in batches. A claim is a lease: the rows say
//!   which node holds them until when. If this process dies, the leases expire (PostgreSQL) or are
//!   released at the next start (SQLite, one process), and the work is done again: at least once.
//! - Each claimed delivery becomes a task that first takes a permit of **its URL's semaphore**
//!   (`max_in_flight_per_url`), then one of the **global semaphore** (`max_in_flight`). The claimer
//!   skips URLs that already have `2 × max_in_flight_per_url` deliveries in hand, so one slow or dead URL
//!   holds at most that many leases and never the global capacity: its tasks wait on their own URL's
//!   permits without holding a global one.
//! - Finished attempts go over a channel to one **recorder** task, which writes them in batches, one
//!   transaction each (attempt rows, delivery states, endpoint health): group commit, so the database is
//!   not the bottleneck.
//! - The claimer sleeps until the earliest due delivery, a wake-up from a commit (in-process `Notify`,
//!   fed by `LISTEN/NOTIFY` on PostgreSQL), a finished delivery freeing room, or the safety-net poll.
//! - **Shutdown**: the claimer stops claiming; tasks in flight get `shutdown_grace` to finish; the
//!   recorder writes what it has; leases still held are released so the work goes on elsewhere or at the
//!   next start.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use countersign_callback::WebhookSecret;
use countersign_domain::ids::random_hex;
use countersign_domain::time::now_ms;
use countersign_store::Store;
use countersign_store::deliveries::{AttemptRecord, ClaimedDelivery, Outcome};
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::config::DeliveryConfig;
use crate::schedule::decide;
use crate::sender::{build_client, prepare, send};

/// A running engine; dropping it does not stop it, [`DeliveryEngine::shutdown`] does.
pub struct DeliveryEngine {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    pub node_id: String,
}

struct Shared {
    store: Arc<Store>,
    config: DeliveryConfig,
    client: reqwest::Client,
    node_id: String,
    global: Semaphore,
    /// Per endpoint: its semaphore and how many claimed deliveries this node holds for it.
    endpoints: Mutex<HashMap<String, Arc<EndpointSlot>>>,
    secrets: Mutex<HashMap<String, WebhookSecret>>,
    /// Signalled when a delivery finishes, so a claimer waiting for room goes on.
    room: Notify,
}

struct EndpointSlot {
    permits: Semaphore,
    held: std::sync::atomic::AtomicUsize,
}

impl DeliveryEngine {
    pub fn spawn(store: Arc<Store>, config: DeliveryConfig) -> Result<Self, reqwest::Error> {
        let client = build_client(&config)?;
        let node_id = format!("{}-{}", std::process::id(), random_hex(4));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            global: Semaphore::new(config.max_in_flight.max(1)),
            store,
            config,
            client,
            node_id: node_id.clone(),
            endpoints: Mutex::new(HashMap::new()),
            secrets: Mutex::new(HashMap::new()),
            room: Notify::new(),
        });
        // Deliveries committed on this node come straight here, already leased to it.
        let (handoff_tx, handoff_rx) = mpsc::channel(shared.config.max_in_flight.max(1) * 4);
        shared.store.set_handoff(Some(countersign_store::handoff::Handoff {
            node: node_id.clone(),
            lease_ms: shared.config.lease.as_millis() as i64,
            sender: handoff_tx,
        }));
        let task = tokio::spawn(run(shared, shutdown_rx, handoff_rx));
        Ok(Self { shutdown, task, node_id })
    }

    /// Stops claiming, lets deliveries in flight finish (within the grace period), records them and
    /// releases the leases left.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn run(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>, mut handoff: mpsc::Receiver<ClaimedDelivery>) {
    match shared.store.release_stale_leases_at_start().await {
        Ok(0) => {}
        Ok(released) => tracing::info!(released, "released delivery leases left by a previous process"),
        Err(error) => tracing::error!(%error, "could not release stale delivery leases"),
    }
    let (records_tx, records_rx) = mpsc::unbounded_channel::<AttemptRecord>();
    let recorder = tokio::spawn(record_loop(shared.clone(), records_rx));
    let mut in_flight = JoinSet::new();
    let wakeup = shared.store.delivery_wakeup();
    let config = &shared.config;
    // How many claimed deliveries this node keeps in hand, per URL and in all. Deliveries in hand but
    // not yet on the wire cost only memory and a lease; having them ready keeps every permit busy. The
    // per-URL bound (4 × its concurrency) keeps a slow URL's waiting deliveries well inside the lease:
    // 4 rounds of the attempt timeout.
    let backlog_per_url = config.max_in_flight_per_url.max(1) * 4;
    let hold_limit = (config.max_in_flight.max(1) * 4).max(config.batch as usize);
    // Claim in useful amounts: one claim is one write transaction.
    let min_claim = (config.batch / 4).max(1);
    let mut failures = 0u32;
    loop {
        if *shutdown.borrow() {
            break;
        }
        while in_flight.try_join_next().is_some() {}
        let mut overflow = Vec::new();
        while let Ok(delivery) = handoff.try_recv() {
            take_handoff(&shared, &mut in_flight, delivery, &records_tx, backlog_per_url, &mut overflow);
        }
        release_overflow(&shared, overflow).await;
        let (exclude, held): (Vec<String>, usize) = {
            let endpoints = lock(&shared.endpoints);
            let held = endpoints.values().map(|s| s.held.load(std::sync::atomic::Ordering::Relaxed)).sum();
            let full = endpoints
                .iter()
                .filter(|(_, slot)| slot.held.load(std::sync::atomic::Ordering::Relaxed) >= backlog_per_url)
                .map(|(id, _)| id.clone())
                .collect();
            (full, held)
        };
        let room = hold_limit.saturating_sub(held) as i64;
        let limit = room.min(config.batch);
        let worth_claiming = limit > 0 && (held == 0 || limit >= min_claim);
        let mut claimed_full_batch = false;
        if worth_claiming {
            match shared.store.claim_deliveries(&shared.node_id, config.lease.as_millis() as i64, limit, &exclude).await
            {
                Ok(claimed) => {
                    failures = 0;
                    claimed_full_batch = claimed.len() as i64 == limit;
                    for delivery in claimed {
                        start_attempt(&shared, &mut in_flight, delivery, &records_tx);
                    }
                }
                Err(error) => {
                    failures += 1;
                    tracing::error!(%error, "claiming deliveries failed");
                    let backoff = Duration::from_millis(100 * u64::from(failures.min(50)));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            }
        }
        if claimed_full_batch {
            continue;
        }
        let wait = if !worth_claiming {
            // Enough in hand: wait for room (or the poll).
            config.poll_interval
        } else {
            match shared.store.next_claimable_ms().await {
                Ok(Some(due)) => {
                    Duration::from_millis((due - now_ms()).clamp(0, config.poll_interval.as_millis() as i64) as u64)
                }
                Ok(None) => config.poll_interval,
                Err(_) => Duration::from_millis(500),
            }
        };
        if wait.is_zero() {
            // Something is claimable but this claim did not get it (another node took it first, or its
            // URL is excluded here): try again shortly rather than spin.
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
                _ = shared.room.notified() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = wakeup.notified() => {}
            _ = shared.room.notified() => {}
            _ = shutdown.changed() => {}
            Some(delivery) = handoff.recv() => {
                let mut overflow = Vec::new();
                take_handoff(&shared, &mut in_flight, delivery, &records_tx, backlog_per_url, &mut overflow);
                release_overflow(&shared, overflow).await;
            }
        }
    }
    // No more hand-offs; what is still in the channel keeps its lease and is released below.
    shared.store.set_handoff(None);
    handoff.close();
    // Shutdown: give deliveries in flight their grace period, then drop the rest (their leases are
    // released below, so the work is not lost).
    let grace = tokio::time::sleep(config.shutdown_grace);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            next = in_flight.join_next() => if next.is_none() { break },
            _ = &mut grace => {
                tracing::warn!(left = in_flight.len(), "shutdown grace over; abandoning deliveries in flight");
                in_flight.abort_all();
                break;
            }
        }
    }
    drop(records_tx);
    let _ = recorder.await;
    match shared.store.release_leases_of(&shared.node_id).await {
        Ok(released) if released > 0 => tracing::info!(released, "released delivery leases at shutdown"),
        Ok(_) => {}
        Err(error) => tracing::error!(%error, "could not release delivery leases at shutdown"),
    }
    tracing::info!(node_id = %shared.node_id, "delivery engine stopped");
}

/// Takes a delivery handed over at commit, unless its URL already has its fill in hand: then the
/// lease is given back and the delivery waits its turn in the table like any other.
fn take_handoff(
    shared: &Arc<Shared>,
    in_flight: &mut JoinSet<()>,
    delivery: ClaimedDelivery,
    records: &mpsc::UnboundedSender<AttemptRecord>,
    backlog_per_url: usize,
    overflow: &mut Vec<String>,
) {
    let held = endpoint_slot(shared, &delivery.endpoint_id).held.load(std::sync::atomic::Ordering::Relaxed);
    if held >= backlog_per_url {
        overflow.push(delivery.id);
    } else {
        start_attempt(shared, in_flight, delivery, records);
    }
}

async fn release_overflow(shared: &Shared, overflow: Vec<String>) {
    if overflow.is_empty() {
        return;
    }
    if let Err(error) = shared.store.release_leases(&overflow).await {
        tracing::error!(%error, "could not give back hand-offs for a busy URL; their leases will expire");
    }
}

fn start_attempt(
    shared: &Arc<Shared>,
    in_flight: &mut JoinSet<()>,
    delivery: ClaimedDelivery,
    records: &mpsc::UnboundedSender<AttemptRecord>,
) {
    let slot = endpoint_slot(shared, &delivery.endpoint_id);
    slot.held.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    in_flight.spawn(attempt(shared.clone(), slot, delivery, records.clone()));
}

fn endpoint_slot(shared: &Shared, endpoint_id: &str) -> Arc<EndpointSlot> {
    lock(&shared.endpoints)
        .entry(endpoint_id.to_owned())
        .or_insert_with(|| {
            Arc::new(EndpointSlot {
                permits: Semaphore::new(shared.config.max_in_flight_per_url.max(1)),
                held: std::sync::atomic::AtomicUsize::new(0),
            })
        })
        .clone()
}

async fn secret_for(shared: &Shared, endpoint_id: &str) -> Option<WebhookSecret> {
    if let Some(secret) = lock(&shared.secrets).get(endpoint_id) {
        return Some(secret.clone());
    }
    match shared.store.endpoint_secret(endpoint_id).await {
        Ok(secret) => {
            lock(&shared.secrets).insert(endpoint_id.to_owned(), secret.clone());
            Some(secret)
        }
        Err(error) => {
            tracing::error!(%error, endpoint_id, "cannot read the endpoint's signing secret");
            None
        }
    }
}

async fn attempt(
    shared: Arc<Shared>,
    slot: Arc<EndpointSlot>,
    delivery: ClaimedDelivery,
    records: mpsc::UnboundedSender<AttemptRecord>,
) {
    let record = {
        let _url_permit = slot.permits.acquire().await;
        let _global_permit = shared.global.acquire().await;
        attempt_once(&shared, &delivery).await
    };
    slot.held.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    let _ = records.send(record);
    shared.room.notify_one();
}

async fn attempt_once(shared: &Shared, delivery: &ClaimedDelivery) -> AttemptRecord {
    let started_at_ms = now_ms();
    // Without its signing secret a delivery cannot be sent; the failure is recorded like any other, so
    // it is visible in the attempt log and retried on schedule instead of sitting on a lease.
    let report = match secret_for(shared, &delivery.endpoint_id).await {
        Some(secret) => {
            let request = prepare(delivery, &secret, started_at_ms / 1000);
            send(&shared.client, &shared.config, &delivery.url, request).await
        }
        None => crate::sender::AttemptReport {
            answer: crate::schedule::Answer::default(),
            latency: Duration::ZERO,
            excerpt: None,
            error: Some("the endpoint's signing secret could not be read on this node".to_owned()),
        },
    };
    let outcome = decide(&report.answer, delivery.round_attempts, &shared.config, now_ms());
    let latency_ms = report.latency.as_millis() as i64;
    metrics::counter!("countersign_callback_attempts_total", "outcome" => outcome_label(outcome)).increment(1);
    metrics::histogram!("countersign_callback_attempt_seconds").record(report.latency.as_secs_f64());
    if outcome == Outcome::Delivered {
        tracing::debug!(event_id = %delivery.event_id, delivery_id = %delivery.id, callback_host = %callback_host(&delivery.url), latency_ms, "callback delivered");
    } else {
        tracing::info!(
            event_id = %delivery.event_id,
            delivery_id = %delivery.id,
            callback_host = %callback_host(&delivery.url),
            status = report.answer.status,
            error = report.error.as_deref().unwrap_or(""),
            outcome = outcome_label(outcome),
            "callback attempt failed"
        );
    }
    AttemptRecord {
        delivery_id: delivery.id.clone(),
        endpoint_id: delivery.endpoint_id.clone(),
        account_id: delivery.account_id.clone(),
        attempt_no: delivery.attempts + 1,
        started_at_ms,
        latency_ms,
        url: delivery.url.clone(),
        status_code: report.answer.status.map(i64::from),
        response_excerpt: report.excerpt,
        error: report.error,
        outcome,
    }
}

/// The host of a callback URL, for logs (tracing evaluates it only when the event is enabled).
fn callback_host(url: &str) -> String {
    url::Url::parse(url).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
}

fn outcome_label(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Delivered => "delivered",
        Outcome::Retry { .. } => "retry",
        Outcome::Dead => "dead",
        Outcome::Gone => "gone",
    }
}

/// Writes finished attempts in batches (group commit). A failed write is retried; if it keeps
/// failing, the leases run out and the deliveries are attempted again: at least once, never lost.
async fn record_loop(shared: Arc<Shared>, mut records: mpsc::UnboundedReceiver<AttemptRecord>) {
    let mut batch = Vec::with_capacity(1024);
    while records.recv_many(&mut batch, 1024).await > 0 {
        // A small batch waits a moment for company: one transaction for many results leaves the
        // database (SQLite's single writer especially) to the commits that make new events. Recording
        // later delays nothing a receiver sees.
        if batch.len() < 64 {
            let gather = tokio::time::sleep(Duration::from_millis(2));
            tokio::pin!(gather);
            loop {
                tokio::select! {
                    received = records.recv_many(&mut batch, 1024) => if received == 0 || batch.len() >= 64 { break },
                    _ = &mut gather => break,
                }
            }
        }
        let mut tries = 0u32;
        loop {
            match shared.store.record_attempts(&shared.node_id, &batch, shared.config.disable_after_dead).await {
                Ok(_) => break,
                Err(error) => {
                    tries += 1;
                    tracing::error!(%error, tries, records = batch.len(), "writing delivery attempts failed");
                    if tries >= 20 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50 * u64::from(tries))).await;
                }
            }
        }
        batch.clear();
    }
}

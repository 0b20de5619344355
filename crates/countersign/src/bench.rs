//! `countersign bench callbacks`: how fast committed events become acknowledged deliveries, measured
//! against the ceiling of the same HTTP stack in the same run.
//!
//! 1. A real acknowledging receiver starts on loopback; it notes when each callback (by `webhook-id`)
//!    arrives.
//! 2. `--endpoints K` accounts get a callback URL each; the run commits `--events N` events through the
//!    transactional outbox (batches of 500 per transaction, or one per transaction at `--rate R`/s)
//!    while the delivery engine runs. Deliveries/s = deliveries / (last ack − first commit);
//!    latency = ack − commit of each event.
//! 3. The ceiling: a bare keep-alive reqwest client posts the same multipart payloads to the same
//!    receiver with the same concurrency, and its requests/s is the bound the engine is compared with.
//! 4. One JSON line on stdout: `{"events", "deliveries_per_sec", "ceiling_per_sec", "ratio", "p50_ms",
//!    "p99_ms", "peak_rss_mb", …}`. Progress goes to stderr.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::extract::State;
use axum::http::HeaderMap;
use countersign_callback::{EventObject, EventType, NewEvent, multipart_body, multipart_boundary};
use countersign_delivery::{DeliveryConfig, DeliveryEngine};
use countersign_domain::email::EmailAddress;
use countersign_store::outbox::OutboxTargets;
use countersign_store::{NewAccount, Store};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::config::StorageConfig;
use crate::startup::open_store;

#[derive(Debug, Clone, clap::Args)]
pub struct CallbackBenchArgs {
    /// Events to commit (one delivery each).
    #[arg(long, default_value_t = 20_000)]
    pub events: usize,
    /// Distinct callback URLs (one account each); events are spread over them.
    #[arg(long, default_value_t = 1)]
    pub endpoints: usize,
    /// `postgres://…` to measure on PostgreSQL (a scratch schema is created); default SQLite in a temp dir.
    #[arg(long)]
    pub database_url: Option<String>,
    /// Commit at this steady rate (events/s, one per transaction) instead of as fast as possible.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Deliveries in flight per URL (the engine's and the ceiling client's concurrency per URL).
    #[arg(long, default_value_t = 32)]
    pub per_url: usize,
    /// Before the run, park this many deliveries for a disabled URL (memory must not grow with them).
    #[arg(long, default_value_t = 0)]
    pub parked: usize,
}

/// A signature request snapshot of realistic size, like the one `signature_request_sent` carries.
fn sample_signature_request(i: usize) -> serde_json::Value {
    let id = format!("{:040x}", i);
    json!({
        "signature_request_id": id,
        "test_mode": true,
        "title": "Mutual NDA",
        "original_title": "Mutual NDA",
        "subject": "Please sign this NDA",
        "message": "Hi, please sign the attached NDA at your earliest convenience. Thanks!",
        "metadata": {"custom_id": i, "team": "legal"},
        "created_at": 1_700_000_000 + i as i64,
        "expires_at": null,
        "is_complete": false,
        "is_declined": false,
        "has_error": false,
        "files_url": format!("https://sign.example.com/v3/signature_request/files/{id}"),
        "signing_url": null,
        "details_url": format!("https://sign.example.com/home/manage?guid={id}"),
        "requester_email_address": "owner@example.com",
        "signing_redirect_url": null,
        "cc_email_addresses": ["legal@example.com"],
        "custom_fields": [],
        "response_data": [],
        "signatures": [
            {"signature_id": format!("{:032x}", i * 2), "signer_email_address": "alice@example.com", "signer_name": "Alice",
             "order": 0, "status_code": "awaiting_signature", "signed_at": null, "last_viewed_at": null, "last_reminded_at": null, "has_pin": false},
            {"signature_id": format!("{:032x}", i * 2 + 1), "signer_email_address": "bob@example.com", "signer_name": "Bob",
             "order": 1, "status_code": "awaiting_signature", "signed_at": null, "last_viewed_at": null, "last_reminded_at": null, "has_pin": false}
        ]
    })
}

fn sent_event(i: usize) -> NewEvent {
    NewEvent {
        event_type: EventType::SignatureRequestSent,
        signature_request_id: Some(format!("{:040x}", i)),
        template_id: None,
        client_id: None,
        related_signature_id: None,
        event_message: None,
        object: Some(EventObject::SignatureRequest(sample_signature_request(i))),
    }
}

#[derive(Default)]
struct Arrivals {
    at: Vec<(String, Instant)>,
}

async fn receive(
    State(arrivals): State<Arc<Mutex<Arrivals>>>,
    headers: HeaderMap,
    _body: bytes::Bytes,
) -> &'static str {
    if let Some(id) = headers.get("webhook-id").and_then(|v| v.to_str().ok()) {
        arrivals.lock().unwrap_or_else(|p| p.into_inner()).at.push((id.to_owned(), Instant::now()));
    }
    "Hello API Event Received"
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| status.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|line| line.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(0.0, |kb| kb / 1024.0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub async fn run_callbacks(args: CallbackBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.events > 0 && args.endpoints > 0, "--events and --endpoints must be at least 1");
    let data_dir = tempfile::tempdir().context("creating a temporary data dir")?;
    let database_url = match &args.database_url {
        Some(url) => Some(countersign_store::postgres_scratch_schema(url, "cs_bench").await?),
        None => None,
    };
    let storage = StorageConfig { data_dir: data_dir.path().to_owned(), database_url, master_key: None };
    let store = Arc::new(open_store(&storage).await?);
    // As the server runs it: WAL checkpoints on SQLite, LISTEN on PostgreSQL.
    let (stop_listener, listener_stopped) = tokio::sync::watch::channel(false);
    let store_listener = store.spawn_listener(listener_stopped);

    // The receiver.
    let arrivals = Arc::new(Mutex::new(Arrivals::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver_addr = listener.local_addr()?;
    let app = axum::Router::new().fallback(receive).with_state(arrivals.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    // Accounts, one callback URL each.
    let mut targets: Vec<OutboxTargets> = Vec::new();
    for k in 0..args.endpoints {
        let email =
            EmailAddress::parse(&format!("bench{k}@example.com"), "email").map_err(|e| anyhow::anyhow!(e.message))?;
        let (account, _) = store.create_account(NewAccount { email, locale: "en-US".into() }).await?;
        let url = format!("http://{receiver_addr}/k{k}");
        let update = countersign_domain::account::AccountUpdate { callback_url: Some(Some(url)), locale: None };
        store.update_account(&account.id, &update).await?;
        targets.push(store.outbox_targets(&account.id, &[]).await?);
    }
    if args.parked > 0 {
        park(&store, args.parked).await?;
    }

    let config = DeliveryConfig {
        allow_private: true,
        max_in_flight_per_url: args.per_url,
        max_in_flight: (args.per_url * args.endpoints).clamp(1, 4096),
        poll_interval: Duration::from_millis(500),
        ..DeliveryConfig::default()
    };
    let concurrency = config.max_in_flight;
    // At a steady --rate the engine runs while events are committed (latency); otherwise all events are
    // committed first and the engine then drains them (throughput).
    let mut engine = match args.rate {
        Some(_) => Some(DeliveryEngine::spawn(store.clone(), config.clone())?),
        None => None,
    };

    // Commit the events while the engine delivers them.
    eprintln!(
        "bench: committing {} events over {} endpoint(s){}",
        args.events,
        args.endpoints,
        args.rate.map(|r| format!(" at {r}/s")).unwrap_or_default()
    );
    let committed: Arc<Mutex<HashMap<String, Instant>>> = Arc::new(Mutex::new(HashMap::with_capacity(args.events)));
    let started = Instant::now();
    let mut last_progress = Instant::now();
    match args.rate {
        // A steady stream, as from many API requests at once: each event commits in its own
        // transaction at its due time, concurrently with the others (so PostgreSQL can group commits).
        Some(rate) => {
            let permits = Arc::new(Semaphore::new(256));
            let mut commits = tokio::task::JoinSet::new();
            for i in 0..args.events {
                let due = started + Duration::from_secs_f64(i as f64 / rate.max(1) as f64);
                tokio::time::sleep_until(due.into()).await;
                let permit = permits.clone().acquire_owned().await?;
                let (store, target, committed) = (store.clone(), targets[i % targets.len()].clone(), committed.clone());
                commits.spawn(async move {
                    let inserted = store.record_events(&target, &[sent_event(i)]).await;
                    let at = Instant::now();
                    drop(permit);
                    let mut committed = committed.lock().unwrap_or_else(|p| p.into_inner());
                    for event in inserted? {
                        committed.insert(event.event_id, at);
                    }
                    Ok::<_, countersign_store::StoreError>(())
                });
                while let Some(done) = commits.try_join_next() {
                    done??;
                }
                if last_progress.elapsed() >= Duration::from_secs(1) {
                    last_progress = Instant::now();
                    let delivered = arrivals.lock().unwrap_or_else(|p| p.into_inner()).at.len();
                    eprintln!("bench: committed {i}/{} delivered {delivered}", args.events);
                }
            }
            while let Some(done) = commits.join_next().await {
                done??;
            }
        }
        // As fast as one writer can: batches of 500 events per transaction.
        None => {
            for (n, chunk) in (0..args.events).collect::<Vec<_>>().chunks(500).enumerate() {
                let events: Vec<NewEvent> = chunk.iter().map(|i| sent_event(*i)).collect();
                let inserted = store.record_events(&targets[n % targets.len()], &events).await?;
                let at = Instant::now();
                let mut committed = committed.lock().unwrap_or_else(|p| p.into_inner());
                for event in inserted {
                    committed.insert(event.event_id, at);
                }
                if last_progress.elapsed() >= Duration::from_secs(1) {
                    last_progress = Instant::now();
                    eprintln!("bench: committed {}/{}", (n + 1) * 500, args.events);
                }
            }
        }
    }
    let committed_in = started.elapsed();
    let delivery_started = Instant::now();
    if engine.is_none() {
        eprintln!("bench: committed {} events in {:.2}s; delivering", args.events, committed_in.as_secs_f64());
        engine = Some(DeliveryEngine::spawn(store.clone(), config.clone())?);
    }
    let measured_from = if args.rate.is_some() { started } else { delivery_started };
    // Wait for every event to be acknowledged.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let delivered = arrivals.lock().unwrap_or_else(|p| p.into_inner()).at.len();
        if delivered >= args.events {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "only {delivered} of {} delivered after 10 minutes", args.events);
        if last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            eprintln!("bench: committed {}/{} delivered {delivered}", args.events, args.events);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let arrivals_done = std::mem::take(&mut arrivals.lock().unwrap_or_else(|p| p.into_inner()).at);
    let last_ack = arrivals_done.iter().map(|(_, at)| *at).max().unwrap_or(measured_from);
    let elapsed = last_ack.duration_since(measured_from).as_secs_f64();
    let deliveries_per_sec = args.events as f64 / elapsed;
    let committed = std::mem::take(&mut *committed.lock().unwrap_or_else(|p| p.into_inner()));
    let mut latencies: Vec<f64> = arrivals_done
        .iter()
        .filter_map(|(id, at)| committed.get(id).map(|c| at.saturating_duration_since(*c).as_secs_f64() * 1000.0))
        .collect();
    latencies.sort_by(|a, b| a.total_cmp(b));
    // Let the recorder write the last attempts, then stop.
    if let Some(engine) = engine {
        engine.shutdown().await;
    }
    let states = store.delivery_state_counts().await?;
    let parked_now = states.iter().find(|(state, _)| state == "parked").map_or(0, |(_, n)| *n);
    anyhow::ensure!(parked_now as usize == args.parked, "{parked_now} deliveries parked, expected {}", args.parked);
    eprintln!("bench: engine done in {elapsed:.2}s ({deliveries_per_sec:.0}/s); delivery states {states:?}");

    // The ceiling: the same payloads, the same receiver, a bare keep-alive client, the same concurrency.
    let ceiling_per_sec = ceiling(&store, &targets, receiver_addr, args.events, concurrency, args.per_url).await?;
    let _ = stop_listener.send(true);
    let _ = store_listener.await;
    store.close().await;
    let result = json!({
        "events": args.events,
        "endpoints": args.endpoints,
        "database": if args.database_url.is_some() { "postgres" } else { "sqlite" },
        "rate": args.rate,
        "parked": args.parked,
        "commits_per_sec": (args.events as f64 / committed_in.as_secs_f64()).round(),
        "deliveries_per_sec": deliveries_per_sec.round(),
        "ceiling_per_sec": ceiling_per_sec.round(),
        "ratio": ((deliveries_per_sec / ceiling_per_sec) * 1000.0).round() / 1000.0,
        "p50_ms": (percentile(&latencies, 50.0) * 1000.0).round() / 1000.0,
        "p99_ms": (percentile(&latencies, 99.0) * 1000.0).round() / 1000.0,
        "peak_rss_mb": (peak_rss_mb() * 10.0).round() / 10.0,
    });
    println!("{result}");
    Ok(())
}

/// Posts the bench's payloads with a bare reqwest client: what the stack can do with no outbox.
async fn ceiling(
    store: &Store,
    targets: &[OutboxTargets],
    addr: std::net::SocketAddr,
    events: usize,
    concurrency: usize,
    per_url: usize,
) -> anyhow::Result<f64> {
    let sample = store.events_feed(&targets[0].account_id, None, 1).await?;
    let payload =
        sample.events.first().and_then(|e| e.deliveries.first()).map(|d| d.payload.clone()).unwrap_or_default();
    let boundary = multipart_boundary("01a22b62-0000-7000-8000-000000000000");
    let body = bytes::Bytes::from(multipart_body(&boundary, &payload));
    let client = reqwest::Client::builder().no_proxy().pool_max_idle_per_host(per_url).tcp_nodelay(true).build()?;
    let permits = Arc::new(Semaphore::new(concurrency));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..events {
        let permit = permits.clone().acquire_owned().await?;
        let client = client.clone();
        let body = body.clone();
        let url = format!("http://{addr}/k{}", i % targets.len());
        let content_type = format!("multipart/form-data; boundary={boundary}");
        tasks.spawn(async move {
            let ok = match client.post(url).header("content-type", content_type).body(body).send().await {
                Ok(response) => {
                    response.status() == 200 && response.bytes().await.is_ok_and(|b| b.starts_with(b"Hello API"))
                }
                Err(_) => false,
            };
            drop(permit);
            ok
        });
        while tasks.try_join_next().is_some() {}
    }
    let mut failures = 0;
    while let Some(done) = tasks.join_next().await {
        if !done.unwrap_or(false) {
            failures += 1;
        }
    }
    anyhow::ensure!(failures == 0, "{failures} ceiling requests failed");
    let per_sec = events as f64 / started.elapsed().as_secs_f64();
    eprintln!("bench: ceiling {per_sec:.0}/s (bare client, concurrency {concurrency})");
    Ok(per_sec)
}

/// Parks `count` deliveries for a disabled URL, as after a long outage, in batches.
async fn park(store: &Store, count: usize) -> anyhow::Result<()> {
    let email = EmailAddress::parse("parked@example.com", "email").map_err(|e| anyhow::anyhow!(e.message))?;
    let (account, _) = store.create_account(NewAccount { email, locale: "en-US".into() }).await?;
    let url = "http://127.0.0.1:9/dead";
    let update = countersign_domain::account::AccountUpdate { callback_url: Some(Some(url.into())), locale: None };
    store.update_account(&account.id, &update).await?;
    store.endpoint_for(&account.id, url).await?;
    anyhow::ensure!(
        store.disable_endpoint(&account.id, url, "disabled by the benchmark to park deliveries").await?,
        "the endpoint to park deliveries for was not found"
    );
    let targets = store.outbox_targets(&account.id, &[]).await?;
    let started = Instant::now();
    let mut done = 0;
    while done < count {
        let size = 2000.min(count - done);
        let events: Vec<NewEvent> = (0..size).map(|_| NewEvent::callback_test(None)).collect();
        store.record_events(&targets, &events).await?;
        done += size;
        if done % 100_000 < 2000 {
            eprintln!("bench: parked {done}/{count} ({:.0}s)", started.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

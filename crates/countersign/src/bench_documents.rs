//! `countersign bench tags` and `countersign bench requests`.
//!
//! - `tags`: text-tag extraction over a folder of PDFs, pages/s, against poppler's `pdftotext -bbox` on
//!   the same files in the same run (rounds interleaved; one `pdftotext` process per file, as a user
//!   would run it). Medians of the rounds, and their ratio.
//! - `requests`: the real server in-process (port 0, rate limit off), driven over HTTP by a keep-alive
//!   client with `--concurrency` requests in flight: `POST /v3/signature_request/create_embedded` with a
//!   one-page PDF (multipart, as the SDKs send it; the document worker runs meanwhile), then
//!   `GET /v3/signature_request/{id}`. The baseline is the same client against a bare axum server on
//!   the same machine that reads the same request and answers the same bytes — the HTTP stack's ceiling.
//!
//! One JSON line on stdout per benchmark; progress on stderr.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::config::ServerConfig;
use crate::startup::Application;

#[derive(Debug, Clone, clap::Args)]
pub struct TagsBenchArgs {
    /// Folder of PDFs (every `*.pdf` that reads as a PDF is measured).
    #[arg(long, default_value = "fixtures/pdf")]
    pub dir: PathBuf,
    /// Rounds over all files, for each of the two tools.
    #[arg(long, default_value_t = 7)]
    pub rounds: usize,
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

pub fn run_tags(args: TagsBenchArgs) -> anyhow::Result<()> {
    let mut files: Vec<(PathBuf, Vec<u8>, usize)> = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&args.dir)
        .with_context(|| format!("reading {}", args.dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("pdf")))
        .collect();
    entries.sort();
    let limits = countersign_pdf::Limits::default();
    for path in entries {
        let bytes = std::fs::read(&path)?;
        if let Ok(analysis) = countersign_pdf::analyze(&bytes, &limits) {
            let pages = analysis.pages.len();
            files.push((path, bytes, pages));
        }
    }
    anyhow::ensure!(!files.is_empty(), "no readable PDF in {}", args.dir.display());
    let pages: usize = files.iter().map(|f| f.2).sum();
    eprintln!("bench tags: {} files, {pages} pages, {} rounds each", files.len(), args.rounds);
    let poppler = Path::new("/usr/bin/pdftotext").exists() || which("pdftotext");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let started = Instant::now();
        let mut tags = 0;
        for (_, bytes, _) in &files {
            tags += countersign_pdf::analyze(bytes, &limits).map(|a| a.tags.len()).unwrap_or(0);
        }
        ours.push(pages as f64 / started.elapsed().as_secs_f64());
        if poppler {
            let started = Instant::now();
            for (path, _, _) in &files {
                let out = std::process::Command::new("pdftotext")
                    .args(["-bbox"])
                    .arg(path)
                    .arg("-")
                    .output()
                    .context("running pdftotext")?;
                anyhow::ensure!(out.status.success(), "pdftotext failed on {}", path.display());
            }
            theirs.push(pages as f64 / started.elapsed().as_secs_f64());
        }
        eprintln!(
            "  round {}/{}: countersign {:.0} pages/s ({tags} tags){}",
            round + 1,
            args.rounds,
            ours[round],
            theirs.get(round).map(|p| format!(", pdftotext -bbox {p:.0} pages/s")).unwrap_or_default()
        );
    }
    let (ours, theirs) = (median(ours), median(theirs));
    let line = json!({
        "bench": "tags",
        "files": files.len(),
        "pages": pages,
        "rounds": args.rounds,
        "countersign_pages_per_sec": ours.round(),
        "pdftotext_bbox_pages_per_sec": if poppler { json!(theirs.round()) } else { Value::Null },
        "ratio": if poppler { json!((ours / theirs * 100.0).round() / 100.0) } else { Value::Null },
    });
    println!("{line}");
    Ok(())
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

#[derive(Debug, Clone, clap::Args)]
pub struct RequestsBenchArgs {
    /// Seconds per measured phase.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// The one-page PDF to upload.
    #[arg(long, default_value = "fixtures/pdf/simple-two-signers.pdf")]
    pub pdf: PathBuf,
    /// `postgres://…` to measure on PostgreSQL (a scratch schema is created); default SQLite in a temp dir.
    #[arg(long)]
    pub database_url: Option<String>,
}

/// Drives `make` with `concurrency` requests in flight for `seconds`; returns (requests/s, failures).
pub(crate) async fn drive<F, Fut>(seconds: u64, concurrency: usize, make: F) -> (f64, u64)
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let make = Arc::new(make);
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (make, done, failed, stop) = (make.clone(), done.clone(), failed.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = worker as u64;
            while !stop.load(Ordering::Relaxed) {
                if make(i).await {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                i += concurrency as u64;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    (done.load(Ordering::Relaxed) as f64 / elapsed, failed.load(Ordering::Relaxed))
}

fn create_form(client_id: &str, pdf: &[u8], i: u64) -> reqwest::multipart::Form {
    reqwest::multipart::Form::new()
        .text("client_id", client_id.to_owned())
        .text("title", format!("Bench request {i}"))
        .text("test_mode", "true")
        .text("use_text_tags", "true")
        .text("signers", r#"[{"name":"Alice","email_address":"alice@example.com"},{"name":"Bob","email_address":"bob@example.com"}]"#)
        .text("metadata", format!(r#"{{"custom_id":{i}}}"#))
        .part("files[0]", reqwest::multipart::Part::bytes(pdf.to_vec()).file_name("contract.pdf"))
}

/// A bare axum server answering what the real one answers, with no work behind it.
async fn baseline_server(create_answer: String, get_answer: String) -> anyhow::Result<String> {
    use axum::routing::{get, post};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let create_answer = Arc::new(create_answer);
    let get_answer = Arc::new(get_answer);
    let app = axum::Router::new()
        .route(
            "/v3/signature_request/create_embedded",
            post(move |mut multipart: axum::extract::Multipart| {
                let answer = create_answer.clone();
                async move {
                    while let Ok(Some(field)) = multipart.next_field().await {
                        let _ = field.bytes().await;
                    }
                    ([("content-type", "application/json")], answer.as_str().to_owned())
                }
            }),
        )
        .route(
            "/v3/signature_request/{id}",
            get(move || {
                let answer = get_answer.clone();
                async move { ([("content-type", "application/json")], answer.as_str().to_owned()) }
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(base)
}

/// A server for a benchmark: a fresh data directory (SQLite) or a fresh PostgreSQL schema, no rate
/// limit, large bodies allowed, its default account's key.
pub(crate) struct BenchServer {
    pub base: String,
    pub key: String,
    pub stop_tx: tokio::sync::oneshot::Sender<()>,
    pub server: tokio::task::JoinHandle<anyhow::Result<()>>,
    pub _data_dir: tempfile::TempDir,
}

impl BenchServer {
    pub(crate) async fn start(database_url: Option<&str>) -> anyhow::Result<Self> {
        let data_dir = tempfile::tempdir()?;
        let mut config = ServerConfig::for_data_dir("127.0.0.1:0", data_dir.path());
        config.rate_limit_per_minute = 0;
        config.max_body_bytes = 64 << 20;
        if let Some(url) = database_url {
            config.storage.database_url = Some(countersign_store::postgres_scratch_schema(url, "cs_bench").await?);
        }
        let app = Application::build(config).await?;
        let key = app.first_start.as_ref().map(|f| f.api_key.expose().to_owned()).context("a fresh default account")?;
        let base = format!("http://{}", app.local_addr());
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async move {
            let _ = stop_rx.await;
        }));
        Ok(Self { base, key, stop_tx, server, _data_dir: data_dir })
    }
}

pub async fn run_requests(args: RequestsBenchArgs) -> anyhow::Result<()> {
    let pdf = std::fs::read(&args.pdf).with_context(|| format!("reading {}", args.pdf.display()))?;
    let BenchServer { base, key, stop_tx, server, _data_dir } =
        BenchServer::start(args.database_url.as_deref()).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).tcp_nodelay(true).build()?;
    let app_created: Value = client
        .post(format!("{base}/v3/api_app"))
        .basic_auth(&key, Some(""))
        .json(&json!({"name": "Bench", "domains": ["example.com"]}))
        .send()
        .await?
        .json()
        .await?;
    let client_id = app_created["api_app"]["client_id"].as_str().context("an API app")?.to_owned();

    // Phase 1: create_embedded.
    eprintln!("bench requests: create_embedded for {}s with {} in flight", args.seconds, args.concurrency);
    let ids = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (create_rps, create_failed) = {
        let (client, base, key, client_id, pdf, ids) =
            (client.clone(), base.clone(), key.clone(), client_id.clone(), Arc::new(pdf.clone()), ids.clone());
        drive(args.seconds, args.concurrency, move |i| {
            let (client, base, key, client_id, pdf, ids) =
                (client.clone(), base.clone(), key.clone(), client_id.clone(), pdf.clone(), ids.clone());
            async move {
                let sent = client
                    .post(format!("{base}/v3/signature_request/create_embedded"))
                    .basic_auth(&key, Some(""))
                    .multipart(create_form(&client_id, &pdf, i))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => match r.json::<Value>().await {
                        Ok(body) => {
                            if let Some(id) = body["signature_request"]["signature_request_id"].as_str() {
                                ids.lock().unwrap_or_else(|p| p.into_inner()).push(id.to_owned());
                            }
                            true
                        }
                        Err(_) => false,
                    },
                    _ => false,
                }
            }
        })
        .await
    };
    let ids: Vec<String> = ids.lock().unwrap_or_else(|p| p.into_inner()).clone();
    anyhow::ensure!(!ids.is_empty(), "no request was created");
    eprintln!("  {create_rps:.0} requests/s ({} created, {create_failed} failed)", ids.len());

    // Let the worker finish the backlog so GET measures reads, not reads competing with processing.
    let drain_started = Instant::now();
    loop {
        let last = &ids[ids.len() - 1];
        let fields = client.get(format!("{base}/v3/signature_request/fields/{last}")).basic_auth(&key, Some(""));
        if fields.send().await?.status() == 200 || drain_started.elapsed() > Duration::from_secs(600) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained_in = drain_started.elapsed().as_secs_f64();
    eprintln!("  the worker processed the backlog {drained_in:.1}s after the phase ended");

    // Phase 2: GET.
    eprintln!("bench requests: GET for {}s with {} in flight", args.seconds, args.concurrency);
    let sample_get = client
        .get(format!("{base}/v3/signature_request/{}", ids[0]))
        .basic_auth(&key, Some(""))
        .send()
        .await?
        .text()
        .await?;
    let ids = Arc::new(ids);
    let (get_rps, get_failed) = {
        let (client, base, key, ids) = (client.clone(), base.clone(), key.clone(), ids.clone());
        drive(args.seconds, args.concurrency, move |i| {
            let (client, base, key, ids) = (client.clone(), base.clone(), key.clone(), ids.clone());
            async move {
                let id = &ids[i as usize % ids.len()];
                match client.get(format!("{base}/v3/signature_request/{id}")).basic_auth(&key, Some("")).send().await {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        })
        .await
    };
    eprintln!("  {get_rps:.0} requests/s ({get_failed} failed)");
    let _ = stop_tx.send(());
    let _ = server.await;

    // Baseline: the same client and payloads against a bare server.
    eprintln!("bench requests: baseline (bare axum server, same payloads)");
    let bare = baseline_server(sample_get.clone(), sample_get.clone()).await?;
    let pdf = Arc::new(pdf);
    let (bare_create, _) = {
        let (client, bare, pdf) = (client.clone(), bare.clone(), pdf.clone());
        drive(args.seconds, args.concurrency, move |i| {
            let (client, bare, pdf) = (client.clone(), bare.clone(), pdf.clone());
            async move {
                let sent = client
                    .post(format!("{bare}/v3/signature_request/create_embedded"))
                    .multipart(create_form("x", &pdf, i))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        })
        .await
    };
    let (bare_get, _) = {
        let (client, bare) = (client.clone(), bare.clone());
        drive(args.seconds, args.concurrency, move |_| {
            let (client, bare) = (client.clone(), bare.clone());
            async move {
                let sent = client.get(format!("{bare}/v3/signature_request/{}", "a".repeat(40))).send().await;
                match sent {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        })
        .await
    };
    let line = json!({
        "bench": "requests",
        "database": if args.database_url.is_some() { "postgres" } else { "sqlite" },
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "create_embedded_per_sec": create_rps.round(),
        "create_embedded_failed": create_failed,
        "create_embedded_baseline_per_sec": bare_create.round(),
        "create_embedded_ratio": (create_rps / bare_create * 100.0).round() / 100.0,
        "worker_backlog_drained_s": (drained_in * 10.0).round() / 10.0,
        "get_per_sec": get_rps.round(),
        "get_failed": get_failed,
        "get_baseline_per_sec": bare_get.round(),
        "get_ratio": (get_rps / bare_get * 100.0).round() / 100.0,
    });
    println!("{line}");
    Ok(())
}

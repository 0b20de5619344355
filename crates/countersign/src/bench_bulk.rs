//! `countersign bench bulk`: a bulk send of `--rows` rows (a JSON signer list for a one-role template)
//! — how long the API takes to answer, and how fast the worker turns rows into requests — beside the
//! same server taking `send_with_template` calls from `--concurrency` clients, the way a caller
//! without bulk send makes those requests.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use crate::bench_documents::{BenchServer, drive};

#[derive(Debug, Clone, clap::Args)]
pub struct BulkBenchArgs {
    /// Rows of the bulk send job.
    #[arg(long, default_value_t = 10_000)]
    pub rows: usize,
    /// Seconds of `send_with_template` calls for the baseline.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
    /// Calls in flight for the baseline.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// The template's document (text tags for one signer).
    #[arg(long, default_value = "fixtures/pdf/per-glyph-runs.pdf")]
    pub pdf: PathBuf,
    /// Run on a fresh schema of this PostgreSQL database instead of SQLite.
    #[arg(long)]
    pub database_url: Option<String>,
}

pub async fn run_bulk(args: BulkBenchArgs) -> anyhow::Result<()> {
    let pdf = std::fs::read(&args.pdf).with_context(|| format!("reading {}", args.pdf.display()))?;
    let BenchServer { base, key, stop_tx, server, _data_dir } =
        BenchServer::start(args.database_url.as_deref()).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).tcp_nodelay(true).build()?;
    let form = reqwest::multipart::Form::new()
        .text("title", "Bench consent")
        .text("signer_roles[0][name]", "Client")
        .text("test_mode", "1")
        .part("files[0]", reqwest::multipart::Part::bytes(pdf).file_name("consent.pdf"));
    let created: Value = client
        .post(format!("{base}/v3/template/create"))
        .basic_auth(&key, Some(""))
        .multipart(form)
        .send()
        .await?
        .json()
        .await?;
    let template = created["template"]["template_id"].as_str().context("a template")?.to_owned();
    let signer = |i: usize| json!({"role": "Client", "name": format!("Signer {i}"), "email_address": format!("s{i}@example.com")});
    // The template is ready when a request can be sent from it.
    let ready = Instant::now();
    loop {
        let body = json!({"template_ids": [template], "signers": [signer(0)], "test_mode": true});
        let sent = client
            .post(format!("{base}/v3/signature_request/send_with_template"))
            .basic_auth(&key, Some(""))
            .json(&body)
            .send()
            .await?;
        if sent.status() == 200 {
            break;
        }
        anyhow::ensure!(ready.elapsed() < Duration::from_secs(60), "the template was not ready in a minute");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    eprintln!("bench bulk: send_with_template for {}s with {} in flight", args.seconds, args.concurrency);
    let (single_rps, single_failed) = {
        let (client, base, key, template) = (client.clone(), base.clone(), key.clone(), template.clone());
        drive(args.seconds, args.concurrency, move |i| {
            let (client, base, key) = (client.clone(), base.clone(), key.clone());
            let body = json!({"template_ids": [template], "signers": [signer(i as usize)], "test_mode": true});
            async move {
                let sent = client
                    .post(format!("{base}/v3/signature_request/send_with_template"))
                    .basic_auth(&key, Some(""))
                    .json(&body)
                    .send()
                    .await;
                sent.is_ok_and(|r| r.status() == 200)
            }
        })
        .await
    };
    eprintln!("  {single_rps:.0} requests/s ({single_failed} failed)");

    eprintln!("bench bulk: one bulk_send_with_template of {} rows", args.rows);
    let list: Vec<Value> = (0..args.rows).map(|i| json!({"signers": [signer(i)]})).collect();
    let body = json!({"template_ids": [template], "signer_list": list, "test_mode": true});
    let started = Instant::now();
    let answer: Value = client
        .post(format!("{base}/v3/signature_request/bulk_send_with_template"))
        .basic_auth(&key, Some(""))
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    let answered = started.elapsed();
    let job = answer["bulk_send_job"]["bulk_send_job_id"].as_str().with_context(|| format!("a job: {answer}"))?;
    eprintln!("  answered in {} ms", answered.as_millis());
    let mut last_report = Instant::now();
    let made_all = loop {
        let got: Value = client
            .get(format!("{base}/v3/bulk_send_job/{job}?page_size=1"))
            .basic_auth(&key, Some(""))
            .send()
            .await?
            .json()
            .await?;
        let made = got["list_info"]["num_results"].as_u64().unwrap_or(0) as usize;
        if made >= args.rows {
            break started.elapsed();
        }
        if last_report.elapsed() > Duration::from_secs(2) {
            eprintln!("  {made}/{} requests made ({:.0}s)", args.rows, started.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
        anyhow::ensure!(started.elapsed() < Duration::from_secs(1800), "the job did not finish in 30 minutes");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let bulk_rps = args.rows as f64 / made_all.as_secs_f64();
    eprintln!("  {} requests made in {:.1} s: {bulk_rps:.0}/s", args.rows, made_all.as_secs_f64());
    println!(
        "{}",
        json!({
            "bench": "bulk",
            "database": if args.database_url.is_some() { "postgres" } else { "sqlite" },
            "rows": args.rows,
            "answer_ms": answered.as_millis(),
            "bulk_requests_per_s": bulk_rps.round(),
            "send_with_template_per_s": single_rps.round(),
            "ratio": (bulk_rps / single_rps.max(1.0) * 100.0).round() / 100.0,
        })
    );
    let _ = stop_tx.send(());
    server.await??;
    Ok(())
}

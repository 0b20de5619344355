//! `countersign trigger EVENT_TYPE [--to URL]`: asks a running server for a realistic sample event
//! (`POST /v3/x/trigger`) and follows its delivery attempt by attempt (`GET /v3/events/{id}`), one line
//! each, until it is acknowledged, dead, or `--wait` runs out. For developing a callback handler.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

#[derive(clap::Args, Debug, Clone)]
pub struct TriggerArgs {
    /// The event type: one of the 23 Dropbox Sign event types, e.g. `signature_request_signed`.
    pub event_type: String,
    /// Send it to this URL instead of the account's callback URL (it must pass the server's callback
    /// URL rules, e.g. `http://localhost:…` only with `COUNTERSIGN_ALLOW_PRIVATE_CALLBACKS`).
    #[arg(long)]
    pub to: Option<String>,
    /// The server's base URL.
    #[arg(long, env = "COUNTERSIGN_URL", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The account's API key.
    #[arg(long, env = "COUNTERSIGN_API_KEY", hide_env_values = true)]
    pub api_key: String,
    /// How long to follow the delivery: `30s`.
    #[arg(long, default_value = "30s")]
    pub wait: String,
}

/// Runs the command; `Ok(true)` when every delivery was acknowledged.
pub async fn run(args: TriggerArgs) -> anyhow::Result<bool> {
    let wait = countersign_delivery::config::parse_duration(&args.wait).map_err(|e| anyhow::anyhow!("--wait: {e}"))?;
    let base = args.server.trim_end_matches('/');
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let mut body = json!({ "event_type": args.event_type });
    if let Some(to) = &args.to {
        body["url"] = json!(to);
    }
    let response = http
        .post(format!("{base}/v3/x/trigger"))
        .basic_auth(&args.api_key, Some(""))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("reaching {base}"))?;
    let status = response.status();
    let answer: Value =
        response.json().await.with_context(|| format!("reading the answer of {base} (HTTP {status})"))?;
    if !status.is_success() {
        let message = answer["error"]["error_msg"].as_str().unwrap_or("no message");
        anyhow::bail!("the server refused (HTTP {status}): {message}");
    }
    let event_id = answer["event"]["event_id"].as_str().context("the answer names no event")?.to_owned();
    let urls: Vec<&str> =
        answer["event"]["deliveries"].as_array().into_iter().flatten().filter_map(|d| d["url"].as_str()).collect();
    eprintln!(
        "{} {event_id} queued for {}",
        args.event_type,
        if urls.is_empty() { "no URL".to_owned() } else { urls.join(", ") }
    );
    if urls.is_empty() {
        return Ok(false);
    }

    let deadline = Instant::now() + wait;
    let mut shown: HashSet<(String, i64)> = HashSet::new();
    loop {
        let detail: Value = http
            .get(format!("{base}/v3/events/{event_id}"))
            .basic_auth(&args.api_key, Some(""))
            .send()
            .await?
            .json()
            .await?;
        let deliveries = detail["event"]["deliveries"].as_array().cloned().unwrap_or_default();
        for delivery in &deliveries {
            let id = delivery["delivery_id"].as_str().unwrap_or_default().to_owned();
            for attempt in delivery["attempt_log"].as_array().into_iter().flatten() {
                let n = attempt["attempt"].as_i64().unwrap_or(0);
                if shown.insert((id.clone(), n)) {
                    println!("{}", attempt_line(delivery, attempt));
                }
            }
        }
        let settled = |d: &Value| matches!(d["state"].as_str(), Some("delivered" | "dead" | "parked"));
        if deliveries.iter().all(settled) {
            let all_delivered = deliveries.iter().all(|d| d["state"] == "delivered");
            for d in &deliveries {
                eprintln!("{}: {}", d["url"].as_str().unwrap_or("?"), d["state"].as_str().unwrap_or("?"));
            }
            return Ok(all_delivered);
        }
        if Instant::now() >= deadline {
            for d in deliveries.iter().filter(|d| !settled(d)) {
                eprintln!(
                    "{}: still {} after {} — the server keeps retrying (see GET /v3/events/{event_id})",
                    d["url"].as_str().unwrap_or("?"),
                    d["state"].as_str().unwrap_or("?"),
                    args.wait
                );
            }
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `attempt 1 → http://…: HTTP 200 in 12 ms, acknowledged`.
fn attempt_line(delivery: &Value, attempt: &Value) -> String {
    let url = attempt["url"].as_str().or(delivery["url"].as_str()).unwrap_or("?");
    let n = attempt["attempt"].as_i64().unwrap_or(0);
    let latency = attempt["latency_ms"].as_i64().map(|ms| format!(" in {ms} ms")).unwrap_or_default();
    let outcome = match attempt["outcome"].as_str() {
        Some("delivered") => "acknowledged",
        Some("retry") => "not acknowledged, will retry",
        Some("dead") => "not acknowledged, no retries left",
        Some("gone") => "410 Gone: the URL is disabled",
        Some(other) => other,
        None => "?",
    };
    let what = match (attempt["status_code"].as_i64(), attempt["error"].as_str()) {
        (Some(code), _) => format!("HTTP {code}{latency}"),
        (None, Some(error)) => format!("error: {error}"),
        (None, None) => "no answer".to_owned(),
    };
    format!("attempt {n} → {url}: {what}, {outcome}")
}

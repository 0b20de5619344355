use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, countersign_bin, spawn_app};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Lines of a child's stream, collected on a thread so the test can wait with a deadline.
fn lines_of(stream: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the first line matching `pred`, failing after `deadline`.
fn wait_for_line(rx: &mpsc::Receiver<String>, deadline: Duration, pred: impl Fn(&str) -> bool) -> String {
    let until = Instant::now() + deadline;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if pred(&line) => return line,
            Ok(_) => {}
            Err(e) => panic!("no expected line before the deadline: {e}"),
        }
    }
}

async fn wait_healthy(base: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    while Instant::now() < until {
        if reqwest::get(format!("{base}/healthz")).await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{base} did not become healthy");
}

/// Sends SIGTERM and waits for the exit without blocking the runtime (the test's own receiver may
/// still be answering the server's last callbacks).
async fn terminate_and_wait(mut child: Child) -> std::process::ExitStatus {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < until, "the server did not stop after SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn serve_prints_a_working_key_once_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let start = || {
        Command::new(countersign_bin())
            .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--log-format", "json", "--data-dir"])
            .arg(dir.path())
            .env_remove("COUNTERSIGN_DATABASE_URL")
            .env_remove("COUNTERSIGN_CONFIG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut child = start();
    let stdout = lines_of(child.stdout.take().unwrap());
    let stderr = lines_of(child.stderr.take().unwrap());
    let base_line = wait_for_line(&stdout, Duration::from_secs(30), |l| l.contains("API base URL:"));
    let api_base = base_line.split_whitespace().last().unwrap().to_owned();
    assert_eq!(api_base, format!("http://127.0.0.1:{port}/v3"));
    assert!(wait_for_line(&stdout, Duration::from_secs(5), |l| l.contains("Dashboard:")).ends_with("/dashboard"));
    let key_line = wait_for_line(&stdout, Duration::from_secs(5), |l| l.contains("API key:"));
    let key = key_line.split_whitespace().nth(2).unwrap().to_owned();
    assert_eq!(key.len(), 64);
    let me = reqwest::Client::new().get(format!("{api_base}/account")).basic_auth(&key, Some("")).send().await.unwrap();
    assert_eq!(me.status(), 200);
    // Logs are JSON lines on stderr and never contain the key.
    let log_line = wait_for_line(&stderr, Duration::from_secs(5), |l| l.contains("countersign is listening"));
    assert!(serde_json::from_str::<Value>(&log_line).is_ok(), "{log_line}");
    assert!(terminate_and_wait(child).await.success(), "graceful shutdown exits 0");
    let logs: Vec<String> = stderr.try_iter().collect();
    assert!(!logs.iter().any(|l| l.contains(&key)));

    // A second start on the same data dir keeps the account and prints no new key.
    let mut child = start();
    let stdout = lines_of(child.stdout.take().unwrap());
    wait_healthy(&format!("http://127.0.0.1:{port}")).await;
    let me = reqwest::Client::new().get(format!("{api_base}/account")).basic_auth(&key, Some("")).send().await.unwrap();
    assert_eq!(me.status(), 200, "the first key still works after a restart");
    assert!(terminate_and_wait(child).await.success());
    assert!(!stdout.try_iter().any(|l| l.contains("API key")));
}

#[tokio::test]
async fn flags_win_over_environment_which_wins_over_the_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let file_port = free_port();
    let env_port = free_port();
    let config = dir.path().join("countersign.toml");
    std::fs::write(
        &config,
        format!(
            "addr = \"127.0.0.1:{file_port}\"\ndata_dir = \"{}\"\ndefault_account_email = \"from-file@example.com\"\nrate_limit_per_minute = 7\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(countersign_bin())
        .args(["serve", "--rate-limit-per-minute", "9", "--config"])
        .arg(&config)
        .env("COUNTERSIGN_ADDR", format!("127.0.0.1:{env_port}"))
        .env_remove("COUNTERSIGN_DATA_DIR")
        .env_remove("COUNTERSIGN_DATABASE_URL")
        .env("COUNTERSIGN_RATE_LIMIT_PER_MINUTE", "8")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    let first = wait_for_line(&stdout, Duration::from_secs(30), |l| l.contains("default account"));
    assert!(first.contains("from-file@example.com"), "file setting used: {first}");
    let key_line = wait_for_line(&stdout, Duration::from_secs(5), |l| l.contains("API key:"));
    let key = key_line.split_whitespace().nth(2).unwrap().to_owned();
    let me = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{env_port}/v3/account"))
        .basic_auth(&key, Some(""))
        .send()
        .await
        .unwrap();
    assert_eq!(me.headers()["x-ratelimit-limit"], "9", "the flag wins over env and file");
    assert!(dir.path().join("data").join("countersign.sqlite3").exists(), "data dir from the file");
    assert!(terminate_and_wait(child).await.success());
}

async fn account_create_prints_one_json_object_with_a_working_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let output = app.cli_create_account("cli.user@example.com").await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.trim().lines().count(), 1, "exactly one line: {stdout}");
    let created: Value = serde_json::from_str(stdout.trim()).unwrap();
    let keys: Vec<&String> = created.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["account_id", "api_key", "claimed", "email_address"]);
    assert_eq!(created["claimed"], false);
    assert_eq!(created["email_address"], "cli.user@example.com");
    let me: Value = app
        .request_as(created["api_key"].as_str().unwrap(), reqwest::Method::GET, "/v3/account")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["account"]["account_id"], created["account_id"]);

    let duplicate = app.cli_create_account("CLI.user@example.com").await;
    assert!(!duplicate.status.success());
    assert!(String::from_utf8_lossy(&duplicate.stderr).contains("already exists"));
    assert!(duplicate.stdout.is_empty());
    let invalid = app.cli_create_account("not-an-email").await;
    assert!(!invalid.status.success());
    app.stop().await;
}
both_backends!(
    account_create_prints_one_json_object_with_a_working_key,
    account_create_prints_one_json_object_with_a_working_key
);

/// Starts `countersign serve` as its own process and returns it with its API key (read from stdout).
fn spawn_server(data_dir: &std::path::Path, port: u16, database_url: Option<&str>) -> (Child, mpsc::Receiver<String>) {
    let mut command = Command::new(countersign_bin());
    command
        .args(["serve", "--addr", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data_dir)
        .env("COUNTERSIGN_ALLOW_PRIVATE_CALLBACKS", "1")
        .env("COUNTERSIGN_CALLBACK_LEASE", "2s")
        .env("COUNTERSIGN_DOCUMENT_LEASE", "2s")
        .env("COUNTERSIGN_CALLBACK_RETRY_SCHEDULE", "200ms,200ms,200ms,200ms,200ms,200ms,200ms,200ms")
        .env_remove("COUNTERSIGN_CONFIG")
        .env_remove("COUNTERSIGN_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(url) = database_url {
        command.args(["--database-url", url]);
    }
    let mut child = command.spawn().unwrap();
    let stdout = lines_of(child.stdout.take().unwrap());
    (child, stdout)
}

/// `None` inside when the backend is SQLite; `None` outside when PostgreSQL is wanted but not reachable.
async fn database_for(backend: Backend) -> Option<Option<String>> {
    match backend {
        Backend::Sqlite => Some(None),
        Backend::Postgres => crate::helpers::fresh_postgres_schema().await.map(Some),
    }
}

/// The API key a fresh server prints on first start, once it is healthy.
async fn first_key(stdout: &mpsc::Receiver<String>, base: &str) -> String {
    let key_line = wait_for_line(stdout, Duration::from_secs(30), |l| l.contains("API key:"));
    let key = key_line.split_whitespace().nth(2).unwrap().to_owned();
    wait_healthy(base).await;
    key
}

async fn set_callback(client: &reqwest::Client, base: &str, key: &str, url: &str) {
    let set = client
        .put(format!("{base}/v3/account"))
        .basic_auth(key, Some(""))
        .json(&serde_json::json!({"callback_url": url}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), 200);
}

async fn deliveries_survive_sigkill(backend: Backend) {
    let Some(database_url) = database_for(backend).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let receiver = crate::receiver::Receiver::start().await;
    // Each delivery hangs long enough that the 40 commits below are surely done before the first
    // 32 (the per-URL limit) are answered: the kill then finds deliveries on the wire and others waiting.
    receiver.set_default("/cb", crate::receiver::Behaviour::Hang(Duration::from_secs(3)));
    let (child, stdout) = spawn_server(dir.path(), port, database_url.as_deref());
    let key = first_key(&stdout, &base).await;
    let client = reqwest::Client::new();
    set_callback(&client, &base, &key, &receiver.url("/cb")).await;
    let mut committed = Vec::new();
    for _ in 0..40 {
        let response =
            client.post(format!("{base}/v3/account/callback_test")).basic_auth(&key, Some("")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        committed.push(body["event"]["event_id"].as_str().unwrap().to_owned());
    }
    receiver.wait_count("/cb", 3, Duration::from_secs(15)).await;
    // SIGKILL: no shutdown path runs; deliveries in flight hold leases that nobody will release.
    let mut child = child;
    child.kill().unwrap();
    child.wait().unwrap();
    let before_restart: std::collections::HashSet<String> =
        receiver.received("/cb").iter().map(|r| r.json["event_id"].as_str().unwrap_or("").to_owned()).collect();
    let (child, _stdout) = spawn_server(dir.path(), port, database_url.as_deref());
    wait_healthy(&base).await;
    crate::helpers::wait_for(Duration::from_secs(30), "every committed event to arrive", || async {
        let got: std::collections::HashSet<String> =
            receiver.received("/cb").iter().map(|r| r.json["event_id"].as_str().unwrap_or("").to_owned()).collect();
        committed.iter().all(|id| got.contains(id)).then_some(())
    })
    .await;
    // At most max_in_flight_per_url (32) were on the wire when the process died.
    assert!(before_restart.len() < committed.len(), "the kill happened while deliveries were still under way");
    assert!(terminate_and_wait(child).await.success());
}
both_backends!(deliveries_survive_sigkill, deliveries_survive_sigkill);

async fn document_jobs_survive_sigkill(backend: Backend) {
    let Some(database_url) = database_for(backend).await else { return };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let receiver = crate::receiver::Receiver::start().await;
    // The documents arrive slowly, so jobs are mid-way (leased, fetching) when the process dies.
    let pdf = crate::signature_requests::fixture("simple-two-signers.pdf");
    let files = crate::receiver::Receiver::start_serving_after(pdf, Duration::from_millis(1500)).await;
    let (child, stdout) = spawn_server(dir.path(), port, database_url.as_deref());
    let key = first_key(&stdout, &base).await;
    let client = reqwest::Client::new();
    set_callback(&client, &base, &key, &receiver.url("/cb")).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let body = serde_json::json!({
            "title": format!("Request {i}"),
            "signers": [{"name": "A", "email_address": "a@example.com"}, {"name": "B", "email_address": "b@example.com"}],
            "file_urls": [files.url(&format!("/doc{i}.pdf"))],
            "use_text_tags": true
        });
        let response = client
            .post(format!("{base}/v3/signature_request/send"))
            .basic_auth(&key, Some(""))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let created: Value = response.json().await.unwrap();
        ids.push(created["signature_request"]["signature_request_id"].as_str().unwrap().to_owned());
    }
    // Kill while the first fetches are in flight: nothing was processed yet.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut child = child;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(receiver.received("/cb").iter().all(|r| r.json["event"]["event_type"] != "signature_request_sent"));
    let (child, _stdout) = spawn_server(dir.path(), port, database_url.as_deref());
    wait_healthy(&base).await;
    crate::helpers::wait_for(Duration::from_secs(60), "every request to be processed after the restart", || async {
        let sent: std::collections::HashSet<String> = receiver
            .received("/cb")
            .iter()
            .filter(|r| r.json["event"]["event_type"] == "signature_request_sent")
            .map(|r| r.json["signature_request"]["signature_request_id"].as_str().unwrap_or("").to_owned())
            .collect();
        ids.iter().all(|id| sent.contains(id)).then_some(())
    })
    .await;
    assert!(terminate_and_wait(child).await.success());
}
both_backends!(document_jobs_survive_sigkill, document_jobs_survive_sigkill);

#[test]
fn a_node_whose_master_key_does_not_match_the_database_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let create = |email: &str| {
        Command::new(countersign_bin())
            .args(["account", "create", "--email", email, "--data-dir"])
            .arg(dir.path())
            .env_remove("COUNTERSIGN_DATABASE_URL")
            .env_remove("COUNTERSIGN_MASTER_KEY")
            .output()
            .unwrap()
    };
    assert!(create("first@example.com").status.success());
    std::fs::write(dir.path().join("master.key"), "00".repeat(32)).unwrap();
    let refused = create("second@example.com");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("master key"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

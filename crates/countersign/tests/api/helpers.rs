//! `spawn_app`: the real server, built by `Application::build` exactly as `countersign serve` builds it,
//! on port 0, against a fresh SQLite file or a fresh PostgreSQL schema, talked to over HTTP.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use countersign::config::ServerConfig;
use countersign::startup::Application;
use countersign_delivery::DeliveryConfig;
use countersign_store::Store;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::Value;
use sqlx::Connection;
use tempfile::TempDir;
use tokio::sync::oneshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs a test body once per backend: `both_backends!(name, body_fn);`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$body($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test]
            async fn postgres() {
                super::$body($crate::helpers::Backend::Postgres).await
            }
        }
    };
}

pub struct TestApp {
    pub base: String,
    pub api_key: String,
    pub account_id: String,
    pub client: reqwest::Client,
    pub data_dir: TempDir,
    pub database_url: Option<String>,
    pub store: Arc<Store>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The PostgreSQL server tests use; `COUNTERSIGN_TEST_DATABASE_URL` overrides it.
pub fn postgres_admin_url() -> String {
    std::env::var("COUNTERSIGN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh schema on the test PostgreSQL server, as a database URL whose connections use it; `None`
/// (with a printed notice) when no server is reachable, unless `COUNTERSIGN_REQUIRE_POSTGRES=1`, in
/// which case that is a failure: CI must not pass by skipping.
pub async fn fresh_postgres_schema() -> Option<String> {
    let admin = postgres_admin_url();
    let connected = tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&admin)).await;
    let mut conn = match connected {
        Ok(Ok(conn)) => conn,
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".to_owned(),
            };
            if std::env::var("COUNTERSIGN_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("PostgreSQL is required (COUNTERSIGN_REQUIRE_POSTGRES=1) but {admin} is not reachable: {why}");
            }
            eprintln!("SKIPPED: PostgreSQL test, no server reachable at {admin} ({why})");
            return None;
        }
    };
    let now_ms = countersign_domain::time::now_ms();
    // Schemas of earlier runs older than an hour are removed; younger ones may belong to a run in flight.
    let stale: Vec<(String,)> =
        sqlx::query_as("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'cs\\_t\\_%'")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    for (name,) in stale {
        let created_ms: i64 = name.split('_').nth(2).and_then(|t| t.parse().ok()).unwrap_or(0);
        if created_ms + 3_600_000 < now_ms {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE")))
                .execute(&mut conn)
                .await;
        }
    }
    Some(countersign_store::postgres_scratch_schema(&admin, "cs_t").await.unwrap())
}

/// Settings a test may change before the server starts.
pub struct Options {
    pub allow_private_callbacks: bool,
    pub rate_limit_per_minute: u32,
    pub max_body_bytes: usize,
    pub delivery: DeliveryConfig,
    pub smtp_url: Option<String>,
    /// The HTTP edge's timeouts and connection cap (`max_body_bytes` is taken from above).
    pub http: countersign_api::server::ServeLimits,
    /// Failed authentications a minute from one address before 429; 0 (the tests' default) is off.
    pub auth_failures_per_minute: u32,
    pub api_account_create: bool,
    pub sign_url_lifetime: Duration,
    pub oauth_token_lifetime: Duration,
    /// Office documents converted by LibreOffice when it is on the PATH (the default), or never.
    pub office_converter: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            allow_private_callbacks: true,
            rate_limit_per_minute: 0,
            max_body_bytes: 10 * 1024 * 1024,
            delivery: DeliveryConfig { poll_interval: Duration::from_millis(500), ..DeliveryConfig::default() },
            smtp_url: None,
            http: countersign_api::server::ServeLimits::default(),
            auth_failures_per_minute: 0,
            api_account_create: true,
            sign_url_lifetime: Duration::from_secs(3600),
            oauth_token_lifetime: Duration::from_secs(3600),
            office_converter: true,
        }
    }
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, Options::default()).await
}

pub async fn spawn_app_with(backend: Backend, options: Options) -> Option<TestApp> {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::for_data_dir("127.0.0.1:0", data_dir.path());
    config.allow_private_callbacks = options.allow_private_callbacks;
    config.rate_limit_per_minute = options.rate_limit_per_minute;
    config.max_body_bytes = options.max_body_bytes;
    config.delivery = options.delivery;
    config.smtp_url = options.smtp_url;
    config.http = options.http;
    config.auth_failures_per_minute = options.auth_failures_per_minute;
    config.api_account_create = options.api_account_create;
    config.sign_url_lifetime = options.sign_url_lifetime;
    config.oauth_token_lifetime = options.oauth_token_lifetime;
    if !options.office_converter {
        config.worker.office = None;
    }
    config.default_account_email = "owner@example.com".to_owned();
    if backend == Backend::Postgres {
        config.storage.database_url = Some(fresh_postgres_schema().await?);
    }
    let database_url = config.storage.database_url.clone();
    let app = Application::build(config).await.expect("the application builds");
    let first = app.first_start.as_ref().expect("a fresh database gets a default account");
    let api_key = first.api_key.expose().to_owned();
    let store = app.store();
    let base = format!("http://{}", app.local_addr());
    let (tx, rx) = oneshot::channel();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let mut test_app = TestApp {
        base,
        api_key,
        account_id: String::new(),
        client,
        data_dir,
        database_url,
        store,
        shutdown: Some(tx),
        server: Some(server),
    };
    let me = test_app.get("/v3/account").await;
    assert_eq!(me.status(), 200);
    test_app.account_id = me.json::<Value>().await.unwrap()["account"]["account_id"].as_str().unwrap().to_owned();
    Some(test_app)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// `host:port`, for raw TCP clients.
    pub fn addr(&self) -> String {
        self.base.trim_start_matches("http://").to_owned()
    }

    /// The `Authorization` header value of the default account's key.
    pub fn basic_auth(&self) -> String {
        use base64::Engine;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{}:", self.api_key)))
    }

    /// A request authenticated with this app's default account key.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(&self.api_key, method, path)
    }

    pub fn request_as(&self, key: &str, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, self.url(path)).basic_auth(key, Some(""))
    }

    pub async fn get(&self, path: &str) -> Response {
        self.request(Method::GET, path).send().await.unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::POST, path).json(body).send().await.unwrap()
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> Response {
        self.request(Method::PUT, path).json(body).send().await.unwrap()
    }

    /// Creates another account through the CLI, exactly as an operator would, against this app's store.
    /// The CLI runs on the blocking pool: the server lives on this test's runtime, and blocking that
    /// thread mid-transaction would hold SQLite's write lock against the CLI until its busy timeout.
    pub async fn cli_create_account(&self, email: &str) -> std::process::Output {
        let mut command = std::process::Command::new(countersign_bin());
        command.args(["account", "create", "--email", email, "--data-dir"]).arg(self.data_dir.path());
        if let Some(url) = &self.database_url {
            command.args(["--database-url", url]);
        }
        command.env_remove("COUNTERSIGN_CONFIG");
        tokio::task::spawn_blocking(move || command.output())
            .await
            .expect("the CLI's thread finishes")
            .expect("the countersign binary runs")
    }

    /// A second account (via the CLI), returning its API key.
    pub async fn other_account_key(&self, email: &str) -> String {
        let output = self.cli_create_account(email).await;
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let created: Value = serde_json::from_slice(&output.stdout).unwrap();
        created["api_key"].as_str().unwrap().to_owned()
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

pub fn countersign_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_countersign"))
}

/// The `error` object of a Dropbox-Sign-format error answer, after checking the status and content type.
pub async fn expect_error(response: Response, status: u16, name: &str) -> Value {
    assert_eq!(response.status(), status, "status");
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("application/json"), "content type {content_type}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["error_name"], name, "{body}");
    assert!(body["error"]["error_msg"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body["error"].clone()
}

/// Waits until `check` returns `Some`, polling every 20 ms, failing after `deadline` with `what`.
pub async fn wait_for<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() >= until {
            panic!("timed out after {deadline:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

impl TestApp {
    /// Sets the account's callback URL through the API.
    pub async fn set_account_callback(&self, url: &str) {
        let response = self.put_json("/v3/account", &serde_json::json!({"callback_url": url})).await;
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    }

    /// Queues a `callback_test` to the account URL and returns its event id.
    pub async fn account_callback_test(&self) -> String {
        let response = self.request(Method::POST, "/v3/account/callback_test").send().await.unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["event"]["event_id"].as_str().unwrap().to_owned()
    }

    /// The event with its deliveries and attempt log.
    pub async fn event(&self, event_id: &str) -> Value {
        let response = self.get(&format!("/v3/events/{event_id}")).await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.unwrap()["event"].clone()
    }

    /// Waits until every delivery of the event is in `state`.
    pub async fn wait_event_state(&self, event_id: &str, state: &str, deadline: Duration) -> Value {
        wait_for(deadline, &format!("event {event_id} to be {state}"), || async {
            let event = self.event(event_id).await;
            let deliveries = event["deliveries"].as_array().cloned().unwrap_or_default();
            (!deliveries.is_empty() && deliveries.iter().all(|d| d["state"] == state)).then_some(event)
        })
        .await
    }
}

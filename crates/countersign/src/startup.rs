//! Building the application from its configuration, so tests start exactly what production starts
//! (`Application::build`, then `run_until_stopped`), on port 0 and against a fresh database.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use countersign_api::rate_limit::RateLimiter;
use countersign_api::server::{ServeLimits, serve};
use countersign_api::telemetry::prometheus_handle;
use countersign_api::{ApiConfig, AppState};
use countersign_delivery::{DeliveryConfig, DeliveryEngine};
use countersign_domain::account::DEFAULT_LOCALE;
use countersign_domain::callback_url::CallbackPolicy;
use countersign_domain::email::EmailAddress;
use countersign_domain::links::LinkSigner;
use countersign_domain::secrets::{ApiKey, MasterKey};
use countersign_store::blobs::BlobStore;
use countersign_store::{NewAccount, Store, StoreError};
use countersign_worker::{JobRunner, MailConfig, WorkerConfig};
use tokio::net::TcpListener;

use crate::config::{ServerConfig, StorageConfig};

const MASTER_KEY_FILE: &str = "master.key";

/// The master key: from the configuration, or from `<data dir>/master.key`, generated there (mode 0600)
/// on first start.
fn master_key(storage: &StorageConfig) -> anyhow::Result<MasterKey> {
    if let Some(hex_text) = &storage.master_key {
        return MasterKey::from_hex(hex_text).context("COUNTERSIGN_MASTER_KEY");
    }
    let path = storage.data_dir.join(MASTER_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => MasterKey::from_hex(&text).with_context(|| format!("reading {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let (key, hex_text) = MasterKey::generate();
            write_private_file(&path, &hex_text).with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated a new master key");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// Opens the configured store (SQLite under the data dir, or PostgreSQL), migrating it.
pub async fn open_store(storage: &StorageConfig) -> anyhow::Result<Store> {
    open_store_and_links(storage).await.map(|(store, _)| store)
}

/// [`open_store`], and the signer of links keyed from the same master key.
pub async fn open_store_and_links(storage: &StorageConfig) -> anyhow::Result<(Store, LinkSigner)> {
    std::fs::create_dir_all(&storage.data_dir)
        .with_context(|| format!("creating data dir {}", storage.data_dir.display()))?;
    let key = master_key(storage)?;
    let links = key.link_signer();
    let store = match &storage.database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Store::open_postgres(url, key).await.context("connecting to PostgreSQL")?
        }
        Some(url) if url.starts_with("sqlite:") => {
            let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
            Store::open_sqlite(Path::new(path), key).await.context("opening SQLite")?
        }
        Some(other) => {
            anyhow::bail!("unsupported database URL {other:?}: use postgres://… or sqlite:PATH")
        }
        None => {
            Store::open_sqlite(&storage.data_dir.join("countersign.sqlite3"), key).await.context("opening SQLite")?
        }
    };
    store.verify_master_key().await?;
    Ok((store, links))
}

/// What a person needs to start using a fresh instance; printed once, on first start.
pub struct FirstStart {
    pub email: String,
    pub api_key: ApiKey,
}

pub struct Application {
    listener: TcpListener,
    state: AppState,
    delivery: DeliveryConfig,
    mail: Option<MailConfig>,
    worker: WorkerConfig,
    http: ServeLimits,
    pub first_start: Option<FirstStart>,
}

/// Raises the soft open-file limit to the hard one, and keeps the connection cap to half of what that
/// allows (the other half is for the database, documents and outgoing callbacks), so that connections
/// alone can never use up the descriptors the server needs to answer.
fn connection_cap(configured: usize) -> usize {
    let soft = raise_open_file_limit();
    let Some(soft) = soft else {
        return configured;
    };
    let allowed = (soft.saturating_sub(128) / 2).max(16);
    if allowed < configured {
        tracing::warn!(
            configured,
            allowed,
            open_file_limit = soft,
            "the open-file limit is low: serving fewer connections at once than configured"
        );
    }
    configured.min(allowed)
}

/// The soft `RLIMIT_NOFILE` after raising it to the hard limit.
#[cfg(unix)]
fn raise_open_file_limit() -> Option<usize> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return None;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                tracing::debug!(from = limit.rlim_cur, to = limit.rlim_max, "raised the open-file limit");
                limit = raised;
            }
        }
    }
    usize::try_from(limit.rlim_cur).ok()
}

#[cfg(not(unix))]
fn raise_open_file_limit() -> Option<usize> {
    None
}

/// The sealing identity (generated into the data dir on first start unless configured).
fn load_sealer(config: &ServerConfig) -> anyhow::Result<countersign_seal::Sealer> {
    let source = config.seal.source(&config.storage.data_dir)?;
    let identity = countersign_seal::Identity::load(&source).context("loading the sealing certificate")?;
    tracing::info!(
        subject = %identity.subject(),
        certificate_sha256 = %identity.fingerprint(),
        origin = %identity.origin,
        "final documents are sealed with this certificate"
    );
    let sealer = countersign_seal::Sealer::new(identity);
    Ok(match &config.seal.tsa_url {
        Some(url) => {
            let tsa =
                countersign_seal::Tsa::new(url, std::time::Duration::from_secs(30)).context("COUNTERSIGN_TSA_URL")?;
            tracing::info!(tsa = %url, "seals are time-stamped");
            sealer.with_tsa(tsa)
        }
        None => sealer,
    })
}

impl Application {
    pub async fn build(config: ServerConfig) -> anyhow::Result<Self> {
        let (store, links) = open_store_and_links(&config.storage).await?;
        let store = Arc::new(store);
        let first_start = create_default_account(&store, &config.default_account_email).await?;
        let sealer = Arc::new(load_sealer(&config)?);
        let listener = TcpListener::bind(&config.addr).await.with_context(|| format!("binding {}", config.addr))?;
        let local = listener.local_addr()?;
        let public_url =
            config.public_url.clone().unwrap_or_else(|| format!("http://{local}")).trim_end_matches('/').to_owned();
        let api_config = ApiConfig {
            max_body_bytes: config.max_body_bytes,
            rate_limit_per_minute: config.rate_limit_per_minute,
            callback_policy: CallbackPolicy { allow_private: config.allow_private_callbacks },
            callback_dns_timeout: config.callback_dns_timeout,
            public_url,
            document_limits: config.worker.limits,
            api_account_create: config.api_account_create,
            sign_url_lifetime_secs: config.sign_url_lifetime.as_secs().max(1) as i64,
            oauth_token_lifetime_secs: config.oauth_token_lifetime.as_secs().max(1) as i64,
            web: countersign_web::WebConfig {
                pdf_limits: countersign_pdf::Limits {
                    // A document after processing may hold an appended signature page and merged files.
                    max_pages: config.worker.limits.max_pages + countersign_domain::new_request::MAX_SIGNERS,
                    max_bytes: config.worker.limits.max_file_bytes.saturating_mul(config.worker.limits.max_files),
                    timeout: config.worker.document_timeout,
                },
                max_template_fields: config.worker.limits.max_fields,
                document_limits: config.worker.limits,
                callback_policy: CallbackPolicy { allow_private: config.allow_private_callbacks },
                callback_dns_timeout: config.callback_dns_timeout,
                ..countersign_web::WebConfig::default()
            },
        };
        let state = AppState {
            store,
            blobs: BlobStore::new(config.storage.data_dir.join("blobs")),
            links,
            limiter: Arc::new(RateLimiter::new(config.rate_limit_per_minute)),
            auth_failures: Arc::new(RateLimiter::new(config.auth_failures_per_minute)),
            config: Arc::new(api_config),
            metrics: prometheus_handle(),
            sealer: Some(sealer.clone()),
        };
        tracing::info!(
            addr = %local,
            database = ?state.store.backend(),
            allow_private_callbacks = config.allow_private_callbacks,
            "countersign is listening"
        );
        let delivery = DeliveryConfig { allow_private: config.allow_private_callbacks, ..config.delivery.clone() };
        let mail = config.smtp_url.clone().map(|smtp_url| MailConfig { smtp_url, from: config.smtp_from.clone() });
        let mailing = countersign_domain::signer_mail::Mailing {
            links: state.links.clone(),
            public_url: state.config.public_url.clone(),
        };
        let worker = WorkerConfig {
            allow_private_urls: config.allow_private_callbacks,
            mailing: Some(mailing),
            sealer: Some(sealer.clone()),
            ..config.worker.clone()
        };
        let mut http = ServeLimits { max_body_bytes: config.max_body_bytes, ..config.http };
        http.max_connections = connection_cap(http.max_connections);
        Ok(Self { listener, state, delivery, mail, worker, http, first_start })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    pub fn public_url(&self) -> &str {
        &self.state.config.public_url
    }

    /// The store this application serves from (tests and the benchmark use it directly).
    pub fn store(&self) -> Arc<Store> {
        self.state.store.clone()
    }

    /// Starts every background task — the store's listener (PostgreSQL `LISTEN`, SQLite checkpoints),
    /// the delivery engine and the job runner (documents, expiry, e-mail) — and serves until `shutdown`
    /// completes; then stops accepting, lets requests in flight finish, stops the runner and the engine
    /// (work in flight finishes or its leases are released), then the listener, and closes the pool.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        let (stop_listener, listener_stopped) = tokio::sync::watch::channel(false);
        let listener = store.spawn_listener(listener_stopped);
        let engine = DeliveryEngine::spawn(store.clone(), self.delivery).context("starting the delivery engine")?;
        let jobs = JobRunner::spawn(store.clone(), self.worker, self.mail).context("starting the job runner")?;
        let app = countersign_api::router(self.state);
        tracing::info!(
            max_connections = self.http.max_connections,
            header_timeout = ?self.http.header_timeout,
            body_timeout = ?self.http.body_timeout,
            "serving HTTP"
        );
        let served = serve(self.listener, app, self.http, shutdown).await.context("serving HTTP");
        jobs.shutdown().await;
        engine.shutdown().await;
        let _ = stop_listener.send(true);
        let _ = listener.await;
        store.close().await;
        tracing::info!("countersign stopped");
        served
    }
}

/// On an empty database, creates the default account. Several nodes starting at once on one empty
/// PostgreSQL database race here; the unique e-mail lets exactly one win.
async fn create_default_account(store: &Store, email: &str) -> anyhow::Result<Option<FirstStart>> {
    if store.count_accounts().await? > 0 {
        return Ok(None);
    }
    let email = EmailAddress::parse(email, "default_account_email")
        .map_err(|e| anyhow::anyhow!("{}: {}", e.path, e.message))?;
    match store.create_account(NewAccount { email: email.clone(), locale: DEFAULT_LOCALE.to_owned() }).await {
        Ok((account, api_key)) => {
            tracing::info!(account_id = %account.id, "created the default account on first start");
            Ok(Some(FirstStart { email: account.email.as_str().to_owned(), api_key }))
        }
        Err(StoreError::Conflict(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

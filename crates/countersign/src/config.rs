//! Configuration: one typed struct from three layers. A flag wins over its environment variable
//! (`COUNTERSIGN_*`, handled by clap), which wins over the TOML file (`--config FILE`,
//! `COUNTERSIGN_CONFIG`, or `./countersign.toml` when present), which wins over the defaults here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use clap::builder::BoolishValueParser;
use countersign_delivery::DeliveryConfig;
use countersign_delivery::config::{parse_duration, parse_durations};
use countersign_worker::WorkerConfig;
use countersign_worker::office::OfficeConverter;
use serde::Deserialize;

/// Where data lives: shared by `serve` and the account commands, so both open the same store.
#[derive(Debug, Clone, Default, Args)]
pub struct StorageArgs {
    /// Folder for the SQLite database, blobs and the generated master key.
    #[arg(long, env = "COUNTERSIGN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL instead of the embedded SQLite database.
    #[arg(long, env = "COUNTERSIGN_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// 64 hex characters: the key that seals stored secrets. Give every node sharing one database the
    /// same key. Without it, one is generated into the data dir on first start.
    #[arg(long, env = "COUNTERSIGN_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,
}

#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, env = "COUNTERSIGN_ADDR")]
    pub addr: Option<String>,
    /// The URL clients reach this server at, for links it hands out. Default: `http://ADDR`.
    #[arg(long, env = "COUNTERSIGN_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Allow `http://` and private, loopback and link-local callback URLs (development and tests).
    #[arg(long, env = "COUNTERSIGN_ALLOW_PRIVATE_CALLBACKS", value_parser = BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub allow_private_callbacks: Option<bool>,
    /// Requests per minute per API key; 0 turns the limit off.
    #[arg(long, env = "COUNTERSIGN_RATE_LIMIT_PER_MINUTE")]
    pub rate_limit_per_minute: Option<u32>,
    /// Largest request body, in bytes.
    #[arg(long, env = "COUNTERSIGN_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Timeout of one callback attempt (`30s`, `500ms`, `1m`).
    #[arg(long, env = "COUNTERSIGN_CALLBACK_TIMEOUT")]
    pub callback_timeout: Option<String>,
    /// Delays before each callback retry, comma-separated (default `5m,15m,45m,2h15m,6h45m,20h15m`).
    #[arg(long, env = "COUNTERSIGN_CALLBACK_RETRY_SCHEDULE")]
    pub callback_retry_schedule: Option<String>,
    /// Dead deliveries in a row after which a callback URL is disabled.
    #[arg(long, env = "COUNTERSIGN_CALLBACK_DISABLE_AFTER")]
    pub callback_disable_after: Option<i64>,
    /// Callback deliveries in flight at once, over all URLs.
    #[arg(long, env = "COUNTERSIGN_CALLBACK_MAX_IN_FLIGHT")]
    pub callback_max_in_flight: Option<usize>,
    /// Callback deliveries in flight at once to one URL.
    #[arg(long, env = "COUNTERSIGN_CALLBACK_MAX_IN_FLIGHT_PER_URL")]
    pub callback_max_in_flight_per_url: Option<usize>,
    /// How long a node's claim on a delivery lasts before another node may take it over.
    #[arg(long, env = "COUNTERSIGN_CALLBACK_LEASE")]
    pub callback_lease: Option<String>,
    /// SMTP server for e-mails to account owners (`smtp://user:pass@host:587?tls=required`,
    /// `smtps://host:465`). Without it, e-mails are kept in the database unsent.
    #[arg(long, env = "COUNTERSIGN_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender of those e-mails.
    #[arg(long, env = "COUNTERSIGN_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Largest document (one uploaded file or one fetched `file_urls` entry), in bytes. Default 40 MiB.
    #[arg(long, env = "COUNTERSIGN_MAX_FILE_BYTES")]
    pub max_file_bytes: Option<usize>,
    /// Most documents in one signature request. Default 20.
    #[arg(long, env = "COUNTERSIGN_MAX_FILES")]
    pub max_files: Option<usize>,
    /// Most pages in one signature request (all documents). Default 500.
    #[arg(long, env = "COUNTERSIGN_MAX_PAGES")]
    pub max_pages: Option<usize>,
    /// Most fields in one signature request. Default 2000.
    #[arg(long, env = "COUNTERSIGN_MAX_FIELDS")]
    pub max_fields: Option<usize>,
    /// Time budget for reading one document (`60s`).
    #[arg(long, env = "COUNTERSIGN_DOCUMENT_TIMEOUT")]
    pub document_timeout: Option<String>,
    /// LibreOffice's `soffice`, which makes Word, OpenDocument, RTF and text documents into PDFs:
    /// a path, or `off`. Default: `soffice` (or `libreoffice`) found on the PATH; without one, such
    /// documents get a `file_error` naming their format.
    #[arg(long, env = "COUNTERSIGN_OFFICE_CONVERTER")]
    pub office_converter: Option<String>,
    /// Time budget for converting one office document, LibreOffice's start included (`120s`).
    #[arg(long, env = "COUNTERSIGN_OFFICE_TIMEOUT")]
    pub office_timeout: Option<String>,
    /// How long a node's claim on a document job lasts before another node may take it over.
    #[arg(long, env = "COUNTERSIGN_DOCUMENT_LEASE")]
    pub document_lease: Option<String>,
    /// How long an embedded `sign_url` (and a signer's e-mail link) opens the signer page: `60m`.
    #[arg(long, env = "COUNTERSIGN_SIGN_URL_LIFETIME")]
    pub sign_url_lifetime: Option<String>,
    /// How long an OAuth access token works before the app must refresh it (`expires_in`): `60m`.
    #[arg(long, env = "COUNTERSIGN_OAUTH_TOKEN_LIFETIME")]
    pub oauth_token_lifetime: Option<String>,
    /// Certificate (PEM, leaf first, then its chain; a path or the PEM itself) that seals final
    /// documents. Without it (and its key), a self-signed one is generated into `<data dir>/seal/`.
    #[arg(long, env = "COUNTERSIGN_SIGNING_CERT", hide_env_values = true)]
    pub signing_cert: Option<String>,
    /// The sealing certificate's private key (PEM: PKCS#8, SEC1 or PKCS#1; a path or the PEM itself).
    #[arg(long, env = "COUNTERSIGN_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<String>,
    /// An RFC 3161 time-stamping authority: each seal then carries a time stamp (PAdES B-T).
    #[arg(long, env = "COUNTERSIGN_TSA_URL")]
    pub tsa_url: Option<String>,
    /// Time a client has to send a request's headers, from the connection opening or the previous
    /// response (so also how long an idle keep-alive connection is kept): `20s`.
    #[arg(long, env = "COUNTERSIGN_HTTP_HEADER_TIMEOUT")]
    pub http_header_timeout: Option<String>,
    /// Time a client has to send a request's body, from its headers: `120s`.
    #[arg(long, env = "COUNTERSIGN_HTTP_BODY_TIMEOUT")]
    pub http_body_timeout: Option<String>,
    /// Connections served at once (also kept below the open-file limit). Default 1024.
    #[arg(long, env = "COUNTERSIGN_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Failed authentications per minute from one client address before it is answered 429; 0 = off.
    #[arg(long, env = "COUNTERSIGN_AUTH_FAILURES_PER_MINUTE")]
    pub auth_failures_per_minute: Option<u32>,
    /// Allow `POST /v3/account/create` (accounts made through the API stay unconfirmed until their
    /// owner confirms by e-mail or the operator claims them). Default on.
    #[arg(long, env = "COUNTERSIGN_API_ACCOUNT_CREATE", value_parser = BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub api_account_create: Option<bool>,
    /// E-mail address of the account created on first start with an empty database.
    #[arg(long, env = "COUNTERSIGN_DEFAULT_ACCOUNT_EMAIL")]
    pub default_account_email: Option<String>,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// The TOML file: the same settings, every one optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    pub addr: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub master_key: Option<String>,
    pub allow_private_callbacks: Option<bool>,
    pub rate_limit_per_minute: Option<u32>,
    pub max_body_bytes: Option<usize>,
    pub default_account_email: Option<String>,
    pub log_format: Option<String>,
    pub callback_timeout: Option<String>,
    pub callback_retry_schedule: Option<String>,
    pub callback_disable_after: Option<i64>,
    pub callback_max_in_flight: Option<usize>,
    pub callback_max_in_flight_per_url: Option<usize>,
    pub callback_lease: Option<String>,
    pub smtp_url: Option<String>,
    pub smtp_from: Option<String>,
    pub max_file_bytes: Option<usize>,
    pub max_files: Option<usize>,
    pub max_pages: Option<usize>,
    pub max_fields: Option<usize>,
    pub document_timeout: Option<String>,
    pub office_converter: Option<String>,
    pub office_timeout: Option<String>,
    pub document_lease: Option<String>,
    pub sign_url_lifetime: Option<String>,
    pub oauth_token_lifetime: Option<String>,
    pub signing_cert: Option<String>,
    pub signing_key: Option<String>,
    pub tsa_url: Option<String>,
    pub http_header_timeout: Option<String>,
    pub http_body_timeout: Option<String>,
    pub max_connections: Option<usize>,
    pub auth_failures_per_minute: Option<u32>,
    pub api_account_create: Option<bool>,
}

impl FileSettings {
    /// Reads `explicit`, or `./countersign.toml` if it exists, or nothing.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<Self> {
        let path = match explicit {
            Some(path) => path.to_owned(),
            None if Path::new("countersign.toml").exists() => PathBuf::from("countersign.toml"),
            None => return Ok(Self::default()),
        };
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

pub const DEFAULT_ADDR: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./countersign-data";
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 6000;
pub const DEFAULT_MAX_BODY_BYTES: usize = 100 * 1024 * 1024;
pub const DEFAULT_ACCOUNT_EMAIL: &str = "owner@countersign.local";
pub const DEFAULT_AUTH_FAILURES_PER_MINUTE: u32 = 30;

/// How final documents are sealed.
#[derive(Debug, Clone, Default)]
pub struct SealConfig {
    pub certificate: Option<String>,
    pub key: Option<String>,
    pub tsa_url: Option<String>,
}

impl SealConfig {
    /// Where the sealing identity comes from: the configured pair, or one generated in the data dir.
    pub fn source(&self, data_dir: &Path) -> anyhow::Result<countersign_seal::IdentitySource> {
        match (&self.certificate, &self.key) {
            (Some(certificate), Some(key)) => {
                Ok(countersign_seal::IdentitySource::Configured { certificate: certificate.clone(), key: key.clone() })
            }
            (None, None) => Ok(countersign_seal::IdentitySource::Generated { dir: data_dir.join("seal") }),
            (Some(_), None) => anyhow::bail!("COUNTERSIGN_SIGNING_CERT is set but COUNTERSIGN_SIGNING_KEY is not"),
            (None, Some(_)) => anyhow::bail!("COUNTERSIGN_SIGNING_KEY is set but COUNTERSIGN_SIGNING_CERT is not"),
        }
    }
}

/// Where the store is, resolved.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub master_key: Option<String>,
}

impl StorageConfig {
    pub fn resolve(args: &StorageArgs, file: &FileSettings) -> Self {
        Self {
            data_dir: args
                .data_dir
                .clone()
                .or_else(|| file.data_dir.clone())
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            database_url: args
                .database_url
                .clone()
                .or_else(|| file.database_url.clone())
                .filter(|u| !u.trim().is_empty()),
            master_key: args.master_key.clone().or_else(|| file.master_key.clone()).filter(|k| !k.trim().is_empty()),
        }
    }
}

/// Everything `serve` needs, resolved.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub addr: String,
    pub public_url: Option<String>,
    pub storage: StorageConfig,
    pub allow_private_callbacks: bool,
    pub rate_limit_per_minute: u32,
    pub max_body_bytes: usize,
    pub default_account_email: String,
    pub callback_dns_timeout: Duration,
    pub delivery: DeliveryConfig,
    /// SMTP server URL; `None` keeps e-mails stored unsent.
    pub smtp_url: Option<String>,
    pub smtp_from: String,
    /// Document limits and the worker's settings.
    pub worker: WorkerConfig,
    /// Timeouts and the connection cap of the HTTP edge.
    pub http: countersign_api::server::ServeLimits,
    pub auth_failures_per_minute: u32,
    pub api_account_create: bool,
    /// How long a sign link opens the signer page.
    pub sign_url_lifetime: Duration,
    /// How long an OAuth access token works.
    pub oauth_token_lifetime: Duration,
    /// The sealing certificate and key (both or neither) and the time-stamping authority.
    pub seal: SealConfig,
}

impl ServerConfig {
    pub fn resolve(args: &ServeArgs, file: &FileSettings) -> anyhow::Result<Self> {
        let allow_private_callbacks = args.allow_private_callbacks.or(file.allow_private_callbacks).unwrap_or(false);
        let mut delivery = DeliveryConfig { allow_private: allow_private_callbacks, ..DeliveryConfig::default() };
        if let Some(text) = args.callback_timeout.as_ref().or(file.callback_timeout.as_ref()) {
            delivery.timeout = parse_duration(text).map_err(|e| anyhow::anyhow!("callback timeout: {e}"))?;
        }
        if let Some(text) = args.callback_retry_schedule.as_ref().or(file.callback_retry_schedule.as_ref()) {
            delivery.schedule = parse_durations(text).map_err(|e| anyhow::anyhow!("callback retry schedule: {e}"))?;
        }
        if let Some(text) = args.callback_lease.as_ref().or(file.callback_lease.as_ref()) {
            delivery.lease = parse_duration(text).map_err(|e| anyhow::anyhow!("callback lease: {e}"))?;
        }
        if let Some(n) = args.callback_disable_after.or(file.callback_disable_after) {
            anyhow::ensure!(n >= 1, "callback disable-after must be at least 1");
            delivery.disable_after_dead = n;
        }
        if let Some(n) = args.callback_max_in_flight.or(file.callback_max_in_flight) {
            delivery.max_in_flight = n.max(1);
        }
        if let Some(n) = args.callback_max_in_flight_per_url.or(file.callback_max_in_flight_per_url) {
            delivery.max_in_flight_per_url = n.max(1);
        }
        let mut worker = WorkerConfig { allow_private_urls: allow_private_callbacks, ..WorkerConfig::default() };
        let limits = &mut worker.limits;
        if let Some(n) = args.max_file_bytes.or(file.max_file_bytes) {
            limits.max_file_bytes = n.max(1);
        }
        if let Some(n) = args.max_files.or(file.max_files) {
            limits.max_files = n.max(1);
        }
        if let Some(n) = args.max_pages.or(file.max_pages) {
            limits.max_pages = n.max(1);
        }
        if let Some(n) = args.max_fields.or(file.max_fields) {
            limits.max_fields = n.max(1);
        }
        if let Some(text) = args.document_timeout.as_ref().or(file.document_timeout.as_ref()) {
            worker.document_timeout = parse_duration(text).map_err(|e| anyhow::anyhow!("document timeout: {e}"))?;
        }
        worker.office = match args.office_converter.as_deref().or(file.office_converter.as_deref()) {
            Some("off") => None,
            Some(path) => Some(OfficeConverter::with_program(path.into())),
            None => OfficeConverter::from_path(),
        };
        if let (Some(office), Some(text)) =
            (worker.office.as_mut(), args.office_timeout.as_ref().or(file.office_timeout.as_ref()))
        {
            office.timeout = parse_duration(text).map_err(|e| anyhow::anyhow!("office timeout: {e}"))?;
        }
        if let Some(text) = args.document_lease.as_ref().or(file.document_lease.as_ref()) {
            worker.lease = parse_duration(text).map_err(|e| anyhow::anyhow!("document lease: {e}"))?;
        }
        let max_body_bytes = args.max_body_bytes.or(file.max_body_bytes).unwrap_or(DEFAULT_MAX_BODY_BYTES);
        let mut http = countersign_api::server::ServeLimits { max_body_bytes, ..Default::default() };
        if let Some(text) = args.http_header_timeout.as_ref().or(file.http_header_timeout.as_ref()) {
            http.header_timeout = parse_duration(text).map_err(|e| anyhow::anyhow!("HTTP header timeout: {e}"))?;
        }
        if let Some(text) = args.http_body_timeout.as_ref().or(file.http_body_timeout.as_ref()) {
            http.body_timeout = parse_duration(text).map_err(|e| anyhow::anyhow!("HTTP body timeout: {e}"))?;
        }
        if let Some(n) = args.max_connections.or(file.max_connections) {
            http.max_connections = n.max(1);
        }
        Ok(Self {
            worker,
            http,
            auth_failures_per_minute: args
                .auth_failures_per_minute
                .or(file.auth_failures_per_minute)
                .unwrap_or(DEFAULT_AUTH_FAILURES_PER_MINUTE),
            api_account_create: args.api_account_create.or(file.api_account_create).unwrap_or(true),
            seal: SealConfig {
                certificate: args
                    .signing_cert
                    .clone()
                    .or_else(|| file.signing_cert.clone())
                    .filter(|v| !v.trim().is_empty()),
                key: args.signing_key.clone().or_else(|| file.signing_key.clone()).filter(|v| !v.trim().is_empty()),
                tsa_url: args.tsa_url.clone().or_else(|| file.tsa_url.clone()).filter(|v| !v.trim().is_empty()),
            },
            sign_url_lifetime: match args.sign_url_lifetime.as_ref().or(file.sign_url_lifetime.as_ref()) {
                Some(text) => parse_duration(text).map_err(|e| anyhow::anyhow!("sign URL lifetime: {e}"))?,
                None => Duration::from_secs(3600),
            },
            oauth_token_lifetime: match args.oauth_token_lifetime.as_ref().or(file.oauth_token_lifetime.as_ref()) {
                Some(text) => parse_duration(text).map_err(|e| anyhow::anyhow!("OAuth token lifetime: {e}"))?,
                None => Duration::from_secs(countersign_domain::oauth::DEFAULT_ACCESS_LIFETIME_SECS as u64),
            },
            addr: args.addr.clone().or_else(|| file.addr.clone()).unwrap_or_else(|| DEFAULT_ADDR.to_owned()),
            public_url: args.public_url.clone().or_else(|| file.public_url.clone()),
            storage: StorageConfig::resolve(&args.storage, file),
            allow_private_callbacks: args.allow_private_callbacks.or(file.allow_private_callbacks).unwrap_or(false),
            rate_limit_per_minute: args
                .rate_limit_per_minute
                .or(file.rate_limit_per_minute)
                .unwrap_or(DEFAULT_RATE_LIMIT_PER_MINUTE),
            max_body_bytes,
            default_account_email: args
                .default_account_email
                .clone()
                .or_else(|| file.default_account_email.clone())
                .unwrap_or_else(|| DEFAULT_ACCOUNT_EMAIL.to_owned()),
            callback_dns_timeout: Duration::from_secs(3),
            delivery,
            smtp_url: args.smtp_url.clone().or_else(|| file.smtp_url.clone()).filter(|u| !u.trim().is_empty()),
            smtp_from: args
                .smtp_from
                .clone()
                .or_else(|| file.smtp_from.clone())
                .unwrap_or_else(|| "Countersign <noreply@countersign.local>".to_owned()),
        })
    }

    /// Defaults for a server on `addr` storing in `data_dir` (what tests start from).
    pub fn for_data_dir(addr: &str, data_dir: &Path) -> Self {
        let mut config =
            Self::resolve(&ServeArgs::default(), &FileSettings::default()).expect("the defaults are valid");
        config.addr = addr.to_owned();
        config.storage.data_dir = data_dir.to_owned();
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let file: FileSettings =
            toml::from_str("addr = \"0.0.0.0:9000\"\nrate_limit_per_minute = 5\nallow_private_callbacks = true\n")
                .unwrap();
        let from_file = ServerConfig::resolve(&ServeArgs::default(), &file).unwrap();
        assert_eq!(from_file.addr, "0.0.0.0:9000");
        assert_eq!(from_file.rate_limit_per_minute, 5);
        assert!(from_file.allow_private_callbacks);
        assert_eq!(from_file.storage.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
        let args =
            ServeArgs { addr: Some("127.0.0.1:1".into()), allow_private_callbacks: Some(false), ..Default::default() };
        let from_flags = ServerConfig::resolve(&args, &file).unwrap();
        assert_eq!(from_flags.addr, "127.0.0.1:1");
        assert!(!from_flags.allow_private_callbacks);
        assert_eq!(from_flags.rate_limit_per_minute, 5);
    }

    #[test]
    fn unknown_file_settings_are_an_error_not_a_silent_default() {
        assert!(toml::from_str::<FileSettings>("adress = \"x\"").is_err());
    }
}

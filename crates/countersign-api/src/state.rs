//! What every handler shares.

use std::sync::Arc;
use std::time::Duration;

use countersign_domain::callback_url::CallbackPolicy;
use countersign_store::Store;
use countersign_store::blobs::BlobStore;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::rate_limit::RateLimiter;

/// The API's settings, from the server's configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Requests per minute per API key; 0 turns the limit off.
    pub rate_limit_per_minute: u32,
    pub callback_policy: CallbackPolicy,
    /// How long a set-time DNS check of a callback host may take.
    pub callback_dns_timeout: Duration,
    /// The public base URL of this server (for links it hands out), without a trailing slash.
    pub public_url: String,
    /// Upload size, file count, page count and field count limits per request.
    pub document_limits: countersign_domain::signature_request::DocumentLimits,
    /// Whether `POST /v3/account/create` is served.
    pub api_account_create: bool,
    /// How long an embedded `sign_url` opens the signer page, in seconds.
    pub sign_url_lifetime_secs: i64,
    /// How long an OAuth access token works, in seconds (its `expires_in`).
    pub oauth_token_lifetime_secs: i64,
    /// The signer pages' limits.
    pub web: countersign_web::WebConfig,
}

impl AppState {
    /// What signers' e-mails need (links and this server's URL).
    pub fn mailing(&self) -> countersign_domain::signer_mail::Mailing {
        countersign_domain::signer_mail::Mailing {
            links: self.links.clone(),
            public_url: self.config.public_url.clone(),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<Store>,
    pub blobs: BlobStore,
    /// Makes and checks the tokens of signed links (sign pages, file URLs, confirmation links).
    pub links: countersign_domain::links::LinkSigner,
    pub config: Arc<ApiConfig>,
    pub limiter: Arc<RateLimiter>,
    /// Failed authentications per client address (a budget per minute; 0 = off).
    pub auth_failures: Arc<RateLimiter>,
    pub metrics: PrometheusHandle,
    /// Seals final documents and checks seals (`verify`).
    pub sealer: Option<Arc<countersign_seal::Sealer>>,
}

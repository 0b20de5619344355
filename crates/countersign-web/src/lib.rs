//! Countersign's HTML pages, starting with the signer page.
//!
//! * [`sign`]: the page behind an embedded `sign_url` (`/editor/embeddedSign`, opened in an iFrame by
//!   the unmodified `hellosign-embedded` library, with its postMessage protocol) and behind a
//!   signer's e-mail link (`/sign/{signature_id}`): every page of the documents as an image rendered
//!   here, the signer's fields at their rectangles, and the sign, decline and reassign actions, each
//!   one transition of the domain's state machine committed with its event.
//! * [`edit`]: the template editor behind a template's `edit_url` (`/editor/embeddedTemplate`), in
//!   the same iFrame protocol: fields dragged onto the pages, given to signer roles or made merge
//!   fields, and saved (a draft's first save commits `template_created`).
//! * [`oauth`]: the OAuth authorization page (`/oauth/authorize`), where a user signs in and lets an
//!   API app act for them.
//! * [`dashboard`]: the API dashboard (`/dashboard`): sign-in, sessions with CSRF tokens, the overview
//!   and settings (callback URL, API keys).
//! * [`frame`]: the one page frame and escaping rule (askama's HTML escaping) every page uses, with a
//!   content security policy that allows nothing from elsewhere.
//! * [`assets`]: the page's CSS and JavaScript, embedded in the binary; no CDN, no network at run time.
//!
//! Not for: the JSON API (`countersign-api`), SQL (`countersign-store`) or rules about what a signer
//! may do (`countersign-domain`).

pub mod assets;
pub mod client;
pub mod cookies;
pub mod dashboard;
pub mod edit;
pub mod frame;
pub mod oauth;
pub mod sign;
pub mod signin;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use countersign_domain::links::LinkSigner;
use countersign_store::Store;

/// What the pages share.
#[derive(Clone)]
pub struct WebState {
    pub store: Arc<Store>,
    pub links: LinkSigner,
    /// This server's public base URL, without a trailing slash.
    pub public_url: String,
    pub pages: Arc<sign::images::PageImages>,
    pub pin_attempts: Arc<sign::pin::PinAttempts>,
    pub config: Arc<WebConfig>,
}

/// The pages' limits.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// How long an open signer page may act (its session), in seconds.
    pub session_secs: i64,
    /// Limits for rendering a document's pages.
    pub pdf_limits: countersign_pdf::Limits,
    /// Rendered page images kept in memory, in bytes.
    pub page_cache_bytes: usize,
    /// Wrong PINs allowed per signer within [`WebConfig::pin_window_secs`] before the page refuses more.
    pub pin_attempts: u32,
    pub pin_window_secs: i64,
    /// Most fields the template editor saves on one template (`--max-fields`).
    pub max_template_fields: usize,
    /// The limits a request made on the requester page (a claimed draft) is checked against.
    pub document_limits: countersign_domain::signature_request::DocumentLimits,
    /// How long a dashboard sign-in lasts, in seconds.
    pub dashboard_session_secs: i64,
    /// The rules a callback URL set in the dashboard is checked by (the API's).
    pub callback_policy: countersign_domain::callback_url::CallbackPolicy,
    pub callback_dns_timeout: std::time::Duration,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            session_secs: 3600,
            pdf_limits: countersign_pdf::Limits::default(),
            page_cache_bytes: 64 * 1024 * 1024,
            pin_attempts: 5,
            pin_window_secs: 900,
            max_template_fields: 2000,
            document_limits: countersign_domain::signature_request::DocumentLimits::default(),
            dashboard_session_secs: 12 * 3600,
            callback_policy: countersign_domain::callback_url::CallbackPolicy::default(),
            callback_dns_timeout: std::time::Duration::from_secs(5),
        }
    }
}

impl WebState {
    /// What signers' e-mails need (links and this server's URL).
    pub fn mailing(&self) -> countersign_domain::signer_mail::Mailing {
        countersign_domain::signer_mail::Mailing { links: self.links.clone(), public_url: self.public_url.clone() }
    }

    /// Whether cookies must be `Secure`: the server is reached over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.starts_with("https://")
    }

    pub fn new(store: Arc<Store>, links: LinkSigner, public_url: String, config: WebConfig) -> Self {
        Self {
            store,
            links,
            public_url,
            pages: Arc::new(sign::images::PageImages::new(config.page_cache_bytes)),
            pin_attempts: Arc::new(sign::pin::PinAttempts::default()),
            config: Arc::new(config),
        }
    }
}

/// Every page route. The caller merges it into the server's router (whose layers and fallback then
/// apply to the pages too).
pub fn router<S: Clone + Send + Sync + 'static>(state: WebState) -> Router<S> {
    Router::new()
        .route("/editor/embeddedSign", get(sign::open_embedded).post(sign::open_embedded_with_pin))
        .route("/sign/{id}", get(sign::open_from_email).post(sign::open_from_email_with_pin))
        .route("/sign/{signature_id}/pages/{document}/{page}", get(sign::images::page_image))
        .route("/sign/{signature_id}/sign", post(sign::actions::sign))
        .route("/sign/{signature_id}/decline", post(sign::actions::decline))
        .route("/sign/{signature_id}/reassign", post(sign::actions::reassign))
        .route("/editor/embeddedTemplate", get(edit::open))
        .route("/edit/{template_id}/pages/{document}/{page}", get(edit::page_image))
        .route("/edit/{template_id}/save", post(edit::save))
        .route("/editor/embeddedRequest", get(edit::open_claim))
        .route("/claim/{draft_id}/send", post(edit::send_claim))
        .route("/oauth/authorize", get(oauth::page).post(oauth::answer))
        .route("/dashboard", get(dashboard::overview))
        .route("/dashboard/login", get(dashboard::login).post(dashboard::login_submit))
        .route("/dashboard/logout", post(dashboard::logout))
        .route("/dashboard/callbacks", get(dashboard::callbacks))
        .route("/dashboard/callbacks/test", post(dashboard::send_test))
        .route("/dashboard/callbacks/enable", post(dashboard::enable))
        .route("/dashboard/settings", get(dashboard::settings))
        .route("/dashboard/settings/callback_url", post(dashboard::save_callback_url))
        .route("/dashboard/settings/keys", post(dashboard::create_key))
        .route("/dashboard/settings/keys/{key_id}/revoke", post(dashboard::revoke_key))
        .route("/assets/{name}", get(assets::serve))
        .with_state(state)
}

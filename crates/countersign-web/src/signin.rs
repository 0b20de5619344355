//! Signing in on this server's pages (the OAuth authorization page, the dashboard): an e-mail address
//! and the password set with `countersign account password`, or an API key. Wrong attempts are counted
//! per address (and for API keys together) and refused past the limit for a while.

use axum::http::StatusCode;
use countersign_domain::account::Account;
use countersign_domain::ids::random_hex;
use countersign_domain::oauth::password;
use countersign_domain::secrets::ApiKey;
use countersign_domain::time::unix_now;

use crate::WebState;

/// What a sign-in form carries.
pub struct Credentials<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub api_key: &'a str,
}

/// Why a sign-in was refused: the sentence to show and the page's status (`429` while the address is
/// locked out, `401` otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub message: &'static str,
    pub status: StatusCode,
}

impl Refusal {
    fn wrong(message: &'static str) -> Self {
        Self { message, status: StatusCode::UNAUTHORIZED }
    }

    fn unavailable() -> Self {
        Self::wrong("The server could not check your sign-in just now. Please try again.")
    }
}

/// Who signed in, or why not.
pub async fn sign_in(state: &WebState, credentials: &Credentials<'_>) -> Result<Account, Refusal> {
    let key = credentials.api_key.trim();
    let who = if key.is_empty() {
        format!("signin:{}", credentials.email.trim().to_lowercase())
    } else {
        "signin:api-key".to_owned()
    };
    let now = unix_now();
    let limits = &state.config;
    if state.pin_attempts.locked(&who, limits.pin_attempts, limits.pin_window_secs, now) {
        return Err(Refusal {
            message: "Too many wrong sign-ins. Wait a few minutes and try again.",
            status: StatusCode::TOO_MANY_REQUESTS,
        });
    }
    let result = check(state, credentials).await;
    match &result {
        Ok(_) => state.pin_attempts.clear(&who),
        Err(_) => state.pin_attempts.record_wrong(&who, limits.pin_window_secs, now),
    }
    result
}

async fn check(state: &WebState, credentials: &Credentials<'_>) -> Result<Account, Refusal> {
    let key = credentials.api_key.trim();
    if !key.is_empty() {
        return match state.store.account_by_api_key(&ApiKey::presented(key)).await {
            Ok(Some(account)) => Ok(account),
            Ok(None) => Err(Refusal::wrong("This API key is not valid.")),
            Err(_) => Err(Refusal::unavailable()),
        };
    }
    let email = credentials.email.trim();
    if email.is_empty() || credentials.password.is_empty() {
        return Err(Refusal::wrong("Enter your e-mail address and password, or an API key."));
    }
    let found = state.store.account_password(email).await.map_err(|_| Refusal::unavailable())?;
    let typed = credentials.password.to_owned();
    // Hashing takes tens of milliseconds of CPU: off the async threads. An address without a password
    // is hashed against a fixed hash all the same, so the answer's timing does not tell them apart.
    let (account, phc) = match found {
        Some((account, phc)) => (Some(account), phc),
        None => (None, dummy_hash().to_owned()),
    };
    let matches = tokio::task::spawn_blocking(move || password::verify(&typed, &phc)).await.unwrap_or(false);
    match account {
        Some(account) if matches => Ok(account),
        _ => Err(Refusal::wrong("The e-mail address or password is not right.")),
    }
}

/// A hash of a random password nobody knows, made once.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| password::hash(&random_hex(16)))
}

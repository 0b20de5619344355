//! Countersign's domain: the types that can only be built valid (ids, e-mail addresses, callback URLs,
//! locales), the secrets (API keys, the instance master key) and the accounts and API apps built from them.
//!
//! Not for: HTTP (that is `countersign-api`) or SQL (that is `countersign-store`). Every input from a user
//! is parsed into one of these types at the edge; code deeper in never re-validates.

pub mod account;
pub mod api_app;
pub mod callback;
pub mod callback_url;
pub mod email;
pub mod ids;
pub mod locale;
pub mod secrets;
pub mod signature_request;
pub mod time;

/// A reason an input was refused, naming the parameter it came from (Dropbox Sign's `error_path`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    pub path: String,
    pub message: String,
}

impl InvalidInput {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

//! Persistence for Countersign: one API over SQLite (the embedded default: one file under the data dir,
//! WAL) and PostgreSQL (the scale-out store), with embedded migrations run at start, and a
//! content-addressed blob folder.
//!
//! Not for: HTTP, or deciding what is valid (inputs arrive as `countersign-domain` types). Only this
//! crate knows SQL. Every statement is written once, with `$N` placeholders that both backends accept,
//! and run through `with_pool!` (one statement) or `on_tx!` inside `Store::write`'s transaction
//! (several) against whichever backend is configured; statements that must differ
//! (claiming deliveries with `FOR UPDATE SKIP LOCKED`, the event feed's order) are an explicit `match`.

mod accounts;
mod api_apps;
pub mod blobs;
pub mod bulk_send;
mod db;
pub mod deliveries;
pub mod emails;
pub mod handoff;
pub mod jobs;
mod listener;
pub mod oauth;
pub mod outbox;
pub mod signature_requests;
pub mod templates;
mod tx;
pub mod web_sessions;

pub use accounts::{ApiKeyInfo, Created, NewAccount};
pub use api_apps::{ApiAppPage, NewApiApp};
pub use db::{Backend, Store, postgres_scratch_schema};
pub use signature_requests::blob_digest;

/// What can go wrong in the store, as the API layer needs to tell it apart.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. an e-mail address already has an account).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
}

/// A stored secret that this instance's master key cannot open: the data, or the key, is not what it
/// should be.
impl From<countersign_domain::secrets::SecretError> for StoreError {
    fn from(e: countersign_domain::secrets::SecretError) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

impl StoreError {
    /// Stored data that does not read back (`what` names it).
    pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> Self {
        StoreError::Corrupt(format!("{what}: {e}"))
    }

    pub(crate) fn from_unique(err: sqlx::Error, what: &str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what.to_owned()),
            _ => StoreError::Database(err),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

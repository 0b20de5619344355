//! E-mails to account owners (a callback URL was disabled, an account to confirm) and to signers and CCs
//! (`countersign_domain::signer_mail`): written with their
//! `send_email` job in the same transaction as the change that calls for them (`jobs::queue_email`),
//! sent by the job runner when SMTP is configured, kept either way.

use crate::db::{with_pool, with_writer};
use crate::{Store, StoreResult};
use countersign_domain::ids::AccountId;
use countersign_domain::time::now_ms;

/// An e-mail as stored (what would have been sent without SMTP).
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct StoredEmail {
    pub id: i64,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub created_at_ms: i64,
    pub sent_at_ms: Option<i64>,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub signature_request_id: Option<String>,
    pub signature_id: Option<String>,
}

/// An e-mail claimed for sending.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutgoingEmail {
    pub id: i64,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
    pub signature_request_id: Option<String>,
    pub signature_id: Option<String>,
}

impl Store {
    /// The e-mail a `send_email` job sends; `None` once it is sent (a job run twice sends nothing
    /// the second time).
    pub async fn email_to_send(&self, id: i64) -> StoreResult<Option<OutgoingEmail>> {
        Ok(with_pool!(self, pool => sqlx::query_as(
            "SELECT id, to_address, subject, body, attempts, signature_request_id, signature_id FROM outgoing_emails \
             WHERE id = $1 AND sent_at_ms IS NULL")
            .bind(id)
            .fetch_optional(pool)
            .await)?)
    }

    pub async fn mark_email_sent(&self, id: i64) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query(
            "UPDATE outgoing_emails SET sent_at_ms = $2, attempts = attempts + 1, last_error = NULL, locked_until_ms = NULL WHERE id = $1")
            .bind(id)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Records a failed send (its job tries again later).
    pub async fn mark_email_failed(&self, id: i64, error: &str) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query(
            "UPDATE outgoing_emails SET attempts = attempts + 1, last_error = $2 WHERE id = $1")
            .bind(id)
            .bind(error)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// E-mails stored for an account (newest last): what would have been sent without SMTP.
    pub async fn stored_emails(&self, account_id: &AccountId) -> StoreResult<Vec<StoredEmail>> {
        Ok(with_pool!(self, pool => sqlx::query_as(
            "SELECT id, to_address, subject, body, created_at_ms, sent_at_ms, attempts, last_error, signature_request_id, \
             signature_id FROM outgoing_emails WHERE account_id = $1 ORDER BY id")
            .bind(account_id.as_str())
            .fetch_all(pool)
            .await)?)
    }

    /// How many of the account's stored e-mails are still unsent.
    pub async fn unsent_email_count(&self) -> StoreResult<i64> {
        let (n,): (i64,) = with_pool!(self, pool => sqlx::query_as("SELECT COUNT(*) FROM outgoing_emails WHERE sent_at_ms IS NULL").fetch_one(pool).await)?;
        Ok(n)
    }
}

//! E-mails to account owners (a callback URL was disabled, …): written in the same transaction as the
//! change that calls for them, sent by the mailer when SMTP is configured, kept either way.

use crate::db::{with_pool, with_writer};
use crate::{Store, StoreResult};
use countersign_domain::time::now_ms;

/// An e-mail claimed for sending.
#[derive(Debug, Clone)]
pub struct OutgoingEmail {
    pub id: i64,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub attempts: i64,
}

impl Store {
    /// Claims up to `limit` unsent e-mails for `lease_ms`.
    pub async fn claim_emails(&self, limit: i64, lease_ms: i64) -> StoreResult<Vec<OutgoingEmail>> {
        let now = now_ms();
        let rows: Vec<(i64, String, String, String, i64)> = with_writer!(self, pool => sqlx::query_as(
            "UPDATE outgoing_emails SET locked_until_ms = $1 WHERE id IN (SELECT id FROM outgoing_emails \
             WHERE sent_at_ms IS NULL AND (locked_until_ms IS NULL OR locked_until_ms < $2) ORDER BY id LIMIT $3) \
             RETURNING id, to_address, subject, body, attempts")
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(id, to_address, subject, body, attempts)| OutgoingEmail { id, to_address, subject, body, attempts })
            .collect())
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

    /// Records a failed send; the e-mail may be tried again from `retry_at_ms`.
    pub async fn mark_email_failed(&self, id: i64, error: &str, retry_at_ms: i64) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query(
            "UPDATE outgoing_emails SET attempts = attempts + 1, last_error = $2, locked_until_ms = $3 WHERE id = $1")
            .bind(id)
            .bind(error)
            .bind(retry_at_ms)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Wakes the mailer (after a commit that stored an e-mail).
    pub fn wake_mailer(&self) {
        self.mail_wakeup.notify_one();
    }

    pub fn mail_wakeup(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.mail_wakeup.clone()
    }

    /// How many of the account's stored e-mails are still unsent.
    pub async fn unsent_email_count(&self) -> StoreResult<i64> {
        let (n,): (i64,) = with_pool!(self, pool => sqlx::query_as("SELECT COUNT(*) FROM outgoing_emails WHERE sent_at_ms IS NULL").fetch_one(pool).await)?;
        Ok(n)
    }
}

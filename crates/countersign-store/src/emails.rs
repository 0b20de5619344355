//! E-mails to account owners (a callback URL was disabled, an account to confirm): written with their
//! `send_email` job in the same transaction as the change that calls for them (`jobs::queue_email!`),
//! sent by the job runner when SMTP is configured, kept either way.

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
    /// The e-mail a `send_email` job sends; `None` once it is sent (a job run twice sends nothing
    /// the second time).
    pub async fn email_to_send(&self, id: i64) -> StoreResult<Option<OutgoingEmail>> {
        let row: Option<(i64, String, String, String, i64)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, to_address, subject, body, attempts FROM outgoing_emails WHERE id = $1 AND sent_at_ms IS NULL")
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        Ok(row.map(|(id, to_address, subject, body, attempts)| OutgoingEmail {
            id,
            to_address,
            subject,
            body,
            attempts,
        }))
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

    /// Wakes the job runner after a commit that stored an e-mail (and its `send_email` job).
    pub(crate) fn wake_mailer(&self) {
        self.job_wakeup.notify_one();
    }

    /// How many of the account's stored e-mails are still unsent.
    pub async fn unsent_email_count(&self) -> StoreResult<i64> {
        let (n,): (i64,) = with_pool!(self, pool => sqlx::query_as("SELECT COUNT(*) FROM outgoing_emails WHERE sent_at_ms IS NULL").fetch_one(pool).await)?;
        Ok(n)
    }
}

//! Callback endpoints: their secrets and health, disabling (which parks what is pending) and
//! re-enabling (which replays it).

use countersign_callback::WebhookSecret;
use countersign_domain::ids::AccountId;
use countersign_domain::time::now_ms;

use super::EndpointInfo;
use crate::db::{with_pool, with_writer};
use crate::{Store, StoreResult};

impl Store {
    /// An endpoint's Standard Webhooks secret.
    pub async fn endpoint_secret(&self, endpoint_id: &str) -> StoreResult<WebhookSecret> {
        let (sealed,): (Vec<u8>,) = with_pool!(self, pool => sqlx::query_as("SELECT secret_sealed FROM callback_endpoints WHERE id = $1")
            .bind(endpoint_id)
            .fetch_one(pool)
            .await)?;
        let text = self.master_key.open_string(&sealed)?;
        Ok(WebhookSecret::from_text(text))
    }
    /// Re-enables (account, url) and replays what was parked for it. `None` when the account has no
    /// endpoint with that URL; otherwise how many parked deliveries were queued.
    pub async fn enable_endpoint(&self, account_id: &AccountId, url: &str) -> StoreResult<Option<u64>> {
        let row: Option<(String,)> = with_writer!(self, pool => sqlx::query_as(
            "UPDATE callback_endpoints SET disabled_at_ms = NULL, disabled_reason = NULL, consecutive_dead = 0 \
             WHERE account_id = $1 AND url = $2 RETURNING id")
            .bind(account_id.as_str())
            .bind(url)
            .fetch_optional(pool)
            .await)?;
        let Some((endpoint_id,)) = row else { return Ok(None) };
        let replayed = with_writer!(self, pool => sqlx::query(
            "UPDATE deliveries SET state = 'pending', round_attempts = 0, next_attempt_ms = $2 WHERE endpoint_id = $1 AND state = 'parked'")
            .bind(&endpoint_id)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        if replayed > 0 {
            tracing::info!(account_id = %account_id, endpoint_id = %endpoint_id, replayed, "callback URL re-enabled; parked deliveries replayed");
            self.wake_deliveries();
        }
        Ok(Some(replayed))
    }
    /// Disables (account, url) by hand, parking what is pending for it. `false` when there is no such
    /// endpoint.
    pub async fn disable_endpoint(&self, account_id: &AccountId, url: &str, reason: &str) -> StoreResult<bool> {
        let row: Option<(String,)> = with_writer!(self, pool => sqlx::query_as(
            "UPDATE callback_endpoints SET disabled_at_ms = $3, disabled_reason = $4 WHERE account_id = $1 AND url = $2 RETURNING id")
            .bind(account_id.as_str())
            .bind(url)
            .bind(now_ms())
            .bind(reason)
            .fetch_optional(pool)
            .await)?;
        let Some((endpoint_id,)) = row else { return Ok(false) };
        with_writer!(self, pool => sqlx::query("UPDATE deliveries SET state = 'parked', locked_by = NULL, locked_until_ms = NULL WHERE endpoint_id = $1 AND state = 'pending'")
            .bind(&endpoint_id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(true)
    }
    /// The account's callback endpoints with their secrets and health.
    pub async fn endpoints_of(&self, account_id: &AccountId) -> StoreResult<Vec<EndpointInfo>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            url: String,
            secret_sealed: Vec<u8>,
            consecutive_dead: i64,
            disabled_at_ms: Option<i64>,
            disabled_reason: Option<String>,
            parked: i64,
        }
        let rows: Vec<Row> = with_pool!(self, pool => sqlx::query_as(
            "SELECT e.url, e.secret_sealed, e.consecutive_dead, e.disabled_at_ms, e.disabled_reason, \
             (SELECT COUNT(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.state = 'parked') AS parked \
             FROM callback_endpoints e WHERE e.account_id = $1 ORDER BY e.created_at_ms, e.url")
            .bind(account_id.as_str())
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|Row { url, secret_sealed, consecutive_dead, disabled_at_ms, disabled_reason, parked }| {
                let secret = self.master_key.open_string(&secret_sealed)?;
                Ok(EndpointInfo {
                    url,
                    secret: WebhookSecret::from_text(secret),
                    consecutive_dead,
                    disabled_at_ms,
                    disabled_reason,
                    parked,
                })
            })
            .collect()
    }
}

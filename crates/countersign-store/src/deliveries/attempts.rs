//! Recording attempts: the log, the deliveries' new states, and endpoint health (dead streaks, and
//! disabling an endpoint with the owner's e-mail).

use countersign_domain::time::now_ms;

use super::{AttemptRecord, DisabledEndpoint, Outcome, Placeholders};
use crate::tx::{Tx, on_tx};
use crate::{Store, StoreResult};

impl Store {
    /// Writes a batch of attempts and their outcomes in one transaction. A result for a delivery whose
    /// lease this node no longer holds is logged as an attempt but changes nothing else. Endpoints whose
    /// dead streak reaches `disable_after_dead`, or that answered `410`, are disabled: their pending
    /// deliveries are parked and the owner gets an e-mail (stored in `outgoing_emails`).
    pub async fn record_attempts(
        &self,
        node: &str,
        records: &[AttemptRecord],
        disable_after_dead: i64,
    ) -> StoreResult<Vec<DisabledEndpoint>> {
        self.write(async |tx| record(tx, node, records, disable_after_dead).await).await
    }
}

async fn record(
    tx: &mut Tx,
    node: &str,
    records: &[AttemptRecord],
    disable_after_dead: i64,
) -> StoreResult<Vec<DisabledEndpoint>> {
    let now = now_ms();
    let sqlite = tx.is_sqlite();
    let mut delivered_endpoints: Vec<&str> = Vec::new();
    let mut to_disable: Vec<(&AttemptRecord, String)> = Vec::new();
    // Every attempt goes to the log, many rows per statement.
    for chunk in records.chunks(100) {
        let mut p = Placeholders::new(sqlite);
        let values: Vec<String> = chunk.iter().map(|_| format!("({})", p.list(9))).collect();
        let sql = format!(
            "INSERT INTO delivery_attempts (delivery_id, attempt_no, started_at_ms, latency_ms, url, status_code, \
             response_excerpt, error, outcome) VALUES {}",
            values.join(", ")
        );
        on_tx!(tx, c => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for record in chunk {
                query = query
                    .bind(&record.delivery_id)
                    .bind(record.attempt_no)
                    .bind(record.started_at_ms)
                    .bind(record.latency_ms)
                    .bind(&record.url)
                    .bind(record.status_code)
                    .bind(&record.response_excerpt)
                    .bind(&record.error)
                    .bind(record.outcome.as_str());
            }
            query.execute(c).await.map(|r| r.rows_affected())
        })?;
    }
    // Deliveries that succeeded all change the same way: one statement per chunk.
    let delivered: Vec<&AttemptRecord> = records.iter().filter(|r| r.outcome == Outcome::Delivered).collect();
    for chunk in delivered.chunks(500) {
        let mut p = Placeholders::new(sqlite);
        let (now_p, now2_p, node_p) = (p.one(), p.one(), p.one());
        let sql = format!(
            "UPDATE deliveries SET state = 'delivered', next_attempt_ms = {now_p}, delivered_at_ms = {now2_p}, \
             attempts = attempts + 1, round_attempts = round_attempts + 1, last_status = 200, last_error = NULL, \
             locked_by = NULL, locked_until_ms = NULL WHERE locked_by = {node_p} AND state = 'pending' AND id IN ({})",
            p.list(chunk.len())
        );
        let updated = on_tx!(tx, c => {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(now).bind(node);
            for record in chunk {
                query = query.bind(&record.delivery_id);
            }
            query.execute(c).await.map(|r| r.rows_affected())
        })?;
        if updated < chunk.len() as u64 {
            tracing::warn!(
                lost = chunk.len() as u64 - updated,
                "delivered results for deliveries this node no longer holds; logged only"
            );
        }
        for record in chunk {
            if !delivered_endpoints.contains(&record.endpoint_id.as_str()) {
                delivered_endpoints.push(&record.endpoint_id);
            }
        }
    }
    for record in records.iter().filter(|r| r.outcome != Outcome::Delivered) {
        // A disabled endpoint's deliveries go to `parked`, whatever this attempt says.
        let (state, next) = match record.outcome {
            Outcome::Retry { next_attempt_ms } => ("pending", next_attempt_ms),
            Outcome::Dead => ("dead", now),
            Outcome::Gone | Outcome::Delivered => ("parked", now),
        };
        let updated = on_tx!(tx, c => sqlx::query(
            "UPDATE deliveries SET \
               state = CASE WHEN $2 = 'pending' AND EXISTS (SELECT 1 FROM callback_endpoints e \
                       WHERE e.id = deliveries.endpoint_id AND e.disabled_at_ms IS NOT NULL) THEN 'parked' ELSE $2 END, \
               next_attempt_ms = $3, attempts = attempts + 1, round_attempts = round_attempts + 1, \
               last_status = $4, last_error = $5, locked_by = NULL, locked_until_ms = NULL \
             WHERE id = $1 AND locked_by = $6 AND state = 'pending'")
            .bind(&record.delivery_id)
            .bind(state)
            .bind(next)
            .bind(record.status_code)
            .bind(&record.error)
            .bind(node)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        if updated == 0 {
            tracing::warn!(delivery_id = %record.delivery_id, "attempt result for a delivery this node no longer holds; logged only");
            continue;
        }
        match record.outcome {
            Outcome::Dead => {
                let (streak, disabled): (i64, Option<i64>) = on_tx!(tx, c => sqlx::query_as(
                    "UPDATE callback_endpoints SET consecutive_dead = consecutive_dead + 1 WHERE id = $1 \
                     RETURNING consecutive_dead, disabled_at_ms")
                    .bind(&record.endpoint_id)
                    .fetch_one(c)
                    .await)?;
                if disabled.is_none() && streak >= disable_after_dead {
                    to_disable.push((record, format!("{streak} deliveries in a row failed every attempt")));
                }
            }
            Outcome::Gone => to_disable.push((record, "the receiver answered 410 Gone".to_owned())),
            Outcome::Retry { .. } | Outcome::Delivered => {}
        }
    }
    for endpoint_id in delivered_endpoints {
        on_tx!(tx, c => sqlx::query("UPDATE callback_endpoints SET consecutive_dead = 0 WHERE id = $1 AND consecutive_dead <> 0")
            .bind(endpoint_id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    let mut disabled = Vec::new();
    for (record, reason) in to_disable {
        let changed = on_tx!(tx, c => sqlx::query(
            "UPDATE callback_endpoints SET disabled_at_ms = $2, disabled_reason = $3 WHERE id = $1 AND disabled_at_ms IS NULL")
            .bind(&record.endpoint_id)
            .bind(now)
            .bind(&reason)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        if changed == 0 {
            continue;
        }
        let parked = on_tx!(tx, c => sqlx::query(
            "UPDATE deliveries SET state = 'parked', locked_by = NULL, locked_until_ms = NULL \
             WHERE endpoint_id = $1 AND state = 'pending'")
            .bind(&record.endpoint_id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        let owner: Option<(String,)> = on_tx!(tx, c => sqlx::query_as("SELECT email FROM accounts WHERE id = $1")
            .bind(&record.account_id)
            .fetch_optional(c)
            .await)?;
        if let Some((email,)) = owner {
            let body = format!(
                "Countersign stopped sending callbacks to {url} because {reason}.\n\n\
                 Events for this URL are kept (parked), not lost: {parked} are waiting now, and new ones will wait too.\n\
                 When the URL works again, save it again as your callback URL (PUT /v3/account or PUT /v3/api_app/{{client_id}}) \
                 or call POST /v3/callback_endpoints/enable with url={url}, and every parked event is sent.\n",
                url = record.url
            );
            crate::jobs::queue_email(
                tx,
                &record.account_id,
                &email,
                "Countersign: your callback URL was disabled",
                &body,
            )
            .await?;
        }
        tracing::warn!(account_id = %record.account_id, url = %record.url, %reason, parked, "callback URL disabled");
        disabled.push(DisabledEndpoint {
            endpoint_id: record.endpoint_id.clone(),
            account_id: record.account_id.clone(),
            url: record.url.clone(),
            reason,
            parked,
        });
    }
    Ok(disabled)
}

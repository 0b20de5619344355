//! The account's event feed (in commit order on both backends), one event's detail with every
//! attempt, and resending an event.

use countersign_domain::ids::AccountId;
use countersign_domain::time::now_ms;

use super::{AttemptInfo, DeliverySummary, EventFeedPage, EventSummary, Placeholders};
use crate::db::{Pool, with_pool, with_writer};
use crate::{Store, StoreResult};

const EVENT_COLUMNS: &str =
    "id, event_type, event_time, signature_request_id, event_sequence, client_id, created_at_ms";
const DELIVERY_COLUMNS: &str = "d.id, d.event_id, d.target, d.client_id, d.url, d.state, d.attempts, d.last_status, d.last_error, \
     d.next_attempt_ms, d.delivered_at_ms, b.payload";

impl Store {
    /// A page of the account's events in feed order, after `cursor`, each with its deliveries.
    ///
    /// SQLite has a single writer, so insertion order is commit order. On PostgreSQL the feed orders by
    /// the writing transaction's id and shows only events older than every transaction still running,
    /// so an event that commits after a reader has moved on can never fall behind its cursor.
    pub async fn events_feed(
        &self,
        account_id: &AccountId,
        cursor: Option<&str>,
        limit: i64,
    ) -> StoreResult<EventFeedPage> {
        #[derive(sqlx::FromRow)]
        struct FeedRow {
            #[sqlx(flatten)]
            event: EventSummary,
            /// SQLite: the insertion order; PostgreSQL: the order within the writing transaction.
            feed_seq: i64,
            /// PostgreSQL only: the writing transaction's id.
            #[sqlx(default)]
            txid: Option<String>,
        }
        let rows: Vec<FeedRow> = match &self.pool {
            Pool::Sqlite(pool) => {
                let after: i64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
                let sql = format!(
                    "SELECT {EVENT_COLUMNS}, feed_seq FROM events WHERE account_id = $1 AND feed_seq > $2 ORDER BY feed_seq LIMIT $3"
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(account_id.as_str())
                    .bind(after)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
            Pool::Postgres(pool) => {
                let (txid, seq) = cursor
                    .and_then(|c| c.split_once('-'))
                    .and_then(|(t, s)| Some((t.parse::<u64>().ok()?, s.parse::<i64>().ok()?)))
                    .unwrap_or((0, 0));
                let sql = format!(
                    "SELECT {EVENT_COLUMNS}, txid::text AS txid, feed_seq FROM events WHERE account_id = $1 \
                     AND (txid, feed_seq) > ($2::text::xid8, $3) AND txid < pg_snapshot_xmin(pg_current_snapshot()) \
                     ORDER BY txid, feed_seq LIMIT $4"
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .bind(account_id.as_str())
                    .bind(txid.to_string())
                    .bind(seq)
                    .bind(limit)
                    .fetch_all(pool)
                    .await?
            }
        };
        let next_cursor = match rows.last() {
            Some(FeedRow { txid: Some(txid), feed_seq, .. }) => format!("{txid}-{feed_seq}"),
            Some(FeedRow { feed_seq, .. }) => feed_seq.to_string(),
            None => cursor.unwrap_or("").to_owned(),
        };
        let events = self.with_deliveries(rows.into_iter().map(|r| r.event).collect()).await?;
        Ok(EventFeedPage { events, next_cursor })
    }

    /// Fills in each event's deliveries.
    async fn with_deliveries(&self, mut events: Vec<EventSummary>) -> StoreResult<Vec<EventSummary>> {
        if events.is_empty() {
            return Ok(events);
        }
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN delivery_bodies b ON b.delivery_id = d.id \
             WHERE d.event_id IN ({}) ORDER BY d.created_at_ms, d.target",
            Placeholders::new(self.is_sqlite()).list(events.len())
        );
        let deliveries: Vec<DeliverySummary> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for event in &events {
                query = query.bind(&event.id);
            }
            query.fetch_all(pool).await
        })?;
        for delivery in deliveries {
            if let Some(event) = events.iter_mut().find(|e| e.id == delivery.event_id) {
                event.deliveries.push(delivery);
            }
        }
        Ok(events)
    }

    /// One of the account's events with its deliveries and every attempt, oldest first.
    pub async fn event_detail(
        &self,
        account_id: &AccountId,
        event_id: &str,
    ) -> StoreResult<Option<(EventSummary, Vec<AttemptInfo>)>> {
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE id = $1 AND account_id = $2");
        let row: Option<EventSummary> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .bind(account_id.as_str())
            .fetch_optional(pool)
            .await)?;
        let Some(row) = row else { return Ok(None) };
        let event = self.with_deliveries(vec![row]).await?.remove(0);
        let attempts: Vec<AttemptInfo> = with_pool!(self, pool => sqlx::query_as(
            "SELECT a.delivery_id, a.attempt_no, a.started_at_ms, a.latency_ms, a.url, a.status_code, a.response_excerpt, a.error, a.outcome \
             FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.event_id = $1 ORDER BY a.started_at_ms, a.id")
            .bind(event_id)
            .fetch_all(pool)
            .await)?;
        Ok(Some((event, attempts)))
    }

    /// Sends an event's deliveries again, with a fresh schedule, the same bytes. `None` when the event
    /// is not the account's; otherwise how many deliveries were queued (those to a disabled URL stay
    /// parked and are not counted).
    pub async fn resend_event(&self, account_id: &AccountId, event_id: &str) -> StoreResult<Option<u64>> {
        let exists: Option<(String,)> = with_pool!(self, pool => sqlx::query_as("SELECT id FROM events WHERE id = $1 AND account_id = $2")
            .bind(event_id)
            .bind(account_id.as_str())
            .fetch_optional(pool)
            .await)?;
        if exists.is_none() {
            return Ok(None);
        }
        let queued = with_writer!(self, pool => sqlx::query(
            "UPDATE deliveries SET state = 'pending', round_attempts = 0, next_attempt_ms = $3, locked_by = NULL, locked_until_ms = NULL \
             WHERE event_id = $1 AND account_id = $2 AND endpoint_id IN (SELECT id FROM callback_endpoints WHERE disabled_at_ms IS NULL)")
            .bind(event_id)
            .bind(account_id.as_str())
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        self.wake_deliveries();
        Ok(Some(queued))
    }
}

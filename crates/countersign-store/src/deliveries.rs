//! Deliveries after commit: claiming due ones with a lease, recording every attempt and its outcome,
//! endpoint health (dead streaks, disabling, parking, replay), resends, and the account's event feed.

use countersign_callback::WebhookSecret;
use countersign_domain::ids::AccountId;

use crate::db::{Pool, with_pool, with_writer};
use crate::{Store, StoreError, StoreResult};
use countersign_domain::time::now_ms;

/// A delivery claimed by this node until `locked_until_ms`.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: String,
    pub event_id: String,
    pub account_id: String,
    pub endpoint_id: String,
    pub url: String,
    pub payload: String,
    pub content_md5: String,
    pub content_sha256: String,
    /// Attempts made before this one, in all.
    pub attempts: i64,
    /// Attempts made since the delivery was created, resent or replayed: what the schedule counts.
    pub round_attempts: i64,
    /// The event's place among its signature request's events (sent as `Countersign-Event-Sequence`).
    pub event_sequence: Option<i64>,
}

type ClaimRow = (String, String, String, String, String, i64, i64, Option<i64>);

const CLAIM_COLUMNS: &str = "id, event_id, account_id, endpoint_id, url, attempts, round_attempts, event_sequence";

fn claimed_from_row(
    r: ClaimRow,
    bodies: &mut std::collections::HashMap<String, (String, String, String)>,
) -> Option<ClaimedDelivery> {
    let (id, event_id, account_id, endpoint_id, url, attempts, round_attempts, event_sequence) = r;
    let (payload, content_md5, content_sha256) = bodies.remove(&id)?;
    Some(ClaimedDelivery {
        id,
        event_id,
        account_id,
        endpoint_id,
        url,
        payload,
        content_md5,
        content_sha256,
        attempts,
        round_attempts,
        event_sequence,
    })
}

/// What became of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed; try again at this time.
    Retry {
        next_attempt_ms: i64,
    },
    /// Failed, and the schedule is exhausted.
    Dead,
    /// The receiver answered `410 Gone`: the URL is disabled at once and the delivery parked.
    Gone,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Retry { .. } => "retry",
            Self::Dead => "dead",
            Self::Gone => "gone",
        }
    }
}

/// One attempt, as it is written to the log.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: String,
    pub endpoint_id: String,
    pub account_id: String,
    pub attempt_no: i64,
    pub started_at_ms: i64,
    pub latency_ms: i64,
    pub url: String,
    pub status_code: Option<i64>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub outcome: Outcome,
}

/// A callback URL that was just disabled.
#[derive(Debug, Clone)]
pub struct DisabledEndpoint {
    pub endpoint_id: String,
    pub account_id: String,
    pub url: String,
    pub reason: String,
    pub parked: u64,
}

/// A callback endpoint as the API shows it.
#[derive(Debug, Clone)]
pub struct EndpointInfo {
    pub url: String,
    pub secret: WebhookSecret,
    pub consecutive_dead: i64,
    pub disabled_at_ms: Option<i64>,
    pub disabled_reason: Option<String>,
    pub parked: i64,
}

#[derive(Debug, Clone)]
pub struct DeliverySummary {
    pub id: String,
    pub event_id: String,
    pub target: String,
    pub client_id: Option<String>,
    pub url: String,
    pub state: String,
    pub attempts: i64,
    pub last_status: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_ms: i64,
    pub delivered_at_ms: Option<i64>,
    pub payload: String,
}

#[derive(Debug, Clone)]
pub struct EventSummary {
    pub id: String,
    pub event_type: String,
    pub event_time: i64,
    pub signature_request_id: Option<String>,
    pub event_sequence: Option<i64>,
    pub client_id: Option<String>,
    pub created_at_ms: i64,
    pub deliveries: Vec<DeliverySummary>,
}

#[derive(Debug, Clone)]
pub struct AttemptInfo {
    pub delivery_id: String,
    pub attempt_no: i64,
    pub started_at_ms: i64,
    pub latency_ms: i64,
    pub url: String,
    pub status_code: Option<i64>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    pub outcome: String,
}

#[derive(Debug, Clone)]
pub struct EventFeedPage {
    pub events: Vec<EventSummary>,
    /// Where the next page starts; the same cursor again when there was nothing new.
    pub next_cursor: String,
}

#[derive(Debug, Clone)]
pub struct StoredEmail {
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub created_at_ms: i64,
}

type EventRow = (String, String, i64, Option<String>, Option<i64>, Option<String>, i64);
type DeliveryRow = (
    String,
    String,
    String,
    Option<String>,
    String,
    String,
    i64,
    Option<i64>,
    Option<String>,
    i64,
    Option<i64>,
    String,
);
const EVENT_COLUMNS: &str =
    "id, event_type, event_time, signature_request_id, event_sequence, client_id, created_at_ms";
const DELIVERY_COLUMNS: &str = "d.id, d.event_id, d.target, d.client_id, d.url, d.state, d.attempts, d.last_status, d.last_error, \
     d.next_attempt_ms, d.delivered_at_ms, b.payload";

/// Placeholders for statements built at run time, numbered in the order they are written, so values
/// are bound in that same order. SQLite gets anonymous `?`: it looks `$N` names up one by one, which
/// makes long `IN (…)` lists quadratic.
struct Placeholders {
    sqlite: bool,
    next: usize,
}

impl Placeholders {
    fn new(sqlite: bool) -> Self {
        Self { sqlite, next: 0 }
    }

    fn one(&mut self) -> String {
        self.next += 1;
        if self.sqlite { "?".to_owned() } else { format!("${}", self.next) }
    }

    fn list(&mut self, count: usize) -> String {
        (0..count).map(|_| self.one()).collect::<Vec<_>>().join(", ")
    }
}

impl Store {
    fn is_sqlite(&self) -> bool {
        matches!(self.pool, Pool::Sqlite(_))
    }
}

impl Store {
    /// SQLite has one process: leases left by a process that died are released at start.
    pub async fn release_stale_leases_at_start(&self) -> StoreResult<u64> {
        if let (Pool::Sqlite(_), Some(pool)) = (&self.pool, &self.sqlite_writer) {
            let done = sqlx::query(
                "UPDATE deliveries SET locked_by = NULL, locked_until_ms = NULL WHERE locked_by IS NOT NULL",
            )
            .execute(pool)
            .await?;
            return Ok(done.rows_affected());
        }
        Ok(0)
    }

    /// Claims up to `limit` due deliveries for `node` until `now + lease_ms`, oldest first, skipping
    /// the endpoints in `exclude` (those this node already has enough of in hand). On PostgreSQL rows
    /// locked by another node's claim are skipped (`FOR UPDATE SKIP LOCKED`); an expired lease is
    /// claimable again, which is how a dead node's work is taken over.
    pub async fn claim_deliveries(
        &self,
        node: &str,
        lease_ms: i64,
        limit: i64,
        exclude: &[String],
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let now = now_ms();
        let lock = match self.pool {
            Pool::Sqlite(_) => "",
            Pool::Postgres(_) => "FOR UPDATE SKIP LOCKED",
        };
        let mut p = Placeholders::new(self.is_sqlite());
        let (node_p, until_p, now_p, now2_p) = (p.one(), p.one(), p.one(), p.one());
        let exclusion = if exclude.is_empty() {
            String::new()
        } else {
            format!("AND endpoint_id NOT IN ({})", p.list(exclude.len()))
        };
        let limit_p = p.one();
        let sql = format!(
            "UPDATE deliveries SET locked_by = {node_p}, locked_until_ms = {until_p} WHERE id IN (\
               SELECT id FROM deliveries WHERE state = 'pending' AND next_attempt_ms <= {now_p} \
               AND (locked_until_ms IS NULL OR locked_until_ms < {now2_p}) {exclusion} \
               ORDER BY next_attempt_ms LIMIT {limit_p} {lock}) RETURNING {CLAIM_COLUMNS}"
        );
        macro_rules! claim_query {
            () => {{
                let mut query =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(node).bind(now + lease_ms).bind(now).bind(now);
                for endpoint in exclude {
                    query = query.bind(endpoint);
                }
                query.bind(limit)
            }};
        }
        let rows: Vec<ClaimRow> = match &self.pool {
            Pool::Sqlite(_) => claim_query!().fetch_all(self.writer()).await?,
            Pool::Postgres(pool) => {
                // A claim is soft state: if the database lost it in a crash, the rows would simply be
                // claimable again (a possible duplicate send, never a loss). So it need not wait for its
                // WAL flush, which would otherwise bound claims by fsync latency.
                let mut tx = pool.begin().await?;
                sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
                let rows = claim_query!().fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows
            }
        };
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT delivery_id, payload, content_md5, content_sha256 FROM delivery_bodies WHERE delivery_id IN ({})",
            Placeholders::new(self.is_sqlite()).list(rows.len())
        );
        let bodies: Vec<(String, String, String, String)> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for row in &rows {
                query = query.bind(&row.0);
            }
            query.fetch_all(pool).await
        })?;
        let mut bodies: std::collections::HashMap<String, (String, String, String)> =
            bodies.into_iter().map(|(id, payload, md5, sha256)| (id, (payload, md5, sha256))).collect();
        Ok(rows.into_iter().filter_map(|row| claimed_from_row(row, &mut bodies)).collect())
    }

    /// Releases the leases on these deliveries, so they are claimable at once.
    pub async fn release_leases(&self, ids: &[String]) -> StoreResult<()> {
        for chunk in ids.chunks(500) {
            let sql = format!(
                "UPDATE deliveries SET locked_by = NULL, locked_until_ms = NULL WHERE state = 'pending' AND id IN ({})",
                Placeholders::new(self.is_sqlite()).list(chunk.len())
            );
            with_writer!(self, pool => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                for id in chunk {
                    query = query.bind(id);
                }
                query.execute(pool).await.map(|_| ())
            })?;
        }
        Ok(())
    }

    /// Releases the leases `node` still holds (at shutdown), so the work is claimable at once.
    pub async fn release_leases_of(&self, node: &str) -> StoreResult<u64> {
        with_writer!(self, pool => sqlx::query(
            "UPDATE deliveries SET locked_by = NULL, locked_until_ms = NULL WHERE locked_by = $1 AND state = 'pending'")
            .bind(node)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(Into::into)
    }

    /// When the next pending delivery not under a live lease falls due (ms). Leases that expire are
    /// noticed by the engine's poll: they last minutes, the poll seconds.
    pub async fn next_claimable_ms(&self) -> StoreResult<Option<i64>> {
        let (due,): (Option<i64>,) = with_pool!(self, pool => sqlx::query_as(
            "SELECT MIN(next_attempt_ms) FROM deliveries WHERE state = 'pending' AND (locked_until_ms IS NULL OR locked_until_ms < $1)")
            .bind(now_ms())
            .fetch_one(pool)
            .await)?;
        Ok(due)
    }

    /// An endpoint's Standard Webhooks secret.
    pub async fn endpoint_secret(&self, endpoint_id: &str) -> StoreResult<WebhookSecret> {
        let (sealed,): (Vec<u8>,) = with_pool!(self, pool => sqlx::query_as("SELECT secret_sealed FROM callback_endpoints WHERE id = $1")
            .bind(endpoint_id)
            .fetch_one(pool)
            .await)?;
        let text = self.master_key.open_string(&sealed).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(WebhookSecret::from_text(text))
    }

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
        let disabled = match &self.pool {
            Pool::Sqlite(_) => {
                let pool = self.writer();
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let disabled = record_attempts_sqlite(&mut tx, node, records, disable_after_dead).await?;
                tx.commit().await?;
                disabled
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let disabled = record_attempts_postgres(&mut tx, node, records, disable_after_dead).await?;
                tx.commit().await?;
                disabled
            }
        };
        if !disabled.is_empty() {
            self.wake_mailer();
        }
        Ok(disabled)
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
        let rows: Vec<(String, Vec<u8>, i64, Option<i64>, Option<String>, i64)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT e.url, e.secret_sealed, e.consecutive_dead, e.disabled_at_ms, e.disabled_reason, \
             (SELECT COUNT(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.state = 'parked') \
             FROM callback_endpoints e WHERE e.account_id = $1 ORDER BY e.created_at_ms, e.url")
            .bind(account_id.as_str())
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|(url, sealed, consecutive_dead, disabled_at_ms, disabled_reason, parked)| {
                let secret = self.master_key.open_string(&sealed).map_err(|e| StoreError::Corrupt(e.to_string()))?;
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
        let (rows, next_cursor): (Vec<(EventRow, String)>, Option<String>) = match &self.pool {
            Pool::Sqlite(pool) => {
                let after: i64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
                let sql = format!(
                    "SELECT {EVENT_COLUMNS}, feed_seq FROM events WHERE account_id = $1 AND feed_seq > $2 ORDER BY feed_seq LIMIT $3"
                );
                let rows: Vec<(String, String, i64, Option<String>, Option<i64>, Option<String>, i64, i64)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(account_id.as_str())
                        .bind(after)
                        .bind(limit)
                        .fetch_all(pool)
                        .await?;
                let last = rows.last().map(|r| r.7.to_string());
                (
                    rows.into_iter().map(|(a, b, c, d, e, f, g, _)| ((a, b, c, d, e, f, g), String::new())).collect(),
                    last,
                )
            }
            Pool::Postgres(pool) => {
                let (txid, seq) = cursor
                    .and_then(|c| c.split_once('-'))
                    .and_then(|(t, s)| Some((t.parse::<u64>().ok()?, s.parse::<i64>().ok()?)))
                    .unwrap_or((0, 0));
                let sql = format!(
                    "SELECT {EVENT_COLUMNS}, txid::text, feed_seq FROM events WHERE account_id = $1 \
                     AND (txid, feed_seq) > ($2::text::xid8, $3) AND txid < pg_snapshot_xmin(pg_current_snapshot()) \
                     ORDER BY txid, feed_seq LIMIT $4"
                );
                let rows: Vec<(String, String, i64, Option<String>, Option<i64>, Option<String>, i64, String, i64)> =
                    sqlx::query_as(sqlx::AssertSqlSafe(sql))
                        .bind(account_id.as_str())
                        .bind(txid.to_string())
                        .bind(seq)
                        .bind(limit)
                        .fetch_all(pool)
                        .await?;
                let last = rows.last().map(|r| format!("{}-{}", r.7, r.8));
                (
                    rows.into_iter()
                        .map(|(a, b, c, d, e, f, g, _, _)| ((a, b, c, d, e, f, g), String::new()))
                        .collect(),
                    last,
                )
            }
        };
        let next_cursor = next_cursor.unwrap_or_else(|| cursor.unwrap_or("").to_owned());
        let events = self.with_deliveries(rows.into_iter().map(|(r, _)| r).collect()).await?;
        Ok(EventFeedPage { events, next_cursor })
    }

    async fn with_deliveries(&self, rows: Vec<EventRow>) -> StoreResult<Vec<EventSummary>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {DELIVERY_COLUMNS} FROM deliveries d JOIN delivery_bodies b ON b.delivery_id = d.id \
             WHERE d.event_id IN ({}) ORDER BY d.created_at_ms, d.target",
            Placeholders::new(self.is_sqlite()).list(rows.len())
        );
        let deliveries: Vec<DeliveryRow> = with_pool!(self, pool => {
            let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql));
            for row in &rows {
                query = query.bind(&row.0);
            }
            query.fetch_all(pool).await
        })?;
        let mut events: Vec<EventSummary> = rows
            .into_iter()
            .map(|(id, event_type, event_time, signature_request_id, event_sequence, client_id, created_at_ms)| {
                EventSummary {
                    id,
                    event_type,
                    event_time,
                    signature_request_id,
                    event_sequence,
                    client_id,
                    created_at_ms,
                    deliveries: Vec::new(),
                }
            })
            .collect();
        for (
            id,
            event_id,
            target,
            client_id,
            url,
            state,
            attempts,
            last_status,
            last_error,
            next_attempt_ms,
            delivered_at_ms,
            payload,
        ) in deliveries
        {
            if let Some(event) = events.iter_mut().find(|e| e.id == event_id) {
                event.deliveries.push(DeliverySummary {
                    id,
                    event_id,
                    target,
                    client_id,
                    url,
                    state,
                    attempts,
                    last_status,
                    last_error,
                    next_attempt_ms,
                    delivered_at_ms,
                    payload,
                });
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
        let row: Option<EventRow> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(event_id)
            .bind(account_id.as_str())
            .fetch_optional(pool)
            .await)?;
        let Some(row) = row else { return Ok(None) };
        let event = self.with_deliveries(vec![row]).await?.remove(0);
        let attempts: Vec<(String, i64, i64, i64, String, Option<i64>, Option<String>, Option<String>, String)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT a.delivery_id, a.attempt_no, a.started_at_ms, a.latency_ms, a.url, a.status_code, a.response_excerpt, a.error, a.outcome \
             FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.event_id = $1 ORDER BY a.started_at_ms, a.id")
            .bind(event_id)
            .fetch_all(pool)
            .await)?;
        let attempts = attempts
            .into_iter()
            .map(
                |(
                    delivery_id,
                    attempt_no,
                    started_at_ms,
                    latency_ms,
                    url,
                    status_code,
                    response_excerpt,
                    error,
                    outcome,
                )| AttemptInfo {
                    delivery_id,
                    attempt_no,
                    started_at_ms,
                    latency_ms,
                    url,
                    status_code,
                    response_excerpt,
                    error,
                    outcome,
                },
            )
            .collect();
        Ok(Some((event, attempts)))
    }

    /// E-mails stored for an account (newest last): what would have been sent without SMTP.
    pub async fn stored_emails(&self, account_id: &AccountId) -> StoreResult<Vec<StoredEmail>> {
        let rows: Vec<(String, String, String, i64)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT to_address, subject, body, created_at_ms FROM outgoing_emails WHERE account_id = $1 ORDER BY id")
            .bind(account_id.as_str())
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(to_address, subject, body, created_at_ms)| StoredEmail { to_address, subject, body, created_at_ms })
            .collect())
    }

    /// How many deliveries are in each state (for tests, metrics and the benchmark).
    pub async fn delivery_state_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        with_pool!(self, pool => sqlx::query_as("SELECT state, COUNT(*) FROM deliveries GROUP BY state ORDER BY state")
            .fetch_all(pool)
            .await)
        .map_err(Into::into)
    }
}

macro_rules! define_record_attempts {
    ($name:ident, $conn:ty, $sqlite:expr) => {
        async fn $name(conn: &mut $conn, node: &str, records: &[AttemptRecord], disable_after_dead: i64) -> StoreResult<Vec<DisabledEndpoint>> {
            let now = now_ms();
            let mut delivered_endpoints: Vec<&str> = Vec::new();
            let mut to_disable: Vec<(&AttemptRecord, String)> = Vec::new();
            // Every attempt goes to the log, many rows per statement.
            for chunk in records.chunks(100) {
                let mut p = Placeholders::new($sqlite);
                let values: Vec<String> = chunk.iter().map(|_| format!("({})", p.list(9))).collect();
                let sql = format!(
                    "INSERT INTO delivery_attempts (delivery_id, attempt_no, started_at_ms, latency_ms, url, status_code, \
                     response_excerpt, error, outcome) VALUES {}",
                    values.join(", ")
                );
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
                query.execute(&mut *conn).await?;
            }
            // Deliveries that succeeded all change the same way: one statement per chunk.
            let delivered: Vec<&AttemptRecord> = records.iter().filter(|r| r.outcome == Outcome::Delivered).collect();
            for chunk in delivered.chunks(500) {
                let mut p = Placeholders::new($sqlite);
                let (now_p, now2_p, node_p) = (p.one(), p.one(), p.one());
                let sql = format!(
                    "UPDATE deliveries SET state = 'delivered', next_attempt_ms = {now_p}, delivered_at_ms = {now2_p}, \
                     attempts = attempts + 1, round_attempts = round_attempts + 1, last_status = 200, last_error = NULL, \
                     locked_by = NULL, locked_until_ms = NULL WHERE locked_by = {node_p} AND state = 'pending' AND id IN ({})",
                    p.list(chunk.len())
                );
                let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).bind(now).bind(node);
                for record in chunk {
                    query = query.bind(&record.delivery_id);
                }
                let updated = query.execute(&mut *conn).await?.rows_affected();
                if updated < chunk.len() as u64 {
                    tracing::warn!(lost = chunk.len() as u64 - updated, "delivered results for deliveries this node no longer holds; logged only");
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
                let updated = sqlx::query(
                    "UPDATE deliveries SET \
                       state = CASE WHEN $2 = 'pending' AND EXISTS (SELECT 1 FROM callback_endpoints e \
                               WHERE e.id = deliveries.endpoint_id AND e.disabled_at_ms IS NOT NULL) THEN 'parked' ELSE $2 END, \
                       next_attempt_ms = $3, attempts = attempts + 1, round_attempts = round_attempts + 1, \
                       last_status = $4, last_error = $5, locked_by = NULL, locked_until_ms = NULL \
                     WHERE id = $1 AND locked_by = $6 AND state = 'pending'",
                )
                .bind(&record.delivery_id)
                .bind(state)
                .bind(next)
                .bind(record.status_code)
                .bind(&record.error)
                .bind(node)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if updated == 0 {
                    tracing::warn!(delivery_id = %record.delivery_id, "attempt result for a delivery this node no longer holds; logged only");
                    continue;
                }
                match record.outcome {
                    Outcome::Dead => {
                        let (streak, disabled): (i64, Option<i64>) = sqlx::query_as(
                            "UPDATE callback_endpoints SET consecutive_dead = consecutive_dead + 1 WHERE id = $1 RETURNING consecutive_dead, disabled_at_ms",
                        )
                        .bind(&record.endpoint_id)
                        .fetch_one(&mut *conn)
                        .await?;
                        if disabled.is_none() && streak >= disable_after_dead {
                            to_disable.push((record, format!("{streak} deliveries in a row failed every attempt")));
                        }
                    }
                    Outcome::Gone => to_disable.push((record, "the receiver answered 410 Gone".to_owned())),
                    Outcome::Retry { .. } | Outcome::Delivered => {}
                }
            }
            for endpoint_id in delivered_endpoints {
                sqlx::query("UPDATE callback_endpoints SET consecutive_dead = 0 WHERE id = $1 AND consecutive_dead <> 0")
                    .bind(endpoint_id)
                    .execute(&mut *conn)
                    .await?;
            }
            let mut disabled = Vec::new();
            for (record, reason) in to_disable {
                let changed = sqlx::query(
                    "UPDATE callback_endpoints SET disabled_at_ms = $2, disabled_reason = $3 WHERE id = $1 AND disabled_at_ms IS NULL",
                )
                .bind(&record.endpoint_id)
                .bind(now)
                .bind(&reason)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if changed == 0 {
                    continue;
                }
                let parked = sqlx::query(
                    "UPDATE deliveries SET state = 'parked', locked_by = NULL, locked_until_ms = NULL WHERE endpoint_id = $1 AND state = 'pending'",
                )
                .bind(&record.endpoint_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                let owner: Option<(String,)> = sqlx::query_as("SELECT email FROM accounts WHERE id = $1")
                    .bind(&record.account_id)
                    .fetch_optional(&mut *conn)
                    .await?;
                if let Some((email,)) = owner {
                    let body = format!(
                        "Countersign stopped sending callbacks to {url} because {reason}.\n\n\
                         Events for this URL are kept (parked), not lost: {parked} are waiting now, and new ones will wait too.\n\
                         When the URL works again, save it again as your callback URL (PUT /v3/account or PUT /v3/api_app/{{client_id}}) \
                         or call POST /v3/callback_endpoints/enable with url={url}, and every parked event is sent.\n",
                        url = record.url
                    );
                    crate::jobs::queue_email!(conn, &record.account_id, &email, "Countersign: your callback URL was disabled", &body);
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
    };
}

define_record_attempts!(record_attempts_sqlite, sqlx::SqliteConnection, true);
define_record_attempts!(record_attempts_postgres, sqlx::PgConnection, false);

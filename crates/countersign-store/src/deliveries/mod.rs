//! Deliveries after commit: claiming due ones with a lease (`claims.rs`), recording every attempt and
//! its outcome (`attempts.rs`), endpoint health, disabling, parking and replay (`endpoints.rs`), and
//! the account's event feed and resends (`feed.rs`).

mod attempts;
mod claims;
mod endpoints;
mod feed;

use countersign_callback::WebhookSecret;

use crate::db::{Pool, with_pool};
use crate::{Store, StoreResult};

pub use crate::handoff::ClaimedDelivery;

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

#[derive(Debug, Clone, sqlx::FromRow)]
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

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventSummary {
    pub id: String,
    pub event_type: String,
    pub event_time: i64,
    pub signature_request_id: Option<String>,
    pub event_sequence: Option<i64>,
    pub client_id: Option<String>,
    pub created_at_ms: i64,
    #[sqlx(skip)]
    pub deliveries: Vec<DeliverySummary>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
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
    /// How many deliveries are in each state (for tests, metrics and the benchmark).
    pub async fn delivery_state_counts(&self) -> StoreResult<Vec<(String, i64)>> {
        with_pool!(self, pool => sqlx::query_as("SELECT state, COUNT(*) FROM deliveries GROUP BY state ORDER BY state")
            .fetch_all(pool)
            .await)
        .map_err(Into::into)
    }
}

//! Signature requests, their signers, documents, fields and jobs.
//!
//! A request is created in one transaction with its document bytes, signers and `process_documents`
//! job. Every later state change goes through [`Store::change_signature_request`]: it locks the request,
//! lets the caller change the stored object, and commits the new object together with the fields,
//! signer rows, jobs and events the change produced — so no event is sent for a change that did not
//! commit, and no half-processed request is ever visible.

use countersign_callback::{EventObject, NewEvent};
use countersign_domain::ids::AccountId;
use countersign_domain::lifecycle::JobKind;
use countersign_domain::signature_request::{
    FieldSpec, ProcessingOptions, RequestStatus, SearchQuery, SignatureRequestBody,
};
use countersign_domain::time::now_ms;
use sha2::{Digest, Sha256};

use crate::db::{Pool, with_pool, with_writer};
use crate::deliveries::ClaimedDelivery;
use crate::outbox::{Lease, OutboxTargets, insert_events_postgres, insert_events_sqlite};
use crate::{Store, StoreError, StoreResult};

/// One document of a new request: uploaded bytes, or a URL the worker fetches.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub file_name: String,
    pub bytes: Option<bytes::Bytes>,
    pub file_url: Option<String>,
}

/// A new request as the API accepted it.
#[derive(Debug, Clone)]
pub struct NewSignatureRequest {
    pub account_id: AccountId,
    pub client_id: Option<String>,
    pub is_embedded: bool,
    pub body: SignatureRequestBody,
    pub options: ProcessingOptions,
    pub documents: Vec<NewDocument>,
}

/// The request as a change sees it, and what a change writes: the domain's state machine types.
pub use countersign_domain::lifecycle::{SignatureRequest, Transition};

/// One document row.
#[derive(Debug, Clone)]
pub struct DocumentRow {
    pub document_index: i64,
    pub file_name: String,
    pub file_url: Option<String>,
    pub blob_sha256: Option<String>,
}

/// A page of requests for `list`.
pub struct RequestPage {
    pub bodies: Vec<String>,
    pub total: i64,
}

/// Who a signature belongs to.
#[derive(Debug, Clone)]
pub struct SignatureOwner {
    pub signature_request_id: String,
    pub account_id: String,
    pub status: RequestStatus,
    pub is_embedded: bool,
    pub replaced: bool,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn blob_digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

type StateRow = (String, Option<String>, bool, String, bool, String, String);

fn state_from_row(id: &str, row: StateRow) -> StoreResult<SignatureRequest> {
    let (account_id, client_id, is_embedded, status, removed, body, options) = row;
    Ok(SignatureRequest {
        id: id.to_owned(),
        account_id: AccountId::parse(&account_id).ok_or_else(|| corrupt("account id", &account_id))?,
        client_id,
        is_embedded,
        status: RequestStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        removed,
        body: serde_json::from_str(&body).map_err(|e| corrupt("signature request body", e))?,
        options: serde_json::from_str(&options).map_err(|e| corrupt("processing options", e))?,
    })
}

const STATE_SELECT: &str = "SELECT account_id, client_id, is_embedded, status, removed, body, options \
     FROM signature_requests WHERE id = $1";

/// Inserts a pending job on `$conn`.
macro_rules! insert_job {
    ($conn:expr, $request_id:expr, $kind:expr, $run_at_ms:expr) => {
        sqlx::query(
            "INSERT INTO jobs (id, kind, signature_request_id, state, run_at_ms, created_at_ms) \
             VALUES ($1, $2, $3, 'pending', $4, $5)",
        )
        .bind(countersign_callback::new_event_id())
        .bind($kind)
        .bind($request_id)
        .bind($run_at_ms)
        .bind(now_ms())
        .execute($conn)
        .await?
    };
}

/// Writes a new request on `conn` (an open transaction).
macro_rules! define_insert_request {
    ($name:ident, $conn:ty) => {
        async fn $name(conn: &mut $conn, new: &NewSignatureRequest) -> StoreResult<()> {
            let now = now_ms();
            let id = &new.body.signature_request_id;
            for doc in &new.documents {
                if let Some(bytes) = &doc.bytes {
                    sqlx::query(
                        "INSERT INTO blobs (sha256, bytes, size, created_at_ms) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (sha256) DO NOTHING",
                    )
                    .bind(blob_digest(bytes))
                    .bind(&bytes[..])
                    .bind(bytes.len() as i64)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            let body = serde_json::to_string(&new.body).map_err(|e| corrupt("body", e))?;
            let options = serde_json::to_string(&new.options).map_err(|e| corrupt("options", e))?;
            sqlx::query(
                "INSERT INTO signature_requests (id, account_id, client_id, is_embedded, status, created_at, \
                 created_at_ms, expires_at, removed, body, options, updated_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $10, $7, FALSE, $8, $9, $10)",
            )
            .bind(id)
            .bind(new.account_id.as_str())
            .bind(&new.client_id)
            .bind(new.is_embedded)
            .bind(RequestStatus::Processing.as_str())
            .bind(new.body.created_at)
            .bind(new.body.expires_at)
            .bind(body)
            .bind(options)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            for (index, s) in new.body.signatures.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO signers (signature_id, signature_request_id, signer_index, email_address, name) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&s.signature_id)
                .bind(id)
                .bind(index as i64)
                .bind(&s.signer_email_address)
                .bind(&s.signer_name)
                .execute(&mut *conn)
                .await?;
            }
            for (index, doc) in new.documents.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO documents (signature_request_id, document_index, file_name, file_url, blob_sha256, \
                     original_sha256) VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(id)
                .bind(index as i64)
                .bind(&doc.file_name)
                .bind(&doc.file_url)
                .bind(doc.bytes.as_ref().map(|b| blob_digest(b)))
                .execute(&mut *conn)
                .await?;
            }
            insert_job!(&mut *conn, id, JobKind::ProcessDocuments.as_str(), now);
            if let Some(expires_at) = new.body.expires_at {
                insert_job!(&mut *conn, id, JobKind::Expire.as_str(), expires_at * 1000);
            }
            Ok(())
        }
    };
}

define_insert_request!(insert_request_sqlite, sqlx::SqliteConnection);
define_insert_request!(insert_request_postgres, sqlx::PgConnection);

/// Applies a change on `conn` (an open transaction in which the request row is locked).
macro_rules! define_apply_change {
    ($name:ident, $conn:ty, $insert_events:ident) => {
        async fn $name(
            conn: &mut $conn,
            state: &SignatureRequest,
            change: &Transition,
            targets: Option<&OutboxTargets>,
            lease: Option<&Lease>,
        ) -> StoreResult<Vec<ClaimedDelivery>> {
            let now = now_ms();
            let id = &state.id;
            let body = serde_json::to_string(&state.body).map_err(|e| corrupt("body", e))?;
            let options = change.options.as_ref().unwrap_or(&state.options);
            let options = serde_json::to_string(options).map_err(|e| corrupt("options", e))?;
            sqlx::query(
                "UPDATE signature_requests SET status = $2, body = $3, options = $4, expires_at = $5, \
                 removed = $6, updated_at_ms = $7 WHERE id = $1",
            )
            .bind(id)
            .bind(state.status.as_str())
            .bind(body)
            .bind(options)
            .bind(state.body.expires_at)
            .bind(state.removed || change.remove)
            .bind(now)
            .execute(&mut *conn)
            .await?;
            if let Some(fields) = &change.fields {
                sqlx::query("DELETE FROM fields WHERE signature_request_id = $1").bind(id).execute(&mut *conn).await?;
                for (index, f) in fields.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO fields (signature_request_id, field_index, document_index, api_id, name, field_type, \
                         signer_index, required, page, x, y, width, height, validation_type, auto_fill, source, value) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                    )
                    .bind(id)
                    .bind(index as i64)
                    .bind(f.document_index)
                    .bind(&f.api_id)
                    .bind(&f.name)
                    .bind(&f.field_type)
                    .bind(f.signer_index)
                    .bind(f.required)
                    .bind(f.page)
                    .bind(f.x)
                    .bind(f.y)
                    .bind(f.width)
                    .bind(f.height)
                    .bind(&f.validation_type)
                    .bind(&f.auto_fill)
                    .bind(&f.source)
                    .bind(&f.value)
                    .execute(&mut *conn)
                    .await?;
                }
            }
            for (document_index, pages) in &change.pages {
                let pages_json = serde_json::to_string(pages).map_err(|e| corrupt("pages", e))?;
                sqlx::query(
                    "UPDATE documents SET page_count = $3, pages = $4 WHERE signature_request_id = $1 AND document_index = $2",
                )
                .bind(id)
                .bind(document_index)
                .bind(pages.len() as i64)
                .bind(pages_json)
                .execute(&mut *conn)
                .await?;
            }
            if let Some((document_index, sha256)) = &change.replace_document {
                sqlx::query(
                    "UPDATE documents SET blob_sha256 = $3 WHERE signature_request_id = $1 AND document_index = $2",
                )
                .bind(id)
                .bind(document_index)
                .bind(sha256)
                .execute(&mut *conn)
                .await?;
            }
            if let Some((old, new, email, name)) = &change.replace_signer {
                let (index,): (i64,) = sqlx::query_as("SELECT signer_index FROM signers WHERE signature_id = $1")
                    .bind(old)
                    .fetch_one(&mut *conn)
                    .await?;
                sqlx::query("UPDATE signers SET replaced = TRUE WHERE signature_id = $1")
                    .bind(old)
                    .execute(&mut *conn)
                    .await?;
                sqlx::query(
                    "INSERT INTO signers (signature_id, signature_request_id, signer_index, email_address, name) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(new)
                .bind(id)
                .bind(index)
                .bind(email)
                .bind(name)
                .execute(&mut *conn)
                .await?;
            }
            if let Some((signature_id, email, name)) = &change.rename_signer {
                sqlx::query("UPDATE signers SET email_address = $2, name = $3 WHERE signature_id = $1")
                    .bind(signature_id)
                    .bind(email)
                    .bind(name)
                    .execute(&mut *conn)
                    .await?;
            }
            if let Some(job_id) = &change.finish_job {
                sqlx::query(
                    "UPDATE jobs SET state = 'done', finished_at_ms = $2, locked_by = NULL, locked_until_ms = NULL \
                     WHERE id = $1",
                )
                .bind(job_id)
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            if let Some((kind, run_at)) = change.schedule_job.map(|(kind, at)| (kind.as_str(), at)) {
                sqlx::query(
                    "DELETE FROM jobs WHERE signature_request_id = $1 AND kind = $2 AND state = 'pending' \
                     AND locked_by IS NULL",
                )
                .bind(id)
                .bind(kind)
                .execute(&mut *conn)
                .await?;
                insert_job!(&mut *conn, id, kind, run_at);
            }
            let mut leased = Vec::new();
            if let (Some(targets), false) = (targets, change.events.is_empty()) {
                let object = EventObject::SignatureRequest(state.body.to_value());
                let events: Vec<NewEvent> = change
                    .events
                    .iter()
                    .map(|(event_type, related, message)| NewEvent {
                        event_type: *event_type,
                        signature_request_id: Some(id.clone()),
                        client_id: state.client_id.clone(),
                        related_signature_id: related.clone(),
                        event_message: message.clone(),
                        object: Some(object.clone()),
                    })
                    .collect();
                let (_, l) = $insert_events(&mut *conn, targets, &events, lease).await?;
                leased = l;
            }
            Ok(leased)
        }
    };
}

define_apply_change!(apply_change_sqlite, sqlx::SqliteConnection, insert_events_sqlite);
define_apply_change!(apply_change_postgres, sqlx::PgConnection, insert_events_postgres);

/// Why a change was not made.
#[derive(Debug)]
pub enum ChangeError<E> {
    /// No such request (or not the caller's).
    NotFound,
    /// The caller's closure refused.
    Refused(E),
    Store(StoreError),
}

impl<E> From<StoreError> for ChangeError<E> {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl<E> From<sqlx::Error> for ChangeError<E> {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

impl Store {
    /// Stores a new request with its documents, signers and jobs, in one transaction, and wakes the
    /// document workers.
    pub async fn create_signature_request(&self, new: &NewSignatureRequest) -> StoreResult<()> {
        match &self.pool {
            Pool::Sqlite(_) => {
                let mut tx = self.writer().begin_with("BEGIN IMMEDIATE").await?;
                insert_request_sqlite(&mut tx, new).await?;
                tx.commit().await?;
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                insert_request_postgres(&mut tx, new).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!("NOTIFY {JOB_CHANNEL}"))).execute(&mut *tx).await?;
                tx.commit().await?;
            }
        }
        self.job_wakeup.notify_one();
        tracing::info!(
            signature_request_id = %new.body.signature_request_id,
            account_id = %new.account_id,
            documents = new.documents.len(),
            signers = new.body.signatures.len(),
            "signature request accepted"
        );
        Ok(())
    }

    /// The stored object of one of the account's requests, as JSON text, with its status and whether it
    /// was removed.
    pub async fn signature_request_body(
        &self,
        account_id: &AccountId,
        id: &str,
    ) -> StoreResult<Option<(RequestStatus, bool, String)>> {
        let row: Option<(String, bool, String)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT status, removed, body FROM signature_requests WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id.as_str())
            .fetch_optional(pool)
            .await)?;
        row.map(|(status, removed, body)| {
            Ok((RequestStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?, removed, body))
        })
        .transpose()
    }

    /// One of the account's requests, for a decision the caller makes before changing it.
    pub async fn signature_request_state(&self, id: &str) -> StoreResult<Option<SignatureRequest>> {
        let row: Option<StateRow> =
            with_pool!(self, pool => sqlx::query_as(STATE_SELECT).bind(id).fetch_optional(pool).await)?;
        row.map(|row| state_from_row(id, row)).transpose()
    }

    /// The account's requests, newest first, excluding removed and canceled ones, that match `query`
    /// (Dropbox Sign's search syntax; `me` is the caller's address for `from:me`). Without a query the
    /// page is read with LIMIT/OFFSET; with one, the account's requests are filtered here, in order.
    pub async fn list_signature_requests(
        &self,
        account_id: &AccountId,
        page: u32,
        page_size: u32,
        query: &SearchQuery,
        me: &str,
    ) -> StoreResult<RequestPage> {
        let filter = "account_id = $1 AND removed = FALSE AND status <> 'canceled'";
        let offset = i64::from(page.saturating_sub(1)) * i64::from(page_size);
        if query.is_empty() {
            let (total,): (i64,) = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM signature_requests WHERE {filter}")))
                .bind(account_id.as_str())
                .fetch_one(pool)
                .await)?;
            let bodies: Vec<(String,)> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT body FROM signature_requests WHERE {filter} ORDER BY created_at_ms DESC, id DESC LIMIT $2 OFFSET $3")))
                .bind(account_id.as_str())
                .bind(i64::from(page_size))
                .bind(offset)
                .fetch_all(pool)
                .await)?;
            return Ok(RequestPage { bodies: bodies.into_iter().map(|(b,)| b).collect(), total });
        }
        let rows: Vec<(String, String)> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT id, body FROM signature_requests WHERE {filter} ORDER BY created_at_ms DESC, id DESC")))
            .bind(account_id.as_str())
            .fetch_all(pool)
            .await)?;
        let names: Vec<(String, String)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT d.signature_request_id, d.file_name FROM documents d \
             JOIN signature_requests r ON r.id = d.signature_request_id WHERE r.account_id = $1")
            .bind(account_id.as_str())
            .fetch_all(pool)
            .await)?;
        let mut files: std::collections::HashMap<String, Vec<String>> = std::collections::HashMap::new();
        for (id, name) in names {
            files.entry(id).or_default().push(name);
        }
        let mut matching = Vec::new();
        for (id, text) in rows {
            let body: SignatureRequestBody = serde_json::from_str(&text).map_err(|e| corrupt("body", e))?;
            if query.matches(&body, files.get(&id).map_or(&[][..], Vec::as_slice), me) {
                matching.push(text);
            }
        }
        let total = matching.len() as i64;
        let bodies = matching.into_iter().skip(offset as usize).take(page_size as usize).collect();
        Ok(RequestPage { bodies, total })
    }

    /// Changes one request in one transaction: loads and locks it, lets `decide` change its object and
    /// say what else to write, then commits everything with the events. `decide` sees the request as it
    /// is inside the transaction, so two concurrent changes never both act on a stale state.
    pub async fn change_signature_request<E>(
        &self,
        id: &str,
        decide: impl FnOnce(&mut SignatureRequest) -> Result<Transition, E>,
    ) -> Result<(SignatureRequest, Transition), ChangeError<E>> {
        // The outbox targets are read first (they may create endpoint rows); the request's account and
        // app are known from a plain read.
        let Some(peek) = self.signature_request_state(id).await? else {
            return Err(ChangeError::NotFound);
        };
        let client_ids: Vec<&str> = peek.client_id.as_deref().into_iter().collect();
        let targets = self.outbox_targets(&peek.account_id, &client_ids).await?;
        let lease = self.handoff_lease(4);
        let (state, change, leased) = match &self.pool {
            Pool::Sqlite(_) => {
                let mut tx = self.writer().begin_with("BEGIN IMMEDIATE").await?;
                let row: Option<StateRow> = sqlx::query_as(STATE_SELECT).bind(id).fetch_optional(&mut *tx).await?;
                let mut state = state_from_row(id, row.ok_or(ChangeError::NotFound)?)?;
                let change = decide(&mut state).map_err(ChangeError::Refused)?;
                let leased = apply_change_sqlite(&mut tx, &state, &change, Some(&targets), lease.as_ref()).await?;
                tx.commit().await?;
                (state, change, leased)
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let row: Option<StateRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!("{STATE_SELECT} FOR UPDATE")))
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let mut state = state_from_row(id, row.ok_or(ChangeError::NotFound)?)?;
                let change = decide(&mut state).map_err(ChangeError::Refused)?;
                let leased = apply_change_postgres(&mut tx, &state, &change, Some(&targets), lease.as_ref()).await?;
                tx.commit().await?;
                (state, change, leased)
            }
        };
        self.after_commit(leased).await;
        if change.schedule_job.is_some() {
            self.job_wakeup.notify_one();
        }
        for (event_type, _, _) in &change.events {
            tracing::info!(signature_request_id = %id, event_type = %event_type, status = state.status.as_str(), "signature request changed");
        }
        Ok((state, change))
    }

    /// Who a signature id belongs to.
    pub async fn signature_owner(&self, signature_id: &str) -> StoreResult<Option<SignatureOwner>> {
        let row: Option<(String, String, String, bool, bool)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT r.id, r.account_id, r.status, r.is_embedded, s.replaced FROM signers s \
             JOIN signature_requests r ON r.id = s.signature_request_id WHERE s.signature_id = $1")
            .bind(signature_id)
            .fetch_optional(pool)
            .await)?;
        row.map(|(signature_request_id, account_id, status, is_embedded, replaced)| {
            Ok(SignatureOwner {
                signature_request_id,
                account_id,
                status: RequestStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
                is_embedded,
                replaced,
            })
        })
        .transpose()
    }

    /// The request's documents, in order.
    pub async fn documents_of(&self, id: &str) -> StoreResult<Vec<DocumentRow>> {
        let rows: Vec<(i64, String, Option<String>, Option<String>)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT document_index, file_name, file_url, blob_sha256 FROM documents \
             WHERE signature_request_id = $1 ORDER BY document_index")
            .bind(id)
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(document_index, file_name, file_url, blob_sha256)| DocumentRow {
                document_index,
                file_name,
                file_url,
                blob_sha256,
            })
            .collect())
    }

    /// The bytes of a stored blob.
    pub async fn blob(&self, sha256: &str) -> StoreResult<Option<Vec<u8>>> {
        let row: Option<(Vec<u8>,)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT bytes FROM blobs WHERE sha256 = $1").bind(sha256).fetch_optional(pool).await)?;
        Ok(row.map(|(b,)| b))
    }

    /// Stores bytes by their SHA-256 (returned); storing the same bytes again is a no-op.
    pub async fn put_blob(&self, bytes: &[u8]) -> StoreResult<String> {
        let digest = blob_digest(bytes);
        with_writer!(self, pool => sqlx::query(
            "INSERT INTO blobs (sha256, bytes, size, created_at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING")
            .bind(&digest)
            .bind(bytes)
            .bind(bytes.len() as i64)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(digest)
    }

    /// Stores the bytes fetched from a document's `file_url`.
    pub async fn store_fetched_document(&self, id: &str, document_index: i64, bytes: &[u8]) -> StoreResult<String> {
        // The blob first: should the update not follow, an unreferenced blob is harmless (content-addressed).
        let digest = self.put_blob(bytes).await?;
        with_writer!(self, pool => sqlx::query(
            "UPDATE documents SET blob_sha256 = $3, original_sha256 = $3 \
             WHERE signature_request_id = $1 AND document_index = $2")
            .bind(id)
            .bind(document_index)
            .bind(&digest)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(digest)
    }

    /// The request's fields, in order.
    pub async fn fields_of(&self, id: &str) -> StoreResult<Vec<FieldSpec>> {
        let rows: Vec<FieldRow> = with_pool!(self, pool => sqlx::query_as(
            "SELECT document_index, api_id, name, field_type, signer_index, required, page, x, y, width, height, \
             validation_type, auto_fill, source, value FROM fields WHERE signature_request_id = $1 ORDER BY field_index")
            .bind(id)
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(field_from_row).collect())
    }

    /// Moves a request's `expires_at` (and its expiry job) to `expires_at`, bypassing the API's 1-day
    /// minimum: for operators ending a request early, and for tests of expiry.
    pub async fn backdate_expiry(&self, id: &str, expires_at: i64) -> StoreResult<bool> {
        let result = self
            .change_signature_request::<()>(id, |r| {
                r.body.expires_at = Some(expires_at);
                Ok(r.reschedule_expiry(expires_at))
            })
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(ChangeError::NotFound) | Err(ChangeError::Refused(())) => Ok(false),
            Err(ChangeError::Store(e)) => Err(e),
        }
    }
}

/// The PostgreSQL channel that wakes document workers on other nodes.
pub const JOB_CHANNEL: &str = "countersign_jobs";

type FieldRow = (
    i64,
    String,
    String,
    String,
    Option<i64>,
    bool,
    i64,
    f64,
    f64,
    f64,
    f64,
    Option<String>,
    Option<String>,
    String,
    Option<String>,
);

fn field_from_row(row: FieldRow) -> FieldSpec {
    let (
        document_index,
        api_id,
        name,
        field_type,
        signer_index,
        required,
        page,
        x,
        y,
        width,
        height,
        validation_type,
        auto_fill,
        source,
        value,
    ) = row;
    FieldSpec {
        document_index,
        api_id,
        name,
        field_type,
        signer_index,
        required,
        page,
        x,
        y,
        width,
        height,
        validation_type,
        auto_fill,
        source,
        value,
    }
}

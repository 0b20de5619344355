//! Signature requests: creating one, reading it, and changing it through the domain's state machine.
//!
//! A request is created in one transaction with its document bytes, signers and jobs
//! ([`Store::create_signature_request`]). Every later state change goes through
//! [`Store::change_signature_request`]: in one transaction it reads and locks the request, lets the
//! caller's transition decide, and writes the new object together with the fields, signer rows, jobs
//! and events the transition produced (`change.rs`) — so no event is sent for a change that did not
//! commit, and no half-processed request is ever visible. Documents, blobs and fields: `documents.rs`.

mod change;
mod documents;

use countersign_domain::ids::{AccountId, SignatureId, SignatureRequestId};
use countersign_domain::lifecycle::{JobKind, Refusal};
use countersign_domain::secrets::{MasterKey, Pin};
use countersign_domain::signature_request::{RequestStatus, SearchQuery, SignatureRequestBody};
use countersign_domain::time::now_ms;

pub(crate) use documents::put_blob_in;
pub use documents::{DocumentRow, blob_digest};

use crate::db::with_pool;
use crate::jobs::{JobSubject, insert_job};
use crate::tx::{Tx, on_tx};
use crate::{Store, StoreError, StoreResult};

/// A new request as the domain accepted it (every rule applied in `NewSignatureRequest::parse`).
pub use countersign_domain::new_request::{NewDocument, NewSignatureRequest};

/// The request as a change sees it, and what a change writes: the domain's state machine types.
pub use countersign_domain::lifecycle::{SignatureRequest, Transition};

/// [`Store::change_signature_request`] inside a transaction the caller holds (one that changes
/// something else too, with this request's change committed or rolled back with it).
pub(crate) async fn change_in<E>(
    tx: &mut Tx,
    master_key: &MasterKey,
    id: &SignatureRequestId,
    decide: impl FnOnce(&mut SignatureRequest) -> Result<Transition, E>,
) -> Result<(SignatureRequest, Transition), ChangeError<E>> {
    let lock = if tx.is_sqlite() { "" } else { " FOR UPDATE" };
    let sql = format!("{STATE_SELECT}{lock}");
    let row: Option<StateRow> =
        on_tx!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id.as_str()).fetch_optional(c).await)?;
    let mut state = row.ok_or(ChangeError::NotFound)?.decode()?;
    let change = decide(&mut state).map_err(ChangeError::Refused)?;
    change::apply(tx, master_key, &state, &change).await?;
    Ok((state, change))
}

/// A page of requests for `list`.
pub struct RequestPage {
    pub bodies: Vec<String>,
    pub total: i64,
}

/// Who a signature belongs to.
#[derive(Debug, Clone)]
pub struct SignatureOwner {
    pub signature_request_id: SignatureRequestId,
    pub account_id: AccountId,
    pub status: RequestStatus,
    pub is_embedded: bool,
    pub replaced: bool,
}

/// A request row as a change reads it.
#[derive(sqlx::FromRow)]
struct StateRow {
    id: String,
    account_id: String,
    client_id: Option<String>,
    is_embedded: bool,
    status: String,
    removed: bool,
    body: String,
    options: String,
}

impl StateRow {
    fn decode(self) -> StoreResult<SignatureRequest> {
        Ok(SignatureRequest {
            account_id: AccountId::parse(&self.account_id)
                .ok_or_else(|| StoreError::corrupt("account id", &self.account_id))?,
            id: SignatureRequestId::from_trusted(self.id),
            client_id: self.client_id,
            is_embedded: self.is_embedded,
            status: RequestStatus::parse(&self.status).ok_or_else(|| StoreError::corrupt("status", &self.status))?,
            removed: self.removed,
            body: serde_json::from_str(&self.body).map_err(|e| StoreError::corrupt("signature request body", e))?,
            options: serde_json::from_str(&self.options).map_err(|e| StoreError::corrupt("processing options", e))?,
        })
    }
}

const STATE_SELECT: &str = "SELECT id, account_id, client_id, is_embedded, status, removed, body, options \
     FROM signature_requests WHERE id = $1";

/// Writes a new request in an open transaction.
pub(crate) async fn insert_request(tx: &mut Tx, master_key: &MasterKey, new: &NewSignatureRequest) -> StoreResult<()> {
    let now = now_ms();
    let id = new.body.signature_request_id.as_str();
    let body = serde_json::to_string(&new.body).map_err(|e| StoreError::corrupt("body", e))?;
    let options = serde_json::to_string(&new.options).map_err(|e| StoreError::corrupt("options", e))?;
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO signature_requests (id, account_id, client_id, is_embedded, status, created_at, \
         created_at_ms, expires_at, removed, body, options, updated_at_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $10, $7, FALSE, $8, $9, $10)")
        .bind(id)
        .bind(new.account_id.as_str())
        .bind(&new.client_id)
        .bind(new.is_embedded)
        .bind(RequestStatus::Processing.as_str())
        .bind(new.body.created_at)
        .bind(new.body.expires_at)
        .bind(&body)
        .bind(&options)
        .bind(now)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    insert_contents(tx, master_key, new, now).await
}

/// A request's signers, documents (their bytes as blobs) and jobs (`process_documents`, and `expire`
/// when it expires).
async fn insert_contents(tx: &mut Tx, master_key: &MasterKey, new: &NewSignatureRequest, now: i64) -> StoreResult<()> {
    let id = new.body.signature_request_id.as_str();
    for bytes in new.documents.iter().filter_map(|d| d.bytes.as_ref()) {
        put_blob_in(tx, bytes, now).await?;
    }
    for (index, s) in new.body.signatures.iter().enumerate() {
        let pin = new.pins.get(index).and_then(Option::as_ref);
        let pin_digest = pin.map(|pin| master_key.pin_digest(s.signature_id.as_str(), pin));
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO signers (signature_id, signature_request_id, signer_index, email_address, name, pin_digest) \
             VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(s.signature_id.as_str())
            .bind(id)
            .bind(index as i64)
            .bind(&s.signer_email_address)
            .bind(&s.signer_name)
            .bind(&pin_digest)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    for (index, doc) in new.documents.iter().enumerate() {
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO documents (signature_request_id, document_index, file_name, file_url, blob_sha256, \
             original_sha256) VALUES ($1, $2, $3, $4, $5, $5)")
            .bind(id)
            .bind(index as i64)
            .bind(&doc.file_name)
            .bind(&doc.file_url)
            .bind(doc.bytes.as_ref().map(|b| blob_digest(b)))
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    insert_job(tx, JobKind::ProcessDocuments, JobSubject::SignatureRequest(id), now).await?;
    if let Some(expires_at) = new.body.expires_at {
        insert_job(tx, JobKind::Expire, JobSubject::SignatureRequest(id), expires_at * 1000).await?;
    }
    Ok(())
}

/// Puts `new` in place of the content of the request with its id (an edit, already allowed by the
/// domain's `edit` in this transaction): the old signers are kept as replaced (their links stop
/// working), documents and fields are dropped, jobs not yet claimed are dropped, and the new signers,
/// documents and jobs are written as a create writes them.
async fn replace_contents(tx: &mut Tx, master_key: &MasterKey, new: &NewSignatureRequest) -> StoreResult<()> {
    let id = new.body.signature_request_id.as_str();
    on_tx!(tx, c => sqlx::query("UPDATE signature_requests SET client_id = $2 WHERE id = $1")
        .bind(id)
        .bind(&new.client_id)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    on_tx!(tx, c => sqlx::query("UPDATE signers SET replaced = TRUE WHERE signature_request_id = $1")
        .bind(id)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    for table in ["fields", "documents"] {
        on_tx!(tx, c => sqlx::query(sqlx::AssertSqlSafe(format!("DELETE FROM {table} WHERE signature_request_id = $1")))
            .bind(id)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    on_tx!(tx, c => sqlx::query(
        "DELETE FROM jobs WHERE signature_request_id = $1 AND state = 'pending' AND locked_by IS NULL")
        .bind(id)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    insert_contents(tx, master_key, new, now_ms()).await
}

/// Why a change was not made.
#[derive(Debug)]
pub enum ChangeError<E> {
    /// No such request.
    NotFound,
    /// The caller's transition refused.
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
    /// Stores a new request with its documents, signers and jobs, in one transaction; the commit wakes
    /// the job runners.
    pub async fn create_signature_request(&self, new: &NewSignatureRequest) -> StoreResult<()> {
        self.write(async |tx| insert_request(tx, &self.master_key, new).await).await?;
        tracing::info!(
            signature_request_id = %new.body.signature_request_id,
            account_id = %new.account_id,
            documents = new.documents.len(),
            signers = new.body.signatures.len(),
            "signature request accepted"
        );
        Ok(())
    }

    /// `signature_request/edit*`: the request `new` keeps the id of is checked by the domain's `edit`
    /// for `caller` and, when allowed, its content is replaced by `new` in the same transaction (it is
    /// processed again, as a new request is).
    pub async fn edit_signature_request(
        &self,
        caller: &AccountId,
        new: &NewSignatureRequest,
    ) -> Result<SignatureRequest, ChangeError<Refusal>> {
        let id = &new.body.signature_request_id;
        let edited = self
            .write(async |tx| match change_in(tx, &self.master_key, id, |r| r.edit(caller, new)).await {
                Ok((state, _)) => {
                    replace_contents(tx, &self.master_key, new).await?;
                    Ok(Ok(state))
                }
                Err(ChangeError::Store(e)) => Err(e),
                Err(refused) => Ok(Err(refused)),
            })
            .await??;
        tracing::info!(
            signature_request_id = %id,
            documents = new.documents.len(),
            signers = new.body.signatures.len(),
            "signature request edited; its documents are processed again"
        );
        Ok(edited)
    }

    /// The stored object of one of the account's requests, as JSON text, with its status and whether it
    /// was removed.
    pub async fn signature_request_body(
        &self,
        account_id: &AccountId,
        id: &SignatureRequestId,
    ) -> StoreResult<Option<(RequestStatus, bool, String)>> {
        #[derive(sqlx::FromRow)]
        struct BodyRow {
            status: String,
            removed: bool,
            body: String,
        }
        let row: Option<BodyRow> = with_pool!(self, pool => sqlx::query_as(
            "SELECT status, removed, body FROM signature_requests WHERE id = $1 AND account_id = $2")
            .bind(id.as_str())
            .bind(account_id.as_str())
            .fetch_optional(pool)
            .await)?;
        row.map(|BodyRow { status, removed, body }| {
            Ok((RequestStatus::parse(&status).ok_or_else(|| StoreError::corrupt("status", &status))?, removed, body))
        })
        .transpose()
    }

    /// A request as it is now, for a read that changes nothing.
    pub async fn signature_request_state(&self, id: &SignatureRequestId) -> StoreResult<Option<SignatureRequest>> {
        let row: Option<StateRow> =
            with_pool!(self, pool => sqlx::query_as(STATE_SELECT).bind(id.as_str()).fetch_optional(pool).await)?;
        row.map(StateRow::decode).transpose()
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
        // The status name comes from the domain (a constant, never input).
        let filter =
            format!("account_id = $1 AND removed = FALSE AND status <> '{}'", RequestStatus::Canceled.as_str());
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
            let body: SignatureRequestBody = serde_json::from_str(&text).map_err(|e| StoreError::corrupt("body", e))?;
            if query.matches(&body, files.get(&id).map_or(&[][..], Vec::as_slice), me) {
                matching.push(text);
            }
        }
        let total = matching.len() as i64;
        let bodies = matching.into_iter().skip(offset as usize).take(page_size as usize).collect();
        Ok(RequestPage { bodies, total })
    }

    /// Changes one request in one transaction: reads and locks it, lets `decide` (a transition of the
    /// domain's state machine) change its object and say what else to write, then commits everything
    /// with the events. `decide` sees the request as it is inside the transaction, so two concurrent
    /// changes never both act on a stale state; the request is read once.
    pub async fn change_signature_request<E>(
        &self,
        id: &SignatureRequestId,
        decide: impl FnOnce(&mut SignatureRequest) -> Result<Transition, E>,
    ) -> Result<(SignatureRequest, Transition), ChangeError<E>> {
        let (state, change) = self.write(async |tx| change_in(tx, &self.master_key, id, decide).await).await?;
        for (event_type, _, _) in &change.events {
            tracing::info!(signature_request_id = %id, event_type = %event_type, status = state.status.as_str(), "signature request changed");
        }
        Ok((state, change))
    }

    /// Who a signature id belongs to.
    pub async fn signature_owner(&self, signature_id: &SignatureId) -> StoreResult<Option<SignatureOwner>> {
        #[derive(sqlx::FromRow)]
        struct OwnerRow {
            id: String,
            account_id: String,
            status: String,
            is_embedded: bool,
            replaced: bool,
        }
        let row: Option<OwnerRow> = with_pool!(self, pool => sqlx::query_as(
            "SELECT r.id, r.account_id, r.status, r.is_embedded, s.replaced FROM signers s \
             JOIN signature_requests r ON r.id = s.signature_request_id WHERE s.signature_id = $1")
            .bind(signature_id.as_str())
            .fetch_optional(pool)
            .await)?;
        row.map(|OwnerRow { id: signature_request_id, account_id, status, is_embedded, replaced }| {
            Ok(SignatureOwner {
                signature_request_id: SignatureRequestId::from_trusted(signature_request_id),
                account_id: AccountId::from_trusted(account_id),
                status: RequestStatus::parse(&status).ok_or_else(|| StoreError::corrupt("status", &status))?,
                is_embedded,
                replaced,
            })
        })
        .transpose()
    }

    /// Whether `pin` opens this signer's signature: `None` when the signer has no PIN (or there is no
    /// such signer), otherwise whether it matches the stored digest.
    pub async fn signer_pin_matches(&self, signature_id: &SignatureId, pin: &Pin) -> StoreResult<Option<bool>> {
        let row: Option<(Option<Vec<u8>>,)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT pin_digest FROM signers WHERE signature_id = $1")
            .bind(signature_id.as_str())
            .fetch_optional(pool)
            .await)?;
        Ok(row
            .and_then(|(digest,)| digest)
            .map(|digest| self.master_key.pin_matches(signature_id.as_str(), pin, &digest)))
    }

    /// Moves a request's `expires_at` (and its expiry job) to `expires_at`, bypassing the API's 1-day
    /// minimum: for operators ending a request early, and for tests of expiry.
    pub async fn backdate_expiry(&self, id: &SignatureRequestId, expires_at: i64) -> StoreResult<bool> {
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

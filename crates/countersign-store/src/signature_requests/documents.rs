//! A request's documents, their bytes (content-addressed blobs) and the fields placed on them.

use countersign_domain::audit::{self, AuditDocument, AuditEntry, AuditFacts};
use countersign_domain::ids::{SignatureId, SignatureRequestId};
use countersign_domain::lifecycle::SignatureRequest;
use countersign_domain::signature_request::FieldSpec;
use countersign_domain::time::now_ms;
use sha2::{Digest, Sha256};

use crate::db::{with_pool, with_writer};
use crate::tx::{Tx, on_tx};
use crate::{Store, StoreError, StoreResult};

/// A signature image as stored: (signature id, api_id, PNG bytes, typed text).
pub type StoredSignerImage = (String, String, Vec<u8>, Option<String>);

/// One document row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DocumentRow {
    pub document_index: i64,
    pub file_name: String,
    pub file_url: Option<String>,
    pub blob_sha256: Option<String>,
    /// SHA-256 of the file as uploaded or fetched (before any appended signature page).
    pub original_sha256: Option<String>,
    /// The copy with the signers' values stamped, once the request is complete and finalized.
    pub final_sha256: Option<String>,
    /// Each page's [width, height] in points, as JSON, once processed (see [`DocumentRow::page_sizes`]).
    pages: Option<String>,
}

impl DocumentRow {
    /// Each page's [width, height] in points (none before processing).
    pub fn page_sizes(&self) -> StoreResult<Vec<[f64; 2]>> {
        match &self.pages {
            Some(json) => serde_json::from_str(json).map_err(|e| StoreError::corrupt("pages", e)),
            None => Ok(Vec::new()),
        }
    }
}

/// A field as stored, in `FieldSpec`'s order.
#[derive(sqlx::FromRow)]
struct FieldRow {
    document_index: i64,
    api_id: String,
    name: String,
    field_type: String,
    signer_index: Option<i64>,
    required: bool,
    page: i64,
    x: f64,
    y: f64,
    width: f64,
    height: f64,
    validation_type: Option<String>,
    auto_fill: Option<String>,
    source: String,
    value: Option<String>,
    options: Option<String>,
}

impl From<FieldRow> for FieldSpec {
    fn from(r: FieldRow) -> Self {
        FieldSpec {
            document_index: r.document_index,
            api_id: r.api_id,
            name: r.name,
            field_type: r.field_type,
            signer_index: r.signer_index,
            required: r.required,
            page: r.page,
            x: r.x,
            y: r.y,
            width: r.width,
            height: r.height,
            validation_type: r.validation_type,
            auto_fill: r.auto_fill,
            source: r.source,
            value: r.value,
            // Written by this store from a `FieldOptions`; unreadable options read as none.
            options: r.options.and_then(|json| serde_json::from_str(&json).ok()).unwrap_or_default(),
        }
    }
}

/// The hex SHA-256 that names a blob.
pub fn blob_digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

const PUT_BLOB: &str =
    "INSERT INTO blobs (sha256, bytes, size, created_at_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING";

/// Stores bytes by their SHA-256 (returned) inside a transaction.
pub(crate) async fn put_blob_in(tx: &mut Tx, bytes: &[u8], now: i64) -> StoreResult<String> {
    let digest = blob_digest(bytes);
    on_tx!(tx, c => sqlx::query(PUT_BLOB)
        .bind(&digest)
        .bind(bytes)
        .bind(bytes.len() as i64)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(digest)
}

impl Store {
    /// The request's documents, in order.
    pub async fn documents_of(&self, id: &SignatureRequestId) -> StoreResult<Vec<DocumentRow>> {
        Ok(with_pool!(self, pool => sqlx::query_as(
            "SELECT document_index, file_name, file_url, blob_sha256, original_sha256, final_sha256, pages FROM documents \
             WHERE signature_request_id = $1 ORDER BY document_index")
            .bind(id.as_str())
            .fetch_all(pool)
            .await)?)
    }

    /// The request whose sealed final copy (of all its documents, or of one) has this digest.
    pub async fn sealed_by_digest(&self, sha256: &str) -> StoreResult<Option<SignatureRequestId>> {
        let row: Option<(String,)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT id FROM signature_requests WHERE final_sha256 = $1 \
             UNION SELECT signature_request_id FROM documents WHERE final_sha256 = $1 LIMIT 1")
            .bind(sha256)
            .fetch_optional(pool)
            .await)?;
        Ok(row.and_then(|(id,)| SignatureRequestId::parse(&id)))
    }

    /// What the audit trail says of `request`: its lines, with `documents` (its rows, as read by the
    /// caller) named by their original files' digests.
    pub async fn audit_facts(&self, request: &SignatureRequest, documents: &[DocumentRow]) -> StoreResult<AuditFacts> {
        let documents = documents
            .iter()
            .map(|d| AuditDocument {
                document_index: d.document_index,
                name: d.file_name.clone(),
                sha256: d.original_sha256.clone().or_else(|| d.blob_sha256.clone()),
            })
            .collect();
        Ok(audit::facts(request, documents, self.audit_entries(&request.id).await?))
    }

    /// The request's audit lines, in order.
    pub async fn audit_entries(&self, id: &SignatureRequestId) -> StoreResult<Vec<AuditEntry>> {
        type Row = (String, i64, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>);
        let rows: Vec<Row> = with_pool!(self, pool => sqlx::query_as(
            "SELECT event_type, at_ms, signature_id, signer_name, signer_email, ip_address, user_agent FROM audit_log \
             WHERE signature_request_id = $1 ORDER BY position")
            .bind(id.as_str())
            .fetch_all(pool)
            .await)?;
        Ok(rows
            .into_iter()
            .map(|(event_type, at_ms, signature_id, signer_name, signer_email_address, ip_address, user_agent)| {
                AuditEntry {
                    event_type,
                    at: at_ms.div_euclid(1000),
                    signature_id,
                    signer_name,
                    signer_email_address,
                    ip_address,
                    user_agent,
                }
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
        with_writer!(self, pool => sqlx::query(PUT_BLOB)
            .bind(&digest)
            .bind(bytes)
            .bind(bytes.len() as i64)
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(digest)
    }

    /// Every signature image of a request, with the typed text of typed signatures.
    pub async fn request_signer_images(&self, id: &SignatureRequestId) -> StoreResult<Vec<StoredSignerImage>> {
        Ok(with_pool!(self, pool => sqlx::query_as(
            "SELECT i.signature_id, i.api_id, b.bytes, i.typed_text FROM signer_images i JOIN blobs b ON b.sha256 = i.blob_sha256 \
             WHERE i.signature_request_id = $1 ORDER BY i.signature_id, i.api_id")
            .bind(id.as_str())
            .fetch_all(pool)
            .await)?)
    }

    /// The signature images a signer made: (api_id, PNG bytes).
    pub async fn signer_images(&self, signature_id: &SignatureId) -> StoreResult<Vec<(String, Vec<u8>)>> {
        Ok(with_pool!(self, pool => sqlx::query_as(
            "SELECT i.api_id, b.bytes FROM signer_images i JOIN blobs b ON b.sha256 = i.blob_sha256 \
             WHERE i.signature_id = $1 ORDER BY i.api_id")
            .bind(signature_id.as_str())
            .fetch_all(pool)
            .await)?)
    }

    /// Stores the bytes fetched from a document's `file_url` (they are the original too).
    pub async fn store_fetched_document(
        &self,
        id: &SignatureRequestId,
        document_index: i64,
        bytes: &[u8],
    ) -> StoreResult<String> {
        self.set_document_bytes(id, document_index, bytes, true).await
    }

    /// Stores the PDF a document was converted to (an uploaded image): the document's bytes from now
    /// on; `original_sha256` stays the digest of the file as uploaded.
    pub async fn store_converted_document(
        &self,
        id: &SignatureRequestId,
        document_index: i64,
        pdf: &[u8],
    ) -> StoreResult<()> {
        self.set_document_bytes(id, document_index, pdf, false).await.map(drop)
    }

    async fn set_document_bytes(
        &self,
        id: &SignatureRequestId,
        document_index: i64,
        bytes: &[u8],
        original: bool,
    ) -> StoreResult<String> {
        // The blob first: should the update not follow, an unreferenced blob is harmless (content-addressed).
        let digest = self.put_blob(bytes).await?;
        with_writer!(self, pool => sqlx::query(
            "UPDATE documents SET blob_sha256 = $3, \
             original_sha256 = CASE WHEN $4 THEN $3 ELSE original_sha256 END \
             WHERE signature_request_id = $1 AND document_index = $2")
            .bind(id.as_str())
            .bind(document_index)
            .bind(&digest)
            .bind(original)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(digest)
    }

    /// The request's fields, in order.
    pub async fn fields_of(&self, id: &SignatureRequestId) -> StoreResult<Vec<FieldSpec>> {
        let rows: Vec<FieldRow> = with_pool!(self, pool => sqlx::query_as(
            "SELECT document_index, api_id, name, field_type, signer_index, required, page, x, y, width, height, \
             validation_type, auto_fill, source, value, options FROM fields WHERE signature_request_id = $1 ORDER BY field_index")
            .bind(id.as_str())
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(FieldSpec::from).collect())
    }
}

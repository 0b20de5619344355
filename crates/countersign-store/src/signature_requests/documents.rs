//! A request's documents, their bytes (content-addressed blobs) and the fields placed on them.

use countersign_domain::ids::SignatureRequestId;
use countersign_domain::signature_request::FieldSpec;
use countersign_domain::time::now_ms;
use sha2::{Digest, Sha256};

use crate::db::{with_pool, with_writer};
use crate::{Store, StoreResult};

/// One document row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DocumentRow {
    pub document_index: i64,
    pub file_name: String,
    pub file_url: Option<String>,
    pub blob_sha256: Option<String>,
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
        }
    }
}

pub(crate) fn blob_digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Store {
    /// The request's documents, in order.
    pub async fn documents_of(&self, id: &SignatureRequestId) -> StoreResult<Vec<DocumentRow>> {
        Ok(with_pool!(self, pool => sqlx::query_as(
            "SELECT document_index, file_name, file_url, blob_sha256 FROM documents \
             WHERE signature_request_id = $1 ORDER BY document_index")
            .bind(id.as_str())
            .fetch_all(pool)
            .await)?)
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
    pub async fn store_fetched_document(
        &self,
        id: &SignatureRequestId,
        document_index: i64,
        bytes: &[u8],
    ) -> StoreResult<String> {
        // The blob first: should the update not follow, an unreferenced blob is harmless (content-addressed).
        let digest = self.put_blob(bytes).await?;
        with_writer!(self, pool => sqlx::query(
            "UPDATE documents SET blob_sha256 = $3, original_sha256 = $3 \
             WHERE signature_request_id = $1 AND document_index = $2")
            .bind(id.as_str())
            .bind(document_index)
            .bind(&digest)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(digest)
    }

    /// The request's fields, in order.
    pub async fn fields_of(&self, id: &SignatureRequestId) -> StoreResult<Vec<FieldSpec>> {
        let rows: Vec<FieldRow> = with_pool!(self, pool => sqlx::query_as(
            "SELECT document_index, api_id, name, field_type, signer_index, required, page, x, y, width, height, \
             validation_type, auto_fill, source, value FROM fields WHERE signature_request_id = $1 ORDER BY field_index")
            .bind(id.as_str())
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().map(FieldSpec::from).collect())
    }
}

//! Extensions for final documents: `GET /v3/signature_request/{id}/audit` (the audit trail's facts as
//! JSON) and `POST /v3/signature_request/verify` (is this PDF an intact copy sealed by this instance,
//! and of which request).

use axum::Extension;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::CONTENT_TYPE;
use countersign_domain::account::Account;
use countersign_domain::audit::AuditFacts;
use countersign_store::signature_requests::SignatureRequest;
use serde_json::{Value, json};

use super::owned;
use crate::error::{ApiError, ApiResult};
use crate::params::Params;
use crate::state::AppState;
use crate::warnings::Reply;

async fn facts_of(state: &AppState, request: &SignatureRequest) -> ApiResult<AuditFacts> {
    let documents = state.store.documents_of(&request.id).await?;
    Ok(state.store.audit_facts(request, &documents).await?)
}

fn to_value(facts: &AuditFacts) -> ApiResult<Value> {
    serde_json::to_value(facts).map_err(|e| ApiError::unknown(format!("the audit trail could not be written: {e}")))
}

/// `GET /v3/signature_request/{id}/audit`.
pub async fn audit_trail(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let request = owned(&state, &account, &id).await?;
    let facts = facts_of(&state, &request).await?;
    Ok(Reply::ok(json!({ "audit_trail": to_value(&facts)? })))
}

/// `POST /v3/signature_request/verify` with the PDF as the `file` part of a multipart body (or as an
/// `application/pdf` body).
pub async fn verify(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    request: Request,
) -> ApiResult<Reply> {
    let is_pdf = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("application/pdf"));
    let bytes = if is_pdf {
        let limit = state.config.max_body_bytes;
        axum::body::to_bytes(request.into_body(), limit).await.map_err(|e| crate::server::body_error(&e, limit))?
    } else {
        let params = Params::from_request(request, &state).await?;
        let file = params
            .files
            .iter()
            .find(|f| matches!(f.field.as_str(), "file" | "file[]" | "file[0]" | "files[0]"))
            .ok_or_else(|| ApiError::bad_param("file", "Send the PDF to verify as the file parameter."))?;
        file.bytes.clone()
    };
    if bytes.is_empty() {
        return Err(ApiError::bad_param("file", "The file is empty."));
    }
    if !countersign_pdf::has_pdf_header(&bytes) {
        return Err(ApiError::bad_param("file", "The file is not a PDF."));
    }
    let Some(sealer) = state.sealer.clone() else {
        return Err(ApiError::unknown("No sealing certificate is configured on this server."));
    };
    let data = bytes.clone();
    let verification = tokio::task::spawn_blocking(move || sealer.verify(&data))
        .await
        .map_err(|e| ApiError::unknown(format!("verification failed: {e}")))?;
    let digest = countersign_store::blob_digest(&bytes);
    // The request, and its audit facts, only for its owner.
    let mut found: Option<Value> = None;
    if let Some(id) = state.store.sealed_by_digest(&digest).await?
        && let Some(request) = state.store.signature_request_state(&id).await?
        && request.visible_to(&account.id).is_ok()
    {
        let facts = facts_of(&state, &request).await?;
        found = Some(json!({ "signature_request_id": id.as_str(), "audit_trail": to_value(&facts)? }));
    }
    let intact = verification.intact && verification.sealed_by_this_instance;
    Ok(Reply::ok(json!({
        "verification": {
            "intact": intact,
            "signed": verification.signed,
            "sealed_by_this_instance": verification.sealed_by_this_instance,
            "timestamped": verification.timestamped,
            "problem": verification.problem,
            "certificate_sha256": verification.certificate_sha256,
            "sha256": digest,
            "signature_request_id": found.as_ref().map(|f| f["signature_request_id"].clone()),
            "audit_trail": found.map(|f| f["audit_trail"].clone()),
        }
    })))
}

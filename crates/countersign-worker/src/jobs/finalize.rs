//! `finalize`: once every signer has signed, each document gets the signers' values stamped where their
//! fields were (text, dates, choices, check marks, signature images, merge values), the copies are
//! stored, and the state machine's `finalized` commits them with `signature_request_downloadable` —
//! after `signature_request_all_signed`, as Dropbox Sign orders them. Until then `files` answers 409.
//! A job that runs twice finds the request finalized and changes nothing.
//!
//! The audit trail and the PAdES seal are the final-documents work; this is the stamped copy.

use std::collections::HashMap;

use countersign_domain::lifecycle::Refusal;
use countersign_domain::signature_request::{FieldSpec, RequestStatus};
use countersign_pdf::{Rect, Stamp, StampContent};
use countersign_store::jobs::ClaimedJob;
use countersign_store::signature_requests::ChangeError;
use serde_json::Value;

use crate::{Inner, Transient};

pub(crate) async fn run(inner: &Inner, job: &ClaimedJob) -> Result<(), Transient> {
    let store = &inner.store;
    let Some(id) = job.signature_request_id.as_ref() else {
        return store.finish_job(&job.id).await.map_err(Transient::from);
    };
    let Some(request) = store.signature_request_state(id).await? else {
        return store.finish_job(&job.id).await.map_err(Transient::from);
    };
    if request.status != RequestStatus::Complete || request.options.finalized {
        return store.finish_job(&job.id).await.map_err(Transient::from);
    }
    let fields = store.fields_of(id).await?;
    let images: HashMap<(String, String), Vec<u8>> =
        store.request_signer_images(id).await?.into_iter().map(|(sig, api, png)| ((sig, api), png)).collect();
    // The signers' values by (signer index, api_id).
    let mut values: HashMap<(i64, String), Value> = HashMap::new();
    for entry in &request.body.response_data {
        let (Some(sig), Some(api_id)) = (entry["signature_id"].as_str(), entry["api_id"].as_str()) else { continue };
        if let Some(index) = request.body.signatures.iter().position(|s| s.signature_id.as_str() == sig) {
            values.insert((index as i64, api_id.to_owned()), entry["value"].clone());
        }
    }
    let mut finals = Vec::new();
    for document in store.documents_of(id).await? {
        let Some(sha) = document.blob_sha256.as_deref() else { continue };
        let bytes = store.blob(sha).await?.ok_or_else(|| Transient(format!("document blob {sha} is missing")))?;
        let stamps: Vec<Stamp> = fields
            .iter()
            .filter(|f| f.document_index == document.document_index)
            .filter_map(|f| stamp_for(f, &request.body.signatures, &values, &images))
            .collect();
        let stamped = tokio::task::spawn_blocking(move || countersign_pdf::stamp(&bytes, &stamps))
            .await
            .map_err(|e| Transient(format!("stamping panicked: {e}")))?
            .map_err(|e| Transient(format!("document {} could not be stamped: {e}", document.document_index)))?;
        finals.push((document.document_index, store.put_blob(&stamped).await?));
    }
    let job_id = job.id.clone();
    match store.change_signature_request(id, |r| r.finalized(finals, &job_id)).await {
        Ok(_) => {
            metrics::counter!("countersign_finalize_total", "outcome" => "downloadable").increment(1);
            tracing::info!(signature_request_id = %id, "documents finalized; signature_request_downloadable");
            Ok(())
        }
        Err(ChangeError::Refused(Refusal::Moot)) | Err(ChangeError::Refused(_)) | Err(ChangeError::NotFound) => {
            store.finish_job(&job.id).await.map_err(Transient::from)
        }
        Err(ChangeError::Store(e)) => Err(Transient(e.to_string())),
    }
}

/// What a field shows in the final copy, if anything.
fn stamp_for(
    field: &FieldSpec,
    signatures: &[countersign_domain::signature_request::Signature],
    values: &HashMap<(i64, String), Value>,
    images: &HashMap<(String, String), Vec<u8>>,
) -> Option<Stamp> {
    let content = match (field.field_type.as_str(), field.signer_index) {
        ("text-merge", _) => StampContent::Text(field.value.clone()?),
        ("checkbox-merge", _) => {
            StampContent::Check(matches!(field.value.as_deref().map(str::trim), Some("true" | "1" | "yes" | "on")))
        }
        ("signature" | "initials", Some(index)) => {
            let signer = signatures.get(usize::try_from(index).ok()?)?;
            StampContent::Image(images.get(&(signer.signature_id.as_str().to_owned(), field.api_id.clone()))?.clone())
        }
        (_, Some(index)) => match values.get(&(index, field.api_id.clone()))? {
            Value::Bool(checked) => StampContent::Check(*checked),
            Value::String(text) => StampContent::Text(text.clone()),
            _ => return None,
        },
        _ => return None,
    };
    Some(Stamp {
        page: u32::try_from(field.page).ok()?,
        rect: Rect { x: field.x, y: field.y, width: field.width, height: field.height },
        content,
    })
}

/// After the last retry: `unknown_error` for the request (the state machine's `finalize_failed`), so it is
/// never left waiting in silence.
pub(crate) async fn commit_failure(inner: &Inner, job: &ClaimedJob, error: &str) -> Result<(), Transient> {
    let store = &inner.store;
    let Some(id) = job.signature_request_id.as_ref() else {
        return store.finish_job(&job.id).await.map_err(Transient::from);
    };
    metrics::counter!("countersign_finalize_total", "outcome" => "unknown_error").increment(1);
    tracing::error!(signature_request_id = %id, %error, "the signed copy could not be made; unknown_error sent");
    let job_id = job.id.clone();
    let message = "The signed documents could not be prepared.";
    match store.change_signature_request(id, |r| r.finalize_failed(message, &job_id)).await {
        Ok(_) => Ok(()),
        Err(ChangeError::Refused(_)) | Err(ChangeError::NotFound) => {
            store.finish_job(&job.id).await.map_err(Transient::from)
        }
        Err(ChangeError::Store(e)) => Err(Transient(e.to_string())),
    }
}

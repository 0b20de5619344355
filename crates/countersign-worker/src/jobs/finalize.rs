//! `finalize`: once every signer has signed, each document gets the signers' values stamped where their
//! fields were (text in any script, dates, choices, check marks, signature images, merge values), an
//! audit trail is appended, and the instance seals it (PAdES, `countersign-seal`). The sealed copies
//! are stored, then the state machine's `finalized` commits them with `signature_request_downloadable`
//! — after `signature_request_all_signed`, as Dropbox Sign orders them. Until then `files` answers 409.
//!
//! One sealed PDF per document (what `files?file_type=zip` serves) and, for a request with several
//! documents, one sealed PDF of them all in order (what `files` serves). A job that runs twice finds
//! the request finalized and changes nothing; an original whose bytes no longer match their digest
//! fails the job instead of being sealed.

use std::collections::HashMap;
use std::sync::Arc;

use countersign_domain::audit::AuditFacts;
use countersign_domain::lifecycle::Refusal;
use countersign_domain::signature_request::{FieldSpec, FinalCopy, FinalDocument, RequestStatus};
use countersign_domain::time::unix_now;
use countersign_pdf::{AuditTrail, Rect, Stamp, StampContent};
use countersign_seal::Sealer;
use countersign_store::jobs::ClaimedJob;
use countersign_store::signature_requests::ChangeError;
use serde_json::Value;

use crate::{Inner, Transient};

/// A signature as the signer made it: the picture, and the name when it was typed.
struct SignatureMark {
    png: Vec<u8>,
    typed: Option<String>,
}

/// One document's inputs.
struct Original {
    index: i64,
    sha256: String,
    bytes: Vec<u8>,
    stamps: Vec<Stamp>,
}

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
    let Some(sealer) = inner.config.sealer.clone() else {
        return Err(Transient("no sealing identity is configured".into()));
    };
    let fields = store.fields_of(id).await?;
    let images: HashMap<(String, String), SignatureMark> = store
        .request_signer_images(id)
        .await?
        .into_iter()
        .map(|(sig, api, png, typed)| ((sig, api), SignatureMark { png, typed }))
        .collect();
    // The signers' values by (signer index, api_id).
    let mut values: HashMap<(i64, String), Value> = HashMap::new();
    for entry in &request.body.response_data {
        let (Some(sig), Some(api_id)) = (entry["signature_id"].as_str(), entry["api_id"].as_str()) else { continue };
        if let Some(index) = request.body.signatures.iter().position(|s| s.signature_id.as_str() == sig) {
            values.insert((index as i64, api_id.to_owned()), entry["value"].clone());
        }
    }
    let mut originals = Vec::new();
    let mut page_size = None;
    let documents = store.documents_of(id).await?;
    for document in &documents {
        let Some(sha) = document.blob_sha256.clone() else { continue };
        let bytes = store.blob(&sha).await?.ok_or_else(|| Transient(format!("document blob {sha} is missing")))?;
        if countersign_store::blob_digest(&bytes) != sha {
            return Err(Transient(format!(
                "document {} is damaged in storage (its digest changed)",
                document.document_index
            )));
        }
        if page_size.is_none() {
            page_size = document.page_sizes()?.first().map(|[w, h]| countersign_pdf::audit_page_size(*w, *h));
        }
        let stamps = fields
            .iter()
            .filter(|f| f.document_index == document.document_index)
            .filter_map(|f| stamp_for(f, &request.body.signatures, &values, &images))
            .collect();
        originals.push(Original {
            index: document.document_index,
            sha256: document.original_sha256.clone().unwrap_or(sha),
            bytes,
            stamps,
        });
    }
    let facts = store.audit_facts(&request, &documents).await?;
    let location = inner.config.mailing.as_ref().map(|m| m.public_url.clone()).unwrap_or_default();
    let page_size = page_size.unwrap_or(countersign_pdf::LETTER_SIZE);
    let started = std::time::Instant::now();
    let options = countersign_pdf::StampOptions { hide_text_tags: request.options.hide_text_tags };
    let made = tokio::task::spawn_blocking(move || seal_all(&sealer, originals, options, &facts, &location, page_size))
        .await
        .map_err(|e| Transient(format!("sealing panicked: {e}")))??;
    let mut final_copy = made.copy;
    for (i, bytes) in made.per_document.iter().enumerate() {
        final_copy.documents[i].sha256 = store.put_blob(bytes).await?;
    }
    final_copy.sha256 = match &made.combined {
        Some(bytes) => store.put_blob(bytes).await?,
        None => final_copy.documents.first().map(|d| d.sha256.clone()).unwrap_or_default(),
    };
    metrics::histogram!("countersign_finalize_seconds").record(started.elapsed().as_secs_f64());
    let job_id = job.id.clone();
    match store.change_signature_request(id, |r| r.finalized(final_copy, &job_id)).await {
        Ok(_) => {
            metrics::counter!("countersign_finalize_total", "outcome" => "downloadable").increment(1);
            tracing::info!(signature_request_id = %id, elapsed_ms = started.elapsed().as_millis() as u64,
                "final copy sealed; signature_request_downloadable");
            Ok(())
        }
        Err(ChangeError::Refused(Refusal::Moot)) | Err(ChangeError::Refused(_)) | Err(ChangeError::NotFound) => {
            store.finish_job(&job.id).await.map_err(Transient::from)
        }
        Err(ChangeError::Store(e)) => Err(Transient(e.to_string())),
    }
}

/// The sealed files (not yet stored) and what the request records of them.
struct Made {
    per_document: Vec<Vec<u8>>,
    /// All documents as one sealed file, when there are several.
    combined: Option<Vec<u8>>,
    copy: FinalCopy,
}

/// Stamps, appends the audit trail and seals: each document alone and, when there are several, all
/// of them as one file.
fn seal_all(
    sealer: &Arc<Sealer>,
    originals: Vec<Original>,
    options: countersign_pdf::StampOptions,
    facts: &AuditFacts,
    location: &str,
    page_size: (f64, f64),
) -> Result<Made, Transient> {
    let sealed_at = unix_now();
    let spec = sealer.spec(location, sealed_at);
    let failed = |what: String| move |e: countersign_pdf::PdfError| Transient(format!("{what}: {e}"));
    let mut stamped = Vec::new();
    for o in &originals {
        let bytes = countersign_pdf::stamp(&o.bytes, &o.stamps, options)
            .map_err(failed(format!("document {} could not be stamped", o.index)))?;
        stamped.push(bytes);
    }
    // The audit trail appended and the seal: returns the sealed file and the stamped copy's digest.
    let finish = |bytes: &[u8], facts: &AuditFacts, what: String| -> Result<(Vec<u8>, String), Transient> {
        let stamped_sha256 = countersign_store::blob_digest(bytes);
        let trail = trail(facts, &stamped_sha256, sealer, page_size);
        let prepared = countersign_pdf::prepare_final(bytes, &trail, &spec)
            .map_err(failed(format!("{what} could not be completed")))?;
        Ok((sealer.seal(prepared).map_err(|e| Transient(e.to_string()))?, stamped_sha256))
    };
    let mut per_document = Vec::new();
    let mut documents = Vec::new();
    for (o, bytes) in originals.iter().zip(&stamped) {
        let mut facts = facts.clone();
        facts.documents.retain(|d| d.document_index == o.index);
        let (sealed, stamped_sha256) = finish(bytes, &facts, format!("document {}", o.index))?;
        per_document.push(sealed);
        documents.push(FinalDocument {
            document_index: o.index,
            original_sha256: o.sha256.clone(),
            stamped_sha256,
            sha256: String::new(),
        });
    }
    let (combined, stamped_sha256) = if stamped.len() > 1 {
        let parts: Vec<&[u8]> = stamped.iter().map(Vec::as_slice).collect();
        let merged =
            countersign_pdf::merge(&parts).map_err(|e| Transient(format!("the documents could not be merged: {e}")))?;
        let (sealed, merged_sha256) = finish(&merged, facts, "the combined copy".into())?;
        (Some(sealed), merged_sha256)
    } else {
        (None, documents.first().map(|d| d.stamped_sha256.clone()).unwrap_or_default())
    };
    Ok(Made {
        per_document,
        combined,
        copy: FinalCopy {
            sha256: String::new(),
            stamped_sha256,
            documents,
            sealed_at,
            certificate_sha256: sealer.identity().fingerprint(),
            sub_filter: countersign_seal::SUB_FILTER.into(),
        },
    })
}

/// The audit page's content from the request's facts.
fn trail(facts: &AuditFacts, stamped_sha256: &str, sealer: &Sealer, page_size: (f64, f64)) -> AuditTrail {
    AuditTrail {
        title: facts.title.clone(),
        signature_request_id: facts.signature_request_id.clone(),
        documents: facts
            .documents
            .iter()
            .map(|d| countersign_pdf::AuditDocument {
                name: d.name.clone(),
                sha256: d.sha256.clone().unwrap_or_default(),
            })
            .collect(),
        signers: facts
            .signers
            .iter()
            .map(|s| countersign_pdf::AuditSigner {
                name: s.name.clone(),
                email: s.email_address.clone(),
                steps: s
                    .steps
                    .iter()
                    .map(|step| countersign_pdf::AuditStep {
                        action: step.action.clone(),
                        at: step.at,
                        ip: step.ip_address.clone(),
                        user_agent: step.user_agent.clone(),
                    })
                    .collect(),
            })
            .collect(),
        sent_at: facts.sent_at,
        completed_at: facts.completed_at,
        stamped_sha256: stamped_sha256.to_owned(),
        sealed_by: sealer.identity().subject(),
        certificate_sha256: sealer.identity().fingerprint(),
        page_size,
    }
}

/// What a field shows in the final copy, if anything.
fn stamp_for(
    field: &FieldSpec,
    signatures: &[countersign_domain::signature_request::Signature],
    values: &HashMap<(i64, String), Value>,
    images: &HashMap<(String, String), SignatureMark>,
) -> Option<Stamp> {
    let content = match (field.field_type.as_str(), field.signer_index) {
        ("text-merge", _) => StampContent::Text(field.value.clone()?),
        ("checkbox-merge", _) => {
            StampContent::Check(matches!(field.value.as_deref().map(str::trim), Some("true" | "1" | "yes" | "on")))
        }
        ("signature" | "initials", Some(index)) => {
            let signer = signatures.get(usize::try_from(index).ok()?)?;
            let mark = images.get(&(signer.signature_id.as_str().to_owned(), field.api_id.clone()))?;
            // A typed signature is shown as the typed text, so it can be found and read in the copy.
            match &mark.typed {
                Some(name) => StampContent::Text(name.clone()),
                None => StampContent::Image(mark.png.clone()),
            }
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

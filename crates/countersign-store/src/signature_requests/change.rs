//! What a committed transition writes besides the request row's new object: fields, page sizes, a
//! replaced document or signer, job bookkeeping, and the events with their deliveries.

use countersign_callback::{EventObject, NewEvent};
use countersign_domain::secrets::MasterKey;
use countersign_domain::signature_request::FieldOptions;
use countersign_domain::time::now_ms;

use super::documents::put_blob_in;
use super::{SignatureRequest, Transition};
use crate::jobs::{finish_job_in, queue_email_about, reschedule_job};
use crate::outbox::{InsertedEvent, insert_events, targets_in};
use crate::tx::{Tx, on_tx};
use crate::{StoreError, StoreResult};

/// A field's options as stored: `NULL` when it has none.
fn field_options_json(options: &FieldOptions) -> StoreResult<Option<String>> {
    if options.is_empty() {
        return Ok(None);
    }
    serde_json::to_string(options).map(Some).map_err(|e| StoreError::corrupt("field options", e))
}

/// Writes `state` and what `change` says, in the transaction in which the request row was read.
pub(super) async fn apply(
    tx: &mut Tx,
    master_key: &MasterKey,
    state: &SignatureRequest,
    change: &Transition,
) -> StoreResult<()> {
    let now = now_ms();
    let id = state.id.as_str();
    let body = serde_json::to_string(&state.body).map_err(|e| StoreError::corrupt("body", e))?;
    let options = change.options.as_ref().unwrap_or(&state.options);
    let options = serde_json::to_string(options).map_err(|e| StoreError::corrupt("options", e))?;
    on_tx!(tx, c => sqlx::query(
        "UPDATE signature_requests SET status = $2, body = $3, options = $4, expires_at = $5, \
         removed = $6, updated_at_ms = $7 WHERE id = $1")
        .bind(id)
        .bind(state.status.as_str())
        .bind(&body)
        .bind(&options)
        .bind(state.body.expires_at)
        .bind(state.removed || change.remove)
        .bind(now)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    if let Some(fields) = &change.fields {
        on_tx!(tx, c => sqlx::query("DELETE FROM fields WHERE signature_request_id = $1").bind(id).execute(c).await.map(|r| r.rows_affected()))?;
        for (index, f) in fields.iter().enumerate() {
            on_tx!(tx, c => sqlx::query(
                "INSERT INTO fields (signature_request_id, field_index, document_index, api_id, name, field_type, \
                 signer_index, required, page, x, y, width, height, validation_type, auto_fill, source, value, options) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)")
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
                .bind(field_options_json(&f.options)?)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
        }
    }
    for (document_index, pages) in &change.pages {
        let pages_json = serde_json::to_string(pages).map_err(|e| StoreError::corrupt("pages", e))?;
        on_tx!(tx, c => sqlx::query(
            "UPDATE documents SET page_count = $3, pages = $4 WHERE signature_request_id = $1 AND document_index = $2")
            .bind(id)
            .bind(document_index)
            .bind(pages.len() as i64)
            .bind(&pages_json)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    if let Some((document_index, sha256)) = &change.replace_document {
        on_tx!(tx, c => sqlx::query(
            "UPDATE documents SET blob_sha256 = $3 WHERE signature_request_id = $1 AND document_index = $2")
            .bind(id)
            .bind(document_index)
            .bind(sha256)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    if let Some((old, new, email, name)) = &change.replace_signer {
        let (index,): (i64,) = on_tx!(tx, c => sqlx::query_as("SELECT signer_index FROM signers WHERE signature_id = $1")
            .bind(old.as_str())
            .fetch_one(c)
            .await)?;
        on_tx!(tx, c => sqlx::query("UPDATE signers SET replaced = TRUE WHERE signature_id = $1")
            .bind(old.as_str())
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO signers (signature_id, signature_request_id, signer_index, email_address, name) \
             VALUES ($1, $2, $3, $4, $5)")
            .bind(new.as_str())
            .bind(id)
            .bind(index)
            .bind(email)
            .bind(name)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    if let Some((signature_id, email, name)) = &change.rename_signer {
        on_tx!(tx, c => sqlx::query("UPDATE signers SET email_address = $2, name = $3 WHERE signature_id = $1")
            .bind(signature_id.as_str())
            .bind(email)
            .bind(name)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    for (signature_id, image) in &change.signer_images {
        let sha256 = put_blob_in(tx, &image.png, now).await?;
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO signer_images (signature_request_id, signature_id, api_id, blob_sha256, created_at_ms, typed_text) \
             VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id)
            .bind(signature_id.as_str())
            .bind(&image.api_id)
            .bind(&sha256)
            .bind(now)
            .bind(image.typed.as_deref())
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    for (document_index, sha256) in &change.final_documents {
        on_tx!(tx, c => sqlx::query(
            "UPDATE documents SET final_sha256 = $3 WHERE signature_request_id = $1 AND document_index = $2")
            .bind(id)
            .bind(document_index)
            .bind(sha256)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    if !change.final_documents.is_empty()
        && let Some(copy) = &state.options.final_copy
    {
        on_tx!(tx, c => sqlx::query("UPDATE signature_requests SET final_sha256 = $2 WHERE id = $1")
            .bind(id)
            .bind(&copy.sha256)
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    for email in &change.emails {
        let about = Some((id, email.signature_id.as_ref().map(|s| s.as_str())));
        queue_email_about(tx, state.account_id.as_str(), &email.to, &email.subject, &email.body, about).await?;
    }
    if let Some(job_id) = &change.finish_job {
        finish_job_in(tx, job_id).await?;
    }
    if let Some((kind, run_at)) = change.schedule_job {
        reschedule_job(tx, id, kind, run_at).await?;
    }
    if !change.events.is_empty() {
        let client_ids: Vec<&str> = state.client_id.as_deref().into_iter().collect();
        let targets = targets_in(tx, master_key, &state.account_id, &client_ids).await?;
        let object = EventObject::SignatureRequest(state.body.to_value());
        let events: Vec<NewEvent> = change
            .events
            .iter()
            .map(|(event_type, related, message)| NewEvent {
                template_id: None,
                event_type: *event_type,
                signature_request_id: Some(id.to_owned()),
                client_id: state.client_id.clone(),
                related_signature_id: related.as_ref().map(|s| s.as_str().to_owned()),
                event_message: message.clone(),
                object: Some(object.clone()),
            })
            .collect();
        let inserted = insert_events(tx, &targets, &events).await?;
        write_audit(tx, state, change, &inserted, now).await?;
    }
    Ok(())
}

/// One audit line per event of the change, at the event's place in the request's sequence, naming the
/// signer as they are now and the client.
async fn write_audit(
    tx: &mut Tx,
    state: &SignatureRequest,
    change: &Transition,
    inserted: &[InsertedEvent],
    now: i64,
) -> StoreResult<()> {
    let id = state.id.as_str();
    let client = change.client.clone().unwrap_or_default();
    for ((event_type, related, _), event) in change.events.iter().zip(inserted) {
        let signer = related.as_ref().and_then(|r| state.body.signatures.iter().find(|s| &s.signature_id == r));
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO audit_log (signature_request_id, position, event_type, at_ms, signature_id, signer_name, \
             signer_email, ip_address, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(id)
            .bind(event.event_sequence)
            .bind(event_type.as_str())
            .bind(now)
            .bind(related.as_ref().map(|r| r.as_str()))
            .bind(signer.map(|s| s.signer_name.as_str()))
            .bind(signer.map(|s| s.signer_email_address.as_str()))
            .bind(client.ip_address.as_deref())
            .bind(client.user_agent.as_deref())
            .execute(c)
            .await.map(|r| r.rows_affected()))?;
    }
    Ok(())
}

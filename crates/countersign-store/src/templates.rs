//! Templates: created in one transaction with their document bytes and a `process_template` job;
//! settled (fields placed, or failed) in one transaction with `template_created` / `template_error`;
//! read with their documents and the accounts they are shared with.

use countersign_callback::{EventObject, EventType, NewEvent};
use countersign_domain::ids::{AccountId, SignatureRequestId, TemplateId};
use countersign_domain::lifecycle::{JobKind, Refusal};
use countersign_domain::new_request::{FileInput, NewSignatureRequest};
use countersign_domain::signature_request::FieldSpec;
use countersign_domain::template::{
    MergeField, NewTemplate, Template, TemplateAccount, TemplateBody, TemplateDocument, TemplateStatus,
};
use countersign_domain::time::{now_ms, unix_now};

use crate::db::{with_pool, with_writer};
use crate::jobs::{JobSubject, finish_job_in, insert_job};
use crate::outbox::{insert_events, targets_in};
use crate::signature_requests::{ChangeError, DocumentRow, blob_digest, change_in, insert_request, put_blob_in};
use crate::tx::{Tx, on_tx};
use crate::{Store, StoreError, StoreResult};

/// What claiming an unclaimed draft did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The request was made (and the one the draft replaces, if any, canceled with it).
    Claimed { replaced: Option<String> },
    /// The draft is gone or was claimed already.
    Spent,
    /// The request an `edit_and_resend` draft replaces can no longer be replaced: why.
    Refused(String),
}

/// A template event (its object as the owner sees it) to the owner's and the app's callback URLs,
/// inside the change's transaction.
async fn template_event_in(
    store: &Store,
    tx: &mut Tx,
    template: &Template,
    event_type: EventType,
    message: Option<String>,
) -> StoreResult<()> {
    let client_ids: Vec<&str> = template.client_id.iter().map(String::as_str).collect();
    let targets = targets_in(tx, &store.master_key, &template.owner.account_id, &client_ids).await?;
    let event = NewEvent {
        event_type,
        signature_request_id: None,
        template_id: Some(template.body.template_id.as_str().to_owned()),
        client_id: template.client_id.clone(),
        related_signature_id: None,
        event_message: message,
        object: Some(EventObject::Template(template.response(&template.owner.account_id))),
    };
    insert_events(tx, &targets, &[event]).await?;
    Ok(())
}

/// How processing a template ended.
pub enum TemplateOutcome {
    /// Fields placed (role indexes), merge fields settled, each document's page sizes.
    Ready {
        fields: Vec<FieldSpec>,
        merge_fields: Vec<MergeField>,
        pages: Vec<(i64, Vec<[f64; 2]>)>,
    },
    Failed(String),
}

#[derive(sqlx::FromRow)]
struct TemplateRow {
    account_id: String,
    owner_email: String,
    client_id: Option<String>,
    status: String,
    body: String,
    options: String,
    fields: Option<String>,
    error_message: Option<String>,
    deleted_at_ms: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct DocumentPages {
    document_index: i64,
    file_name: String,
    pages: Option<String>,
}

const TEMPLATE_SELECT: &str = "SELECT t.account_id, a.email AS owner_email, t.client_id, t.status, t.body, \
     t.options, t.fields, t.error_message, t.deleted_at_ms FROM templates t JOIN accounts a ON a.id = t.account_id";
const DOCUMENTS_SELECT: &str =
    "SELECT document_index, file_name, pages FROM template_documents WHERE template_id = $1 ORDER BY document_index";
const SHARED_SELECT: &str = "SELECT a.id, a.email FROM template_accounts s JOIN accounts a ON a.id = s.account_id \
     WHERE s.template_id = $1 ORDER BY s.added_at_ms, a.id";

fn decode(row: TemplateRow, documents: Vec<DocumentPages>, shared: Vec<(String, String)>) -> StoreResult<Template> {
    let documents = documents
        .into_iter()
        .map(|d| {
            let pages = match &d.pages {
                Some(json) => serde_json::from_str(json).map_err(|e| StoreError::corrupt("template pages", e))?,
                None => Vec::new(),
            };
            Ok(TemplateDocument { index: d.document_index, name: d.file_name, pages })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    let fields = match &row.fields {
        Some(json) => serde_json::from_str(json).map_err(|e| StoreError::corrupt("template fields", e))?,
        None => Vec::new(),
    };
    Ok(Template {
        owner: TemplateAccount { account_id: AccountId::from_trusted(row.account_id), email_address: row.owner_email },
        client_id: row.client_id,
        status: TemplateStatus::parse(&row.status)
            .ok_or_else(|| StoreError::corrupt("template status", &row.status))?,
        body: serde_json::from_str(&row.body).map_err(|e| StoreError::corrupt("template body", e))?,
        options: serde_json::from_str(&row.options).map_err(|e| StoreError::corrupt("template options", e))?,
        fields,
        documents,
        error: row.error_message,
        deleted: row.deleted_at_ms.is_some(),
        shared_with: shared
            .into_iter()
            .map(|(id, email)| TemplateAccount { account_id: AccountId::from_trusted(id), email_address: email })
            .collect(),
    })
}

/// Reads a template inside an open transaction (locked on PostgreSQL).
async fn template_in(tx: &mut Tx, id: &str) -> StoreResult<Option<Template>> {
    let lock = if tx.is_sqlite() { "" } else { " FOR UPDATE OF t" };
    let sql = format!("{TEMPLATE_SELECT} WHERE t.id = $1{lock}");
    let row: Option<TemplateRow> =
        on_tx!(tx, c => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(c).await)?;
    let Some(row) = row else { return Ok(None) };
    let documents: Vec<DocumentPages> = on_tx!(tx, c => sqlx::query_as(DOCUMENTS_SELECT).bind(id).fetch_all(c).await)?;
    let shared: Vec<(String, String)> = on_tx!(tx, c => sqlx::query_as(SHARED_SELECT).bind(id).fetch_all(c).await)?;
    decode(row, documents, shared).map(Some)
}

impl Store {
    /// Stores a new template with its document bytes and its `process_template` job, in one
    /// transaction.
    pub async fn create_template(&self, new: &NewTemplate) -> StoreResult<()> {
        let id = new.body.template_id.as_str();
        let body = serde_json::to_string(&new.body).map_err(|e| StoreError::corrupt("template body", e))?;
        let options = serde_json::to_string(&new.options).map_err(|e| StoreError::corrupt("template options", e))?;
        self.write(async |tx| {
            let now = now_ms();
            for bytes in new.documents.iter().filter_map(|d| d.bytes.as_ref()) {
                put_blob_in(tx, bytes, now).await?;
            }
            on_tx!(tx, c => sqlx::query(
                "INSERT INTO templates (id, account_id, client_id, is_embedded, status, body, options, created_at_ms, \
                 updated_at_ms, unclaimed_draft) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)")
                .bind(id)
                .bind(new.account_id.as_str())
                .bind(&new.client_id)
                .bind(new.body.is_embedded)
                .bind(TemplateStatus::Processing.as_str())
                .bind(&body)
                .bind(&options)
                .bind(now)
                .bind(new.options.unclaimed.is_some())
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
            for (index, doc) in new.documents.iter().enumerate() {
                on_tx!(tx, c => sqlx::query(
                    "INSERT INTO template_documents (template_id, document_index, file_name, file_url, blob_sha256) \
                     VALUES ($1, $2, $3, $4, $5)")
                    .bind(id)
                    .bind(index as i64)
                    .bind(&doc.file_name)
                    .bind(&doc.file_url)
                    .bind(doc.bytes.as_ref().map(|b| blob_digest(b)))
                    .execute(c)
                    .await.map(|r| r.rows_affected()))?;
            }
            insert_job(tx, JobKind::ProcessTemplate, JobSubject::Template(id), now).await
        })
        .await?;
        tracing::info!(template_id = %id, account_id = %new.account_id, documents = new.documents.len(), "template accepted");
        Ok(())
    }

    /// A template with its documents and the accounts it is shared with (deleted ones too: callers
    /// check [`Template::visible_to`]).
    pub async fn template(&self, id: &TemplateId) -> StoreResult<Option<Template>> {
        let sql = format!("{TEMPLATE_SELECT} WHERE t.id = $1");
        let row: Option<TemplateRow> = with_pool!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id.as_str())
            .fetch_optional(pool)
            .await)?;
        let Some(row) = row else { return Ok(None) };
        let documents: Vec<DocumentPages> =
            with_pool!(self, pool => sqlx::query_as(DOCUMENTS_SELECT).bind(id.as_str()).fetch_all(pool).await)?;
        let shared: Vec<(String, String)> =
            with_pool!(self, pool => sqlx::query_as(SHARED_SELECT).bind(id.as_str()).fetch_all(pool).await)?;
        decode(row, documents, shared).map(Some)
    }

    /// A template's documents, for processing and for sending.
    pub async fn template_documents(&self, id: &TemplateId) -> StoreResult<Vec<DocumentRow>> {
        // A template's documents are never stamped: no final copy, and the original is the stored one.
        with_pool!(self, pool => sqlx::query_as(
            "SELECT document_index, file_name, file_url, blob_sha256, blob_sha256 AS original_sha256, \
             CAST(NULL AS TEXT) AS final_sha256, pages FROM template_documents WHERE template_id = $1 \
             ORDER BY document_index")
            .bind(id.as_str())
            .fetch_all(pool)
            .await)
        .map_err(Into::into)
    }

    /// A template's documents with their bytes, in order (names as given); a document without stored
    /// bytes is unreadable data.
    pub async fn template_files(&self, id: &TemplateId) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let mut files = Vec::new();
        for doc in self.template_documents(id).await? {
            let sha = doc.blob_sha256.ok_or_else(|| StoreError::corrupt("template document", "it has no bytes"))?;
            let bytes = self
                .blob(&sha)
                .await?
                .ok_or_else(|| StoreError::corrupt("template document", "its blob is missing"))?;
            files.push((doc.file_name, bytes));
        }
        Ok(files)
    }

    /// A template's documents as the files of a request made from it (`request_from_templates`).
    pub async fn template_inputs(&self, id: &TemplateId) -> StoreResult<Vec<FileInput>> {
        let files = self.template_files(id).await?;
        Ok(files.into_iter().map(|(name, bytes)| FileInput { file_name: Some(name), bytes: bytes.into() }).collect())
    }

    /// Keeps a document fetched from its `file_urls` entry.
    pub async fn store_fetched_template_document(&self, id: &TemplateId, index: i64, bytes: &[u8]) -> StoreResult<()> {
        let digest = self.put_blob(bytes).await?;
        with_writer!(self, pool => sqlx::query(
            "UPDATE template_documents SET blob_sha256 = $3 WHERE template_id = $1 AND document_index = $2")
            .bind(id.as_str())
            .bind(index)
            .bind(&digest)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Commits how processing ended — fields and pages, status, and `template_created` or
    /// `template_error` — in one transaction with the job's end; only while the template is still
    /// processing (a repeated run changes nothing). Returns whether it was settled now.
    pub async fn settle_template(&self, id: &TemplateId, job_id: &str, outcome: TemplateOutcome) -> StoreResult<bool> {
        let settled = self
            .write(async |tx| {
                let Some(mut template) = template_in(tx, id.as_str()).await? else {
                    finish_job_in(tx, job_id).await?;
                    return Ok(None);
                };
                if template.status != TemplateStatus::Processing {
                    finish_job_in(tx, job_id).await?;
                    return Ok(None);
                }
                let now = now_ms();
                template.body.updated_at = unix_now();
                let event = match outcome {
                    TemplateOutcome::Ready { fields, merge_fields, pages } => {
                        for (index, sizes) in &pages {
                            let json = serde_json::to_string(sizes).map_err(|e| StoreError::corrupt("pages", e))?;
                            on_tx!(tx, c => sqlx::query(
                                "UPDATE template_documents SET pages = $3 WHERE template_id = $1 AND document_index = $2")
                                .bind(id.as_str())
                                .bind(index)
                                .bind(&json)
                                .execute(c)
                                .await.map(|r| r.rows_affected()))?;
                            if let Some(doc) = template.documents.iter_mut().find(|d| d.index == *index) {
                                doc.pages = sizes.clone();
                            }
                        }
                        template.body.merge_fields = merge_fields;
                        template.fields = fields;
                        if template.waits_for_editor() {
                            // An embedded draft is created when its editor saves it.
                            template.status = TemplateStatus::Draft;
                            None
                        } else {
                            template.status = TemplateStatus::Ready;
                            Some((EventType::TemplateCreated, None))
                        }
                    }
                    TemplateOutcome::Failed(message) => {
                        template.status = TemplateStatus::Error;
                        template.error = Some(message.clone());
                        Some((EventType::TemplateError, Some(message)))
                    }
                };
                write_template(tx, id.as_str(), &template, now).await?;
                // An unclaimed draft is no template: it sends no template events.
                if let Some((event_type, message)) = event.as_ref().filter(|_| template.options.unclaimed.is_none()) {
                    template_event_in(self, tx, &template, *event_type, message.clone()).await?;
                }
                finish_job_in(tx, job_id).await?;
                Ok::<_, StoreError>(Some(template.status))
            })
            .await?;
        if let Some(status) = settled {
            tracing::info!(template_id = %id, status = status.as_str(), "template processed");
        }
        Ok(settled.is_some())
    }

    /// Replaces a template's CC roles and declared merge fields (`embedded/edit_url` with `cc_roles` /
    /// `merge_fields`); placed merge fields stay declared.
    pub async fn redeclare_template(
        &self,
        id: &TemplateId,
        cc_roles: Option<Vec<String>>,
        merge_fields: Option<Vec<MergeField>>,
    ) -> StoreResult<()> {
        self.write(async |tx| {
            let Some(mut template) = template_in(tx, id.as_str()).await? else { return Ok(()) };
            if let Some(cc_roles) = cc_roles {
                template.body.cc_roles = cc_roles;
            }
            if let Some(mut declared) = merge_fields {
                for placed in &template.body.merge_fields {
                    let in_use = template.fields.iter().any(|f| f.name == placed.name || f.api_id == placed.name);
                    if in_use && !declared.iter().any(|d| d.name == placed.name) {
                        declared.push(placed.clone());
                    }
                }
                template.body.merge_fields = declared;
            }
            template.body.updated_at = unix_now();
            write_template(tx, id.as_str(), &template, now_ms()).await
        })
        .await
    }

    /// Claims an unclaimed draft: its fields as placed on the claim page, and the signature request made
    /// from it, in one transaction. `false` (nothing written) when it was claimed already, deleted, or
    /// its documents are not read.
    pub async fn claim_unclaimed_draft(
        &self,
        id: &TemplateId,
        fields: Vec<FieldSpec>,
        merge_fields: Vec<MergeField>,
        request: &NewSignatureRequest,
    ) -> StoreResult<Claim> {
        let claimed = self
            .write(async |tx| {
                let Some(mut draft) = template_in(tx, id.as_str()).await? else { return Ok(Claim::Spent) };
                let open = !draft.deleted
                    && matches!(draft.status, TemplateStatus::Draft | TemplateStatus::Ready)
                    && draft.options.unclaimed.as_ref().is_some_and(|p| p.signature_request_id.is_none());
                if !open {
                    return Ok(Claim::Spent);
                }
                // An edit_and_resend draft replaces its request: canceled with this claim, or no claim.
                let replaces = draft.options.unclaimed.as_ref().and_then(|p| p.replaces.clone());
                if let Some(replaced) = replaces.as_deref().and_then(SignatureRequestId::parse) {
                    let owner = draft.owner.account_id.clone();
                    match change_in(tx, &self.master_key, &replaced, |r| r.replace_by_resend(&owner)).await {
                        Ok(_) => {}
                        Err(ChangeError::NotFound) => {
                            return Ok(Claim::Refused("The request this draft replaces is gone.".into()));
                        }
                        Err(ChangeError::Refused(Refusal::NotResendable(why))) => return Ok(Claim::Refused(why)),
                        Err(ChangeError::Refused(_)) => {
                            return Ok(Claim::Refused(
                                "The request this draft replaces was canceled or removed.".into(),
                            ));
                        }
                        Err(ChangeError::Store(e)) => return Err(e),
                    }
                }
                if let Some(pending) = draft.options.unclaimed.as_mut() {
                    pending.signature_request_id = Some(request.body.signature_request_id.as_str().to_owned());
                }
                draft.fields = fields;
                draft.body.merge_fields = merge_fields;
                draft.status = TemplateStatus::Ready;
                let now = now_ms();
                write_template(tx, id.as_str(), &draft, now).await?;
                let options =
                    serde_json::to_string(&draft.options).map_err(|e| StoreError::corrupt("template options", e))?;
                on_tx!(tx, c => sqlx::query("UPDATE templates SET options = $2 WHERE id = $1")
                    .bind(id.as_str())
                    .bind(&options)
                    .execute(c)
                    .await.map(|r| r.rows_affected()))?;
                insert_request(tx, &self.master_key, request).await?;
                Ok::<_, StoreError>(Claim::Claimed { replaced: replaces })
            })
            .await?;
        if let Claim::Claimed { replaced } = &claimed {
            tracing::info!(
                draft = %id,
                signature_request_id = %request.body.signature_request_id,
                replaced = replaced.as_deref().unwrap_or(""),
                "unclaimed draft claimed; signature request accepted"
            );
        }
        Ok(claimed)
    }

    /// Saves the fields placed in the template editor: a draft becomes ready with `template_created`
    /// (committed with it); a ready template gets its new fields. `None` when the template is gone or
    /// not in a state the editor may save (still processing, failed).
    pub async fn save_edited_template(
        &self,
        id: &TemplateId,
        fields: Vec<FieldSpec>,
        merge_fields: Vec<MergeField>,
    ) -> StoreResult<Option<Template>> {
        let saved = self
            .write(async |tx| {
                let Some(mut template) = template_in(tx, id.as_str()).await? else { return Ok(None) };
                if template.deleted || !matches!(template.status, TemplateStatus::Draft | TemplateStatus::Ready) {
                    return Ok(None);
                }
                let created = template.status == TemplateStatus::Draft;
                template.fields = fields;
                template.body.merge_fields = merge_fields;
                template.status = TemplateStatus::Ready;
                template.body.updated_at = unix_now();
                write_template(tx, id.as_str(), &template, now_ms()).await?;
                if created {
                    template_event_in(self, tx, &template, EventType::TemplateCreated, None).await?;
                }
                Ok::<_, StoreError>(Some((template, created)))
            })
            .await?;
        if let Some((template, created)) = &saved {
            tracing::info!(template_id = %id, fields = template.fields.len(), created, "template saved in the editor");
        }
        Ok(saved.map(|(template, _)| template))
    }

    /// The templates `account` can see (its own and those shared with it), newest first; `query`
    /// matches title words (Dropbox Sign's search: `title:`, or plain words anywhere in the title or
    /// a document name).
    pub async fn list_templates(
        &self,
        account: &AccountId,
        page: u32,
        page_size: u32,
        query: Option<&str>,
    ) -> StoreResult<(Vec<Template>, i64)> {
        let ids: Vec<(String,)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT t.id FROM templates t WHERE t.deleted_at_ms IS NULL AND t.unclaimed_draft = FALSE \
             AND (t.account_id = $1 OR EXISTS \
             (SELECT 1 FROM template_accounts s WHERE s.template_id = t.id AND s.account_id = $1)) \
             ORDER BY t.created_at_ms DESC, t.id DESC")
            .bind(account.as_str())
            .fetch_all(pool)
            .await)?;
        let words: Vec<String> = query
            .map(|q| q.split_whitespace().map(|w| w.strip_prefix("title:").unwrap_or(w).to_lowercase()).collect())
            .unwrap_or_default();
        let words: Vec<String> = words.into_iter().filter(|w| !w.is_empty()).collect();
        let offset = (page.saturating_sub(1) as usize) * page_size as usize;
        let ids = ids.into_iter().map(|(id,)| TemplateId::from_trusted(id));
        if words.is_empty() {
            let total = ids.len() as i64;
            let mut shown = Vec::new();
            for id in ids.skip(offset).take(page_size as usize) {
                shown.extend(self.template(&id).await?);
            }
            return Ok((shown, total));
        }
        let mut matching = Vec::new();
        for id in ids {
            let Some(template) = self.template(&id).await? else { continue };
            let haystack = std::iter::once(template.body.title.to_lowercase())
                .chain(template.documents.iter().map(|d| d.name.to_lowercase()))
                .collect::<Vec<_>>()
                .join(" ");
            if words.iter().all(|w| haystack.contains(w.as_str())) {
                matching.push(template);
            }
        }
        let total = matching.len() as i64;
        let matching = matching.into_iter().skip(offset).take(page_size as usize).collect();
        Ok((matching, total))
    }

    /// Deletes a template for everyone (its row stays, for the requests sent from it).
    pub async fn delete_template(&self, id: &TemplateId) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query(
            "UPDATE templates SET deleted_at_ms = $2, updated_at_ms = $2 WHERE id = $1 AND deleted_at_ms IS NULL")
            .bind(id.as_str())
            .bind(now_ms())
            .execute(pool)
            .await
            .map(|_| ()))?;
        tracing::info!(template_id = %id, "template deleted");
        Ok(())
    }

    /// Shares a template with another account of this server (`add`), or stops sharing it.
    pub async fn share_template(&self, id: &TemplateId, account: &AccountId, add: bool) -> StoreResult<()> {
        if add {
            with_writer!(self, pool => sqlx::query(
                "INSERT INTO template_accounts (template_id, account_id, added_at_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (template_id, account_id) DO NOTHING")
                .bind(id.as_str())
                .bind(account.as_str())
                .bind(now_ms())
                .execute(pool)
                .await
                .map(|_| ()))?;
        } else {
            with_writer!(self, pool => sqlx::query(
                "DELETE FROM template_accounts WHERE template_id = $1 AND account_id = $2")
                .bind(id.as_str())
                .bind(account.as_str())
                .execute(pool)
                .await
                .map(|_| ()))?;
        }
        tracing::info!(template_id = %id, account_id = %account, shared = add, "template sharing changed");
        Ok(())
    }
}

/// Writes a template's row (status, body, fields, error) in an open transaction.
async fn write_template(tx: &mut Tx, id: &str, template: &Template, now: i64) -> StoreResult<()> {
    let body: String = body_json(&template.body)?;
    let fields = serde_json::to_string(&template.fields).map_err(|e| StoreError::corrupt("template fields", e))?;
    on_tx!(tx, c => sqlx::query(
        "UPDATE templates SET status = $2, body = $3, fields = $4, error_message = $5, updated_at_ms = $6 WHERE id = $1")
        .bind(id)
        .bind(template.status.as_str())
        .bind(&body)
        .bind(&fields)
        .bind(&template.error)
        .bind(now)
        .execute(c)
        .await.map(|r| r.rows_affected()))?;
    Ok(())
}

fn body_json(body: &TemplateBody) -> StoreResult<String> {
    serde_json::to_string(body).map_err(|e| StoreError::corrupt("template body", e))
}

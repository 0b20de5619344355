//! `files`, `files_as_data_uri`, `files_as_file_url`, the expiring `/files/{id}` link, and the
//! `fields` extension.

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use countersign_domain::account::Account;
use countersign_domain::signature_request::RequestStatus;
use countersign_domain::time::unix_now;
use countersign_store::signature_requests::SignatureRequest;
use serde::Deserialize;
use serde_json::{Value, json};

use super::request_id;
use crate::error::{ApiError, ApiResult};
use countersign_domain::links::Link;

use super::{owned, visible};
use crate::params::{Count, Flag, Params, Text};
use crate::routes::download::{data_uri, download_name, file_response, file_url, merge_documents};
use crate::state::AppState;
use crate::warnings::Reply;

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct FilesParams {
    file_type: Text,
    force_download: Flag,
}

/// A request's files: each document (its sealed final copy once complete), and the sealed copy of all
/// of them when the request has several.
pub(super) struct Files {
    docs: Vec<(String, Vec<u8>)>,
    combined: Option<Vec<u8>>,
}

/// The request's documents, or 409 while they are being prepared.
pub(super) async fn documents(state: &AppState, request: &SignatureRequest) -> ApiResult<Files> {
    if request.status == RequestStatus::Processing {
        return Err(ApiError::conflict("Files are still being processed. Please try again later."));
    }
    if request.options.finalize_error.is_some() {
        return Err(ApiError::unknown("The signed files of this request could not be prepared."));
    }
    if request.status == RequestStatus::Complete && !request.options.finalized {
        return Err(ApiError::conflict("The signed files are being prepared. Please try again later."));
    }
    let mut out = Vec::new();
    for doc in state.store.documents_of(&request.id).await? {
        let Some(sha) = doc.final_sha256.as_ref().or(doc.blob_sha256.as_ref()) else {
            return Err(ApiError::bad_request("This signature request's files could not be retrieved."));
        };
        let bytes = state.store.blob(sha).await?.ok_or_else(|| ApiError::unknown("a document blob is missing"))?;
        out.push((doc.file_name, bytes));
    }
    let combined = match request.options.final_copy.as_ref().filter(|_| out.len() > 1) {
        Some(copy) => Some(
            state
                .store
                .blob(&copy.sha256)
                .await?
                .ok_or_else(|| ApiError::unknown("the final copy's blob is missing"))?,
        ),
        None => None,
    };
    Ok(Files { docs: out, combined })
}

/// All documents as one PDF: the sealed copy of them all once complete.
pub(super) fn merged_pdf(files: Files) -> ApiResult<Vec<u8>> {
    if let Some(combined) = files.combined {
        return Ok(combined);
    }
    merge_documents(files.docs)
}

fn request_download_name(request: &SignatureRequest, ext: &str) -> String {
    download_name(&request.body.title, request.id.as_str(), ext)
}

/// `GET /v3/signature_request/files/{id}?file_type=pdf|zip`.
pub async fn files(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let p: FilesParams = Params::from_query(query.as_deref())?.parse()?;
    let request = owned(&state, &account, &id).await?;
    let kind = p.file_type.as_deref().unwrap_or("pdf");
    if !matches!(kind, "pdf" | "zip") {
        return Err(ApiError::bad_param("file_type", "file_type must be pdf or zip"));
    }
    let files = documents(&state, &request).await?;
    if kind == "zip" {
        let zip = crate::zip::stored_zip(&files.docs);
        return Ok(file_response(zip, "application/zip", &request_download_name(&request, "zip"), true));
    }
    Ok(file_response(merged_pdf(files)?, "application/pdf", &request_download_name(&request, "pdf"), true))
}

/// `GET /v3/signature_request/files_as_data_uri/{id}`.
pub async fn files_as_data_uri(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let request = owned(&state, &account, &id).await?;
    Ok(data_uri(merged_pdf(documents(&state, &request).await?)?))
}

/// `GET /v3/signature_request/files_as_file_url/{id}?force_download=1`: an expiring link on this server
/// that needs no credentials.
pub async fn files_as_file_url(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Reply> {
    let p: FilesParams = Params::from_query(query.as_deref())?.parse()?;
    let request = owned(&state, &account, &id).await?;
    if request.status == RequestStatus::Processing {
        return Err(ApiError::conflict("Files are still being processed. Please try again later."));
    }
    Ok(file_url(&state, request.id.as_str(), p.force_download.unwrap_or(true)))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct FileLinkParams {
    expires: Count,
    token: Text,
    force_download: Flag,
}

/// `GET /files/{id}?expires=&token=`: what a file URL points at.
pub async fn file_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let p: FileLinkParams = Params::from_query(query.as_deref())?.parse()?;
    let expires = i64::from(p.expires.unwrap_or(0));
    let token = p.token.0.unwrap_or_default();
    if !state.links.check(&Link::Files { signature_request_id: &id, expires }, &token, unix_now()) {
        return Err(ApiError::forbidden("This link is either invalid or expired."));
    }
    let Some(request) = state.store.signature_request_state(&request_id(&id)?).await? else {
        // A template's file link (`template/files_as_file_url`).
        let (pdf, name) =
            crate::routes::template::linked_template_pdf(&state, &id).await?.ok_or_else(ApiError::not_found)?;
        return Ok(file_response(pdf, "application/pdf", &name, p.force_download.unwrap_or(true)));
    };
    visible(request.status, request.removed)?;
    let pdf = merged_pdf(documents(&state, &request).await?)?;
    Ok(file_response(pdf, "application/pdf", &request_download_name(&request, "pdf"), p.force_download.unwrap_or(true)))
}

/// `GET /v3/signature_request/fields/{id}` (our extension): where processing placed each field.
pub async fn fields(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let request = owned(&state, &account, &id).await?;
    if request.status == RequestStatus::Processing {
        return Err(ApiError::conflict("The documents are still being processed. Please try again later."));
    }
    let signatures = &request.body.signatures;
    let fields: Vec<Value> = state
        .store
        .fields_of(&request.id)
        .await?
        .into_iter()
        .map(|f| {
            let signature_id = f.signer_index.and_then(|i| signatures.get(i as usize)).map(|s| s.signature_id.clone());
            json!({
                "api_id": f.api_id,
                "name": f.name,
                "type": f.field_type,
                "signer": f.signer_index.map_or_else(|| json!("sender"), |i| json!(i)),
                "signature_id": signature_id,
                "required": f.required,
                "document_index": f.document_index,
                "page": f.page,
                "x": f.x,
                "y": f.y,
                "width": f.width,
                "height": f.height,
                "validation_type": f.validation_type,
                "auto_fill": f.auto_fill,
                "source": f.source,
                "value": f.value,
            })
        })
        .collect();
    Ok(Reply::ok(json!({"signature_request_id": request.id, "fields": fields})))
}

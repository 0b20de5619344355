//! `/v3/signature_request/*` and `/v3/embedded/sign_url`: create and send, get, list, cancel, remind,
//! update, remove, files — in Dropbox Sign's shapes (compat spec §6).
//!
//! A create is answered at once: the request, its document bytes, signers and a `process_documents` job
//! commit in one transaction; the document worker sends `signature_request_sent` (or an error event)
//! when it has processed the files. Every other change goes through the store's
//! `change_signature_request`, which commits the new state with its events.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use countersign_domain::account::Account;
use countersign_domain::ids::SignatureRequestId;
use countersign_domain::signature_request::{RequestStatus, SearchQuery};
use countersign_store::signature_requests::{ChangeError, SignatureRequest};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use countersign_domain::lifecycle::Refusal;

use crate::params::{Count, Params, Text, ignored_warnings};
use crate::state::AppState;

mod audit;
mod create;
mod embedded;
mod files;
mod lifecycle;

pub use audit::{audit_trail, verify};
pub use create::{create_embedded, send};
pub use embedded::sign_url;
pub use files::{fields, file_link, files, files_as_data_uri, files_as_file_url};
pub use lifecycle::{cancel, remind, remove, update};

/// How long a file URL stays valid (an embedded sign URL's lifetime is configuration).
pub const FILE_URL_LIFETIME_SECS: i64 = 3600;

/// A signature request id from a path: anything but the shape this server issues names nothing (404).
pub(super) fn request_id(id: &str) -> ApiResult<SignatureRequestId> {
    SignatureRequestId::parse(id).ok_or_else(ApiError::not_found)
}

pub(super) fn raw_json(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// Whether the caller may see this request: canceled and removed requests are gone (410), as they are
/// for their signers.
pub(super) fn visible(status: RequestStatus, removed: bool) -> ApiResult<()> {
    if removed {
        return Err(ApiError::deleted("This signature request has been removed."));
    }
    if status == RequestStatus::Canceled {
        return Err(ApiError::deleted("This signature request has been canceled."));
    }
    Ok(())
}

/// `GET /v3/signature_request/{id}`: the stored object, sent as stored (no re-serialization).
pub async fn get(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = request_id(&id)?;
    let (status, removed, body) =
        state.store.signature_request_body(&account.id, &id).await?.ok_or_else(ApiError::not_found)?;
    visible(status, removed)?;
    let mut text = String::with_capacity(body.len() + 24);
    text.push_str("{\"signature_request\":");
    text.push_str(&body);
    text.push('}');
    Ok(raw_json(StatusCode::OK, text))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ListParams {
    account_id: Text,
    page: Count,
    page_size: Count,
    query: Text,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let p: ListParams = Params::from_query(query.as_deref())?.parse()?;
    let page = p.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::bad_param("page", "page must be 1 or more"));
    }
    let page_size = p.page_size.unwrap_or(20);
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::bad_param("page_size", "page_size must be between 1 and 100"));
    }
    if let Some(other) = p.account_id.as_deref().filter(|a| !a.is_empty() && *a != "all" && *a != account.id.as_str()) {
        return Err(ApiError::bad_param("account_id", format!("Cannot list the requests of account {other:?}")));
    }
    let query = SearchQuery::parse(p.query.as_deref().unwrap_or(""));
    let found =
        state.store.list_signature_requests(&account.id, page, page_size, &query, account.email.as_str()).await?;
    let num_pages = (found.total + i64::from(page_size) - 1) / i64::from(page_size);
    let mut text = String::from("{\"signature_requests\":[");
    for (i, body) in found.bodies.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(body);
    }
    text.push_str("],\"list_info\":");
    text.push_str(
        &json!({"num_pages": num_pages, "num_results": found.total, "page": page, "page_size": page_size}).to_string(),
    );
    let warnings = ignored_warnings(p.other.keys());
    if !warnings.is_empty() {
        text.push_str(",\"warnings\":");
        text.push_str(&serde_json::to_string(&warnings).unwrap_or_else(|_| "[]".into()));
    }
    text.push('}');
    Ok(raw_json(StatusCode::OK, text))
}

/// Loads the caller's request for a read, or answers 404/410.
pub(super) async fn owned(state: &AppState, account: &Account, id: &str) -> ApiResult<SignatureRequest> {
    let id = request_id(id)?;
    let request = state.store.signature_request_state(&id).await?.ok_or_else(ApiError::not_found)?;
    request.visible_to(&account.id)?;
    Ok(request)
}

pub(super) fn change_error(e: ChangeError<Refusal>) -> ApiError {
    match e {
        ChangeError::NotFound => ApiError::not_found(),
        ChangeError::Refused(refusal) => refusal.into(),
        ChangeError::Store(e) => e.into(),
    }
}

pub(super) fn empty_ok() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "").into_response()
}

//! `/v3/signature_request/*` and `/v3/embedded/sign_url`: create and send, get, list, cancel, remind,
//! update, remove, files — in Dropbox Sign's shapes (compat spec §6).
//!
//! A create is answered at once: the request, its document bytes, signers and a `process_documents` job
//! commit in one transaction; the document worker sends `signature_request_sent` (or an error event)
//! when it has processed the files. Every other change goes through the store's
//! `change_signature_request`, which commits the new state with its events.

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use countersign_domain::account::Account;
use countersign_domain::ids::SignatureRequestId;
use countersign_domain::signature_request::{RequestStatus, SearchQuery};
use countersign_store::signature_requests::{ChangeError, SignatureRequest};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use countersign_domain::lifecycle::Refusal;

use crate::params::{Flag, Params, ignored_warnings};
use crate::routes::download::{ListParams, list_info};
use crate::state::AppState;
use crate::warnings::{Reply, Warning};
use countersign_domain::new_request::NewSignatureRequest;

mod audit;
mod create;
mod edit;
mod embedded;
mod files;
mod lifecycle;
mod with_template;

pub use audit::{audit_trail, verify};
pub(crate) use create::{CreateParams, document_files, own_client};
pub use create::{create_embedded, send};
pub use edit::{edit_embedded, edit_embedded_with_template, edit_request, edit_with_template};
pub use embedded::sign_url;
pub use files::{fields, file_link, files, files_as_data_uri, files_as_file_url};
pub use lifecycle::{cancel, release_hold, remind, remove, update};
pub(crate) use with_template::{CcParams, FromTemplates, WithTemplateParams, load_templates};
pub use with_template::{create_embedded_with_template, send_with_template};

/// How a request's content is described: files and signers (`send`, `create_embedded`, `edit`,
/// `edit_embedded`), or templates and roles (the `*_with_template` endpoints).
#[derive(Clone, Copy)]
pub(super) enum Source {
    Files,
    Templates,
}

impl Source {
    /// The request the body describes, checked, with the warnings for the caller.
    async fn parse(
        self,
        state: &AppState,
        account: &Caller,
        params: Params,
        embedded: bool,
    ) -> ApiResult<(NewSignatureRequest, Vec<Warning>)> {
        match self {
            Self::Files => create::parse(state, account, params, embedded).await,
            Self::Templates => with_template::parse(state, account, params, embedded).await,
        }
    }
}

/// A create: the request parsed, then stored with its documents, signers and jobs in one transaction;
/// the answer goes back at once.
async fn create(state: AppState, account: Caller, params: Params, source: Source, embedded: bool) -> ApiResult<Reply> {
    let (new, warnings) = source.parse(&state, &account, params, embedded).await?;
    state.store.create_signature_request(&new).await?;
    if let Some(template_ids) = &new.body.template_ids {
        tracing::info!(signature_request_id = %new.body.signature_request_id, ?template_ids, "signature request made from templates");
    }
    Ok(Reply::ok(serde_json::json!({"signature_request": new.body})).with_warnings(warnings))
}

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
    Extension(account): Extension<Caller>,
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

pub async fn list(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let p: ListParams = Params::from_query(query.as_deref())?.parse()?;
    let (page, page_size) = p.paging(&account.id, "requests")?;
    let query = SearchQuery::parse(p.query.as_deref().unwrap_or(""));
    let found =
        state.store.list_signature_requests(&account.id, page, page_size, &query, account.email.as_str()).await?;
    let mut text = String::from("{\"signature_requests\":[");
    for (i, body) in found.bodies.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(body);
    }
    text.push_str("],\"list_info\":");
    text.push_str(&list_info(found.total, page, page_size).to_string());
    let warnings = ignored_warnings(p.other.keys());
    if !warnings.is_empty() {
        text.push_str(",\"warnings\":");
        text.push_str(&serde_json::to_string(&warnings).unwrap_or_else(|_| "[]".into()));
    }
    text.push('}');
    Ok(raw_json(StatusCode::OK, text))
}

/// Loads the caller's request for a read, or answers 404/410.
/// `is_qualified_signature` or `is_eid` set `true` ask for signatures this server does not make (a
/// qualified electronic signature, an eID check): refused rather than quietly made simple electronic
/// signatures.
pub(crate) fn refuse_unsupported_signatures(qualified: &Flag, eid: &Flag) -> ApiResult<()> {
    if qualified.0 == Some(true) {
        return Err(ApiError::bad_param(
            "is_qualified_signature",
            "Qualified electronic signatures are not offered by this server: send false or leave it out.",
        ));
    }
    if eid.0 == Some(true) {
        return Err(ApiError::bad_param(
            "is_eid",
            "Identity verification with an eID is not offered by this server: send false or leave it out.",
        ));
    }
    Ok(())
}

pub(crate) async fn owned(state: &AppState, account: &Account, id: &str) -> ApiResult<SignatureRequest> {
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

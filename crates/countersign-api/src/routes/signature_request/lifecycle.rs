//! `cancel`, `remind`, `update`, `remove`: each one transition of the domain's state machine,
//! committed with its events by `change_signature_request`.

use countersign_domain::signer_mail::mailed;
use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::Response;
use countersign_domain::account::Account;
use countersign_domain::email::EmailAddress;
use countersign_domain::ids::SignatureId;
use countersign_domain::signature_request::parse_expires_at;
use countersign_domain::time::unix_now;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use countersign_domain::{MAX_NAME_CHARS, parse_name};

use super::{change_error, empty_ok, request_id};
use crate::params::{Count, Params, Text, ignored_warnings};
use crate::state::AppState;
use crate::warnings::Reply;

/// `POST /v3/signature_request/cancel/{id}`. Dropbox Sign queues the cancel and answers an empty 200;
/// here the cancel commits at once with its `signature_request_canceled` event (the callback still
/// arrives asynchronously), so a GET right after already shows it. Allowed while processing or sent.
pub async fn cancel(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = request_id(&id)?;
    state.store.change_signature_request(&id, |r| r.cancel(&account.id)).await.map_err(change_error)?;
    Ok(empty_ok())
}

/// `POST /v3/signature_request/release_hold/{id}`: a request held from an unclaimed draft
/// (`hold_request`) goes out for signature: `signature_request_sent`, and the signers' invitations.
pub async fn release_hold(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let id = request_id(&id)?;
    let now = unix_now();
    let (request, _) = state
        .store
        .change_signature_request(&id, |r| mailed(r, &state.mailing(), now, |r| r.release_hold(&account.id)))
        .await
        .map_err(change_error)?;
    tracing::info!(signature_request_id = %id, "held signature request released");
    Ok(Reply::ok(json!({"signature_request": request.body})))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RemindParams {
    email_address: Text,
    name: Text,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `POST /v3/signature_request/remind/{id}`: one signer, not for embedded requests, not within an hour
/// of the last reminder.
pub async fn remind(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    let p: RemindParams = params.parse()?;
    let email = p.email_address.non_blank().ok_or_else(|| ApiError::missing("email_address"))?;
    let email = EmailAddress::parse(email, "email_address")?.as_str().to_owned();
    let name = p.name.clone();
    let id = request_id(&id)?;
    let now = unix_now();
    let (request, _) = state
        .store
        .change_signature_request(&id, |r| {
            mailed(r, &state.mailing(), now, |r| r.remind(&account.id, &email, name.as_deref(), now))
        })
        .await
        .map_err(change_error)?;
    Ok(Reply::ok(json!({"signature_request": request.body})).with_warnings(ignored_warnings(p.other.keys())))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct UpdateParams {
    signature_id: Text,
    email_address: Text,
    name: Text,
    expires_at: Count,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `POST /v3/signature_request/update/{id}`: a signer's e-mail address (which issues a new
/// `signature_id`, so links made for the old address stop working), name, or the expiry.
pub async fn update(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    let p: UpdateParams = params.parse()?;
    let signature_id = p.signature_id.non_blank().ok_or_else(|| ApiError::missing("signature_id"))?;
    // Any other shape names no signer: the transition answers it as unknown, in its own order of checks.
    let signature_id = SignatureId::parse(signature_id);
    let email = match p.email_address.non_blank() {
        Some(e) => Some(EmailAddress::parse(e, "email_address")?.as_str().to_owned()),
        None => None,
    };
    let name = match p.name.non_blank() {
        Some(raw) => Some(parse_name(raw, "name", MAX_NAME_CHARS)?),
        None => None,
    };
    if email.is_none() && name.is_none() && p.expires_at.is_none() {
        return Err(ApiError::missing("email_address"));
    }
    let now = unix_now();
    let expires_at = parse_expires_at(p.expires_at.0, now)?;
    let id = request_id(&id)?;
    let (request, _) = state
        .store
        .change_signature_request(&id, |r| {
            mailed(r, &state.mailing(), now, |r| {
                r.update_signer(&account.id, signature_id.as_ref(), email.as_deref(), name.as_deref(), expires_at)
            })
        })
        .await
        .map_err(change_error)?;
    Ok(Reply::ok(json!({"signature_request": request.body})).with_warnings(ignored_warnings(p.other.keys())))
}

/// `POST /v3/signature_request/remove/{id}`: the caller loses access to a completed (all signed or
/// declined) request.
pub async fn remove(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = request_id(&id)?;
    state.store.change_signature_request(&id, |r| r.remove(&account.id)).await.map_err(change_error)?;
    Ok(empty_ok())
}

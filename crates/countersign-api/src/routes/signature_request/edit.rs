//! `PUT /v3/signature_request/edit/{id}`, `edit_embedded`, `edit_with_template` and
//! `edit_embedded_with_template`: the body is read exactly as its create twin reads it (`send`,
//! `create_embedded`, `send_with_template`, `create_embedded_with_template`), the request is built
//! under the edited request's id and creation time, and the store puts it in place of the old content
//! in one transaction, once the domain's `edit` allows it (out for signature, on hold or failed; no
//! signer signed or declined; the endpoint of the request's kind). The edited request is processed
//! again, like a new one: `signature_request_sent` (or an error event) follows.

use axum::Extension;
use axum::extract::{Path, State};
use serde_json::json;

use super::{Source, change_error, owned};
use crate::auth::Caller;
use crate::error::ApiResult;
use crate::params::Params;
use crate::state::AppState;
use crate::warnings::Reply;

async fn edit(
    state: AppState,
    account: Caller,
    id: String,
    params: Params,
    source: Source,
    embedded: bool,
) -> ApiResult<Reply> {
    // Another account's request, or none: 404 before the body is looked at.
    let current = owned(&state, &account, &id).await?;
    let (mut new, warnings) = source.parse(&state, &account, params, embedded).await?;
    new.keep_id(&current.id, current.body.created_at, &state.config.public_url);
    let edited = state.store.edit_signature_request(&account.id, &new).await.map_err(change_error)?;
    Ok(Reply::ok(json!({"signature_request": edited.body})).with_warnings(warnings))
}

/// `PUT /v3/signature_request/edit/{id}`.
pub async fn edit_request(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    edit(state, account, id, params, Source::Files, false).await
}

/// `PUT /v3/signature_request/edit_embedded/{id}`.
pub async fn edit_embedded(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    edit(state, account, id, params, Source::Files, true).await
}

/// `PUT /v3/signature_request/edit_with_template/{id}`.
pub async fn edit_with_template(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    edit(state, account, id, params, Source::Templates, false).await
}

/// `PUT /v3/signature_request/edit_embedded_with_template/{id}`.
pub async fn edit_embedded_with_template(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    edit(state, account, id, params, Source::Templates, true).await
}

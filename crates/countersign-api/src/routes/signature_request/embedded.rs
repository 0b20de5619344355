//! `embedded/sign_url` and the page behind it (`/editor/embeddedSign`).

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use countersign_domain::account::Account;
use countersign_domain::ids::SignatureId;
use countersign_domain::signature_request::RequestStatus;
use countersign_domain::time::unix_now;
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use countersign_domain::lifecycle::SignatureStatus;
use countersign_domain::links::Link;

use super::{FILE_URL_LIFETIME_SECS, SIGN_URL_LIFETIME_SECS, visible};
use crate::html;
use crate::params::{Count, Params, Text};
use crate::state::AppState;
use crate::warnings::Reply;

/// `GET /v3/embedded/sign_url/{signature_id}`: a single-purpose, expiring link for one signer of an
/// embedded request, whose path contains `embeddedSign` as `hellosign-embedded` expects.
pub async fn sign_url(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(signature_id): Path<String>,
) -> ApiResult<Reply> {
    let signature_id = SignatureId::parse(&signature_id).ok_or_else(ApiError::not_found)?;
    let owner = state.store.signature_owner(&signature_id).await?.ok_or_else(ApiError::not_found)?;
    if owner.account_id != account.id {
        return Err(ApiError::not_found());
    }
    if owner.replaced {
        return Err(ApiError::deleted("This signer was replaced; use the new signature_id."));
    }
    if !owner.is_embedded {
        return Err(ApiError::bad_param("signature_id", "This signature request is not embedded."));
    }
    let request =
        state.store.signature_request_state(&owner.signature_request_id).await?.ok_or_else(ApiError::not_found)?;
    visible(request.status, request.removed)?;
    match request.status {
        RequestStatus::Processing => {
            return Err(ApiError::conflict(
                "The signature request is still being processed; wait for signature_request_sent.",
            ));
        }
        RequestStatus::Error => return Err(ApiError::bad_request("The signature request could not be processed.")),
        RequestStatus::Expired => return Err(ApiError::deleted("The signature request has expired.")),
        _ => {}
    }
    let signature = request.body.signatures.iter().find(|s| s.signature_id == signature_id);
    if signature.is_some_and(|s| s.status_code != SignatureStatus::AwaitingSignature) {
        return Err(ApiError::conflict("This signer has already signed or declined."));
    }
    let expires = unix_now() + SIGN_URL_LIFETIME_SECS;
    let token = state.links.token(&Link::Sign { signature_id: signature_id.as_str(), expires });
    let url = format!(
        "{}/editor/embeddedSign?signature_id={signature_id}&token={token}&expires_at={expires}",
        state.config.public_url
    );
    tracing::info!(signature_request_id = %request.id, signature_id = %signature_id, "embedded sign URL issued");
    Ok(Reply::ok(json!({"embedded": {"sign_url": url, "expires_at": expires}})))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SignPageParams {
    signature_id: Text,
    token: Text,
    expires_at: Count,
}

/// `GET /editor/embeddedSign?signature_id=&token=&expires_at=`: the page behind an embedded sign URL.
/// Until signing is built it shows the document read-only; a canceled request answers 410.
pub async fn sign_page(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let invalid =
        || html::page(StatusCode::FORBIDDEN, "Link invalid", "<h1>This link is either invalid or expired.</h1>");
    let Ok(params) = Params::from_query(query.as_deref()) else { return invalid() };
    let Ok(p) = params.parse::<SignPageParams>() else { return invalid() };
    let (Some(signature_id), Some(token), Some(expires)) = (p.signature_id.0, p.token.0, p.expires_at.0) else {
        return invalid();
    };
    let expires = i64::from(expires);
    if !state.links.check(&Link::Sign { signature_id: &signature_id, expires }, &token, unix_now()) {
        return invalid();
    }
    let Some(signature_id) = SignatureId::parse(&signature_id) else { return invalid() };
    let Ok(Some(owner)) = state.store.signature_owner(&signature_id).await else { return invalid() };
    let Ok(Some(request)) = state.store.signature_request_state(&owner.signature_request_id).await else {
        return invalid();
    };
    if owner.replaced || request.removed || matches!(request.status, RequestStatus::Canceled | RequestStatus::Expired) {
        return html::page(
            StatusCode::GONE,
            "Request closed",
            "<h1>This signature request is no longer available.</h1>",
        );
    }
    let file_expires = unix_now() + FILE_URL_LIFETIME_SECS;
    let file_token =
        state.links.token(&Link::Files { signature_request_id: request.id.as_str(), expires: file_expires });
    let file_url = format!("/files/{}?expires={file_expires}&token={file_token}&force_download=0", request.id);
    let signers: String = request
        .body
        .signatures
        .iter()
        .map(|s| {
            format!(
                "<li>{} &lt;{}&gt; — {}</li>",
                html::escape(&s.signer_name),
                html::escape(&s.signer_email_address),
                html::escape(s.status_code.as_str())
            )
        })
        .collect();
    let body = format!(
        "<h1>{}</h1><p>Signature request <code>{}</code></p><ul>{signers}</ul><iframe title=\"Document\" src=\"{}\"></iframe>",
        html::escape(&request.body.title),
        html::escape(request.id.as_str()),
        html::escape(&file_url)
    );
    html::page(StatusCode::OK, &request.body.title, &body)
}

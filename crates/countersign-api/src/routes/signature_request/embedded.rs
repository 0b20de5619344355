//! `embedded/sign_url`: the link to the signer page (`/editor/embeddedSign`, served by `countersign-web`).

use axum::Extension;
use axum::extract::{Path, State};
use countersign_domain::account::Account;
use countersign_domain::ids::SignatureId;
use countersign_domain::signature_request::RequestStatus;
use countersign_domain::time::unix_now;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use countersign_domain::lifecycle::SignatureStatus;
use countersign_domain::links::Link;

use super::visible;
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
        RequestStatus::OnHold => {
            return Err(ApiError::conflict(
                "The signature request is on hold: release it with signature_request/release_hold first.",
            ));
        }
        RequestStatus::Expired => return Err(ApiError::deleted("The signature request has expired.")),
        _ => {}
    }
    let signature = request.body.signatures.iter().find(|s| s.signature_id == signature_id);
    if signature.is_some_and(|s| s.status_code != SignatureStatus::AwaitingSignature) {
        return Err(ApiError::conflict("This signer has already signed or declined."));
    }
    let expires = unix_now() + state.config.sign_url_lifetime_secs;
    let token = state.links.token(&Link::Sign { signature_id: signature_id.as_str(), expires });
    let url = format!(
        "{}/editor/embeddedSign?signature_id={signature_id}&token={token}&expires_at={expires}",
        state.config.public_url
    );
    tracing::info!(signature_request_id = %request.id, signature_id = %signature_id, "embedded sign URL issued");
    Ok(Reply::ok(json!({"embedded": {"sign_url": url, "expires_at": expires}})))
}

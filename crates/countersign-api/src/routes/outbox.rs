//! `GET /v3/x/outbox` (our extension): the e-mails stored for the caller's account, oldest first —
//! signers' links, reminders and notices, whether sent over SMTP or kept because none is configured, so
//! the e-mail flow works out of the box.

use axum::Extension;
use axum::extract::State;
use countersign_domain::account::Account;
use serde_json::json;

use crate::error::ApiResult;
use crate::state::AppState;
use crate::warnings::Reply;

pub async fn list(State(state): State<AppState>, Extension(account): Extension<Account>) -> ApiResult<Reply> {
    let emails = state.store.stored_emails(&account.id).await?;
    let count = emails.len();
    Ok(Reply::ok(json!({"emails": emails, "list_info": {"num_results": count}})))
}

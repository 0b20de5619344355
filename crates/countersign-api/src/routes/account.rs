//! `/v3/account`: get and update the caller's account, verify that an account exists, create one.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{RawQuery, State};
use countersign_domain::account::{Account, AccountUpdate, DEFAULT_LOCALE};
use countersign_domain::callback_url::check_callback_url;
use countersign_domain::email::EmailAddress;
use countersign_domain::locale::parse_locale;
use countersign_store::NewAccount;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::params::{Params, ignored_warnings, lenient};
use crate::state::AppState;
use crate::warnings::Reply;

/// The `AccountResponse` shape. Countersign has no plans or quotas: quota fields are `null` (unlimited),
/// `is_paid_hs` is true so SDK code that checks for a paid plan proceeds.
pub fn account_json(account: &Account) -> Value {
    json!({
        "account_id": account.id.as_str(),
        "email_address": account.email.as_str(),
        "is_locked": false,
        "is_paid_hs": true,
        "is_paid_hf": false,
        "quotas": {
            "api_signature_requests_left": null,
            "documents_left": null,
            "templates_total": null,
            "templates_left": null,
            "sms_verifications_left": null,
            "num_fax_pages_left": null
        },
        "callback_url": account.callback_url,
        "role_code": null,
        "team_id": null,
        "locale": account.locale,
        "usage": {"fax_pages_sent": 0},
        "settings": {"signer_access_codes": false, "sms_delivery": false, "sms_authentication": false}
    })
}

#[derive(Deserialize)]
struct AccountQuery {
    #[serde(default, deserialize_with = "lenient::string_opt")]
    account_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    email_address: Option<String>,
}

/// `GET /v3/account`. `account_id` / `email_address` may name the caller's own account; another
/// account is not the caller's to read, so it is not found.
pub async fn get(Extension(caller): Extension<Account>, RawQuery(query): RawQuery) -> ApiResult<Reply> {
    let query: AccountQuery = Params::from_query(query.as_deref())?.parse()?;
    let names_other = query.account_id.as_deref().is_some_and(|id| !id.is_empty() && id != caller.id.as_str())
        || query
            .email_address
            .as_deref()
            .is_some_and(|e| !e.is_empty() && !e.eq_ignore_ascii_case(caller.email.as_str()));
    if names_other {
        return Err(ApiError::not_found());
    }
    Ok(Reply::ok(json!({ "account": account_json(&caller) })))
}

#[derive(Deserialize)]
struct UpdateParams {
    #[serde(default, deserialize_with = "lenient::string_opt")]
    account_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    callback_url: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    locale: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `PUT` and `POST /v3/account`: set `callback_url` (an empty value removes it) and `locale`.
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    params: Params,
) -> ApiResult<Reply> {
    let params: UpdateParams = params.parse()?;
    if params.account_id.as_deref().is_some_and(|id| !id.is_empty() && id != caller.id.as_str()) {
        return Err(ApiError::not_found());
    }
    let mut update = AccountUpdate::default();
    if let Some(raw) = params.callback_url.as_deref() {
        update.callback_url = Some(if raw.trim().is_empty() {
            None
        } else {
            let config = &state.config;
            Some(
                check_callback_url(raw, config.callback_policy, "callback_url", config.callback_dns_timeout)
                    .await?
                    .as_str()
                    .to_owned(),
            )
        });
    }
    if let Some(raw) = params.locale.as_deref() {
        update.locale = Some(parse_locale(raw, "locale")?);
    }
    let account = state.store.update_account(&caller.id, &update).await?.ok_or_else(ApiError::not_found)?;
    if let Some(Some(url)) = &update.callback_url {
        crate::routes::events::callback_url_saved(&state, &account, url).await?;
    }
    tracing::info!(account_id = %account.id, callback_url_set = account.callback_url.is_some(), locale = %account.locale, "account updated");
    Ok(Reply::ok(json!({ "account": account_json(&account) })).with_warnings(ignored_warnings(params.other.keys())))
}

#[derive(Deserialize)]
struct VerifyParams {
    #[serde(default, deserialize_with = "lenient::string_opt")]
    email_address: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `POST /v3/account/verify`: `{"account": {"email_address"}}` when an account has that address, `{}`
/// when none has.
pub async fn verify(State(state): State<AppState>, params: Params) -> ApiResult<Reply> {
    let params: VerifyParams = params.parse()?;
    let raw = params.email_address.ok_or_else(|| ApiError::missing("email_address"))?;
    let email = EmailAddress::parse(&raw, "email_address")?;
    let body = match state.store.account_by_email(email.as_str()).await? {
        Some(found) => json!({"account": {"email_address": found.email.as_str()}}),
        None => json!({}),
    };
    Ok(Reply::ok(body).with_warnings(ignored_warnings(params.other.keys())))
}

#[derive(Deserialize)]
struct CreateParams {
    #[serde(default, deserialize_with = "lenient::string_opt")]
    email_address: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    locale: Option<String>,
    // Dropbox Sign links the new account to an OAuth app with these; Countersign has no OAuth flow yet,
    // so they are accepted (the official SDK sends them) and have no effect.
    #[serde(default, deserialize_with = "lenient::string_opt", rename = "client_id")]
    _client_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt", rename = "client_secret")]
    _client_secret: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `POST /v3/account/create`: a new account with that address. Its API key is not in the answer (the
/// official response has no field for it); the operator issues keys with `countersign account create`.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    params: Params,
) -> ApiResult<Reply> {
    let params: CreateParams = params.parse()?;
    let raw = params.email_address.ok_or_else(|| ApiError::missing("email_address"))?;
    let email = EmailAddress::parse(&raw, "email_address")?;
    let locale = match params.locale.as_deref() {
        Some(raw) if !raw.trim().is_empty() => parse_locale(raw, "locale")?,
        _ => DEFAULT_LOCALE.to_owned(),
    };
    let (account, _key) = state.store.create_account(NewAccount { email, locale }).await.map_err(|e| match e {
        countersign_store::StoreError::Conflict(msg) => ApiError::bad_param("email_address", msg),
        other => ApiError::from(other),
    })?;
    tracing::info!(account_id = %account.id, created_by = %caller.id, "account created through the API");
    Ok(Reply::ok(json!({ "account": account_json(&account) })).with_warnings(ignored_warnings(params.other.keys())))
}

//! `/v3/account`: get and update the caller's account, verify that an account exists, create one.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use countersign_domain::account::{Account, AccountUpdate, DEFAULT_LOCALE};
use countersign_domain::callback_url::check_callback_url;
use countersign_domain::email::EmailAddress;
use countersign_domain::ids::AccountId;
use countersign_domain::links::Link;
use countersign_domain::locale::parse_locale;
use countersign_domain::time::unix_now;
use countersign_store::NewAccount;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::html;
use crate::params::{Count, Params, Text, ignored_warnings};
use crate::state::AppState;
use crate::warnings::{Reply, Warning};

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

#[derive(Deserialize, Default)]
#[serde(default)]
struct AccountQuery {
    account_id: Text,
    email_address: Text,
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

#[derive(Deserialize, Default)]
#[serde(default)]
struct UpdateParams {
    account_id: Text,
    callback_url: Text,
    locale: Text,
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

#[derive(Deserialize, Default)]
#[serde(default)]
struct VerifyParams {
    email_address: Text,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `POST /v3/account/verify`: `{"account": {"email_address"}}` when an account has that address, `{}`
/// when none has.
pub async fn verify(State(state): State<AppState>, params: Params) -> ApiResult<Reply> {
    let params: VerifyParams = params.parse()?;
    let raw = params.email_address.0.ok_or_else(|| ApiError::missing("email_address"))?;
    let email = EmailAddress::parse(&raw, "email_address")?;
    let body = match state.store.account_by_email(email.as_str()).await? {
        Some(found) => json!({"account": {"email_address": found.email.as_str()}}),
        None => json!({}),
    };
    Ok(Reply::ok(body).with_warnings(ignored_warnings(params.other.keys())))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreateParams {
    email_address: Text,
    locale: Text,
    // With both, the new account is authorized for that app at once (OAuth): the answer carries
    // `oauth_data`, and the app's callback gets `account_confirmed` when the owner confirms.
    client_id: Text,
    client_secret: Text,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// How long the link in an account-confirmation e-mail works.
pub const CONFIRM_LINK_LIFETIME_SECS: i64 = 7 * 24 * 3600;

/// `POST /v3/account/create`: a new account with that address, as Dropbox Sign's platforms use it.
///
/// The account is **unconfirmed** (a `unconfirmed` warning says so): it has no API key, and its owner
/// gets an e-mail with a link to confirm it, which issues the first key. Until then the address is
/// held only loosely: the operator's `countersign account create` for it claims it, so no caller can
/// lock an address away from its owner. `COUNTERSIGN_API_ACCOUNT_CREATE=false` turns the endpoint off.
///
/// With an app's `client_id` and `client_secret` (an app set up for OAuth), the account is also
/// authorized for that app with the app's scopes: the answer carries `oauth_data` (tokens that work
/// once the owner confirms), and confirming sends `account_confirmed` to the app's callback URL.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    params: Params,
) -> ApiResult<Reply> {
    if !state.config.api_account_create {
        return Err(ApiError::forbidden(
            "Creating accounts through the API is turned off on this server; its operator creates accounts.",
        ));
    }
    let params: CreateParams = params.parse()?;
    let raw = params.email_address.0.ok_or_else(|| ApiError::missing("email_address"))?;
    let email = EmailAddress::parse(&raw, "email_address")?;
    let locale = match params.locale.as_deref() {
        Some(raw) if !raw.trim().is_empty() => parse_locale(raw, "locale")?,
        _ => DEFAULT_LOCALE.to_owned(),
    };
    let app = match crate::routes::oauth::optional_client(&params.client_id, &params.client_secret)? {
        Some((id, secret)) => Some(crate::routes::oauth::authenticated_app(&state, id, secret).await?),
        None => None,
    };
    let scopes = app.as_ref().and_then(|a| a.oauth.as_ref()).map(|o| o.scopes.clone()).unwrap_or_default();
    let link = app.as_ref().map(|app| countersign_store::oauth::AppLink {
        client_id: &app.client_id,
        scopes: &scopes,
        access_lifetime_secs: state.config.oauth_token_lifetime_secs,
    });
    let base = state.config.public_url.clone();
    let links = state.links.clone();
    let inviter = match &app {
        Some(app) => format!("the app {:?} ({})", app.name, caller.email.as_str()),
        None => caller.email.as_str().to_owned(),
    };
    let grants = app.as_ref().map(|app| {
        format!(
            "\n\nConfirming also lets the app {:?} act for your account, as it asked when it created it. \
             You can withdraw that access later through this server's operator.",
            app.name
        )
    });
    let message = move |account_id: &str| {
        let expires = unix_now() + CONFIRM_LINK_LIFETIME_SECS;
        let token = links.token(&Link::ConfirmAccount { account_id, expires });
        let link = format!("{base}/account/confirm?account_id={account_id}&expires_at={expires}&token={token}");
        (
            "Confirm your Countersign account".to_owned(),
            format!(
                "An account for this address was created on the Countersign server at {base} by {inviter}.\n\n\
                 To confirm it and get its API key, open this link within 7 days:\n{link}{grants}\n\n\
                 If you did not expect this, ignore this e-mail: the account stays unconfirmed and cannot be used.",
                grants = grants.unwrap_or_default(),
            ),
        )
    };
    let (account, tokens) =
        state.store.create_unconfirmed_account(NewAccount { email, locale }, &caller.id, link, message).await.map_err(
            |e| match e {
                countersign_store::StoreError::Conflict(msg) => ApiError::bad_param("email_address", msg),
                other => ApiError::from(other),
            },
        )?;
    tracing::info!(
        account_id = %account.id,
        created_by = %caller.id,
        client_id = app.as_ref().map_or("", |a| a.client_id.as_str()),
        "unconfirmed account created through the API"
    );
    let mut warnings = ignored_warnings(params.other.keys());
    warnings.push(Warning::new(
        "unconfirmed",
        "The account was created unconfirmed: its owner must confirm it from the e-mail sent to that address before it can be used.",
    ));
    let mut body = json!({ "account": account_json(&account) });
    if let Some(tokens) = &tokens {
        body["oauth_data"] = crate::routes::oauth::token_json(tokens, None);
    }
    Ok(Reply::ok(body).with_warnings(warnings))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ConfirmParams {
    account_id: Text,
    expires_at: Count,
    token: Text,
}

/// The account a confirmation link names, if the link is genuine and current.
fn confirm_link(state: &AppState, params: &Params) -> Option<(AccountId, i64, String)> {
    let p: ConfirmParams = params.parse().ok()?;
    let (Some(id), Some(expires), Some(token)) = (p.account_id.0, p.expires_at.0, p.token.0) else {
        return None;
    };
    let expires = i64::from(expires);
    let id = AccountId::parse(&id)?;
    state
        .links
        .check(&Link::ConfirmAccount { account_id: id.as_str(), expires }, &token, unix_now())
        .then_some((id, expires, token))
}

fn invalid_link() -> Response {
    html::page(StatusCode::FORBIDDEN, "Link invalid", "<h1>This link is either invalid or expired.</h1>")
}

/// `GET /account/confirm?account_id=&expires_at=&token=`: the page behind the confirmation e-mail's
/// link. It only asks; confirming is the form's `POST`, so a mail scanner that follows links cannot
/// confirm the account or see its key.
pub async fn confirm_page(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let Ok(params) = Params::from_query(query.as_deref()) else { return invalid_link() };
    let Some((id, expires, token)) = confirm_link(&state, &params) else { return invalid_link() };
    let Ok(Some(account)) = state.store.account_by_id(&id).await else { return invalid_link() };
    if account.confirmed {
        return html::page(StatusCode::OK, "Already confirmed", "<h1>This account is already confirmed.</h1>");
    }
    let body = format!(
        "<h1>Confirm your account</h1><p>Confirm the Countersign account for <strong>{email}</strong> to get its API key.</p>\
         <form method=\"post\" action=\"/account/confirm\">\
         <input type=\"hidden\" name=\"account_id\" value=\"{id}\"><input type=\"hidden\" name=\"expires_at\" value=\"{expires}\">\
         <input type=\"hidden\" name=\"token\" value=\"{token}\"><button type=\"submit\">Confirm account</button></form>",
        email = html::escape(account.email.as_str()),
        id = html::escape(id.as_str()),
        token = html::escape(&token),
    );
    html::page(StatusCode::OK, "Confirm your account", &body)
}

/// `POST /account/confirm`: confirms the account and shows its first API key, once.
pub async fn confirm(State(state): State<AppState>, params: Result<Params, ApiError>) -> Response {
    let Ok(params) = params else { return invalid_link() };
    let Some((id, _, _)) = confirm_link(&state, &params) else { return invalid_link() };
    match state.store.confirm_account(&id, account_json).await {
        Ok(Some((account, key))) => {
            tracing::info!(account_id = %account.id, "account confirmed by its owner");
            let body = format!(
                "<h1>Account confirmed</h1><p>The account for <strong>{email}</strong> is ready. Its API key, shown only this once:</p>\
                 <p><code>{key}</code></p><p>Use it as the user name of HTTP Basic authentication against <code>{base}/v3</code>.</p>",
                email = html::escape(account.email.as_str()),
                key = html::escape(key.expose()),
                base = html::escape(&state.config.public_url),
            );
            html::page(StatusCode::OK, "Account confirmed", &body)
        }
        Ok(None) => html::page(StatusCode::OK, "Already confirmed", "<h1>This account is already confirmed.</h1>"),
        Err(error) => {
            tracing::error!(%error, account_id = %id, "confirming an account failed");
            html::page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<h1>The account could not be confirmed. Please try again.</h1>",
            )
        }
    }
}

//! `POST /oauth/token` (an authorization code for tokens), `POST /oauth/token?refresh` (a refresh token
//! for the next pair) and `POST /oauth/revoke` (RFC 7009), as an API app's back end calls them. The
//! app proves itself with `client_id` and `client_secret` (optional on refresh, as in the OpenAPI:
//! the refresh token alone names the app then). The rules are `countersign_domain::oauth`'s.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use countersign_domain::api_app::ApiApp;
use countersign_domain::ids::ClientId;
use countersign_domain::oauth::{GrantRefusal, IssuedTokens, OAuthSecret};
use serde::Deserialize;
use serde_json::{Value, json};
use subtle::ConstantTimeEq;

use crate::error::{ApiError, ApiResult};
use crate::params::{Params, Text, ignored_warnings};
use crate::state::AppState;
use crate::warnings::Reply;

#[derive(Deserialize, Default)]
#[serde(default)]
struct TokenParams {
    grant_type: Text,
    client_id: Text,
    client_secret: Text,
    code: Text,
    state: Text,
    refresh_token: Text,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// The `OAuthTokenResponse` shape; `state` only when exchanging a code.
pub fn token_json(tokens: &IssuedTokens, state: Option<&str>) -> Value {
    let mut body = json!({
        "access_token": tokens.access_token.expose(),
        "token_type": "Bearer",
        "refresh_token": tokens.refresh_token.expose(),
        "expires_in": tokens.expires_in,
    });
    if let Some(state) = state {
        body["state"] = json!(state);
    }
    body
}

fn required(value: &Text, path: &str) -> ApiResult<String> {
    value.non_blank().map(str::to_owned).ok_or_else(|| ApiError::missing(path))
}

/// The client credentials where the OpenAPI makes them optional (a refresh, `account/create`): both
/// or neither; one without the other is a missing parameter.
pub fn optional_client<'a>(client_id: &'a Text, secret: &'a Text) -> ApiResult<Option<(&'a str, &'a str)>> {
    match (client_id.non_blank(), secret.non_blank()) {
        (Some(id), Some(secret)) => Ok(Some((id, secret))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ApiError::missing("client_secret")),
        (None, Some(_)) => Err(ApiError::missing("client_id")),
    }
}

/// A refused code or refresh token: 400 `invalid_grant`, with the rule it broke.
fn refused(refusal: GrantRefusal) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_grant", refusal.to_string())
}

fn bad_client() -> ApiError {
    ApiError::unauthorized("Unauthorized client. The client_id and client_secret do not match an app set up for OAuth.")
}

/// The app `client_id` names, if `secret` is its OAuth secret (compared in constant time).
pub async fn authenticated_app(state: &AppState, client_id: &str, secret: &str) -> ApiResult<ApiApp> {
    let id = ClientId::parse(client_id.trim()).ok_or_else(bad_client)?;
    let app = state.store.api_app_by_client_id(&id).await?.ok_or_else(bad_client)?;
    let matches = app.oauth.as_ref().is_some_and(|o| bool::from(o.secret.as_bytes().ct_eq(secret.trim().as_bytes())));
    if matches { Ok(app) } else { Err(bad_client()) }
}

/// The address failed client authentications are counted by (as for API keys).
fn client_address(addr: Option<&ConnectInfo<SocketAddr>>) -> Option<Vec<u8>> {
    addr.map(|ConnectInfo(addr)| crate::auth::address_key(addr))
}

/// Checks the client credentials, counting a failure against the caller's address.
async fn check_client(state: &AppState, from: Option<&[u8]>, client_id: &str, secret: &str) -> ApiResult<ApiApp> {
    if let Some(from) = from.filter(|_| state.auth_failures.enabled())
        && let Some(decision) = state.auth_failures.exhausted(from)
    {
        return Err(ApiError::exceeded_rate(format!(
            "Too many failed authentications from this address: at most {} a minute. Try again later.",
            decision.limit
        )));
    }
    let result = authenticated_app(state, client_id, secret).await;
    if result.is_err()
        && let Some(from) = from.filter(|_| state.auth_failures.enabled())
    {
        state.auth_failures.check(from);
    }
    result
}

/// `POST /oauth/token` and `POST /oauth/token?refresh`.
pub async fn token(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    params: Params,
) -> Response {
    let from = client_address(connect.as_ref().map(|c| &c.0));
    match token_inner(&state, query.as_deref(), from.as_deref(), params).await {
        Ok(reply) => reply.into_response(),
        Err(error) => error.into_response(),
    }
}

async fn token_inner(state: &AppState, query: Option<&str>, from: Option<&[u8]>, params: Params) -> ApiResult<Reply> {
    let p: TokenParams = params.parse()?;
    let refresh_query = query.is_some_and(|q| q.split('&').any(|pair| pair.split('=').next() == Some("refresh")));
    let grant_type = p.grant_type.as_deref().map(str::trim).unwrap_or_default().to_owned();
    let warnings = ignored_warnings(p.other.keys());
    let lifetime = state.config.oauth_token_lifetime_secs;
    match grant_type.as_str() {
        "authorization_code" if !refresh_query => {
            let client_id = required(&p.client_id, "client_id")?;
            let secret = required(&p.client_secret, "client_secret")?;
            let code = required(&p.code, "code")?;
            let app_state = required(&p.state, "state")?;
            let app = check_client(state, from, &client_id, &secret).await?;
            let tokens = state
                .store
                .exchange_oauth_code(&app.client_id, &OAuthSecret::presented(&code), &app_state, lifetime)
                .await?
                .map_err(|refusal| {
                    tracing::info!(client_id = %app.client_id, %refusal, "authorization code refused");
                    refused(refusal)
                })?;
            tracing::info!(client_id = %app.client_id, "authorization code exchanged for tokens");
            Ok(Reply::ok(token_json(&tokens, Some(&app_state))).with_warnings(warnings))
        }
        "refresh_token" => {
            let refresh = required(&p.refresh_token, "refresh_token")?;
            let app = match optional_client(&p.client_id, &p.client_secret)? {
                Some((id, secret)) => Some(check_client(state, from, id, secret).await?.client_id),
                None => None,
            };
            let (client_id, tokens) = state
                .store
                .refresh_oauth_token(app.as_ref(), &OAuthSecret::presented(&refresh), lifetime)
                .await?
                .map_err(|refusal| {
                    tracing::info!(%refusal, "refresh token refused");
                    refused(refusal)
                })?;
            tracing::info!(client_id = %client_id, "access token refreshed");
            Ok(Reply::ok(token_json(&tokens, None)).with_warnings(warnings))
        }
        "authorization_code" => Err(ApiError::bad_param(
            "grant_type",
            "POST /oauth/token?refresh takes grant_type=refresh_token; exchange a code at POST /oauth/token.",
        )),
        "" => Err(ApiError::missing("grant_type")),
        other => Err(ApiError::bad_param(
            "grant_type",
            format!("Unsupported grant_type {other:?}: use authorization_code, or refresh_token with ?refresh."),
        )),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RevokeParams {
    token: Text,
    client_id: Text,
    client_secret: Text,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `POST /oauth/revoke` (RFC 7009): the app gives up a token (access or refresh) and with it every token
/// of the same authorization. Answered `{}` whether or not the token was known, as the RFC asks.
pub async fn revoke(
    State(state): State<AppState>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    params: Params,
) -> Response {
    let from = client_address(connect.as_ref().map(|c| &c.0));
    let result = async {
        let p: RevokeParams = params.parse()?;
        let client_id = required(&p.client_id, "client_id")?;
        let secret = required(&p.client_secret, "client_secret")?;
        let token = required(&p.token, "token")?;
        let app = check_client(&state, from.as_deref(), &client_id, &secret).await?;
        let revoked = state.store.revoke_oauth_token(&app.client_id, &OAuthSecret::presented(&token)).await?;
        tracing::info!(client_id = %app.client_id, revoked, "token revocation requested by the app");
        Ok::<_, ApiError>(Reply::ok(json!({})).with_warnings(ignored_warnings(p.other.keys())))
    }
    .await;
    match result {
        Ok(reply) => reply.into_response(),
        Err(error) => error.into_response(),
    }
}

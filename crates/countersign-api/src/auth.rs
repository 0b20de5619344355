//! Authentication and rate limiting at the edge of `/v3`.
//!
//! HTTP Basic with the API key as user name and an empty password (`curl -u KEY:`), as Dropbox Sign
//! does, or `Authorization: Bearer` with an OAuth access token an app got for a user (then the
//! operation must be one tokens may call, with one of its scopes: [`TOKEN_ACCESS`]). The middleware
//! looks the key or token up by digest, counts the request against its rate limit, puts the caller's
//! [`Account`] and [`Caller`] into the request for the handlers, and adds the rate-limit headers to
//! the answer. Keys and tokens are never logged.

use std::net::{IpAddr, SocketAddr};

use axum::extract::MatchedPath;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use countersign_domain::account::Account;
use countersign_domain::ids::ClientId;
use countersign_domain::oauth::{OAuthSecret, TokenAccess, scopes_allow};
use countersign_domain::secrets::ApiKey;
use countersign_store::oauth::{BearerAccess, BearerLookup};

use crate::error::ApiError;
use crate::rate_limit::RateDecision;
use crate::state::AppState;

/// The credentials of an `Authorization` header.
enum Presented {
    /// HTTP Basic with the API key as user name.
    Key(ApiKey),
    /// `Bearer` with an OAuth access token.
    Bearer(OAuthSecret),
}

/// The credentials in an `Authorization` header, or why there are none.
fn presented_credentials(headers: &HeaderMap) -> Result<Presented, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(ApiError::unauthorized("Unauthorized user. No credentials supplied."));
    };
    let value =
        value.to_str().map_err(|_| ApiError::unauthorized("Unauthorized user. Malformed Authorization header."))?;
    let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        let token = credentials.trim();
        if token.is_empty() {
            return Err(ApiError::unauthorized("Unauthorized user. The Bearer access token is empty."));
        }
        return Ok(Presented::Bearer(OAuthSecret::presented(token)));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::unauthorized(
            "Unauthorized user. Use HTTP Basic with your API key as the user name, or an OAuth Bearer access token.",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(credentials.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| ApiError::unauthorized("Unauthorized user. Malformed Basic credentials."))?;
    let user = decoded.split_once(':').map_or(decoded.as_str(), |(user, _)| user);
    if user.is_empty() {
        return Err(ApiError::unauthorized("Unauthorized user. No credentials supplied."));
    }
    Ok(Presented::Key(ApiKey::presented(user)))
}

/// Who is calling: the account, and the API app acting for it when the credentials are an OAuth
/// access token. Handlers that take a `client_id` read it from here (an app acting through OAuth may
/// name itself, and is named by default); the rest take the [`Account`] alone.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: Account,
    /// The app whose access token authenticated this request.
    pub oauth_app: Option<ClientId>,
}

impl std::ops::Deref for Caller {
    type Target = Account;

    fn deref(&self) -> &Account {
        &self.account
    }
}

/// What each `/v3` operation accepts from an OAuth access token: the scopes the official OpenAPI lists
/// for it (any one suffices). Operations the OpenAPI offers to API keys only, and Countersign's own
/// developer tools (events, callback endpoints, the outbox), take an API key. A route missing here
/// takes an API key too, so a new route is never opened to tokens by accident; a test checks that
/// every route of the router is listed.
pub const TOKEN_ACCESS: &[(&str, &str, TokenAccess)] = {
    use TokenAccess::{AnyOf, ApiKeyOnly};
    const SEND: TokenAccess = AnyOf(&["request_signature", "signature_request_access"]);
    const REQUESTS: TokenAccess = AnyOf(&["signature_request_access"]);
    const TEMPLATES: TokenAccess = AnyOf(&["template_access"]);
    const APPS: TokenAccess = AnyOf(&["api_app_access"]);
    const ACCOUNT: TokenAccess = AnyOf(&["account_access"]);
    &[
        ("GET", "/account", AnyOf(&["account_access", "basic_account_info"])),
        ("PUT", "/account", ACCOUNT),
        ("POST", "/account", ACCOUNT),
        ("POST", "/account/create", ACCOUNT),
        ("POST", "/account/verify", ACCOUNT),
        ("POST", "/account/callback_test", ACCOUNT),
        ("POST", "/api_app", APPS),
        ("GET", "/api_app/list", APPS),
        ("GET", "/api_app/{client_id}", APPS),
        ("PUT", "/api_app/{client_id}", APPS),
        ("DELETE", "/api_app/{client_id}", APPS),
        ("POST", "/api_app/{client_id}/callback_test", APPS),
        ("POST", "/signature_request/send", SEND),
        ("POST", "/signature_request/create_embedded", REQUESTS),
        ("POST", "/signature_request/send_with_template", SEND),
        ("POST", "/signature_request/release_hold/{id}", REQUESTS),
        ("POST", "/signature_request/create_embedded_with_template", REQUESTS),
        ("POST", "/signature_request/bulk_send_with_template", SEND),
        ("POST", "/signature_request/bulk_create_embedded_with_template", ApiKeyOnly),
        ("GET", "/bulk_send_job/list", SEND),
        ("GET", "/bulk_send_job/{id}", SEND),
        ("PUT", "/signature_request/edit/{id}", SEND),
        ("PUT", "/signature_request/edit_embedded/{id}", REQUESTS),
        ("PUT", "/signature_request/edit_with_template/{id}", SEND),
        ("PUT", "/signature_request/edit_embedded_with_template/{id}", REQUESTS),
        ("POST", "/template/create", TEMPLATES),
        ("POST", "/unclaimed_draft/create", REQUESTS),
        ("POST", "/unclaimed_draft/create_embedded", SEND),
        ("POST", "/unclaimed_draft/create_embedded_with_template", REQUESTS),
        ("POST", "/unclaimed_draft/edit_and_resend/{id}", SEND),
        ("POST", "/template/create_embedded_draft", TEMPLATES),
        ("POST", "/template/update_files/{id}", TEMPLATES),
        ("POST", "/embedded/edit_url/{id}", TEMPLATES),
        ("GET", "/template/list", TEMPLATES),
        ("POST", "/template/delete/{id}", TEMPLATES),
        ("GET", "/template/files/{id}", TEMPLATES),
        ("GET", "/template/files_as_data_uri/{id}", TEMPLATES),
        ("GET", "/template/files_as_file_url/{id}", TEMPLATES),
        ("POST", "/template/add_user/{id}", TEMPLATES),
        ("POST", "/template/remove_user/{id}", TEMPLATES),
        ("GET", "/template/{id}", TEMPLATES),
        ("GET", "/signature_request/list", SEND),
        ("POST", "/signature_request/cancel/{id}", SEND),
        ("POST", "/signature_request/remind/{id}", SEND),
        ("POST", "/signature_request/update/{id}", REQUESTS),
        ("POST", "/signature_request/remove/{id}", ApiKeyOnly),
        ("GET", "/signature_request/files/{id}", SEND),
        ("GET", "/signature_request/files_as_data_uri/{id}", SEND),
        ("GET", "/signature_request/files_as_file_url/{id}", SEND),
        ("GET", "/signature_request/fields/{id}", SEND),
        ("POST", "/signature_request/verify", SEND),
        ("GET", "/signature_request/{id}/audit", SEND),
        ("GET", "/signature_request/{id}", SEND),
        ("GET", "/embedded/sign_url/{signature_id}", REQUESTS),
        ("GET", "/events", ApiKeyOnly),
        ("GET", "/events/{event_id}", ApiKeyOnly),
        ("POST", "/events/{event_id}/resend", ApiKeyOnly),
        ("GET", "/callback_endpoints", ApiKeyOnly),
        ("POST", "/callback_endpoints/enable", ApiKeyOnly),
        ("GET", "/x/outbox", ApiKeyOnly),
        ("POST", "/x/trigger", ApiKeyOnly),
    ]
};

/// What the operation at `method` and route pattern `path` (`/v3` included or not) accepts from a
/// token; an API key for any route not listed.
pub fn token_access(method: &str, path: &str) -> TokenAccess {
    let path = path.strip_prefix("/v3").unwrap_or(path);
    TOKEN_ACCESS
        .iter()
        .find(|(m, p, _)| *m == method && *p == path)
        .map_or(TokenAccess::ApiKeyOnly, |(_, _, access)| *access)
}

/// The account and app an access token stands for, if it may call this operation.
async fn bearer_caller(
    state: &AppState,
    method: &str,
    route: &str,
    token: &OAuthSecret,
) -> Result<BearerAccess, ApiError> {
    let access = match state.store.bearer_access(token).await? {
        BearerLookup::Found(access) => access,
        BearerLookup::Unknown => return Err(ApiError::unauthorized("Unauthorized user. Invalid access token.")),
        BearerLookup::Expired => {
            return Err(ApiError::unauthorized(
                "Unauthorized user. The access token has expired: get a new one with POST /oauth/token?refresh.",
            ));
        }
        BearerLookup::Revoked => {
            return Err(ApiError::unauthorized(
                "Unauthorized user. The access token was revoked; the user must authorize the app again.",
            ));
        }
        BearerLookup::Unconfirmed => {
            return Err(ApiError::forbidden(
                "The account has not been confirmed yet: the app can act for it once its owner confirms it from the e-mail sent to them.",
            ));
        }
    };
    match token_access(method, route) {
        TokenAccess::ApiKeyOnly => {
            Err(ApiError::forbidden("This operation is not available to OAuth access tokens: call it with an API key."))
        }
        needed @ TokenAccess::AnyOf(scopes) if !scopes_allow(&access.scopes, needed) => {
            Err(ApiError::forbidden(format!(
                "The access token lacks the scope this operation needs: one of {}. The app must ask for it and the user authorize it again.",
                scopes.join(", ")
            )))
        }
        TokenAccess::AnyOf(_) => Ok(access),
    }
}

fn rate_headers(headers: &mut HeaderMap, decision: &RateDecision) {
    // Header names as Dropbox Sign spells them (the last one with a lower-case "l").
    headers.insert("X-RateLimit-Limit", HeaderValue::from(decision.limit));
    headers.insert("X-RateLimit-Remaining", HeaderValue::from(decision.remaining));
    headers.insert("X-Ratelimit-Reset", HeaderValue::from(decision.reset_at));
}

/// The client address failed authentications are counted by (IPv6 by its /64, which one host holds).
fn client_key(request: &Request) -> Option<Vec<u8>> {
    let ConnectInfo(addr) = request.extensions().get::<ConnectInfo<SocketAddr>>()?;
    Some(address_key(addr))
}

/// The bytes an address is counted by: IPv4 (also when IPv4-mapped), or the /64 of an IPv6 address.
pub(crate) fn address_key(addr: &SocketAddr) -> Vec<u8> {
    match addr.ip() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets()[..8].to_vec(),
        },
    }
}

/// `429 exceeded_rate` with `message` and a `Retry-After` until the window of `decision` resets.
fn rate_refusal(message: String, decision: &RateDecision) -> Response {
    let mut response = ApiError::exceeded_rate(message).into_response();
    let wait = (decision.reset_at - countersign_domain::time::unix_now()).max(1);
    response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(wait));
    response
}

pub async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    // An address that spent its budget of failures is refused before its credentials cost a look-up.
    let client = client_key(&request).filter(|_| state.auth_failures.enabled());
    if let Some(decision) = client.as_deref().and_then(|c| state.auth_failures.exhausted(c)) {
        tracing::warn!("request refused: too many failed authentications from this address");
        return rate_refusal(
            format!(
                "Too many failed authentications from this address: at most {} a minute. Try again later.",
                decision.limit
            ),
            &decision,
        );
    }
    let count_failure = || {
        if let Some(client) = &client {
            state.auth_failures.check(client);
        }
    };
    let presented = match presented_credentials(request.headers()) {
        Ok(presented) => presented,
        Err(error) => {
            if request.headers().contains_key(AUTHORIZATION) {
                count_failure();
            }
            return unauthorized(error);
        }
    };
    let (caller, limit_key) = match presented {
        Presented::Key(key) => match state.store.account_by_api_key(&key).await {
            Ok(Some(account)) => (Caller { account, oauth_app: None }, key.digest()),
            Ok(None) => {
                count_failure();
                tracing::info!("request refused: unknown API key");
                return unauthorized(ApiError::unauthorized("Unauthorized user. Invalid API key."));
            }
            Err(error) => return ApiError::from(error).into_response(),
        },
        Presented::Bearer(token) => {
            let method = request.method().as_str().to_owned();
            let route = request.extensions().get::<MatchedPath>().map_or("", MatchedPath::as_str).to_owned();
            match bearer_caller(&state, &method, &route, &token).await {
                Ok(access) => (Caller { account: access.account, oauth_app: Some(access.client_id) }, token.digest()),
                Err(error) => {
                    tracing::info!("request refused: {}", error.message);
                    if error.status != StatusCode::UNAUTHORIZED {
                        return error.into_response();
                    }
                    count_failure();
                    return unauthorized(error);
                }
            }
        }
    };
    let account = caller.account.clone();
    let decision = state.limiter.enabled().then(|| state.limiter.check(&limit_key));
    if let Some(decision) = decision.filter(|d| !d.allowed) {
        tracing::warn!(account_id = %account.id, "request refused: rate limit exceeded");
        let message = format!("Rate limit exceeded: at most {} requests per minute for an API key.", decision.limit);
        let mut response = rate_refusal(message, &decision);
        rate_headers(response.headers_mut(), &decision);
        return response;
    }
    tracing::Span::current().record("account_id", tracing::field::display(&account.id));
    if let Some(app) = &caller.oauth_app {
        tracing::Span::current().record("client_id", tracing::field::display(app));
    }
    request.extensions_mut().insert(account);
    request.extensions_mut().insert(caller);
    let mut response = next.run(request).await;
    if let Some(decision) = decision {
        rate_headers(response.headers_mut(), &decision);
    }
    response
}

fn unauthorized(error: ApiError) -> Response {
    let mut response = error.into_response();
    response.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Countersign API\""));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers_with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn basic_credentials_carry_the_key_as_user_name() {
        let encoded = base64::engine::general_purpose::STANDARD.encode("abc123:");
        let key = |h: &HeaderMap| match presented_credentials(h).unwrap() {
            Presented::Key(k) => k.expose().to_owned(),
            Presented::Bearer(_) => panic!("not a key"),
        };
        assert_eq!(key(&headers_with(&format!("Basic {encoded}"))), "abc123");
        let no_colon = base64::engine::general_purpose::STANDARD.encode("abc123");
        assert_eq!(key(&headers_with(&format!("basic {no_colon}"))), "abc123");
        assert!(
            matches!(presented_credentials(&headers_with("Bearer t0ken")).unwrap(), Presented::Bearer(t) if t.expose() == "t0ken")
        );
    }

    #[test]
    fn missing_or_malformed_credentials_are_unauthorized() {
        let refused = |h: &HeaderMap| presented_credentials(h).err().map(|e| e.name);
        assert_eq!(refused(&HeaderMap::new()), Some("unauthorized"));
        assert_eq!(refused(&headers_with("Basic !!!")), Some("unauthorized"));
        assert_eq!(refused(&headers_with("Bearer ")), Some("unauthorized"));
        assert_eq!(refused(&headers_with("Digest x")), Some("unauthorized"));
        let empty = base64::engine::general_purpose::STANDARD.encode(":");
        assert_eq!(refused(&headers_with(&format!("Basic {empty}"))), Some("unauthorized"));
    }

    #[test]
    fn token_access_follows_the_openapi_and_defaults_to_api_keys() {
        assert_eq!(token_access("GET", "/v3/signature_request/{id}"), token_access("GET", "/signature_request/{id}"));
        assert!(
            matches!(token_access("GET", "/v3/account"), TokenAccess::AnyOf(s) if s.contains(&"basic_account_info"))
        );
        assert_eq!(token_access("POST", "/v3/signature_request/remove/{id}"), TokenAccess::ApiKeyOnly);
        assert_eq!(token_access("GET", "/v3/events"), TokenAccess::ApiKeyOnly);
        assert_eq!(token_access("POST", "/v3/some/new/route"), TokenAccess::ApiKeyOnly);
        let mut seen = std::collections::HashSet::new();
        for (method, path, _) in TOKEN_ACCESS {
            assert!(seen.insert((method, path)), "{method} {path} is listed twice");
        }
    }
}

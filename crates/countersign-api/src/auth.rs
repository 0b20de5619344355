//! Authentication and rate limiting at the edge of `/v3`.
//!
//! HTTP Basic with the API key as user name and an empty password (`curl -u KEY:`), as Dropbox Sign
//! does. The middleware looks the key up by digest, counts the request against the key's rate limit,
//! puts the caller's [`Account`] into the request for the handlers, and adds the rate-limit headers to
//! the answer. The key itself is never logged.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use countersign_domain::account::Account;
use countersign_domain::secrets::ApiKey;

use crate::error::ApiError;
use crate::rate_limit::RateDecision;
use crate::state::AppState;

/// The API key in an `Authorization` header, or why there is none.
fn presented_key(headers: &HeaderMap) -> Result<ApiKey, ApiError> {
    let Some(value) = headers.get(AUTHORIZATION) else {
        return Err(ApiError::unauthorized("Unauthorized user. No credentials supplied."));
    };
    let value =
        value.to_str().map_err(|_| ApiError::unauthorized("Unauthorized user. Malformed Authorization header."))?;
    let (scheme, credentials) = value.trim().split_once(' ').unwrap_or((value, ""));
    if scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::unauthorized(
            "Unauthorized user. OAuth access tokens are not accepted by this server; use an API key.",
        ));
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(ApiError::unauthorized("Unauthorized user. Use HTTP Basic with your API key as the user name."));
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
    Ok(ApiKey::presented(user))
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
    Some(match addr.ip() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.octets().to_vec(),
            None => v6.octets()[..8].to_vec(),
        },
    })
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
    let key = match presented_key(request.headers()) {
        Ok(key) => key,
        Err(error) => {
            if request.headers().contains_key(AUTHORIZATION) {
                count_failure();
            }
            return unauthorized(error);
        }
    };
    let account: Account = match state.store.account_by_api_key(&key).await {
        Ok(Some(account)) => account,
        Ok(None) => {
            count_failure();
            tracing::info!("request refused: unknown API key");
            return unauthorized(ApiError::unauthorized("Unauthorized user. Invalid API key."));
        }
        Err(error) => return ApiError::from(error).into_response(),
    };
    let decision = state.limiter.enabled().then(|| state.limiter.check(&key.digest()));
    if let Some(decision) = decision.filter(|d| !d.allowed) {
        tracing::warn!(account_id = %account.id, "request refused: rate limit exceeded");
        let message = format!("Rate limit exceeded: at most {} requests per minute for an API key.", decision.limit);
        let mut response = rate_refusal(message, &decision);
        rate_headers(response.headers_mut(), &decision);
        return response;
    }
    tracing::Span::current().record("account_id", tracing::field::display(&account.id));
    request.extensions_mut().insert(account);
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
        assert_eq!(presented_key(&headers_with(&format!("Basic {encoded}"))).unwrap().expose(), "abc123");
        let no_colon = base64::engine::general_purpose::STANDARD.encode("abc123");
        assert_eq!(presented_key(&headers_with(&format!("basic {no_colon}"))).unwrap().expose(), "abc123");
    }

    #[test]
    fn missing_or_malformed_credentials_are_unauthorized() {
        assert_eq!(presented_key(&HeaderMap::new()).unwrap_err().name, "unauthorized");
        assert_eq!(presented_key(&headers_with("Basic !!!")).unwrap_err().name, "unauthorized");
        assert_eq!(presented_key(&headers_with("Bearer token")).unwrap_err().name, "unauthorized");
        let empty = base64::engine::general_purpose::STANDARD.encode(":");
        assert_eq!(presented_key(&headers_with(&format!("Basic {empty}"))).unwrap_err().name, "unauthorized");
    }
}

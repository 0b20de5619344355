//! The OAuth authorization page (`/oauth/authorize?response_type=code&client_id=…&state=…`), where a
//! user of this server lets an API app act for them, as on Dropbox Sign's `app.hellosign.com`.
//!
//! The page names the app, its maker and what each of its scopes allows, and asks the user to sign in
//! (e-mail and password, or an API key) and to allow or deny. Allowing stores the grant and sends the
//! browser to the app's OAuth callback URL with `code` and `state`; denying sends it there with
//! `error=access_denied`. The form carries a token that must match a cookie set with the page
//! (double submit), so another site cannot post the form in the user's name; wrong sign-ins are
//! counted per address and refused past the limit for a while.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use countersign_domain::api_app::ApiApp;
use countersign_domain::ids::{ClientId, random_hex};
use countersign_domain::oauth::scope_description;
use serde::Deserialize;

use crate::WebState;
use crate::frame::{Framing, json_for_script};
use crate::signin::{Credentials, sign_in};

const CSRF_COOKIE: &str = "countersign_oauth_csrf";
/// Longest `state` accepted (it is echoed back in a URL).
const MAX_STATE_CHARS: usize = 512;

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
pub struct AuthorizeQuery {
    response_type: String,
    client_id: String,
    state: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AuthorizeForm {
    response_type: String,
    client_id: String,
    state: String,
    csrf_token: String,
    email: String,
    password: String,
    api_key: String,
    decision: String,
}

#[derive(Template)]
#[template(path = "authorize.html")]
struct AuthorizePage<'a> {
    app_name: &'a str,
    owner_email: &'a str,
    client_id: &'a str,
    state: &'a str,
    scopes: Vec<String>,
    csrf_token: &'a str,
    email: &'a str,
    api_key_open: bool,
    error: Option<&'a str>,
    redirect_host: String,
    config: String,
    css: String,
    js: String,
}

/// A page that only explains (an unknown app, a missing `state`, …).
fn explain(status: StatusCode, heading: &str, text: &str) -> Response {
    crate::frame::message(status, heading, text, None, &Framing::Never)
}

/// The app the request names, checked to offer OAuth, with its callback URL; or the page saying why not.
async fn requested_app(
    state: &WebState,
    response_type: &str,
    client_id: &str,
    app_state: &str,
) -> Result<(ApiApp, url::Url), Response> {
    let Some(id) = ClientId::parse(client_id.trim()) else {
        return Err(explain(StatusCode::BAD_REQUEST, "Unknown app", "No API app has this client_id on this server."));
    };
    let app = match state.store.api_app_by_client_id(&id).await {
        Ok(Some(app)) => app,
        Ok(None) => {
            return Err(explain(
                StatusCode::BAD_REQUEST,
                "Unknown app",
                "No API app has this client_id on this server.",
            ));
        }
        Err(error) => {
            tracing::error!(%error, client_id = %id, "reading an app for the authorization page failed");
            return Err(explain(
                StatusCode::SERVICE_UNAVAILABLE,
                "Try again",
                "The server could not read this app just now.",
            ));
        }
    };
    let Some(oauth) = &app.oauth else {
        return Err(explain(
            StatusCode::BAD_REQUEST,
            "This app does not use OAuth",
            "The app has no OAuth settings (callback URL and scopes), so it cannot ask for access to accounts.",
        ));
    };
    let Ok(callback) = url::Url::parse(&oauth.callback_url) else {
        return Err(explain(
            StatusCode::BAD_REQUEST,
            "This app is misconfigured",
            "Its OAuth callback URL is not a URL.",
        ));
    };
    if response_type != "code" {
        return Err(explain(
            StatusCode::BAD_REQUEST,
            "Unsupported request",
            "Only the authorization code flow is offered: the link must say response_type=code.",
        ));
    }
    if app_state.is_empty() || app_state.chars().count() > MAX_STATE_CHARS {
        return Err(explain(
            StatusCode::BAD_REQUEST,
            "Missing state",
            "The link must carry a state value (at most 512 characters) for the app to check when you come back.",
        ));
    }
    Ok((app, callback))
}

/// What the form shows besides the app: its token, what the user typed, and what went wrong.
struct FormState<'a> {
    csrf: &'a str,
    email: &'a str,
    api_key_open: bool,
    error: Option<&'a str>,
}

fn render(app: &ApiApp, callback: &url::Url, app_state: &str, form: FormState<'_>, status: StatusCode) -> Response {
    let FormState { csrf, email, api_key_open, error } = form;
    let scopes = app.oauth.as_ref().map(|o| o.scopes.as_slice()).unwrap_or_default();
    let page = AuthorizePage {
        app_name: &app.name,
        owner_email: &app.owner_email,
        client_id: app.client_id.as_str(),
        state: app_state,
        scopes: if scopes.is_empty() {
            vec!["Nothing but knowing that you agreed".to_owned()]
        } else {
            scopes.iter().map(|s| scope_description(s).to_owned()).collect()
        },
        csrf_token: csrf,
        email,
        api_key_open,
        error,
        redirect_host: callback.host_str().unwrap_or("the app").to_owned(),
        config: json_for_script(&serde_json::json!({ "page": "authorize" })),
        css: crate::assets::path("sign.css"),
        js: crate::assets::path("sign.js"),
    };
    match page.render() {
        Ok(body) => {
            let mut response = crate::frame::html(status, body, &Framing::Never);
            allow_form_to(&mut response, callback);
            response
        }
        Err(e) => {
            tracing::error!(error = %e, "the authorization page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown.").into_response()
        }
    }
}

/// The page's form answers with a redirect to the app, which the policy's `form-action` must allow.
fn allow_form_to(response: &mut Response, callback: &url::Url) {
    let origin = callback.origin().ascii_serialization();
    let Some(csp) = response.headers().get(header::CONTENT_SECURITY_POLICY).and_then(|v| v.to_str().ok()) else {
        return;
    };
    let widened = csp.replace("form-action 'self'", &format!("form-action 'self' {origin}"));
    if let Ok(value) = HeaderValue::from_str(&widened) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
    }
}

fn csrf_cookie(state: &WebState, value: &str) -> HeaderValue {
    crate::cookies::set(CSRF_COOKIE, value, "/oauth", 3600, state.secure_cookies())
}

/// `GET /oauth/authorize`: the consent page.
pub async fn page(State(state): State<WebState>, Query(query): Query<AuthorizeQuery>) -> Response {
    let (app, callback) = match requested_app(&state, &query.response_type, &query.client_id, &query.state).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let csrf = random_hex(16);
    let form = FormState { csrf: &csrf, email: "", api_key_open: false, error: None };
    let mut response = render(&app, &callback, &query.state, form, StatusCode::OK);
    response.headers_mut().append(header::SET_COOKIE, csrf_cookie(&state, &csrf));
    response
}

/// Where the browser goes back to: the app's callback URL with `params` added to its query.
fn back_to_app(callback: &url::Url, params: &[(&str, &str)]) -> Response {
    let mut target = callback.clone();
    target.query_pairs_mut().extend_pairs(params);
    crate::frame::see_other(target.as_str())
}

/// `POST /oauth/authorize`: the user's answer.
pub async fn answer(State(state): State<WebState>, headers: HeaderMap, Form(form): Form<AuthorizeForm>) -> Response {
    let (app, callback) = match requested_app(&state, &form.response_type, &form.client_id, &form.state).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let csrf_ok = crate::cookies::matches(&headers, CSRF_COOKIE, &form.csrf_token);
    let again = |error: &str, status: StatusCode| {
        let csrf = random_hex(16);
        let shown = FormState {
            csrf: &csrf,
            email: form.email.trim(),
            api_key_open: !form.api_key.is_empty(),
            error: Some(error),
        };
        let mut response = render(&app, &callback, &form.state, shown, status);
        response.headers_mut().append(header::SET_COOKIE, csrf_cookie(&state, &csrf));
        response
    };
    if !csrf_ok {
        tracing::warn!(client_id = %app.client_id, "authorization form refused: its token does not match the page's cookie");
        return again(
            "This form expired or did not come from this page (the browser must keep this site's cookie). Please answer again.",
            StatusCode::FORBIDDEN,
        );
    }
    if form.decision == "deny" {
        tracing::info!(client_id = %app.client_id, "authorization denied by the user");
        return back_to_app(&callback, &[("error", "access_denied"), ("state", &form.state)]);
    }
    if form.decision != "allow" {
        return again("Choose Allow or Deny.", StatusCode::BAD_REQUEST);
    }
    let credentials = Credentials { email: &form.email, password: &form.password, api_key: &form.api_key };
    let account = match sign_in(&state, &credentials).await {
        Ok(account) => account,
        Err(refusal) => {
            tracing::info!(client_id = %app.client_id, "authorization sign-in refused");
            return again(refusal.message, refusal.status);
        }
    };
    match state.store.authorize_app(&account.id, &app, &form.state).await {
        Ok(code) => {
            tracing::info!(account_id = %account.id, client_id = %app.client_id, "app authorized by the user");
            back_to_app(&callback, &[("code", code.expose()), ("state", &form.state)])
        }
        Err(error) => {
            tracing::error!(%error, client_id = %app.client_id, "storing an authorization failed");
            again("The server could not store your answer just now. Please try again.", StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_way_back_keeps_the_apps_own_query() {
        let callback = url::Url::parse("https://app.example/cb?tenant=7").unwrap();
        let response = back_to_app(&callback, &[("code", "c0de"), ("state", "a b&c")]);
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "https://app.example/cb?tenant=7&code=c0de&state=a+b%26c");
    }
}

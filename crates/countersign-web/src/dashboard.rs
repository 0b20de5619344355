//! The API dashboard at `/dashboard` (server-rendered, assets embedded).
//!
//! Sign-in with an e-mail address and password (`countersign account password`) or an API key starts
//! a session: a random token in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` behind https), kept in
//! the database only as its digest, ending at sign-out or after [`WebConfig::dashboard_session_secs`].
//! Every form carries the session's CSRF token; a post without it is refused (403) and changes nothing.
//! A page shows only the signed-in account's data: nothing here takes an account id from the request.
//! The sign-in form itself is bound to a cookie set with it (double submit), as the OAuth page is.
//!
//! [`WebConfig::dashboard_session_secs`]: crate::WebConfig

use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use countersign_domain::account::{Account, AccountUpdate};
use countersign_domain::callback_url::check_callback_url;
use countersign_domain::ids::random_hex;
use countersign_domain::oauth::OAuthSecret;
use serde::Deserialize;

use crate::WebState;
use crate::cookies;
use crate::frame::{Framing, json_for_script};
use crate::signin::{Credentials, sign_in};

pub const SESSION_COOKIE: &str = "countersign_session";
const LOGIN_CSRF_COOKIE: &str = "countersign_login_csrf";

/// The signed-in session of a request; a request without one is sent to the sign-in page.
pub struct Session {
    pub account: Account,
    pub csrf_token: String,
    token: OAuthSecret,
}

impl FromRequestParts<WebState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, Response> {
        let Some(token) = cookies::get(&parts.headers, SESSION_COOKIE).filter(|t| !t.is_empty()) else {
            return Err(to_login());
        };
        let token = OAuthSecret::presented(&token);
        match state.store.web_session(&token).await {
            Ok(Some(session)) => Ok(Session { account: session.account, csrf_token: session.csrf_token, token }),
            Ok(None) => Err(to_login()),
            Err(error) => {
                tracing::error!(%error, "reading a dashboard session failed");
                Err(notice(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again",
                    "The server could not read your session just now.",
                ))
            }
        }
    }
}

impl Session {
    /// Whether a form's token is this session's.
    fn form_is_genuine(&self, token: &str) -> bool {
        cookies::same_token(&self.csrf_token, token)
    }
}

/// A page that says one thing (a refusal, a failure).
fn notice(status: StatusCode, heading: &str, text: &str) -> Response {
    crate::frame::message(status, heading, text, None, &Framing::Never)
}

fn to_login() -> Response {
    crate::frame::see_other("/dashboard/login")
}

fn render(template: &impl Template, status: StatusCode) -> Response {
    match template.render() {
        Ok(body) => crate::frame::html(status, body, &Framing::Never),
        Err(e) => {
            tracing::error!(error = %e, "a dashboard page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown.").into_response()
        }
    }
}

/// A refused form: it did not carry this session's token.
fn forged() -> Response {
    notice(
        StatusCode::FORBIDDEN,
        "Form refused",
        "This form did not come from your dashboard session (its security token is missing or wrong), so nothing was changed. Reload the page and try again.",
    )
}

fn page_config() -> String {
    json_for_script(&serde_json::json!({ "page": "dashboard" }))
}

#[derive(Template)]
#[template(path = "dash_login.html")]
struct LoginPage<'a> {
    api_base: String,
    csrf_token: &'a str,
    email: &'a str,
    api_key_open: bool,
    error: Option<&'a str>,
    config: String,
    css: String,
    js: String,
}

fn login_page(state: &WebState, email: &str, api_key_open: bool, error: Option<&str>, status: StatusCode) -> Response {
    let csrf = random_hex(16);
    let page = LoginPage {
        api_base: format!("{}/v3", state.public_url),
        csrf_token: &csrf,
        email,
        api_key_open,
        error,
        config: page_config(),
        css: crate::assets::path("sign.css"),
        js: crate::assets::path("sign.js"),
    };
    let mut response = render(&page, status);
    response
        .headers_mut()
        .append(header::SET_COOKIE, cookies::set(LOGIN_CSRF_COOKIE, &csrf, "/dashboard", 3600, state.secure_cookies()));
    response
}

/// `GET /dashboard/login`.
pub async fn login(State(state): State<WebState>, session: Result<Session, Response>) -> Response {
    if session.is_ok() {
        return crate::frame::see_other("/dashboard");
    }
    login_page(&state, "", false, None, StatusCode::OK)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    csrf_token: String,
    email: String,
    password: String,
    api_key: String,
}

/// `POST /dashboard/login`: a new session, or the page again with what went wrong.
pub async fn login_submit(State(state): State<WebState>, headers: HeaderMap, Form(form): Form<LoginForm>) -> Response {
    let api_key_open = !form.api_key.is_empty();
    if !cookies::matches(&headers, LOGIN_CSRF_COOKIE, &form.csrf_token) {
        let text = "This form expired or did not come from this page (the browser must keep this site's cookie). Please sign in again.";
        return login_page(&state, form.email.trim(), api_key_open, Some(text), StatusCode::FORBIDDEN);
    }
    let credentials = Credentials { email: &form.email, password: &form.password, api_key: &form.api_key };
    let account = match sign_in(&state, &credentials).await {
        Ok(account) => account,
        Err(refusal) => {
            tracing::info!("dashboard sign-in refused");
            return login_page(&state, form.email.trim(), api_key_open, Some(refusal.message), refusal.status);
        }
    };
    let lifetime = state.config.dashboard_session_secs;
    match state.store.create_web_session(&account, lifetime).await {
        Ok((token, _)) => {
            tracing::info!(account_id = %account.id, "dashboard sign-in");
            let mut response = crate::frame::see_other("/dashboard");
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                cookies::set(SESSION_COOKIE, token.expose(), "/", lifetime, state.secure_cookies()),
            );
            headers.append(header::SET_COOKIE, cookies::clear(LOGIN_CSRF_COOKIE, "/dashboard", state.secure_cookies()));
            response
        }
        Err(error) => {
            tracing::error!(%error, "storing a dashboard session failed");
            let text = "The server could not sign you in just now. Please try again.";
            login_page(&state, form.email.trim(), api_key_open, Some(text), StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TokenForm {
    csrf_token: String,
}

/// `POST /dashboard/logout`: the session ends here and in the database.
pub async fn logout(State(state): State<WebState>, session: Session, Form(form): Form<TokenForm>) -> Response {
    if !session.form_is_genuine(&form.csrf_token) {
        return forged();
    }
    if let Err(error) = state.store.delete_web_session(&session.token).await {
        tracing::error!(%error, "ending a dashboard session failed");
    }
    tracing::info!(account_id = %session.account.id, "dashboard sign-out");
    let mut response = to_login();
    response.headers_mut().append(header::SET_COOKIE, cookies::clear(SESSION_COOKIE, "/", state.secure_cookies()));
    response
}

#[derive(Template)]
#[template(path = "dash_overview.html")]
struct OverviewPage<'a> {
    nav: &'a str,
    email: &'a str,
    csrf_token: &'a str,
    api_base: String,
    account_id: &'a str,
    callback_url: Option<&'a str>,
    active_keys: usize,
    config: String,
    css: String,
    js: String,
}

/// `GET /dashboard`.
pub async fn overview(State(state): State<WebState>, session: Session) -> Response {
    let keys = state.store.api_key_list(&session.account.id).await.unwrap_or_default();
    let page = OverviewPage {
        nav: "overview",
        email: session.account.email.as_str(),
        csrf_token: &session.csrf_token,
        api_base: format!("{}/v3", state.public_url),
        account_id: session.account.id.as_str(),
        callback_url: session.account.callback_url.as_deref(),
        active_keys: keys.iter().filter(|k| k.revoked_at.is_none()).count(),
        config: page_config(),
        css: crate::assets::path("sign.css"),
        js: crate::assets::path("sign.js"),
    };
    render(&page, StatusCode::OK)
}

/// One API key as the settings page lists it.
struct KeyRow {
    key_id: i64,
    prefix: String,
    created: String,
    status: &'static str,
    active: bool,
}

#[derive(Template)]
#[template(path = "dash_settings.html")]
struct SettingsPage<'a> {
    nav: &'a str,
    email: &'a str,
    csrf_token: &'a str,
    notice: Option<&'a str>,
    callback_url: &'a str,
    callback_error: Option<&'a str>,
    new_key: Option<&'a str>,
    keys: Vec<KeyRow>,
    config: String,
    css: String,
    js: String,
}

/// What the settings page shows besides the account's state.
#[derive(Default)]
struct SettingsShown<'a> {
    notice: Option<&'a str>,
    callback_value: Option<&'a str>,
    callback_error: Option<&'a str>,
    new_key: Option<&'a str>,
}

async fn settings_page(
    state: &WebState,
    account: &Account,
    csrf: &str,
    shown: SettingsShown<'_>,
    status: StatusCode,
) -> Response {
    let keys = match state.store.api_key_list(&account.id).await {
        Ok(keys) => keys,
        Err(error) => {
            tracing::error!(%error, account_id = %account.id, "listing API keys failed");
            Vec::new()
        }
    };
    let keys = keys
        .into_iter()
        .map(|k| KeyRow {
            key_id: k.key_id,
            prefix: k.prefix,
            created: countersign_domain::time::format_utc(k.created_at),
            status: if k.revoked_at.is_some() { "revoked" } else { "active" },
            active: k.revoked_at.is_none(),
        })
        .collect();
    let page = SettingsPage {
        nav: "settings",
        email: account.email.as_str(),
        csrf_token: csrf,
        notice: shown.notice,
        callback_url: shown.callback_value.or(account.callback_url.as_deref()).unwrap_or(""),
        callback_error: shown.callback_error,
        new_key: shown.new_key,
        keys,
        config: page_config(),
        css: crate::assets::path("sign.css"),
        js: crate::assets::path("sign.js"),
    };
    render(&page, status)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SettingsQuery {
    saved: String,
}

/// `GET /dashboard/settings`.
pub async fn settings(State(state): State<WebState>, session: Session, Query(query): Query<SettingsQuery>) -> Response {
    let notice = match query.saved.as_str() {
        "callback_url" => Some("The callback URL was saved."),
        "revoked" => Some("The API key was revoked: requests with it are refused within 2 seconds."),
        _ => None,
    };
    let shown = SettingsShown { notice, ..SettingsShown::default() };
    settings_page(&state, &session.account, &session.csrf_token, shown, StatusCode::OK).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CallbackForm {
    csrf_token: String,
    callback_url: String,
}

/// `POST /dashboard/settings/callback_url`: checked by the same rules as `PUT /v3/account`; empty
/// removes it.
pub async fn save_callback_url(
    State(state): State<WebState>,
    session: Session,
    Form(form): Form<CallbackForm>,
) -> Response {
    if !session.form_is_genuine(&form.csrf_token) {
        return forged();
    }
    let raw = form.callback_url.trim();
    let url = if raw.is_empty() {
        None
    } else {
        let config = &state.config;
        match check_callback_url(raw, config.callback_policy, "callback_url", config.callback_dns_timeout).await {
            Ok(url) => Some(url.as_str().to_owned()),
            Err(refusal) => {
                let shown = SettingsShown {
                    callback_value: Some(raw),
                    callback_error: Some(refusal.message.as_str()),
                    ..SettingsShown::default()
                };
                return settings_page(&state, &session.account, &session.csrf_token, shown, StatusCode::BAD_REQUEST)
                    .await;
            }
        }
    };
    let update = AccountUpdate { callback_url: Some(url.clone()), locale: None };
    let saved = async {
        let account = state.store.update_account(&session.account.id, &update).await?;
        if let Some(url) = &url {
            state.store.endpoint_for(&session.account.id, url).await?;
            state.store.enable_endpoint(&session.account.id, url).await?;
        }
        Ok::<_, countersign_store::StoreError>(account)
    }
    .await;
    match saved {
        Ok(_) => {
            tracing::info!(account_id = %session.account.id, callback_url_set = url.is_some(), "callback URL saved in the dashboard");
            crate::frame::see_other("/dashboard/settings?saved=callback_url")
        }
        Err(error) => {
            tracing::error!(%error, account_id = %session.account.id, "saving the callback URL failed");
            let shown = SettingsShown {
                callback_value: Some(raw),
                callback_error: Some("The server could not save it just now. Please try again."),
                ..SettingsShown::default()
            };
            settings_page(&state, &session.account, &session.csrf_token, shown, StatusCode::SERVICE_UNAVAILABLE).await
        }
    }
}

/// `POST /dashboard/settings/keys`: a new API key, shown on this answer only.
pub async fn create_key(State(state): State<WebState>, session: Session, Form(form): Form<TokenForm>) -> Response {
    if !session.form_is_genuine(&form.csrf_token) {
        return forged();
    }
    match state.store.add_api_key(&session.account.id).await {
        Ok((key_id, key)) => {
            tracing::info!(account_id = %session.account.id, key_id, "API key created in the dashboard");
            let shown = SettingsShown { new_key: Some(key.expose()), ..SettingsShown::default() };
            settings_page(&state, &session.account, &session.csrf_token, shown, StatusCode::OK).await
        }
        Err(error) => {
            tracing::error!(%error, account_id = %session.account.id, "creating an API key failed");
            let shown = SettingsShown {
                notice: Some("The server could not create a key just now."),
                ..SettingsShown::default()
            };
            settings_page(&state, &session.account, &session.csrf_token, shown, StatusCode::SERVICE_UNAVAILABLE).await
        }
    }
}

/// `POST /dashboard/settings/keys/{key_id}/revoke`: only a key of the signed-in account.
pub async fn revoke_key(
    State(state): State<WebState>,
    session: Session,
    Path(key_id): Path<i64>,
    Form(form): Form<TokenForm>,
) -> Response {
    if !session.form_is_genuine(&form.csrf_token) {
        return forged();
    }
    match state.store.revoke_api_key(&session.account.id, Some(key_id), None).await {
        Ok(true) => {
            tracing::info!(account_id = %session.account.id, key_id, "API key revoked in the dashboard");
            crate::frame::see_other("/dashboard/settings?saved=revoked")
        }
        Ok(false) => notice(StatusCode::NOT_FOUND, "No such key", "This account has no active key with that number."),
        Err(error) => {
            tracing::error!(%error, account_id = %session.account.id, "revoking an API key failed");
            notice(StatusCode::SERVICE_UNAVAILABLE, "Try again", "The server could not revoke the key just now.")
        }
    }
}

/// One callback URL as the callbacks page lists it.
struct EndpointRow {
    url: String,
    secret: String,
    used_by: String,
    state: &'static str,
    reason: Option<String>,
    dead_streak: i64,
    parked: i64,
    disabled: bool,
    /// `account` or an app's client id: where the page's test event goes.
    test_target: Option<String>,
}

/// A delivery of the test event just sent.
struct SentDelivery {
    url: String,
    state: String,
    attempts: i64,
    last: String,
}

struct SentEvent {
    event_id: String,
    deliveries: Vec<SentDelivery>,
}

#[derive(Template)]
#[template(path = "dash_callbacks.html")]
struct CallbacksPage<'a> {
    nav: &'a str,
    email: &'a str,
    csrf_token: &'a str,
    notice: Option<&'a str>,
    rows: Vec<EndpointRow>,
    sent: Option<SentEvent>,
    config: String,
    css: String,
    js: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct CallbacksQuery {
    sent: String,
    enabled: String,
}

/// `GET /dashboard/callbacks`: the account's and its apps' callback URLs, their health and signing
/// secrets, with **Send test event** and **Re-enable**; after a test, that event's deliveries.
pub async fn callbacks(
    State(state): State<WebState>,
    session: Session,
    Query(query): Query<CallbacksQuery>,
) -> Response {
    let account = &session.account;
    let (endpoints, apps) =
        match tokio::try_join!(state.store.endpoints_of(&account.id), state.store.list_api_apps(&account.id, 1, 100)) {
            Ok(found) => found,
            Err(error) => {
                tracing::error!(%error, account_id = %account.id, "reading callback URLs failed");
                return notice(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Try again",
                    "The server could not read your callback URLs just now.",
                );
            }
        };
    let rows = endpoints
        .into_iter()
        .map(|e| {
            let mut users = Vec::new();
            let mut target = None;
            if account.callback_url.as_deref() == Some(e.url.as_str()) {
                users.push("this account".to_owned());
                target = Some("account".to_owned());
            }
            for app in apps.apps.iter().filter(|a| a.callback_url.as_deref() == Some(e.url.as_str())) {
                users.push(format!("app {}", app.name));
                target = target.or_else(|| Some(app.client_id.as_str().to_owned()));
            }
            EndpointRow {
                secret: e.secret.expose().to_owned(),
                used_by: if users.is_empty() { "no longer set".to_owned() } else { users.join(", ") },
                state: if e.disabled_at_ms.is_some() { "disabled" } else { "enabled" },
                reason: e.disabled_reason,
                dead_streak: e.consecutive_dead,
                parked: e.parked,
                disabled: e.disabled_at_ms.is_some(),
                test_target: target,
                url: e.url,
            }
        })
        .collect();
    let sent = match countersign_callback::is_event_id(&query.sent) {
        true => state.store.event_detail(&account.id, &query.sent).await.ok().flatten().map(|(event, _)| SentEvent {
            event_id: event.id,
            deliveries: event
                .deliveries
                .into_iter()
                .map(|d| SentDelivery {
                    last: match (d.last_status, d.last_error) {
                        (Some(code), _) => format!("HTTP {code}"),
                        (None, Some(error)) => error,
                        (None, None) => "—".to_owned(),
                    },
                    url: d.url,
                    state: d.state,
                    attempts: d.attempts,
                })
                .collect(),
        }),
        false => None,
    };
    let notice = match (sent.is_some(), query.enabled.is_empty()) {
        (true, _) => Some("Test event sent."),
        (false, false) => Some("The URL is enabled again; its parked deliveries are being sent."),
        _ => None,
    };
    let page = CallbacksPage {
        nav: "callbacks",
        email: account.email.as_str(),
        csrf_token: &session.csrf_token,
        notice,
        rows,
        sent,
        config: page_config(),
        css: crate::assets::path("sign.css"),
        js: crate::assets::path("sign.js"),
    };
    render(&page, StatusCode::OK)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct TestForm {
    csrf_token: String,
    target: String,
}

/// `POST /dashboard/callbacks/test`: a `callback_test` to the account's URL (`target=account`) or to one
/// of its apps' (`target=CLIENT_ID`).
pub async fn send_test(State(state): State<WebState>, session: Session, Form(form): Form<TestForm>) -> Response {
    if !session.form_is_genuine(&form.csrf_token) {
        return forged();
    }
    let account = &session.account;
    let client_id = match form.target.as_str() {
        "account" if account.callback_url.is_some() => None,
        raw => match countersign_domain::ids::ClientId::parse(raw) {
            Some(id) => match state.store.api_app(&account.id, &id).await {
                Ok(Some(app)) if app.callback_url.is_some() => Some(id),
                _ => {
                    return notice(
                        StatusCode::NOT_FOUND,
                        "No such URL",
                        "This account has no callback URL for that target.",
                    );
                }
            },
            None => {
                return notice(
                    StatusCode::NOT_FOUND,
                    "No such URL",
                    "This account has no callback URL for that target.",
                );
            }
        },
    };
    let client_ids: Vec<&str> = client_id.as_ref().map(|c| c.as_str()).into_iter().collect();
    let event = countersign_callback::NewEvent::callback_test(client_id.as_ref().map(|c| c.as_str().to_owned()));
    match state.store.record_account_events(&account.id, &client_ids, &[event]).await {
        Ok(inserted) => {
            let event_id = inserted.first().map(|e| e.event_id.clone()).unwrap_or_default();
            tracing::info!(account_id = %account.id, event_id = %event_id, "callback_test sent from the dashboard");
            crate::frame::see_other(&format!("/dashboard/callbacks?sent={event_id}"))
        }
        Err(error) => {
            tracing::error!(%error, account_id = %account.id, "recording a test event failed");
            notice(StatusCode::SERVICE_UNAVAILABLE, "Try again", "The server could not send the test event just now.")
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct EnableForm {
    csrf_token: String,
    url: String,
}

/// `POST /dashboard/callbacks/enable`: a disabled URL of this account enabled again, its parked
/// deliveries replayed.
pub async fn enable(State(state): State<WebState>, session: Session, Form(form): Form<EnableForm>) -> Response {
    if !session.form_is_genuine(&form.csrf_token) {
        return forged();
    }
    match state.store.enable_endpoint(&session.account.id, &form.url).await {
        Ok(Some(replayed)) => {
            tracing::info!(account_id = %session.account.id, replayed, "callback URL re-enabled from the dashboard");
            crate::frame::see_other("/dashboard/callbacks?enabled=1")
        }
        Ok(None) => notice(StatusCode::NOT_FOUND, "No such URL", "This account has no callback URL like that."),
        Err(error) => {
            tracing::error!(%error, account_id = %session.account.id, "re-enabling a callback URL failed");
            notice(StatusCode::SERVICE_UNAVAILABLE, "Try again", "The server could not re-enable the URL just now.")
        }
    }
}

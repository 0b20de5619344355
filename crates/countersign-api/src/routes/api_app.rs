//! `/v3/api_app`: create, get, update, delete and list the caller's API apps. Another account's app is
//! not found, never shown.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use countersign_domain::account::Account;
use countersign_domain::api_app::{ApiApp, OAuthSettings, WhiteLabeling, parse_app_name, parse_domains, parse_scopes};
use countersign_domain::callback_url::check_callback_url;
use countersign_domain::ids::{ClientId, random_hex};
use countersign_store::NewApiApp;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::params::{Count, Flag, List, Object, Params, Text, UploadedFile, ignored_warnings};
use crate::state::AppState;
use crate::warnings::{Reply, Warning};

/// The `ApiAppResponse` shape.
pub fn api_app_json(app: &ApiApp) -> Value {
    json!({
        "callback_url": app.callback_url,
        "client_id": app.client_id.as_str(),
        "created_at": app.created_at,
        "domains": app.domains,
        "name": app.name,
        // Dropbox Sign approves apps for production by hand; a self-hosted instance has no such step.
        "is_approved": true,
        "oauth": app.oauth.as_ref().map(|o| json!({
            "callback_url": o.callback_url,
            "secret": o.secret,
            "scopes": o.scopes,
            "charges_users": o.charges_users,
        })),
        "options": {"can_insert_everywhere": app.can_insert_everywhere},
        "owner_account": {"account_id": app.owner_account_id.as_str(), "email_address": app.owner_email},
        "white_labeling_options": app.white_labeling,
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct AppParams {
    name: Text,
    domains: List<String>,
    callback_url: Text,
    oauth: Object<OAuthParams>,
    options: Object<OptionsParams>,
    white_labeling_options: Object<Map<String, Value>>,
    /// Normally a file part; a text value of that name is accepted and has no effect.
    #[serde(default, rename = "custom_logo_file")]
    _custom_logo_file: Option<Value>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OAuthParams {
    callback_url: Text,
    scopes: List<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct OptionsParams {
    can_insert_everywhere: Flag,
}

/// Largest custom logo accepted.
const MAX_LOGO_BYTES: usize = 2 * 1024 * 1024;

/// Applies `params` on top of `app` (an existing app, or an empty one for create), checking each value.
async fn merge(
    state: &AppState,
    mut app: NewApiApp,
    params: &AppParams,
    warnings: &mut Vec<Warning>,
) -> ApiResult<NewApiApp> {
    if let Some(name) = &params.name.0 {
        app.name = parse_app_name(name, "name")?;
    }
    if let Some(domains) = &params.domains.0 {
        app.domains = parse_domains(domains, "domains")?;
    }
    if let Some(raw) = &params.callback_url.0 {
        app.callback_url = if raw.trim().is_empty() {
            None
        } else {
            let config = &state.config;
            Some(
                check_callback_url(raw, config.callback_policy, "callback_url", config.callback_dns_timeout)
                    .await?
                    .as_str()
                    .to_owned(),
            )
        };
    }
    if let Some(oauth) = &params.oauth.0 {
        let callback_url = oauth
            .callback_url
            .0
            .clone()
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| ApiError::missing("oauth[callback_url]"))?;
        let parsed = url::Url::parse(callback_url.trim()).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
        if parsed.is_none() {
            return Err(ApiError::bad_param("oauth[callback_url]", format!("{callback_url:?} is not an http(s) URL")));
        }
        let scopes = parse_scopes(oauth.scopes.as_deref().unwrap_or_default(), "oauth[scopes]")?;
        let secret = app.oauth.as_ref().map_or_else(|| random_hex(16), |existing| existing.secret.clone());
        app.oauth =
            Some(OAuthSettings { callback_url: callback_url.trim().to_owned(), scopes, secret, charges_users: false });
    }
    if let Some(flag) = params.options.as_ref().and_then(|o| o.can_insert_everywhere.0) {
        app.can_insert_everywhere = flag;
    }
    if let Some(white) = &params.white_labeling_options.0 {
        let reset = white
            .get("reset_to_default")
            .is_some_and(|v| countersign_domain::parse_bool(v).ok().flatten() == Some(true));
        let mut labeling =
            if reset { WhiteLabeling::default() } else { app.white_labeling.clone().unwrap_or_default() };
        let changes: Vec<(String, String)> = white
            .iter()
            .filter(|(name, _)| name.as_str() != "reset_to_default")
            .map(|(name, value)| (name.clone(), value.as_str().map_or_else(|| value.to_string(), str::to_owned)))
            .collect();
        for ignored in labeling.apply(&changes, "white_labeling_options")? {
            warnings.push(Warning::new(
                "parameter_ignored",
                format!("The parameter white_labeling_options[{ignored}] was ignored."),
            ));
        }
        app.white_labeling = Some(labeling);
    }
    Ok(app)
}

async fn store_logo(state: &AppState, file: Option<&UploadedFile>) -> ApiResult<()> {
    let Some(file) = file else { return Ok(()) };
    if file.bytes.len() > MAX_LOGO_BYTES {
        return Err(ApiError::bad_param("custom_logo_file", format!("The logo is larger than {MAX_LOGO_BYTES} bytes")));
    }
    let is_image = file.bytes.starts_with(b"\x89PNG\r\n\x1a\n")
        || file.bytes.starts_with(b"\xff\xd8\xff")
        || file.bytes.starts_with(b"GIF8");
    if !is_image {
        return Err(ApiError::bad_param("custom_logo_file", "The logo must be a PNG, JPEG or GIF image"));
    }
    state.blobs.put(&file.bytes).await.map_err(ApiError::unknown)?;
    Ok(())
}

fn client_id(raw: &str) -> ApiResult<ClientId> {
    ClientId::parse(raw).ok_or_else(ApiError::not_found)
}

/// `POST /v3/api_app` → `201 {"api_app": …}`.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    params: Params,
) -> ApiResult<Reply> {
    let parsed: AppParams = params.parse()?;
    if parsed.name.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ApiError::missing("name"));
    }
    if parsed.domains.as_ref().is_none_or(Vec::is_empty) {
        return Err(ApiError::missing("domains"));
    }
    let mut warnings = ignored_warnings(parsed.other.keys());
    let empty = NewApiApp {
        name: String::new(),
        domains: Vec::new(),
        callback_url: None,
        oauth: None,
        can_insert_everywhere: false,
        white_labeling: None,
    };
    let app = merge(&state, empty, &parsed, &mut warnings).await?;
    store_logo(&state, params.file("custom_logo_file")).await?;
    let app = state.store.create_api_app(&caller.id, app).await?;
    if let Some(url) = &app.callback_url {
        crate::routes::events::callback_url_saved(&state, &caller, url).await?;
    }
    tracing::info!(account_id = %caller.id, client_id = %app.client_id, "api app created");
    Ok(Reply::created(json!({ "api_app": api_app_json(&app) })).with_warnings(warnings))
}

/// `GET /v3/api_app/{client_id}`.
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    Path(raw): Path<String>,
) -> ApiResult<Reply> {
    let app = state.store.api_app(&caller.id, &client_id(&raw)?).await?.ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(json!({ "api_app": api_app_json(&app) })))
}

/// `PUT /v3/api_app/{client_id}`: changes only what is given.
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    Path(raw): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    let id = client_id(&raw)?;
    let parsed: AppParams = params.parse()?;
    let existing = state.store.api_app(&caller.id, &id).await?.ok_or_else(ApiError::not_found)?;
    let mut warnings = ignored_warnings(parsed.other.keys());
    let current = NewApiApp {
        name: existing.name,
        domains: existing.domains,
        callback_url: existing.callback_url,
        oauth: existing.oauth,
        can_insert_everywhere: existing.can_insert_everywhere,
        white_labeling: existing.white_labeling,
    };
    let app = merge(&state, current, &parsed, &mut warnings).await?;
    store_logo(&state, params.file("custom_logo_file")).await?;
    let app = state.store.save_api_app(&caller.id, &id, app).await?.ok_or_else(ApiError::not_found)?;
    if let (Some(url), Some(_)) = (&app.callback_url, &parsed.callback_url.0) {
        crate::routes::events::callback_url_saved(&state, &caller, url).await?;
    }
    tracing::info!(account_id = %caller.id, client_id = %app.client_id, "api app updated");
    Ok(Reply::ok(json!({ "api_app": api_app_json(&app) })).with_warnings(warnings))
}

/// `DELETE /v3/api_app/{client_id}` → `204`.
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    Path(raw): Path<String>,
) -> ApiResult<StatusCode> {
    let id = client_id(&raw)?;
    if !state.store.delete_api_app(&caller.id, &id).await? {
        return Err(ApiError::not_found());
    }
    tracing::info!(account_id = %caller.id, client_id = %id, "api app deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ListQuery {
    page: Count,
    page_size: Count,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// Largest `page_size` (Dropbox Sign's).
pub const MAX_PAGE_SIZE: u32 = 100;

/// `GET /v3/api_app/list?page=&page_size=` → `{"api_apps": […], "list_info": {…}}`, newest first.
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    RawQuery(query): RawQuery,
) -> ApiResult<Reply> {
    let query: ListQuery = Params::from_query(query.as_deref())?.parse()?;
    let page = query.page.unwrap_or(1);
    let page_size = query.page_size.unwrap_or(20);
    if page < 1 {
        return Err(ApiError::bad_param("page", "page must be 1 or more"));
    }
    if !(1..=MAX_PAGE_SIZE).contains(&page_size) {
        return Err(ApiError::bad_param("page_size", format!("page_size must be between 1 and {MAX_PAGE_SIZE}")));
    }
    let found = state.store.list_api_apps(&caller.id, page, page_size).await?;
    let num_pages = (found.total + i64::from(page_size) - 1) / i64::from(page_size);
    let body = json!({
        "api_apps": found.apps.iter().map(api_app_json).collect::<Vec<_>>(),
        "list_info": {"num_pages": num_pages.max(1), "num_results": found.total, "page": page, "page_size": page_size},
    });
    Ok(Reply::ok(body).with_warnings(ignored_warnings(query.other.keys())))
}

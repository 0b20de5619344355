//! `/v3/template/*`: create (processed in the background: `template_created` / `template_error`), get,
//! list, delete, files, and sharing with other accounts of this server — in Dropbox Sign's shapes.
//!
//! A template another account owns and has not shared, a deleted one and an unknown id all answer the
//! same 404, so template ids cannot be probed.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use countersign_domain::account::Account;
use countersign_domain::ids::{AccountId, ClientId, TemplateId};
use countersign_domain::template::{NewTemplate, Template, TemplateInput, TemplateStatus};
use countersign_domain::time::unix_now;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::params::{Flag, List, Object, Params, Text, ignored_warnings};
use crate::routes::download::{
    ListParams, data_uri, download_name, file_response, file_url, list_info, merge_documents,
};
use crate::routes::signature_request::document_files;
use crate::state::AppState;
use crate::warnings::{Reply, Warning};

/// A template id from a path: anything but the shape this server issues names nothing (404).
fn template_id(raw: &str) -> ApiResult<TemplateId> {
    TemplateId::parse(raw).ok_or_else(ApiError::not_found)
}

/// The template, if the caller may see it (its own, or shared with it); 404 otherwise.
pub(crate) async fn visible_template(state: &AppState, account: &AccountId, raw: &str) -> ApiResult<Template> {
    let id = template_id(raw)?;
    let template = state.store.template(&id).await?.ok_or_else(ApiError::not_found)?;
    if !template.visible_to(account) {
        return Err(ApiError::not_found());
    }
    Ok(template)
}

/// The caller's own template (delete, share); 404 for anyone else's, 403 for one merely shared.
async fn own_template(state: &AppState, account: &AccountId, raw: &str) -> ApiResult<Template> {
    let template = visible_template(state, account, raw).await?;
    if !template.editable_by(account) {
        return Err(ApiError::forbidden("Only the template's owner can change it."));
    }
    Ok(template)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CreateParams {
    title: Text,
    subject: Text,
    message: Text,
    client_id: Text,
    signer_roles: List<Value>,
    cc_roles: List<String>,
    merge_fields: List<Value>,
    file_urls: List<String>,
    file_url: List<String>,
    metadata: Object<Map<String, Value>>,
    test_mode: Flag,
    allow_reassign: Flag,
    use_text_tags: Flag,
    form_fields_per_document: List<Value>,
    form_field_groups: List<Value>,
    form_field_rules: List<Value>,
    /// Sent by the official SDKs with their defaults; a value they do not default is refused below.
    use_preexisting_fields: Flag,
    allow_ccs: Flag,
    attachments: List<Value>,
    field_options: Object<Value>,
    #[serde(default, rename = "files")]
    _files: Option<Value>,
    #[serde(default, rename = "file")]
    _file: Option<Value>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// The caller's app, checked to be theirs.
async fn client_of(state: &AppState, account: &Account, raw: Option<&str>) -> ApiResult<Option<ClientId>> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else { return Ok(None) };
    let unknown = || ApiError::bad_param("client_id", format!("No API app with client_id {raw:?}"));
    let id = ClientId::parse(raw).ok_or_else(unknown)?;
    state.store.api_app(&account.id, &id).await?.ok_or_else(unknown)?;
    Ok(Some(id))
}

/// `POST /v3/template/create`: answered at once with the new id; the documents are read and the
/// fields placed in the background, then `template_created` (or `template_error`) is sent.
pub async fn create(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    params: Params,
) -> ApiResult<Reply> {
    let p: CreateParams = params.parse()?;
    let mut warnings = ignored_warnings(p.other.keys());
    if p.use_preexisting_fields.0 == Some(true) {
        return Err(ApiError::bad_param(
            "use_preexisting_fields",
            "Reading a PDF's own form fields is not supported by this server yet; place fields with form_fields_per_document or text tags",
        ));
    }
    if p.attachments.0.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(ApiError::bad_param("attachments", "Signer attachments are not supported by this server yet"));
    }
    if p.field_options.0.is_some() {
        warnings.push(Warning::new(
            "parameter_ignored",
            "field_options applies to date fields of the request; give date_format on each date field instead",
        ));
    }
    if p.allow_ccs.0 == Some(true) {
        warnings.push(Warning::new("parameter_ignored", "allow_ccs: CCs are named by cc_roles on this server"));
    }
    let client_id = client_of(&state, &account, p.client_id.as_deref()).await?;
    let input = TemplateInput {
        title: p.title.0,
        subject: p.subject.0,
        message: p.message.0,
        signer_roles: p.signer_roles.0.unwrap_or_default(),
        cc_roles: p.cc_roles.0.unwrap_or_default(),
        merge_fields: p.merge_fields.0.unwrap_or_default(),
        files: document_files(&params.files),
        file_urls: p.file_urls.0.into_iter().chain(p.file_url.0).flatten().collect(),
        metadata: p.metadata.0,
        test_mode: p.test_mode.0,
        allow_reassign: p.allow_reassign.0,
        use_text_tags: p.use_text_tags.0,
        form_fields_per_document: p.form_fields_per_document.0.unwrap_or_default(),
        form_field_groups: p.form_field_groups.0.unwrap_or_default(),
        form_field_rules: p.form_field_rules.0.unwrap_or_default(),
    };
    let new = NewTemplate::parse(
        input,
        &account.id,
        client_id.map(|c| c.as_str().to_owned()),
        false,
        &state.config.document_limits,
        unix_now(),
    )?;
    state.store.create_template(&new).await?;
    Ok(Reply::ok(json!({"template": {"template_id": new.body.template_id}})).with_warnings(warnings))
}

/// `GET /v3/template/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let template = visible_template(&state, &account.id, &id).await?;
    Ok(Reply::ok(json!({"template": template.response(&account.id)})))
}

/// `GET /v3/template/list?page=&page_size=&query=`: the caller's templates and those shared with it.
pub async fn list(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    RawQuery(query): RawQuery,
) -> ApiResult<Reply> {
    let p: ListParams = Params::from_query(query.as_deref())?.parse()?;
    let (page, page_size) = p.paging(&account.id, "templates")?;
    let (templates, total) = state.store.list_templates(&account.id, page, page_size, p.query.as_deref()).await?;
    let templates: Vec<Value> = templates.iter().map(|t| t.response(&account.id)).collect();
    Ok(Reply::ok(json!({"templates": templates, "list_info": list_info(total, page, page_size)}))
        .with_warnings(ignored_warnings(p.other.keys())))
}

/// `POST /v3/template/delete/{id}`: gone for every account; requests already sent from it are kept.
pub async fn delete(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let template = own_template(&state, &account.id, &id).await?;
    state.store.delete_template(&template.body.template_id).await?;
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "{}").into_response())
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ShareParams {
    account_id: Text,
    email_address: Text,
    skip_notification: Flag,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `POST /v3/template/add_user/{id}` and `remove_user`: share with another account of this server (by
/// id, which wins, or by e-mail address).
async fn share(state: AppState, account: Account, id: String, params: Params, add: bool) -> ApiResult<Reply> {
    let p: ShareParams = params.parse()?;
    let template = own_template(&state, &account.id, &id).await?;
    let other = match (p.account_id.as_deref().filter(|a| !a.is_empty()), p.email_address.as_deref()) {
        (Some(raw), _) => {
            let id = AccountId::parse(raw)
                .ok_or_else(|| ApiError::bad_param("account_id", format!("No account with id {raw:?}")))?;
            state
                .store
                .account_by_id(&id)
                .await?
                .ok_or_else(|| ApiError::bad_param("account_id", format!("No account with id {raw:?}")))?
        }
        (None, Some(email)) if !email.trim().is_empty() => {
            state.store.account_by_email(email.trim()).await?.ok_or_else(|| {
                ApiError::bad_param("email_address", format!("No account of this server has the address {email:?}"))
            })?
        }
        _ => return Err(ApiError::missing("account_id")),
    };
    if other.id == account.id {
        return Err(ApiError::bad_param("account_id", "The template's owner always has access to it"));
    }
    state.store.share_template(&template.body.template_id, &other.id, add).await?;
    let mut warnings = ignored_warnings(p.other.keys());
    if add && p.skip_notification.0 != Some(true) {
        warnings.push(Warning::new(
            "notification_not_sent",
            "The account was given access; this server does not e-mail template sharing notices",
        ));
    }
    let template = visible_template(&state, &account.id, &id).await?;
    Ok(Reply::ok(json!({"template": template.response(&account.id)})).with_warnings(warnings))
}

pub async fn add_user(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    share(state, account, id, params, true).await
}

pub async fn remove_user(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    share(state, account, id, params, false).await
}

/// A template's documents (the originals it was made from), or 409 while it is processed.
pub(crate) async fn template_files(state: &AppState, template: &Template) -> ApiResult<Vec<(String, Vec<u8>)>> {
    match template.status {
        TemplateStatus::Processing => {
            return Err(ApiError::conflict(
                "The template's files are still being processed. Please wait for the template_created callback.",
            ));
        }
        TemplateStatus::Error => {
            return Err(ApiError::bad_request(format!(
                "The template's files could not be processed: {}",
                template.error.as_deref().unwrap_or("unknown error")
            )));
        }
        TemplateStatus::Ready => {}
    }
    let mut out = Vec::new();
    for doc in state.store.template_documents(&template.body.template_id).await? {
        let sha = doc.blob_sha256.ok_or_else(|| ApiError::unknown("a template document has no bytes"))?;
        let bytes = state.store.blob(&sha).await?.ok_or_else(|| ApiError::unknown("a template blob is missing"))?;
        out.push((doc.file_name, bytes));
    }
    Ok(out)
}

fn template_download_name(template: &Template, ext: &str) -> String {
    download_name(&template.body.title, template.body.template_id.as_str(), ext)
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FilesParams {
    file_type: Text,
    force_download: Flag,
    get_url: Flag,
    get_data_uri: Flag,
}

/// `GET /v3/template/files/{id}?file_type=pdf|zip` (and the legacy `get_url` / `get_data_uri`).
pub async fn files(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let p: FilesParams = Params::from_query(query.as_deref())?.parse()?;
    let template = visible_template(&state, &account.id, &id).await?;
    let kind = p.file_type.as_deref().unwrap_or("pdf");
    if !matches!(kind, "pdf" | "zip") {
        return Err(ApiError::bad_param("file_type", "file_type must be pdf or zip"));
    }
    if p.get_url.0 == Some(true) {
        return Ok(file_url(&state, template.body.template_id.as_str(), true).into_response());
    }
    let docs = template_files(&state, &template).await?;
    if p.get_data_uri.0 == Some(true) {
        return Ok(data_uri(merge_documents(docs)?).into_response());
    }
    if kind == "zip" {
        let zip = crate::zip::stored_zip(&docs);
        return Ok(file_response(zip, "application/zip", &template_download_name(&template, "zip"), true));
    }
    Ok(file_response(merge_documents(docs)?, "application/pdf", &template_download_name(&template, "pdf"), true))
}

/// `GET /v3/template/files_as_data_uri/{id}`.
pub async fn files_as_data_uri(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let template = visible_template(&state, &account.id, &id).await?;
    Ok(data_uri(merge_documents(template_files(&state, &template).await?)?))
}

/// `GET /v3/template/files_as_file_url/{id}?force_download=1`: an expiring link needing no credentials.
pub async fn files_as_file_url(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Reply> {
    let p: FilesParams = Params::from_query(query.as_deref())?.parse()?;
    let template = visible_template(&state, &account.id, &id).await?;
    template_files(&state, &template).await?;
    Ok(file_url(&state, template.body.template_id.as_str(), p.force_download.unwrap_or(true)))
}

/// What a `/files/{id}` link names when `id` is a template (the link's token is bound to the id).
pub(crate) async fn linked_template_pdf(state: &AppState, id: &str) -> ApiResult<Option<(Vec<u8>, String)>> {
    let Some(id) = TemplateId::parse(id) else { return Ok(None) };
    let Some(template) = state.store.template(&id).await? else { return Ok(None) };
    if template.deleted {
        return Err(ApiError::deleted("This template has been deleted."));
    }
    let pdf = merge_documents(template_files(state, &template).await?)?;
    Ok(Some((pdf, template_download_name(&template, "pdf"))))
}

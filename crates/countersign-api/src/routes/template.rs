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
use countersign_domain::ids::{AccountId, TemplateId};
use countersign_domain::links::Link;
use countersign_domain::template::{NewTemplate, Template, TemplateInput, TemplateStatus};
use countersign_domain::time::unix_now;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{DocumentParams, Flag, List, Object, Params, Text, ignored_warnings};
use crate::routes::download::{
    ListParams, data_uri, download_name, file_response, file_url, list_info, merge_documents,
};
use crate::routes::signature_request::{document_files, own_client};
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
    metadata: Object<Map<String, Value>>,
    test_mode: Flag,
    allow_reassign: Flag,
    use_text_tags: Flag,
    form_fields_per_document: List<Value>,
    form_field_groups: List<Value>,
    form_field_rules: List<Value>,
    /// Sent by the official SDKs with their defaults; a value they do not default is refused below.
    use_preexisting_fields: Flag,
    /// CCs come from `cc_roles`, which are honoured: accepted either way.
    #[serde(rename = "allow_ccs")]
    _allow_ccs: Flag,
    skip_me_now: Flag,
    ignore_text_tags_extraction_errors: Flag,
    attachments: List<Value>,
    field_options: Object<Value>,
    #[serde(flatten)]
    documents: DocumentParams,
    #[serde(flatten)]
    editor: EditorFlags,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `POST /v3/template/create`: answered at once with the new id; the documents are read and the
/// fields placed in the background, then `template_created` (or `template_error`) is sent.
pub async fn create(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    params: Params,
) -> ApiResult<Reply> {
    let (new, warnings) = accept(&state, &account, &params, false).await?;
    Ok(Reply::ok(json!({"template": {"template_id": new.body.template_id}})).with_warnings(warnings))
}

/// `POST /v3/template/create_embedded_draft`: like `create`, for an API app, answered with an
/// `edit_url` where the user places the fields in the editor (opened with `hellosign-embedded`);
/// `template_created` is sent when the editor saves it.
pub async fn create_embedded_draft(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    params: Params,
) -> ApiResult<Reply> {
    let (new, warnings) = accept(&state, &account, &params, true).await?;
    let (edit_url, expires_at) = edit_url_of(&state, &new.body.template_id, false);
    Ok(Reply::ok(json!({"template": {
        "template_id": new.body.template_id,
        "edit_url": edit_url,
        "expires_at": expires_at,
    }}))
    .with_warnings(warnings))
}

/// An `edit_url` of the template and when it stops opening the editor.
fn edit_url_of(state: &AppState, id: &TemplateId, preview_only: bool) -> (String, i64) {
    let expires = unix_now() + state.config.sign_url_lifetime_secs;
    let token = state.links.token(&Link::EditTemplate { template_id: id.as_str(), expires, preview_only });
    let mut url = format!(
        "{}/editor/embeddedTemplate?template_id={id}&token={token}&expires_at={expires}",
        state.config.public_url
    );
    if preview_only {
        url.push_str("&preview_only=1");
    }
    (url, expires)
}

/// The editor's options both `create_embedded_draft` and `embedded/edit_url` take.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct EditorFlags {
    /// The editor never lets the user change roles, subject or message: always "forced".
    #[serde(rename = "force_signer_roles")]
    _force_signer_roles: Flag,
    #[serde(rename = "force_subject_message")]
    _force_subject_message: Flag,
    /// The editor has no progress stepper either way.
    #[serde(rename = "show_progress_stepper")]
    _show_progress_stepper: Flag,
    show_preview: Flag,
    editor_options: Object<Map<String, Value>>,
}

impl EditorFlags {
    /// What is asked of the editor that it does not do yet.
    pub(crate) fn unsupported(&self) -> [(&'static str, bool); 2] {
        [
            ("show_preview", self.show_preview.0 == Some(true)),
            ("editor_options", editor_options_enable(self.editor_options.0.as_ref(), &[])),
        ]
    }

    /// What is asked of a draft's requester page that it does not do yet (it lets the requester edit
    /// the signers when asked: [`Self::allow_edit_signers`]).
    pub(crate) fn unsupported_for_draft(&self) -> [(&'static str, bool); 2] {
        [
            ("show_preview", self.show_preview.0 == Some(true)),
            ("editor_options", editor_options_enable(self.editor_options.0.as_ref(), &["allow_edit_signers"])),
        ]
    }

    /// `editor_options[allow_edit_signers]`.
    pub(crate) fn allow_edit_signers(&self) -> bool {
        self.editor_options
            .0
            .as_ref()
            .and_then(|o| o.get("allow_edit_signers"))
            .is_some_and(|v| countersign_domain::parse_bool(v).ok().flatten() == Some(true))
    }
}

/// `parameter_ignored` warnings for the options given a value this server does not honour yet (their
/// defaults, which the SDKs send, are what it does).
pub(crate) fn not_honoured_yet(options: &[(&str, bool)]) -> Vec<Warning> {
    options
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| Warning::new("parameter_ignored", format!("{name} is not supported by this server yet")))
        .collect()
}

/// Whether `editor_options` turns on an edit the editor does not offer (signers, documents), but for
/// those in `offered`.
fn editor_options_enable(options: Option<&Map<String, Value>>, offered: &[&str]) -> bool {
    options.is_some_and(|o| {
        o.iter().any(|(k, v)| {
            !offered.contains(&k.as_str()) && countersign_domain::parse_bool(v).ok().flatten() == Some(true)
        })
    })
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EditUrlParams {
    cc_roles: List<String>,
    merge_fields: List<Value>,
    preview_only: Flag,
    test_mode: Flag,
    allow_edit_ccs: Flag,
    #[serde(flatten)]
    editor: EditorFlags,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `POST /v3/embedded/edit_url/{template_id}`: a fresh `edit_url` of a template made with
/// `create_embedded_draft` (`preview_only` opens it read-only); `cc_roles` and `merge_fields` replace
/// the template's before it opens.
pub async fn edit_url(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    let p: EditUrlParams = params.parse()?;
    let template = own_template(&state, &account.id, &id).await?;
    if !template.body.is_embedded {
        return Err(ApiError::bad_param(
            "template_id",
            "Only templates made with template/create_embedded_draft can be edited in the embedded editor",
        ));
    }
    files_read(&template)?;
    let cc_roles = match p.cc_roles.0 {
        Some(roles) => Some(countersign_domain::template::parse_cc_roles(&roles)?),
        None => None,
    };
    let merge_fields = match p.merge_fields.0 {
        Some(fields) => Some(countersign_domain::template::parse_merge_fields(&fields)?),
        None => None,
    };
    if cc_roles.is_some() || merge_fields.is_some() {
        state.store.redeclare_template(&template.body.template_id, cc_roles, merge_fields).await?;
    }
    let mut warnings = ignored_warnings(p.other.keys());
    warnings.extend(not_honoured_yet(&p.editor.unsupported()));
    warnings.extend(not_honoured_yet(&[("allow_edit_ccs", p.allow_edit_ccs.0 == Some(true))]));
    if p.test_mode.0 == Some(true) && !template.body.test_mode {
        warnings.push(Warning::new(
            "parameter_ignored",
            "test_mode: the template's own test_mode applies to the editor's domain check",
        ));
    }
    let (edit_url, expires_at) = edit_url_of(&state, &template.body.template_id, p.preview_only.0 == Some(true));
    tracing::info!(template_id = %template.body.template_id, "template edit_url issued");
    Ok(Reply::ok(json!({"embedded": {"edit_url": edit_url, "expires_at": expires_at}})).with_warnings(warnings))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct UpdateFilesParams {
    client_id: Text,
    subject: Text,
    message: Text,
    test_mode: Flag,
    #[serde(flatten)]
    documents: DocumentParams,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `POST /v3/template/update_files/{template_id}`: a new template with the given files in place of
/// this one's documents and its fields kept where they were; this one is unchanged. Answered at once
/// with the new id; `template_created` (or `template_error`, when the files have fewer pages or pages
/// the other way up) follows.
pub async fn update_files(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    let p: UpdateFilesParams = params.parse()?;
    let template = own_template(&state, &account.id, &id).await?;
    match template.status {
        TemplateStatus::Ready => {}
        TemplateStatus::Draft => {
            return Err(ApiError::conflict("Save the template in the editor before replacing its files."));
        }
        _ => files_read(&template)?,
    }
    if let Some(raw) = p.client_id.non_blank()
        && template.client_id.as_deref() != Some(raw)
    {
        return Err(ApiError::bad_param("client_id", format!("The template was not made with client_id {raw:?}")));
    }
    let input = TemplateInput {
        subject: p.subject.0,
        message: p.message.0,
        test_mode: p.test_mode.0,
        files: document_files(&params.files),
        file_urls: p.documents.urls(),
        ..TemplateInput::default()
    };
    let new = NewTemplate::overlay(&template, input, &state.config.document_limits, unix_now())?;
    state.store.create_template(&new).await?;
    tracing::info!(template_id = %new.body.template_id, overlays = %template.body.template_id, "template files replaced in a copy");
    Ok(Reply::ok(json!({"template": {"template_id": new.body.template_id}}))
        .with_warnings(ignored_warnings(p.other.keys())))
}

/// The checks and the one store call both ways of creating a template share.
async fn accept(
    state: &AppState,
    account: &Caller,
    params: &Params,
    embedded: bool,
) -> ApiResult<(NewTemplate, Vec<Warning>)> {
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
    warnings.extend(not_honoured_yet(&p.editor.unsupported()));
    warnings.extend(not_honoured_yet(&[
        ("skip_me_now", p.skip_me_now.0 == Some(true)),
        ("ignore_text_tags_extraction_errors", p.ignore_text_tags_extraction_errors.0 == Some(true)),
    ]));
    let client_id = own_client(state, account, p.client_id.as_deref()).await?;
    if embedded && client_id.is_none() {
        return Err(ApiError::missing("client_id"));
    }
    let input = TemplateInput {
        title: p.title.0,
        subject: p.subject.0,
        message: p.message.0,
        signer_roles: p.signer_roles.0.unwrap_or_default(),
        cc_roles: p.cc_roles.0.unwrap_or_default(),
        merge_fields: p.merge_fields.0.unwrap_or_default(),
        files: document_files(&params.files),
        file_urls: p.documents.urls(),
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
        embedded,
        &state.config.document_limits,
        unix_now(),
    )?;
    state.store.create_template(&new).await?;
    Ok((new, warnings))
}

/// `GET /v3/template/{id}`.
pub async fn get(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let template = visible_template(&state, &account.id, &id).await?;
    Ok(Reply::ok(json!({"template": template.response(&account.id)})))
}

/// `GET /v3/template/list?page=&page_size=&query=`: the caller's templates and those shared with it.
pub async fn list(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
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
    Extension(account): Extension<Caller>,
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
async fn share(state: AppState, account: Caller, id: String, params: Params, add: bool) -> ApiResult<Reply> {
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
    Extension(account): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    share(state, account, id, params, true).await
}

pub async fn remove_user(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    share(state, account, id, params, false).await
}

/// Whether the template's documents were read: 409 while they are processed, 400 when they could not be.
fn files_read(template: &Template) -> ApiResult<()> {
    match template.status {
        TemplateStatus::Processing => Err(ApiError::conflict(
            "The template's files are still being processed. Please wait for the template_created callback.",
        )),
        TemplateStatus::Error => Err(ApiError::bad_request(format!(
            "The template's files could not be processed: {}",
            template.error.as_deref().unwrap_or("unknown error")
        ))),
        TemplateStatus::Draft | TemplateStatus::Ready => Ok(()),
    }
}

/// A template's documents (the originals it was made from), or 409 while it is processed.
pub(crate) async fn template_files(state: &AppState, template: &Template) -> ApiResult<Vec<(String, Vec<u8>)>> {
    files_read(template)?;
    Ok(state.store.template_files(&template.body.template_id).await?)
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
    Extension(account): Extension<Caller>,
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
    Extension(account): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let template = visible_template(&state, &account.id, &id).await?;
    Ok(data_uri(merge_documents(template_files(&state, &template).await?)?))
}

/// `GET /v3/template/files_as_file_url/{id}?force_download=1`: an expiring link needing no credentials.
pub async fn files_as_file_url(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
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

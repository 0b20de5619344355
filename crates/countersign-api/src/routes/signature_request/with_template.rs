//! `send_with_template` and `create_embedded_with_template`: the templates named by `template_ids[]`
//! (each visible to the caller and processed), signers and CCs by role, merge-field values by name —
//! merged in the domain (`request_from_templates`, which ends in the ordinary request parse), then the
//! same one-transaction create as `send`. Processing, signing and the final copy are unchanged.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use countersign_domain::account::Account;
use countersign_domain::ids::{ClientId, TemplateId};
use countersign_domain::new_request::{FileInput, NewSignatureRequest, RequestInput, Requester};
use countersign_domain::template::{RoleCc, RoleSigner, Template, TemplateRefusal, request_from_templates};
use countersign_domain::time::unix_now;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Source;
use super::create::SignerParams;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{Count, Flag, List, Object, Params, Text, ignored_warnings};
use crate::state::AppState;
use crate::warnings::{Reply, Warning};

#[derive(Deserialize, Default)]
#[serde(default)]
struct RoleSignerParams {
    role: Text,
    #[serde(flatten)]
    signer: SignerParams,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct CcParams {
    pub(crate) role: Text,
    pub(crate) email_address: Text,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct WithTemplateParams {
    template_ids: List<String>,
    /// The old single-template parameter.
    template_id: Text,
    title: Text,
    subject: Text,
    message: Text,
    client_id: Text,
    signers: List<RoleSignerParams>,
    ccs: List<CcParams>,
    custom_fields: List<Value>,
    metadata: Object<Map<String, Value>>,
    test_mode: Flag,
    allow_decline: Flag,
    signing_redirect_url: Text,
    expires_at: Count,
    signing_options: Object<Value>,
    file_urls: List<String>,
    /// Sent `false` by the official SDKs; `true` asks for what this server does not make (refused).
    is_qualified_signature: Flag,
    is_eid: Flag,
    /// Sent as `false` by the SDKs; filling signers' fields from their Dropbox accounts is not offered.
    populate_auto_fill_fields: Flag,
    #[serde(default, rename = "files")]
    _files: Option<Value>,
    #[serde(default, rename = "file")]
    _file: Option<Value>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// The templates named, in order, each usable by the caller, with their documents' bytes.
pub(crate) async fn load_templates(
    state: &AppState,
    account: &Account,
    ids: Vec<String>,
    warnings: &mut Vec<Warning>,
) -> ApiResult<Vec<(Template, Vec<FileInput>)>> {
    if ids.is_empty() {
        return Err(ApiError::missing("template_ids"));
    }
    let mut loaded: Vec<(Template, Vec<FileInput>)> = Vec::new();
    for (i, raw) in ids.iter().enumerate() {
        let path = format!("template_ids[{i}]");
        let not_found = || {
            let mut e = ApiError::not_found();
            e.message = format!("Template not found: {raw}");
            e.path = Some(path.clone());
            e
        };
        let id = TemplateId::parse(raw.trim()).ok_or_else(not_found)?;
        if loaded.iter().any(|(t, _)| t.body.template_id == id) {
            warnings.push(Warning::new(
                "duplicate_template_ids",
                format!("Template {id} was given twice; it is used once."),
            ));
            continue;
        }
        let template = state.store.template(&id).await?.ok_or_else(not_found)?;
        match template.usable_by(&account.id) {
            Ok(_) => {}
            Err(TemplateRefusal::NotFound) => return Err(not_found()),
            Err(TemplateRefusal::Processing) => {
                return Err(ApiError::conflict(format!(
                    "Template {id} is still being processed. Please wait for the template_created callback."
                )));
            }
            Err(TemplateRefusal::Draft) => {
                return Err(ApiError::conflict(format!(
                    "Template {id} has not been saved in the editor yet. Please wait for the template_created callback."
                )));
            }
            Err(TemplateRefusal::Failed(why)) => {
                return Err(ApiError::bad_param(path, format!("Template {id} could not be processed: {why}")));
            }
        }
        loaded.push((template, state.store.template_inputs(&id).await?));
    }
    Ok(loaded)
}

/// What a request (or an unclaimed draft) from templates is made of, read from the parameters: the
/// templates (each usable by the caller) with their documents, signers and CCs by role, merge values,
/// the rest of the request, the caller's app, and the warnings so far.
pub(crate) struct FromTemplates {
    pub templates: Vec<(Template, Vec<FileInput>)>,
    pub signers: Vec<RoleSigner>,
    pub ccs: Vec<RoleCc>,
    pub custom_fields: Vec<Value>,
    pub input: RequestInput,
    pub client_id: Option<ClientId>,
    pub warnings: Vec<Warning>,
}

impl FromTemplates {
    pub(crate) async fn read(
        state: &AppState,
        account: &Caller,
        params: &Params,
        p: WithTemplateParams,
    ) -> ApiResult<Self> {
        let mut warnings = ignored_warnings(p.other.keys());
        super::refuse_unsupported_signatures(&p.is_qualified_signature, &p.is_eid)?;
        if p.populate_auto_fill_fields.0 == Some(true) {
            warnings.push(Warning::new(
                "parameter_ignored",
                "populate_auto_fill_fields is not supported by this server: signers fill their own fields",
            ));
        }
        let client_id = super::create::own_client(state, account, p.client_id.as_deref()).await?;
        let ids: Vec<String> = p.template_ids.0.unwrap_or_default().into_iter().chain(p.template_id.0).collect();
        let templates = load_templates(state, account, ids, &mut warnings).await?;
        let signers: Vec<RoleSigner> = p
            .signers
            .0
            .unwrap_or_default()
            .into_iter()
            .map(|s| RoleSigner { role: s.role.0, signer: s.signer.into_input() })
            .collect();
        let ccs: Vec<RoleCc> = p
            .ccs
            .0
            .unwrap_or_default()
            .into_iter()
            .map(|c| RoleCc { role: c.role.0, email_address: c.email_address.0 })
            .collect();
        let input = RequestInput {
            title: p.title.0,
            subject: p.subject.0,
            message: p.message.0,
            metadata: p.metadata.0,
            test_mode: p.test_mode.0,
            allow_decline: p.allow_decline.0,
            signing_redirect_url: p.signing_redirect_url.0,
            expires_at: p.expires_at.0,
            signing_options: p.signing_options.0,
            // Appended after the templates' documents (their text tags read); `request_from_templates`
            // refuses file_urls.
            files: super::create::document_files(&params.files),
            file_urls: p.file_urls.0.unwrap_or_default(),
            ..RequestInput::default()
        };
        Ok(Self {
            templates,
            signers,
            ccs,
            custom_fields: p.custom_fields.0.unwrap_or_default(),
            input,
            client_id,
            warnings,
        })
    }

    /// The templates with their documents, as the domain takes them.
    pub(crate) fn with_files(&self) -> Vec<(&Template, Vec<FileInput>)> {
        self.templates.iter().map(|(t, f)| (t, f.clone())).collect()
    }
}

/// The request `send_with_template` / `create_embedded_with_template` (and their `edit` twins)
/// describe, merged from the templates and checked, with the warnings for the caller.
pub(super) async fn parse(
    state: &AppState,
    account: &Caller,
    params: Params,
    embedded: bool,
) -> ApiResult<(NewSignatureRequest, Vec<Warning>)> {
    let p: WithTemplateParams = params.parse()?;
    let from = FromTemplates::read(state, account, &params, p).await?;
    let requester = Requester {
        account_id: &account.id,
        email: &account.email,
        client_id: from.client_id.clone(),
        embedded,
        public_url: &state.config.public_url,
        limits: state.config.document_limits,
        now: unix_now(),
    };
    let (new, notices) = request_from_templates(
        &from.with_files(),
        &from.signers,
        &from.ccs,
        &from.custom_fields,
        from.input.clone(),
        &requester,
    )?;
    let mut warnings = from.warnings;
    warnings.extend(notices.into_iter().map(|n| Warning::new(n.name, n.message)));
    Ok((new, warnings))
}

/// `POST /v3/signature_request/send_with_template`.
pub async fn send_with_template(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    params: Params,
) -> ApiResult<Reply> {
    super::create(state, account, params, Source::Templates, false).await
}

/// `POST /v3/signature_request/create_embedded_with_template`.
pub async fn create_embedded_with_template(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    params: Params,
) -> ApiResult<Reply> {
    super::create(state, account, params, Source::Templates, true).await
}

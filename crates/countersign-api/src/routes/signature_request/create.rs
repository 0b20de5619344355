//! `send` and `create_embedded`: the body read into a `RequestInput`, the app checked, one parse in the
//! domain (`NewSignatureRequest::parse`: every rule a caller can see up front), then one transaction
//! (the request, its document bytes, signers and jobs); the answer goes back at once.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use countersign_domain::ids::ClientId;
use countersign_domain::new_request::{FileInput, NewSignatureRequest, RequestInput, Requester, SignerInput};
use countersign_domain::signature_request::{Placement, form_field_entries, place_entry};
use countersign_domain::time::unix_now;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Source;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{Count, DocumentParams, Flag, List, Object, Params, Text, UploadedFile, ignored_warnings};
use crate::state::AppState;
use crate::warnings::{Reply, Warning};

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SignerParams {
    name: Text,
    email_address: Text,
    order: Count,
    pin: Text,
    sms_phone_number: Text,
    sms_phone_number_type: Text,
}

impl SignerParams {
    pub(super) fn into_input(self) -> SignerInput {
        SignerInput {
            name: self.name.0,
            email_address: self.email_address.0,
            order: self.order.0,
            pin: self.pin.0,
            sms_phone_number: self.sms_phone_number.0,
            sms_phone_number_type: self.sms_phone_number_type.0,
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct CreateParams {
    title: Text,
    subject: Text,
    message: Text,
    client_id: Text,
    signers: List<SignerParams>,
    cc_email_addresses: List<String>,
    metadata: Object<Map<String, Value>>,
    test_mode: Flag,
    use_text_tags: Flag,
    hide_text_tags: Flag,
    allow_decline: Flag,
    allow_reassign: Flag,
    signing_redirect_url: Text,
    expires_at: Count,
    custom_fields: List<Value>,
    form_fields_per_document: List<Value>,
    signing_options: Object<Value>,
    form_field_groups: List<Value>,
    form_field_rules: List<Value>,
    /// Sent `false` by the official SDKs; `true` asks for what this server does not make (refused).
    is_qualified_signature: Flag,
    is_eid: Flag,
    /// Sent `false` by the SDKs; `true` (skip bad tags) is not honoured: a warning says so.
    ignore_text_tags_extraction_errors: Flag,
    #[serde(flatten)]
    documents: DocumentParams,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// The uploaded documents, in order, as the domain takes them.
pub(crate) fn document_files(files: &[UploadedFile]) -> Vec<FileInput> {
    document_parts(files)
        .into_iter()
        .map(|part| FileInput { file_name: part.file_name.clone(), bytes: part.bytes.clone() })
        .collect()
}

/// `files[N]`, `file[N]`, `files[]`, `file[]`, `files`, `file` — the SDKs and old clients differ.
fn document_parts(files: &[UploadedFile]) -> Vec<&UploadedFile> {
    let mut parts: Vec<(u64, usize, &UploadedFile)> = files
        .iter()
        .enumerate()
        .filter_map(|(position, f)| {
            let rest = f.field.strip_prefix("files").or_else(|| f.field.strip_prefix("file"))?;
            if rest.is_empty() || rest == "[]" {
                return Some((u64::MAX, position, f));
            }
            let index = rest.strip_prefix('[')?.strip_suffix(']')?.parse::<u64>().ok()?;
            Some((index, position, f))
        })
        .collect();
    // Indexed parts in index order; un-indexed ones in the order they came.
    parts.sort_by_key(|(index, position, _)| (*index, *position));
    parts.into_iter().map(|(_, _, f)| f).collect()
}

/// The request `send` / `create_embedded` (and their `edit` twins) describe, checked, with the
/// warnings for the caller.
pub(super) async fn parse(
    state: &AppState,
    account: &Caller,
    params: Params,
    embedded: bool,
) -> ApiResult<(NewSignatureRequest, Vec<Warning>)> {
    let p: CreateParams = params.parse()?;
    let mut warnings = ignored_warnings(p.other.keys());
    p.check_unsupported(&mut warnings)?;
    // The caller's app must be theirs: the one rule that needs the database, so it is checked here.
    let client_id = own_client(state, account, p.client_id.as_deref()).await?;
    let input = p.into_input(&params);
    let requester = Requester {
        account_id: &account.id,
        email: &account.email,
        client_id,
        embedded,
        public_url: &state.config.public_url,
        limits: state.config.document_limits,
        now: unix_now(),
    };
    let (new, notices) = NewSignatureRequest::parse(input, &requester)?;
    warnings.extend(notices.into_iter().map(|n| Warning::new(n.name, n.message)));
    warnings.extend(placement_warnings(&new).await);
    Ok((new, warnings))
}

/// The API app a request is made with: the one `client_id` names, checked to be the caller's (400
/// otherwise), or the app acting through OAuth, which may name itself and is the default when none is
/// given (its callback URL then gets the request's events, as on Dropbox Sign).
pub(crate) async fn own_client(state: &AppState, caller: &Caller, raw: Option<&str>) -> ApiResult<Option<ClientId>> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(caller.oauth_app.clone()) };
    let unknown = || ApiError::bad_param("client_id", format!("No API app with client_id {raw:?}"));
    let id = ClientId::parse(raw).ok_or_else(unknown)?;
    if caller.oauth_app.as_ref() == Some(&id) {
        return Ok(Some(id));
    }
    state.store.api_app(&caller.id, &id).await?.ok_or_else(unknown)?;
    Ok(Some(id))
}

impl CreateParams {
    /// The parameters unknown to this server (for `parameter_ignored` warnings).
    pub(crate) fn other_keys(&self) -> impl Iterator<Item = &String> {
        self.other.keys()
    }

    /// Refuses what the request asks and this server does not do (see [`super::refuse_unsupported_signatures`])
    /// and warns about what it accepts without honouring.
    pub(crate) fn check_unsupported(&self, warnings: &mut Vec<Warning>) -> ApiResult<()> {
        super::refuse_unsupported_signatures(&self.is_qualified_signature, &self.is_eid)?;
        if self.ignore_text_tags_extraction_errors.0 == Some(true) {
            warnings.push(Warning::new(
                "parameter_ignored",
                "ignore_text_tags_extraction_errors is not supported: a malformed text tag fails the request with file_error",
            ));
        }
        Ok(())
    }

    pub(crate) fn client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The request as the domain takes it, with the uploaded files of `params`.
    pub(crate) fn into_input(self, params: &Params) -> RequestInput {
        let p = self;
        RequestInput {
            title: p.title.0,
            subject: p.subject.0,
            message: p.message.0,
            signers: p.signers.0.map(|signers| signers.into_iter().map(SignerParams::into_input).collect()),
            cc_email_addresses: p.cc_email_addresses.0.unwrap_or_default(),
            files: document_files(&params.files),
            file_urls: p.documents.urls(),
            metadata: p.metadata.0,
            test_mode: p.test_mode.0,
            use_text_tags: p.use_text_tags.0,
            hide_text_tags: p.hide_text_tags.0,
            allow_decline: p.allow_decline.0,
            allow_reassign: p.allow_reassign.0,
            signing_redirect_url: p.signing_redirect_url.0,
            expires_at: p.expires_at.0,
            custom_fields: p.custom_fields.0.unwrap_or_default(),
            form_fields_per_document: p.form_fields_per_document.0.unwrap_or_default(),
            signing_options: p.signing_options.0,
            form_field_groups: p.form_field_groups.0.unwrap_or_default(),
            form_field_rules: p.form_field_rules.0.unwrap_or_default(),
        }
    }
}

/// `form_fields_placement` warnings for form fields that overflow their page in an uploaded PDF (they
/// are cut at the page's edge); fields wholly off their page fail in processing
/// (`error_component_position`). Documents fetched from `file_urls` are checked only then.
async fn placement_warnings(new: &NewSignatureRequest) -> Vec<Warning> {
    let Ok(entries) = form_field_entries(&new.options.form_fields_per_document) else { return Vec::new() };
    if entries.is_empty() {
        return Vec::new();
    }
    let documents: Vec<Option<bytes::Bytes>> = new.documents.iter().map(|d| d.bytes.clone()).collect();
    let sizes = tokio::task::spawn_blocking(move || {
        documents
            .iter()
            .map(|bytes| {
                let sizes = countersign_pdf::page_sizes(bytes.as_deref()?).ok()?;
                Some(sizes.into_iter().map(|p| (p.width, p.height)).collect::<Vec<_>>())
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap_or_default();
    entries
        .iter()
        .filter_map(|entry| {
            let pages = sizes.get(entry.document_index)?.as_ref()?;
            let Placement::Clipped { page, .. } = place_entry(entry, pages) else { return None };
            Some(Warning::new(
                "form_fields_placement",
                format!("{} extends past the edge of page {page} and was cut to fit the page.", entry.path),
            ))
        })
        .collect()
}

pub async fn send(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    params: Params,
) -> ApiResult<Reply> {
    super::create(state, account, params, Source::Files, false).await
}

pub async fn create_embedded(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    params: Params,
) -> ApiResult<Reply> {
    super::create(state, account, params, Source::Files, true).await
}

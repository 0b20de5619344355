//! `/v3/unclaimed_draft/create` and `/create_embedded` (embedded requesting): the documents and
//! everything the request will be, checked as a request is, kept as a draft; the answer's `claim_url`
//! opens the requester page (`countersign-web`'s editor, in the `hellosign-embedded` iFrame for
//! `create_embedded`), where the requester places the fields and sends. Sending makes an ordinary
//! signature request, processed and signed like any other.

use axum::Extension;
use axum::extract::{Path, State};
use countersign_domain::account::Account;
use countersign_domain::ids::TemplateId;
use countersign_domain::links::Link;
use countersign_domain::new_request::FileInput;
use countersign_domain::new_request::Requester;
use countersign_domain::template::NewTemplate;
use countersign_domain::time::unix_now;
use countersign_domain::unclaimed_draft::{
    DraftInput, ResendInput, draft_from_request, draft_from_templates, new_draft,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{Flag, List, Params, Text, ignored_warnings};
use crate::routes::signature_request::{CreateParams, FromTemplates, WithTemplateParams, own_client, owned};
use crate::routes::template::{EditorFlags, not_honoured_yet};
use crate::state::AppState;
use crate::warnings::{Reply, Warning};

/// How long a claim_url of a draft made with `unclaimed_draft/create` opens the requester page (an
/// embedded draft's lasts as long as a sign_url).
const CLAIM_URL_LIFETIME_SECS: i64 = 30 * 86_400;

#[derive(Deserialize, Default)]
#[serde(default)]
struct DraftParams {
    #[serde(rename = "type")]
    kind: Text,
    requester_email_address: Text,
    requesting_redirect_url: Text,
    hold_request: Flag,
    is_for_embedded_signing: Flag,
    /// What the requester page does either way: it never offers "Me (Now)".
    #[serde(rename = "skip_me_now")]
    _skip_me_now: Flag,
    populate_auto_fill_fields: Flag,
    use_preexisting_fields: Flag,
    attachments: List<Value>,
    /// The requester may edit the signers on the claim page.
    force_signer_page: Flag,
    /// CCs given are kept; the requester page adds none: accepted either way.
    #[serde(rename = "allow_ccs")]
    _allow_ccs: Flag,
    #[serde(flatten)]
    editor: EditorFlags,
    #[serde(flatten)]
    request: CreateParams,
}

/// `POST /v3/unclaimed_draft/create`.
pub async fn create(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    params: Params,
) -> ApiResult<Reply> {
    accept(state, account, params, false).await
}

/// `POST /v3/unclaimed_draft/create_embedded`.
pub async fn create_embedded(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    params: Params,
) -> ApiResult<Reply> {
    accept(state, account, params, true).await
}

async fn accept(state: AppState, account: Caller, params: Params, embedded: bool) -> ApiResult<Reply> {
    let p: DraftParams = params.parse()?;
    let mut warnings = ignored_warnings(p.request.other_keys());
    p.request.check_unsupported(&mut warnings)?;
    let refuse_if = |set: bool, name: &str, why: &str| {
        if set { Err(ApiError::bad_param(name, format!("{name}: {why}"))) } else { Ok(()) }
    };
    refuse_if(
        p.use_preexisting_fields.0 == Some(true),
        "use_preexisting_fields",
        "reading a PDF's own form fields is not supported by this server yet",
    )?;
    refuse_if(
        p.attachments.0.as_ref().is_some_and(|a| !a.is_empty()),
        "attachments",
        "signer attachments are not supported by this server yet",
    )?;
    warnings.extend(not_honoured_yet(&p.editor.unsupported_for_draft()));
    warnings.extend(not_honoured_yet(&[
        ("is_for_embedded_signing", p.is_for_embedded_signing.0 == Some(true) && !embedded),
        ("populate_auto_fill_fields", p.populate_auto_fill_fields.0 == Some(true)),
    ]));
    let client_id = own_client(&state, &account, p.request.client_id()).await?;
    if embedded && client_id.is_none() {
        return Err(ApiError::missing("client_id"));
    }
    let requester_email = p.requester_email_address.0.filter(|e| !e.trim().is_empty());
    if embedded && requester_email.is_none() {
        return Err(ApiError::missing("requester_email_address"));
    }
    let input = DraftInput {
        kind: p.kind.0,
        hold_request: p.hold_request.0 == Some(true),
        request: p.request.into_input(&params),
        requester_email_address: requester_email,
        requesting_redirect_url: p.requesting_redirect_url.0,
        edit_signers: p.editor.allow_edit_signers() || p.force_signer_page.0 == Some(true),
    };
    let requester = Requester {
        account_id: &account.id,
        email: &account.email,
        client_id,
        // The request made at the claim is embedded (signed in the app) when the draft says so.
        embedded: embedded && p.is_for_embedded_signing.0 == Some(true),
        public_url: &state.config.public_url,
        limits: state.config.document_limits,
        now: unix_now(),
    };
    let (draft, notices) = new_draft(input, &requester, embedded)?;
    warnings.extend(notices.into_iter().map(|n| Warning::new(n.name, n.message)));
    respond(&state, &account, draft, embedded, warnings).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DraftWithTemplateParams {
    requester_email_address: Text,
    requesting_redirect_url: Text,
    hold_request: Flag,
    is_for_embedded_signing: Flag,
    preview_only: Flag,
    /// What the requester page does either way: it never offers "Me (Now)".
    #[serde(rename = "skip_me_now")]
    _skip_me_now: Flag,
    #[serde(rename = "allow_ccs")]
    _allow_ccs: Flag,
    #[serde(rename = "allow_reassign")]
    _allow_reassign: Flag,
    #[serde(flatten)]
    editor: EditorFlags,
    #[serde(flatten)]
    base: WithTemplateParams,
}

/// `POST /v3/unclaimed_draft/create_embedded_with_template`: the request the templates make (checked
/// as `send_with_template` checks it) kept as a draft; its claim_url opens the requester page with the
/// templates' fields placed, where the requester may add fields and sends.
pub async fn create_embedded_with_template(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    params: Params,
) -> ApiResult<Reply> {
    let p: DraftWithTemplateParams = params.parse()?;
    let requester_email = p.requester_email_address.0.filter(|e| !e.trim().is_empty());
    let Some(requester_email) = requester_email else { return Err(ApiError::missing("requester_email_address")) };
    let for_embedded_signing = p.is_for_embedded_signing.0 == Some(true);
    let mut not_honoured = not_honoured_yet(&p.editor.unsupported_for_draft());
    not_honoured.extend(not_honoured_yet(&[("preview_only", p.preview_only.0 == Some(true))]));
    let from = FromTemplates::read(&state, &account, &params, p.base).await?;
    if !from.input.files.is_empty() {
        return Err(ApiError::bad_param(
            "files",
            "Appending files to a template's documents in a draft is not supported by this server yet; send without files",
        ));
    }
    if from.client_id.is_none() {
        return Err(ApiError::missing("client_id"));
    }
    let requester = Requester {
        account_id: &account.id,
        email: &account.email,
        client_id: from.client_id.clone(),
        embedded: for_embedded_signing,
        public_url: &state.config.public_url,
        limits: state.config.document_limits,
        now: unix_now(),
    };
    let draft_input = DraftInput {
        kind: None,
        hold_request: p.hold_request.0 == Some(true),
        request: from.input.clone(),
        requester_email_address: Some(requester_email),
        requesting_redirect_url: p.requesting_redirect_url.0,
        edit_signers: p.editor.allow_edit_signers(),
    };
    let (draft, notices) = draft_from_templates(
        &from.with_files(),
        &from.signers,
        &from.ccs,
        &from.custom_fields,
        draft_input,
        &requester,
    )?;
    let mut warnings = from.warnings;
    warnings.extend(notices.into_iter().map(|n| Warning::new(n.name, n.message)));
    warnings.extend(not_honoured);
    respond(&state, &account, draft, true, warnings).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ResendParams {
    client_id: Text,
    requester_email_address: Text,
    requesting_redirect_url: Text,
    signing_redirect_url: Text,
    is_for_embedded_signing: Flag,
    test_mode: Flag,
    #[serde(flatten)]
    editor: EditorFlags,
}

/// `POST /v3/unclaimed_draft/edit_and_resend/{signature_request_id}`: the request (out for signature,
/// no signer has acted yet) as an embedded draft again, with its documents, fields, signers (the
/// requester may edit them), CCs and texts; sending it from the claim page makes a new request and
/// cancels this one in the same transaction.
pub async fn edit_and_resend(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    let p: ResendParams = params.parse()?;
    let Some(client_id) = own_client(&state, &account, p.client_id.0.as_deref()).await? else {
        return Err(ApiError::missing("client_id"));
    };
    let request = owned(&state, &account, &id).await?;
    request.resendable(&account.id)?;
    let mut documents = Vec::new();
    for row in state.store.documents_of(&request.id).await? {
        let bytes = match &row.blob_sha256 {
            Some(sha256) => state.store.blob(sha256).await?,
            None => None,
        };
        let Some(bytes) = bytes else {
            return Err(ApiError::unknown(format!(
                "signature request {} has no bytes for document {}",
                request.id, row.document_index
            )));
        };
        let file = FileInput { file_name: Some(row.file_name.clone()), bytes: bytes.into() };
        documents.push((file, row.page_sizes()?));
    }
    let fields = state.store.fields_of(&request.id).await?;
    let requester = Requester {
        account_id: &account.id,
        email: &account.email,
        client_id: Some(client_id),
        embedded: p.is_for_embedded_signing.0 == Some(true),
        public_url: &state.config.public_url,
        limits: state.config.document_limits,
        now: unix_now(),
    };
    let input = ResendInput {
        requester_email_address: p.requester_email_address.0,
        requesting_redirect_url: p.requesting_redirect_url.0,
        signing_redirect_url: p.signing_redirect_url.0,
        test_mode: p.test_mode.0,
    };
    let draft = draft_from_request(&request, documents, fields, input, &requester)?;
    tracing::info!(signature_request_id = %request.id, draft = %draft.body.template_id, "edit_and_resend: the request is a draft again");
    respond(&state, &account, draft, true, not_honoured_yet(&p.editor.unsupported_for_draft())).await
}

/// Stores a draft and answers with its claim_url.
async fn respond(
    state: &AppState,
    account: &Account,
    draft: NewTemplate,
    embedded: bool,
    warnings: Vec<Warning>,
) -> ApiResult<Reply> {
    state.store.create_template(&draft).await?;
    let id = &draft.body.template_id;
    let lifetime = if embedded { state.config.sign_url_lifetime_secs } else { CLAIM_URL_LIFETIME_SECS };
    let (claim_url, expires_at) = claim_url_of(state, id, lifetime);
    let pending = draft.options.unclaimed.as_ref();
    tracing::info!(draft = %id, account_id = %account.id, embedded, "unclaimed draft accepted");
    Ok(Reply::ok(json!({"unclaimed_draft": {
        "signature_request_id": null,
        "claim_url": claim_url,
        "signing_redirect_url": pending.and_then(|p| p.signing_redirect_url.clone()),
        "requesting_redirect_url": pending.and_then(|p| p.requesting_redirect_url.clone()),
        "expires_at": expires_at,
        "test_mode": draft.body.test_mode,
    }}))
    .with_warnings(warnings))
}

/// A claim_url of the draft and when it stops opening the requester page.
fn claim_url_of(state: &AppState, id: &TemplateId, lifetime: i64) -> (String, i64) {
    let expires = unix_now() + lifetime;
    let token = state.links.token(&Link::ClaimDraft { draft_id: id.as_str(), expires });
    let url =
        format!("{}/editor/embeddedRequest?draft_id={id}&token={token}&expires_at={expires}", state.config.public_url);
    (url, expires)
}

//! `/v3/unclaimed_draft/create` and `/create_embedded` (embedded requesting): the documents and
//! everything the request will be, checked as a request is, kept as a draft; the answer's `claim_url`
//! opens the requester page (`countersign-web`'s editor, in the `hellosign-embedded` iFrame for
//! `create_embedded`), where the requester places the fields and sends. Sending makes an ordinary
//! signature request, processed and signed like any other.

use axum::Extension;
use axum::extract::State;
use countersign_domain::account::Account;
use countersign_domain::ids::TemplateId;
use countersign_domain::links::Link;
use countersign_domain::new_request::Requester;
use countersign_domain::time::unix_now;
use countersign_domain::unclaimed_draft::{DraftInput, new_draft};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use crate::params::{Flag, List, Object, Params, Text, ignored_warnings};
use crate::routes::signature_request::{CreateParams, own_client};
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
    skip_me_now: Flag,
    show_preview: Flag,
    populate_auto_fill_fields: Flag,
    use_preexisting_fields: Flag,
    attachments: List<Value>,
    editor_options: Object<Map<String, Value>>,
    /// The requester page never lets the requester change signers, subject or message; CCs given
    /// are kept; there is no progress stepper: accepted either way.
    #[serde(rename = "force_signer_page")]
    _force_signer_page: Flag,
    #[serde(rename = "force_subject_message")]
    _force_subject_message: Flag,
    #[serde(rename = "show_progress_stepper")]
    _show_progress_stepper: Flag,
    #[serde(rename = "allow_ccs")]
    _allow_ccs: Flag,
    #[serde(flatten)]
    request: CreateParams,
}

/// `POST /v3/unclaimed_draft/create`.
pub async fn create(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    params: Params,
) -> ApiResult<Reply> {
    accept(state, account, params, false).await
}

/// `POST /v3/unclaimed_draft/create_embedded`.
pub async fn create_embedded(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    params: Params,
) -> ApiResult<Reply> {
    accept(state, account, params, true).await
}

async fn accept(state: AppState, account: Account, params: Params, embedded: bool) -> ApiResult<Reply> {
    let p: DraftParams = params.parse()?;
    let mut warnings = ignored_warnings(p.request.other_keys());
    let refuse_if = |set: bool, name: &str, why: &str| {
        if set { Err(ApiError::bad_param(name, format!("{name}: {why}"))) } else { Ok(()) }
    };
    refuse_if(
        p.hold_request.0 == Some(true),
        "hold_request",
        "holding a claimed request is not supported by this server yet",
    )?;
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
    for (name, set) in [
        ("is_for_embedded_signing", p.is_for_embedded_signing.0 == Some(true) && !embedded),
        ("skip_me_now", p.skip_me_now.0 == Some(true)),
        ("show_preview", p.show_preview.0 == Some(true)),
        ("populate_auto_fill_fields", p.populate_auto_fill_fields.0 == Some(true)),
        (
            "editor_options",
            p.editor_options
                .0
                .as_ref()
                .is_some_and(|o| o.values().any(|v| countersign_domain::parse_bool(v).ok().flatten() == Some(true))),
        ),
    ] {
        if set {
            warnings.push(Warning::new("parameter_ignored", format!("{name} is not supported by this server yet")));
        }
    }
    let client_id = own_client(&state, &account, p.request.client_id()).await?;
    if embedded && client_id.is_none() {
        return Err(ApiError::missing("client_id"));
    }
    let requester_email = p.requester_email_address.0.filter(|e| !e.trim().is_empty());
    if embedded && requester_email.is_none() {
        return Err(ApiError::missing("requester_email_address"));
    }
    let test_mode = p.request.test_mode();
    let input = DraftInput {
        kind: p.kind.0,
        request: p.request.into_input(&params),
        requester_email_address: requester_email,
        requesting_redirect_url: p.requesting_redirect_url.0,
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
    state.store.create_template(&draft).await?;
    let id = &draft.body.template_id;
    let lifetime = if embedded { state.config.sign_url_lifetime_secs } else { CLAIM_URL_LIFETIME_SECS };
    let (claim_url, expires_at) = claim_url_of(&state, id, lifetime);
    let pending = draft.options.unclaimed.as_ref();
    tracing::info!(draft = %id, account_id = %account.id, embedded, "unclaimed draft accepted");
    Ok(Reply::ok(json!({"unclaimed_draft": {
        "signature_request_id": null,
        "claim_url": claim_url,
        "signing_redirect_url": pending.and_then(|p| p.signing_redirect_url.clone()),
        "requesting_redirect_url": pending.and_then(|p| p.requesting_redirect_url.clone()),
        "expires_at": expires_at,
        "test_mode": test_mode,
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

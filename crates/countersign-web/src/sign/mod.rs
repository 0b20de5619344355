//! The signer page.
//!
//! Opening a link (`GET /editor/embeddedSign?signature_id&token&expires_at&…` for embedded requests,
//! `GET /sign/{signature_id}?token&expires_at` from an e-mail) goes through these checks, in order:
//!
//! 1. The token is this server's for that signer and link. A token that is not gets a refusal and no
//!    event (nothing in it can be trusted); an expired one, and any link to a signature that is closed
//!    (signed, declined, replaced, or the request canceled, expired, removed), fires
//!    `sign_url_invalid` for that signer.
//! 2. An embedded request is shown only inside the app that made it: `parent_url` (appended by
//!    `hellosign-embedded`) must be on one of the app's `domains` — unless the request is in test mode
//!    and the library says `skip_domain_verification=1` — and the page's script then runs the
//!    library's verify-domain exchange before it announces itself with `hellosign:initialize`. A
//!    test-mode request may also be opened on its own, without `parent_url`, for trying a sign_url out.
//! 3. A signer with a PIN enters it first ([`pin`]).
//! 4. The view is committed (`signature_request_viewed` on the first open) and the page is rendered:
//!    every page of the documents as an image ([`images`]) with the signer's fields on it ([`view`]).
//!    The page then acts with a session token ([`Link::SignSession`]) through [`actions`].

pub mod actions;
pub mod images;
pub mod pin;
pub mod view;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use countersign_domain::api_app::domain_allows;
use countersign_domain::ids::{AccountId, ClientId, SignatureId, SignatureRequestId};
use countersign_domain::lifecycle::{Refusal, SignatureRequest};
use countersign_domain::links::{Link, LinkVerdict};
use countersign_domain::signature_request::RequestStatus;
use countersign_domain::time::unix_now;
use countersign_store::signature_requests::ChangeError;
use serde::Deserialize;

use crate::WebState;
use crate::client::Acting;
use crate::frame::{EmbedNotice, Framing, message};

/// The query of a sign link, and what `hellosign-embedded` appends to it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct OpenQuery {
    pub signature_id: Option<String>,
    pub token: Option<String>,
    pub expires_at: Option<String>,
    pub parent_url: Option<String>,
    pub client_id: Option<String>,
    pub skip_domain_verification: Option<String>,
    pub redirect_url: Option<String>,
    pub hide_header: Option<String>,
    pub user_culture: Option<String>,
}

/// The PIN form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PinForm {
    pub pin: String,
}

/// `GET /editor/embeddedSign`.
pub async fn open_embedded(State(state): State<WebState>, acting: Acting, Query(query): Query<OpenQuery>) -> Response {
    let id = query.signature_id.clone();
    open(&state, acting, query, id, None).await
}

/// `POST /editor/embeddedSign` (the PIN form).
pub async fn open_embedded_with_pin(
    State(state): State<WebState>,
    acting: Acting,
    Query(query): Query<OpenQuery>,
    Form(form): Form<PinForm>,
) -> Response {
    let id = query.signature_id.clone();
    open(&state, acting, query, id, Some(form.pin)).await
}

/// `GET /sign/{id}`: a signer's e-mail link (`id` is their `signature_id`), or the request's
/// `signing_url` (`id` is the request's id), which tells the visitor where signing happens.
pub async fn open_from_email(
    State(state): State<WebState>,
    acting: Acting,
    Path(id): Path<String>,
    Query(query): Query<OpenQuery>,
) -> Response {
    if SignatureRequestId::parse(&id).is_some() {
        return message(
            StatusCode::OK,
            "Sign from your e-mail",
            "Each signer of this request receives a personal signing link by e-mail. Open the link in your \
             message to review and sign the documents.",
            None,
            &Framing::Never,
        );
    }
    open(&state, acting, query, Some(id), None).await
}

/// `POST /sign/{signature_id}` (the PIN form).
pub async fn open_from_email_with_pin(
    State(state): State<WebState>,
    acting: Acting,
    Path(id): Path<String>,
    Query(query): Query<OpenQuery>,
    Form(form): Form<PinForm>,
) -> Response {
    open(&state, acting, query, Some(id), Some(form.pin)).await
}

/// The origin (`scheme://host[:port]`) of an http(s) URL.
pub fn origin_of(raw: &str) -> Option<(String, String)> {
    let url = url::Url::parse(raw).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    let host = url.host_str()?.to_owned();
    Some((url.origin().ascii_serialization(), host))
}

/// What the page's script needs to speak to `hellosign-embedded`, when it is embedded.
pub fn embed_config(query: &OpenQuery, framing: &Framing, signature_id: &str) -> serde_json::Value {
    match framing {
        Framing::By(origin) => serde_json::json!({
            "parent_origin": origin,
            "signature_id": signature_id,
            "verify_domain": query.skip_domain_verification.as_deref() != Some("1"),
        }),
        Framing::Never => serde_json::Value::Null,
    }
}

/// A refusal page, with the embedding app told when there is one.
pub(crate) struct Refuse<'a> {
    pub embed_origin: Option<String>,
    pub signature_id: Option<&'a str>,
}

impl Refuse<'_> {
    pub fn page(&self, status: StatusCode, code: &str, heading: &str, text: &str) -> Response {
        let notice = self.embed_origin.as_ref().map(|origin| EmbedNotice {
            parent_origin: origin.clone(),
            signature_id: self.signature_id.map(str::to_owned),
            code: code.to_owned(),
        });
        let framing = self.embed_origin.clone().map_or(Framing::Never, Framing::By);
        message(status, heading, text, notice.as_ref(), &framing)
    }

    fn invalid(&self) -> Response {
        self.page(
            StatusCode::FORBIDDEN,
            "invalid_link",
            "This link is invalid",
            "This signing link is either invalid or expired. Ask the sender for a new one.",
        )
    }
}

/// Why a signer's link no longer opens anything, if it does not.
fn closed(
    request: &SignatureRequest,
    signature_id: &SignatureId,
    replaced: bool,
) -> Option<(&'static str, &'static str)> {
    if replaced || request.removed {
        return Some(("This link is no longer valid", "This signature was given to someone else or removed."));
    }
    match request.status {
        RequestStatus::Canceled => {
            return Some(("This request was canceled", "The sender canceled this signature request."));
        }
        RequestStatus::Expired => return Some(("This request has expired", "This signature request has expired.")),
        RequestStatus::Declined => {
            return Some(("This request was declined", "A signer declined this signature request."));
        }
        RequestStatus::Error => {
            return Some(("This request cannot be signed", "The documents of this request could not be processed."));
        }
        _ => {}
    }
    let signer = request.body.signatures.iter().find(|s| &s.signature_id == signature_id)?;
    if !signer.status_code.is_open() {
        return Some((
            "You have already signed",
            "This link was used: your signature is recorded. Nothing more is needed from you.",
        ));
    }
    None
}

async fn open(
    state: &WebState,
    Acting(client): Acting,
    query: OpenQuery,
    signature_id: Option<String>,
    pin: Option<String>,
) -> Response {
    let now = unix_now();
    let embed = query.parent_url.as_deref().and_then(origin_of);
    let refuse = Refuse {
        embed_origin: embed.as_ref().map(|(origin, _)| origin.clone()),
        signature_id: signature_id.as_deref(),
    };
    let (Some(raw_id), Some(token), Some(expires)) = (
        signature_id.as_deref(),
        query.token.as_deref(),
        query.expires_at.as_deref().and_then(|e| e.trim().parse::<i64>().ok()),
    ) else {
        return refuse.invalid();
    };
    let Some(signature_id) = SignatureId::parse(raw_id) else { return refuse.invalid() };
    let verdict = state.links.verdict(&Link::Sign { signature_id: signature_id.as_str(), expires }, token, now);
    if verdict == LinkVerdict::Invalid {
        tracing::info!(signature_id = %signature_id, "a sign link with a token this server did not make was opened");
        return refuse.invalid();
    }
    let owner = match state.store.signature_owner(&signature_id).await {
        Ok(Some(owner)) => owner,
        Ok(None) => return refuse.invalid(),
        Err(e) => return unavailable(&refuse, &e),
    };
    let request = match state.store.signature_request_state(&owner.signature_request_id).await {
        Ok(Some(request)) => request,
        Ok(None) => return refuse.invalid(),
        Err(e) => return unavailable(&refuse, &e),
    };
    if verdict == LinkVerdict::Expired {
        link_invalid(state, &request.id, &signature_id).await;
        return refuse.page(
            StatusCode::FORBIDDEN,
            "expired_link",
            "This link has expired",
            "This signing link has expired. Ask the sender for a new one.",
        );
    }
    if request.status == RequestStatus::OnHold {
        return refuse.page(
            StatusCode::CONFLICT,
            "on_hold",
            "This request has not been sent yet",
            "The sender is still preparing this signature request. You will be able to sign once they send it.",
        );
    }
    if let Some((heading, text)) = closed(&request, &signature_id, owner.replaced) {
        link_invalid(state, &request.id, &signature_id).await;
        return refuse.page(StatusCode::GONE, "signature_closed", heading, text);
    }
    let by = EmbeddedBy {
        account_id: &request.account_id,
        client_id: request.client_id.as_deref(),
        test_mode: request.body.test_mode,
        is_embedded: request.is_embedded,
        what: "request",
    };
    let framing = match check_embedding(state, &by, &query, embed.as_ref()).await {
        Ok(framing) => framing,
        Err(response) => return response,
    };
    let Some(signer_index) = request.signer_index(&signature_id) else { return refuse.invalid() };
    let signer = &request.body.signatures[signer_index as usize];
    if signer.has_pin {
        match pin {
            None => return pin::page(&request, signer, &query, None, &framing),
            Some(pin) => {
                if let Err(response) = pin::check(state, &request, signer, &query, &pin, &framing).await {
                    return response;
                }
            }
        }
    }
    let change =
        state.store.change_signature_request(&request.id, |r| r.view(&signature_id, now).map(|t| t.by(client))).await;
    match change {
        Ok((request, _)) => view::render(state, &request, &signature_id, &query, framing).await,
        Err(ChangeError::Refused(Refusal::NotYourTurn)) => refuse.page(
            StatusCode::OK,
            "not_your_turn",
            "Not your turn yet",
            "Other signers sign this request before you. You will be able to sign once they have.",
        ),
        Err(ChangeError::Refused(_)) | Err(ChangeError::NotFound) => {
            link_invalid(state, &request.id, &signature_id).await;
            refuse.page(
                StatusCode::GONE,
                "signature_closed",
                "This link is no longer valid",
                "This signature request can no longer be signed.",
            )
        }
        Err(ChangeError::Store(e)) => unavailable(&refuse, &e),
    }
}

/// What a page shows, as far as embedding goes: a signature request or a template.
pub struct EmbeddedBy<'a> {
    pub account_id: &'a AccountId,
    pub client_id: Option<&'a str>,
    pub test_mode: bool,
    /// Made for an API app (opened only inside its pages).
    pub is_embedded: bool,
    /// "request" or "template", for the refusals.
    pub what: &'static str,
}

/// Embedded requests and templates open only inside their app's pages (step 2 above): the framing
/// the page then allows, or the refusal.
pub async fn check_embedding(
    state: &WebState,
    by: &EmbeddedBy<'_>,
    query: &OpenQuery,
    embed: Option<&(String, String)>,
) -> Result<Framing, Response> {
    let what = by.what;
    let Some((origin, host)) = embed else {
        // A test-mode one may be opened on its own (a developer trying a link in a browser); a live one
        // only inside its app's page.
        if by.is_embedded && !by.test_mode {
            return Err(message(
                StatusCode::BAD_REQUEST,
                "Open this link in the app",
                &format!(
                    "This link is for the app that made this {what}: it opens inside that app's page (with \
                     hellosign-embedded), not on its own."
                ),
                None,
                &Framing::Never,
            ));
        }
        return Ok(Framing::Never);
    };
    let refuse = Refuse { embed_origin: Some(origin.clone()), signature_id: query.signature_id.as_deref() };
    if !by.is_embedded {
        return Ok(Framing::By(origin.clone()));
    }
    let client_id = by.client_id.unwrap_or_default();
    if query.client_id.as_deref().is_some_and(|c| c != client_id) {
        return Err(refuse.page(
            StatusCode::FORBIDDEN,
            "invalid_client_id",
            &format!("This page cannot show this {what}"),
            &format!("The app's client_id does not match the app that created this {what}."),
        ));
    }
    let skip = query.skip_domain_verification.as_deref() == Some("1");
    if skip && by.test_mode {
        return Ok(Framing::By(origin.clone()));
    }
    let app = match ClientId::parse(client_id) {
        Some(id) => state.store.api_app(by.account_id, &id).await.ok().flatten(),
        None => None,
    };
    let allowed = app.is_some_and(|app| domain_allows(&app.domains, host));
    if !allowed {
        tracing::warn!(client_id, parent_host = %host, what, "embedded page refused: the parent page is not on the app's domains");
        let text = if skip {
            "skip_domain_verification only applies in test mode, and this page is not on one of the app's domains."
                .to_owned()
        } else {
            format!("This page is not on one of the domains registered for the app that created this {what}.")
        };
        return Err(refuse.page(
            StatusCode::FORBIDDEN,
            "domain_verification_failed",
            &format!("This page cannot show this {what}"),
            &text,
        ));
    }
    Ok(Framing::By(origin.clone()))
}

/// Commits `sign_url_invalid` for a signer whose link no longer opens anything.
async fn link_invalid(state: &WebState, id: &SignatureRequestId, signature_id: &SignatureId) {
    let result = state.store.change_signature_request(id, |r| Ok::<_, Refusal>(r.sign_url_invalid(signature_id))).await;
    if let Err(e) = result {
        tracing::error!(signature_request_id = %id, signature_id = %signature_id, error = ?e, "sign_url_invalid could not be recorded");
    }
}

fn unavailable(refuse: &Refuse<'_>, e: &dyn std::fmt::Debug) -> Response {
    tracing::error!(error = ?e, "the signer page could not read the request");
    refuse.page(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "Please try again",
        "The signing page is unavailable right now. Please try again in a moment.",
    )
}

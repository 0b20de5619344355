//! The template editor: the page behind a template's `edit_url` (`/editor/embeddedTemplate`, opened in
//! an iFrame by the unmodified `hellosign-embedded` library), where the user drags fields onto the
//! pages, gives each to a signer role (or makes it a merge field the sender fills), and saves.
//!
//! Opening checks the `edit_url` token ([`Link::EditTemplate`]; `preview_only` is part of what it
//! covers), that the template is not deleted and its documents were read, and — as for the signer
//! page — that the embedding page is on the app's domains. The page then acts with a session token
//! ([`Link::EditSession`]): page images, and `save`, which the domain checks
//! (`countersign_domain::template::editor_fields`) and the store commits; a draft's first save commits
//! `template_created` with it. The page's script then posts `hellosign:userCreateTemplate` and
//! `hellosign:userFinishRequest` to the embedding app.

use askama::Template;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use countersign_domain::email::EmailAddress;
use countersign_domain::ids::{ClientId, TemplateId};
use countersign_domain::links::{Link, LinkVerdict};
use countersign_domain::new_request::{FileInput, Requester};
use countersign_domain::template::{EDITOR_FIELD_TYPES, MergeKind, Template as StoredTemplate, TemplateStatus};
use countersign_domain::time::unix_now;
use countersign_domain::unclaimed_draft::{ClaimSigner, claimed_request, set_claim_signers};
use serde::Deserialize;
use serde_json::{Value, json};

use countersign_store::templates::Claim;

use crate::WebState;
use crate::frame::{Framing, html, json_for_script};
use crate::sign::images::{ImageQuery, refuse as refuse_image, serve_page};
use crate::sign::{EmbeddedBy, OpenQuery, Refuse, check_embedding, embed_config, origin_of};

/// The query of an `edit_url`, and what `hellosign-embedded` appends to it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EditQuery {
    pub template_id: Option<String>,
    /// A claim_url's draft.
    pub draft_id: Option<String>,
    pub token: Option<String>,
    pub expires_at: Option<String>,
    pub preview_only: Option<String>,
    pub parent_url: Option<String>,
    pub client_id: Option<String>,
    pub skip_domain_verification: Option<String>,
    pub hide_header: Option<String>,
}

struct PageView {
    document_index: i64,
    number: usize,
    aspect: String,
    image_url: String,
    alt: String,
}

#[derive(Template)]
#[template(path = "edit.html")]
struct EditPage<'a> {
    title: &'a str,
    roles: Vec<String>,
    merge_fields: Vec<(String, String)>,
    pages: Vec<PageView>,
    preview_only: bool,
    /// The requester page of an unclaimed draft (send, not save).
    request: bool,
    /// The requester adds and changes the signers on the page.
    edit_signers: bool,
    hide_header: bool,
    config: String,
    css: String,
    js: String,
    edit_js: String,
}

/// The palette, in order: (type, visible label).
const PALETTE: [(&str, &str); 10] = [
    ("signature", "Signature"),
    ("initials", "Initials"),
    ("date_signed", "Date signed"),
    ("text", "Text box"),
    ("checkbox", "Checkbox"),
    ("radio", "Radio button"),
    ("dropdown", "Dropdown"),
    ("hyperlink", "Hyperlink"),
    ("text-merge", "Merge text"),
    ("checkbox-merge", "Merge checkbox"),
];

/// Which page: the template editor, or the requester page of an unclaimed draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Template { preview_only: bool },
    Request,
}

/// `GET /editor/embeddedTemplate`: a template's `edit_url`.
pub async fn open(State(state): State<WebState>, Query(query): Query<EditQuery>) -> Response {
    let preview_only = query.preview_only.as_deref() == Some("1");
    let id = query.template_id.clone();
    open_page(&state, &query, id.as_deref(), Mode::Template { preview_only }).await
}

/// `GET /editor/embeddedRequest`: an unclaimed draft's `claim_url`.
pub async fn open_claim(State(state): State<WebState>, Query(query): Query<EditQuery>) -> Response {
    let id = query.draft_id.clone();
    open_page(&state, &query, id.as_deref(), Mode::Request).await
}

async fn open_page(state: &WebState, query: &EditQuery, raw_id: Option<&str>, mode: Mode) -> Response {
    let now = unix_now();
    let embed = query.parent_url.as_deref().and_then(origin_of);
    let refuse = Refuse { embed_origin: embed.as_ref().map(|(origin, _)| origin.clone()), signature_id: None };
    let invalid = || {
        refuse.page(
            StatusCode::FORBIDDEN,
            "invalid_link",
            "This link is invalid",
            "This link is either invalid or expired. Ask the app for a new one.",
        )
    };
    let (Some(raw_id), Some(token), Some(expires)) =
        (raw_id, query.token.as_deref(), query.expires_at.as_deref().and_then(|e| e.trim().parse::<i64>().ok()))
    else {
        return invalid();
    };
    let Some(id) = TemplateId::parse(raw_id) else { return invalid() };
    let link = match mode {
        Mode::Template { preview_only } => Link::EditTemplate { template_id: id.as_str(), expires, preview_only },
        Mode::Request => Link::ClaimDraft { draft_id: id.as_str(), expires },
    };
    match state.links.verdict(&link, token, now) {
        LinkVerdict::Valid => {}
        LinkVerdict::Invalid => return invalid(),
        LinkVerdict::Expired => {
            return refuse.page(
                StatusCode::FORBIDDEN,
                "expired_link",
                "This link has expired",
                "This link has expired. Ask the app for a new one.",
            );
        }
    }
    let template = match state.store.template(&id).await {
        Ok(Some(template)) if !template.deleted && template.options.unclaimed.is_some() == (mode == Mode::Request) => {
            template
        }
        Ok(_) => return refuse.page(StatusCode::GONE, "not_found", "This is gone", "It was deleted."),
        Err(e) => {
            tracing::error!(template_id = %id, error = ?e, "the editor could not read its template");
            return refuse.page(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Please try again",
                "This page is unavailable right now. Please try again in a moment.",
            );
        }
    };
    if template.options.unclaimed.as_ref().is_some_and(|p| p.signature_request_id.is_some()) {
        return refuse.page(
            StatusCode::GONE,
            "already_sent",
            "This request was sent already",
            "The signature request made from this draft was sent. There is nothing more to do here.",
        );
    }
    match template.status {
        TemplateStatus::Processing => {
            return refuse.page(
                StatusCode::CONFLICT,
                "processing",
                "The documents are being prepared",
                "The documents are still being read. Reload this page in a moment.",
            );
        }
        TemplateStatus::Error => {
            return refuse.page(
                StatusCode::BAD_REQUEST,
                "file_error",
                "These documents cannot be used",
                "The documents could not be read.",
            );
        }
        TemplateStatus::Draft | TemplateStatus::Ready => {}
    }
    let open_query = OpenQuery {
        parent_url: query.parent_url.clone(),
        client_id: query.client_id.clone(),
        skip_domain_verification: query.skip_domain_verification.clone(),
        ..OpenQuery::default()
    };
    let by = EmbeddedBy {
        account_id: &template.owner.account_id,
        client_id: template.client_id.as_deref(),
        test_mode: template.body.test_mode,
        is_embedded: match &template.options.unclaimed {
            Some(pending) => pending.embedded,
            None => template.body.is_embedded,
        },
        what: if mode == Mode::Request { "request" } else { "template" },
    };
    let framing = match check_embedding(state, &by, &open_query, embed.as_ref()).await {
        Ok(framing) => framing,
        Err(response) => return response,
    };
    tracing::info!(template_id = %id, ?mode, "editor opened");
    render(state, &template, &open_query, query, mode, framing)
}

fn render(
    state: &WebState,
    template: &StoredTemplate,
    open_query: &OpenQuery,
    query: &EditQuery,
    mode: Mode,
    framing: Framing,
) -> Response {
    let preview_only = mode == (Mode::Template { preview_only: true });
    let request = mode == Mode::Request;
    let id = template.body.template_id.as_str();
    let expires = unix_now() + state.config.session_secs;
    let session = state.links.token(&Link::EditSession { template_id: id, expires });
    let session_ref = &session;
    let pages: Vec<PageView> = template
        .documents
        .iter()
        .flat_map(|doc| {
            doc.pages.iter().enumerate().map(move |(i, [w, h])| PageView {
                document_index: doc.index,
                number: i + 1,
                aspect: format!("{w:.3} / {h:.3}"),
                image_url: format!("/edit/{id}/pages/{}/{}?session={session_ref}&expires={expires}", doc.index, i + 1),
                alt: format!("Page {} of {}", i + 1, doc.name),
            })
        })
        .collect();
    let page_sizes: Vec<Value> =
        template.documents.iter().map(|d| json!({"document_index": d.index, "pages": d.pages})).collect();
    let fields: Vec<Value> = template
        .fields
        .iter()
        .map(|f| {
            json!({
                "api_id": f.api_id, "name": f.name, "type": f.field_type, "role": f.signer_index,
                "required": f.required, "document_index": f.document_index, "page": f.page,
                "x": f.x, "y": f.y, "width": f.width, "height": f.height, "options": f.options.options,
                "group": f.options.group, "content": f.options.content, "content_url": f.options.content_url,
            })
        })
        .collect();
    let roles: Vec<String> = template.body.signer_roles.iter().map(|r| r.name.clone()).collect();
    let pending = template.options.unclaimed.as_ref().filter(|_| request);
    let edit_signers = pending.is_some_and(|p| p.edit_signers);
    let signers: Vec<Value> = pending
        .map(|p| p.signers.iter().map(|s| json!({"name": s.name, "email_address": s.email_address})).collect())
        .unwrap_or_default();
    let config = json_for_script(&json!({
        "page": "edit",
        "template_id": id,
        "session": session,
        "expires": expires,
        "embed": embed_config(open_query, &framing, ""),
        "preview_only": preview_only,
        "mode": if request { "request" } else { "template" },
        "action": if request { format!("/claim/{id}/send") } else { format!("/edit/{id}/save") },
        "title": template.body.title,
        "message": template.body.message,
        "roles": roles,
        "signers": signers,
        "edit_signers": edit_signers,
        "cc_roles": template.body.cc_roles,
        "palette": PALETTE
            .iter()
            .filter(|(t, _)| !request || !t.ends_with("-merge"))
            .map(|(t, label)| json!({"type": t, "label": label}))
            .collect::<Vec<_>>(),
        "documents": page_sizes,
        "fields": fields,
    }));
    let page = EditPage {
        title: &template.body.title,
        merge_fields: template
            .body
            .merge_fields
            .iter()
            .map(|m| (m.name.clone(), if m.kind == MergeKind::Checkbox { "checkbox" } else { "text" }.to_owned()))
            .collect(),
        roles,
        pages,
        preview_only,
        request,
        edit_signers,
        hide_header: query.hide_header.as_deref() == Some("true"),
        config,
        css: crate::assets::path("sign.css"),
        js: crate::assets::path("sign.js"),
        edit_js: crate::assets::path("edit.js"),
    };
    debug_assert!(PALETTE.iter().all(|(t, _)| EDITOR_FIELD_TYPES.contains(t)));
    match page.render() {
        Ok(body) => html(StatusCode::OK, body, &framing),
        Err(e) => {
            tracing::error!(error = %e, "the template editor could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown.").into_response()
        }
    }
}

/// Whether `session` opens template `id`'s editor (its images and save).
fn session_ok(state: &WebState, id: &str, session: &str, expires: i64) -> bool {
    state.links.check(&Link::EditSession { template_id: id, expires }, session, unix_now())
}

/// `GET /edit/{template_id}/pages/{document}/{page}`.
pub async fn page_image(
    State(state): State<WebState>,
    Path((id, document, page)): Path<(String, i64, usize)>,
    Query(query): Query<ImageQuery>,
) -> Response {
    let Some(id) = TemplateId::parse(&id) else { return refuse_image(StatusCode::NOT_FOUND, "No such page.") };
    if !session_ok(&state, id.as_str(), &query.session, query.expires) {
        return refuse_image(StatusCode::FORBIDDEN, "This editor's session has ended; reload the page.");
    }
    let sha256 = match state.store.template_documents(&id).await {
        Ok(docs) => docs.into_iter().find(|d| d.document_index == document).and_then(|d| d.blob_sha256),
        Err(e) => {
            tracing::error!(template_id = %id, error = ?e, "a template page image could not be read");
            return refuse_image(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment.");
        }
    };
    match sha256 {
        Some(sha256) => serve_page(&state, sha256, page, query.w).await,
        None => refuse_image(StatusCode::NOT_FOUND, "No such page."),
    }
}

/// What the editor's script posts to `save`.
#[derive(Debug, Deserialize)]
pub struct SaveBody {
    pub session: String,
    pub expires: i64,
    pub fields: Vec<Value>,
    /// The requester page's signers, when the requester may edit them.
    #[serde(default)]
    pub signers: Option<Vec<ClaimSigner>>,
}

fn answer(status: StatusCode, name: &str, message: &str) -> Response {
    (status, Json(json!({"error": {"error_name": name, "error_msg": message}}))).into_response()
}

/// `POST /edit/{template_id}/save`: the placed fields, checked and committed.
pub async fn save(State(state): State<WebState>, Path(id): Path<String>, Json(body): Json<SaveBody>) -> Response {
    let Some(id) = TemplateId::parse(&id) else {
        return answer(StatusCode::NOT_FOUND, "not_found", "No such template.");
    };
    if !session_ok(&state, id.as_str(), &body.session, body.expires) {
        return answer(StatusCode::FORBIDDEN, "session_expired", "This editor's session has ended; reload the page.");
    }
    let template = match state.store.template(&id).await {
        // An unclaimed draft is sent from its own page (`send_claim`), never saved as a template.
        Ok(Some(template)) if template.options.unclaimed.is_some() => {
            return answer(StatusCode::NOT_FOUND, "not_found", "No such template.");
        }
        Ok(Some(template)) if !template.deleted => template,
        Ok(_) => return answer(StatusCode::GONE, "deleted", "This template was deleted."),
        Err(e) => {
            tracing::error!(template_id = %id, error = ?e, "the template editor could not read the template");
            return answer(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Please try again in a moment.");
        }
    };
    let max_fields = state.config.max_template_fields;
    let (fields, merge_fields) = match countersign_domain::template::editor_fields(&template, &body.fields, max_fields)
    {
        Ok(checked) => checked,
        Err(message) => return answer(StatusCode::BAD_REQUEST, "bad_request", &message),
    };
    match state.store.save_edited_template(&id, fields, merge_fields).await {
        Ok(Some(saved)) => {
            let response = saved.response(&saved.owner.account_id);
            (StatusCode::OK, Json(json!({"template": response}))).into_response()
        }
        Ok(None) => answer(StatusCode::CONFLICT, "conflict", "This template cannot be saved now."),
        Err(e) => {
            tracing::error!(template_id = %id, error = ?e, "the template could not be saved");
            answer(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "The template could not be saved. Please try again.")
        }
    }
}

/// `POST /claim/{draft_id}/send`: the requester page's fields checked, then the draft claimed as a
/// signature request (one transaction), processed and signed like any other.
pub async fn send_claim(State(state): State<WebState>, Path(id): Path<String>, Json(body): Json<SaveBody>) -> Response {
    let Some(id) = TemplateId::parse(&id) else { return answer(StatusCode::NOT_FOUND, "not_found", "No such draft.") };
    if !session_ok(&state, id.as_str(), &body.session, body.expires) {
        return answer(StatusCode::FORBIDDEN, "session_expired", "This page's session has ended; reload the page.");
    }
    let unavailable = |e: &dyn std::fmt::Debug| {
        tracing::error!(draft = %id, error = ?e, "an unclaimed draft could not be sent");
        answer(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "The request could not be sent. Please try again.")
    };
    let mut draft = match state.store.template(&id).await {
        Ok(Some(draft)) if !draft.deleted && draft.options.unclaimed.is_some() => draft,
        Ok(_) => return answer(StatusCode::NOT_FOUND, "not_found", "No such draft."),
        Err(e) => return unavailable(&e),
    };
    if let Some(signers) = &body.signers
        && let Err(message) = set_claim_signers(&mut draft, signers)
    {
        return answer(StatusCode::BAD_REQUEST, "bad_request", &message);
    }
    let (fields, merge_fields) =
        match countersign_domain::template::editor_fields(&draft, &body.fields, state.config.max_template_fields) {
            Ok(checked) => checked,
            Err(message) => return answer(StatusCode::BAD_REQUEST, "bad_request", &message),
        };
    let files: Vec<FileInput> = match state.store.template_inputs(&id).await {
        Ok(files) => files,
        Err(e) => return unavailable(&e),
    };
    let Ok(email) = EmailAddress::parse(&draft.owner.email_address, "requester") else {
        return unavailable(&"the owner's address does not parse");
    };
    let pending = draft.options.unclaimed.clone().unwrap_or_default();
    draft.fields = fields.clone();
    draft.body.merge_fields = merge_fields.clone();
    let requester = Requester {
        account_id: &draft.owner.account_id,
        email: &email,
        client_id: draft.client_id.as_deref().and_then(ClientId::parse),
        embedded: pending.for_embedded_signing,
        public_url: &state.public_url,
        limits: state.config.document_limits,
        now: unix_now(),
    };
    let request = match claimed_request(&draft, files, &requester) {
        Ok(request) => request,
        Err(e) => return answer(StatusCode::BAD_REQUEST, "bad_request", &e.message),
    };
    match state.store.claim_unclaimed_draft(&id, fields, merge_fields, &request).await {
        Ok(Claim::Claimed { .. }) => (
            StatusCode::OK,
            Json(json!({
                "signature_request_id": request.body.signature_request_id,
                "signature_ids": request.body.signatures.iter().map(|s| s.signature_id.as_str()).collect::<Vec<_>>(),
            })),
        )
            .into_response(),
        Ok(Claim::Spent) => answer(StatusCode::CONFLICT, "conflict", "This draft was sent already."),
        Ok(Claim::Refused(why)) => answer(StatusCode::CONFLICT, "conflict", &why),
        Err(e) => unavailable(&e),
    }
}

//! The signer page's content: every page of the documents (sized from the page sizes found when the
//! documents were processed, so the layout is known before any image arrives) with the signer's fields
//! placed in percentages of the page, so they stay on their rectangles at any width.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use countersign_domain::ids::SignatureId;
use countersign_domain::lifecycle::SignatureRequest;
use countersign_domain::links::Link;
use countersign_domain::signature_request::FieldSpec;
use countersign_domain::signing::format_date;
use countersign_domain::time::unix_now;
use serde_json::json;

use super::{OpenQuery, embed_config};
use crate::WebState;
use crate::frame::{Framing, html, json_for_script, message};

/// One field as the page draws it.
pub struct FieldView {
    pub api_id: String,
    /// `signature`, `initials`, `text`, `date_signed`, `checkbox`, `radio`, `dropdown`, `hyperlink`,
    /// `text-merge`, `checkbox-merge`.
    pub kind: String,
    /// The visible and accessible name.
    pub label: String,
    pub required: bool,
    /// Position and size in percent of the page.
    pub left: String,
    pub top: String,
    pub width: String,
    pub height: String,
    /// Text size, in percent of the page's width (container query units).
    pub font: String,
    /// A merge field's value, or the date a date_signed field will carry.
    pub value: String,
    pub checked: bool,
    pub options: Vec<String>,
    pub selected: String,
    pub placeholder: String,
    pub masked: bool,
    pub validation: String,
    pub pattern: String,
    pub pattern_label: String,
    pub group: String,
    pub url: String,
    /// Whether the signer fills it (merge fields and hyperlinks are shown only).
    pub editable: bool,
}

pub struct PageView {
    pub number: usize,
    pub document_index: i64,
    /// Width / height, for the page box's aspect ratio before its image arrives.
    pub aspect: String,
    pub image_url: String,
    pub alt: String,
    pub fields: Vec<FieldView>,
}

#[derive(Template)]
#[template(path = "sign.html")]
struct SignPage<'a> {
    title: &'a str,
    message: Option<&'a str>,
    requester: &'a str,
    signer_name: &'a str,
    pages: Vec<PageView>,
    field_count: usize,
    allow_decline: bool,
    allow_reassign: bool,
    hide_header: bool,
    config: String,
    css: String,
    js: String,
}

fn percent(part: f64, whole: f64) -> String {
    format!("{:.4}%", (part / whole * 100.0).clamp(0.0, 100.0))
}

fn label_of(field: &FieldSpec) -> String {
    if !field.name.trim().is_empty() {
        return field.name.trim().to_owned();
    }
    match field.field_type.as_str() {
        "signature" => "Signature",
        "initials" => "Initials",
        "date_signed" => "Date signed",
        "checkbox" | "checkbox-merge" => "Checkbox",
        "radio" => "Option",
        "dropdown" => "Choose an option",
        "hyperlink" => "Link",
        _ => "Text",
    }
    .to_owned()
}

fn field_view(field: &FieldSpec, page: [f64; 2], signer_index: i64, now: i64) -> Option<FieldView> {
    let [page_w, page_h] = page;
    let mine = field.signer_index == Some(signer_index);
    let shown_to_all = matches!(field.field_type.as_str(), "text-merge" | "checkbox-merge" | "hyperlink");
    if !mine && !shown_to_all {
        return None;
    }
    let options = &field.options;
    let value = match field.field_type.as_str() {
        "date_signed" => format_date(now, options.date_format.as_deref()),
        "hyperlink" => options.content.clone().unwrap_or_else(|| label_of(field)),
        _ => field.value.clone().unwrap_or_default(),
    };
    let checked = match field.field_type.as_str() {
        "checkbox-merge" => matches!(field.value.as_deref().map(str::trim), Some("true" | "1" | "yes" | "on")),
        _ => options.is_checked,
    };
    Some(FieldView {
        api_id: field.api_id.clone(),
        kind: field.field_type.clone(),
        label: label_of(field),
        required: field.required,
        left: percent(field.x, page_w),
        top: percent(field.y, page_h),
        width: percent(field.width, page_w),
        height: percent(field.height, page_h),
        font: format!("{:.3}cqw", (field.height * 0.62).clamp(6.0, 14.0) / page_w * 100.0),
        value,
        checked,
        options: options.options.clone(),
        selected: options.content.clone().unwrap_or_default(),
        placeholder: options.placeholder.clone().unwrap_or_default(),
        masked: options.masked,
        validation: field.validation_type.clone().unwrap_or_default(),
        pattern: options.validation_custom_regex.clone().unwrap_or_default(),
        pattern_label: options.validation_custom_regex_format_label.clone().unwrap_or_default(),
        group: options.group.clone().unwrap_or_default(),
        url: options
            .content_url
            .clone()
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .unwrap_or_default(),
        editable: mine && !shown_to_all,
    })
}

/// Renders the page for the signer `signature_id` of `request` (already viewed).
pub async fn render(
    state: &WebState,
    request: &SignatureRequest,
    signature_id: &SignatureId,
    query: &OpenQuery,
    framing: Framing,
) -> Response {
    let fail = |e: &dyn std::fmt::Debug| {
        tracing::error!(signature_request_id = %request.id, error = ?e, "the signer page could not be built");
        message(
            StatusCode::SERVICE_UNAVAILABLE,
            "Please try again",
            "The signing page is unavailable right now. Please try again in a moment.",
            None,
            &framing,
        )
    };
    let (documents, fields) =
        match tokio::try_join!(state.store.documents_of(&request.id), state.store.fields_of(&request.id)) {
            Ok(both) => both,
            Err(e) => return fail(&e),
        };
    let Some(signer_index) = request.signer_index(signature_id) else { return fail(&"no such signer") };
    let signer = &request.body.signatures[signer_index as usize];
    let now = unix_now();
    let expires = now + state.config.session_secs;
    let session = state.links.token(&Link::SignSession { signature_id: signature_id.as_str(), expires });
    let mut pages = Vec::new();
    for document in &documents {
        let sizes = match document.page_sizes() {
            Ok(sizes) => sizes,
            Err(e) => return fail(&e),
        };
        for (i, size) in sizes.iter().enumerate() {
            let number = i + 1;
            let fields: Vec<FieldView> = fields
                .iter()
                .filter(|f| f.document_index == document.document_index && f.page == number as i64)
                .filter_map(|f| field_view(f, *size, signer_index, now))
                .collect();
            pages.push(PageView {
                number,
                document_index: document.document_index,
                aspect: format!("{:.3} / {:.3}", size[0], size[1]),
                image_url: format!(
                    "/sign/{signature_id}/pages/{}/{number}?session={session}&expires={expires}",
                    document.document_index
                ),
                alt: format!("Page {number} of {}", document.file_name),
                fields,
            });
        }
    }
    let field_count = pages.iter().flat_map(|p| &p.fields).filter(|f| f.editable).count();
    let options = &request.options.signing_options;
    let redirect = query
        .redirect_url
        .clone()
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .or_else(|| request.body.signing_redirect_url.clone());
    let config = json_for_script(&json!({
        "page": "sign",
        "signature_id": signature_id,
        "session": session,
        "expires": expires,
        "embed": embed_config(query, &framing, signature_id.as_str()),
        "signing_options": {"draw": options.draw, "type": options.typed, "upload": options.upload, "default_type": options.default_type},
        "signer_name": signer.signer_name,
        "redirect_url": redirect,
        "groups": request.options.field_groups.iter().map(|g| json!({"id": g.group_id, "label": g.group_label, "least": g.least, "most": g.most})).collect::<Vec<_>>(),
    }));
    let page = SignPage {
        title: &request.body.title,
        message: request.body.message.as_deref().filter(|m| !m.trim().is_empty()),
        requester: &request.body.requester_email_address,
        signer_name: &signer.signer_name,
        pages,
        field_count,
        allow_decline: request.body.allow_decline,
        allow_reassign: request.body.allow_reassign,
        hide_header: query.hide_header.as_deref() == Some("true"),
        config,
        css: crate::assets::path("sign.css"),
        js: crate::assets::path("sign.js"),
    };
    match page.render() {
        Ok(body) => html(StatusCode::OK, body, &framing),
        Err(e) => {
            tracing::error!(error = %e, "the signer page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown.").into_response()
        }
    }
}

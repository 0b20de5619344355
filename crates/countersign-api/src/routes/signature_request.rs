//! `/v3/signature_request/*` and `/v3/embedded/sign_url`: create and send, get, list, cancel, remind,
//! update, remove, files — in Dropbox Sign's shapes (compat spec §6).
//!
//! A create is answered at once: the request, its document bytes, signers and a `process_documents` job
//! commit in one transaction; the document worker sends `signature_request_sent` (or an error event)
//! when it has processed the files. Every other change goes through the store's
//! `change_signature_request`, which commits the new state with its events.

use std::collections::BTreeMap;

use axum::Extension;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use countersign_domain::account::Account;
use countersign_domain::email::EmailAddress;
use countersign_domain::ids::ClientId;
use countersign_domain::signature_request::{
    NewSigner, ProcessingOptions, RequestStatus, SearchQuery, Signature, SignatureRequestBody, check_metadata,
    is_signature_id, is_signature_request_id, new_signature_id, new_signature_request_id, parse_expires_at,
};
use countersign_domain::time::unix_now;
use countersign_store::signature_requests::{ChangeError, NewDocument, NewSignatureRequest, SignatureRequest};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use countersign_domain::lifecycle::{Refusal, SignatureStatus};
use countersign_domain::links::Link;
use countersign_domain::{MAX_NAME_CHARS, parse_name};

use crate::html;
use crate::params::{Params, UploadedFile, ignored_warnings, lenient};
use crate::state::AppState;
use crate::warnings::{Reply, Warning};

/// How long an embedded sign URL and a file URL stay valid.
pub const SIGN_URL_LIFETIME_SECS: i64 = 3600;
pub const FILE_URL_LIFETIME_SECS: i64 = 3600;

#[derive(Deserialize)]
struct SignerParams {
    #[serde(default, deserialize_with = "lenient::string_opt")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    email_address: Option<String>,
    #[serde(default, deserialize_with = "lenient::u32_opt")]
    order: Option<u32>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    pin: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    sms_phone_number: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    sms_phone_number_type: Option<String>,
}

#[derive(Deserialize)]
struct CreateParams {
    #[serde(default, deserialize_with = "lenient::string_opt")]
    title: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    subject: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    message: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    client_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::list_opt")]
    signers: Option<Vec<SignerParams>>,
    #[serde(default, deserialize_with = "lenient::list_opt")]
    cc_email_addresses: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient::list_opt")]
    file_urls: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient::list_opt")]
    file_url: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient::object_opt")]
    metadata: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    test_mode: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    use_text_tags: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    hide_text_tags: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    allow_decline: Option<bool>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    allow_reassign: Option<bool>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    signing_redirect_url: Option<String>,
    #[serde(default, deserialize_with = "lenient::u32_opt")]
    expires_at: Option<u32>,
    #[serde(default, deserialize_with = "lenient::list_opt")]
    custom_fields: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "lenient::list_opt")]
    form_fields_per_document: Option<Vec<Value>>,
    /// Sent by the official SDKs with their defaults; accepted and not used yet.
    #[serde(default, rename = "is_qualified_signature")]
    _is_qualified_signature: Option<Value>,
    #[serde(default, rename = "is_eid")]
    _is_eid: Option<Value>,
    #[serde(default, rename = "ignore_text_tags_extraction_errors")]
    _ignore_text_tags_extraction_errors: Option<Value>,
    /// File parts arrive as files; a text value of these names (an SDK sending nothing) is ignored.
    #[serde(default, rename = "files")]
    _files: Option<Value>,
    #[serde(default, rename = "file")]
    _file: Option<Value>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
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

fn file_name_of(part: &UploadedFile, index: usize) -> String {
    part.file_name
        .as_deref()
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("document-{}.pdf", index + 1))
}

fn check_len(value: &Option<String>, max: usize, path: &str) -> ApiResult<()> {
    match value {
        Some(v) if v.chars().count() > max => {
            Err(ApiError::bad_param(path, format!("{path} may be at most {max} characters long")))
        }
        _ => Ok(()),
    }
}

fn url_of(raw: &str, path: &str) -> ApiResult<String> {
    let url = url::Url::parse(raw.trim()).map_err(|_| ApiError::bad_param(path, format!("{raw:?} is not a URL")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::bad_param(path, format!("{raw:?} is not an http(s) URL")));
    }
    Ok(url.to_string())
}

/// The object's links, on this server.
fn links(state: &AppState, id: &str, embedded: bool) -> (String, Option<String>, String, String) {
    let base = &state.config.public_url;
    let files_url = format!("{base}/v3/signature_request/files/{id}");
    // Non-embedded requests are signed on this server's own page (the signing issue); embedded ones only
    // through `embedded/sign_url`, as on Dropbox Sign.
    let signing_url = (!embedded).then(|| format!("{base}/sign/{id}"));
    let details_url = format!("{base}/home/manage?guid={id}");
    let final_copy_uri = format!("/v3/signature_request/final_copy/{id}");
    (files_url, signing_url, details_url, final_copy_uri)
}

/// Turns `custom_fields` input (`[{name, value, editor?, required?}]`) into the response's shape, where
/// a boolean value makes a `checkbox` field and anything else a `text` field.
fn custom_fields_json(input: &[Value]) -> ApiResult<Vec<Value>> {
    let mut out = Vec::with_capacity(input.len());
    for (i, field) in input.iter().enumerate() {
        let Value::Object(map) = field else {
            return Err(ApiError::bad_param(format!("custom_fields[{i}]"), "each custom field must be an object"));
        };
        let name = match map.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => return Err(ApiError::missing(&format!("custom_fields[{i}][name]"))),
        };
        let (kind, value) = match map.get("value") {
            Some(Value::Bool(b)) => ("checkbox", json!(b)),
            Some(Value::String(s)) => ("text", json!(s)),
            Some(Value::Number(n)) => ("text", json!(n.to_string())),
            None | Some(Value::Null) => ("text", Value::Null),
            Some(_) => {
                return Err(ApiError::bad_param(format!("custom_fields[{i}][value]"), "must be text or a boolean"));
            }
        };
        let mut entry = json!({"name": name, "type": kind, "value": value});
        if let Some(editor) = map.get("editor").and_then(Value::as_str) {
            entry["editor"] = json!(editor);
        }
        if let Some(raw) = map.get("required") {
            let required = lenient::parse_bool(raw)
                .map_err(|message| ApiError::bad_param(format!("custom_fields[{i}][required]"), message))?;
            if let Some(required) = required {
                entry["required"] = json!(required);
            }
        }
        if let Some(api_id) = map.get("api_id").and_then(Value::as_str) {
            entry["api_id"] = json!(api_id);
        }
        out.push(entry);
    }
    Ok(out)
}

/// The largest coordinate or size accepted, in points: a PDF page is at most 14,400 units on a side.
const MAX_COORDINATE: f64 = 14_400.0;

/// Refuses, at once, form fields whose numbers could never place a field: not a number, not finite
/// (`"NaN"`, `"inf"`), negative, or beyond any page; and `required` values that are not booleans.
/// Whether a field fits its real page is known only once the document is read (`error_component_position`).
fn check_form_field_numbers(form_fields: &[Value]) -> ApiResult<()> {
    let mut fields: Vec<(String, &serde_json::Map<String, Value>)> = Vec::new();
    for (i, entry) in form_fields.iter().enumerate() {
        match entry {
            Value::Object(map) => fields.push((format!("form_fields_per_document[{i}]"), map)),
            Value::Array(list) => {
                for (j, item) in list.iter().enumerate() {
                    if let Value::Object(map) = item {
                        fields.push((format!("form_fields_per_document[{i}][{j}]"), map));
                    }
                }
            }
            _ => {}
        }
    }
    for (path, map) in fields {
        for (key, min, max) in [
            ("x", 0.0, MAX_COORDINATE),
            ("y", 0.0, MAX_COORDINATE),
            ("width", 0.0, MAX_COORDINATE),
            ("height", 0.0, MAX_COORDINATE),
            ("page", 1.0, 100_000.0),
            ("document_index", 0.0, 1_000.0),
        ] {
            let number = match map.get(key) {
                None | Some(Value::Null) => continue,
                Some(Value::Number(n)) => n.as_f64(),
                Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
                Some(_) => None,
            };
            let at = format!("{path}[{key}]");
            match number {
                Some(n) if n.is_finite() && (min..=max).contains(&n) => {}
                Some(n) if n.is_finite() => {
                    return Err(ApiError::bad_param(at, format!("{key} must be between {min} and {max}; {n} is not")));
                }
                _ => return Err(ApiError::bad_param(at, format!("{key} must be a finite number"))),
            }
        }
        if let Some(raw) = map.get("required") {
            lenient::parse_bool(raw).map_err(|message| ApiError::bad_param(format!("{path}[required]"), message))?;
        }
    }
    Ok(())
}

fn parse_signers(params: Option<&Vec<SignerParams>>) -> ApiResult<Vec<NewSigner>> {
    let signers = params.filter(|s| !s.is_empty()).ok_or_else(|| ApiError::missing("signers"))?;
    if signers.len() > 100 {
        return Err(ApiError::bad_param("signers", "a request may have at most 100 signers"));
    }
    let mut out = Vec::with_capacity(signers.len());
    for (i, s) in signers.iter().enumerate() {
        let name = s.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        let name = name.ok_or_else(|| ApiError::missing(&format!("signers[{i}][name]")))?;
        let name = parse_name(name, &format!("signers[{i}][name]"), MAX_NAME_CHARS)?;
        let email =
            s.email_address.as_deref().ok_or_else(|| ApiError::missing(&format!("signers[{i}][email_address]")))?;
        let email = EmailAddress::parse(email, &format!("signers[{i}][email_address]"))?;
        if let Some(pin) = &s.pin
            && !(4..=12).contains(&pin.chars().count())
        {
            return Err(ApiError::bad_param(format!("signers[{i}][pin]"), "a PIN must be 4 to 12 characters long"));
        }
        out.push(NewSigner {
            name,
            email_address: email.as_str().to_owned(),
            order: s.order.map(i64::from),
            has_pin: s.pin.is_some(),
            sms_phone_number: s.sms_phone_number.clone(),
            sms_phone_number_type: s.sms_phone_number_type.clone(),
        });
    }
    Ok(out)
}

async fn create(state: AppState, account: Account, params: Params, embedded: bool) -> ApiResult<Reply> {
    let p: CreateParams = params.parse()?;
    let limits = state.config.document_limits;
    let mut warnings = ignored_warnings(p.other.keys());

    // The caller's app: required for embedded requests, optional for /send.
    let client_id = match p.client_id.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        Some(raw) => {
            let id = ClientId::parse(raw)
                .ok_or_else(|| ApiError::bad_param("client_id", format!("No API app with client_id {raw:?}")))?;
            if state.store.api_app(&account.id, &id).await?.is_none() {
                return Err(ApiError::bad_param("client_id", format!("No API app with client_id {raw:?}")));
            }
            Some(id.as_str().to_owned())
        }
        None if embedded => return Err(ApiError::missing("client_id")),
        None => None,
    };

    let signers = parse_signers(p.signers.as_ref())?;
    check_len(&p.title, 255, "title")?;
    check_len(&p.subject, 255, "subject")?;
    check_len(&p.message, 5000, "message")?;
    let metadata = p.metadata.clone().unwrap_or_default();
    check_metadata(&metadata)?;
    let mut cc = Vec::new();
    for (i, raw) in p.cc_email_addresses.iter().flatten().enumerate() {
        cc.push(EmailAddress::parse(raw, &format!("cc_email_addresses[{i}]"))?.as_str().to_owned());
    }
    let signing_redirect_url = match p.signing_redirect_url.as_deref().filter(|u| !u.trim().is_empty()) {
        Some(raw) => Some(url_of(raw, "signing_redirect_url")?),
        None => None,
    };
    let now = unix_now();
    let expires_at = parse_expires_at(p.expires_at, now)?;
    let custom_fields_in = p.custom_fields.clone().unwrap_or_default();
    let custom_fields = custom_fields_json(&custom_fields_in)?;
    let form_fields = p.form_fields_per_document.clone().unwrap_or_default();
    check_form_field_numbers(&form_fields)?;

    // Documents: uploaded parts XOR file URLs.
    let parts = document_parts(&params.files);
    let urls: Vec<String> = p.file_urls.iter().chain(p.file_url.iter()).flatten().cloned().collect();
    if !parts.is_empty() && !urls.is_empty() {
        return Err(ApiError::bad_param("file_urls", "Send either files or file_urls, not both."));
    }
    if parts.is_empty() && urls.is_empty() {
        return Err(ApiError::missing("files"));
    }
    let count = parts.len().max(urls.len());
    if count > limits.max_files {
        let path = if parts.is_empty() { "file_urls" } else { "files" };
        return Err(ApiError::bad_param(
            path,
            format!("A request may have at most {} documents; this one has {count}.", limits.max_files),
        ));
    }
    let mut documents = Vec::with_capacity(count);
    for (i, part) in parts.iter().enumerate() {
        let path = format!("files[{i}]");
        if part.bytes.is_empty() {
            return Err(ApiError::bad_param(path, "The file is empty."));
        }
        if part.bytes.len() > limits.max_file_bytes {
            return Err(ApiError::bad_param(
                path,
                format!("The file is {} bytes; the limit is {} bytes.", part.bytes.len(), limits.max_file_bytes),
            ));
        }
        documents.push(NewDocument {
            file_name: file_name_of(part, i),
            bytes: Some(part.bytes.clone()),
            file_url: None,
        });
    }
    for (i, raw) in urls.iter().enumerate() {
        let url = url_of(raw, &format!("file_urls[{i}]"))?;
        let name = url::Url::parse(&url)
            .ok()
            .and_then(|u| u.path_segments().and_then(|mut s| s.next_back().map(str::to_owned)))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("document-{}.pdf", i + 1));
        documents.push(NewDocument { file_name: name, bytes: None, file_url: Some(url) });
    }
    let use_text_tags = p.use_text_tags.unwrap_or(false);
    if use_text_tags
        && documents.iter().any(|d| !d.file_name.to_ascii_lowercase().ends_with(".pdf"))
        && documents.iter().any(|d| d.bytes.as_ref().is_some_and(|b| !b.starts_with(b"%PDF")))
    {
        warnings.push(Warning::new(
            "non_pdf_text_tags",
            "Text tags are meant for PDF files; positions in other formats may be imprecise.",
        ));
    }

    let id = new_signature_request_id();
    let (files_url, signing_url, details_url, final_copy_uri) = links(&state, &id, embedded);
    let title = p.title.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| documents[0].file_name.clone());
    let signatures = signers
        .iter()
        .map(|s| Signature {
            signature_id: new_signature_id(),
            signer_group_guid: None,
            signer_email_address: s.email_address.clone(),
            signer_name: s.name.clone(),
            signer_role: None,
            order: s.order,
            status_code: SignatureStatus::AwaitingSignature.as_str().into(),
            decline_reason: None,
            signed_at: None,
            last_viewed_at: None,
            last_reminded_at: None,
            has_pin: s.has_pin,
            has_sms_auth: s.sms_phone_number.is_some() && s.sms_phone_number_type.as_deref() != Some("delivery"),
            has_sms_delivery: s.sms_phone_number_type.as_deref() == Some("delivery"),
            sms_phone_number: s.sms_phone_number.clone(),
            reassigned_by: None,
            reassignment_reason: None,
            reassigned_from: None,
            error: None,
        })
        .collect();
    let body = SignatureRequestBody {
        test_mode: p.test_mode.unwrap_or(false),
        signature_request_id: id.clone(),
        requester_email_address: account.email.as_str().to_owned(),
        original_title: title.clone(),
        title,
        subject: p.subject.clone(),
        message: p.message.clone(),
        metadata,
        created_at: now,
        expires_at,
        is_complete: false,
        is_declined: false,
        has_error: false,
        files_url,
        signing_url,
        details_url,
        cc_email_addresses: cc,
        signing_redirect_url,
        final_copy_uri,
        template_ids: None,
        custom_fields,
        attachments: Vec::new(),
        response_data: Vec::new(),
        signatures,
        bulk_send_job_id: None,
        allow_decline: p.allow_decline.unwrap_or(false),
        allow_reassign: p.allow_reassign.unwrap_or(false),
    };
    let options = ProcessingOptions {
        use_text_tags,
        hide_text_tags: p.hide_text_tags.unwrap_or(false),
        form_fields_per_document: form_fields,
        custom_fields: custom_fields_in,
        appended_signature_page: false,
    };
    let new = NewSignatureRequest {
        account_id: account.id.clone(),
        client_id,
        is_embedded: embedded,
        body,
        options,
        documents,
    };
    state.store.create_signature_request(&new).await?;
    Ok(Reply::ok(json!({"signature_request": new.body})).with_warnings(warnings))
}

pub async fn send(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    params: Params,
) -> ApiResult<Reply> {
    create(state, account, params, false).await
}

pub async fn create_embedded(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    params: Params,
) -> ApiResult<Reply> {
    create(state, account, params, true).await
}

fn check_request_id(id: &str) -> ApiResult<()> {
    if is_signature_request_id(id) { Ok(()) } else { Err(ApiError::not_found()) }
}

fn raw_json(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// Whether the caller may see this request: canceled and removed requests are gone (410), as they are
/// for their signers.
fn visible(status: RequestStatus, removed: bool) -> ApiResult<()> {
    if removed {
        return Err(ApiError::deleted("This signature request has been removed."));
    }
    if status == RequestStatus::Canceled {
        return Err(ApiError::deleted("This signature request has been canceled."));
    }
    Ok(())
}

/// `GET /v3/signature_request/{id}`: the stored object, sent as stored (no re-serialization).
pub async fn get(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    check_request_id(&id)?;
    let (status, removed, body) =
        state.store.signature_request_body(&account.id, &id).await?.ok_or_else(ApiError::not_found)?;
    visible(status, removed)?;
    let mut text = String::with_capacity(body.len() + 24);
    text.push_str("{\"signature_request\":");
    text.push_str(&body);
    text.push('}');
    Ok(raw_json(StatusCode::OK, text))
}

#[derive(Deserialize)]
struct ListParams {
    #[serde(default, deserialize_with = "lenient::string_opt")]
    account_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::u32_opt")]
    page: Option<u32>,
    #[serde(default, deserialize_with = "lenient::u32_opt")]
    page_size: Option<u32>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    query: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

pub async fn list(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let p: ListParams = Params::from_query(query.as_deref())?.parse()?;
    let page = p.page.unwrap_or(1);
    if page == 0 {
        return Err(ApiError::bad_param("page", "page must be 1 or more"));
    }
    let page_size = p.page_size.unwrap_or(20);
    if !(1..=100).contains(&page_size) {
        return Err(ApiError::bad_param("page_size", "page_size must be between 1 and 100"));
    }
    if let Some(other) = p.account_id.as_deref().filter(|a| !a.is_empty() && *a != "all" && *a != account.id.as_str()) {
        return Err(ApiError::bad_param("account_id", format!("Cannot list the requests of account {other:?}")));
    }
    let query = SearchQuery::parse(p.query.as_deref().unwrap_or(""));
    let found =
        state.store.list_signature_requests(&account.id, page, page_size, &query, account.email.as_str()).await?;
    let num_pages = (found.total + i64::from(page_size) - 1) / i64::from(page_size);
    let mut text = String::from("{\"signature_requests\":[");
    for (i, body) in found.bodies.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        text.push_str(body);
    }
    text.push_str("],\"list_info\":");
    text.push_str(
        &json!({"num_pages": num_pages, "num_results": found.total, "page": page, "page_size": page_size}).to_string(),
    );
    let warnings = ignored_warnings(p.other.keys());
    if !warnings.is_empty() {
        text.push_str(",\"warnings\":");
        text.push_str(&serde_json::to_string(&warnings).unwrap_or_else(|_| "[]".into()));
    }
    text.push('}');
    Ok(raw_json(StatusCode::OK, text))
}

/// Loads the caller's request for a change, or answers 404/410.
async fn owned(state: &AppState, account: &Account, id: &str) -> ApiResult<SignatureRequest> {
    check_request_id(id)?;
    let request = state.store.signature_request_state(id).await?.ok_or_else(ApiError::not_found)?;
    if request.account_id != account.id {
        return Err(ApiError::not_found());
    }
    visible(request.status, request.removed)?;
    Ok(request)
}

fn change_error(e: ChangeError<Refusal>) -> ApiError {
    match e {
        ChangeError::NotFound => ApiError::not_found(),
        ChangeError::Refused(refusal) => refusal.into(),
        ChangeError::Store(e) => e.into(),
    }
}

fn empty_ok() -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], "").into_response()
}

/// `POST /v3/signature_request/cancel/{id}`. Dropbox Sign queues the cancel and answers an empty 200;
/// here the cancel commits at once with its `signature_request_canceled` event (the callback still
/// arrives asynchronously), so a GET right after already shows it. Allowed while processing or sent.
pub async fn cancel(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    owned(&state, &account, &id).await?;
    state.store.change_signature_request(&id, |r| r.cancel(&account.id)).await.map_err(change_error)?;
    Ok(empty_ok())
}

#[derive(Deserialize)]
struct RemindParams {
    #[serde(default, deserialize_with = "lenient::string_opt")]
    email_address: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    name: Option<String>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `POST /v3/signature_request/remind/{id}`: one signer, not for embedded requests, not within an hour
/// of the last reminder.
pub async fn remind(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    let p: RemindParams = params.parse()?;
    let email = p
        .email_address
        .as_deref()
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| ApiError::missing("email_address"))?;
    let email = EmailAddress::parse(email, "email_address")?.as_str().to_owned();
    let name = p.name.clone();
    owned(&state, &account, &id).await?;
    let now = unix_now();
    let (request, _) = state
        .store
        .change_signature_request(&id, |r| r.remind(&email, name.as_deref(), now))
        .await
        .map_err(change_error)?;
    Ok(Reply::ok(json!({"signature_request": request.body})).with_warnings(ignored_warnings(p.other.keys())))
}

#[derive(Deserialize)]
struct UpdateParams {
    #[serde(default, deserialize_with = "lenient::string_opt")]
    signature_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    email_address: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    name: Option<String>,
    #[serde(default, deserialize_with = "lenient::u32_opt")]
    expires_at: Option<u32>,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `POST /v3/signature_request/update/{id}`: a signer's e-mail address (which issues a new
/// `signature_id`, so links made for the old address stop working), name, or the expiry.
pub async fn update(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Reply> {
    let p: UpdateParams = params.parse()?;
    let signature_id =
        p.signature_id.as_deref().filter(|s| !s.trim().is_empty()).ok_or_else(|| ApiError::missing("signature_id"))?;
    let email = match p.email_address.as_deref().filter(|e| !e.trim().is_empty()) {
        Some(e) => Some(EmailAddress::parse(e, "email_address")?.as_str().to_owned()),
        None => None,
    };
    let name = match p.name.as_deref().filter(|n| !n.trim().is_empty()) {
        Some(raw) => Some(parse_name(raw, "name", MAX_NAME_CHARS)?),
        None => None,
    };
    if email.is_none() && name.is_none() && p.expires_at.is_none() {
        return Err(ApiError::missing("email_address"));
    }
    let now = unix_now();
    let expires_at = parse_expires_at(p.expires_at, now)?;
    owned(&state, &account, &id).await?;
    let (request, _) = state
        .store
        .change_signature_request(&id, |r| r.update_signer(signature_id, email.as_deref(), name.as_deref(), expires_at))
        .await
        .map_err(change_error)?;
    Ok(Reply::ok(json!({"signature_request": request.body})).with_warnings(ignored_warnings(p.other.keys())))
}

/// `POST /v3/signature_request/remove/{id}`: the caller loses access to a completed (all signed or
/// declined) request.
pub async fn remove(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    owned(&state, &account, &id).await?;
    state.store.change_signature_request(&id, |r| r.remove()).await.map_err(change_error)?;
    Ok(empty_ok())
}

#[derive(Deserialize)]
struct FilesParams {
    #[serde(default, deserialize_with = "lenient::string_opt")]
    file_type: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    force_download: Option<bool>,
}

/// The request's documents, or 409 while they are being prepared.
async fn documents(state: &AppState, request: &SignatureRequest) -> ApiResult<Vec<(String, Vec<u8>)>> {
    if request.status == RequestStatus::Processing {
        return Err(ApiError::conflict("Files are still being processed. Please try again later."));
    }
    let mut out = Vec::new();
    for doc in state.store.documents_of(&request.id).await? {
        let Some(sha) = &doc.blob_sha256 else {
            return Err(ApiError::bad_request("This signature request's files could not be retrieved."));
        };
        let bytes = state.store.blob(sha).await?.ok_or_else(|| ApiError::unknown("a document blob is missing"))?;
        out.push((doc.file_name, bytes));
    }
    Ok(out)
}

/// All documents as one PDF.
fn merged_pdf(docs: Vec<(String, Vec<u8>)>) -> ApiResult<Vec<u8>> {
    if docs.len() == 1 {
        return Ok(docs.into_iter().next().map(|(_, b)| b).unwrap_or_default());
    }
    let parts: Vec<&[u8]> = docs.iter().map(|(_, b)| b.as_slice()).collect();
    countersign_pdf::merge(&parts).map_err(|e| ApiError::bad_request(format!("The files could not be merged: {e}")))
}

fn pdf_response(bytes: Vec<u8>, name: &str, download: bool) -> Response {
    let disposition = if download { "attachment" } else { "inline" };
    let name = name.replace(['"', '\\', '\r', '\n'], "_");
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/pdf")
        .header(header::CONTENT_DISPOSITION, format!("{disposition}; filename=\"{name}\""))
        .body(Body::from(bytes))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn download_name(request: &SignatureRequest, ext: &str) -> String {
    let base: String =
        request.body.title.chars().filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')).collect();
    let base = base.trim().trim_end_matches(".pdf").trim_end_matches(".PDF").to_owned();
    if base.is_empty() { format!("{}.{ext}", request.id) } else { format!("{base}.{ext}") }
}

/// `GET /v3/signature_request/files/{id}?file_type=pdf|zip`.
pub async fn files(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let p: FilesParams = Params::from_query(query.as_deref())?.parse()?;
    let request = owned(&state, &account, &id).await?;
    let kind = p.file_type.as_deref().unwrap_or("pdf");
    if !matches!(kind, "pdf" | "zip") {
        return Err(ApiError::bad_param("file_type", "file_type must be pdf or zip"));
    }
    let docs = documents(&state, &request).await?;
    if kind == "zip" {
        let zip = crate::zip::stored_zip(&docs);
        return Ok(Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/zip")
            .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}\"", download_name(&request, "zip")))
            .body(Body::from(zip))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()));
    }
    Ok(pdf_response(merged_pdf(docs)?, &download_name(&request, "pdf"), true))
}

/// `GET /v3/signature_request/files_as_data_uri/{id}`.
pub async fn files_as_data_uri(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let request = owned(&state, &account, &id).await?;
    let pdf = merged_pdf(documents(&state, &request).await?)?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(pdf);
    Ok(Reply::ok(json!({"data_uri": format!("data:application/pdf;base64,{encoded}")})))
}

/// `GET /v3/signature_request/files_as_file_url/{id}?force_download=1`: an expiring link on this server
/// that needs no credentials.
pub async fn files_as_file_url(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Reply> {
    let p: FilesParams = Params::from_query(query.as_deref())?.parse()?;
    let request = owned(&state, &account, &id).await?;
    if request.status == RequestStatus::Processing {
        return Err(ApiError::conflict("Files are still being processed. Please try again later."));
    }
    let expires = unix_now() + FILE_URL_LIFETIME_SECS;
    let token = state.links.token(&Link::Files { signature_request_id: &id, expires });
    let download = u8::from(p.force_download.unwrap_or(true));
    let url =
        format!("{}/files/{id}?expires={expires}&token={token}&force_download={download}", state.config.public_url);
    Ok(Reply::ok(json!({"file_url": url, "expires_at": expires})))
}

#[derive(Deserialize)]
struct FileLinkParams {
    #[serde(default, deserialize_with = "lenient::u32_opt")]
    expires: Option<u32>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    token: Option<String>,
    #[serde(default, deserialize_with = "lenient::bool_opt")]
    force_download: Option<bool>,
}

/// `GET /files/{id}?expires=&token=`: what a file URL points at.
pub async fn file_link(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Response> {
    let p: FileLinkParams = Params::from_query(query.as_deref())?.parse()?;
    let expires = i64::from(p.expires.unwrap_or(0));
    let token = p.token.unwrap_or_default();
    if !state.links.check(&Link::Files { signature_request_id: &id, expires }, &token, unix_now()) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "This link is either invalid or expired."));
    }
    let request = state.store.signature_request_state(&id).await?.ok_or_else(ApiError::not_found)?;
    visible(request.status, request.removed)?;
    let pdf = merged_pdf(documents(&state, &request).await?)?;
    Ok(pdf_response(pdf, &download_name(&request, "pdf"), p.force_download.unwrap_or(true)))
}

/// `GET /v3/signature_request/fields/{id}` (our extension): where processing placed each field.
pub async fn fields(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(id): Path<String>,
) -> ApiResult<Reply> {
    let request = owned(&state, &account, &id).await?;
    if request.status == RequestStatus::Processing {
        return Err(ApiError::conflict("The documents are still being processed. Please try again later."));
    }
    let signatures = &request.body.signatures;
    let fields: Vec<Value> = state
        .store
        .fields_of(&id)
        .await?
        .into_iter()
        .map(|f| {
            let signature_id = f.signer_index.and_then(|i| signatures.get(i as usize)).map(|s| s.signature_id.clone());
            json!({
                "api_id": f.api_id,
                "name": f.name,
                "type": f.field_type,
                "signer": f.signer_index.map_or_else(|| json!("sender"), |i| json!(i)),
                "signature_id": signature_id,
                "required": f.required,
                "document_index": f.document_index,
                "page": f.page,
                "x": f.x,
                "y": f.y,
                "width": f.width,
                "height": f.height,
                "validation_type": f.validation_type,
                "auto_fill": f.auto_fill,
                "source": f.source,
                "value": f.value,
            })
        })
        .collect();
    Ok(Reply::ok(json!({"signature_request_id": id, "fields": fields})))
}

/// `GET /v3/embedded/sign_url/{signature_id}`: a single-purpose, expiring link for one signer of an
/// embedded request, whose path contains `embeddedSign` as `hellosign-embedded` expects.
pub async fn sign_url(
    State(state): State<AppState>,
    Extension(account): Extension<Account>,
    Path(signature_id): Path<String>,
) -> ApiResult<Reply> {
    if !is_signature_id(&signature_id) {
        return Err(ApiError::not_found());
    }
    let owner = state.store.signature_owner(&signature_id).await?.ok_or_else(ApiError::not_found)?;
    if owner.account_id != account.id.as_str() {
        return Err(ApiError::not_found());
    }
    if owner.replaced {
        return Err(ApiError::deleted("This signer was replaced; use the new signature_id."));
    }
    if !owner.is_embedded {
        return Err(ApiError::bad_param("signature_id", "This signature request is not embedded."));
    }
    let request =
        state.store.signature_request_state(&owner.signature_request_id).await?.ok_or_else(ApiError::not_found)?;
    visible(request.status, request.removed)?;
    match request.status {
        RequestStatus::Processing => {
            return Err(ApiError::conflict(
                "The signature request is still being processed; wait for signature_request_sent.",
            ));
        }
        RequestStatus::Error => return Err(ApiError::bad_request("The signature request could not be processed.")),
        RequestStatus::Expired => return Err(ApiError::deleted("The signature request has expired.")),
        _ => {}
    }
    let signature = request.body.signatures.iter().find(|s| s.signature_id == signature_id);
    if signature.is_some_and(|s| SignatureStatus::of(&s.status_code) != Some(SignatureStatus::AwaitingSignature)) {
        return Err(ApiError::conflict("This signer has already signed or declined."));
    }
    let expires = unix_now() + SIGN_URL_LIFETIME_SECS;
    let token = state.links.token(&Link::Sign { signature_id: &signature_id, expires });
    let url = format!(
        "{}/editor/embeddedSign?signature_id={signature_id}&token={token}&expires_at={expires}",
        state.config.public_url
    );
    tracing::info!(signature_request_id = %request.id, signature_id = %signature_id, "embedded sign URL issued");
    Ok(Reply::ok(json!({"embedded": {"sign_url": url, "expires_at": expires}})))
}

#[derive(Deserialize)]
struct SignPageParams {
    #[serde(default, deserialize_with = "lenient::string_opt")]
    signature_id: Option<String>,
    #[serde(default, deserialize_with = "lenient::string_opt")]
    token: Option<String>,
    #[serde(default, deserialize_with = "lenient::u32_opt")]
    expires_at: Option<u32>,
}

/// `GET /editor/embeddedSign?signature_id=&token=&expires_at=`: the page behind an embedded sign URL.
/// Until signing is built it shows the document read-only; a canceled request answers 410.
pub async fn sign_page(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let invalid =
        || html::page(StatusCode::FORBIDDEN, "Link invalid", "<h1>This link is either invalid or expired.</h1>");
    let Ok(params) = Params::from_query(query.as_deref()) else { return invalid() };
    let Ok(p) = params.parse::<SignPageParams>() else { return invalid() };
    let (Some(signature_id), Some(token), Some(expires)) = (p.signature_id, p.token, p.expires_at) else {
        return invalid();
    };
    let expires = i64::from(expires);
    if !state.links.check(&Link::Sign { signature_id: &signature_id, expires }, &token, unix_now()) {
        return invalid();
    }
    let Ok(Some(owner)) = state.store.signature_owner(&signature_id).await else { return invalid() };
    let Ok(Some(request)) = state.store.signature_request_state(&owner.signature_request_id).await else {
        return invalid();
    };
    if owner.replaced || request.removed || matches!(request.status, RequestStatus::Canceled | RequestStatus::Expired) {
        return html::page(
            StatusCode::GONE,
            "Request closed",
            "<h1>This signature request is no longer available.</h1>",
        );
    }
    let file_expires = unix_now() + FILE_URL_LIFETIME_SECS;
    let file_token = state.links.token(&Link::Files { signature_request_id: &request.id, expires: file_expires });
    let file_url = format!("/files/{}?expires={file_expires}&token={file_token}&force_download=0", request.id);
    let signers: String = request
        .body
        .signatures
        .iter()
        .map(|s| {
            format!(
                "<li>{} &lt;{}&gt; — {}</li>",
                html::escape(&s.signer_name),
                html::escape(&s.signer_email_address),
                html::escape(&s.status_code)
            )
        })
        .collect();
    let body = format!(
        "<h1>{}</h1><p>Signature request <code>{}</code></p><ul>{signers}</ul><iframe title=\"Document\" src=\"{}\"></iframe>",
        html::escape(&request.body.title),
        html::escape(&request.id),
        html::escape(&file_url)
    );
    html::page(StatusCode::OK, &request.body.title, &body)
}

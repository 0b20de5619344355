//! `send` and `create_embedded`: every check a caller can see up front, then one transaction (the
//! request, its document bytes, signers and a `process_documents` job); the answer goes back at once.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use countersign_domain::account::Account;
use countersign_domain::email::EmailAddress;
use countersign_domain::ids::{ClientId, SignatureId, SignatureRequestId};
use countersign_domain::signature_request::{
    NewSigner, ProcessingOptions, Signature, SignatureRequestBody, check_metadata, parse_expires_at,
};
use countersign_domain::time::unix_now;
use countersign_store::signature_requests::{NewDocument, NewSignatureRequest};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::error::{ApiError, ApiResult};
use countersign_domain::lifecycle::SignatureStatus;
use countersign_domain::{MAX_NAME_CHARS, parse_name};

use crate::params::{Count, Flag, List, Object, Params, Text, UploadedFile, ignored_warnings, lenient};
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

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct CreateParams {
    title: Text,
    subject: Text,
    message: Text,
    client_id: Text,
    signers: List<SignerParams>,
    cc_email_addresses: List<String>,
    file_urls: List<String>,
    file_url: List<String>,
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
pub(super) fn document_parts(files: &[UploadedFile]) -> Vec<&UploadedFile> {
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

pub(super) fn file_name_of(part: &UploadedFile, index: usize) -> String {
    part.file_name
        .as_deref()
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("document-{}.pdf", index + 1))
}

pub(super) fn check_len(value: &Option<String>, max: usize, path: &str) -> ApiResult<()> {
    match value {
        Some(v) if v.chars().count() > max => {
            Err(ApiError::bad_param(path, format!("{path} may be at most {max} characters long")))
        }
        _ => Ok(()),
    }
}

pub(super) fn url_of(raw: &str, path: &str) -> ApiResult<String> {
    let url = url::Url::parse(raw.trim()).map_err(|_| ApiError::bad_param(path, format!("{raw:?} is not a URL")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ApiError::bad_param(path, format!("{raw:?} is not an http(s) URL")));
    }
    Ok(url.to_string())
}

/// The object's links, on this server.
pub(super) fn links(
    state: &AppState,
    id: &SignatureRequestId,
    embedded: bool,
) -> (String, Option<String>, String, String) {
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
pub(super) fn custom_fields_json(input: &[Value]) -> ApiResult<Vec<Value>> {
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
pub(super) const MAX_COORDINATE: f64 = 14_400.0;

/// Refuses, at once, form fields whose numbers could never place a field: not a number, not finite
/// (`"NaN"`, `"inf"`), negative, or beyond any page; and `required` values that are not booleans.
/// Whether a field fits its real page is known only once the document is read (`error_component_position`).
pub(super) fn check_form_field_numbers(form_fields: &[Value]) -> ApiResult<()> {
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

pub(super) fn parse_signers(params: Option<&Vec<SignerParams>>) -> ApiResult<Vec<NewSigner>> {
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
        if let Some(pin) = &s.pin.0
            && !(4..=12).contains(&pin.chars().count())
        {
            return Err(ApiError::bad_param(format!("signers[{i}][pin]"), "a PIN must be 4 to 12 characters long"));
        }
        out.push(NewSigner {
            name,
            email_address: email.as_str().to_owned(),
            order: s.order.map(i64::from),
            has_pin: s.pin.is_some(),
            sms_phone_number: s.sms_phone_number.0.clone(),
            sms_phone_number_type: s.sms_phone_number_type.0.clone(),
        });
    }
    Ok(out)
}

pub(super) async fn create(state: AppState, account: Account, params: Params, embedded: bool) -> ApiResult<Reply> {
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
    let metadata = p.metadata.0.clone().unwrap_or_default();
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
    let expires_at = parse_expires_at(p.expires_at.0, now)?;
    let custom_fields_in = p.custom_fields.0.clone().unwrap_or_default();
    let custom_fields = custom_fields_json(&custom_fields_in)?;
    let form_fields = p.form_fields_per_document.0.clone().unwrap_or_default();
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

    let id = SignatureRequestId::generate();
    let (files_url, signing_url, details_url, final_copy_uri) = links(&state, &id, embedded);
    let title = p.title.0.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| documents[0].file_name.clone());
    let signatures = signers
        .iter()
        .map(|s| Signature {
            signature_id: SignatureId::generate(),
            signer_group_guid: None,
            signer_email_address: s.email_address.clone(),
            signer_name: s.name.clone(),
            signer_role: None,
            order: s.order,
            status_code: SignatureStatus::AwaitingSignature,
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
        subject: p.subject.0.clone(),
        message: p.message.0.clone(),
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

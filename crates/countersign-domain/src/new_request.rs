//! A new signature request (`send`, `create_embedded`): every rule a caller can see before anything is
//! stored — signers, PINs, title lengths, metadata, expiry, custom and form fields, files XOR file URLs,
//! document limits — applied in one parse, [`NewSignatureRequest::parse`]. The API turns the body into
//! a [`RequestInput`] and checks what needs the database (the `client_id`); the store writes the result.

use serde_json::{Map, Value, json};

use crate::email::EmailAddress;
use crate::ids::{AccountId, ClientId, SignatureId, SignatureRequestId};
use crate::secrets::Pin;
use crate::signature_request::{
    DocumentLimits, FieldGroup, NewSigner, ProcessingOptions, Signature, SignatureRequestBody, SignatureStatus,
    SigningOptions, check_metadata, parse_expires_at,
};
use crate::{InvalidInput, MAX_NAME_CHARS, parse_bool, parse_name};

/// A signer as the caller sent it.
#[derive(Debug, Clone, Default)]
pub struct SignerInput {
    pub name: Option<String>,
    pub email_address: Option<String>,
    pub order: Option<u32>,
    pub pin: Option<String>,
    pub sms_phone_number: Option<String>,
    pub sms_phone_number_type: Option<String>,
}

/// An uploaded document, in the order the parts are meant.
#[derive(Debug, Clone)]
pub struct FileInput {
    /// The part's file name, as sent (a path is cut to its last segment).
    pub file_name: Option<String>,
    pub bytes: bytes::Bytes,
}

/// `send` / `create_embedded` as the caller sent it, each value already read as text, flag, number or
/// list.
#[derive(Debug, Clone, Default)]
pub struct RequestInput {
    pub title: Option<String>,
    pub subject: Option<String>,
    pub message: Option<String>,
    pub signers: Option<Vec<SignerInput>>,
    pub cc_email_addresses: Vec<String>,
    pub files: Vec<FileInput>,
    pub file_urls: Vec<String>,
    pub metadata: Option<Map<String, Value>>,
    pub test_mode: Option<bool>,
    pub use_text_tags: Option<bool>,
    pub hide_text_tags: Option<bool>,
    pub allow_decline: Option<bool>,
    pub allow_reassign: Option<bool>,
    pub signing_redirect_url: Option<String>,
    pub expires_at: Option<u32>,
    pub custom_fields: Vec<Value>,
    pub form_fields_per_document: Vec<Value>,
    /// `signing_options` as given (an object).
    pub signing_options: Option<Value>,
    pub form_field_groups: Vec<Value>,
    pub form_field_rules: Vec<Value>,
}

/// Who asks, and the server settings a new request depends on.
#[derive(Debug, Clone)]
pub struct Requester<'a> {
    pub account_id: &'a AccountId,
    pub email: &'a EmailAddress,
    /// The caller's API app, already checked to be theirs.
    pub client_id: Option<ClientId>,
    pub embedded: bool,
    /// This server's public base URL, for the links in the object.
    pub public_url: &'a str,
    pub limits: DocumentLimits,
    /// Unix seconds.
    pub now: i64,
}

/// One document of a new request: uploaded bytes, or a URL the worker fetches.
#[derive(Debug, Clone)]
pub struct NewDocument {
    pub file_name: String,
    pub bytes: Option<bytes::Bytes>,
    pub file_url: Option<String>,
}

/// A new request as accepted: what the store writes, and the object the caller gets back.
#[derive(Debug, Clone)]
pub struct NewSignatureRequest {
    pub account_id: AccountId,
    pub client_id: Option<String>,
    pub is_embedded: bool,
    pub body: SignatureRequestBody,
    pub options: ProcessingOptions,
    pub documents: Vec<NewDocument>,
    /// Each signer's PIN, in the order of `body.signatures` (the store keeps only a digest).
    pub pins: Vec<Option<Pin>>,
}

/// Something the caller should know about an accepted request (a `warnings[]` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub name: &'static str,
    pub message: String,
}

/// The largest coordinate or size accepted, in points: a PDF page is at most 14,400 units on a side.
pub const MAX_COORDINATE: f64 = 14_400.0;

/// The most signers one request may have.
pub const MAX_SIGNERS: usize = 100;

impl NewSignatureRequest {
    /// Applies every rule, in the order a caller meets them, and builds the request with fresh ids.
    pub fn parse(input: RequestInput, by: &Requester<'_>) -> Result<(Self, Vec<Notice>), InvalidInput> {
        if by.embedded && by.client_id.is_none() {
            return Err(InvalidInput::missing("client_id"));
        }
        let signers = parse_signers(input.signers.as_deref())?;
        Self::parse_for(input, by, &signers)
    }

    /// Every rule but the signers', for `signers` already checked ([`parse_signers`]); an unclaimed
    /// draft whose requester adds the signers later is checked with none.
    pub fn parse_for(
        input: RequestInput,
        by: &Requester<'_>,
        signers: &[NewSigner],
    ) -> Result<(Self, Vec<Notice>), InvalidInput> {
        if by.embedded && by.client_id.is_none() {
            return Err(InvalidInput::missing("client_id"));
        }
        check_len(&input.title, 255, "title")?;
        check_len(&input.subject, 255, "subject")?;
        check_len(&input.message, 5000, "message")?;
        let metadata = input.metadata.unwrap_or_default();
        check_metadata(&metadata)?;
        let mut cc = Vec::new();
        for (i, raw) in input.cc_email_addresses.iter().enumerate() {
            cc.push(EmailAddress::parse(raw, &format!("cc_email_addresses[{i}]"))?.as_str().to_owned());
        }
        let signing_redirect_url = match input.signing_redirect_url.as_deref().filter(|u| !u.trim().is_empty()) {
            Some(raw) => Some(url_of(raw, "signing_redirect_url")?),
            None => None,
        };
        let expires_at = parse_expires_at(input.expires_at, by.now)?;
        let custom_fields = custom_fields_json(&input.custom_fields)?;
        check_form_field_numbers(&input.form_fields_per_document)?;
        check_custom_regexes(&input.form_fields_per_document)?;
        let signing_options = parse_signing_options(input.signing_options.as_ref())?;
        let field_groups = parse_field_groups(&input.form_field_groups)?;
        if !input.form_field_rules.is_empty() {
            return Err(InvalidInput::new(
                "form_field_rules",
                "form_field_rules (conditional logic) are not supported by this server yet; send the request without them",
            ));
        }
        let documents = documents(&input.files, &input.file_urls, &by.limits)?;

        let mut notices = Vec::new();
        let use_text_tags = input.use_text_tags.unwrap_or(false);
        if use_text_tags
            && documents.iter().any(|d| !d.file_name.to_ascii_lowercase().ends_with(".pdf"))
            && documents.iter().any(|d| d.bytes.as_ref().is_some_and(|b| !b.starts_with(b"%PDF")))
        {
            notices.push(Notice {
                name: "non_pdf_text_tags",
                message: "Text tags are meant for PDF files; positions in other formats may be imprecise.".into(),
            });
        }

        for (i, field) in input.custom_fields.iter().enumerate() {
            if field.get("editor").is_some_and(|e| !e.is_null()) {
                // Editable merge fields name a template's signer role; a request sent without a template
                // has none, so the field stays the sender's (read-only), as it does on Dropbox Sign.
                notices.push(Notice {
                    name: "parameter_ignored",
                    message: format!(
                        "custom_fields[{i}][editor] applies to template signer roles; without a template the merge field stays read-only."
                    ),
                });
            }
        }
        let id = SignatureRequestId::generate();
        let links = Links::of(by.public_url, &id, by.embedded);
        let title =
            input.title.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| documents[0].file_name.clone());
        let signatures = signers.iter().map(new_signature).collect();
        let pins = signers.iter().map(|s| s.pin.clone()).collect();
        let body = SignatureRequestBody {
            test_mode: input.test_mode.unwrap_or(false),
            signature_request_id: id,
            requester_email_address: by.email.as_str().to_owned(),
            original_title: title.clone(),
            title,
            subject: input.subject,
            message: input.message,
            metadata,
            created_at: by.now,
            expires_at,
            is_complete: false,
            is_declined: false,
            has_error: false,
            files_url: links.files_url,
            signing_url: links.signing_url,
            details_url: links.details_url,
            cc_email_addresses: cc,
            signing_redirect_url,
            final_copy_uri: links.final_copy_uri,
            template_ids: None,
            custom_fields,
            attachments: Vec::new(),
            response_data: Vec::new(),
            signatures,
            bulk_send_job_id: None,
            allow_decline: input.allow_decline.unwrap_or(false),
            allow_reassign: input.allow_reassign.unwrap_or(false),
        };
        let options = ProcessingOptions {
            use_text_tags,
            hide_text_tags: input.hide_text_tags.unwrap_or(false),
            form_fields_per_document: input.form_fields_per_document,
            custom_fields: input.custom_fields,
            appended_signature_page: false,
            signing_options,
            field_groups,
            finalized: false,
            finalize_error: None,
            final_copy: None,
            template_fields: None,
            template_documents: None,
            hold: false,
        };
        let request = Self {
            account_id: by.account_id.clone(),
            client_id: by.client_id.as_ref().map(|c| c.as_str().to_owned()),
            is_embedded: by.embedded,
            body,
            options,
            documents,
            pins,
        };
        Ok((request, notices))
    }
}

impl NewSignatureRequest {
    /// The same request under an existing request's id and creation time: what `signature_request/edit*`
    /// puts in place of that request's content (the links follow the id).
    pub fn keep_id(&mut self, id: &SignatureRequestId, created_at: i64, public_url: &str) {
        let links = Links::of(public_url, id, self.is_embedded);
        let body = &mut self.body;
        body.signature_request_id = id.clone();
        body.created_at = created_at;
        body.files_url = links.files_url;
        body.signing_url = links.signing_url;
        body.details_url = links.details_url;
        body.final_copy_uri = links.final_copy_uri;
    }
}

/// The links a request's object carries.
struct Links {
    files_url: String,
    signing_url: Option<String>,
    details_url: String,
    final_copy_uri: String,
}

impl Links {
    fn of(base: &str, id: &SignatureRequestId, embedded: bool) -> Self {
        Self {
            files_url: format!("{base}/v3/signature_request/files/{id}"),
            // Non-embedded requests are signed on this server's own page (the signing issue); embedded
            // ones only through `embedded/sign_url`, as on Dropbox Sign.
            signing_url: (!embedded).then(|| format!("{base}/sign/{id}")),
            details_url: format!("{base}/home/manage?guid={id}"),
            final_copy_uri: format!("/v3/signature_request/final_copy/{id}"),
        }
    }
}

fn new_signature(s: &NewSigner) -> Signature {
    Signature {
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
    }
}

/// Signers: at least one, at most [`MAX_SIGNERS`], each with a name and a valid address, PINs of 4 to
/// 12 characters.
pub fn parse_signers(input: Option<&[SignerInput]>) -> Result<Vec<NewSigner>, InvalidInput> {
    let signers = input.filter(|s| !s.is_empty()).ok_or_else(|| InvalidInput::missing("signers"))?;
    if signers.len() > MAX_SIGNERS {
        return Err(InvalidInput::new("signers", format!("a request may have at most {MAX_SIGNERS} signers")));
    }
    let mut out = Vec::with_capacity(signers.len());
    for (i, s) in signers.iter().enumerate() {
        let name = s.name.as_deref().map(str::trim).filter(|n| !n.is_empty());
        let name = name.ok_or_else(|| InvalidInput::missing(&format!("signers[{i}][name]")))?;
        let name = parse_name(name, &format!("signers[{i}][name]"), MAX_NAME_CHARS)?;
        let email =
            s.email_address.as_deref().ok_or_else(|| InvalidInput::missing(&format!("signers[{i}][email_address]")))?;
        let email = EmailAddress::parse(email, &format!("signers[{i}][email_address]"))?;
        if let Some(pin) = &s.pin
            && !(4..=12).contains(&pin.chars().count())
        {
            return Err(InvalidInput::new(format!("signers[{i}][pin]"), "a PIN must be 4 to 12 characters long"));
        }
        out.push(NewSigner {
            name,
            email_address: email.as_str().to_owned(),
            order: s.order.map(i64::from),
            pin: s.pin.clone().map(Pin::new),
            has_pin: s.pin.is_some(),
            sms_phone_number: s.sms_phone_number.clone(),
            sms_phone_number_type: s.sms_phone_number_type.clone(),
        });
    }
    Ok(out)
}

pub(crate) fn check_len(value: &Option<String>, max: usize, path: &str) -> Result<(), InvalidInput> {
    match value {
        Some(v) if v.chars().count() > max => {
            Err(InvalidInput::new(path, format!("{path} may be at most {max} characters long")))
        }
        _ => Ok(()),
    }
}

/// An absolute http(s) URL.
pub fn url_of(raw: &str, path: &str) -> Result<String, InvalidInput> {
    let url = url::Url::parse(raw.trim()).map_err(|_| InvalidInput::new(path, format!("{raw:?} is not a URL")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(InvalidInput::new(path, format!("{raw:?} is not an http(s) URL")));
    }
    Ok(url.to_string())
}

/// Uploaded files XOR file URLs, at least one, within the limits.
pub(crate) fn documents(
    files: &[FileInput],
    urls: &[String],
    limits: &DocumentLimits,
) -> Result<Vec<NewDocument>, InvalidInput> {
    if !files.is_empty() && !urls.is_empty() {
        return Err(InvalidInput::new("file_urls", "Send either files or file_urls, not both."));
    }
    if files.is_empty() && urls.is_empty() {
        return Err(InvalidInput::missing("files"));
    }
    let count = files.len().max(urls.len());
    if count > limits.max_files {
        let path = if files.is_empty() { "file_urls" } else { "files" };
        return Err(InvalidInput::new(
            path,
            format!("A request may have at most {} documents; this one has {count}.", limits.max_files),
        ));
    }
    let mut documents = Vec::with_capacity(count);
    for (i, file) in files.iter().enumerate() {
        let path = format!("files[{i}]");
        if file.bytes.is_empty() {
            return Err(InvalidInput::new(path, "The file is empty."));
        }
        if file.bytes.len() > limits.max_file_bytes {
            return Err(InvalidInput::new(
                path,
                format!("The file is {} bytes; the limit is {} bytes.", file.bytes.len(), limits.max_file_bytes),
            ));
        }
        let name = file
            .file_name
            .as_deref()
            .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("document-{}.pdf", i + 1));
        documents.push(NewDocument { file_name: name, bytes: Some(file.bytes.clone()), file_url: None });
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
    Ok(documents)
}

/// Turns `custom_fields` input (`[{name, value, editor?, required?}]`) into the response's shape, where
/// a boolean value makes a `checkbox` field and anything else a `text` field.
pub fn custom_fields_json(input: &[Value]) -> Result<Vec<Value>, InvalidInput> {
    let mut out = Vec::with_capacity(input.len());
    for (i, field) in input.iter().enumerate() {
        let Value::Object(map) = field else {
            return Err(InvalidInput::new(format!("custom_fields[{i}]"), "each custom field must be an object"));
        };
        let name = match map.get("name") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
            _ => return Err(InvalidInput::missing(&format!("custom_fields[{i}][name]"))),
        };
        let (kind, value) = match map.get("value") {
            Some(Value::Bool(b)) => ("checkbox", json!(b)),
            Some(Value::String(s)) => ("text", json!(s)),
            Some(Value::Number(n)) => ("text", json!(n.to_string())),
            None | Some(Value::Null) => ("text", Value::Null),
            Some(_) => {
                return Err(InvalidInput::new(format!("custom_fields[{i}][value]"), "must be text or a boolean"));
            }
        };
        let mut entry = json!({"name": name, "type": kind, "value": value});
        if let Some(editor) = map.get("editor").and_then(Value::as_str) {
            entry["editor"] = json!(editor);
        }
        if let Some(raw) = map.get("required") {
            let required = parse_bool(raw)
                .map_err(|message| InvalidInput::new(format!("custom_fields[{i}][required]"), message))?;
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

/// Refuses, at once, form fields whose numbers could never place a field: not a number, not finite
/// (`"NaN"`, `"inf"`), negative, or beyond any page; and `required` values that are not booleans.
/// Whether a field fits its real page is known only once the document is read (`error_component_position`).
pub fn check_form_field_numbers(form_fields: &[Value]) -> Result<(), InvalidInput> {
    let mut fields: Vec<(String, &Map<String, Value>)> = Vec::new();
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
                    return Err(InvalidInput::new(at, format!("{key} must be between {min} and {max}; {n} is not")));
                }
                _ => return Err(InvalidInput::new(at, format!("{key} must be a finite number"))),
            }
        }
        if let Some(raw) = map.get("required") {
            parse_bool(raw).map_err(|message| InvalidInput::new(format!("{path}[required]"), message))?;
        }
    }
    Ok(())
}

/// `signing_options`: which ways of making a signature signers are offered. Phone signing is not
/// offered by this server, so options that allow nothing else are refused rather than ignored.
pub fn parse_signing_options(raw: Option<&Value>) -> Result<SigningOptions, InvalidInput> {
    let Some(raw) = raw.filter(|v| !v.is_null()) else { return Ok(SigningOptions::default()) };
    let Value::Object(map) = raw else {
        return Err(InvalidInput::new("signing_options", "signing_options must be an object"));
    };
    let flag = |key: &str| -> Result<bool, InvalidInput> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(false),
            Some(v) => parse_bool(v)
                .map(|b| b.unwrap_or(false))
                .map_err(|message| InvalidInput::new(format!("signing_options[{key}]"), message)),
        }
    };
    let (draw, typed, upload, phone) = (flag("draw")?, flag("type")?, flag("upload")?, flag("phone")?);
    if !(draw || typed || upload) {
        return Err(InvalidInput::new(
            "signing_options",
            "signing_options must allow draw, type or upload; signing by phone is not offered by this server",
        ));
    }
    let allowed = |t: &str| match t {
        "draw" => draw,
        "type" => typed,
        "upload" => upload,
        _ => false,
    };
    let default_type = match map.get("default_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.trim().to_ascii_lowercase()),
        Some(_) => return Err(InvalidInput::new("signing_options[default_type]", "must be draw, type or upload")),
    };
    let default_type = match default_type {
        Some(t) if allowed(&t) => t,
        Some(t) => {
            return Err(InvalidInput::new(
                "signing_options[default_type]",
                format!("default_type {t:?} is not one of the ways signing_options allows (draw, type, upload)"),
            ));
        }
        None => ["draw", "type", "upload"].into_iter().find(|t| allowed(t)).unwrap_or("draw").to_owned(),
    };
    Ok(SigningOptions { draw, typed, upload, phone, default_type })
}

/// `form_field_groups`: `[{group_id, group_label, requirement}]`.
pub fn parse_field_groups(raw: &[Value]) -> Result<Vec<FieldGroup>, InvalidInput> {
    let mut groups: Vec<FieldGroup> = Vec::new();
    for (i, entry) in raw.iter().enumerate() {
        let at = |key: &str| format!("form_field_groups[{i}][{key}]");
        let Value::Object(map) = entry else {
            return Err(InvalidInput::new(format!("form_field_groups[{i}]"), "each group must be an object"));
        };
        let text = |key: &str| match map.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let group_id = text("group_id").ok_or_else(|| InvalidInput::missing(&at("group_id")))?;
        let requirement = text("requirement").ok_or_else(|| InvalidInput::missing(&at("requirement")))?;
        let (least, most) = FieldGroup::requirement(&requirement).ok_or_else(|| {
            InvalidInput::new(
                at("requirement"),
                format!(
                    "requirement {requirement:?} is not one of require_0-1, require_1, require_1-ploral, require_0-ploral, require_N-M"
                ),
            )
        })?;
        if groups.iter().any(|g| g.group_id == group_id) {
            return Err(InvalidInput::new(at("group_id"), format!("group_id {group_id:?} is used twice")));
        }
        groups.push(FieldGroup { group_id, group_label: text("group_label").unwrap_or_default(), least, most });
    }
    Ok(groups)
}

/// Every `validation_custom_regex` must be a regular expression this server can check.
pub(crate) fn check_custom_regexes(form_fields: &[Value]) -> Result<(), InvalidInput> {
    let mut entries: Vec<(String, &Value)> = Vec::new();
    for (i, entry) in form_fields.iter().enumerate() {
        match entry {
            Value::Array(list) => {
                entries.extend(list.iter().enumerate().map(|(j, f)| (format!("form_fields_per_document[{i}][{j}]"), f)))
            }
            other => entries.push((format!("form_fields_per_document[{i}]"), other)),
        }
    }
    for (path, field) in entries {
        if let Some(Value::String(pattern)) = field.get("validation_custom_regex")
            && crate::signing::custom_regex(pattern).is_none()
        {
            return Err(InvalidInput::new(
                format!("{path}[validation_custom_regex]"),
                "validation_custom_regex is not a regular expression this server can check (look-around and back-references are not supported)",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requester<'a>(account: &'a AccountId, email: &'a EmailAddress) -> Requester<'a> {
        Requester {
            account_id: account,
            email,
            client_id: None,
            embedded: false,
            public_url: "https://sign.example.com",
            limits: DocumentLimits::default(),
            now: 1_700_000_000,
        }
    }

    fn input() -> RequestInput {
        RequestInput {
            signers: Some(vec![SignerInput {
                name: Some("Jill".into()),
                email_address: Some("jill@example.com".into()),
                ..SignerInput::default()
            }]),
            file_urls: vec!["https://files.example.com/nda.pdf".into()],
            ..RequestInput::default()
        }
    }

    #[test]
    fn a_minimal_request_gets_fresh_ids_links_and_a_title_from_its_file() {
        let (account, email) = (AccountId::generate(), EmailAddress::parse("me@example.com", "e").unwrap());
        let (request, notices) = NewSignatureRequest::parse(input(), &requester(&account, &email)).unwrap();
        let id = request.body.signature_request_id.as_str();
        assert_eq!(request.body.title, "nda.pdf");
        assert_eq!(request.body.files_url, format!("https://sign.example.com/v3/signature_request/files/{id}"));
        assert_eq!(request.body.signing_url.as_deref(), Some(format!("https://sign.example.com/sign/{id}").as_str()));
        assert_eq!(request.body.signatures[0].status_code, SignatureStatus::AwaitingSignature);
        assert_eq!(request.documents[0].file_url.as_deref(), Some("https://files.example.com/nda.pdf"));
        assert!(notices.is_empty());
        assert_eq!(request.pins, vec![None]);
    }

    #[test]
    fn an_editor_of_a_merge_field_without_a_template_is_warned_about() {
        let (account, email) = (AccountId::generate(), EmailAddress::parse("me@example.com", "e").unwrap());
        let mut i = input();
        i.custom_fields = vec![json!({"name": "company", "value": "ACME", "editor": "Client"})];
        let (_, notices) = NewSignatureRequest::parse(i, &requester(&account, &email)).unwrap();
        assert!(
            notices.iter().any(|n| n.name == "parameter_ignored" && n.message.contains("custom_fields[0][editor]"))
        );
    }

    #[test]
    fn each_rule_names_its_parameter() {
        let (account, email) = (AccountId::generate(), EmailAddress::parse("me@example.com", "e").unwrap());
        let by = requester(&account, &email);
        let refused = |change: fn(&mut RequestInput)| {
            let mut i = input();
            change(&mut i);
            NewSignatureRequest::parse(i, &by).unwrap_err().path
        };
        assert_eq!(refused(|i| i.signers = None), "signers");
        assert_eq!(refused(|i| i.signers.as_mut().unwrap()[0].pin = Some("123".into())), "signers[0][pin]");
        assert_eq!(refused(|i| i.title = Some("t".repeat(256))), "title");
        assert_eq!(refused(|i| i.expires_at = Some(1)), "expires_at");
        assert_eq!(refused(|i| i.file_urls.clear()), "files");
        assert_eq!(
            refused(|i| i.files = vec![FileInput { file_name: None, bytes: bytes::Bytes::from_static(b"%PDF") }]),
            "file_urls",
            "files and file_urls together"
        );
        assert_eq!(refused(|i| i.file_urls = vec!["ftp://x/y.pdf".into()]), "file_urls[0]");
        assert_eq!(refused(|i| i.cc_email_addresses = vec!["nope".into()]), "cc_email_addresses[0]");
        assert_eq!(
            refused(|i| i.form_fields_per_document = vec![json!([{"x": "NaN"}])]),
            "form_fields_per_document[0][0][x]"
        );
        assert_eq!(
            refused(|i| i.form_fields_per_document = vec![json!({"validation_custom_regex": "(?<=a)b"})]),
            "form_fields_per_document[0][validation_custom_regex]"
        );
        assert_eq!(refused(|i| i.signing_options = Some(json!({"phone": true}))), "signing_options");
        assert_eq!(
            refused(|i| i.signing_options = Some(json!({"draw": true, "default_type": "upload"}))),
            "signing_options[default_type]"
        );
        assert_eq!(
            refused(|i| i.form_field_groups = vec![json!({"group_id": "g", "requirement": "sometimes"})]),
            "form_field_groups[0][requirement]"
        );
        assert_eq!(refused(|i| i.form_field_rules = vec![json!({"id": "r"})]), "form_field_rules");
        let mut embedded = by.clone();
        embedded.embedded = true;
        assert_eq!(NewSignatureRequest::parse(input(), &embedded).unwrap_err().path, "client_id");
    }
}

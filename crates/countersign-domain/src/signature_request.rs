//! Signature requests: the object the API shows (`SignatureRequestResponse`, compat spec §6.3), the
//! request's lifecycle states, and the fields processing turns text tags and `form_fields_per_document`
//! into.
//!
//! The object is stored as the API shows it and changed only through the methods here, so every
//! response and every event carries the same, current shape.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::InvalidInput;
use crate::ids::{SignatureId, SignatureRequestId};

/// Where a request is in its life (the `status` column; the API shows it through `signatures[]`,
/// `is_complete`, `is_declined` and `has_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    /// Accepted; its documents are being processed.
    Processing,
    /// Processed and out for signature.
    Sent,
    /// Processed, but held (an unclaimed draft claimed with `hold_request`) until its sender releases
    /// it with `release_hold` (`signature_request_prepared` was sent).
    OnHold,
    /// Processing failed (`has_error`).
    Error,
    Canceled,
    Expired,
    Complete,
    Declined,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Sent => "sent",
            Self::OnHold => "on_hold",
            Self::Error => "error",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Complete => "complete",
            Self::Declined => "declined",
        }
    }

    /// The state in words, for messages: "A signature request that {describe} cannot be reminded."
    pub fn describe(self) -> &'static str {
        match self {
            Self::Processing => "is still being processed",
            Self::Sent => "is awaiting signature",
            Self::OnHold => "is on hold until its sender releases it",
            Self::Error => "failed processing",
            Self::Canceled => "was canceled",
            Self::Expired => "has expired",
            Self::Complete => "is complete",
            Self::Declined => "was declined",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Processing,
            Self::Sent,
            Self::OnHold,
            Self::Error,
            Self::Canceled,
            Self::Expired,
            Self::Complete,
            Self::Declined,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// Limits on the documents of one request (all configurable; DECISIONS.md "Documents").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocumentLimits {
    pub max_file_bytes: usize,
    pub max_files: usize,
    pub max_pages: usize,
    /// Most fields one request may have (text tags plus form fields).
    pub max_fields: usize,
}

impl Default for DocumentLimits {
    fn default() -> Self {
        Self { max_file_bytes: 40 * 1024 * 1024, max_files: 20, max_pages: 500, max_fields: 2000 }
    }
}

/// A signer's state (`signatures[].status_code`), stored and sent as its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureStatus {
    AwaitingSignature,
    OnHold,
    Signed,
    Declined,
    Expired,
    ErrorFile,
    ErrorTextTag,
    ErrorComponentPosition,
    ErrorUnknown,
}

impl SignatureStatus {
    pub const ALL: [SignatureStatus; 9] = [
        Self::AwaitingSignature,
        Self::OnHold,
        Self::Signed,
        Self::Declined,
        Self::Expired,
        Self::ErrorFile,
        Self::ErrorTextTag,
        Self::ErrorComponentPosition,
        Self::ErrorUnknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingSignature => "awaiting_signature",
            Self::OnHold => "on_hold",
            Self::Signed => "signed",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::ErrorFile => "error_file",
            Self::ErrorTextTag => "error_text_tag",
            Self::ErrorComponentPosition => "error_component_position",
            Self::ErrorUnknown => "error_unknown",
        }
    }

    pub fn of(status_code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == status_code)
    }

    /// Still to act: waiting for a signature, or for an earlier signer in order.
    pub fn is_open(self) -> bool {
        matches!(self, Self::AwaitingSignature | Self::OnHold)
    }
}

/// `signatures[]` of the response object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub signature_id: SignatureId,
    pub signer_group_guid: Option<String>,
    pub signer_email_address: String,
    pub signer_name: String,
    pub signer_role: Option<String>,
    pub order: Option<i64>,
    pub status_code: SignatureStatus,
    pub decline_reason: Option<String>,
    pub signed_at: Option<i64>,
    pub last_viewed_at: Option<i64>,
    pub last_reminded_at: Option<i64>,
    pub has_pin: bool,
    pub has_sms_auth: bool,
    pub has_sms_delivery: bool,
    pub sms_phone_number: Option<String>,
    pub reassigned_by: Option<String>,
    pub reassignment_reason: Option<String>,
    pub reassigned_from: Option<String>,
    pub error: Option<String>,
}

/// The `SignatureRequestResponse` object. Keys beyond the official schema (`allow_decline`,
/// `allow_reassign`) are ignored by the official SDKs and echo what the request was created with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignatureRequestBody {
    pub test_mode: bool,
    pub signature_request_id: SignatureRequestId,
    pub requester_email_address: String,
    pub title: String,
    pub original_title: String,
    pub subject: Option<String>,
    pub message: Option<String>,
    pub metadata: Map<String, Value>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub is_complete: bool,
    pub is_declined: bool,
    pub has_error: bool,
    pub files_url: String,
    pub signing_url: Option<String>,
    pub details_url: String,
    pub cc_email_addresses: Vec<String>,
    pub signing_redirect_url: Option<String>,
    pub final_copy_uri: String,
    pub template_ids: Option<Vec<String>>,
    pub custom_fields: Vec<Value>,
    pub attachments: Vec<Value>,
    pub response_data: Vec<Value>,
    pub signatures: Vec<Signature>,
    pub bulk_send_job_id: Option<String>,
    pub allow_decline: bool,
    pub allow_reassign: bool,
}

impl SignatureRequestBody {
    /// Marks the request as failed in processing: `has_error`, and every signature `status_code`.
    pub fn fail(&mut self, status_code: SignatureStatus, error: &str) {
        self.has_error = true;
        for s in &mut self.signatures {
            s.status_code = status_code;
            s.error = Some(error.to_owned());
        }
    }

    pub fn signature_mut(&mut self, signature_id: &SignatureId) -> Option<&mut Signature> {
        self.signatures.iter_mut().find(|s| &s.signature_id == signature_id)
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// A signer as the request names it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSigner {
    pub name: String,
    pub email_address: String,
    pub order: Option<i64>,
    pub pin: Option<crate::secrets::Pin>,
    pub has_pin: bool,
    pub sms_phone_number: Option<String>,
    pub sms_phone_number_type: Option<String>,
}

/// Metadata rules (compat spec §6.2): at most 10 keys, keys up to 40 characters, values (as JSON text)
/// up to 1,000 characters.
pub fn check_metadata(metadata: &Map<String, Value>) -> Result<(), InvalidInput> {
    if metadata.len() > 10 {
        return Err(InvalidInput::new("metadata", "metadata may have at most 10 keys"));
    }
    for (key, value) in metadata {
        if key.chars().count() > 40 {
            return Err(InvalidInput::new(
                format!("metadata[{key}]"),
                "metadata keys may be at most 40 characters long",
            ));
        }
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if text.chars().count() > 1000 {
            return Err(InvalidInput::new(
                format!("metadata[{key}]"),
                "metadata values may be at most 1000 characters long",
            ));
        }
    }
    Ok(())
}

/// `expires_at` must be 1 to 90 days ahead; it is rounded down to the hour (compat spec §6.2).
pub fn check_expires_at(expires_at: i64, now: i64) -> Result<i64, InvalidInput> {
    const DAY: i64 = 86_400;
    if expires_at < now + DAY || expires_at > now + 90 * DAY {
        return Err(InvalidInput::new("expires_at", "expires_at must be a unix time between 1 and 90 days from now"));
    }
    Ok(expires_at - expires_at.rem_euclid(3600))
}

/// `expires_at` as a request gives it: absent or `0` means the request never expires.
pub fn parse_expires_at(raw: Option<u32>, now: i64) -> Result<Option<i64>, InvalidInput> {
    match raw {
        Some(0) | None => Ok(None),
        Some(at) => check_expires_at(i64::from(at), now).map(Some),
    }
}

/// The field types the API knows (`form_fields_per_document[].type` and text tags).
pub const FIELD_TYPES: [&str; 10] = [
    "text",
    "checkbox",
    "date_signed",
    "initials",
    "signature",
    "text-merge",
    "checkbox-merge",
    "dropdown",
    "radio",
    "hyperlink",
];

/// A field placed on a document, from a text tag, `form_fields_per_document` or the appended signature
/// page. Coordinates are PDF points from the top-left corner of the page as displayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldSpec {
    pub document_index: i64,
    pub api_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub field_type: String,
    /// 0-based index into `signatures[]`; `None` for the sender (merge fields).
    pub signer_index: Option<i64>,
    pub required: bool,
    /// 1-based.
    pub page: i64,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub validation_type: Option<String>,
    pub auto_fill: Option<String>,
    /// `text_tag`, `form_fields_per_document` or `signature_page`.
    pub source: String,
    /// Set for merge fields (from `custom_fields`).
    pub value: Option<String>,
    /// What the signer page needs beyond the rectangle (dropdown options, group, date format, …).
    #[serde(default, skip_serializing_if = "FieldOptions::is_empty")]
    pub options: FieldOptions,
}

/// A field's settings from `form_fields_per_document` beyond its type and rectangle: what the signer page
/// shows and what signing checks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FieldOptions {
    /// A dropdown's choices.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// A dropdown's preselected choice, or a hyperlink's text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// A hyperlink's target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<String>,
    /// A text field whose value is hidden while typed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub masked: bool,
    /// The `form_field_groups` group of a radio button or checkbox.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// `field_options.date_format` of a date_signed field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_format: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_custom_regex: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_custom_regex_format_label: Option<String>,
    /// A checkbox or radio button checked at first.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub is_checked: bool,
}

impl FieldOptions {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// The date formats of `field_options.date_format` (Dropbox Sign's list); the first is the default.
pub const DATE_FORMATS: [&str; 6] =
    ["MM / DD / YYYY", "MM - DD - YYYY", "DD / MM / YYYY", "DD - MM - YYYY", "YYYY / MM / DD", "YYYY - MM - DD"];

/// How a signer may make a signature (`signing_options`); every way when not given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SigningOptions {
    pub draw: bool,
    #[serde(rename = "type")]
    pub typed: bool,
    pub upload: bool,
    /// Signing on a phone: not offered by this server; refused at create when it would be the only way.
    pub phone: bool,
    /// The way shown first: `draw`, `type` or `upload`.
    pub default_type: String,
}

impl Default for SigningOptions {
    fn default() -> Self {
        Self { draw: true, typed: true, upload: true, phone: false, default_type: "draw".into() }
    }
}

/// One `form_field_groups` entry: radio buttons or checkboxes that are answered together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldGroup {
    pub group_id: String,
    pub group_label: String,
    /// How many of the group must be filled: (least, most), from `requirement`
    /// (`require_0-1`, `require_1`, `require_1-ploral`, `require_0-ploral`, `require_2-5`, …).
    pub least: u32,
    pub most: Option<u32>,
}

impl FieldGroup {
    /// Parses a `requirement` value; `None` when it is not one.
    pub fn requirement(raw: &str) -> Option<(u32, Option<u32>)> {
        let rest = raw.trim().strip_prefix("require_")?;
        match rest.split_once('-') {
            None => rest.parse().ok().map(|n| (n, Some(n))),
            Some((least, "ploral" | "plural")) => least.parse().ok().map(|n| (n, None)),
            Some((least, most)) => {
                let (least, most) = (least.parse().ok()?, most.parse().ok()?);
                (least <= most).then_some((least, Some(most)))
            }
        }
    }
}

/// What processing needs besides the documents, stored with the request and not shown by the API.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessingOptions {
    pub use_text_tags: bool,
    pub hide_text_tags: bool,
    /// `form_fields_per_document` as given (validated when processed, against the real page count).
    pub form_fields_per_document: Vec<Value>,
    /// `custom_fields` as given: values for merge fields, by name or api_id.
    pub custom_fields: Vec<Value>,
    /// Whether signature-page fields were appended (no tags, no form fields).
    #[serde(default)]
    pub appended_signature_page: bool,
    /// Held once processed, until `release_hold` (a draft claimed with `hold_request`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hold: bool,
    /// How signers may make their signatures.
    #[serde(default)]
    pub signing_options: SigningOptions,
    /// `form_field_groups`: radio buttons and checkboxes answered together.
    #[serde(default)]
    pub field_groups: Vec<FieldGroup>,
    /// Whether the completed request's documents carry the signers' values (`files` serves them).
    #[serde(default)]
    pub finalized: bool,
    /// Why the signed copy could not be made, after the finalize job gave up (`unknown_error` was sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalize_error: Option<String>,
    /// The sealed final copy, once made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_copy: Option<FinalCopy>,
    /// For a request sent from templates: the templates' placed fields, already mapped onto this
    /// request's documents and signers (processing reads the documents for their pages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_fields: Option<Vec<FieldSpec>>,
    /// For a request sent from templates with files appended (`files[]`): how many of its documents
    /// are the templates'. The text tags of the others are read; a tag for a signer the request does
    /// not have is left out, as on Dropbox Sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_documents: Option<usize>,
}

/// The sealed final copy of a completed request: every document stamped with the signers' values,
/// the audit trail appended, and the instance's PAdES seal over it all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FinalCopy {
    /// SHA-256 (and blob) of the sealed PDF with every document, in order (what `files` serves).
    pub sha256: String,
    /// SHA-256 of the stamped documents (as one PDF) before the audit trail and the seal were added.
    pub stamped_sha256: String,
    /// Each document's own sealed copy (what `files?file_type=zip` serves).
    pub documents: Vec<FinalDocument>,
    /// When it was sealed, unix seconds.
    pub sealed_at: i64,
    /// SHA-256 of the sealing certificate (DER), hex.
    pub certificate_sha256: String,
    /// The seal's `/SubFilter`.
    pub sub_filter: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FinalDocument {
    pub document_index: i64,
    /// SHA-256 of the original file.
    pub original_sha256: String,
    /// SHA-256 of this document stamped, before its audit trail and seal.
    pub stamped_sha256: String,
    /// SHA-256 (and blob) of this document's sealed copy.
    pub sha256: String,
}

/// The error class of a processing failure: the event it fires and the `status_code` it gives every
/// signature (DECISIONS.md, "Documents"; compat spec §1.2, §7.5).
#[derive(Debug, Clone, PartialEq)]
pub enum ProcessingFailure {
    /// Unreadable or unsupported file, or a malformed text tag → `file_error`, `error_file`.
    File(String),
    /// A well-formed tag or field that cannot be placed (unknown signer) → `signature_request_invalid`,
    /// `error_text_tag`.
    TextTag(String),
    /// A form field outside its page → `signature_request_invalid`, `error_component_position`.
    ComponentPosition(String),
    /// Anything unexpected → `unknown_error`, `error_unknown`.
    Unknown(String),
}

impl ProcessingFailure {
    pub fn status_code(&self) -> SignatureStatus {
        match self {
            Self::File(_) => SignatureStatus::ErrorFile,
            Self::TextTag(_) => SignatureStatus::ErrorTextTag,
            Self::ComponentPosition(_) => SignatureStatus::ErrorComponentPosition,
            Self::Unknown(_) => SignatureStatus::ErrorUnknown,
        }
    }

    pub fn event_type(&self) -> countersign_callback::EventType {
        use countersign_callback::EventType;
        match self {
            Self::File(_) => EventType::FileError,
            Self::TextTag(_) | Self::ComponentPosition(_) => EventType::SignatureRequestInvalid,
            Self::Unknown(_) => EventType::UnknownError,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::File(m) | Self::TextTag(m) | Self::ComponentPosition(m) | Self::Unknown(m) => m,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn expiry_is_rounded_down_to_the_hour_and_bounded() {
        let now = 1_800_000_000;
        assert_eq!(check_expires_at(now + 2 * 86_400 + 1234, now).unwrap() % 3600, 0);
        assert!(check_expires_at(now + 2 * 86_400 + 1234, now).unwrap() <= now + 2 * 86_400 + 1234);
        assert!(check_expires_at(now + 3600, now).is_err());
        assert!(check_expires_at(now + 91 * 86_400, now).is_err());
    }

    #[test]
    fn metadata_limits_name_the_key() {
        let mut m = Map::new();
        m.insert("k".repeat(41), json!("v"));
        assert_eq!(check_metadata(&m).unwrap_err().path, format!("metadata[{}]", "k".repeat(41)));
        let mut m = Map::new();
        m.insert("k".into(), json!("v".repeat(1001)));
        assert!(check_metadata(&m).is_err());
        let m: Map<String, Value> = (0..11).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(check_metadata(&m).is_err());
        let m: Map<String, Value> = (0..10).map(|i| (format!("k{i}"), json!({"n": i}))).collect();
        assert!(check_metadata(&m).is_ok());
    }

    #[test]
    fn failures_map_to_events_and_status_codes() {
        let f = ProcessingFailure::TextTag("x".into());
        assert_eq!(f.event_type().as_str(), "signature_request_invalid");
        assert_eq!(f.status_code(), SignatureStatus::ErrorTextTag);
        assert_eq!(ProcessingFailure::File("x".into()).event_type().as_str(), "file_error");
        assert_eq!(ProcessingFailure::Unknown("x".into()).event_type().as_str(), "unknown_error");
    }
}

/// `list?query=`: Dropbox Sign's search syntax (developers.hellosign.com/api/reference/search/).
/// Terms are `word` or `field:value` (`field:"two words"`), joined by `AND` (also implied by a space)
/// and `OR` (`AND` binds tighter). A bare word matches the title, subject, message, signers (e-mail and
/// name), the requester, metadata and file names; fields narrow it: `title`, `subject`, `message`, `to`,
/// `from` (`from:me` is the caller), `metadata`, `filename`, `complete`, `declined`, `error`,
/// `test_mode` (`true`/`false`). Matching is a case-insensitive substring match. An unknown field
/// makes the whole `field:value` a bare word.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchQuery {
    /// OR of ANDs.
    groups: Vec<Vec<Term>>,
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Any(String),
    Field(&'static str, String),
}

const SEARCH_FIELDS: [&str; 11] =
    ["title", "subject", "message", "to", "from", "metadata", "filename", "complete", "declined", "error", "test_mode"];

fn tokenize(query: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in query.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

impl SearchQuery {
    pub fn parse(query: &str) -> Self {
        let mut groups = vec![Vec::new()];
        for token in tokenize(query) {
            match token.as_str() {
                "OR" => groups.push(Vec::new()),
                "AND" => {}
                _ => {
                    let term = match token.split_once(':') {
                        Some((field, value)) => {
                            let field = field.to_ascii_lowercase();
                            match SEARCH_FIELDS.iter().find(|f| **f == field) {
                                Some(f) => Term::Field(f, value.to_lowercase()),
                                None => Term::Any(token.to_lowercase()),
                            }
                        }
                        None => Term::Any(token.to_lowercase()),
                    };
                    if let Some(group) = groups.last_mut() {
                        group.push(term);
                    }
                }
            }
        }
        groups.retain(|g| !g.is_empty());
        Self { groups }
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether the request matches; `me` is the caller's e-mail address (for `from:me`).
    pub fn matches(&self, body: &SignatureRequestBody, file_names: &[String], me: &str) -> bool {
        if self.groups.is_empty() {
            return true;
        }
        let has = |text: &str, needle: &str| text.to_lowercase().contains(needle);
        let metadata = Value::Object(body.metadata.clone()).to_string();
        let to = |needle: &str| {
            body.signatures.iter().any(|s| has(&s.signer_email_address, needle) || has(&s.signer_name, needle))
        };
        let from = |needle: &str| {
            (needle == "me" && body.requester_email_address.eq_ignore_ascii_case(me))
                || has(&body.requester_email_address, needle)
        };
        let flag = |value: bool, needle: &str| match needle {
            "true" | "1" | "yes" => value,
            "false" | "0" | "no" => !value,
            _ => false,
        };
        let term_matches = |term: &Term| match term {
            Term::Any(n) => {
                has(&body.title, n)
                    || body.subject.as_deref().is_some_and(|s| has(s, n))
                    || body.message.as_deref().is_some_and(|s| has(s, n))
                    || to(n)
                    || from(n)
                    || has(&metadata, n)
                    || file_names.iter().any(|f| has(f, n))
            }
            Term::Field("title", n) => has(&body.title, n),
            Term::Field("subject", n) => body.subject.as_deref().is_some_and(|s| has(s, n)),
            Term::Field("message", n) => body.message.as_deref().is_some_and(|s| has(s, n)),
            Term::Field("to", n) => to(n),
            Term::Field("from", n) => from(n),
            Term::Field("metadata", n) => has(&metadata, n),
            Term::Field("filename", n) => file_names.iter().any(|f| has(f, n)),
            Term::Field("complete", n) => flag(body.is_complete, n),
            Term::Field("declined", n) => flag(body.is_declined, n),
            Term::Field("error", n) => flag(body.has_error, n),
            Term::Field("test_mode", n) => flag(body.test_mode, n),
            Term::Field(_, _) => false,
        };
        self.groups.iter().any(|group| group.iter().all(term_matches))
    }
}

#[cfg(test)]
pub(crate) mod search_tests {
    use super::*;

    pub(crate) fn body() -> SignatureRequestBody {
        serde_json::from_str(
            r#"{
            "test_mode": true, "signature_request_id": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "requester_email_address": "me@example.com",
            "title": "Field Trip Release", "original_title": "Field Trip Release", "subject": "Please sign",
            "message": "Thanks", "metadata": {"ref": "Order-77"}, "created_at": 1, "expires_at": null,
            "is_complete": false, "is_declined": false, "has_error": false, "files_url": "", "signing_url": null,
            "details_url": "", "cc_email_addresses": [], "signing_redirect_url": null, "final_copy_uri": "",
            "template_ids": null, "custom_fields": [], "attachments": [], "response_data": [],
            "signatures": [{"signature_id": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "signer_group_guid": null, "signer_email_address": "jill@example.com",
              "signer_name": "Jill Zed", "signer_role": null, "order": null, "status_code": "awaiting_signature",
              "decline_reason": null, "signed_at": null, "last_viewed_at": null, "last_reminded_at": null, "has_pin": false,
              "has_sms_auth": false, "has_sms_delivery": false, "sms_phone_number": null, "reassigned_by": null,
              "reassignment_reason": null, "reassigned_from": null, "error": null}],
            "bulk_send_job_id": null, "allow_decline": false, "allow_reassign": false
        }"#,
        )
        .unwrap()
    }

    #[test]
    fn dropbox_search_syntax() {
        let b = body();
        let files = vec!["permission-slip.pdf".to_owned()];
        let m = |q: &str| SearchQuery::parse(q).matches(&b, &files, "me@example.com");
        assert!(m("title:\"Field Trip\" AND from:me"));
        assert!(m("title:Field Trip"), "a space is an implied AND; 'Trip' is in the title");
        assert!(m("to:jill@example.com") && m("to:zed") && m("Zed"));
        assert!(m("complete:false") && !m("complete:true"));
        assert!(m("subject:please") && m("message:thanks") && m("metadata:order-77") && m("filename:slip"));
        assert!(m("nothing OR order-77"));
        assert!(!m("title:contract") && !m("from:other@example.com"));
        assert!(m("unknownfield:x OR jill"), "an unknown field is a bare word");
        assert!(m(""));
    }
}

/// Where a `form_fields_per_document` entry lands, in points from the top-left corner of its page
/// (Dropbox Sign's help article "How to use the Form_Fields_Per_Document parameter"): with `page`, `x`
/// and `y` are 72-DPI points on that page; without it, the legacy 80-DPI system stacks the pages one
/// under the other (`y` runs on through the pages) and `x` starts at 100 on portrait pages. `width` and
/// `height` are 80-DPI pixels in both systems.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Placement {
    /// On `page` (1-based), wholly inside it.
    Fits { page: i64, x: f64, y: f64, width: f64, height: f64 },
    /// On `page`, cut at the page's edge (answered with a `form_fields_placement` warning).
    Clipped { page: i64, x: f64, y: f64, width: f64, height: f64 },
    /// Not on any page (`error_component_position`).
    Off,
}

/// Points per 80-DPI pixel.
pub const LEGACY_PIXEL: f64 = 72.0 / 80.0;

/// Places a field given in Dropbox Sign's units on a document whose pages are `pages` (width, height in
/// points).
pub fn place_form_field(x: f64, y: f64, width: f64, height: f64, page: Option<i64>, pages: &[(f64, f64)]) -> Placement {
    let (width, height) = (width * LEGACY_PIXEL, height * LEGACY_PIXEL);
    let (page, x, y) = match page {
        Some(page) => (page, x, y),
        None => {
            // Legacy: find the page the stacked y falls on.
            let mut top = 0.0;
            let mut found = None;
            for (i, (w, h)) in pages.iter().enumerate() {
                let tall = h / LEGACY_PIXEL;
                if y < top + tall {
                    let left = if h >= w { 100.0 } else { 0.0 };
                    found = Some((i as i64 + 1, (x - left) * LEGACY_PIXEL, (y - top) * LEGACY_PIXEL));
                    break;
                }
                top += tall;
            }
            match found {
                Some(found) => found,
                None => return Placement::Off,
            }
        }
    };
    let Some(&(page_w, page_h)) = usize::try_from(page - 1).ok().and_then(|i| pages.get(i)) else {
        return Placement::Off;
    };
    if width <= 0.0 || height <= 0.0 || x >= page_w || y >= page_h || x + width <= 0.0 || y + height <= 0.0 {
        return Placement::Off;
    }
    let (x0, y0) = (x.max(0.0), y.max(0.0));
    let (x1, y1) = ((x + width).min(page_w), (y + height).min(page_h));
    let clipped = (x0, y0, x1, y1) != (x, y, x + width, y + height);
    let (x, y, width, height) = (x0, y0, x1 - x0, y1 - y0);
    if clipped {
        Placement::Clipped { page, x, y, width, height }
    } else {
        Placement::Fits { page, x, y, width, height }
    }
}

#[cfg(test)]
mod placement_tests {
    use super::*;

    const LETTER: (f64, f64) = (612.0, 792.0);

    #[test]
    fn with_a_page_x_and_y_are_points_and_sizes_are_80_dpi_pixels() {
        // The article's example: two 100-point fields that touch at the corners are asked as 111 px.
        let first = place_form_field(0.0, 0.0, 111.0, 111.0, Some(1), &[LETTER, LETTER]);
        let Placement::Fits { page: 1, x, y, width, height } = first else { panic!("{first:?}") };
        assert_eq!((x, y), (0.0, 0.0));
        assert!((width - 99.9).abs() < 0.01 && (height - 99.9).abs() < 0.01);
        // "x 10, y 10 and page 2": near the top-left corner of the second page.
        assert!(matches!(
            place_form_field(10.0, 10.0, 100.0, 20.0, Some(2), &[LETTER, LETTER]),
            Placement::Fits { page: 2, x: 10.0, y: 10.0, .. }
        ));
    }

    #[test]
    fn without_a_page_the_legacy_system_stacks_pages_at_80_dpi() {
        // A letter page is 880 px tall at 80 DPI; y 980 is 100 px down the second page; x starts at 100.
        let placed = place_form_field(200.0, 980.0, 100.0, 20.0, None, &[LETTER, LETTER]);
        let Placement::Fits { page, x, y, .. } = placed else { panic!("{placed:?}") };
        assert_eq!(page, 2);
        assert!((x - 90.0).abs() < 1e-9 && (y - 90.0).abs() < 1e-9, "{placed:?}");
        assert_eq!(place_form_field(200.0, 2000.0, 100.0, 20.0, None, &[LETTER, LETTER]), Placement::Off);
    }

    #[test]
    fn overflowing_fields_are_clipped_and_fields_off_the_page_are_off() {
        let placed = place_form_field(550.0, 700.0, 100.0, 200.0, Some(1), &[LETTER]);
        let Placement::Clipped { x, y, width, height, .. } = placed else { panic!("{placed:?}") };
        assert_eq!((x, y, width, height), (550.0, 700.0, 62.0, 92.0));
        assert_eq!(place_form_field(700.0, 10.0, 10.0, 10.0, Some(1), &[LETTER]), Placement::Off);
        assert_eq!(place_form_field(10.0, 10.0, 10.0, 10.0, Some(3), &[LETTER]), Placement::Off);
    }
}

/// One `form_fields_per_document` entry: the flat list of the current API (`document_index` on each
/// field) or the older list of lists (one list per document).
#[derive(Debug)]
pub struct FormFieldEntry<'a> {
    pub document_index: usize,
    pub field: &'a Map<String, Value>,
    /// Where it was given, for messages: `form_fields_per_document[2]`.
    pub path: String,
}

/// The entries of `form_fields_per_document`, or the path of one that is not an object.
pub fn form_field_entries(form_fields: &[Value]) -> Result<Vec<FormFieldEntry<'_>>, String> {
    let mut entries = Vec::new();
    for (i, entry) in form_fields.iter().enumerate() {
        match entry {
            Value::Object(field) => {
                let document_index = field_number(field, "document_index").unwrap_or(0.0) as usize;
                entries.push(FormFieldEntry { document_index, field, path: format!("form_fields_per_document[{i}]") });
            }
            Value::Array(list) => {
                for (j, item) in list.iter().enumerate() {
                    let Value::Object(field) = item else {
                        return Err(format!("form_fields_per_document[{i}][{j}]"));
                    };
                    entries.push(FormFieldEntry {
                        document_index: i,
                        field,
                        path: format!("form_fields_per_document[{i}][{j}]"),
                    });
                }
            }
            _ => return Err(format!("form_fields_per_document[{i}]")),
        }
    }
    Ok(entries)
}

/// A finite number from a form field (JSON number or text).
pub fn field_number(field: &Map<String, Value>, key: &str) -> Option<f64> {
    match field.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

/// Where a form field lands on documents whose page sizes are known (`None` for a document not read).
pub fn place_entry(entry: &FormFieldEntry<'_>, pages: &[(f64, f64)]) -> Placement {
    let n = |key| field_number(entry.field, key);
    place_form_field(
        n("x").unwrap_or(0.0),
        n("y").unwrap_or(0.0),
        n("width").unwrap_or(0.0),
        n("height").unwrap_or(0.0),
        n("page").map(|p| p as i64),
        pages,
    )
}

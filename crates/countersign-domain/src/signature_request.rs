//! Signature requests: the object the API shows (`SignatureRequestResponse`, compat spec §6.3), the
//! request's lifecycle states, and the fields processing turns text tags and `form_fields_per_document`
//! into.
//!
//! The object is stored as the API shows it and changed only through the methods here, so every
//! response and every event carries the same, current shape.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::InvalidInput;
use crate::ids::random_hex;

/// Where a request is in its life (the `status` column; the API shows it through `signatures[]`,
/// `is_complete`, `is_declined` and `has_error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestStatus {
    /// Accepted; its documents are being processed.
    Processing,
    /// Processed and out for signature.
    Sent,
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
            Self::Error => "error",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Complete => "complete",
            Self::Declined => "declined",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Processing, Self::Sent, Self::Error, Self::Canceled, Self::Expired, Self::Complete, Self::Declined]
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

/// New signature request ids: 40 lowercase hex, as Dropbox Sign's.
pub fn new_signature_request_id() -> String {
    random_hex(20)
}

/// New signature ids (one per signer): 32 lowercase hex.
pub fn new_signature_id() -> String {
    random_hex(16)
}

pub fn is_signature_request_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub fn is_signature_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// `signatures[]` of the response object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub signature_id: String,
    pub signer_group_guid: Option<String>,
    pub signer_email_address: String,
    pub signer_name: String,
    pub signer_role: Option<String>,
    pub order: Option<i64>,
    pub status_code: String,
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
    pub signature_request_id: String,
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
    /// Marks every signature not yet final with `status_code` (processing errors, expiry).
    pub fn set_open_signatures(&mut self, status_code: &str) {
        for s in &mut self.signatures {
            if matches!(s.status_code.as_str(), "awaiting_signature" | "on_hold") {
                s.status_code = status_code.to_owned();
            }
        }
    }

    /// Marks the request as failed in processing: `has_error`, and every signature `status_code`.
    pub fn fail(&mut self, status_code: &str, error: &str) {
        self.has_error = true;
        for s in &mut self.signatures {
            s.status_code = status_code.to_owned();
            s.error = Some(error.to_owned());
        }
    }

    pub fn signature_mut(&mut self, signature_id: &str) -> Option<&mut Signature> {
        self.signatures.iter_mut().find(|s| s.signature_id == signature_id)
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
    pub fn status_code(&self) -> &'static str {
        match self {
            Self::File(_) => "error_file",
            Self::TextTag(_) => "error_text_tag",
            Self::ComponentPosition(_) => "error_component_position",
            Self::Unknown(_) => "error_unknown",
        }
    }

    pub fn event_type(&self) -> crate::callback::EventType {
        use crate::callback::EventType;
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
        assert_eq!(f.status_code(), "error_text_tag");
        assert_eq!(ProcessingFailure::File("x".into()).event_type().as_str(), "file_error");
        assert_eq!(ProcessingFailure::Unknown("x".into()).event_type().as_str(), "unknown_error");
    }
}

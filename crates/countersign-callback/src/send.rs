//! The sending side (feature `sender`, which the server enables): the event as a state change makes it,
//! the frozen `json` payload with its `event_hash`, the `Content-MD5` digest, the multipart body and new
//! event ids. A receiver does not need any of it.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::Value;

use crate::{EventType, event_hash};

/// Fill `buf` from the operating system's random source (every secret depends on it, so a failure
/// aborts loudly).
pub(crate) fn fill_random(buf: &mut [u8]) {
    if let Err(err) = getrandom::fill(buf) {
        panic!("the operating system's random source failed: {err}");
    }
}

/// The object an event carries beside `event` (none for `callback_test`).
#[derive(Debug, Clone, PartialEq)]
pub enum EventObject {
    SignatureRequest(Value),
    Template(Value),
    Account(Value),
}

/// An event as a state change produces it. The store gives it its id, time, sequence and deliveries in
/// the same transaction as the change.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_type: EventType,
    pub signature_request_id: Option<String>,
    /// The template a template event is about.
    pub template_id: Option<String>,
    /// The API app the request was made with: its callback URL gets the event too.
    pub client_id: Option<String>,
    pub related_signature_id: Option<String>,
    pub event_message: Option<String>,
    pub object: Option<EventObject>,
}

impl NewEvent {
    /// A `callback_test` event: only `event`, for the account's URL or (with `client_id`) an app's.
    pub fn callback_test(client_id: Option<String>) -> Self {
        Self {
            event_type: EventType::CallbackTest,
            signature_request_id: None,
            template_id: None,
            client_id,
            related_signature_id: None,
            event_message: None,
            object: None,
        }
    }
}

/// Which URL a delivery goes to: the account's callback URL, or an app's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Account,
    App,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Account => "account",
            Self::App => "app",
        }
    }
}

/// Everything the payload is built from, as frozen at commit.
pub struct PayloadInput<'a> {
    pub event_id: &'a str,
    pub event_type: EventType,
    pub event_time: i64,
    pub event_sequence: Option<i64>,
    pub account_id: &'a str,
    pub client_id: Option<&'a str>,
    pub related_signature_id: Option<&'a str>,
    pub event_message: Option<&'a str>,
    pub object: Option<&'a EventObject>,
    pub target: Target,
}

#[derive(Serialize)]
struct Payload<'a> {
    event: EventPart<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account_guid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<Option<&'a str>>,
    event_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    event_sequence: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    signature_request: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    template: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    account: Option<&'a Value>,
}

/// Key order as Dropbox Sign sends it: `event_type, event_time, event_hash, event_metadata`.
#[derive(Serialize)]
struct EventPart<'a> {
    event_type: &'static str,
    event_time: String,
    event_hash: String,
    event_metadata: Metadata<'a>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    related_signature_id: Option<&'a str>,
    reported_for_account_id: Option<&'a str>,
    reported_for_app_id: Option<&'a str>,
    event_message: Option<&'a str>,
}

/// The JSON text of the `json` field for one delivery. `api_key` is the key of the callback URL's owner:
/// the account's for its URL, the app owner's for an app's URL (the one key that app knows).
///
/// `reported_for_app_id` is set only for the app's delivery, so `get_callback_type` tells them apart;
/// `callback_test` carries only `event` (and our `event_id`).
pub fn payload_json(input: &PayloadInput<'_>, api_key: &str) -> String {
    let event_time = input.event_time.to_string();
    let is_test = input.event_type == EventType::CallbackTest;
    let (signature_request, template, account) = match input.object {
        Some(EventObject::SignatureRequest(v)) => (Some(v), None, None),
        Some(EventObject::Template(v)) => (None, Some(v), None),
        Some(EventObject::Account(v)) => (None, None, Some(v)),
        None => (None, None, None),
    };
    let payload = Payload {
        event: EventPart {
            event_type: input.event_type.as_str(),
            event_hash: event_hash(api_key, &event_time, input.event_type.as_str()),
            event_time,
            event_metadata: Metadata {
                related_signature_id: input.related_signature_id,
                reported_for_account_id: Some(input.account_id),
                reported_for_app_id: if input.target == Target::App { input.client_id } else { None },
                event_message: input.event_message,
            },
        },
        account_guid: (!is_test).then_some(input.account_id),
        client_id: (!is_test).then_some(input.client_id),
        event_id: input.event_id,
        event_sequence: input.event_sequence,
        signature_request,
        template,
        account,
    };
    serde_json::to_string(&payload).expect("a payload of strings, numbers and JSON values serializes")
}

/// `Content-MD5` = base64(lowercase hex(HMAC-MD5(API key, json text))), as Dropbox Sign sends it.
pub fn content_md5(api_key: &str, json: &str) -> String {
    let mut mac =
        <Hmac<md5::Md5> as KeyInit>::new_from_slice(api_key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(json.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hex::encode(mac.finalize().into_bytes()))
}

/// The boundary of a delivery's multipart body: fixed per delivery, so every attempt sends the same bytes.
pub fn multipart_boundary(delivery_id: &str) -> String {
    let tail: String = delivery_id.chars().filter(char::is_ascii_alphanumeric).collect();
    format!("------------------------{tail}")
}

/// `multipart/form-data` with one part, `json`, without a per-part content type (as Dropbox Sign sends it).
pub fn multipart_body(boundary: &str, json: &str) -> Vec<u8> {
    format!("--{boundary}\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n{json}\r\n--{boundary}--\r\n")
        .into_bytes()
}

/// A new event id: a UUIDv7, sortable by creation time.
pub fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

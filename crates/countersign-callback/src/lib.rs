//! Callbacks as Dropbox Sign sends them (compat spec §1–§3, DECISIONS.md "Events and callbacks"):
//! the official event types, the `json` payload, `event_hash`, the `Content-MD5` / `Content-Sha256`
//! digests, the multipart body, and the Standard Webhooks signature that covers the whole body.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;

/// Fill `buf` from the operating system's random source (every secret depends on it, so a failure
/// aborts loudly).
fn fill_random(buf: &mut [u8]) {
    if let Err(err) = getrandom::fill(buf) {
        panic!("the operating system's random source failed: {err}");
    }
}

/// The 23 event types of the official enum, and no others: the official Python SDK rejects any other
/// value when it parses a callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    AccountConfirmed,
    UnknownError,
    FileError,
    SignUrlInvalid,
    SignatureRequestViewed,
    SignatureRequestSigned,
    SignatureRequestSent,
    SignatureRequestAllSigned,
    SignatureRequestEmailBounce,
    SignatureRequestRemind,
    SignatureRequestIncompleteQes,
    SignatureRequestDestroyed,
    SignatureRequestCanceled,
    SignatureRequestDownloadable,
    SignatureRequestDeclined,
    SignatureRequestReassigned,
    SignatureRequestInvalid,
    SignatureRequestPrepared,
    SignatureRequestExpired,
    TemplateCreated,
    TemplateError,
    CallbackTest,
    SignatureRequestSignerRemoved,
}

impl EventType {
    pub const ALL: [EventType; 23] = [
        Self::AccountConfirmed,
        Self::UnknownError,
        Self::FileError,
        Self::SignUrlInvalid,
        Self::SignatureRequestViewed,
        Self::SignatureRequestSigned,
        Self::SignatureRequestSent,
        Self::SignatureRequestAllSigned,
        Self::SignatureRequestEmailBounce,
        Self::SignatureRequestRemind,
        Self::SignatureRequestIncompleteQes,
        Self::SignatureRequestDestroyed,
        Self::SignatureRequestCanceled,
        Self::SignatureRequestDownloadable,
        Self::SignatureRequestDeclined,
        Self::SignatureRequestReassigned,
        Self::SignatureRequestInvalid,
        Self::SignatureRequestPrepared,
        Self::SignatureRequestExpired,
        Self::TemplateCreated,
        Self::TemplateError,
        Self::CallbackTest,
        Self::SignatureRequestSignerRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AccountConfirmed => "account_confirmed",
            Self::UnknownError => "unknown_error",
            Self::FileError => "file_error",
            Self::SignUrlInvalid => "sign_url_invalid",
            Self::SignatureRequestViewed => "signature_request_viewed",
            Self::SignatureRequestSigned => "signature_request_signed",
            Self::SignatureRequestSent => "signature_request_sent",
            Self::SignatureRequestAllSigned => "signature_request_all_signed",
            Self::SignatureRequestEmailBounce => "signature_request_email_bounce",
            Self::SignatureRequestRemind => "signature_request_remind",
            Self::SignatureRequestIncompleteQes => "signature_request_incomplete_qes",
            Self::SignatureRequestDestroyed => "signature_request_destroyed",
            Self::SignatureRequestCanceled => "signature_request_canceled",
            Self::SignatureRequestDownloadable => "signature_request_downloadable",
            Self::SignatureRequestDeclined => "signature_request_declined",
            Self::SignatureRequestReassigned => "signature_request_reassigned",
            Self::SignatureRequestInvalid => "signature_request_invalid",
            Self::SignatureRequestPrepared => "signature_request_prepared",
            Self::SignatureRequestExpired => "signature_request_expired",
            Self::TemplateCreated => "template_created",
            Self::TemplateError => "template_error",
            Self::CallbackTest => "callback_test",
            Self::SignatureRequestSignerRemoved => "signature_request_signer_removed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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

/// The JSON text of the `json` field for one delivery. `api_key` is the account's key: `event_hash`
/// is keyed by it, for account and app callbacks alike (the SDK helpers use one key for both).
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

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// `event_hash` = lowercase hex HMAC-SHA256(key = API key, message = event_time ‖ event_type).
pub fn event_hash(api_key: &str, event_time: &str, event_type: &str) -> String {
    hex::encode(hmac_sha256(api_key.as_bytes(), format!("{event_time}{event_type}").as_bytes()))
}

/// `Content-MD5` = base64(lowercase hex(HMAC-MD5(API key, json text))), as Dropbox Sign sends it.
pub fn content_md5(api_key: &str, json: &str) -> String {
    let mut mac =
        <Hmac<md5::Md5> as KeyInit>::new_from_slice(api_key.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(json.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hex::encode(mac.finalize().into_bytes()))
}

/// `Content-Sha256` = base64(lowercase hex(HMAC-SHA256(API key, json text))).
pub fn content_sha256(api_key: &str, json: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(hex::encode(hmac_sha256(api_key.as_bytes(), json.as_bytes())))
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

/// A Standard Webhooks endpoint secret: `whsec_` + base64 of 24 random bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(<redacted>)")
    }
}

impl WebhookSecret {
    pub fn generate() -> Self {
        let mut raw = [0u8; 24];
        fill_random(&mut raw);
        Self(format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(raw)))
    }

    pub fn from_text(text: String) -> Self {
        Self(text)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn key(&self) -> Vec<u8> {
        let encoded = self.0.strip_prefix("whsec_").unwrap_or(&self.0);
        base64::engine::general_purpose::STANDARD.decode(encoded).unwrap_or_else(|_| encoded.as_bytes().to_vec())
    }

    /// `webhook-signature`: `v1,` + base64 HMAC-SHA256 over `id.timestamp.body`.
    pub fn sign(&self, message_id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(self.mac(message_id, timestamp, body)))
    }

    fn mac(&self, message_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        let mut message = format!("{message_id}.{timestamp}.").into_bytes();
        message.extend_from_slice(body);
        hmac_sha256(&self.key(), &message)
    }

    /// Whether a `webhook-signature` header (space-separated `v1,…` entries, as during a secret's
    /// rotation) holds a valid signature of `id.timestamp.body` under this secret, compared in constant
    /// time. Checking that the timestamp is recent is the receiver's policy, not this function's.
    pub fn verify(&self, message_id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
        use subtle::ConstantTimeEq;
        let expected = self.mac(message_id, timestamp, body);
        header.split_whitespace().filter_map(|entry| entry.strip_prefix("v1,")).any(|sig| {
            base64::engine::general_purpose::STANDARD
                .decode(sig)
                .is_ok_and(|given| given.len() == expected.len() && bool::from(given.ct_eq(&expected)))
        })
    }
}

/// A new event id: a UUIDv7, sortable by creation time.
pub fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `s` has the shape of an event id (a hyphenated UUID); anything else names no event.
pub fn is_event_id(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The official SDK test vectors (`EventCallbackHelper_*.json`, key from SOURCE.md).
    const KEY: &str = "324e3b0840f065eb51f3fd63231d0d33daa35d4ed10d27718839e81737065782";

    #[test]
    fn event_hash_matches_the_official_vectors() {
        for (time, kind, hash) in [
            ("1348177752", "unknown_error", "c574f5d3090c2936360b4e36cf6835cf3e2206b84fdc6347e6b28ca721ae1371"),
            ("1348177752", "account_confirmed", "6dc5b7aad93cf54915e0089d6c31d61b3833f66f51459171c69f8fa211308848"),
            (
                "1348177752",
                "signature_request_sent",
                "08d45a6b7677492b78be030cef18cfeaece8fe67e163cc8e526ee638ad483756",
            ),
            ("1348177752", "template_created", "4a9b22fa68d5addb8b6313eea9d42ecb393903a4240b71503ef78e9dac6c100d"),
            ("1669926463", "account_confirmed", "ff8b03439122f9160500c3fb855bdee5a9ccba5fff27d3b258745d8f3074832f"),
        ] {
            assert_eq!(event_hash(KEY, time, kind), hash, "{kind} at {time}");
        }
    }

    #[test]
    fn event_types_round_trip_and_are_the_official_23() {
        assert_eq!(EventType::ALL.len(), 23);
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
        }
        assert_eq!(EventType::parse("test"), None);
    }

    fn input(target: Target, object: Option<&EventObject>) -> PayloadInput<'_> {
        PayloadInput {
            event_id: "0190f0a0-0000-7000-8000-000000000000",
            event_type: EventType::SignatureRequestSent,
            event_time: 1348177752,
            event_sequence: Some(1),
            account_id: "a2b31224f7e6fb5581d2f8cbd91cf65fa2f86aae",
            client_id: Some("0dd3b823a682527788c4e40cb7b6f7e9"),
            related_signature_id: None,
            event_message: None,
            object,
            target,
        }
    }

    #[test]
    fn payloads_tell_account_and_app_callbacks_apart() {
        let object = EventObject::SignatureRequest(serde_json::json!({"signature_request_id": "abc"}));
        let account: Value = serde_json::from_str(&payload_json(&input(Target::Account, Some(&object)), KEY)).unwrap();
        let app: Value = serde_json::from_str(&payload_json(&input(Target::App, Some(&object)), KEY)).unwrap();
        assert_eq!(account["event"]["event_time"], "1348177752");
        assert_eq!(account["event"]["event_hash"], "08d45a6b7677492b78be030cef18cfeaece8fe67e163cc8e526ee638ad483756");
        assert_eq!(account["event"]["event_metadata"]["reported_for_app_id"], Value::Null);
        assert_eq!(app["event"]["event_metadata"]["reported_for_app_id"], "0dd3b823a682527788c4e40cb7b6f7e9");
        assert_eq!(account["signature_request"]["signature_request_id"], "abc");
        assert_eq!(account["account_guid"], "a2b31224f7e6fb5581d2f8cbd91cf65fa2f86aae");
        assert_eq!(account["event_sequence"], 1);
        let text = payload_json(&input(Target::Account, None), KEY);
        assert!(text.starts_with(
            "{\"event\":{\"event_type\":\"signature_request_sent\",\"event_time\":\"1348177752\",\"event_hash\":"
        ));
    }

    #[test]
    fn callback_test_carries_only_the_event() {
        let mut test = input(Target::Account, None);
        test.event_type = EventType::CallbackTest;
        test.event_sequence = None;
        let value: Value = serde_json::from_str(&payload_json(&test, KEY)).unwrap();
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["event", "event_id"]);
    }

    #[test]
    fn digests_are_base64_of_lowercase_hex() {
        let md5 = content_md5(KEY, "{}");
        let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(&md5).unwrap()).unwrap();
        assert_eq!(decoded.len(), 32);
        assert_eq!(md5.len(), 44, "as in the captured Dropbox Sign header");
        let sha =
            String::from_utf8(base64::engine::general_purpose::STANDARD.decode(content_sha256(KEY, "{}")).unwrap())
                .unwrap();
        assert_eq!(sha, hex::encode(hmac_sha256(KEY.as_bytes(), b"{}")));
    }

    #[test]
    fn standard_webhooks_signature_follows_the_spec_example() {
        // The example from the Standard Webhooks specification.
        let secret = WebhookSecret::from_text("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(WebhookSecret::generate().expose().starts_with("whsec_"));
    }

    #[test]
    fn standard_webhooks_signatures_verify_and_forgeries_do_not() {
        let secret = WebhookSecret::from_text("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let (id, ts, body) = ("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#.as_slice());
        let good = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert!(secret.verify(id, ts, body, good));
        // During a rotation the header carries several signatures; one valid is enough.
        assert!(secret.verify(id, ts, body, &format!("v1,AAAA {good}")));
        assert!(!secret.verify(id, ts + 1, body, good), "another timestamp");
        assert!(!secret.verify(id, ts, b"{}", good), "another body");
        assert!(!secret.verify(id, ts, body, "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="), "unknown scheme");
        assert!(!WebhookSecret::generate().verify(id, ts, body, good), "another secret");
    }

    #[test]
    fn the_multipart_body_is_fixed_per_delivery() {
        let boundary = multipart_boundary("0190f0a0-0000-7000-8000-000000000000");
        let body = multipart_body(&boundary, "{\"a\":1}");
        assert_eq!(body, multipart_body(&multipart_boundary("0190f0a0-0000-7000-8000-000000000000"), "{\"a\":1}"));
        let text = String::from_utf8(body).unwrap();
        assert!(text.contains("Content-Disposition: form-data; name=\"json\"\r\n\r\n{\"a\":1}\r\n"));
    }
}

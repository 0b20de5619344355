//! Callbacks as Dropbox Sign sends them (compat spec §1–§3, DECISIONS.md "Events and callbacks"): the
//! one definition of the wire format, shared by the server that sends callbacks and the receivers that
//! check them.
//!
//! * Everywhere: the 23 official [`EventType`]s, [`event_hash`], the `Content-Sha256` digest
//!   ([`content_sha256`]) and the Standard Webhooks secret ([`WebhookSecret`]: sign and verify).
//! * [`receive`]: what a receiver needs — the `json` field out of the request body, the payload parsed
//!   into a typed [`receive::Callback`], [`receive::Verifier`] (the `event_hash` in constant time, and
//!   Standard Webhooks signatures with a timestamp tolerance), and the acknowledgement body.
//! * Feature `axum`: [`axum::VerifiedCallback`], an extractor that does all of that, and [`axum::Ack`].
//! * Feature `sender` (the server's): the payload as frozen at commit, `Content-MD5`, the multipart body,
//!   new event ids.
//!
//! A minimal receiver (the doc test runs it on a payload signed as the server signs them):
//!
//! ```
//! use countersign_callback::event_hash;
//! use countersign_callback::receive::{Verifier, json_field};
//!
//! let api_key = "324e3b0840f065eb51f3fd63231d0d33daa35d4ed10d27718839e81737065782";
//! // What Countersign POSTs: multipart/form-data with one field, `json`.
//! let hash = event_hash(api_key, "1348177752", "callback_test");
//! let json = format!(
//!     r#"{{"event":{{"event_type":"callback_test","event_time":"1348177752","event_hash":"{hash}","event_metadata":{{}}}}}}"#
//! );
//! let body = format!("--b\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n{json}\r\n--b--\r\n");
//!
//! let text = json_field("multipart/form-data; boundary=b", body.as_bytes()).unwrap();
//! let callback = Verifier::new().api_key(api_key).verify_json(&text).unwrap();
//! assert_eq!(callback.event.event_type, "callback_test");
//! // Answer HTTP 200 with this body, or the event is sent again.
//! assert_eq!(countersign_callback::ACK_BODY, "Hello API Event Received");
//! ```

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

#[cfg(feature = "axum")]
pub mod axum;
pub mod receive;
#[cfg(feature = "sender")]
mod send;
#[cfg(feature = "sender")]
pub use send::*;

/// What a receiver answers, with HTTP 200, to acknowledge a callback: anything else is retried.
pub const ACK_BODY: &str = "Hello API Event Received";

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

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// `event_hash` = lowercase hex HMAC-SHA256(key = API key, message = event_time ‖ event_type).
pub fn event_hash(api_key: &str, event_time: &str, event_type: &str) -> String {
    hex::encode(hmac_sha256(api_key.as_bytes(), format!("{event_time}{event_type}").as_bytes()))
}

/// `Content-Sha256` = base64(lowercase hex(HMAC-SHA256(API key, json text))).
pub fn content_sha256(api_key: &str, json: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(hex::encode(hmac_sha256(api_key.as_bytes(), json.as_bytes())))
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
    #[cfg(feature = "sender")]
    pub fn generate() -> Self {
        let mut raw = [0u8; 24];
        send::fill_random(&mut raw);
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

/// Whether `s` has the shape of an event id (a hyphenated UUID); anything else names no event.
pub fn is_event_id(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

#[cfg(all(test, feature = "sender"))]
mod tests {
    use serde_json::Value;

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

//! The receiving side: what a callback handler needs to trust and read what Countersign (or Dropbox
//! Sign) POSTs to it.
//!
//! 1. [`json_field`] takes the `json` field out of the body (`multipart/form-data`, as the server sends
//!    it; a urlencoded form or a plain JSON body are accepted too).
//! 2. [`Verifier`] checks it: the `event_hash` (HMAC-SHA256 of `event_time ‖ event_type` under the API
//!    key of the callback URL's owner, compared in constant time) and, when given the endpoint's
//!    `whsec_…` secret, the Standard Webhooks signature over the whole body with its timestamp within a
//!    tolerance (5 minutes by default), which also stops replays of old deliveries.
//! 3. [`Callback`] is the payload, typed: the event, its metadata, and the signature request, template or
//!    account it is about (kept as JSON values, with accessors for the ids handlers need).
//!
//! Then answer HTTP 200 with [`crate::ACK_BODY`]; anything else is retried.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::Value;
use subtle::ConstantTimeEq;

use crate::{EventType, WebhookSecret, event_hash};

/// A callback as received: `event`, and the object it is about.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Callback {
    pub event: Event,
    /// The account the event is about (absent on `callback_test`).
    #[serde(default)]
    pub account_guid: Option<String>,
    /// The API app the request was made with, if any.
    #[serde(default)]
    pub client_id: Option<String>,
    /// Countersign's id for the event: the same on every attempt and on both URLs, so a handler can
    /// drop a delivery it already processed.
    #[serde(default)]
    pub event_id: Option<String>,
    /// The event's place among its signature request's events (1, 2, …).
    #[serde(default)]
    pub event_sequence: Option<i64>,
    #[serde(default)]
    pub signature_request: Option<Value>,
    #[serde(default)]
    pub template: Option<Value>,
    #[serde(default)]
    pub account: Option<Value>,
}

/// The `event` object.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Event {
    pub event_type: String,
    /// Unix seconds, as text (as Dropbox Sign sends it).
    pub event_time: String,
    pub event_hash: String,
    #[serde(default)]
    pub event_metadata: EventMetadata,
}

/// `event.event_metadata`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct EventMetadata {
    #[serde(default)]
    pub related_signature_id: Option<String>,
    #[serde(default)]
    pub reported_for_account_id: Option<String>,
    /// Set when the delivery went to an app's callback URL (not the account's).
    #[serde(default)]
    pub reported_for_app_id: Option<String>,
    #[serde(default)]
    pub event_message: Option<String>,
}

impl Callback {
    /// Parses the `json` field's text.
    pub fn parse(json: &str) -> Result<Self, ReceiveError> {
        serde_json::from_str(json).map_err(|e| ReceiveError::NotACallback(e.to_string()))
    }

    /// The event's type, or `None` for a type this version of the crate does not know (a newer server).
    pub fn kind(&self) -> Option<EventType> {
        EventType::parse(&self.event.event_type)
    }

    /// Whether this delivery went to an API app's callback URL.
    pub fn is_app_callback(&self) -> bool {
        self.event.event_metadata.reported_for_app_id.is_some()
    }

    /// The signature request's id, for events about one.
    pub fn signature_request_id(&self) -> Option<&str> {
        self.signature_request.as_ref()?.get("signature_request_id")?.as_str()
    }

    /// The template's id, for template events.
    pub fn template_id(&self) -> Option<&str> {
        self.template.as_ref()?.get("template_id")?.as_str()
    }

    /// Whether the signature request was made in test mode.
    pub fn is_test_mode(&self) -> bool {
        let flag = |v: &Value| v.get("test_mode").and_then(Value::as_bool);
        self.signature_request.as_ref().and_then(flag).unwrap_or(false)
    }
}

/// Why a request is not a callback to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiveError {
    /// The body has no `json` field (or is not a form or JSON).
    NoJsonField,
    /// The `json` field is not a callback payload.
    NotACallback(String),
    /// The `event_hash` was not made with any of the API keys given.
    BadEventHash,
    /// A Standard Webhooks secret was given but the request lacks `webhook-id`, `webhook-timestamp` or
    /// `webhook-signature`.
    MissingSignatureHeaders,
    /// The Standard Webhooks signature does not match the body.
    BadSignature,
    /// The `webhook-timestamp` is further from now than the tolerance (a replay, or a clock far off).
    StaleTimestamp { skew_secs: i64 },
    /// The [`Verifier`] was given neither an API key nor a secret: it would trust anything.
    NothingToVerifyWith,
}

impl ReceiveError {
    /// Whether the request is malformed (`400`) rather than not authentic (`401`).
    pub fn is_malformed(&self) -> bool {
        matches!(self, Self::NoJsonField | Self::NotACallback(_) | Self::MissingSignatureHeaders)
    }
}

impl std::fmt::Display for ReceiveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoJsonField => f.write_str("the body has no `json` field"),
            Self::NotACallback(why) => write!(f, "the `json` field is not a callback: {why}"),
            Self::BadEventHash => f.write_str("event_hash does not match: not signed with this API key"),
            Self::MissingSignatureHeaders => {
                f.write_str("webhook-id, webhook-timestamp or webhook-signature header missing")
            }
            Self::BadSignature => f.write_str("webhook-signature does not match the body"),
            Self::StaleTimestamp { skew_secs } => {
                write!(f, "webhook-timestamp is {skew_secs} s away from now, beyond the tolerance")
            }
            Self::NothingToVerifyWith => f.write_str("no API key or webhook secret to verify with"),
        }
    }
}

impl std::error::Error for ReceiveError {}

/// The `json` field of a callback body with this `Content-Type`.
pub fn json_field(content_type: &str, body: &[u8]) -> Result<String, ReceiveError> {
    let mime = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "multipart/form-data" => {
            let boundary = parameter(content_type, "boundary").ok_or(ReceiveError::NoJsonField)?;
            multipart_field(body, &boundary, "json").ok_or(ReceiveError::NoJsonField)
        }
        "application/x-www-form-urlencoded" => {
            let text = std::str::from_utf8(body).map_err(|_| ReceiveError::NoJsonField)?;
            text.split('&')
                .filter_map(|pair| pair.split_once('='))
                .find(|(name, _)| percent_decode(name).as_deref() == Some("json"))
                .and_then(|(_, value)| percent_decode(value))
                .ok_or(ReceiveError::NoJsonField)
        }
        "application/json" => String::from_utf8(body.to_vec()).map_err(|_| ReceiveError::NoJsonField),
        _ => Err(ReceiveError::NoJsonField),
    }
}

/// A parameter of a header value (`boundary=…`, quoted or not).
fn parameter(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (key, v) = p.trim().split_once('=')?;
        key.trim().eq_ignore_ascii_case(name).then(|| v.trim().trim_matches('"').to_owned())
    })
}

/// The text of the part named `name` in a multipart body.
fn multipart_field(body: &[u8], boundary: &str, name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let delimiter = format!("--{boundary}");
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let (headers, content) = part.split_once("\r\n\r\n")?;
        let named = headers.lines().any(|line| {
            let (key, value) = line.split_once(':').unwrap_or(("", ""));
            key.trim().eq_ignore_ascii_case("content-disposition")
                && parameter(&format!("x;{}", value.split_once(';').map_or("", |(_, rest)| rest)), "name").as_deref()
                    == Some(name)
        });
        if named {
            return Some(content.strip_suffix("\r\n").unwrap_or(content).to_owned());
        }
    }
    None
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Checks callbacks: with the API key(s) the `event_hash` is made with, and/or the endpoint's Standard
/// Webhooks secret. Give the account's key for the account's callback URL, and the app owner's key for
/// an app's URL; give two keys while rotating.
#[derive(Clone)]
pub struct Verifier {
    api_keys: Vec<String>,
    secret: Option<WebhookSecret>,
    tolerance: Duration,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("api_keys", &self.api_keys.len())
            .field("secret", &self.secret.is_some())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

impl Verifier {
    /// A verifier with nothing to verify with yet (add an API key or a secret), and a timestamp
    /// tolerance of 5 minutes.
    pub fn new() -> Self {
        Self { api_keys: Vec::new(), secret: None, tolerance: Duration::from_secs(300) }
    }

    /// An API key whose `event_hash` is accepted.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_keys.push(key.into());
        self
    }

    /// The endpoint's Standard Webhooks secret (`whsec_…`): requests must then carry a valid signature.
    pub fn webhook_secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(WebhookSecret::from_text(secret.into()));
        self
    }

    /// How far `webhook-timestamp` may be from now.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Parses the `json` field's text and checks its `event_hash` (with the API keys given; with none,
    /// only a secret checked by [`Verifier::verify`] vouches for the payload, so this refuses).
    pub fn verify_json(&self, json: &str) -> Result<Callback, ReceiveError> {
        let callback = Callback::parse(json)?;
        if self.api_keys.is_empty() {
            return Err(ReceiveError::NothingToVerifyWith);
        }
        self.check_hash(&callback)?;
        Ok(callback)
    }

    fn check_hash(&self, callback: &Callback) -> Result<(), ReceiveError> {
        let given = callback.event.event_hash.as_bytes();
        let matches = self.api_keys.iter().any(|key| {
            let expected = event_hash(key, &callback.event.event_time, &callback.event.event_type);
            bool::from(expected.as_bytes().ct_eq(given))
        });
        if matches { Ok(()) } else { Err(ReceiveError::BadEventHash) }
    }

    /// Checks a whole request: `header` looks a header up by name, `content_type` and `body` are as
    /// received. With a secret, the Standard Webhooks signature and timestamp first; with API keys, the
    /// `event_hash`.
    pub fn verify<'h>(
        &self,
        header: impl Fn(&str) -> Option<&'h str>,
        content_type: &str,
        body: &[u8],
    ) -> Result<Callback, ReceiveError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        self.verify_at(header, content_type, body, now)
    }

    /// [`Verifier::verify`] at the given Unix time.
    pub fn verify_at<'h>(
        &self,
        header: impl Fn(&str) -> Option<&'h str>,
        content_type: &str,
        body: &[u8],
        now: i64,
    ) -> Result<Callback, ReceiveError> {
        if self.api_keys.is_empty() && self.secret.is_none() {
            return Err(ReceiveError::NothingToVerifyWith);
        }
        if let Some(secret) = &self.secret {
            let (Some(id), Some(timestamp), Some(signature)) =
                (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"))
            else {
                return Err(ReceiveError::MissingSignatureHeaders);
            };
            let timestamp: i64 = timestamp.trim().parse().map_err(|_| ReceiveError::MissingSignatureHeaders)?;
            if !secret.verify(id, timestamp, body, signature) {
                return Err(ReceiveError::BadSignature);
            }
            let skew = now - timestamp;
            if skew.unsigned_abs() > self.tolerance.as_secs() {
                return Err(ReceiveError::StaleTimestamp { skew_secs: skew });
            }
        }
        let callback = Callback::parse(&json_field(content_type, body)?)?;
        if !self.api_keys.is_empty() {
            self.check_hash(&callback)?;
        }
        Ok(callback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "324e3b0840f065eb51f3fd63231d0d33daa35d4ed10d27718839e81737065782";

    fn payload(kind: &str, hash: &str) -> String {
        format!(
            r#"{{"event":{{"event_type":"{kind}","event_time":"1348177752","event_hash":"{hash}","event_metadata":{{"related_signature_id":null,"reported_for_account_id":"a1","reported_for_app_id":"c1","event_message":null}}}},"account_guid":"a1","client_id":"c1","event_id":"0190f0a0-0000-7000-8000-000000000000","event_sequence":2,"signature_request":{{"signature_request_id":"sr1","test_mode":true}}}}"#
        )
    }

    fn multipart(json: &str) -> Vec<u8> {
        format!("--XyZ\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n{json}\r\n--XyZ--\r\n").into_bytes()
    }

    #[test]
    fn the_official_vectors_verify_and_tampering_does_not() {
        let good = payload("signature_request_sent", &event_hash(KEY, "1348177752", "signature_request_sent"));
        let callback = Verifier::new().api_key("other").api_key(KEY).verify_json(&good).unwrap();
        assert_eq!(callback.kind(), Some(EventType::SignatureRequestSent));
        assert!(callback.is_app_callback() && callback.is_test_mode());
        assert_eq!((callback.signature_request_id(), callback.event_sequence), (Some("sr1"), Some(2)));
        let tampered = good.replace("signature_request_sent", "signature_request_all_signed");
        assert_eq!(Verifier::new().api_key(KEY).verify_json(&tampered), Err(ReceiveError::BadEventHash));
        assert_eq!(Verifier::new().api_key("another key").verify_json(&good), Err(ReceiveError::BadEventHash));
        assert_eq!(Verifier::new().verify_json(&good), Err(ReceiveError::NothingToVerifyWith));
        assert!(matches!(Verifier::new().api_key(KEY).verify_json("{}"), Err(ReceiveError::NotACallback(_))));
    }

    #[test]
    fn the_json_field_comes_out_of_every_body_shape() {
        let json = r#"{"a":"b & c"}"#;
        assert_eq!(json_field("multipart/form-data; boundary=XyZ", &multipart(json)).unwrap(), json);
        assert_eq!(json_field("Multipart/Form-Data; boundary=\"XyZ\"", &multipart(json)).unwrap(), json);
        let form = "x=1&json=%7B%22a%22%3A%22b+%26+c%22%7D";
        assert_eq!(json_field("application/x-www-form-urlencoded", form.as_bytes()).unwrap(), json);
        assert_eq!(json_field("application/json", json.as_bytes()).unwrap(), json);
        assert_eq!(json_field("text/plain", json.as_bytes()), Err(ReceiveError::NoJsonField));
        let other = b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nx\r\n--XyZ--\r\n";
        assert_eq!(json_field("multipart/form-data; boundary=XyZ", other), Err(ReceiveError::NoJsonField));
    }

    #[test]
    fn standard_webhooks_signatures_and_timestamps_are_checked() {
        let secret = WebhookSecret::from_text("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned());
        let json = payload("callback_test", &event_hash(KEY, "1348177752", "callback_test"));
        let body = multipart(&json);
        let signature = secret.sign("msg_1", 1_700_000_000, &body);
        let verifier = Verifier::new().webhook_secret(secret.expose()).api_key(KEY);
        let ct = "multipart/form-data; boundary=XyZ";
        let check = |sig: &str, ts: &str, body: &[u8], now: i64| {
            let headers = [("webhook-id", "msg_1"), ("webhook-timestamp", ts), ("webhook-signature", sig)];
            verifier.verify_at(|n| headers.iter().find(|(k, _)| *k == n).map(|(_, v)| *v), ct, body, now)
        };
        assert!(check(&signature, "1700000000", &body, 1_700_000_100).is_ok());
        assert_eq!(
            check(&signature, "1700000000", &body, 1_700_000_400),
            Err(ReceiveError::StaleTimestamp { skew_secs: 400 })
        );
        let mut tampered = body.clone();
        let at = tampered.len() - 20;
        tampered[at] ^= 1;
        assert_eq!(check(&signature, "1700000000", &tampered, 1_700_000_000), Err(ReceiveError::BadSignature));
        assert_eq!(check(&signature, "1700000001", &body, 1_700_000_000), Err(ReceiveError::BadSignature));
        assert_eq!(verifier.verify_at(|_| None, ct, &body, 1_700_000_000), Err(ReceiveError::MissingSignatureHeaders));
        assert!(ReceiveError::MissingSignatureHeaders.is_malformed() && !ReceiveError::BadSignature.is_malformed());
    }
}

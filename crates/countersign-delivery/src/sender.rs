//! One attempt: POST the delivery's frozen body with Dropbox Sign's and Standard Webhooks' headers,
//! read at most `max_response_bytes` of the answer, and say what came back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use countersign_callback::{WebhookSecret, multipart_body, multipart_boundary};
use countersign_store::deliveries::ClaimedDelivery;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER, USER_AGENT};

use crate::config::DeliveryConfig;
use crate::schedule::{ACK_TEXT, Answer, parse_retry_after};
use countersign_guard::{GuardedResolver, check_literal};

pub const USER_AGENT_TEXT: &str = "Countersign (HelloSign API compatible)";

/// The HTTP client every attempt uses: keep-alive pools per host, no redirects, no proxies, the
/// SSRF-guarded resolver, and the attempt timeout.
pub fn build_client(config: &DeliveryConfig) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { allow_private: config.allow_private }))
        .timeout(config.timeout)
        .connect_timeout(config.timeout.min(Duration::from_secs(10)))
        .pool_max_idle_per_host(config.max_in_flight_per_url.max(1))
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .build()
}

/// The request of one delivery: the body (the same bytes on every attempt) and its headers.
pub struct PreparedRequest {
    pub body: bytes::Bytes,
    pub headers: HeaderMap,
}

/// Builds the request for `delivery`, signed for Standard Webhooks at `timestamp` (unix seconds).
pub fn prepare(delivery: &ClaimedDelivery, secret: &WebhookSecret, timestamp: i64) -> PreparedRequest {
    let boundary = multipart_boundary(&delivery.id);
    let body = bytes::Bytes::from(multipart_body(&boundary, &delivery.payload));
    let mut headers = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    put(CONTENT_TYPE.as_str(), format!("multipart/form-data; boundary={boundary}"));
    put(USER_AGENT.as_str(), USER_AGENT_TEXT.to_owned());
    put(ACCEPT.as_str(), "*/*".to_owned());
    put("content-md5", delivery.content_md5.clone());
    put("content-sha256", delivery.content_sha256.clone());
    put("webhook-id", delivery.event_id.clone());
    if let Some(sequence) = delivery.event_sequence {
        put("countersign-event-sequence", sequence.to_string());
    }
    put("webhook-timestamp", timestamp.to_string());
    put("webhook-signature", secret.sign(&delivery.event_id, timestamp, &body));
    PreparedRequest { body, headers }
}

/// What one attempt found, for the attempt log.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    pub answer: Answer,
    pub latency: Duration,
    /// At most 2 KiB of the response body, as text.
    pub excerpt: Option<String>,
    pub error: Option<String>,
}

const EXCERPT_BYTES: usize = 2048;

pub async fn send(
    client: &reqwest::Client,
    config: &DeliveryConfig,
    url: &str,
    request: PreparedRequest,
) -> AttemptReport {
    let started = Instant::now();
    let failed = |error: String, started: Instant| AttemptReport {
        answer: Answer::default(),
        latency: started.elapsed(),
        excerpt: None,
        error: Some(error),
    };
    let parsed = match url::Url::parse(url) {
        Ok(parsed) => parsed,
        Err(e) => return failed(format!("invalid URL: {e}"), started),
    };
    if let Err(blocked) = check_literal(&parsed, config.allow_private) {
        return failed(blocked, started);
    }
    let response = match client.post(parsed).headers(request.headers).body(request.body).send().await {
        Ok(response) => response,
        Err(e) => return failed(describe(&e), started),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
    let (body, body_error) = read_limited(response, config.max_response_bytes).await;
    let acknowledged = body.windows(ACK_TEXT.len()).any(|w| w == ACK_TEXT);
    let excerpt =
        (!body.is_empty()).then(|| String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES)]).into_owned());
    let error = match (status, body_error) {
        (_, Some(e)) => Some(e),
        (200, None) if !acknowledged => Some("the answer did not contain \"Hello API Event Received\"".to_owned()),
        (300..=399, None) => Some("redirects are not followed".to_owned()),
        _ => None,
    };
    AttemptReport {
        answer: Answer { status: Some(status), acknowledged, retry_after },
        latency: started.elapsed(),
        excerpt,
        error,
    }
}

/// Reads at most `limit` bytes of the body; a body error after the status is reported but the status
/// still counts.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> (Vec<u8>, Option<String>) {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= limit {
                    return (body, None);
                }
            }
            Ok(None) => return (body, None),
            Err(e) => return (body, Some(describe(&e))),
        }
    }
}

fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect error"
    } else if error.is_body() || error.is_decode() {
        "body error"
    } else {
        "request error"
    };
    let mut text = format!("{kind}: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

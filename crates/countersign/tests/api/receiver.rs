//! A real callback receiver on loopback: an axum server that records every request and answers as
//! scripted per path (acknowledge, fail with a status, hang, redirect, …).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::net::TcpListener;

use crate::helpers::wait_for;

#[derive(Debug, Clone)]
pub enum Behaviour {
    /// 200 with `Hello API Event Received`.
    Ack,
    /// 200 with the acknowledgement inside JSON, as the official demo app answers.
    AckInJson,
    /// This status with this body.
    Status(u16, &'static str),
    /// Sleeps, then acknowledges.
    Hang(Duration),
    /// 429 or 503 with `Retry-After: seconds`.
    RetryAfter(u16, u64),
    /// 302 to another URL.
    Redirect,
}

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub json_text: String,
    pub json: Value,
    pub at: Instant,
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    scripts: HashMap<String, VecDeque<Behaviour>>,
    defaults: HashMap<String, Behaviour>,
}

#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Inner>>);

pub struct Receiver {
    pub base: String,
    shared: Shared,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The `json` field of a `multipart/form-data` body.
pub fn json_field(headers: &HeaderMap, body: &[u8]) -> String {
    let content_type = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    let boundary = content_type.split("boundary=").nth(1).unwrap_or("").trim_matches('"');
    let text = String::from_utf8_lossy(body);
    let part_start = text.find("name=\"json\"").expect("a part named json");
    let after_headers = text[part_start..].find("\r\n\r\n").expect("part headers end") + part_start + 4;
    let end = text[after_headers..].find(&format!("\r\n--{boundary}")).expect("part end") + after_headers;
    text[after_headers..end].to_owned()
}

async fn handle(State(shared): State<Shared>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let headers = request.headers().clone();
    let body = axum::body::to_bytes(request.into_body(), 10 * 1024 * 1024).await.unwrap_or_default();
    let json_text = json_field(&headers, &body);
    let json = serde_json::from_str(&json_text).unwrap_or(Value::Null);
    let behaviour = {
        let mut inner = shared.0.lock().unwrap();
        inner.received.push(Received { path: path.clone(), headers, body, json_text, json, at: Instant::now() });
        let scripted = inner.scripts.get_mut(&path).and_then(VecDeque::pop_front);
        scripted.or_else(|| inner.defaults.get(&path).cloned()).unwrap_or(Behaviour::Ack)
    };
    match behaviour {
        Behaviour::Ack => (StatusCode::OK, "Hello API Event Received").into_response(),
        Behaviour::AckInJson => (StatusCode::OK, "{\"message\":\"Hello API Event Received\"}").into_response(),
        Behaviour::Status(code, text) => (StatusCode::from_u16(code).unwrap(), text).into_response(),
        Behaviour::Hang(duration) => {
            tokio::time::sleep(duration).await;
            (StatusCode::OK, "Hello API Event Received").into_response()
        }
        Behaviour::RetryAfter(code, seconds) => {
            (StatusCode::from_u16(code).unwrap(), [("retry-after", seconds.to_string())], "slow down").into_response()
        }
        Behaviour::Redirect => {
            (StatusCode::FOUND, [("location", "http://127.0.0.1:9/elsewhere")], "Hello API Event Received")
                .into_response()
        }
    }
}

impl Receiver {
    pub async fn start() -> Self {
        Self::start_on(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    pub fn start_on(listener: TcpListener) -> Self {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Shared::default();
        let app = axum::Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, shared, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A file server instead: every GET gets `bytes` as `application/pdf`.
    pub async fn start_serving(bytes: Vec<u8>) -> Self {
        Self::start_serving_after(bytes, Duration::ZERO).await
    }

    /// A file server that waits `delay` before each answer.
    pub async fn start_serving_after(bytes: Vec<u8>, delay: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let bytes = Bytes::from(bytes);
        let app = axum::Router::new().fallback(move || {
            let bytes = bytes.clone();
            async move {
                tokio::time::sleep(delay).await;
                ([("content-type", "application/pdf")], bytes).into_response()
            }
        });
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, shared: Shared::default(), task }
    }

    /// The next answers on `path`, in order; after them, the default.
    pub fn script(&self, path: &str, behaviours: Vec<Behaviour>) {
        self.shared.0.lock().unwrap().scripts.insert(path.to_owned(), behaviours.into());
    }

    pub fn set_default(&self, path: &str, behaviour: Behaviour) {
        self.shared.0.lock().unwrap().defaults.insert(path.to_owned(), behaviour);
    }

    pub fn received(&self, path: &str) -> Vec<Received> {
        self.shared.0.lock().unwrap().received.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// Waits until `path` has received at least `count` requests.
    pub async fn wait_count(&self, path: &str, count: usize, deadline: Duration) -> Vec<Received> {
        wait_for(deadline, &format!("{count} callbacks on {path}"), || async {
            let got = self.received(path);
            (got.len() >= count).then_some(got)
        })
        .await
    }
}

//! The receiver side of `countersign-callback` against what this server really sends: a delivery as the
//! test receiver recorded it verifies (event_hash with the account's key, Standard Webhooks signature with
//! the endpoint's secret), and any tampering — a changed byte, another key, an old timestamp — is caught;
//! and an axum handler built on the crate's `VerifiedCallback` extractor, as an app's callback URL,
//! acknowledges a real app callback (the delivery ends `delivered`) and refuses a forged one.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::FromRef;
use countersign_callback::EventType;
use countersign_callback::axum::{Ack, VerifiedCallback};
use countersign_callback::receive::{Callback, ReceiveError, Verifier};
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, TestApp, spawn_app};
use crate::receiver::Receiver;

const WAIT: Duration = Duration::from_secs(30);

async fn secret_of(app: &TestApp, url: &str) -> String {
    let endpoints: Value = app.get("/v3/callback_endpoints").await.json().await.unwrap();
    let endpoint = endpoints["callback_endpoints"].as_array().unwrap().iter().find(|e| e["url"] == url).unwrap();
    endpoint["webhook_secret"].as_str().unwrap().to_owned()
}

async fn recorded_deliveries_verify_and_tampering_is_caught(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start().await;
    let url = receiver.url("/cb");
    app.set_account_callback(&url).await;
    let secret = secret_of(&app, &url).await;
    app.account_callback_test().await;
    let delivery = receiver.wait_count("/cb", 1, WAIT).await.remove(0);
    let header = |name: &str| delivery.headers.get(name).and_then(|v| v.to_str().ok());
    let content_type = header("content-type").unwrap().to_owned();
    let timestamp: i64 = header("webhook-timestamp").unwrap().parse().unwrap();
    let verifier = Verifier::new().api_key(&app.api_key).webhook_secret(&secret);

    let callback: Callback = verifier.verify_at(header, &content_type, &delivery.body, timestamp).unwrap();
    assert_eq!(callback.kind(), Some(EventType::CallbackTest));
    assert!(!callback.is_app_callback());

    let mut tampered = delivery.body.to_vec();
    let at = tampered.iter().position(|b| *b == b'{').unwrap() + 3;
    tampered[at] ^= 0x20;
    assert_eq!(verifier.verify_at(header, &content_type, &tampered, timestamp), Err(ReceiveError::BadSignature));
    let wrong_key = Verifier::new().api_key("0".repeat(64)).webhook_secret(&secret);
    assert_eq!(wrong_key.verify_at(header, &content_type, &delivery.body, timestamp), Err(ReceiveError::BadEventHash));
    let replayed = verifier.verify_at(header, &content_type, &delivery.body, timestamp + 3600);
    assert_eq!(replayed, Err(ReceiveError::StaleTimestamp { skew_secs: 3600 }));
    let other_secret = Verifier::new().webhook_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert_eq!(
        other_secret.verify_at(header, &content_type, &delivery.body, timestamp),
        Err(ReceiveError::BadSignature)
    );
    app.stop().await;
}
both_backends!(recorded_deliveries_verify_and_tampering_is_caught, recorded_deliveries_verify_and_tampering_is_caught);

#[derive(Clone)]
struct HandlerState {
    verifier: Arc<Mutex<Option<Verifier>>>,
    seen: Arc<Mutex<Vec<Callback>>>,
}

impl FromRef<HandlerState> for Verifier {
    fn from_ref(state: &HandlerState) -> Verifier {
        // Before the secret is known the handler trusts nothing.
        state.verifier.lock().unwrap().clone().unwrap_or_else(|| Verifier::new().api_key("not yet"))
    }
}

async fn handle(
    axum::extract::State(state): axum::extract::State<HandlerState>,
    VerifiedCallback(callback): VerifiedCallback,
) -> Ack {
    state.seen.lock().unwrap().push(callback);
    Ack
}

async fn an_axum_handler_on_the_crate_acknowledges_real_app_callbacks(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let state = HandlerState { verifier: Arc::default(), seen: Arc::default() };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/callbacks", listener.local_addr().unwrap());
    let router = axum::Router::new().route("/callbacks", axum::routing::post(handle)).with_state(state.clone());
    let server = tokio::spawn(async move { axum::serve(listener, router).await });

    let created = app
        .post_json("/v3/api_app", &json!({"name": "Handler app", "domains": ["example.com"], "callback_url": url}))
        .await;
    assert_eq!(created.status(), 201);
    let client_id = created.json::<Value>().await.unwrap()["api_app"]["client_id"].as_str().unwrap().to_owned();
    let secret = secret_of(&app, &url).await;
    *state.verifier.lock().unwrap() = Some(Verifier::new().api_key(&app.api_key).webhook_secret(secret));

    let response = app.request(Method::POST, &format!("/v3/api_app/{client_id}/callback_test")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let event_id = response.json::<Value>().await.unwrap()["event"]["event_id"].as_str().unwrap().to_owned();
    let event = app.wait_event_state(&event_id, "delivered", WAIT).await;
    assert_eq!(event["deliveries"][0]["state"], "delivered", "{event}");
    let seen = state.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].is_app_callback() && seen[0].kind() == Some(EventType::CallbackTest));

    // A forged callback (right shape, no valid signature) is refused by the extractor.
    let forged = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body(r#"{"event":{"event_type":"callback_test","event_time":"1","event_hash":"00","event_metadata":{}}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400, "no webhook headers: malformed");
    assert_eq!(state.seen.lock().unwrap().len(), 1);
    server.abort();
    app.stop().await;
}
both_backends!(
    an_axum_handler_on_the_crate_acknowledges_real_app_callbacks,
    an_axum_handler_on_the_crate_acknowledges_real_app_callbacks
);

/// `countersign trigger` as a developer runs it against a running server: a sample of the asked type
/// reaches `--to` (not the account's URL), signed with the account's key, and the command reports the
/// acknowledged attempt; every one of the 23 types has a sample the crate parses and verifies.
async fn trigger_sends_verifiable_samples_of_every_type(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start().await;
    app.set_account_callback(&receiver.url("/account")).await;
    let to = receiver.url("/dev");
    let mut command = std::process::Command::new(crate::helpers::countersign_bin());
    command
        .args(["trigger", "signature_request_signed", "--to", &to, "--server", &app.base, "--api-key", &app.api_key])
        .env_remove("COUNTERSIGN_API_KEY");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        stdout.contains("attempt 1 →") && stdout.contains("HTTP 200") && stdout.contains("acknowledged"),
        "{stdout}"
    );
    let got = receiver.wait_count("/dev", 1, WAIT).await;
    assert!(receiver.received("/account").is_empty(), "--to replaces the account's URL");
    let verifier = Verifier::new().api_key(&app.api_key);
    let callback = verifier.verify_json(&got[0].json_text).unwrap();
    assert_eq!(callback.kind(), Some(EventType::SignatureRequestSigned));
    assert!(callback.is_test_mode());
    let request = callback.signature_request.as_ref().unwrap();
    assert_eq!(
        callback.event.event_metadata.related_signature_id.as_deref(),
        request["signatures"][0]["signature_id"].as_str()
    );
    assert_eq!(request["signatures"][0]["status_code"], "signed");

    for kind in EventType::ALL {
        let response = app.post_json("/v3/x/trigger", &json!({"event_type": kind.as_str()})).await;
        assert_eq!(response.status(), 200, "{kind}");
    }
    let all = receiver.wait_count("/account", EventType::ALL.len(), WAIT).await;
    let mut kinds: Vec<EventType> =
        all.iter().map(|r| verifier.verify_json(&r.json_text).unwrap().kind().unwrap()).collect();
    kinds.sort_by_key(|k| k.as_str());
    kinds.dedup();
    assert_eq!(kinds.len(), EventType::ALL.len());
    crate::helpers::expect_error(
        app.post_json("/v3/x/trigger", &json!({"event_type": "signature_request_teleported"})).await,
        400,
        "bad_request",
    )
    .await;
    app.stop().await;
}
both_backends!(trigger_sends_verifiable_samples_of_every_type, trigger_sends_verifiable_samples_of_every_type);

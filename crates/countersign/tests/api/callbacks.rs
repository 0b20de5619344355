use std::time::Duration;

use countersign_callback::{EventType, NewEvent, WebhookSecret, content_md5, content_sha256, event_hash};
use countersign_delivery::DeliveryConfig;
use countersign_domain::ids::AccountId;
use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, expect_error, spawn_app, spawn_app_with, wait_for};
use crate::receiver::{Behaviour, Received, Receiver};

const WAIT: Duration = Duration::from_secs(15);

fn fast_retries(schedule: &[u64]) -> Options {
    Options {
        delivery: DeliveryConfig {
            schedule: schedule.iter().map(|ms| Duration::from_millis(*ms)).collect(),
            jitter: 0.0,
            timeout: Duration::from_secs(5),
            poll_interval: Duration::from_millis(200),
            ..DeliveryConfig::default()
        },
        ..Options::default()
    }
}

async fn secret_of(app: &TestApp, url: &str) -> WebhookSecret {
    let body: Value = app.get("/v3/callback_endpoints").await.json().await.unwrap();
    let endpoint = body["callback_endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["url"] == url)
        .expect("the endpoint is listed")
        .clone();
    WebhookSecret::from_text(endpoint["webhook_secret"].as_str().unwrap().to_owned())
}

fn got_test_has_sequence_header(received: &Received) -> bool {
    received.headers.contains_key("countersign-event-sequence")
}

/// Checks one received callback the way a careful receiver would.
fn assert_authentic(received: &Received, api_key: &str, secret: &WebhookSecret) {
    let header = |name: &str| received.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(header("content-type").starts_with("multipart/form-data; boundary="));
    assert_eq!(header("user-agent"), "Countersign (HelloSign API compatible)");
    let event = &received.json["event"];
    let time = event["event_time"].as_str().expect("event_time is a string");
    assert!(time.chars().all(|c| c.is_ascii_digit()));
    assert_eq!(event["event_hash"], event_hash(api_key, time, event["event_type"].as_str().unwrap()));
    assert_eq!(header("content-md5"), content_md5(api_key, &received.json_text));
    assert_eq!(header("content-sha256"), content_sha256(api_key, &received.json_text));
    assert_eq!(header("webhook-id"), received.json["event_id"].as_str().unwrap());
    let timestamp: i64 = header("webhook-timestamp").parse().unwrap();
    assert_eq!(header("webhook-signature"), secret.sign(&header("webhook-id"), timestamp, &received.body));
}

async fn callbacks_are_dropbox_sign_exact(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start().await;
    let account_url = receiver.url("/account");
    let app_url = receiver.url("/app");
    app.set_account_callback(&account_url).await;
    let created: Value = app
        .post_json("/v3/api_app", &json!({"name": "Hooks", "domains": ["example.com"], "callback_url": app_url}))
        .await
        .json()
        .await
        .unwrap();
    let client_id = created["api_app"]["client_id"].as_str().unwrap().to_owned();

    // callback_test to the account URL: only `event` (and our event_id), reported for the account.
    let test_id = app.account_callback_test().await;
    let got = receiver.wait_count("/account", 1, WAIT).await;
    assert_authentic(&got[0], &app.api_key, &secret_of(&app, &account_url).await);
    assert_eq!(got[0].json["event"]["event_type"], "callback_test");
    assert_eq!(got[0].json["event_id"], test_id.as_str());
    assert_eq!(got[0].json["event"]["event_metadata"]["reported_for_account_id"], app.account_id.as_str());
    assert_eq!(got[0].json["event"]["event_metadata"]["reported_for_app_id"], Value::Null);
    let keys: Vec<&String> = got[0].json.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["event", "event_id"]);

    // callback_test to the app URL only, reported for the app.
    let response = app.request(Method::POST, &format!("/v3/api_app/{client_id}/callback_test")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let got = receiver.wait_count("/app", 1, WAIT).await;
    assert_authentic(&got[0], &app.api_key, &secret_of(&app, &app_url).await);
    assert_eq!(got[0].json["event"]["event_metadata"]["reported_for_app_id"], client_id.as_str());

    // An event of a request made with the app goes to both URLs, as two independent deliveries.
    let account = AccountId::parse(&app.account_id).unwrap();
    let targets = app.store.outbox_targets(&account, &[client_id.as_str()]).await.unwrap();
    let event = NewEvent {
        template_id: None,
        event_type: EventType::SignatureRequestSent,
        signature_request_id: Some("fa5c8a0b0f492d768749333ad6fcc214c111e967".into()),
        client_id: Some(client_id.clone()),
        related_signature_id: None,
        event_message: None,
        object: Some(countersign_callback::EventObject::SignatureRequest(
            json!({"signature_request_id": "fa5c8a0b0f492d768749333ad6fcc214c111e967"}),
        )),
    };
    let inserted = app.store.record_events(&targets, &[event.clone(), event]).await.unwrap();
    assert_eq!(inserted[0].deliveries, 2);
    let to_account = receiver.wait_count("/account", 3, WAIT).await;
    let to_app = receiver.wait_count("/app", 3, WAIT).await;
    for received in to_account.iter().skip(1) {
        assert_eq!(received.json["event"]["event_metadata"]["reported_for_app_id"], Value::Null);
        assert_eq!(received.json["client_id"], client_id.as_str());
        assert_eq!(received.json["account_guid"], app.account_id.as_str());
        assert_eq!(
            received.json["signature_request"]["signature_request_id"],
            "fa5c8a0b0f492d768749333ad6fcc214c111e967"
        );
    }
    for received in to_app.iter().skip(1) {
        assert_eq!(received.json["event"]["event_metadata"]["reported_for_app_id"], client_id.as_str());
    }
    for received in to_app.iter().chain(&to_account).skip(1) {
        if received.json["event_sequence"].is_i64() {
            assert_eq!(
                received.headers["countersign-event-sequence"],
                received.json["event_sequence"].to_string().as_str()
            );
        }
    }
    assert!(!got_test_has_sequence_header(&to_account[0]), "callback_test belongs to no request: no sequence header");
    let mut sequences: Vec<i64> = to_app.iter().skip(1).map(|r| r.json["event_sequence"].as_i64().unwrap()).collect();
    sequences.sort();
    assert_eq!(sequences, [1, 2], "event_sequence counts the request's events");
    app.stop().await;
}
both_backends!(callbacks_are_dropbox_sign_exact, callbacks_are_dropbox_sign_exact);

async fn failures_are_retried_with_the_same_bytes(backend: Backend) {
    let Some(app) = spawn_app_with(backend, fast_retries(&[50, 50, 50, 50, 50, 50])).await else { return };
    let receiver = Receiver::start().await;
    receiver.script(
        "/cb",
        vec![
            Behaviour::Status(500, "oops"),
            Behaviour::Status(200, "OK"),
            Behaviour::Status(201, "Hello API Event Received"),
            Behaviour::Redirect,
            Behaviour::RetryAfter(503, 0),
            Behaviour::AckInJson,
        ],
    );
    app.set_account_callback(&receiver.url("/cb")).await;
    let event_id = app.account_callback_test().await;
    let event = app.wait_event_state(&event_id, "delivered", WAIT).await;
    let got = receiver.received("/cb");
    assert_eq!(got.len(), 6);
    assert!(
        got.iter().all(|r| r.body == got[0].body && r.headers["content-md5"] == got[0].headers["content-md5"]),
        "every attempt sends the same bytes"
    );
    let log = event["deliveries"][0]["attempt_log"].as_array().unwrap();
    let statuses: Vec<Value> = log.iter().map(|a| a["status_code"].clone()).collect();
    assert_eq!(statuses, [json!(500), json!(200), json!(201), json!(302), json!(503), json!(200)]);
    let outcomes: Vec<&str> = log.iter().map(|a| a["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["retry", "retry", "retry", "retry", "retry", "delivered"]);
    assert_eq!(log[0]["response_excerpt"], "oops");
    assert!(log[1]["error"].as_str().unwrap().contains("Hello API Event Received"));
    assert!(log[3]["error"].as_str().unwrap().contains("redirect"));
    assert_eq!(event["deliveries"][0]["attempts"], 6);
    app.stop().await;
}
both_backends!(failures_are_retried_with_the_same_bytes, failures_are_retried_with_the_same_bytes);

async fn exhausted_schedule_is_dead_and_resend_delivers(backend: Backend) {
    let Some(app) = spawn_app_with(backend, fast_retries(&[50])).await else { return };
    let receiver = Receiver::start().await;
    receiver.set_default("/cb", Behaviour::Status(500, "down"));
    app.set_account_callback(&receiver.url("/cb")).await;
    let event_id = app.account_callback_test().await;
    let event = app.wait_event_state(&event_id, "dead", WAIT).await;
    assert_eq!(event["deliveries"][0]["attempts"], 2, "one attempt and one retry");
    receiver.set_default("/cb", Behaviour::Ack);
    let resent: Value =
        app.request(Method::POST, &format!("/v3/events/{event_id}/resend")).send().await.unwrap().json().await.unwrap();
    assert_eq!(resent["queued"], 1);
    app.wait_event_state(&event_id, "delivered", WAIT).await;
    let got = receiver.received("/cb");
    assert_eq!(got.len(), 3);
    assert_eq!(got[2].body, got[0].body, "a resend sends the same bytes");
    expect_error(app.request(Method::POST, "/v3/events/not-an-event/resend").send().await.unwrap(), 404, "not_found")
        .await;
    app.stop().await;
}
both_backends!(exhausted_schedule_is_dead_and_resend_delivers, exhausted_schedule_is_dead_and_resend_delivers);

async fn a_timeout_is_a_failed_attempt(backend: Backend) {
    let mut options = fast_retries(&[50]);
    options.delivery.timeout = Duration::from_millis(300);
    let Some(app) = spawn_app_with(backend, options).await else { return };
    let receiver = Receiver::start().await;
    receiver.script("/cb", vec![Behaviour::Hang(Duration::from_secs(3))]);
    app.set_account_callback(&receiver.url("/cb")).await;
    let event_id = app.account_callback_test().await;
    let event = app.wait_event_state(&event_id, "delivered", WAIT).await;
    let log = event["deliveries"][0]["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 2);
    assert!(log[0]["error"].as_str().unwrap().contains("timeout"), "{}", log[0]);
    assert_eq!(log[0]["status_code"], Value::Null);
    app.stop().await;
}
both_backends!(a_timeout_is_a_failed_attempt, a_timeout_is_a_failed_attempt);

async fn receiver_down_then_up_loses_nothing(backend: Backend) {
    let Some(app) = spawn_app_with(backend, fast_retries(&[200; 40])).await else { return };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/cb");
    app.set_account_callback(&url).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(app.account_callback_test().await);
    }
    // Every event has failed at least once against the closed port before the receiver comes up.
    for id in &ids {
        wait_for(WAIT, "a failed attempt", || async {
            let event = app.event(id).await;
            (event["deliveries"][0]["attempts"].as_i64().unwrap_or(0) >= 1).then_some(())
        })
        .await;
    }
    let log = app.event(&ids[0]).await["deliveries"][0]["attempt_log"][0].clone();
    assert!(log["error"].as_str().unwrap().contains("connect"), "{log}");
    let receiver = Receiver::start_on(tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap());
    for id in &ids {
        app.wait_event_state(id, "delivered", WAIT).await;
    }
    let mut got: Vec<String> =
        receiver.received("/cb").iter().map(|r| r.json["event_id"].as_str().unwrap().to_owned()).collect();
    got.sort();
    got.dedup();
    ids.sort();
    assert_eq!(got, ids);
    app.stop().await;
}
both_backends!(receiver_down_then_up_loses_nothing, receiver_down_then_up_loses_nothing);

async fn a_dead_streak_disables_the_url_parks_and_replays(backend: Backend) {
    let mut options = fast_retries(&[]);
    options.delivery.disable_after_dead = 2;
    let Some(app) = spawn_app_with(backend, options).await else { return };
    let receiver = Receiver::start().await;
    receiver.set_default("/cb", Behaviour::Status(500, "down"));
    let url = receiver.url("/cb");
    app.set_account_callback(&url).await;
    for _ in 0..2 {
        let id = app.account_callback_test().await;
        app.wait_event_state(&id, "dead", WAIT).await;
    }
    let endpoints: Value = app.get("/v3/callback_endpoints").await.json().await.unwrap();
    let endpoint = &endpoints["callback_endpoints"][0];
    assert_eq!(endpoint["state"], "disabled");
    assert!(endpoint["disabled_reason"].as_str().unwrap().contains("2 deliveries in a row"));
    let account = AccountId::parse(&app.account_id).unwrap();
    let emails = app.store.stored_emails(&account).await.unwrap();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].to_address, "owner@example.com");
    assert!(emails[0].body.contains(&url));

    // New events for the disabled URL are parked: kept, not attempted.
    let parked = app.account_callback_test().await;
    let event = app.event(&parked).await;
    assert_eq!(event["deliveries"][0]["state"], "parked");
    assert_eq!(event["deliveries"][0]["attempts"], 0);
    assert_eq!(receiver.received("/cb").len(), 2);

    // Re-enabling replays what was parked.
    receiver.set_default("/cb", Behaviour::Ack);
    let enabled: Value =
        app.post_json("/v3/callback_endpoints/enable", &json!({"url": url})).await.json().await.unwrap();
    assert_eq!(enabled["replayed"], 1);
    app.wait_event_state(&parked, "delivered", WAIT).await;
    let endpoints: Value = app.get("/v3/callback_endpoints").await.json().await.unwrap();
    assert_eq!(endpoints["callback_endpoints"][0]["state"], "enabled");
    app.stop().await;
}
both_backends!(a_dead_streak_disables_the_url_parks_and_replays, a_dead_streak_disables_the_url_parks_and_replays);

async fn gone_disables_at_once_and_saving_the_url_again_replays(backend: Backend) {
    let Some(app) = spawn_app_with(backend, fast_retries(&[50, 50])).await else { return };
    let receiver = Receiver::start().await;
    receiver.script("/cb", vec![Behaviour::Status(410, "gone")]);
    let url = receiver.url("/cb");
    app.set_account_callback(&url).await;
    let id = app.account_callback_test().await;
    app.wait_event_state(&id, "parked", WAIT).await;
    let endpoints: Value = app.get("/v3/callback_endpoints").await.json().await.unwrap();
    assert_eq!(endpoints["callback_endpoints"][0]["state"], "disabled");
    assert!(endpoints["callback_endpoints"][0]["disabled_reason"].as_str().unwrap().contains("410"));
    app.set_account_callback(&url).await;
    app.wait_event_state(&id, "delivered", WAIT).await;
    assert_eq!(receiver.received("/cb").len(), 2);
    app.stop().await;
}
both_backends!(
    gone_disables_at_once_and_saving_the_url_again_replays,
    gone_disables_at_once_and_saving_the_url_again_replays
);

async fn retry_after_is_honoured(backend: Backend) {
    let Some(app) = spawn_app_with(backend, fast_retries(&[50, 50])).await else { return };
    let receiver = Receiver::start().await;
    receiver.script("/cb", vec![Behaviour::RetryAfter(429, 1)]);
    app.set_account_callback(&receiver.url("/cb")).await;
    let id = app.account_callback_test().await;
    app.wait_event_state(&id, "delivered", WAIT).await;
    let got = receiver.received("/cb");
    assert_eq!(got.len(), 2);
    let gap = got[1].at.duration_since(got[0].at);
    assert!(gap >= Duration::from_millis(900), "Retry-After: 1 waited only {gap:?}");
    app.stop().await;
}
both_backends!(retry_after_is_honoured, retry_after_is_honoured);

async fn a_slow_url_does_not_hold_up_the_others(backend: Backend) {
    let mut options = fast_retries(&[]);
    options.delivery.max_in_flight = 4;
    options.delivery.max_in_flight_per_url = 2;
    let Some(app) = spawn_app_with(backend, options).await else { return };
    let receiver = Receiver::start().await;
    receiver.set_default("/slow", Behaviour::Hang(Duration::from_secs(3)));
    app.set_account_callback(&receiver.url("/slow")).await;
    let other_key = app.other_account_key("fast@example.com").await;
    let fast = app
        .request_as(&other_key, Method::PUT, "/v3/account")
        .json(&json!({"callback_url": receiver.url("/fast")}))
        .send()
        .await
        .unwrap();
    assert_eq!(fast.status(), 200);
    let mut slow_ids = Vec::new();
    for _ in 0..10 {
        slow_ids.push(app.account_callback_test().await);
    }
    for _ in 0..10 {
        let response = app.request_as(&other_key, Method::POST, "/v3/account/callback_test").send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    receiver.wait_count("/fast", 10, Duration::from_secs(2)).await;
    // All ten fast callbacks arrived while the slow URL had at most its two in flight.
    assert!(receiver.received("/slow").len() <= 2, "the slow URL got {}", receiver.received("/slow").len());
    for id in &slow_ids {
        assert_ne!(app.event(id).await["deliveries"][0]["state"], "delivered");
    }
    app.stop().await;
}
both_backends!(a_slow_url_does_not_hold_up_the_others, a_slow_url_does_not_hold_up_the_others);

async fn the_event_feed_pages_in_commit_order(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start().await;
    app.set_account_callback(&receiver.url("/cb")).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.account_callback_test().await);
    }
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let page: Value = app.get(&format!("/v3/events?limit=2&after={cursor}")).await.json().await.unwrap();
        let events = page["events"].as_array().unwrap();
        seen.extend(events.iter().map(|e| e["event_id"].as_str().unwrap().to_owned()));
        cursor = page["next_cursor"].as_str().unwrap().to_owned();
        pages += 1;
        if !page["has_more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(seen, ids);
    assert_eq!(pages, 3);
    let after_end: Value = app.get(&format!("/v3/events?after={cursor}")).await.json().await.unwrap();
    assert_eq!(after_end["events"], json!([]));
    assert_eq!(after_end["next_cursor"], cursor.as_str(), "an empty page keeps the cursor");
    // Another account sees none of them.
    let other = app.other_account_key("feed-other@example.com").await;
    let theirs: Value = app.request_as(&other, Method::GET, "/v3/events").send().await.unwrap().json().await.unwrap();
    assert_eq!(theirs["events"], json!([]));
    expect_error(
        app.request_as(&other, Method::GET, &format!("/v3/events/{}", ids[0])).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    expect_error(app.get("/v3/events?limit=0").await, 400, "bad_request").await;
    app.stop().await;
}
both_backends!(the_event_feed_pages_in_commit_order, the_event_feed_pages_in_commit_order);

async fn callback_test_needs_a_callback_url(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let error =
        expect_error(app.request(Method::POST, "/v3/account/callback_test").send().await.unwrap(), 400, "bad_request")
            .await;
    assert_eq!(error["error_path"], "callback_url");
    let created: Value = app
        .post_json("/v3/api_app", &json!({"name": "No hooks", "domains": ["example.com"]}))
        .await
        .json()
        .await
        .unwrap();
    let client_id = created["api_app"]["client_id"].as_str().unwrap();
    let error = expect_error(
        app.request(Method::POST, &format!("/v3/api_app/{client_id}/callback_test")).send().await.unwrap(),
        400,
        "bad_request",
    )
    .await;
    assert_eq!(error["error_path"], "callback_url");
    app.stop().await;
}
both_backends!(callback_test_needs_a_callback_url, callback_test_needs_a_callback_url);

async fn non_public_targets_are_blocked_at_connect_time(backend: Backend) {
    let mut options = fast_retries(&[]);
    options.allow_private_callbacks = false;
    let Some(app) = spawn_app_with(backend, options).await else { return };
    let receiver = Receiver::start().await;
    let port = receiver.base.rsplit(':').next().unwrap().to_owned();
    let account = AccountId::parse(&app.account_id).unwrap();
    // Written straight to the store, as if DNS had changed since the URL passed the set-time check.
    for url in [format!("https://127.0.0.1:{port}/cb"), format!("https://localhost:{port}/cb")] {
        let update = countersign_domain::account::AccountUpdate { callback_url: Some(Some(url.clone())), locale: None };
        app.store.update_account(&account, &update).await.unwrap();
        let id = app.account_callback_test().await;
        let event = app.wait_event_state(&id, "dead", WAIT).await;
        let error = event["deliveries"][0]["attempt_log"][0]["error"].as_str().unwrap().to_owned();
        assert!(error.contains("blocked"), "{url}: {error}");
    }
    assert!(receiver.received("/cb").is_empty());
    app.stop().await;
}
both_backends!(non_public_targets_are_blocked_at_connect_time, non_public_targets_are_blocked_at_connect_time);

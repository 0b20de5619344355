use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Options, expect_error, spawn_app, spawn_app_with};

async fn get_returns_the_callers_account(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response = app.get("/v3/account").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let account = &body["account"];
    let id = account["account_id"].as_str().unwrap();
    assert_eq!(id.len(), 40);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(account["email_address"], "owner@example.com");
    assert_eq!(account["callback_url"], Value::Null);
    assert_eq!(account["locale"], "en-US");
    assert_eq!(account["is_locked"], false);
    // Naming one's own account is fine; naming another is not found.
    assert_eq!(app.get(&format!("/v3/account?account_id={id}")).await.status(), 200);
    assert_eq!(app.get("/v3/account?email_address=OWNER@example.com").await.status(), 200);
    expect_error(app.get(&format!("/v3/account?account_id={}", "a".repeat(40))).await, 404, "not_found").await;
    app.stop().await;
}
both_backends!(get_returns_the_callers_account, get_returns_the_callers_account);

async fn update_accepts_json_form_and_multipart(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body: Value = app
        .put_json("/v3/account", &json!({"callback_url": "http://127.0.0.1:9/cb", "locale": "fr-fr", "surprise": 1}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["account"]["callback_url"], "http://127.0.0.1:9/cb");
    assert_eq!(body["account"]["locale"], "fr-FR");
    assert_eq!(body["warnings"][0]["warning_name"], "parameter_ignored");
    assert!(body["warnings"][0]["warning_msg"].as_str().unwrap().contains("surprise"));

    let form = app
        .request(Method::POST, "/v3/account")
        .form(&[("callback_url", "http://localhost:8000/hook"), ("locale", "de-DE")])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let multipart = reqwest::multipart::Form::new().text("locale", "ja-JP");
    let body: Value =
        app.request(Method::POST, "/v3/account").multipart(multipart).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["account"]["locale"], "ja-JP");
    assert_eq!(body["account"]["callback_url"], "http://localhost:8000/hook", "a setting not given is left as it is");

    // An empty callback_url removes it; the change is visible on the next GET.
    assert_eq!(app.put_json("/v3/account", &json!({"callback_url": ""})).await.status(), 200);
    let body: Value = app.get("/v3/account").await.json().await.unwrap();
    assert_eq!(body["account"]["callback_url"], Value::Null);
    assert!(body.get("warnings").is_none());
    app.stop().await;
}
both_backends!(update_accepts_json_form_and_multipart, update_accepts_json_form_and_multipart);

async fn callback_url_rules_refuse_private_targets_and_write_nothing(backend: Backend) {
    let options = Options { allow_private_callbacks: false, ..Options::default() };
    let Some(app) = spawn_app_with(backend, options).await else {
        return;
    };
    assert_eq!(app.put_json("/v3/account", &json!({"callback_url": "https://8.8.8.8/cb"})).await.status(), 200);
    for refused in [
        "http://8.8.8.8/cb",
        "https://127.0.0.1/cb",
        "https://[::ffff:10.0.0.1]/cb",
        "https://169.254.169.254/latest",
        "https://localhost/cb",
        "javascript:alert(1)",
    ] {
        let error = expect_error(
            app.put_json("/v3/account", &json!({"callback_url": refused, "locale": "de-DE"})).await,
            400,
            "bad_request",
        )
        .await;
        assert_eq!(error["error_path"], "callback_url", "{refused}");
    }
    let body: Value = app.get("/v3/account").await.json().await.unwrap();
    assert_eq!(body["account"]["callback_url"], "https://8.8.8.8/cb");
    assert_eq!(body["account"]["locale"], "en-US", "a refused request changes nothing");
    let error = expect_error(app.put_json("/v3/account", &json!({"locale": "xx-XX"})).await, 400, "bad_request").await;
    assert_eq!(error["error_path"], "locale");
    app.stop().await;
}
both_backends!(
    callback_url_rules_refuse_private_targets_and_write_nothing,
    callback_url_rules_refuse_private_targets_and_write_nothing
);

async fn verify_tells_whether_an_account_exists(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let found: Value =
        app.post_json("/v3/account/verify", &json!({"email_address": "Owner@Example.com"})).await.json().await.unwrap();
    assert_eq!(found, json!({"account": {"email_address": "owner@example.com"}}));
    let missing = app.post_json("/v3/account/verify", &json!({"email_address": "nobody@example.com"})).await;
    assert_eq!(missing.status(), 200);
    assert_eq!(missing.json::<Value>().await.unwrap(), json!({}));
    let error = expect_error(app.post_json("/v3/account/verify", &json!({})).await, 400, "bad_request").await;
    assert_eq!(error["error_path"], "email_address");
    app.stop().await;
}
both_backends!(verify_tells_whether_an_account_exists, verify_tells_whether_an_account_exists);

async fn create_makes_a_new_account_once_per_address(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response =
        app.post_json("/v3/account/create", &json!({"email_address": "new.user@example.com", "locale": "es-ES"})).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["account"]["email_address"], "new.user@example.com");
    assert_eq!(body["account"]["locale"], "es-ES");
    let new_id = body["account"]["account_id"].as_str().unwrap();
    assert_eq!(new_id.len(), 40);
    assert_ne!(new_id, app.account_id);
    let verified: Value = app
        .post_json("/v3/account/verify", &json!({"email_address": "new.user@example.com"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(verified["account"]["email_address"], "new.user@example.com");

    let duplicate = expect_error(
        app.post_json("/v3/account/create", &json!({"email_address": "NEW.user@example.com"})).await,
        400,
        "bad_request",
    )
    .await;
    assert_eq!(duplicate["error_path"], "email_address");
    for bad in [json!({}), json!({"email_address": "not-an-address"}), json!({"email_address": ""})] {
        let error = expect_error(app.post_json("/v3/account/create", &bad).await, 400, "bad_request").await;
        assert_eq!(error["error_path"], "email_address", "{bad}");
    }
    app.stop().await;
}
both_backends!(create_makes_a_new_account_once_per_address, create_makes_a_new_account_once_per_address);

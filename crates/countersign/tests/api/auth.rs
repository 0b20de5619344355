use reqwest::Method;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, Options, expect_error, spawn_app, spawn_app_with};

async fn missing_wrong_or_foreign_credentials_are_unauthorized(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let anonymous = app.client.get(app.url("/v3/account")).send().await.unwrap();
    assert!(anonymous.headers().contains_key("www-authenticate"));
    let error = expect_error(anonymous, 401, "unauthorized").await;
    assert!(error.get("error_path").is_none());
    expect_error(
        app.request_as(&"0".repeat(64), Method::GET, "/v3/account").send().await.unwrap(),
        401,
        "unauthorized",
    )
    .await;
    let bearer = app.client.get(app.url("/v3/api_app/list")).bearer_auth(&app.api_key).send().await.unwrap();
    expect_error(bearer, 401, "unauthorized").await;
    // A wrong key is refused before the body is looked at, and nothing is written.
    let write = app
        .request_as("nope", Method::POST, "/v3/api_app")
        .json(&serde_json::json!({"name": "x", "domains": ["a.com"]}))
        .send()
        .await
        .unwrap();
    expect_error(write, 401, "unauthorized").await;
    let list: Value = app.get("/v3/api_app/list").await.json().await.unwrap();
    assert_eq!(list["list_info"]["num_results"], 0);
    app.stop().await;
}
both_backends!(
    missing_wrong_or_foreign_credentials_are_unauthorized,
    missing_wrong_or_foreign_credentials_are_unauthorized
);

async fn rate_limit_headers_and_429(backend: Backend) {
    let options = Options { rate_limit_per_minute: 3, ..Options::default() };
    let Some(app) = spawn_app_with(backend, options).await else {
        return;
    };
    // spawn_app used one request already; the window may roll over between requests, so count from
    // what the server says rather than assuming.
    let mut refused = None;
    for _ in 0..8 {
        let response = app.get("/v3/account").await;
        let limit = response.headers()["x-ratelimit-limit"].to_str().unwrap().to_owned();
        assert_eq!(limit, "3");
        assert!(response.headers().contains_key("x-ratelimit-remaining"));
        assert!(response.headers().contains_key("x-ratelimit-reset"));
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
    }
    let refused = refused.expect("a fourth request within the minute is refused");
    assert_eq!(refused.headers()["x-ratelimit-remaining"], "0");
    assert!(refused.headers().contains_key("retry-after"));
    expect_error(refused, 429, "exceeded_rate").await;
    // Another key has its own budget.
    let other = app.other_account_key("other@example.com").await;
    assert_eq!(app.request_as(&other, Method::GET, "/v3/account").send().await.unwrap().status(), 200);
    app.stop().await;
}
both_backends!(rate_limit_headers_and_429, rate_limit_headers_and_429);

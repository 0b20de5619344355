use reqwest::Method;
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, expect_error, spawn_app};

async fn health_readiness_and_metrics(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: Value = app.client.get(app.url("/readyz")).send().await.unwrap().json().await.unwrap();
    let expected = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    assert_eq!(ready["database"], expected);
    app.get("/v3/api_app/list").await;
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("countersign_http_requests_total{method=\"GET\",route=\"/v3/api_app/list\",status=\"200\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("countersign_http_request_duration_seconds_bucket"));
    // The dashboard asks a visitor to sign in, on a page that says where the API is.
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let dashboard = no_redirects.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(
        (dashboard.status().as_u16(), dashboard.headers()["location"].to_str().unwrap()),
        (303, "/dashboard/login")
    );
    let login = app.client.get(app.url("/dashboard/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains(&format!("{}/v3", app.base)), "{login}");
    app.stop().await;
}
both_backends!(health_readiness_and_metrics, health_readiness_and_metrics);

async fn unknown_routes_and_methods_answer_in_the_error_format(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    expect_error(app.get("/v3/no_such_thing").await, 404, "not_found").await;
    expect_error(app.get("/v3/signature_request/list/extra/segments").await, 404, "not_found").await;
    expect_error(app.client.get(app.url("/nowhere")).send().await.unwrap(), 404, "not_found").await;
    expect_error(app.request(Method::DELETE, "/v3/account").send().await.unwrap(), 405, "method_not_supported").await;
    expect_error(app.request(Method::POST, "/v3/api_app/list").send().await.unwrap(), 405, "method_not_supported")
        .await;
    app.stop().await;
}
both_backends!(
    unknown_routes_and_methods_answer_in_the_error_format,
    unknown_routes_and_methods_answer_in_the_error_format
);

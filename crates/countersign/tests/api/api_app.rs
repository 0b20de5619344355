use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, expect_error, spawn_app, spawn_app_with};

async fn create_app(app: &TestApp, name: &str) -> Value {
    let response = app.post_json("/v3/api_app", &json!({"name": name, "domains": ["example.com"]})).await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["api_app"].clone()
}

async fn full_lifecycle(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let request = json!({
        "name": "My Production App",
        "domains": ["Example.com"],
        "callback_url": "http://127.0.0.1:9/app-callback",
        "oauth": {"callback_url": "https://example.com/oauth", "scopes": ["basic_account_info", "request_signature"]},
        "options": {"can_insert_everywhere": true},
        "white_labeling_options": {"link_color": "#0061FF", "legal_version": "terms2"}
    });
    let response = app.post_json("/v3/api_app", &request).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let api_app = &created["api_app"];
    let client_id = api_app["client_id"].as_str().unwrap().to_owned();
    assert_eq!(client_id.len(), 32);
    assert_eq!(api_app["name"], "My Production App");
    assert_eq!(api_app["domains"], json!(["example.com"]));
    assert_eq!(api_app["callback_url"], "http://127.0.0.1:9/app-callback");
    assert_eq!(api_app["options"]["can_insert_everywhere"], true);
    assert_eq!(api_app["owner_account"]["account_id"], app.account_id.as_str());
    assert_eq!(api_app["owner_account"]["email_address"], "owner@example.com");
    assert_eq!(api_app["oauth"]["scopes"], json!(["basic_account_info", "request_signature"]));
    let secret = api_app["oauth"]["secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 32);
    assert_eq!(api_app["white_labeling_options"]["link_color"], "#0061FF");
    assert_eq!(api_app["white_labeling_options"]["legal_version"], "terms2");
    assert_eq!(api_app["white_labeling_options"]["text_color1"], "#808080", "unset colors take the defaults");
    assert!(api_app["created_at"].as_i64().unwrap() > 1_700_000_000);

    let fetched: Value = app.get(&format!("/v3/api_app/{client_id}")).await.json().await.unwrap();
    assert_eq!(fetched["api_app"], *api_app, "GET shows what create returned");

    // PUT changes only what it names; the OAuth secret survives a change of OAuth settings.
    let update = json!({"name": "Renamed", "oauth": {"callback_url": "https://example.com/oauth2", "scopes": ["api_app_access"]}, "callback_url": ""});
    let response = app.put_json(&format!("/v3/api_app/{client_id}"), &update).await;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["api_app"]["name"], "Renamed");
    assert_eq!(updated["api_app"]["domains"], json!(["example.com"]));
    assert_eq!(updated["api_app"]["callback_url"], Value::Null);
    assert_eq!(updated["api_app"]["oauth"]["callback_url"], "https://example.com/oauth2");
    assert_eq!(updated["api_app"]["oauth"]["secret"], secret.as_str());
    assert_eq!(updated["api_app"]["white_labeling_options"]["link_color"], "#0061FF");

    let deleted = app.request(Method::DELETE, &format!("/v3/api_app/{client_id}")).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert!(deleted.bytes().await.unwrap().is_empty());
    expect_error(app.get(&format!("/v3/api_app/{client_id}")).await, 404, "not_found").await;
    expect_error(
        app.request(Method::DELETE, &format!("/v3/api_app/{client_id}")).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    app.stop().await;
}
both_backends!(full_lifecycle, full_lifecycle);

async fn list_pages_newest_first(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let empty: Value = app.get("/v3/api_app/list").await.json().await.unwrap();
    assert_eq!(empty["api_apps"], json!([]));
    assert_eq!(empty["list_info"], json!({"num_pages": 1, "num_results": 0, "page": 1, "page_size": 20}));
    let mut ids = Vec::new();
    for name in ["one", "two", "three"] {
        ids.push(create_app(&app, name).await["client_id"].as_str().unwrap().to_owned());
    }
    let first: Value = app.get("/v3/api_app/list?page=1&page_size=2").await.json().await.unwrap();
    assert_eq!(first["list_info"], json!({"num_pages": 2, "num_results": 3, "page": 1, "page_size": 2}));
    let second: Value = app.get("/v3/api_app/list?page=2&page_size=2").await.json().await.unwrap();
    assert_eq!(second["api_apps"].as_array().unwrap().len(), 1);
    let mut seen: Vec<String> = first["api_apps"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["api_apps"].as_array().unwrap())
        .map(|a| a["client_id"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    ids.sort();
    assert_eq!(seen, ids, "every app appears exactly once across pages");
    for bad in ["page_size=0", "page_size=101", "page=0", "page=abc"] {
        let error = expect_error(app.get(&format!("/v3/api_app/list?{bad}")).await, 400, "bad_request").await;
        assert_eq!(error["error_path"], bad.split('=').next().unwrap(), "{bad}");
    }
    app.stop().await;
}
both_backends!(list_pages_newest_first, list_pages_newest_first);

async fn other_accounts_apps_are_not_found(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mine = create_app(&app, "mine").await;
    let client_id = mine["client_id"].as_str().unwrap();
    let other = app.other_account_key("intruder@example.com").await;
    let path = format!("/v3/api_app/{client_id}");
    for method in [Method::GET, Method::DELETE] {
        expect_error(app.request_as(&other, method, &path).send().await.unwrap(), 404, "not_found").await;
    }
    let put = app.request_as(&other, Method::PUT, &path).json(&json!({"name": "stolen"})).send().await.unwrap();
    let error = expect_error(put, 404, "not_found").await;
    assert!(!error.to_string().contains("mine"));
    let theirs: Value =
        app.request_as(&other, Method::GET, "/v3/api_app/list").send().await.unwrap().json().await.unwrap();
    assert_eq!(theirs["list_info"]["num_results"], 0);
    let still: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(still["api_app"]["name"], "mine");
    expect_error(app.get("/v3/api_app/not-a-client-id").await, 404, "not_found").await;
    app.stop().await;
}
both_backends!(other_accounts_apps_are_not_found, other_accounts_apps_are_not_found);

async fn multipart_and_form_bodies_as_sdks_send_them(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // Bracket keys, as curl and the PHP/Ruby SDKs send them.
    let form = Form::new()
        .text("name", "Bracketed")
        .text("domains[0]", "a.example.com")
        .text("domains[1]", "b.example.com")
        .text("options[can_insert_everywhere]", "1")
        .text("white_labeling_options[primary_button_color]", "#00FF00");
    let response = app.request(Method::POST, "/v3/api_app").multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["api_app"]["domains"], json!(["a.example.com", "b.example.com"]));
    assert_eq!(body["api_app"]["options"]["can_insert_everywhere"], true);
    assert_eq!(body["api_app"]["white_labeling_options"]["primary_button_color"], "#00FF00");

    // JSON text in parts and Python-style booleans, as the official Python SDK sends them, with a logo.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    let form = Form::new()
        .text("name", "Pythonic")
        .text("domains", "[\"py.example.com\"]")
        .text("options", "{\"can_insert_everywhere\": \"False\"}")
        .text("oauth", "{\"callback_url\": \"https://py.example.com/oauth\", \"scopes\": [\"basic_account_info\"]}")
        .part("custom_logo_file", Part::bytes(png).file_name("logo.png").mime_str("image/png").unwrap());
    let response = app.request(Method::POST, "/v3/api_app").multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["api_app"]["domains"], json!(["py.example.com"]));
    assert_eq!(body["api_app"]["options"]["can_insert_everywhere"], false);
    assert_eq!(body["api_app"]["oauth"]["scopes"], json!(["basic_account_info"]));

    // A url-encoded form with `[]` keys.
    let response = app
        .request(Method::POST, "/v3/api_app")
        .form(&[("name", "Formed"), ("domains[]", "c.example.com"), ("domains[]", "d.example.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["api_app"]["domains"], json!(["c.example.com", "d.example.com"]));

    let not_image = Form::new()
        .text("name", "Logo")
        .text("domains[0]", "e.example.com")
        .part("custom_logo_file", Part::bytes(b"<html>".to_vec()).file_name("logo.png"));
    let error = expect_error(
        app.request(Method::POST, "/v3/api_app").multipart(not_image).send().await.unwrap(),
        400,
        "bad_request",
    )
    .await;
    assert_eq!(error["error_path"], "custom_logo_file");
    let list: Value = app.get("/v3/api_app/list").await.json().await.unwrap();
    assert_eq!(list["list_info"]["num_results"], 3, "the refused request wrote nothing");
    app.stop().await;
}
both_backends!(multipart_and_form_bodies_as_sdks_send_them, multipart_and_form_bodies_as_sdks_send_them);

async fn bad_input_names_the_parameter_and_writes_nothing(backend: Backend) {
    let options = Options { max_body_bytes: 4096, ..Options::default() };
    let Some(app) = spawn_app_with(backend, options).await else {
        return;
    };
    let cases = [
        (json!({"domains": ["example.com"]}), "name"),
        (json!({"name": "  ", "domains": ["example.com"]}), "name"),
        (json!({"name": "x"}), "domains"),
        (json!({"name": "x", "domains": []}), "domains"),
        (json!({"name": "x", "domains": ["ok.com", "not a domain"]}), "domains[1]"),
        (json!({"name": "x", "domains": ["example.com"], "callback_url": "ftp://example.com/"}), "callback_url"),
        (
            json!({"name": "x", "domains": ["example.com"], "oauth": {"scopes": ["basic_account_info"]}}),
            "oauth[callback_url]",
        ),
        (
            json!({"name": "x", "domains": ["example.com"], "oauth": {"callback_url": "https://e.com/o", "scopes": ["everything"]}}),
            "oauth[scopes][0]",
        ),
        (
            json!({"name": "x", "domains": ["example.com"], "options": {"can_insert_everywhere": "maybe"}}),
            "options[can_insert_everywhere]",
        ),
        (
            json!({"name": "x", "domains": ["example.com"], "white_labeling_options": {"link_color": "blue"}}),
            "white_labeling_options[link_color]",
        ),
    ];
    for (body, path) in cases {
        let error = expect_error(app.post_json("/v3/api_app", &body).await, 400, "bad_request").await;
        assert_eq!(error["error_path"], path, "{body}");
    }
    let malformed = app
        .request(Method::POST, "/v3/api_app")
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    expect_error(malformed, 400, "bad_request").await;
    let not_object = app
        .request(Method::POST, "/v3/api_app")
        .header("content-type", "application/json")
        .body("[1,2]")
        .send()
        .await
        .unwrap();
    expect_error(not_object, 400, "bad_request").await;
    let wrong_type = app
        .request(Method::POST, "/v3/api_app")
        .header("content-type", "text/csv")
        .body("name,domains")
        .send()
        .await
        .unwrap();
    expect_error(wrong_type, 400, "bad_request").await;
    let oversized = json!({"name": "x".repeat(5000), "domains": ["example.com"]});
    let error = expect_error(app.post_json("/v3/api_app", &oversized).await, 413, "payload_too_large").await;
    assert!(error["error_msg"].as_str().unwrap().contains("4096"));
    // A chunked body (no declared length) over the limit is cut off while it is read, with the same answer.
    let body = serde_json::to_vec(&oversized).unwrap();
    let mut raw = format!(
        "POST /v3/api_app HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        app.basic_auth()
    )
    .into_bytes();
    for chunk in body.chunks(1024) {
        raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        raw.extend_from_slice(chunk);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let mut stream = tokio::net::TcpStream::connect(app.addr()).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut stream, &raw).await.unwrap();
    let mut answer = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut stream, &mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(answer.contains("\"payload_too_large\""), "{answer}");
    let list: Value = app.get("/v3/api_app/list").await.json().await.unwrap();
    assert_eq!(list["list_info"]["num_results"], 0);
    app.stop().await;
}
both_backends!(bad_input_names_the_parameter_and_writes_nothing, bad_input_names_the_parameter_and_writes_nothing);

//! The HTTP edge under hostile or careless clients: deeply nested keys, made-up methods, slow and
//! idle connections, oversized and trickled bodies, answers given before an upload was read, heads
//! hyper refuses itself, and the connection cap. Raw TCP where a client library would hide the fault.

use std::time::Duration;

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, expect_error, spawn_app, spawn_app_with, wait_for};

fn deep_key(levels: usize) -> String {
    format!("a{}", "[a]".repeat(levels))
}

/// The server still answers (a nested key that overflowed the stack would have aborted the process).
async fn still_alive(app: &TestApp) {
    assert_eq!(app.client.get(app.url("/healthz")).send().await.unwrap().status(), 200);
}

async fn deeply_nested_keys_are_refused_everywhere(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // ~8,000 levels (24 KB) in a query string: a clear answer, no crash; with and without credentials.
    let query = format!("{}=1", deep_key(8_000));
    let list = app.get(&format!("/v3/signature_request/list?{query}")).await;
    let error = expect_error(list, 400, "bad_request").await;
    assert!(error["error_msg"].as_str().unwrap().contains("nested"), "{error}");
    let page = app.client.get(app.url(&format!("/editor/embeddedSign?{query}"))).send().await.unwrap();
    assert_eq!(page.status(), 403, "the unauthenticated sign page says the link is invalid");
    let file = app.client.get(app.url(&format!("/files/abc?{query}"))).send().await.unwrap();
    assert_eq!(file.status(), 400);
    still_alive(&app).await;

    // 100,000 levels: too long for a URI at all (414, in the error format; client libraries refuse
    // to send it, so over a raw socket) …
    let addr = app.addr();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!("GET /v3/signature_request/list?{}=1 HTTP/1.1\r\nHost: x\r\n\r\n", deep_key(100_000));
    let _ = stream.write_all(head.as_bytes()).await;
    let (status, body) = response_status_and_body(&closed_within(&mut stream, Duration::from_secs(10)).await);
    assert_eq!((status, body["error"]["error_name"].as_str()), (414, Some("uri_too_long")));
    // … and in a form body and a multipart part name, a 400 naming the (shortened) parameter.
    let form = app
        .request(Method::POST, "/v3/api_app")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("{}=1", deep_key(100_000)))
        .send()
        .await
        .unwrap();
    let error = expect_error(form, 400, "bad_request").await;
    assert!(error["error_path"].as_str().unwrap().len() < 80, "{error}");
    let multipart = app
        .request(Method::POST, "/v3/api_app")
        .multipart(Form::new().text(deep_key(100_000), "1"))
        .send()
        .await
        .unwrap();
    expect_error(multipart, 400, "bad_request").await;
    let page_key = app.get(&format!("/v3/signature_request/list?page{}=1", "[]".repeat(8_000))).await;
    expect_error(page_key, 400, "bad_request").await;
    still_alive(&app).await;
    app.stop().await;
}
both_backends!(deeply_nested_keys_are_refused_everywhere, deeply_nested_keys_are_refused_everywhere);

#[tokio::test]
async fn made_up_methods_do_not_grow_the_metrics() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    for i in 0..200 {
        let method = Method::from_bytes(format!("MADEUP{i}").as_bytes()).unwrap();
        let response = app.client.request(method, app.url("/v3/account")).send().await.unwrap();
        assert!(response.status().is_client_error());
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("MADEUP"), "made-up method names became label values");
    assert!(metrics.contains("method=\"other\""), "they are counted as `other`");
    app.stop().await;
}

/// Reads from `stream` until the server closes it; panics if it is still open after `deadline`.
async fn closed_within(stream: &mut TcpStream, deadline: Duration) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let result = tokio::time::timeout(deadline, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(result.is_ok(), "the server kept the connection open past {deadline:?}");
    seen
}

fn quick_edge() -> Options {
    let mut options = Options::default();
    options.http.header_timeout = Duration::from_millis(800);
    options.http.body_timeout = Duration::from_millis(1500);
    options
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed_and_the_cap_recovers() {
    let mut options = quick_edge();
    options.http.max_connections = 4;
    let app = spawn_app_with(Backend::Sqlite, options).await.unwrap();
    let addr = app.addr();
    // The test client's pooled connection counts against the cap too: use a fresh client per request.
    let fresh = || reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();

    // Slowloris: headers started, never finished.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /v3/account HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.unwrap();
    // Idle: connected, nothing sent.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    closed_within(&mut slow, Duration::from_secs(10)).await;
    closed_within(&mut idle, Duration::from_secs(10)).await;

    // Fill the cap with idle connections: a real request waits for a slot, then is served once the
    // idle ones time out (never refused, never hung).
    let mut idlers = Vec::new();
    for _ in 0..8 {
        idlers.push(TcpStream::connect(&addr).await.unwrap());
    }
    let started = std::time::Instant::now();
    let response = tokio::time::timeout(Duration::from_secs(20), fresh().get(app.url("/healthz")).send())
        .await
        .expect("served once idle connections timed out")
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(500), "it did wait: the cap held");
    drop(idlers);

    // The open-file limit was raised to the hard limit at start.
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap();
    let numbers: Vec<&str> = line.split_whitespace().filter(|w| w.chars().all(|c| c.is_ascii_digit())).collect();
    assert_eq!(numbers.first(), numbers.get(1), "soft limit raised to the hard one: {line}");
    app.stop().await;
}

fn response_status_and_body(raw: &[u8]) -> (u16, Value) {
    let text = String::from_utf8_lossy(raw);
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

async fn trickled_bodies_time_out_and_oversized_ones_are_refused_up_front(backend: Backend) {
    let mut options = quick_edge();
    options.max_body_bytes = 64 * 1024;
    let Some(app) = spawn_app_with(backend, options).await else {
        return;
    };
    let (addr, auth) = (app.addr(), app.basic_auth());
    // A body that never finishes arriving: 408 in the error format, then the connection closes.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v3/api_app HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let (status, body) = response_status_and_body(&closed_within(&mut slow, Duration::from_secs(15)).await);
    assert_eq!(status, 408, "{body}");
    assert_eq!(body["error"]["error_name"], "request_timeout");

    // A declared length over the limit is refused before any of the body is sent.
    let mut big = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v3/api_app HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n"
    );
    big.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), big.read(&mut buf)).await.unwrap().unwrap();
    let (status, body) = response_status_and_body(&buf[..n]);
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["error_name"], "payload_too_large");
    let list: Value = app.get("/v3/api_app/list").await.json().await.unwrap();
    assert_eq!(list["list_info"]["num_results"], 0, "nothing was written");
    app.stop().await;
}
both_backends!(
    trickled_bodies_time_out_and_oversized_ones_are_refused_up_front,
    trickled_bodies_time_out_and_oversized_ones_are_refused_up_front
);

/// What Python `requests` does: write the whole request, body and all, then read the answer.
async fn upload_then_read(addr: &str, head: &str, body_len: usize) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let body = vec![b'x'; body_len];
    let head = head.replace("{len}", &body_len.to_string());
    let (mut reader, mut writer) = stream.split();
    // Written in full even though the server answers early: the server must keep reading meanwhile.
    writer.write_all(head.as_bytes()).await.unwrap();
    let written = writer.write_all(&body).await;
    assert!(written.is_ok(), "the server reset the connection while the upload was being sent: {written:?}");
    let mut raw = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), reader.read_to_end(&mut raw)).await.unwrap();
    assert!(read.is_ok(), "reading the answer failed (connection reset?): {read:?}");
    response_status_and_body(&raw)
}

async fn early_answers_to_uploads_arrive_intact(backend: Backend) {
    let options = Options { max_body_bytes: 8 << 20, ..Options::default() };
    let Some(app) = spawn_app_with(backend, options).await else {
        return;
    };
    let (addr, auth) = (app.addr(), app.basic_auth());
    let upload = |path: &str, auth: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {{len}}\r\nConnection: close\r\n\r\n"
        )
    };
    for round in 0..5 {
        // 401: refused before the body is looked at.
        let (status, body) = upload_then_read(&addr, &upload("/v3/signature_request/send", ""), 3 << 20).await;
        assert_eq!((status, body["error"]["error_name"].as_str()), (401, Some("unauthorized")), "round {round}");
        // 404: no such route.
        let with_auth = format!("Authorization: {auth}\r\n");
        let (status, body) = upload_then_read(&addr, &upload("/v3/no_such_thing", &with_auth), 3 << 20).await;
        assert_eq!((status, body["error"]["error_name"].as_str()), (404, Some("not_found")), "round {round}");
        // 413: declared over the limit (8 MiB), sent anyway.
        let (status, body) = upload_then_read(&addr, &upload("/v3/signature_request/send", &with_auth), 12 << 20).await;
        assert_eq!((status, body["error"]["error_name"].as_str()), (413, Some("payload_too_large")), "round {round}");
    }
    app.stop().await;
}
both_backends!(early_answers_to_uploads_arrive_intact, early_answers_to_uploads_arrive_intact);

#[tokio::test]
async fn heads_hyper_refuses_are_answered_in_the_error_format() {
    let app = spawn_app(Backend::Sqlite).await.unwrap();
    let addr = app.addr();
    let cases = [
        (format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)), 414, "uri_too_long"),
        (
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "b".repeat(600_000)),
            431,
            "request_header_fields_too_large",
        ),
        ("GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_owned(), 400, "bad_request"),
    ];
    for (request, status, name) in cases {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        let _ = stream.write_all(request.as_bytes()).await;
        let raw = closed_within(&mut stream, Duration::from_secs(10)).await;
        let (got, body) = response_status_and_body(&raw);
        assert_eq!(got, status, "{}", String::from_utf8_lossy(&raw));
        assert_eq!(body["error"]["error_name"], name);
        assert!(String::from_utf8_lossy(&raw).to_ascii_lowercase().contains("content-type: application/json"));
    }
    still_alive(&app).await;
    app.stop().await;
}

async fn failed_authentications_are_throttled_per_address(backend: Backend) {
    let options = Options { auth_failures_per_minute: 5, ..Options::default() };
    let Some(app) = spawn_app_with(backend, options).await else {
        return;
    };
    let mut refused = None;
    for i in 0..20 {
        let response = app.request_as(&format!("{:064x}", i), Method::GET, "/v3/account").send().await.unwrap();
        if response.status() == 429 {
            refused = Some((i, response));
            break;
        }
        assert_eq!(response.status(), 401);
    }
    let (i, response) = refused.expect("guessing keys is throttled");
    assert!(i <= 5 + 1, "throttled after the budget of 5 (at attempt {i}), allowing for a minute boundary");
    assert!(response.headers().contains_key("retry-after"));
    expect_error(response, 429, "exceeded_rate").await;
    app.stop().await;
}
both_backends!(failed_authentications_are_throttled_per_address, failed_authentications_are_throttled_per_address);

fn one_page_pdf() -> Vec<u8> {
    crate::signature_requests::fixture("three-pages.pdf")
}

async fn bad_text_is_refused_alike_on_both_databases(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let send = |signer_name: &str, email: &str, extra: &[(&str, &str)]| {
        let mut form = Form::new()
            .text("signers[0][name]", signer_name.to_owned())
            .text("signers[0][email_address]", email.to_owned())
            .text("test_mode", "1")
            .part("files[0]", Part::bytes(one_page_pdf()).file_name("a.pdf").mime_str("application/pdf").unwrap());
        for (k, v) in extra {
            form = form.text((*k).to_owned(), (*v).to_owned());
        }
        app.request(Method::POST, "/v3/signature_request/send").multipart(form).send()
    };
    for (name, email, extra, path) in [
        ("Ada\u{0}Lovelace", "ada@example.com", vec![], "signers[0][name]"),
        ("Ada\nLovelace", "ada@example.com", vec![], "signers[0][name]"),
        ("Ada", "<script>@x.com", vec![], "signers[0][email_address]"),
        ("Ada", "ada@example.com", vec![("title", "a\u{0}b")], "title"),
        ("Ada", "ada@example.com", vec![("form_fields_per_document[0][x]", "NaN")], "form_fields_per_document[0][x]"),
        (
            "Ada",
            "ada@example.com",
            vec![("form_fields_per_document[0][width]", "inf")],
            "form_fields_per_document[0][width]",
        ),
        ("Ada", "ada@example.com", vec![("form_fields_per_document[0][y]", "-5")], "form_fields_per_document[0][y]"),
        (
            "Ada",
            "ada@example.com",
            vec![("custom_fields[0][name]", "n"), ("custom_fields[0][required]", "maybe")],
            "custom_fields[0][required]",
        ),
    ] {
        let error = expect_error(send(name, email, &extra).await.unwrap(), 400, "bad_request").await;
        assert_eq!(error["error_path"], path, "{error}");
    }
    let error = expect_error(send("Ada", "not-an-address", &[]).await.unwrap(), 400, "bad_request").await;
    assert_eq!(error["error_msg"], "signers[0][email_address] not valid");
    // Booleans in custom fields parse like every other boolean.
    let sent =
        send("Ada", "ada@example.com", &[("custom_fields[0][name]", "n"), ("custom_fields[0][required]", "TRUE")])
            .await
            .unwrap();
    assert_eq!(sent.status(), 200);
    let sent: Value = sent.json().await.unwrap();
    assert_eq!(sent["signature_request"]["custom_fields"][0]["required"], true);

    let app_name = app.post_json("/v3/api_app", &json!({"name": "x\u{0}", "domains": ["example.com"]})).await;
    assert_eq!(expect_error(app_name, 400, "bad_request").await["error_path"], "name");
    let enable = app.post_json("/v3/callback_endpoints/enable", &json!({"url": "https://e.com/\u{0}"})).await;
    assert_eq!(expect_error(enable, 400, "bad_request").await["error_path"], "url");
    expect_error(app.get("/v3/events/%00").await, 404, "not_found").await;
    for path in [
        "/v3/signature_request/%00",
        "/v3/signature_request/files/%00",
        "/v3/signature_request/fields/%00",
        "/v3/embedded/sign_url/%00",
        "/v3/api_app/%00",
    ] {
        assert_eq!(app.get(path).await.status(), 404, "{path}");
    }
    for path in
        ["/v3/signature_request/cancel/%00", "/v3/signature_request/remind/%00", "/v3/api_app/%00/callback_test"]
    {
        let response = app.post_json(path, &json!({"email_address": "ada@example.com"})).await;
        assert_eq!(response.status(), 404, "{path}");
    }
    expect_error(app.request(Method::POST, "/v3/events/%00/resend").send().await.unwrap(), 404, "not_found").await;
    let negative = app.get("/v3/signature_request/list?page=-1").await;
    let error = expect_error(negative, 400, "bad_request").await;
    assert!(error["error_msg"].as_str().unwrap().contains("out of range"), "{error}");
    let nothing: Value = app.get("/v3/signature_request/list").await.json().await.unwrap();
    assert_eq!(nothing["list_info"]["num_results"], 1, "only the valid request was stored");
    app.stop().await;
}
both_backends!(bad_text_is_refused_alike_on_both_databases, bad_text_is_refused_alike_on_both_databases);

async fn api_created_accounts_stay_unconfirmed_and_cannot_take_an_address(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app.post_json("/v3/account/create", &json!({"email_address": "owner@victim.example"})).await;
    assert_eq!(created.status(), 200);
    let created: Value = created.json().await.unwrap();
    assert_eq!(created["account"]["email_address"], "owner@victim.example");
    assert!(created["warnings"].as_array().unwrap().iter().any(|w| w["warning_name"] == "unconfirmed"), "{created}");
    // Another tenant cannot create it again …
    let again = app.post_json("/v3/account/create", &json!({"email_address": "OWNER@victim.example"})).await;
    expect_error(again, 400, "bad_request").await;
    // … but the operator claims the address for its owner.
    let output = app.cli_create_account("owner@victim.example").await;
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let claimed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(claimed["claimed"], true);
    assert_eq!(claimed["account_id"], created["account"]["account_id"]);
    let key = claimed["api_key"].as_str().unwrap();
    let me: Value = app.request_as(key, Method::GET, "/v3/account").send().await.unwrap().json().await.unwrap();
    assert_eq!(me["account"]["email_address"], "owner@victim.example");
    // A confirmed address is not claimed twice.
    assert!(!app.cli_create_account("owner@victim.example").await.status.success());
    app.stop().await;
}
both_backends!(
    api_created_accounts_stay_unconfirmed_and_cannot_take_an_address,
    api_created_accounts_stay_unconfirmed_and_cannot_take_an_address
);

async fn the_owner_confirms_an_api_created_account_by_email(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created: Value =
        app.post_json("/v3/account/create", &json!({"email_address": "new@example.com"})).await.json().await.unwrap();
    let id = countersign_domain::ids::AccountId::parse(created["account"]["account_id"].as_str().unwrap()).unwrap();
    let emails = app.store.stored_emails(&id).await.unwrap();
    assert_eq!(emails.len(), 1);
    assert_eq!(emails[0].to_address, "new@example.com");
    let link = emails[0].body.split_whitespace().find(|w| w.contains("/account/confirm?")).unwrap().to_owned();
    // Opening the link only asks (a mail scanner following it confirms nothing).
    let page = app.client.get(&link).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    assert!(html.contains("Confirm account"), "{html}");
    let query = link.split_once('?').unwrap().1.to_owned();
    let forged = app
        .client
        .post(app.url("/account/confirm"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query.replace("token=", "token=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let confirmed = app
        .client
        .post(app.url("/account/confirm"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);
    let html = confirmed.text().await.unwrap();
    let key = html.split("<code>").nth(1).and_then(|rest| rest.split("</code>").next()).unwrap().to_owned();
    assert_eq!(key.len(), 64, "{html}");
    let me = app.request_as(&key, Method::GET, "/v3/account").send().await.unwrap();
    assert_eq!(me.status(), 200);
    // The link works once: afterwards it says the account is already confirmed, and shows no key.
    let again = app
        .client
        .post(app.url("/account/confirm"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains("already confirmed") && !again.contains(&key));
    app.stop().await;
}
both_backends!(the_owner_confirms_an_api_created_account_by_email, the_owner_confirms_an_api_created_account_by_email);

#[tokio::test]
async fn the_operator_can_turn_api_account_creation_off() {
    let options = Options { api_account_create: false, ..Options::default() };
    let app = spawn_app_with(Backend::Sqlite, options).await.unwrap();
    let refused = app.post_json("/v3/account/create", &json!({"email_address": "x@example.com"})).await;
    expect_error(refused, 403, "forbidden").await;
    assert!(app.store.account_by_email("x@example.com").await.unwrap().is_none());
    app.stop().await;
}

fn cli(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut command = std::process::Command::new(crate::helpers::countersign_bin());
    command.args(args).arg("--data-dir").arg(app.data_dir.path());
    if let Some(url) = &app.database_url {
        command.args(["--database-url", url]);
    }
    command.env_remove("COUNTERSIGN_CONFIG").output().expect("the countersign binary runs")
}

fn cli_json_lines(output: &std::process::Output) -> Vec<Value> {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

async fn keys_are_issued_listed_and_revoked_and_accounts_deleted_from_the_cli(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let other = app.other_account_key("keys@example.com").await;
    let created = cli_json_lines(&cli(&app, &["account", "key", "create", "--account", "keys@example.com"]));
    let second = created[0]["api_key"].as_str().unwrap().to_owned();
    assert_eq!(app.request_as(&second, Method::GET, "/v3/account").send().await.unwrap().status(), 200);
    let listed = cli_json_lines(&cli(&app, &["account", "key", "list", "--account", "keys@example.com"]));
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0]["prefix"], other[..6]);
    assert!(listed.iter().all(|k| k["revoked_at"].is_null()));
    assert!(
        !String::from_utf8_lossy(&cli(&app, &["account", "key", "list", "--account", "keys@example.com"]).stdout)
            .contains(&other)
    );

    // Revoke the first by id: refused within the key cache's 2 s, the second still works.
    let first_id = listed[0]["key_id"].to_string();
    cli_json_lines(&cli(&app, &["account", "key", "revoke", "--account", "keys@example.com", &first_id]));
    wait_for(Duration::from_secs(10), "the revoked key to be refused", || async {
        let status = app.request_as(&other, Method::GET, "/v3/account").send().await.unwrap().status();
        (status == 401).then_some(())
    })
    .await;
    assert_eq!(app.request_as(&second, Method::GET, "/v3/account").send().await.unwrap().status(), 200);
    // Revoking it again, or a key of another account, fails.
    assert!(!cli(&app, &["account", "key", "revoke", "--account", "keys@example.com", &first_id]).status.success());
    assert!(
        !cli(&app, &["account", "key", "revoke", "--account", "owner@example.com", &second]).status.success(),
        "a key is revoked only through its own account"
    );

    // Delete: the key stops working and the address is free again.
    let accounts = cli_json_lines(&cli(&app, &["account", "list"]));
    assert!(accounts.iter().any(|a| a["email_address"] == "keys@example.com"));
    cli_json_lines(&cli(&app, &["account", "delete", "--account", "keys@example.com"]));
    wait_for(Duration::from_secs(10), "the deleted account's key to be refused", || async {
        let status = app.request_as(&second, Method::GET, "/v3/account").send().await.unwrap().status();
        (status == 401).then_some(())
    })
    .await;
    let accounts = cli_json_lines(&cli(&app, &["account", "list"]));
    assert!(!accounts.iter().any(|a| a["email_address"] == "keys@example.com"));
    let again = cli_json_lines(&app.cli_create_account("keys@example.com").await);
    assert_eq!(again[0]["claimed"], false);
    app.stop().await;
}
both_backends!(
    keys_are_issued_listed_and_revoked_and_accounts_deleted_from_the_cli,
    keys_are_issued_listed_and_revoked_and_accounts_deleted_from_the_cli
);

async fn private_embedded_ipv4_callback_urls_are_refused(backend: Backend) {
    let options = Options { allow_private_callbacks: false, ..Options::default() };
    let Some(app) = spawn_app_with(backend, options).await else {
        return;
    };
    for url in [
        "https://[::ffff:0:7f00:1]/cb",
        "https://[64:ff9b:1::a00:1]/cb",
        "https://[2002:a9fe:a9fe::1]/cb",
        "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/cb",
    ] {
        let response = app.put_json("/v3/account", &json!({"callback_url": url})).await;
        assert_eq!(expect_error(response, 400, "bad_request").await["error_path"], "callback_url", "{url}");
    }
    app.stop().await;
}
both_backends!(private_embedded_ipv4_callback_urls_are_refused, private_embedded_ipv4_callback_urls_are_refused);

/// A one-page PDF whose text extracts with a NUL inside a tag: its font's ToUnicode maps code 0x01 to
/// "A" followed by U+0000 (as some producers' broken CMaps do).
fn pdf_with_nul_in_a_tag() -> Vec<u8> {
    let cmap = "/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Nul def \
                1 begincodespacerange <00> <FF> endcodespacerange \
                1 beginbfchar <01> <00410000> endbfchar \
                1 beginbfrange <20> <7E> <0020> endbfrange endcmap CMapName currentdict /CMap defineresource pop end end";
    let content = "BT /F1 14 Tf 72 700 Td ([sig|req|signer1\\001]) Tj ET";
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
            .to_owned(),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding /ToUnicode 6 0 R >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len() + 1),
        format!("<< /Length {} >>\nstream\n{cmap}\nendstream", cmap.len() + 1),
    ];
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

async fn text_extracted_with_nul_is_stored_safely(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let receiver = crate::receiver::Receiver::start().await;
    app.set_account_callback(&receiver.url("/cb")).await;
    let form = Form::new()
        .text("signers[0][name]", "Ada")
        .text("signers[0][email_address]", "ada@example.com")
        .text("test_mode", "1")
        .text("use_text_tags", "1")
        .part(
            "files[0]",
            Part::bytes(pdf_with_nul_in_a_tag()).file_name("nul.pdf").mime_str("application/pdf").unwrap(),
        );
    let sent: Value = app
        .request(Method::POST, "/v3/signature_request/send")
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = sent["signature_request"]["signature_request_id"].as_str().unwrap().to_owned();
    let outcomes = ["signature_request_sent", "file_error", "signature_request_invalid", "unknown_error"];
    let callback = crate::signature_requests::wait_callback(&receiver, &id, &outcomes).await;
    // A malformed tag (its text has a character that is not printable), not an internal error.
    assert_eq!(callback["event"]["event_type"], "file_error", "{callback}");
    let payload = callback.to_string();
    assert!(!payload.contains("\\u0000"), "no NUL reaches the stored event: {payload}");
    assert!(payload.contains("[sig|req|signer1"), "the message quotes the tag: {payload}");
    app.stop().await;
}
both_backends!(text_extracted_with_nul_is_stored_safely, text_extracted_with_nul_is_stored_safely);

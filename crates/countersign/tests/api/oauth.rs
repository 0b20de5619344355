//! OAuth over HTTP, as an app's back end and a user's browser use it: the authorization page (its
//! cookie-bound form, a wrong sign-in, deny, allow), the code exchanged once, tokens that act for the
//! user within their scopes (403 beyond them), events of the user's requests delivered to the app's
//! callback signed with the app owner's key, refresh rotating the pair, a reused code or refresh token
//! revoking what it started, tokens of another app refused, expiry, revocation by the app and by the
//! operator, and `account/create` with client credentials ending in `account_confirmed`.

use std::time::Duration;

use countersign_callback::event_hash;
use reqwest::Method;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, countersign_bin, expect_error, spawn_app_with, wait_for};
use crate::receiver::Receiver;

const WAIT: Duration = Duration::from_secs(30);

/// An app of the default account with OAuth (the given scopes) and an event callback URL.
async fn oauth_app(app: &TestApp, receiver: &Receiver, name: &str, scopes: &[&str]) -> (String, String) {
    let body = json!({
        "name": name,
        "domains": ["example.com"],
        "callback_url": receiver.url("/app-cb"),
        "oauth": {"callback_url": receiver.url("/oauth-cb?tenant=7"), "scopes": scopes},
    });
    let response = app.post_json("/v3/api_app", &body).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created["api_app"]["client_id"].as_str().unwrap().to_owned();
    let secret = created["api_app"]["oauth"]["secret"].as_str().unwrap().to_owned();
    (id, secret)
}

fn page_url(app: &TestApp, query: &[(&str, &str)]) -> String {
    url::Url::parse_with_params(&app.url("/oauth/authorize"), query).unwrap().to_string()
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The authorization page for `client_id`: its text, and the cookie and form token it set.
async fn open_page(app: &TestApp, client_id: &str, state: &str) -> (String, String, String) {
    let url = page_url(app, &[("response_type", "code"), ("client_id", client_id), ("state", state)]);
    let response = browser().get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let html = response.text().await.unwrap();
    let token = html.split("name=\"csrf_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    (html, cookie, token)
}

/// Posts the page's form; `sign_in` are the extra fields (api_key, or email and password).
async fn answer(
    app: &TestApp,
    client_id: &str,
    state: &str,
    cookie: Option<&str>,
    token: &str,
    decision: &str,
    sign_in: &[(&str, &str)],
) -> reqwest::Response {
    let mut fields = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("state", state),
        ("csrf_token", token),
        ("decision", decision),
    ];
    fields.extend_from_slice(sign_in);
    let mut request = browser().post(app.url("/oauth/authorize")).form(&fields);
    if let Some(cookie) = cookie {
        request = request.header("cookie", cookie);
    }
    request.send().await.unwrap()
}

/// Runs the page as a user who signs in with `sign_in` and allows: the code the app receives.
async fn authorize(app: &TestApp, client_id: &str, state: &str, sign_in: &[(&str, &str)]) -> String {
    let (_, cookie, token) = open_page(app, client_id, state).await;
    let response = answer(app, client_id, state, Some(&cookie), &token, "allow", sign_in).await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let location = url::Url::parse(response.headers()[LOCATION].to_str().unwrap()).unwrap();
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["tenant"], "7", "the app's own query is kept");
    assert_eq!(query["state"], state);
    query["code"].clone()
}

async fn token_call(app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
    app.client.post(app.url(path)).json(body).send().await.unwrap()
}

async fn exchange(app: &TestApp, client_id: &str, secret: &str, code: &str, state: &str) -> reqwest::Response {
    let body = json!({"client_id": client_id, "client_secret": secret, "code": code, "state": state,
                      "grant_type": "authorization_code"});
    token_call(app, "/oauth/token", &body).await
}

fn bearer(app: &TestApp, token: &str, method: Method, path: &str) -> reqwest::RequestBuilder {
    app.client.request(method, app.url(path)).bearer_auth(token)
}

async fn bearer_status(app: &TestApp, token: &str, path: &str) -> u16 {
    bearer(app, token, Method::GET, path).send().await.unwrap().status().as_u16()
}

async fn set_password(app: &TestApp, account: &str, password: &str) {
    use std::io::Write;
    let mut command = std::process::Command::new(countersign_bin());
    command.args(["account", "password", "--account", account, "--data-dir"]).arg(app.data_dir.path());
    if let Some(url) = &app.database_url {
        command.args(["--database-url", url]);
    }
    command.env_remove("COUNTERSIGN_CONFIG").stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
    let password = password.to_owned();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

async fn the_code_flow_gives_tokens_that_act_for_the_user(backend: Backend) {
    let Some(app) = spawn_app_with(backend, Options::default()).await else { return };
    let receiver = Receiver::start().await;
    let (client_id, secret) =
        oauth_app(&app, &receiver, "Acme CRM", &["basic_account_info", "request_signature"]).await;
    let user_key = app.other_account_key("user@example.com").await;
    set_password(&app, "user@example.com", "a long passphrase").await;

    // The page names the app and what it may do; its form needs the page's cookie and a right sign-in.
    let (html, cookie, token) = open_page(&app, &client_id, "st-1").await;
    assert!(html.contains("Acme CRM") && html.contains("Send signature requests in your name"), "{html}");
    let url = page_url(&app, &[("response_type", "code"), ("client_id", &client_id), ("state", "x")]);
    let csp = browser().get(url).send().await.unwrap();
    assert!(
        csp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains(&format!("form-action 'self' {}", receiver.base))
    );
    let forged = answer(&app, &client_id, "st-1", None, &token, "allow", &[("api_key", &user_key)]).await;
    assert_eq!(forged.status(), 403);
    let wrong = answer(
        &app,
        &client_id,
        "st-1",
        Some(&cookie),
        &token,
        "allow",
        &[("email", "user@example.com"), ("password", "not it at all")],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("not right"));
    let denied = answer(&app, &client_id, "st-1", Some(&cookie), &token, "deny", &[]).await;
    assert_eq!(denied.status(), 303);
    assert!(denied.headers()[LOCATION].to_str().unwrap().contains("error=access_denied&state=st-1"));
    for (query, what) in [
        (vec![("response_type", "code"), ("client_id", "0".repeat(32).as_str()), ("state", "s")], "unknown app"),
        (vec![("response_type", "token"), ("client_id", client_id.as_str()), ("state", "s")], "implicit flow"),
        (vec![("response_type", "code"), ("client_id", client_id.as_str())], "no state"),
    ] {
        let page = browser().get(page_url(&app, &query)).send().await.unwrap();
        assert_eq!(page.status(), 400, "{what}");
    }

    // Signing in with the password and allowing gives a code, exchanged once for tokens.
    let code =
        authorize(&app, &client_id, "st-1", &[("email", "User@Example.com"), ("password", "a long passphrase")]).await;
    let wrong_state = exchange(&app, &client_id, &secret, &code, "st-2").await;
    expect_error(wrong_state, 400, "invalid_grant").await;
    let bad_secret = exchange(&app, &client_id, "nope", &code, "st-1").await;
    expect_error(bad_secret, 401, "unauthorized").await;
    let response = exchange(&app, &client_id, &secret, &code, "st-1").await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(
        (tokens["token_type"].as_str(), tokens["expires_in"].as_i64(), tokens["state"].as_str()),
        (Some("Bearer"), Some(3600), Some("st-1"))
    );
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let me: Value = bearer(&app, &access, Method::GET, "/v3/account").send().await.unwrap().json().await.unwrap();
    assert_eq!(me["account"]["email_address"], "user@example.com");

    // A code presented again is refused, and what it gave is revoked.
    let again = exchange(&app, &client_id, &secret, &code, "st-1").await;
    let error = expect_error(again, 400, "invalid_grant").await;
    assert!(error["error_msg"].as_str().unwrap().contains("already used"), "{error}");
    assert_eq!(bearer_status(&app, &access, "/v3/account").await, 401);

    // Authorized again (with the API key this time): the token acts within its scopes only.
    let code = authorize(&app, &client_id, "st-3", &[("api_key", &user_key)]).await;
    let tokens: Value = exchange(&app, &client_id, &secret, &code, "st-3").await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refused = bearer(&app, &access, Method::GET, "/v3/template/list").send().await.unwrap();
    let error = expect_error(refused, 403, "forbidden").await;
    assert!(error["error_msg"].as_str().unwrap().contains("template_access"), "{error}");
    expect_error(bearer(&app, &access, Method::GET, "/v3/events").send().await.unwrap(), 403, "forbidden").await;
    expect_error(
        bearer(&app, &access, Method::PUT, "/v3/account").json(&json!({"callback_url": ""})).send().await.unwrap(),
        403,
        "forbidden",
    )
    .await;

    // A request sent with the token is the user's; its events reach the app's callback, signed with
    // the key of the app's owner (the only key the app knows).
    let form = reqwest::multipart::Form::new()
        .text("title", "Sent by the CRM")
        .text("signers[0][name]", "Sam")
        .text("signers[0][email_address]", "sam@example.com")
        .text("test_mode", "1")
        .part(
            "files[0]",
            reqwest::multipart::Part::bytes(crate::signature_requests::fixture("simple-two-signers.pdf"))
                .file_name("a.pdf"),
        );
    let sent = bearer(&app, &access, Method::POST, "/v3/signature_request/send").multipart(form).send().await.unwrap();
    assert_eq!(sent.status(), 200, "{}", sent.text().await.unwrap());
    let sent: Value = sent.json().await.unwrap();
    let request_id = sent["signature_request"]["signature_request_id"].as_str().unwrap().to_owned();
    let user_sees: Value = app
        .request_as(&user_key, Method::GET, &format!("/v3/signature_request/{request_id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user_sees["signature_request"]["requester_email_address"], "user@example.com");
    let sent_event = wait_for(WAIT, "signature_request_sent at the app's callback", || async {
        receiver.received("/app-cb").into_iter().find(|r| r.json["event"]["event_type"] == "signature_request_sent")
    })
    .await;
    assert_eq!(sent_event.json["client_id"], client_id.as_str(), "the acting app is the request's app");
    let event = &sent_event.json["event"];
    assert_eq!(event["event_metadata"]["reported_for_app_id"], client_id.as_str());
    let time = event["event_time"].as_str().unwrap();
    assert_eq!(
        event["event_hash"],
        event_hash(&app.api_key, time, "signature_request_sent"),
        "keyed by the app owner's key"
    );
    expect_error(app.get(&format!("/v3/signature_request/{request_id}")).await, 404, "not_found").await;

    // Refresh rotates the pair; the old refresh token presented again revokes the new pair as well.
    let refreshed =
        token_call(&app, "/oauth/token?refresh", &json!({"grant_type": "refresh_token", "refresh_token": refresh}))
            .await;
    assert_eq!(refreshed.status(), 200);
    let next: Value = refreshed.json().await.unwrap();
    let next_access = next["access_token"].as_str().unwrap().to_owned();
    assert!(next.get("state").is_none());
    assert_eq!(bearer_status(&app, &access, "/v3/account").await, 401, "the old access token stops");
    assert_eq!(bearer_status(&app, &next_access, "/v3/account").await, 200);
    let reused =
        token_call(&app, "/v3/oauth/token?refresh", &json!({"grant_type": "refresh_token", "refresh_token": refresh}))
            .await;
    expect_error(reused, 400, "invalid_grant").await;
    assert_eq!(bearer_status(&app, &next_access, "/v3/account").await, 401, "reuse revokes the family");

    // A code or refresh token of one app is no use to another.
    let (other_id, other_secret) = oauth_app(&app, &receiver, "Other", &["basic_account_info"]).await;
    let code = authorize(&app, &client_id, "st-4", &[("api_key", &user_key)]).await;
    let error = expect_error(exchange(&app, &other_id, &other_secret, &code, "st-4").await, 400, "invalid_grant").await;
    assert!(error["error_msg"].as_str().unwrap().contains("another app"), "{error}");
    let tokens: Value = exchange(&app, &client_id, &secret, &code, "st-4").await.json().await.unwrap();
    let body = json!({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": other_id, "client_secret": other_secret});
    expect_error(token_call(&app, "/oauth/token?refresh", &body).await, 400, "invalid_grant").await;

    // The app gives a token up (RFC 7009); the operator withdraws the user's consent.
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(bearer_status(&app, &access, "/v3/account").await, 200);
    let revoke = json!({"client_id": client_id, "client_secret": secret, "token": tokens["refresh_token"]});
    assert_eq!(token_call(&app, "/oauth/revoke", &revoke).await.status(), 200);
    assert_eq!(bearer_status(&app, &access, "/v3/account").await, 401);
    let code = authorize(&app, &client_id, "st-5", &[("api_key", &user_key)]).await;
    let tokens: Value = exchange(&app, &client_id, &secret, &code, "st-5").await.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let mut command = std::process::Command::new(countersign_bin());
    command
        .args(["account", "oauth", "revoke", "--account", "user@example.com", &client_id, "--data-dir"])
        .arg(app.data_dir.path());
    if let Some(url) = &app.database_url {
        command.args(["--database-url", url]);
    }
    command.env_remove("COUNTERSIGN_CONFIG");
    let output = tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(bearer_status(&app, &access, "/v3/account").await, 401);
    let refresh_after = json!({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]});
    expect_error(token_call(&app, "/oauth/token?refresh", &refresh_after).await, 400, "invalid_grant").await;
    app.stop().await;
}
both_backends!(the_code_flow_gives_tokens_that_act_for_the_user, the_code_flow_gives_tokens_that_act_for_the_user);

async fn access_tokens_expire(backend: Backend) {
    let options = Options { oauth_token_lifetime: Duration::from_secs(1), ..Options::default() };
    let Some(app) = spawn_app_with(backend, options).await else { return };
    let receiver = Receiver::start().await;
    let (client_id, secret) = oauth_app(&app, &receiver, "Short", &["basic_account_info"]).await;
    let user_key = app.other_account_key("short@example.com").await;
    let code = authorize(&app, &client_id, "s", &[("api_key", &user_key)]).await;
    let tokens: Value = exchange(&app, &client_id, &secret, &code, "s").await.json().await.unwrap();
    assert_eq!(tokens["expires_in"], 1);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let error = wait_for(WAIT, "the access token to expire", || async {
        let response = bearer(&app, &access, Method::GET, "/v3/account").send().await.unwrap();
        if response.status() == 401 { Some(response.json::<Value>().await.unwrap()) } else { None }
    })
    .await;
    assert!(error["error"]["error_msg"].as_str().unwrap().contains("expired"), "{error}");
    // The refresh token still gives a working pair.
    let body = json!({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "client_id": client_id, "client_secret": secret});
    let next: Value = token_call(&app, "/oauth/token?refresh", &body).await.json().await.unwrap();
    let status = bearer_status(&app, next["access_token"].as_str().unwrap(), "/v3/account").await;
    assert!(status == 200 || status == 401, "a 1-second token may expire before it is used");
    app.stop().await;
}
both_backends!(access_tokens_expire, access_tokens_expire);

async fn an_app_creates_an_account_and_hears_it_confirmed(backend: Backend) {
    let Some(app) = spawn_app_with(backend, Options::default()).await else { return };
    let receiver = Receiver::start().await;
    let (client_id, secret) = oauth_app(&app, &receiver, "Onboarder", &["basic_account_info", "account_access"]).await;
    let wrong = app
        .post_json(
            "/v3/account/create",
            &json!({"email_address": "x@example.com", "client_id": client_id, "client_secret": "wrong"}),
        )
        .await;
    expect_error(wrong, 401, "unauthorized").await;
    expect_error(
        app.post_json("/v3/account/create", &json!({"email_address": "x@example.com", "client_id": client_id})).await,
        400,
        "bad_request",
    )
    .await;

    let body = json!({"email_address": "newbie@example.com", "client_id": client_id, "client_secret": secret});
    let response = app.post_json("/v3/account/create", &body).await;
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.unwrap();
    let access = created["oauth_data"]["access_token"].as_str().unwrap().to_owned();
    assert_eq!(created["oauth_data"]["token_type"], "Bearer");
    let error =
        expect_error(bearer(&app, &access, Method::GET, "/v3/account").send().await.unwrap(), 403, "forbidden").await;
    assert!(error["error_msg"].as_str().unwrap().contains("confirmed"), "{error}");

    let id = countersign_domain::ids::AccountId::parse(created["account"]["account_id"].as_str().unwrap()).unwrap();
    let emails = app.store.stored_emails(&id).await.unwrap();
    assert!(emails[0].body.contains("Onboarder"), "the e-mail names the app: {}", emails[0].body);
    let link = emails[0].body.split_whitespace().find(|w| w.contains("/account/confirm?")).unwrap().to_owned();
    let query = link.split_once('?').unwrap().1.to_owned();
    let confirmed = app
        .client
        .post(app.url("/account/confirm"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(query)
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), 200);

    let confirmed_event = wait_for(WAIT, "account_confirmed at the app's callback", || async {
        receiver.received("/app-cb").into_iter().find(|r| r.json["event"]["event_type"] == "account_confirmed")
    })
    .await;
    let payload = &confirmed_event.json;
    assert_eq!(payload["account"]["email_address"], "newbie@example.com");
    assert_eq!(payload["account"]["account_id"], id.as_str());
    assert_eq!(payload["event"]["event_metadata"]["reported_for_app_id"], client_id.as_str());
    let time = payload["event"]["event_time"].as_str().unwrap();
    assert_eq!(payload["event"]["event_hash"], event_hash(&app.api_key, time, "account_confirmed"));
    let me: Value = bearer(&app, &access, Method::GET, "/v3/account").send().await.unwrap().json().await.unwrap();
    assert_eq!(me["account"]["email_address"], "newbie@example.com");
    app.stop().await;
}
both_backends!(an_app_creates_an_account_and_hears_it_confirmed, an_app_creates_an_account_and_hears_it_confirmed);

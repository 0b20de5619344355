//! The dashboard over HTTP as a browser uses it: signing in (the form bound to its cookie; an API key or
//! a password), the session cookie's attributes, the settings page's forms (callback URL, API keys) with
//! and without the session's CSRF token, another account's key out of reach, and signing out.

use reqwest::Method;
use reqwest::header::{LOCATION, SET_COOKIE};
use serde_json::Value;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, spawn_app};

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// The value of a hidden `csrf_token` field in a page.
fn form_token(html: &str) -> String {
    html.split("name=\"csrf_token\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
}

fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

/// Signs in with `fields` (api_key, or email and password): the session cookie (`name=value`) and the
/// whole `Set-Cookie` line.
async fn sign_in(app: &TestApp, fields: &[(&str, &str)]) -> (String, String) {
    let page = browser().get(app.url("/dashboard/login")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let login_cookie = cookie_pair(page.headers()[SET_COOKIE].to_str().unwrap());
    let token = form_token(&page.text().await.unwrap());
    let mut form = vec![("csrf_token", token.as_str())];
    form.extend_from_slice(fields);
    let response =
        browser().post(app.url("/dashboard/login")).header("cookie", &login_cookie).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    assert_eq!(response.headers()[LOCATION], "/dashboard");
    let set = response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("countersign_session="))
        .unwrap();
    (cookie_pair(&set), set)
}

async fn page(app: &TestApp, session: &str, path: &str) -> reqwest::Response {
    browser().get(app.url(path)).header("cookie", session).send().await.unwrap()
}

async fn post(app: &TestApp, session: &str, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    browser().post(app.url(path)).header("cookie", session).form(form).send().await.unwrap()
}

async fn signing_in_and_the_settings_forms(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    // Without a session every page leads to the sign-in page, which says where the API is.
    let anonymous = browser().get(app.url("/dashboard/settings")).send().await.unwrap();
    assert_eq!(
        (anonymous.status().as_u16(), anonymous.headers()[LOCATION].to_str().unwrap()),
        (303, "/dashboard/login")
    );
    let login = browser().get(app.url("/dashboard/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains(&format!("{}/v3", app.base)), "{login}");
    // A sign-in form posted without the page's cookie is refused.
    let forged = browser()
        .post(app.url("/dashboard/login"))
        .form(&[("csrf_token", form_token(&login).as_str()), ("api_key", app.api_key.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let (session, set_cookie) = sign_in(&app, &[("api_key", &app.api_key)]).await;
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict") && set_cookie.contains("Path=/"),
        "{set_cookie}"
    );
    let me: Value = app.get("/v3/account").await.json().await.unwrap();
    let overview = page(&app, &session, "/dashboard").await.text().await.unwrap();
    assert!(overview.contains(me["account"]["email_address"].as_str().unwrap()), "{overview}");

    // The callback URL form: refused without the session's token, checked by the API's rules, saved.
    let settings = page(&app, &session, "/dashboard/settings").await.text().await.unwrap();
    let token = form_token(&settings);
    let url = "http://127.0.0.1:9/from-the-dashboard";
    let refused = post(&app, &session, "/dashboard/settings/callback_url", &[("callback_url", url)]).await;
    assert_eq!(refused.status(), 403);
    let wrong = post(
        &app,
        &session,
        "/dashboard/settings/callback_url",
        &[("csrf_token", "0".repeat(32).as_str()), ("callback_url", url)],
    )
    .await;
    assert_eq!(wrong.status(), 403);
    let me: Value = app.get("/v3/account").await.json().await.unwrap();
    assert_eq!(me["account"]["callback_url"], Value::Null, "a refused form changes nothing");
    let bad = post(
        &app,
        &session,
        "/dashboard/settings/callback_url",
        &[("csrf_token", &token), ("callback_url", "ftp://example.com/x")],
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("role=\"alert\""));
    let saved =
        post(&app, &session, "/dashboard/settings/callback_url", &[("csrf_token", &token), ("callback_url", url)])
            .await;
    assert_eq!(saved.status(), 303);
    let me: Value = app.get("/v3/account").await.json().await.unwrap();
    assert_eq!(me["account"]["callback_url"], url);

    // A key made here is shown once and works; revoked here, it stops.
    let created =
        post(&app, &session, "/dashboard/settings/keys", &[("csrf_token", &token)]).await.text().await.unwrap();
    let key = created.split("id=\"new-api-key\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    assert_eq!(app.request_as(&key, Method::GET, "/v3/account").send().await.unwrap().status(), 200);
    let again = page(&app, &session, "/dashboard/settings").await.text().await.unwrap();
    assert!(!again.contains(&key), "the key is shown once");
    let keys =
        app.store.api_key_list(&countersign_domain::ids::AccountId::parse(&app.account_id).unwrap()).await.unwrap();
    let new_id = keys.iter().find(|k| key.starts_with(&k.prefix) && k.revoked_at.is_none()).unwrap().key_id.to_string();
    let revoked =
        post(&app, &session, &format!("/dashboard/settings/keys/{new_id}/revoke"), &[("csrf_token", &token)]).await;
    assert_eq!(revoked.status(), 303);
    assert_eq!(app.request_as(&key, Method::GET, "/v3/account").send().await.unwrap().status(), 401);

    // Another account's session cannot revoke this account's key.
    let other_key = app.other_account_key("other@example.com").await;
    let (other_session, _) = sign_in(&app, &[("api_key", &other_key)]).await;
    let other_token = form_token(&page(&app, &other_session, "/dashboard/settings").await.text().await.unwrap());
    let first_id = keys.iter().find(|k| app.api_key.starts_with(&k.prefix)).unwrap().key_id.to_string();
    let cross = post(
        &app,
        &other_session,
        &format!("/dashboard/settings/keys/{first_id}/revoke"),
        &[("csrf_token", &other_token)],
    )
    .await;
    assert_eq!(cross.status(), 404);
    assert_eq!(app.get("/v3/account").await.status(), 200);
    let cross_token = post(&app, &other_session, "/dashboard/settings/keys", &[("csrf_token", &token)]).await;
    assert_eq!(cross_token.status(), 403, "one session's token is no good in another");

    // Signing out ends the session in the database, not only in the browser.
    let out = post(&app, &session, "/dashboard/logout", &[("csrf_token", &token)]).await;
    assert_eq!(out.status(), 303);
    assert!(out.headers()[SET_COOKIE].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(page(&app, &session, "/dashboard").await.status(), 303);
    app.stop().await;
}
both_backends!(signing_in_and_the_settings_forms, signing_in_and_the_settings_forms);

/// The callbacks page: the account's URL with its state and secret; **Send test event** (refused
/// without the session's token) reaches the receiver and the page shows it delivered; a URL disabled by
/// `410 Gone` shows as disabled with its parked delivery, and **Re-enable** replays it.
async fn the_callbacks_page_sends_tests_and_re_enables(backend: Backend) {
    use crate::receiver::{Behaviour, Receiver};
    let Some(app) = spawn_app(backend).await else { return };
    let receiver = Receiver::start().await;
    let url = receiver.url("/cb");
    app.set_account_callback(&url).await;
    let (session, _) = sign_in(&app, &[("api_key", &app.api_key)]).await;
    let listing = page(&app, &session, "/dashboard/callbacks").await.text().await.unwrap();
    assert!(listing.contains(&url) && listing.contains("this account") && listing.contains("whsec_"), "{listing}");
    let token = form_token(&listing);

    let forged = post(&app, &session, "/dashboard/callbacks/test", &[("target", "account")]).await;
    assert_eq!(forged.status(), 403);
    assert!(receiver.received("/cb").is_empty());
    let sent =
        post(&app, &session, "/dashboard/callbacks/test", &[("csrf_token", &token), ("target", "account")]).await;
    assert_eq!(sent.status(), 303);
    let location = sent.headers()[LOCATION].to_str().unwrap().to_owned();
    let event_id = location.split("sent=").nth(1).unwrap().to_owned();
    receiver.wait_count("/cb", 1, std::time::Duration::from_secs(30)).await;
    app.wait_event_state(&event_id, "delivered", std::time::Duration::from_secs(30)).await;
    let shown = page(&app, &session, &location).await.text().await.unwrap();
    assert!(shown.contains(&event_id) && shown.contains("delivered") && shown.contains("HTTP 200"), "{shown}");

    receiver.script("/cb", vec![Behaviour::Status(410, "gone")]);
    let sent =
        post(&app, &session, "/dashboard/callbacks/test", &[("csrf_token", &token), ("target", "account")]).await;
    let parked_id = sent.headers()[LOCATION].to_str().unwrap().split("sent=").nth(1).unwrap().to_owned();
    app.wait_event_state(&parked_id, "parked", std::time::Duration::from_secs(30)).await;
    let listing = page(&app, &session, "/dashboard/callbacks").await.text().await.unwrap();
    assert!(listing.contains("disabled") && listing.contains("Re-enable"), "{listing}");
    let enabled = post(&app, &session, "/dashboard/callbacks/enable", &[("csrf_token", &token), ("url", &url)]).await;
    assert_eq!(enabled.status(), 303);
    app.wait_event_state(&parked_id, "delivered", std::time::Duration::from_secs(30)).await;
    let other = app.other_account_key("other-cb@example.com").await;
    let (other_session, _) = sign_in(&app, &[("api_key", &other)]).await;
    let other_page = page(&app, &other_session, "/dashboard/callbacks").await.text().await.unwrap();
    assert!(!other_page.contains(&url), "another account sees none of these URLs");
    app.stop().await;
}
both_backends!(the_callbacks_page_sends_tests_and_re_enables, the_callbacks_page_sends_tests_and_re_enables);

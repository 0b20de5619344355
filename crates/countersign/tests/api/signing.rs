//! The signer page over HTTP, as the page's own script uses it (the browser suite in
//! `conformance/node/test/signing.browser.test.js` drives the same page in Chromium): opening a link,
//! page images, signing with every check, decline, reassign, PINs, signing order, and links that no
//! longer open anything — each with the events Dropbox Sign sends, and nothing changed by a refusal.

use std::time::Duration;

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, spawn_app_with, wait_for};
use crate::mail::SmtpSink;
use crate::receiver::Receiver;
use crate::signature_requests::{fixture, wait_callback};

pub(crate) const WAIT: Duration = Duration::from_secs(30);
const PARENT: &str = "https%3A%2F%2Fapp.example.com%2Fcheckout";

pub(crate) struct Signer {
    name: &'static str,
    email: &'static str,
    pin: Option<&'static str>,
    order: Option<u32>,
}

pub(crate) fn signer(name: &'static str, email: &'static str) -> Signer {
    Signer { name, email, pin: None, order: None }
}

pub(crate) async fn setup(backend: Backend, options: Options) -> Option<(TestApp, Receiver, String)> {
    let app = spawn_app_with(backend, options).await?;
    let receiver = Receiver::start().await;
    app.set_account_callback(&receiver.url("/cb")).await;
    let response = app.post_json("/v3/api_app", &json!({"name": "Signing app", "domains": ["example.com"]})).await;
    assert_eq!(response.status(), 201);
    let client_id = response.json::<Value>().await.unwrap()["api_app"]["client_id"].as_str().unwrap().to_owned();
    Some((app, receiver, client_id))
}

/// `create_embedded` on simple-two-signers.pdf with `fields` placed by `form_fields_per_document`.
async fn create(app: &TestApp, client_id: &str, signers: &[Signer], fields: Value, extra: &[(&str, &str)]) -> Value {
    create_at(app, "create_embedded", Some(client_id), signers, fields, extra).await
}

/// `send` or `create_embedded` (with `client_id`), then waits until the request is sent.
async fn create_at(
    app: &TestApp,
    endpoint: &str,
    client_id: Option<&str>,
    signers: &[Signer],
    fields: Value,
    extra: &[(&str, &str)],
) -> Value {
    let mut form = Form::new()
        .text("title", "Service agreement")
        .text("test_mode", "1")
        .text("form_fields_per_document", fields.to_string())
        .part(
            "files[0]",
            Part::bytes(fixture("simple-two-signers.pdf"))
                .file_name("agreement.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    for (i, s) in signers.iter().enumerate() {
        form = form.text(format!("signers[{i}][name]"), s.name).text(format!("signers[{i}][email_address]"), s.email);
        if let Some(pin) = s.pin {
            form = form.text(format!("signers[{i}][pin]"), pin);
        }
        if let Some(order) = s.order {
            form = form.text(format!("signers[{i}][order]"), order.to_string());
        }
    }
    if let Some(client_id) = client_id {
        form = form.text("client_id", client_id.to_owned());
    }
    for (key, value) in extra {
        form = form.text(key.to_string(), value.to_string());
    }
    let response =
        app.request(Method::POST, &format!("/v3/signature_request/{endpoint}")).multipart(form).send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let request = body["signature_request"].clone();
    wait_callback_for(app, &request).await;
    request
}

async fn wait_callback_for(app: &TestApp, request: &Value) {
    let id = request["signature_request_id"].as_str().unwrap();
    wait_for(WAIT, "the request to be sent", || async {
        let got: Value = app.get(&format!("/v3/signature_request/{id}")).await.json().await.ok()?;
        let sent = app.get(&format!("/v3/signature_request/files/{id}")).await.status() != 409;
        (sent && got["signature_request"]["has_error"] == false).then_some(())
    })
    .await;
}

/// A fresh embedded sign URL for signature `index`, opened the way `hellosign-embedded` opens it.
pub(crate) async fn sign_url(app: &TestApp, request: &Value, index: usize, client_id: &str) -> String {
    let signature_id = request["signatures"][index]["signature_id"].as_str().unwrap();
    let response: Value = app.get(&format!("/v3/embedded/sign_url/{signature_id}")).await.json().await.unwrap();
    let url = response["embedded"]["sign_url"].as_str().unwrap_or_else(|| panic!("{response}"));
    format!("{url}&parent_url={PARENT}&client_id={client_id}&skip_domain_verification=0&ux_version=2")
}

/// The page's status and HTML.
pub(crate) async fn open(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The settings the page hands its script.
pub(crate) fn page_config(html: &str) -> Value {
    let start = html.find("id=\"countersign-config\">").expect("the page has its settings") + 24;
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).unwrap()
}

pub(crate) async fn act(app: &TestApp, config: &Value, action: &str, body: Value) -> (u16, Value) {
    let mut body = body;
    body["session"] = config["session"].clone();
    body["expires"] = config["expires"].clone();
    let signature_id = config["signature_id"].as_str().unwrap();
    let response = reqwest::Client::new()
        .post(app.url(&format!("/sign/{signature_id}/{action}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A 1×1 PNG as the page sends a signature.
pub(crate) const PNG: &str = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

async fn request_of(app: &TestApp, request: &Value) -> Value {
    let id = request["signature_request_id"].as_str().unwrap();
    app.get(&format!("/v3/signature_request/{id}")).await.json::<Value>().await.unwrap()["signature_request"].clone()
}

fn event_types(receiver: &Receiver, id: &str) -> Vec<(String, Option<String>, i64)> {
    let mut events: Vec<(String, Option<String>, i64)> = receiver
        .received("/cb")
        .into_iter()
        .map(|r| r.json)
        .filter(|j| j["signature_request"]["signature_request_id"] == id)
        .map(|j| {
            (
                j["event"]["event_type"].as_str().unwrap().to_owned(),
                j["event"]["event_metadata"]["related_signature_id"].as_str().map(str::to_owned),
                j["event_sequence"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    events.sort_by_key(|e| e.2);
    events.dedup();
    events
}

async fn every_field_is_checked_and_signing_completes(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    let fields = json!([
        {"api_id": "sig1", "name": "Client signature", "type": "signature", "signer": 0, "page": 1, "x": 100, "y": 100, "width": 200, "height": 40, "required": true},
        {"api_id": "mail", "name": "Work e-mail", "type": "text", "signer": 0, "page": 1, "x": 100, "y": 160, "width": 200, "height": 20, "required": true, "validation_type": "email_address"},
        {"api_id": "color", "name": "Color", "type": "dropdown", "signer": 0, "page": 1, "x": 100, "y": 200, "width": 120, "height": 20, "options": ["Red", "Blue"]},
        {"api_id": "ok", "name": "Agree", "type": "checkbox", "signer": 0, "page": 1, "x": 100, "y": 240, "width": 14, "height": 14, "required": true},
        {"api_id": "when", "type": "date_signed", "signer": 0, "page": 1, "x": 100, "y": 280, "width": 120, "height": 20, "required": true, "field_options": {"date_format": "YYYY - MM - DD"}},
        {"api_id": "sig2", "type": "signature", "signer": 1, "page": 1, "x": 350, "y": 100, "width": 200, "height": 40, "required": true}
    ]);
    let request =
        create(&app, &client_id, &[signer("Zoë", "zoe@example.com"), signer("Bo", "bo@example.com")], fields, &[])
            .await;
    let id = request["signature_request_id"].as_str().unwrap().to_owned();
    let first = request["signatures"][0]["signature_id"].as_str().unwrap().to_owned();

    let url = sign_url(&app, &request, 0, &client_id).await;
    let (status, html) = open(&url).await;
    assert_eq!(status, 200, "{html}");
    for visible in ["Service agreement", "I agree", "Client signature", "Work e-mail", "Red", "Blue"] {
        assert!(html.contains(visible), "the page shows {visible:?}");
    }
    assert!(!html.contains("sig2"), "another signer's fields are not on this signer's page");
    let viewed = wait_callback(&receiver, &id, &["signature_request_viewed"]).await;
    assert_eq!(viewed["event"]["event_metadata"]["related_signature_id"], first.as_str());
    let config = page_config(&html);
    assert_eq!(config["embed"]["parent_origin"], "https://app.example.com");

    // Every page is an image.
    let src_start = html.find("<img src=\"").unwrap() + 10;
    let src =
        html[src_start..src_start + html[src_start..].find('"').unwrap()].replace("&amp;", "&").replace("&#38;", "&");
    let image = reqwest::get(app.url(&src)).await.unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");
    assert_eq!(&image.bytes().await.unwrap()[..4], b"\x89PNG");
    let forged = reqwest::get(app.url(&src.replace("session=", "session=0"))).await.unwrap();
    assert_eq!(forged.status(), 403);

    // Refusals change nothing and name the field.
    let values = json!({"mail": "zoe@example.com", "color": "Red", "ok": true});
    let (status, body) = act(&app, &config, "sign", json!({"values": values, "images": {}})).await;
    assert_eq!((status, body["error"]["error_path"].as_str()), (400, Some("sig1")), "{body}");
    let (status, body) =
        act(&app, &config, "sign", json!({"values": {"mail": "not an address", "ok": true}, "images": {"sig1": PNG}}))
            .await;
    assert_eq!((status, body["error"]["error_path"].as_str()), (400, Some("mail")), "{body}");
    let (status, body) = act(
        &app,
        &config,
        "sign",
        json!({"values": {"mail": "zoe@example.com", "color": "Green", "ok": true}, "images": {"sig1": PNG}}),
    )
    .await;
    assert_eq!((status, body["error"]["error_path"].as_str()), (400, Some("color")), "{body}");
    let (status, _) =
        act(&app, &config, "sign", json!({"values": values, "images": {"sig1": "data:image/gif;base64,R0lGODlh"}}))
            .await;
    assert_eq!(status, 400, "a signature must be a PNG");
    let (status, _) = act(&app, &config, "sign", json!({"values": {"sig2": "x"}, "images": {}})).await;
    assert_eq!(status, 400, "another signer's field");
    let mut forged = config.clone();
    forged["session"] = json!("0".repeat(40));
    let (status, _) = act(&app, &forged, "sign", json!({"values": values, "images": {"sig1": PNG}})).await;
    assert_eq!(status, 403);
    assert_eq!(request_of(&app, &request).await["signatures"][0]["status_code"], "awaiting_signature");

    // Signing.
    let (status, body) = act(&app, &config, "sign", json!({"values": values, "images": {"sig1": PNG}})).await;
    assert_eq!(status, 200, "{body}");
    let signed = wait_callback(&receiver, &id, &["signature_request_signed"]).await;
    assert_eq!(signed["event"]["event_metadata"]["related_signature_id"], first.as_str());
    assert_eq!(signed["signature_request"]["signatures"][0]["status_code"], "signed");
    let now = request_of(&app, &request).await;
    let data = now["response_data"].as_array().unwrap();
    let value = |api_id: &str| data.iter().find(|d| d["api_id"] == api_id).map(|d| d["value"].clone());
    assert_eq!(value("mail"), Some(json!("zoe@example.com")));
    assert_eq!(value("color"), Some(json!("Red")));
    assert_eq!(value("ok"), Some(json!(true)));
    let date = value("when").unwrap();
    assert!(date.as_str().unwrap().len() == 14 && date.as_str().unwrap().contains(" - "), "{date}");
    assert_eq!(data.iter().find(|d| d["api_id"] == "sig1").unwrap()["is_signed"], true);
    assert!(now["signatures"][0]["signed_at"].as_i64().is_some());

    // Twice (two tabs): refused, nothing changes.
    let (status, _) = act(&app, &config, "sign", json!({"values": values, "images": {"sig1": PNG}})).await;
    assert_eq!(status, 409);
    // The used link no longer opens the page, and says so.
    let (status, html) = open(&url).await;
    assert_eq!(status, 410);
    assert!(html.contains("You have already signed"));
    wait_callback(&receiver, &id, &["sign_url_invalid"]).await;

    // The second signer completes the request.
    let (_, html) = open(&sign_url(&app, &request, 1, &client_id).await).await;
    let (status, body) = act(&app, &page_config(&html), "sign", json!({"values": {}, "images": {"sig2": PNG}})).await;
    assert_eq!(status, 200, "{body}");
    let all = wait_callback(&receiver, &id, &["signature_request_all_signed"]).await;
    assert_eq!(all["signature_request"]["is_complete"], true);
    wait_callback(&receiver, &id, &["signature_request_downloadable"]).await;
    let order: Vec<String> = event_types(&receiver, &id).into_iter().map(|e| e.0).collect();
    let position = |t: &str| order.iter().position(|e| e == t).unwrap_or_else(|| panic!("{t} in {order:?}"));
    assert!(position("signature_request_sent") < position("signature_request_viewed"));
    assert!(position("signature_request_viewed") < position("signature_request_signed"));
    assert!(position("signature_request_signed") < position("signature_request_all_signed"));
    assert!(position("signature_request_all_signed") < position("signature_request_downloadable"));

    // The final copy carries the values where the fields were.
    let files = app.get(&format!("/v3/signature_request/files/{id}")).await;
    assert_eq!(files.status(), 200);
    let pdf = files.bytes().await.unwrap().to_vec();
    assert_ne!(pdf, fixture("simple-two-signers.pdf"));
    let words = countersign_pdf::debug_words(&pdf, &countersign_pdf::Limits::default()).unwrap();
    let text: Vec<&str> = words.tags.iter().map(|w| w.text.as_str()).collect();
    let stamped =
        words.tags.iter().find(|w| w.text.starts_with("zoe@example.com")).unwrap_or_else(|| panic!("{text:?}"));
    assert!((stamped.rect.x - 101.5).abs() < 2.0 && stamped.rect.y > 160.0 && stamped.rect.y < 180.0, "{stamped:?}");

    // It is sealed: pdfsig finds the whole file signed and valid, and verify traces it to this request.
    if let Some(report) = pdfsig(&app, &pdf) {
        assert!(report.contains("Signature is Valid") && report.contains("Total document signed"), "{report}");
    }
    let verified = verify(&app, &pdf).await;
    assert_eq!(verified["intact"], true, "{verified}");
    assert_eq!(verified["signature_request_id"], id.as_str());
    let mut tampered = pdf.clone();
    let middle = tampered.len() / 3;
    tampered[middle] ^= 0x01;
    let verified = verify(&app, &tampered).await;
    assert_eq!(verified["intact"], false, "one changed byte: {verified}");

    // The audit trail: each original's digest, each signer's steps with the client's address.
    let audit = app.get(&format!("/v3/signature_request/{id}/audit")).await;
    assert_eq!(audit.status(), 200);
    let audit: Value = audit.json().await.unwrap();
    let trail = &audit["audit_trail"];
    assert_eq!(trail["documents"][0]["sha256"], sha256_hex(&fixture("simple-two-signers.pdf")), "{trail}");
    let steps = trail["signers"][0]["steps"].as_array().unwrap();
    let actions: Vec<&str> = steps.iter().map(|s| s["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["Sent", "Viewed", "Signed"], "{trail}");
    assert_eq!(steps[2]["ip_address"], "127.0.0.1", "{trail}");
    assert!(trail["completed_at"].as_i64().is_some());
    assert_eq!(trail["final_copy"]["sha256"], sha256_hex(&pdf));
    if let Some(text) = pdftotext(&app, &pdf) {
        assert!(text.contains("Audit trail") && text.contains(&id), "{text}");
        assert!(text.contains(&sha256_hex(&fixture("simple-two-signers.pdf"))), "{text}");
        assert!(text.contains(trail["final_copy"]["stamped_sha256"].as_str().unwrap()), "{text}");
    }
    // Another account learns nothing of it.
    let other_key = app.other_account_key("stranger@example.com").await;
    let other =
        app.request_as(&other_key, Method::GET, &format!("/v3/signature_request/{id}/audit")).send().await.unwrap();
    assert_eq!(other.status(), 404);
    let theirs = verify_as(&app, &other_key, &pdf).await;
    assert_eq!(theirs["intact"], true, "anyone may check a seal");
    assert_eq!(theirs["signature_request_id"], Value::Null, "but only the owner learns whose: {theirs}");
    app.stop().await;
}
both_backends!(every_field_is_checked_and_signing_completes_on, every_field_is_checked_and_signing_completes);

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `POST /v3/signature_request/verify` with `pdf`; the `verification` object.
pub(crate) async fn verify(app: &TestApp, pdf: &[u8]) -> Value {
    verify_as(app, &app.api_key, pdf).await
}

pub(crate) async fn verify_as(app: &TestApp, key: &str, pdf: &[u8]) -> Value {
    let form =
        Form::new().part("file", Part::bytes(pdf.to_vec()).file_name("final.pdf").mime_str("application/pdf").unwrap());
    let response =
        app.request_as(key, Method::POST, "/v3/signature_request/verify").multipart(form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["verification"].clone()
}

/// Runs a poppler tool on `pdf`, or `None` (a notice; a failure under COUNTERSIGN_REQUIRE_POPPLER=1)
/// when it is not installed.
pub(crate) fn poppler(app: &TestApp, tool: &str, args: &[&str], pdf: &[u8]) -> Option<String> {
    let exe = std::path::Path::new("/usr/bin").join(tool);
    if !exe.exists() {
        assert!(
            std::env::var("COUNTERSIGN_REQUIRE_POPPLER").as_deref() != Ok("1"),
            "{tool} is required (COUNTERSIGN_REQUIRE_POPPLER=1) but was not found"
        );
        eprintln!("NOTICE: {tool} not found; skipping its check");
        return None;
    }
    let file = app.data_dir.path().join(format!("check-{}.pdf", &sha256_hex(pdf)[..12]));
    std::fs::write(&file, pdf).unwrap();
    let out = std::process::Command::new(exe)
        .args(args)
        .arg(&file)
        .args(["-"].iter().filter(|_| tool == "pdftotext"))
        .output()
        .unwrap();
    Some(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

pub(crate) fn pdfsig(app: &TestApp, pdf: &[u8]) -> Option<String> {
    poppler(app, "pdfsig", &[], pdf)
}

pub(crate) fn pdftotext(app: &TestApp, pdf: &[u8]) -> Option<String> {
    poppler(app, "pdftotext", &["-enc", "UTF-8"], pdf)
}

async fn pins_order_decline_and_reassign(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    let fields = json!([
        {"api_id": "a", "type": "signature", "signer": 0, "page": 1, "x": 100, "y": 100, "width": 200, "height": 40, "required": true},
        {"api_id": "b", "type": "signature", "signer": 1, "page": 1, "x": 100, "y": 200, "width": 200, "height": 40, "required": true}
    ]);
    let signers = [
        Signer { name: "First", email: "first@example.com", pin: Some("4711"), order: Some(0) },
        Signer { name: "Second", email: "second@example.com", pin: None, order: Some(1) },
    ];
    let extra = [("allow_decline", "1"), ("allow_reassign", "1")];
    let request = create(&app, &client_id, &signers, fields.clone(), &extra).await;
    let id = request["signature_request_id"].as_str().unwrap().to_owned();

    // The second signer waits for the first; opening early changes nothing.
    let (status, html) = open(&sign_url(&app, &request, 1, &client_id).await).await;
    assert_eq!(status, 200);
    assert!(html.contains("Not your turn yet"), "{html}");

    // The PIN comes first; a wrong one is refused, the right one opens the page (and only then: viewed).
    let url = sign_url(&app, &request, 0, &client_id).await;
    let (status, html) = open(&url).await;
    assert_eq!(status, 200);
    assert!(html.contains("Enter your access code") && !html.contains("I agree"));
    let client = reqwest::Client::new();
    let wrong = client.post(&url).form(&[("pin", "0000")]).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.text().await.unwrap().contains("not correct"));
    assert!(event_types(&receiver, &id).iter().all(|e| e.0 != "signature_request_viewed"));
    let right = client.post(&url).form(&[("pin", "4711")]).send().await.unwrap();
    assert_eq!(right.status(), 200);
    let config = page_config(&right.text().await.unwrap());
    wait_callback(&receiver, &id, &["signature_request_viewed"]).await;

    // Reassign: a new signer, a new signature id; the old link is closed.
    let (status, body) =
        act(&app, &config, "reassign", json!({"name": "Deputy", "email_address": "not-an-address"})).await;
    assert_eq!((status, body["error"]["error_path"].as_str()), (400, Some("email_address")));
    let (status, body) = act(
        &app,
        &config,
        "reassign",
        json!({"name": "Deputy", "email_address": "deputy@example.com", "reason": "On leave"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let reassigned = wait_callback(&receiver, &id, &["signature_request_reassigned"]).await;
    let moved = &reassigned["signature_request"]["signatures"][0];
    assert_eq!(moved["signer_email_address"], "deputy@example.com");
    assert_eq!(moved["reassignment_reason"], "On leave");
    assert_eq!(reassigned["event"]["event_metadata"]["related_signature_id"], moved["signature_id"]);
    assert_eq!(open(&url).await.0, 410, "the old signer's link is closed");

    // Decline needs a reason; with one, the request is declined and the reason travels with the event.
    let now = request_of(&app, &request).await;
    let deputy_url = sign_url(&app, &now, 0, &client_id).await;
    let (status, html) = open(&deputy_url).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("I agree"), "an access code is for the person it was given to, not their deputy");
    let config = page_config(&html);
    let (status, body) = act(&app, &config, "decline", json!({"reason": "  "})).await;
    assert_eq!((status, body["error"]["error_path"].as_str()), (400, Some("reason")));
    let (status, _) = act(&app, &config, "decline", json!({"reason": "Wrong amount"})).await;
    assert_eq!(status, 200);
    let declined = wait_callback(&receiver, &id, &["signature_request_declined"]).await;
    assert_eq!(declined["event"]["event_metadata"]["event_message"], "Wrong amount");
    assert_eq!(declined["signature_request"]["is_declined"], true);
    let (status, _) = act(&app, &config, "sign", json!({"values": {}, "images": {"a": PNG}})).await;
    assert_eq!(status, 409, "a declined request cannot be signed");
    app.stop().await;
}
both_backends!(pins_order_decline_and_reassign_on, pins_order_decline_and_reassign);

async fn links_that_no_longer_open_anything(backend: Backend) {
    let options = Options { sign_url_lifetime: Duration::from_secs(1), ..Options::default() };
    let Some((app, receiver, client_id)) = setup(backend, options).await else { return };
    let fields = json!([{"api_id": "a", "type": "signature", "signer": 0, "page": 1, "x": 100, "y": 100, "width": 200, "height": 40, "required": true}]);
    let request = create(&app, &client_id, &[signer("Ann", "ann@example.com")], fields, &[]).await;
    let id = request["signature_request_id"].as_str().unwrap().to_owned();
    let url = sign_url(&app, &request, 0, &client_id).await;

    // A page outside the app's domains is refused (the test-mode skip needs the library's flag).
    let elsewhere = url.replace(PARENT, "https%3A%2F%2Fevil.example.net%2F");
    let (status, html) = open(&elsewhere).await;
    assert_eq!(status, 403);
    assert!(html.contains("not on one of the domains"), "{html}");
    let skipped = elsewhere.replace("skip_domain_verification=0", "skip_domain_verification=1");
    assert_eq!(open(&skipped).await.0, 200, "test-mode requests may skip domain verification");
    // A token for another link is refused without an event.
    let tampered = url.replace("token=", "token=f");
    assert_eq!(open(&tampered).await.0, 403);

    // An expired link: a clear page and `sign_url_invalid` for that signer.
    let html = wait_for(WAIT, "the link to expire", || async {
        let (status, html) = open(&url).await;
        (status == 403 && html.contains("expired")).then_some(html)
    })
    .await;
    assert!(html.contains("This link has expired"));
    let invalid = wait_callback(&receiver, &id, &["sign_url_invalid"]).await;
    assert_eq!(invalid["event"]["event_metadata"]["related_signature_id"], request["signatures"][0]["signature_id"]);
    let invalid_count = event_types(&receiver, &id).iter().filter(|e| e.0 == "sign_url_invalid").count();
    assert_eq!(invalid_count, 1, "a forged token fires nothing: {:?}", event_types(&receiver, &id));
    app.stop().await;
}
both_backends!(links_that_no_longer_open_anything_on, links_that_no_longer_open_anything);

/// The signer link in an e-mail as received (quoted-printable undone).
fn link_in(message: &str) -> Option<String> {
    let text = message.replace("=\r\n", "").replace("=\n", "").replace("=3D", "=");
    let start = text.find("http://")?;
    let end = start + text[start..].find(|c: char| c.is_whitespace()).unwrap_or(text.len() - start);
    Some(text[start..end].to_owned())
}

async fn mail_to(sink: &SmtpSink, address: &str, containing: &str) -> String {
    wait_for(WAIT, &format!("an e-mail to {address} with {containing:?}"), || async {
        let messages = sink.messages.lock().unwrap().clone();
        messages.into_iter().find(|(to, body)| to.contains(address) && body.contains(containing)).map(|(_, body)| body)
    })
    .await
}

async fn signers_are_emailed_in_order_and_ccs_at_the_end(backend: Backend) {
    let sink = SmtpSink::start().await;
    let options = Options { smtp_url: Some(sink.url.clone()), ..Options::default() };
    let Some((app, receiver, _)) = setup(backend, options).await else { return };
    let fields = json!([
        {"api_id": "a", "type": "signature", "signer": 0, "page": 1, "x": 100, "y": 100, "width": 200, "height": 40, "required": true},
        {"api_id": "b", "type": "signature", "signer": 1, "page": 1, "x": 100, "y": 200, "width": 200, "height": 40, "required": true}
    ]);
    let signers = [
        Signer { name: "First", email: "first@example.com", pin: None, order: Some(0) },
        Signer { name: "Second", email: "second@example.com", pin: None, order: Some(1) },
    ];
    let extra = [("cc_email_addresses[0]", "boss@example.com"), ("message", "Please sign by Friday.")];
    let request = create_at(&app, "send", None, &signers, fields, &extra).await;
    let id = request["signature_request_id"].as_str().unwrap().to_owned();

    // Only the first signer is invited; their link opens the page (no embedding app).
    let invitation = mail_to(&sink, "first@example.com", "Please sign by Friday.").await;
    assert!(sink.messages.lock().unwrap().iter().all(|(to, _)| !to.contains("second@example.com")));
    let link = link_in(&invitation).unwrap_or_else(|| panic!("no link in {invitation}"));
    assert!(link.starts_with(&app.url("/sign/")), "{link}");
    let remind = app
        .post_json(&format!("/v3/signature_request/remind/{id}"), &json!({"email_address": "first@example.com"}))
        .await;
    assert_eq!(remind.status(), 200);
    mail_to(&sink, "first@example.com", "Reminder:").await;
    let (status, html) = open(&link).await;
    assert_eq!(status, 200, "{html}");
    let (status, body) = act(&app, &page_config(&html), "sign", json!({"values": {}, "images": {"a": PNG}})).await;
    assert_eq!(status, 200, "{body}");

    // Then the second, and when they have signed, the CC.
    let second = link_in(&mail_to(&sink, "second@example.com", "asks you to sign").await).unwrap();
    let (_, html) = open(&second).await;
    let (status, body) = act(&app, &page_config(&html), "sign", json!({"values": {}, "images": {"b": PNG}})).await;
    assert_eq!(status, 200, "{body}");
    mail_to(&sink, "boss@example.com", "Everyone has signed it").await;
    wait_callback(&receiver, &id, &["signature_request_all_signed"]).await;
    // The SMTP server has the last message a moment before the job marks it sent.
    let outbox: Value = wait_for(WAIT, "every stored e-mail marked sent", || async {
        let outbox: Value = app.get("/v3/x/outbox").await.json().await.ok()?;
        outbox["emails"].as_array()?.iter().all(|e| e["sent_at_ms"].is_i64()).then_some(outbox)
    })
    .await;
    let subjects: Vec<&str> =
        outbox["emails"].as_array().unwrap().iter().map(|e| e["subject"].as_str().unwrap()).collect();
    assert_eq!(subjects.len(), 4, "{subjects:?}");

    // A reassignment on a request sent by e-mail invites the new signer with their own link.
    let fields = json!([{"api_id": "d", "type": "signature", "signer": 0, "page": 1, "x": 100, "y": 100, "width": 200, "height": 40, "required": true}]);
    let handed =
        create_at(&app, "send", None, &[signer("Busy", "busy@example.com")], fields, &[("allow_reassign", "1")]).await;
    let busy = link_in(&mail_to(&sink, "busy@example.com", "asks you to sign").await).unwrap();
    let (_, html) = open(&busy).await;
    let reassign = json!({"name": "Deputy", "email_address": "deputy@example.com"});
    assert_eq!(act(&app, &page_config(&html), "reassign", reassign).await.0, 200);
    let deputy = link_in(&mail_to(&sink, "deputy@example.com", "asks you to sign").await).unwrap();
    let moved = request_of(&app, &handed).await["signatures"][0]["signature_id"].as_str().unwrap().to_owned();
    assert!(deputy.contains(&format!("/sign/{moved}?")), "{deputy}");
    assert_eq!(open(&deputy).await.0, 200);

    // A recipient the SMTP server refuses: `signature_request_email_bounce` for that signer.
    let fields = json!([{"api_id": "c", "type": "signature", "signer": 0, "page": 1, "x": 100, "y": 100, "width": 200, "height": 40}]);
    let bounced = create_at(&app, "send", None, &[signer("Nobody", "bounce@example.com")], fields, &[]).await;
    let bounce = wait_callback(
        &receiver,
        bounced["signature_request_id"].as_str().unwrap(),
        &["signature_request_email_bounce"],
    )
    .await;
    assert_eq!(bounce["event"]["event_metadata"]["related_signature_id"], bounced["signatures"][0]["signature_id"]);
    app.stop().await;
}
both_backends!(signers_are_emailed_in_order_and_ccs_at_the_end_on, signers_are_emailed_in_order_and_ccs_at_the_end);

async fn form_fields_land_where_dropbox_sign_says(backend: Backend) {
    let Some((app, _receiver, client_id)) = setup(backend, Options::default()).await else { return };
    // three-pages.pdf has A4 pages: 595.28 × 841.89 points, 935.43 px tall at 80 DPI.
    let fields = json!([
        {"api_id": "corner", "type": "signature", "signer": 0, "page": 2, "x": 10, "y": 10, "width": 111, "height": 111},
        {"api_id": "legacy", "type": "text", "signer": 0, "x": 200, "y": 1035.43, "width": 100, "height": 20},
        {"api_id": "edge", "type": "text", "signer": 0, "page": 1, "x": 550, "y": 20, "width": 100, "height": 20}
    ]);
    let form = Form::new()
        .text("client_id", client_id.clone())
        .text("test_mode", "1")
        .text("signers[0][name]", "Geo")
        .text("signers[0][email_address]", "geo@example.com")
        .text("form_fields_per_document", fields.to_string())
        .part(
            "files[0]",
            Part::bytes(fixture("three-pages.pdf")).file_name("a4.pdf").mime_str("application/pdf").unwrap(),
        );
    let response =
        app.request(Method::POST, "/v3/signature_request/create_embedded").multipart(form).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    let warnings = body["warnings"].as_array().cloned().unwrap_or_default();
    let placement: Vec<&Value> = warnings.iter().filter(|w| w["warning_name"] == "form_fields_placement").collect();
    assert_eq!(placement.len(), 1, "{body}");
    assert!(placement[0]["warning_msg"].as_str().unwrap().contains("form_fields_per_document[2]"), "{body}");
    let request = body["signature_request"].clone();
    wait_callback_for(&app, &request).await;
    let id = request["signature_request_id"].as_str().unwrap();
    let placed: Value = app.get(&format!("/v3/signature_request/fields/{id}")).await.json().await.unwrap();
    let field =
        |api_id: &str| placed["fields"].as_array().unwrap().iter().find(|f| f["api_id"] == api_id).unwrap().clone();
    let near = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 0.05;
    // With `page`: x and y are points on that page; the size is 80-DPI pixels (111 px ≈ 100 pt).
    let corner = field("corner");
    assert_eq!(corner["page"], 2);
    assert!(near(&corner["x"], 10.0) && near(&corner["y"], 10.0) && near(&corner["width"], 99.9), "{corner}");
    // Without `page`: the legacy 80-DPI system, pages stacked, x starting at 100 on portrait pages.
    let legacy = field("legacy");
    assert_eq!(legacy["page"], 2);
    assert!(near(&legacy["x"], 90.0) && near(&legacy["y"], 90.0) && near(&legacy["height"], 18.0), "{legacy}");
    // Overflowing the right edge: cut at the edge.
    let edge = field("edge");
    assert!(near(&edge["x"], 550.0) && near(&edge["width"], 45.28), "{edge}");
    app.stop().await;
}
both_backends!(form_fields_land_where_dropbox_sign_says_on, form_fields_land_where_dropbox_sign_says);

/// Damages a request's stored document, as storage corruption would.
async fn damage_document(app: &TestApp, id: &str) {
    use sqlx::Connection;
    let sql = "UPDATE blobs SET bytes = $1 WHERE sha256 = (SELECT blob_sha256 FROM documents WHERE signature_request_id = $2)";
    let garbage = b"%PDF-1.7\nthis is not a PDF any more\n%%EOF\n".to_vec();
    match &app.database_url {
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(sql).bind(garbage).bind(id).execute(&mut conn).await.unwrap();
        }
        None => {
            let path = app.data_dir.path().join("countersign.sqlite3");
            let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display())).await.unwrap();
            sqlx::query(sql).bind(garbage).bind(id).execute(&mut conn).await.unwrap();
        }
    }
}

async fn a_final_copy_that_cannot_be_made_is_reported_not_left_waiting(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    let fields = json!([{"api_id": "a", "type": "signature", "signer": 0, "page": 1, "x": 100, "y": 100, "width": 200, "height": 40, "required": true}]);
    let request = create(&app, &client_id, &[signer("Ann", "ann@example.com")], fields, &[]).await;
    let id = request["signature_request_id"].as_str().unwrap().to_owned();
    let (_, html) = open(&sign_url(&app, &request, 0, &client_id).await).await;
    damage_document(&app, &id).await;
    let (status, _) = act(&app, &page_config(&html), "sign", json!({"values": {}, "images": {"a": PNG}})).await;
    assert_eq!(status, 200);
    let failed = wait_callback(&receiver, &id, &["unknown_error", "signature_request_downloadable"]).await;
    assert_eq!(failed["event"]["event_type"], "unknown_error", "{failed}");
    assert_eq!(failed["event"]["event_metadata"]["event_message"], "The signed documents could not be prepared.");
    let files = app.get(&format!("/v3/signature_request/files/{id}")).await;
    assert_eq!(files.status(), 500, "files says the copy could not be made, instead of 409 forever");
    app.stop().await;
}
both_backends!(
    a_final_copy_that_cannot_be_made_is_reported_not_left_waiting_on,
    a_final_copy_that_cannot_be_made_is_reported_not_left_waiting
);

//! Signature requests over HTTP, with real PDFs, a real callback receiver and a real file server:
//! every fixture yields its expected outcome, the lifecycle endpoints behave as Dropbox Sign's, and bad
//! input is refused clearly.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, expect_error, spawn_app, spawn_app_with, wait_for};
use crate::receiver::Receiver;

const WAIT: Duration = Duration::from_secs(30);

pub fn fixtures_dir() -> PathBuf {
    std::env::var_os("COUNTERSIGN_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pdf"))
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(fixtures_dir().join(name)).unwrap_or_else(|e| panic!("reading fixture {name}: {e}"))
}

fn manifest() -> serde_json::Map<String, Value> {
    let text = std::fs::read_to_string(fixtures_dir().join("manifest.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap().as_object().unwrap().clone()
}

/// An API app of the test account (create_embedded needs one).
async fn app_client_id(app: &TestApp) -> String {
    let response = app.post_json("/v3/api_app", &json!({"name": "Test app", "domains": ["example.com"]})).await;
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["api_app"]["client_id"].as_str().unwrap().to_owned()
}

fn signers_form(mut form: Form, count: usize) -> Form {
    for i in 0..count {
        form = form
            .text(format!("signers[{i}][name]"), format!("Signer {}", i + 1))
            .text(format!("signers[{i}][email_address]"), format!("signer{}@example.com", i + 1));
    }
    form
}

/// `create_embedded` with one uploaded fixture PDF, as a multipart form.
async fn create_embedded(app: &TestApp, client_id: &str, file: &str, signers: usize) -> Value {
    let part = Part::bytes(fixture(file)).file_name(file.to_owned()).mime_str("application/pdf").unwrap();
    create_embedded_with_part(app, client_id, file, part, signers).await
}

/// `create_embedded` with one uploaded file (text tags read), as a multipart form.
async fn create_embedded_with_part(app: &TestApp, client_id: &str, file: &str, part: Part, signers: usize) -> Value {
    let form = Form::new()
        .text("client_id", client_id.to_owned())
        .text("title", format!("Test of {file}"))
        .text("use_text_tags", "1")
        .text("test_mode", "1")
        .part("files[0]", part);
    let response = app
        .request(Method::POST, "/v3/signature_request/create_embedded")
        .multipart(signers_form(form, signers))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["signature_request"].clone()
}

/// Waits for the first callback of `types` about request `id` and returns its JSON.
pub async fn wait_callback(receiver: &Receiver, id: &str, types: &[&str]) -> Value {
    wait_for(WAIT, &format!("a callback {types:?} for {id}"), || async {
        receiver.received("/cb").into_iter().map(|r| r.json).find(|j| {
            j["signature_request"]["signature_request_id"] == id && types.iter().any(|t| j["event"]["event_type"] == *t)
        })
    })
    .await
}

pub(crate) async fn app_with_receiver(backend: Backend) -> Option<(TestApp, Receiver, String)> {
    let app = spawn_app(backend).await?;
    let receiver = Receiver::start().await;
    app.set_account_callback(&receiver.url("/cb")).await;
    let client_id = app_client_id(&app).await;
    Some((app, receiver, client_id))
}

async fn fixtures_yield_their_expected_outcomes(backend: Backend) {
    let Some((app, receiver, client_id)) = app_with_receiver(backend).await else { return };
    let mut created = Vec::new();
    for (file, spec) in manifest() {
        let signers = spec["signers"].as_u64().unwrap() as usize;
        let request = create_embedded(&app, &client_id, &file, signers).await;
        // Accepted at once: signatures await signing while the documents are processed.
        assert_eq!(request["has_error"], false);
        assert!(request["signatures"].as_array().unwrap().iter().all(|s| s["status_code"] == "awaiting_signature"));
        created.push((file, spec, request["signature_request_id"].as_str().unwrap().to_owned()));
    }
    for (file, spec, id) in created {
        let expect = spec["expect"].as_str().unwrap();
        let outcome_types = ["signature_request_sent", "file_error", "signature_request_invalid", "unknown_error"];
        let callback = wait_callback(&receiver, &id, &outcome_types).await;
        let event_type = callback["event"]["event_type"].as_str().unwrap();
        let expected_event = if expect == "ok" { "signature_request_sent" } else { expect };
        assert_eq!(event_type, expected_event, "{file}: {callback}");
        let got: Value = app.get(&format!("/v3/signature_request/{id}")).await.json().await.unwrap();
        let request = &got["signature_request"];
        assert_eq!(callback["signature_request"], *request, "{file}: the event carries the committed object");
        match expect {
            "ok" => {
                assert_eq!(request["has_error"], false, "{file}");
                let fields: Value = app.get(&format!("/v3/signature_request/fields/{id}")).await.json().await.unwrap();
                let fields = fields["fields"].as_array().unwrap();
                let tags = spec["tags"].as_array().unwrap();
                assert_eq!(fields.len(), tags.len(), "{file}: one field per tag: {fields:?}");
                for tag in tags {
                    let page = tag[0].as_i64().unwrap();
                    let kind = tag[1].as_str().unwrap().trim_start_matches('[').split('|').next().unwrap();
                    let api_type = match kind {
                        "sig" => "signature",
                        "date" => "date_signed",
                        "initial" => "initials",
                        "check" => "checkbox",
                        other => other,
                    };
                    assert!(
                        fields
                            .iter()
                            .any(|f| f["page"] == page && f["type"] == api_type && f["width"].as_f64().unwrap() > 5.0),
                        "{file}: no {api_type} field on page {page}: {fields:?}"
                    );
                }
            }
            "file_error" => {
                assert_eq!(request["has_error"], true, "{file}");
                assert!(request["signatures"].as_array().unwrap().iter().all(|s| s["status_code"] == "error_file"));
                if let Some(bad) =
                    spec["tags"].as_array().unwrap().iter().find(|t| t[1].as_str().unwrap().starts_with("[stamp"))
                {
                    let message = callback["event"]["event_message"].as_str().unwrap_or_default().to_owned();
                    let quoted = serde_json::to_string(&callback["event"]).unwrap();
                    assert!(
                        quoted.contains(bad[1].as_str().unwrap()) && quoted.contains("page 1"),
                        "{file}: the message quotes the tag and its page: {message} / {quoted}"
                    );
                }
            }
            "signature_request_invalid" => {
                assert_eq!(request["has_error"], true, "{file}");
                assert!(request["signatures"].as_array().unwrap().iter().all(|s| s["status_code"] == "error_text_tag"));
            }
            other => panic!("unknown expectation {other}"),
        }
        // Nothing half-processed: a failed request has no fields.
        if expect != "ok" {
            let fields: Value = app.get(&format!("/v3/signature_request/fields/{id}")).await.json().await.unwrap();
            assert_eq!(fields["fields"], json!([]), "{file}");
        }
    }
    app.stop().await;
}
both_backends!(fixtures_yield_their_expected_outcomes_on, fixtures_yield_their_expected_outcomes);

async fn send_json_then_get_list_remind_update_cancel(backend: Backend) {
    let Some((app, receiver, _)) = app_with_receiver(backend).await else { return };
    // A tiny file server: the document comes by file_urls, fetched by the worker.
    let files = Receiver::start_serving(fixture("simple-two-signers.pdf")).await;
    let body = json!({
        "title": "NDA with Acme",
        "subject": "Please sign",
        "message": "Thanks!",
        "signers": [
            {"name": "Jack", "email_address": "jack@example.com", "order": 0},
            {"name": "Jill", "email_address": "jill@example.com", "order": 1}
        ],
        "cc_email_addresses": ["lawyer@example.com"],
        "file_urls": [files.url("/doc.pdf")],
        "metadata": {"custom_id": 1234, "nested": {"a": "b"}},
        "use_text_tags": true,
        "test_mode": true,
        "allow_decline": true,
        "signing_redirect_url": "https://example.com/done",
        "expires_at": countersign_domain::time::unix_now() + 3 * 86_400 + 1800,
        "custom_fields": [{"name": "Cost", "value": "$20,000"}]
    });
    let response = app.post_json("/v3/signature_request/send", &body).await;
    assert_eq!(response.status(), 200);
    let created: Value = response.json().await.unwrap();
    let request = &created["signature_request"];
    let id = request["signature_request_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 40);
    assert_eq!(request["metadata"], json!({"custom_id": 1234, "nested": {"a": "b"}}));
    assert_eq!(request["test_mode"], true);
    assert_eq!(request["allow_decline"], true);
    assert_eq!(request["signing_redirect_url"], "https://example.com/done");
    assert_eq!(request["expires_at"].as_i64().unwrap() % 3600, 0, "rounded down to the hour");
    assert_eq!(request["cc_email_addresses"], json!(["lawyer@example.com"]));
    assert_eq!(request["custom_fields"], json!([{"name": "Cost", "type": "text", "value": "$20,000"}]));
    assert_eq!(request["signatures"][1]["order"], 1);
    assert!(request["signing_url"].is_string(), "non-embedded requests have a signing URL");

    wait_callback(&receiver, &id, &["signature_request_sent"]).await;
    let got: Value = app.get(&format!("/v3/signature_request/{id}")).await.json().await.unwrap();
    assert_eq!(got["signature_request"]["title"], "NDA with Acme");

    // list: paging and query on title and signer e-mail.
    let second = app
        .post_json(
            "/v3/signature_request/send",
            &json!({
                "title": "Lease", "signers": [{"name": "Zed", "email_address": "zed@example.org"}],
                "file_urls": [files.url("/doc.pdf")]
            }),
        )
        .await;
    assert_eq!(second.status(), 200);
    let list: Value = app.get("/v3/signature_request/list?page_size=1").await.json().await.unwrap();
    assert_eq!(list["list_info"], json!({"num_pages": 2, "num_results": 2, "page": 1, "page_size": 1}));
    assert_eq!(list["signature_requests"][0]["title"], "Lease", "newest first");
    let found: Value = app.get("/v3/signature_request/list?query=jill%40example").await.json().await.unwrap();
    assert_eq!(found["list_info"]["num_results"], 1);
    assert_eq!(found["signature_requests"][0]["signature_request_id"], id.as_str());
    expect_error(app.get("/v3/signature_request/list?page_size=101").await, 400, "bad_request").await;

    // remind: once, then not again within the hour.
    let reminded = app
        .post_json(&format!("/v3/signature_request/remind/{id}"), &json!({"email_address": "jill@example.com"}))
        .await;
    assert_eq!(reminded.status(), 200);
    let reminded: Value = reminded.json().await.unwrap();
    assert!(reminded["signature_request"]["signatures"][1]["last_reminded_at"].is_i64());
    wait_callback(&receiver, &id, &["signature_request_remind"]).await;
    let again = app
        .post_json(&format!("/v3/signature_request/remind/{id}"), &json!({"email_address": "jill@example.com"}))
        .await;
    expect_error(again, 400, "invalid_reminder").await;

    // update: a new e-mail address issues a new signature_id.
    let old_signature = request["signatures"][0]["signature_id"].as_str().unwrap().to_owned();
    let updated = app
        .post_json(
            &format!("/v3/signature_request/update/{id}"),
            &json!({"signature_id": old_signature, "email_address": "jack.new@example.com"}),
        )
        .await;
    assert_eq!(updated.status(), 200);
    let updated: Value = updated.json().await.unwrap();
    let signature = &updated["signature_request"]["signatures"][0];
    assert_eq!(signature["signer_email_address"], "jack.new@example.com");
    assert_ne!(signature["signature_id"], old_signature.as_str());
    let stale = app
        .post_json(&format!("/v3/signature_request/update/{id}"), &json!({"signature_id": old_signature, "name": "X"}))
        .await;
    expect_error(stale, 400, "bad_request").await;

    // files: the PDF, the ZIP, the data URI and an expiring URL that needs no credentials.
    let pdf = app.get(&format!("/v3/signature_request/files/{id}")).await;
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    assert_eq!(pdf.bytes().await.unwrap(), fixture("simple-two-signers.pdf"));
    let zip = app.get(&format!("/v3/signature_request/files/{id}?file_type=zip")).await;
    assert_eq!(zip.headers()["content-type"], "application/zip");
    assert!(zip.bytes().await.unwrap().starts_with(b"PK\x03\x04"));
    let data: Value = app.get(&format!("/v3/signature_request/files_as_data_uri/{id}")).await.json().await.unwrap();
    assert!(data["data_uri"].as_str().unwrap().starts_with("data:application/pdf;base64,JVBERi"));
    let link: Value = app.get(&format!("/v3/signature_request/files_as_file_url/{id}")).await.json().await.unwrap();
    let fetched = reqwest::get(link["file_url"].as_str().unwrap()).await.unwrap();
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.bytes().await.unwrap(), fixture("simple-two-signers.pdf"));
    let forged = link["file_url"].as_str().unwrap().replace("token=", "token=0");
    assert_eq!(reqwest::get(forged).await.unwrap().status(), 403);

    // remove: only completed requests.
    let remove = app.request(Method::POST, &format!("/v3/signature_request/remove/{id}")).send().await.unwrap();
    expect_error(remove, 400, "signature_request_remove_failed").await;

    // cancel: empty 200, then the event; the request is gone afterwards.
    let cancel = app.request(Method::POST, &format!("/v3/signature_request/cancel/{id}")).send().await.unwrap();
    assert_eq!(cancel.status(), 200);
    assert!(cancel.bytes().await.unwrap().is_empty());
    wait_callback(&receiver, &id, &["signature_request_canceled"]).await;
    expect_error(app.get(&format!("/v3/signature_request/{id}")).await, 410, "deleted").await;
    let list: Value = app.get("/v3/signature_request/list").await.json().await.unwrap();
    assert_eq!(list["list_info"]["num_results"], 1, "canceled requests leave the list");
    app.stop().await;
}
both_backends!(send_json_then_get_list_remind_update_cancel_on, send_json_then_get_list_remind_update_cancel);

async fn embedded_sign_url_files_409_and_cancel_410(backend: Backend) {
    let Some((app, receiver, client_id)) = app_with_receiver(backend).await else { return };
    // A file URL that answers only after a while keeps the request processing.
    let slow = Receiver::start_serving_after(fixture("three-pages.pdf"), Duration::from_secs(2)).await;
    let body = json!({
        "client_id": client_id,
        "signers": [{"name": "A", "email_address": "a@example.com"}, {"name": "B", "email_address": "b@example.com"}],
        "file_urls": [slow.url("/three.pdf")],
        "use_text_tags": true
    });
    let created: Value = app.post_json("/v3/signature_request/create_embedded", &body).await.json().await.unwrap();
    let request = &created["signature_request"];
    let id = request["signature_request_id"].as_str().unwrap().to_owned();
    assert!(request["signing_url"].is_null(), "embedded requests are signed only through sign_url");
    let signature_id = request["signatures"][0]["signature_id"].as_str().unwrap().to_owned();
    expect_error(app.get(&format!("/v3/signature_request/files/{id}")).await, 409, "conflict").await;
    expect_error(app.get(&format!("/v3/signature_request/files_as_data_uri/{id}")).await, 409, "conflict").await;
    expect_error(app.get(&format!("/v3/embedded/sign_url/{signature_id}")).await, 409, "conflict").await;

    wait_callback(&receiver, &id, &["signature_request_sent"]).await;
    // Reminders are not for embedded requests.
    let remind =
        app.post_json(&format!("/v3/signature_request/remind/{id}"), &json!({"email_address": "a@example.com"})).await;
    expect_error(remind, 400, "invalid_reminder").await;

    let sign: Value = app.get(&format!("/v3/embedded/sign_url/{signature_id}")).await.json().await.unwrap();
    let url = sign["embedded"]["sign_url"].as_str().unwrap().to_owned();
    assert!(url.contains("embeddedSign"), "{url}");
    assert!(sign["embedded"]["expires_at"].as_i64().unwrap() > countersign_domain::time::unix_now());
    let alone = reqwest::get(&url).await.unwrap();
    assert_eq!(alone.status(), 400, "an embedded request's page opens only inside its app's page");
    assert!(alone.text().await.unwrap().contains("Open this link in the app"));
    let embedded = format!("{url}&parent_url=https%3A%2F%2Fapp.example.com%2Fsign&client_id={client_id}");
    let page = reqwest::get(&embedded).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("I agree"));
    let tampered = embedded.replace(&signature_id, request["signatures"][1]["signature_id"].as_str().unwrap());
    assert_eq!(reqwest::get(&tampered).await.unwrap().status(), 403, "a token is for one signer only");

    // Another account sees nothing.
    let other = app.other_account_key("other@example.com").await;
    let response = app.request_as(&other, Method::GET, &format!("/v3/signature_request/{id}")).send().await.unwrap();
    expect_error(response, 404, "not_found").await;
    let response =
        app.request_as(&other, Method::GET, &format!("/v3/embedded/sign_url/{signature_id}")).send().await.unwrap();
    expect_error(response, 404, "not_found").await;

    let cancel = app.request(Method::POST, &format!("/v3/signature_request/cancel/{id}")).send().await.unwrap();
    assert_eq!(cancel.status(), 200);
    wait_callback(&receiver, &id, &["signature_request_canceled"]).await;
    assert_eq!(reqwest::get(&embedded).await.unwrap().status(), 410, "signer links answer 410 after cancel");
    expect_error(app.get(&format!("/v3/embedded/sign_url/{signature_id}")).await, 410, "deleted").await;
    app.stop().await;
}
both_backends!(embedded_sign_url_files_409_and_cancel_410_on, embedded_sign_url_files_409_and_cancel_410);

async fn expiry_marks_open_signatures_expired(backend: Backend) {
    let Some((app, receiver, client_id)) = app_with_receiver(backend).await else { return };
    let request = create_embedded(&app, &client_id, "simple-two-signers.pdf", 2).await;
    let id = request["signature_request_id"].as_str().unwrap().to_owned();
    wait_callback(&receiver, &id, &["signature_request_sent"]).await;
    let typed = countersign_domain::ids::SignatureRequestId::parse(&id).unwrap();
    assert!(app.store.backdate_expiry(&typed, countersign_domain::time::unix_now() - 1).await.unwrap());
    let callback = wait_callback(&receiver, &id, &["signature_request_expired"]).await;
    let signatures = callback["signature_request"]["signatures"].as_array().unwrap().clone();
    assert!(signatures.iter().all(|s| s["status_code"] == "expired"), "{signatures:?}");
    let got: Value = app.get(&format!("/v3/signature_request/{id}")).await.json().await.unwrap();
    assert_eq!(got["signature_request"]["signatures"][0]["status_code"], "expired");
    app.stop().await;
}
both_backends!(expiry_marks_open_signatures_expired_on, expiry_marks_open_signatures_expired);

/// A signer's PIN is kept only as a keyed digest: it opens that signer's signature and no other, and it
/// appears nowhere in the object, the database's signer row or the callback.
async fn a_pin_is_kept_as_a_digest_that_only_it_matches(backend: Backend) {
    let Some((app, receiver, _)) = app_with_receiver(backend).await else { return };
    let files = Receiver::start_serving(fixture("simple-two-signers.pdf")).await;
    let body = json!({
        "signers": [
            {"name": "Jack", "email_address": "jack@example.com", "pin": "4821"},
            {"name": "Jill", "email_address": "jill@example.com"}
        ],
        "file_urls": [files.url("/doc.pdf")],
        "test_mode": true
    });
    let response = app.post_json("/v3/signature_request/send", &body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains("4821"), "the PIN is not echoed: {text}");
    let request: Value = serde_json::from_str(&text).unwrap();
    let signatures = &request["signature_request"]["signatures"];
    assert_eq!((signatures[0]["has_pin"].as_bool(), signatures[1]["has_pin"].as_bool()), (Some(true), Some(false)));
    let id = request["signature_request"]["signature_request_id"].as_str().unwrap();
    let callback = wait_callback(&receiver, id, &["signature_request_sent"]).await;
    assert!(!callback.to_string().contains("4821"));
    let jack = countersign_domain::ids::SignatureId::parse(signatures[0]["signature_id"].as_str().unwrap()).unwrap();
    let jill = countersign_domain::ids::SignatureId::parse(signatures[1]["signature_id"].as_str().unwrap()).unwrap();
    let pin = |p: &str| countersign_domain::secrets::Pin::new(p);
    assert_eq!(app.store.signer_pin_matches(&jack, &pin("4821")).await.unwrap(), Some(true));
    assert_eq!(app.store.signer_pin_matches(&jack, &pin("4822")).await.unwrap(), Some(false));
    assert_eq!(app.store.signer_pin_matches(&jill, &pin("4821")).await.unwrap(), None, "Jill has no PIN");
    app.stop().await;
}
both_backends!(a_pin_is_kept_as_a_digest_that_only_it_matches_on, a_pin_is_kept_as_a_digest_that_only_it_matches);

async fn bad_input_is_refused_at_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else { return };
    let client_id = app_client_id(&app).await;
    let post = |form: Form| app.request(Method::POST, "/v3/signature_request/create_embedded").multipart(form).send();
    let pdf = || Part::bytes(fixture("simple-two-signers.pdf")).file_name("a.pdf");

    let no_client = signers_form(Form::new().part("file[0]", pdf()), 1);
    expect_error(post(no_client).await.unwrap(), 400, "bad_request").await;
    let wrong_client = signers_form(Form::new().text("client_id", "0".repeat(32)).part("file[0]", pdf()), 1);
    let e = expect_error(post(wrong_client).await.unwrap(), 400, "bad_request").await;
    assert_eq!(e["error_path"], "client_id");
    let no_signers = Form::new().text("client_id", client_id.clone()).part("file[]", pdf());
    let e = expect_error(post(no_signers).await.unwrap(), 400, "bad_request").await;
    assert_eq!(e["error_path"], "signers");
    let bad_email = Form::new()
        .text("client_id", client_id.clone())
        .text("signers[0][name]", "A")
        .text("signers[0][email_address]", "not-an-address")
        .part("file[]", pdf());
    let e = expect_error(post(bad_email).await.unwrap(), 400, "bad_request").await;
    assert_eq!(e["error_path"], "signers[0][email_address]");
    let no_file = signers_form(Form::new().text("client_id", client_id.clone()), 1);
    let e = expect_error(post(no_file).await.unwrap(), 400, "bad_request").await;
    assert_eq!(e["error_path"], "files");
    // Signatures this server does not make are refused, not quietly made simple ones.
    for flag in ["is_qualified_signature", "is_eid"] {
        let form =
            signers_form(Form::new().text("client_id", client_id.clone()).text(flag, "true").part("file[0]", pdf()), 1);
        let e = expect_error(post(form).await.unwrap(), 400, "bad_request").await;
        assert_eq!(e["error_path"], flag);
    }
    let empty = signers_form(
        Form::new().text("client_id", client_id.clone()).part("files[0]", Part::bytes(Vec::new()).file_name("e.pdf")),
        1,
    );
    let e = expect_error(post(empty).await.unwrap(), 400, "bad_request").await;
    assert_eq!(e["error_path"], "files[0]");
    let mut many = signers_form(Form::new().text("client_id", client_id.clone()), 1);
    for i in 0..21 {
        many = many.part(format!("files[{i}]"), pdf());
    }
    expect_error(post(many).await.unwrap(), 400, "bad_request").await;
    let both = signers_form(
        Form::new()
            .text("client_id", client_id.clone())
            .text("file_urls[0]", "https://example.com/a.pdf")
            .part("files[0]", pdf()),
        1,
    );
    expect_error(post(both).await.unwrap(), 400, "bad_request").await;
    let soon = signers_form(
        Form::new()
            .text("client_id", client_id.clone())
            .text("expires_at", (countersign_domain::time::unix_now() + 60).to_string())
            .part("files[0]", pdf()),
        1,
    );
    let e = expect_error(post(soon).await.unwrap(), 400, "bad_request").await;
    assert_eq!(e["error_path"], "expires_at");
    let metadata: serde_json::Map<String, Value> = (0..11).map(|i| (format!("k{i}"), json!("v"))).collect();
    let big_metadata = signers_form(
        Form::new()
            .text("client_id", client_id.clone())
            .text("metadata", Value::Object(metadata).to_string())
            .part("files[0]", pdf()),
        1,
    );
    expect_error(post(big_metadata).await.unwrap(), 400, "bad_request").await;
    // Nothing was stored by any of them.
    let list: Value = app.get("/v3/signature_request/list").await.json().await.unwrap();
    assert_eq!(list["list_info"]["num_results"], 0);
    expect_error(app.get(&format!("/v3/signature_request/{}", "a".repeat(40))).await, 404, "not_found").await;
    app.stop().await;
}
both_backends!(bad_input_is_refused_at_once_on, bad_input_is_refused_at_once);

async fn many_documents_merge_and_zip(backend: Backend) {
    let Some((app, receiver, client_id)) = app_with_receiver(backend).await else { return };
    let form = Form::new()
        .text("client_id", client_id)
        .text("use_text_tags", "true")
        .part("file[]", Part::bytes(fixture("three-pages.pdf")).file_name("three.pdf"))
        .part("file[]", Part::bytes(fixture("object-streams.pdf")).file_name("objstm.pdf"));
    let response = app
        .request(Method::POST, "/v3/signature_request/create_embedded")
        .multipart(signers_form(form, 2))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.json::<Value>().await.unwrap()["signature_request"]["signature_request_id"]
        .as_str()
        .unwrap()
        .to_owned();
    wait_callback(&receiver, &id, &["signature_request_sent"]).await;
    let fields: Value = app.get(&format!("/v3/signature_request/fields/{id}")).await.json().await.unwrap();
    let docs: Vec<i64> =
        fields["fields"].as_array().unwrap().iter().map(|f| f["document_index"].as_i64().unwrap()).collect();
    assert!(docs.contains(&0) && docs.contains(&1), "{fields}");
    let pdf = app.get(&format!("/v3/signature_request/files/{id}")).await.bytes().await.unwrap();
    let count = countersign_pdf::page_count(&pdf).unwrap();
    assert_eq!(count, 4, "three pages and one page, merged");
    app.stop().await;
}
both_backends!(many_documents_merge_and_zip_on, many_documents_merge_and_zip);

async fn file_urls_cannot_reach_private_addresses(backend: Backend) {
    let options = crate::helpers::Options { allow_private_callbacks: false, ..crate::helpers::Options::default() };
    let Some(app) = crate::helpers::spawn_app_with(backend, options).await else { return };
    let files = Receiver::start_serving(fixture("simple-two-signers.pdf")).await;
    let body = json!({
        "signers": [{"name": "A", "email_address": "a@example.com"}],
        "file_urls": [files.url("/doc.pdf")]
    });
    let created: Value = app.post_json("/v3/signature_request/send", &body).await.json().await.unwrap();
    let id = created["signature_request"]["signature_request_id"].as_str().unwrap().to_owned();
    let request = wait_for(WAIT, "the request to fail", || async {
        let got: Value = app.get(&format!("/v3/signature_request/{id}")).await.json().await.unwrap();
        (got["signature_request"]["has_error"] == true).then(|| got["signature_request"].clone())
    })
    .await;
    assert_eq!(request["signatures"][0]["status_code"], "error_file");
    assert!(request["signatures"][0]["error"].as_str().unwrap().contains("127.0.0.1"), "{request}");
    // The feed is commit-safe on PostgreSQL: an event shows once no older transaction (of any test on the
    // same server) is still open, so it may lag the GET above by a moment.
    wait_for(WAIT, "file_error in the event feed", || async {
        let events: Value = app.get("/v3/events").await.json().await.unwrap();
        let types: Vec<String> = events["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["event_type"].as_str().map(str::to_owned))
            .collect();
        types.iter().any(|t| t == "file_error").then_some(())
    })
    .await;
    app.stop().await;
}
both_backends!(file_urls_cannot_reach_private_addresses_on, file_urls_cannot_reach_private_addresses);

async fn without_tags_a_signature_page_is_appended(backend: Backend) {
    let Some((app, receiver, client_id)) = app_with_receiver(backend).await else { return };
    let form = Form::new()
        .text("client_id", client_id)
        .part("files[0]", Part::bytes(fixture("three-pages.pdf")).file_name("three.pdf"));
    let response = app
        .request(Method::POST, "/v3/signature_request/create_embedded")
        .multipart(signers_form(form, 2))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let id = body["signature_request"]["signature_request_id"].as_str().unwrap().to_owned();
    wait_callback(&receiver, &id, &["signature_request_sent"]).await;
    let fields: Value = app.get(&format!("/v3/signature_request/fields/{id}")).await.json().await.unwrap();
    let fields = fields["fields"].as_array().unwrap().clone();
    assert_eq!(fields.len(), 2, "one signature field per signer: {fields:?}");
    assert!(fields.iter().all(|f| f["type"] == "signature" && f["page"] == 4 && f["source"] == "signature_page"));
    let pdf = app.get(&format!("/v3/signature_request/files/{id}")).await.bytes().await.unwrap();
    let analysis = countersign_pdf::analyze(&pdf, &countersign_pdf::Limits::default()).unwrap();
    assert_eq!(analysis.pages.len(), 4, "three pages and the signature page");
    assert_eq!((analysis.pages[3].width, analysis.pages[3].height), (612.0, 792.0));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.pdf");
    std::fs::write(&path, &pdf).unwrap();
    if let Ok(out) = std::process::Command::new("pdftotext").args(["-f", "4", "-l", "4"]).arg(&path).arg("-").output() {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("signer2@example.com"), "the page names its signers: {text}");
    }
    app.stop().await;
}
both_backends!(without_tags_a_signature_page_is_appended_on, without_tags_a_signature_page_is_appended);

/// A one-page PDF whose content stream is `content` (FlateDecode-compressed when `deflate`).
fn pdf_with_content(content: &[u8], deflate: bool) -> Vec<u8> {
    use std::io::Write;
    let (filter, data) = if deflate {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(content).unwrap();
        ("/Filter /FlateDecode ", enc.finish().unwrap())
    } else {
        ("", content.to_vec())
    };
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut offsets = Vec::new();
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_vec(),
        [format!("<< {filter}/Length {} >>\nstream\n", data.len()).into_bytes(), data, b"\nendstream".to_vec()].concat(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_vec(),
    ];
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).into_bytes());
        out.extend(object);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).into_bytes());
    for offset in offsets {
        out.extend(format!("{offset:010} 00000 n \n").into_bytes());
    }
    out.extend(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).into_bytes(),
    );
    out
}

/// `create_embedded` for one signer with one file (accepted at once, judged when processed): its id.
async fn create_embedded_with_file(app: &TestApp, client_id: &str, name: &str, bytes: Vec<u8>, tags: bool) -> String {
    let form = Form::new()
        .text("client_id", client_id.to_owned())
        .text("use_text_tags", tags.to_string())
        .part("files[0]", Part::bytes(bytes).file_name(name.to_owned()));
    let response = app
        .request(Method::POST, "/v3/signature_request/create_embedded")
        .multipart(signers_form(form, 1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{name}: accepted, judged when processed");
    let body: Value = response.json().await.unwrap();
    body["signature_request"]["signature_request_id"].as_str().unwrap().to_owned()
}

async fn hostile_files_fail_alone_and_quickly(backend: Backend) {
    let Some((app, receiver, client_id)) = app_with_receiver(backend).await else { return };
    let good = pdf_with_content(b"BT /F1 12 Tf 72 700 Td ([sig|req|signer1]) Tj ET", false);
    // 200 MB of spaces before the tag: about 200 KB on the wire.
    let mut bomb = vec![b' '; 200 << 20];
    bomb.extend_from_slice(b"BT /F1 12 Tf 72 700 Td ([sig|req|signer1]) Tj ET");
    let bomb = pdf_with_content(&bomb, true);
    assert!(bomb.len() < 1 << 20);
    let mut files: Vec<(&str, Vec<u8>, &str)> = vec![
        ("good.pdf", good.clone(), "signature_request_sent"),
        ("bomb.pdf", bomb, "file_error"),
        ("page.pdf", b"<!doctype html><html><body>Not a PDF</body></html>".to_vec(), "file_error"),
        ("cut.pdf", good[..good.len() / 2].to_vec(), "file_error"),
        ("noise.pdf", (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect(), "file_error"),
    ];
    // A password-protected copy, when qpdf is there to make one (CI installs it).
    let dir = tempfile::tempdir().unwrap();
    let (plain, locked) = (dir.path().join("plain.pdf"), dir.path().join("locked.pdf"));
    std::fs::write(&plain, &good).unwrap();
    let qpdf = std::process::Command::new("qpdf")
        .args(["--encrypt", "secret", "owner", "256", "--"])
        .arg(&plain)
        .arg(&locked)
        .status();
    if qpdf.is_ok_and(|s| s.success()) {
        files.push(("locked.pdf", std::fs::read(&locked).unwrap(), "file_error"));
    } else {
        eprintln!("NOTICE: qpdf not found; the password-protected case is not exercised");
    }
    let mut created = Vec::new();
    for (name, bytes, expect) in files {
        created.push((name, create_embedded_with_file(&app, &client_id, name, bytes, true).await, expect));
    }
    let outcomes = ["signature_request_sent", "file_error", "signature_request_invalid", "unknown_error"];
    for (name, id, expect) in created {
        let callback = wait_callback(&receiver, &id, &outcomes).await;
        assert_eq!(callback["event"]["event_type"], expect, "{name}: {callback}");
        if expect == "file_error" {
            let error = callback["signature_request"]["signatures"][0]["error"].as_str().unwrap_or_default().to_owned();
            assert!(error.contains(name), "{name}: the error names the file: {error}");
        }
    }
    app.stop().await;
}
both_backends!(hostile_files_fail_alone_and_quickly_on, hostile_files_fail_alone_and_quickly);

/// A broken Word file: a zip whose first entries name Word's parts, and no zip directory.
fn word_like() -> Vec<u8> {
    let mut bytes = b"PK\x03\x04\x14\x00\x00\x00\x08\x00".to_vec();
    bytes.extend_from_slice(b"[Content_Types].xml ... word/document.xml ... word/styles.xml");
    bytes
}

fn office_fixture(name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/office").join(name)).unwrap()
}

/// Whether LibreOffice is here (a notice when not; a failure under COUNTERSIGN_REQUIRE_OFFICE=1, as in CI).
fn office_installed() -> bool {
    let found = countersign_worker::office::OfficeConverter::from_path().is_some();
    if !found {
        assert!(
            std::env::var("COUNTERSIGN_REQUIRE_OFFICE").as_deref() != Ok("1"),
            "LibreOffice (soffice) is required (COUNTERSIGN_REQUIRE_OFFICE=1) but was not found"
        );
        eprintln!("NOTICE: soffice not found; office documents are not converted in this run");
    }
    found
}

async fn office_documents_become_pdfs_with_fields_where_their_tags_were(backend: Backend) {
    if !office_installed() {
        return;
    }
    let Some((app, receiver, client_id)) = app_with_receiver(backend).await else { return };
    let outcomes = ["signature_request_sent", "file_error", "signature_request_invalid", "unknown_error"];
    // Word, OpenDocument (the same lease), RTF and plain text, each with its text tags.
    let mut created = Vec::new();
    for (name, signers) in [("lease.docx", 2), ("lease.odt", 2), ("order.rtf", 1), ("memo.txt", 1)] {
        let part = Part::bytes(office_fixture(name)).file_name(name.to_owned());
        let request = create_embedded_with_part(&app, &client_id, name, part, signers).await;
        created.push((name, request["signature_request_id"].as_str().unwrap().to_owned()));
    }
    created.push(("broken.docx", create_embedded_with_file(&app, &client_id, "broken.docx", word_like(), true).await));
    for (name, id) in &created {
        let callback = wait_callback(&receiver, id, &outcomes).await;
        if *name == "broken.docx" {
            assert_eq!(callback["event"]["event_type"], "file_error", "{callback}");
            let error = callback["signature_request"]["signatures"][0]["error"].as_str().unwrap_or_default();
            assert!(error.contains("broken.docx") && error.contains("Word document"), "the format is named: {error}");
            continue;
        }
        assert_eq!(callback["event"]["event_type"], "signature_request_sent", "{name}: {callback}");
        let pdf = app.get(&format!("/v3/signature_request/files/{id}")).await.bytes().await.unwrap();
        assert!(pdf.starts_with(b"%PDF-"), "{name}: the files endpoint serves the converted PDF");
        let fields: Value = app.get(&format!("/v3/signature_request/fields/{id}")).await.json().await.unwrap();
        let fields = fields["fields"].as_array().unwrap().clone();
        let kinds: Vec<(&str, i64)> = fields
            .iter()
            .map(|f| (f["type"].as_str().unwrap(), f["signer"].as_i64().expect("a signer's field")))
            .collect();
        match *name {
            "lease.docx" | "lease.odt" => {
                let mut sorted = kinds.clone();
                sorted.sort();
                assert_eq!(
                    sorted,
                    [("date_signed", 0), ("initials", 0), ("signature", 0), ("signature", 1), ("text", 1)],
                    "{name}: one field per tag, for its signer: {fields:?}"
                );
                // Where Word put them: on the first page, in the document's order, the tenant's signature
                // above the landlord's.
                assert!(fields.iter().all(|f| f["page"] == 1), "{name}: {fields:?}");
                let top_of = |kind: &str, signer: i64| {
                    fields.iter().find(|f| f["type"] == kind && f["signer"] == signer).unwrap()["y"].as_f64().unwrap()
                };
                assert!(top_of("signature", 0) < top_of("date_signed", 0), "{name}: {fields:?}");
                assert!(top_of("date_signed", 0) < top_of("signature", 1), "{name}: {fields:?}");
                let text = fields.iter().find(|f| f["type"] == "text").unwrap();
                assert_eq!(text["api_id"], "landlord_name", "{name}: the tag's id");
            }
            _ => {
                assert!(kinds.contains(&("signature", 0)), "{name}: {fields:?}");
                assert!(fields.iter().all(|f| f["page"] == 1), "{name}: {fields:?}");
            }
        }
    }
    app.stop().await;
}
both_backends!(
    office_documents_become_pdfs_with_fields_where_their_tags_were_on,
    office_documents_become_pdfs_with_fields_where_their_tags_were
);

async fn without_a_converter_office_files_are_named(backend: Backend) {
    let options = Options { office_converter: false, ..Options::default() };
    let Some(app) = spawn_app_with(backend, options).await else { return };
    let receiver = Receiver::start().await;
    app.set_account_callback(&receiver.url("/cb")).await;
    let client_id = app_client_id(&app).await;
    let id = create_embedded_with_file(&app, &client_id, "lease.docx", office_fixture("lease.docx"), true).await;
    let outcomes = ["signature_request_sent", "file_error", "signature_request_invalid", "unknown_error"];
    let callback = wait_callback(&receiver, &id, &outcomes).await;
    assert_eq!(callback["event"]["event_type"], "file_error", "{callback}");
    let error = callback["signature_request"]["signatures"][0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("lease.docx") && error.contains("Word document") && error.contains("no office converter"),
        "{error}"
    );
    app.stop().await;
}
both_backends!(without_a_converter_office_files_are_named_on, without_a_converter_office_files_are_named);

async fn images_become_pages(backend: Backend) {
    use base64::Engine as _;
    let Some((app, receiver, client_id)) = app_with_receiver(backend).await else { return };
    let images = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images");
    let jpeg = std::fs::read(images.join("receipt.jpg")).unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(crate::signing::PNG.trim_start_matches("data:image/png;base64,"))
        .unwrap();
    let mut created = Vec::new();
    for (name, bytes) in [("receipt.jpg", jpeg), ("dot.png", png)] {
        created.push((name, create_embedded_with_file(&app, &client_id, name, bytes, false).await));
    }
    let outcomes = ["signature_request_sent", "file_error", "signature_request_invalid", "unknown_error"];
    for (name, id) in &created {
        let callback = wait_callback(&receiver, id, &outcomes).await;
        assert_eq!(callback["event"]["event_type"], "signature_request_sent", "{name}: {callback}");
        // The image is a page of a PDF now; without fields, a signature page follows it.
        let pdf = app.get(&format!("/v3/signature_request/files/{id}")).await.bytes().await.unwrap();
        assert!(pdf.starts_with(b"%PDF-"), "{name}: the files endpoint serves a PDF");
        let fields: Value = app.get(&format!("/v3/signature_request/fields/{id}")).await.json().await.unwrap();
        let pages: Vec<i64> =
            fields["fields"].as_array().unwrap().iter().map(|f| f["page"].as_i64().unwrap()).collect();
        assert!(!pages.is_empty() && pages.iter().all(|p| *p == 2), "{name}: the signature page is page 2: {fields}");
    }
    app.stop().await;
}
both_backends!(images_become_pages_on, images_become_pages);

/// `PUT signature_request/edit_embedded/{id}` with one fixture PDF and `signers` signers, as a form.
async fn edit_embedded(app: &TestApp, key: &str, id: &str, client_id: &str, title: &str) -> reqwest::Response {
    let form = Form::new()
        .text("client_id", client_id.to_owned())
        .text("title", title.to_owned())
        .text("use_text_tags", "1")
        .text("test_mode", "1")
        .part("files[0]", Part::bytes(fixture("simple-two-signers.pdf")).file_name("v2.pdf"));
    app.request_as(key, Method::PUT, &format!("/v3/signature_request/edit_embedded/{id}"))
        .multipart(signers_form(form, 2))
        .send()
        .await
        .unwrap()
}

async fn an_edit_replaces_the_content_under_the_same_id(backend: Backend) {
    let Some((app, receiver, client_id)) = app_with_receiver(backend).await else { return };
    let request = create_embedded(&app, &client_id, "simple-two-signers.pdf", 2).await;
    let id = request["signature_request_id"].as_str().unwrap().to_owned();
    let old_signature = request["signatures"][0]["signature_id"].as_str().unwrap().to_owned();
    wait_callback(&receiver, &id, &["signature_request_sent"]).await;

    let response = edit_embedded(&app, &app.api_key, &id, &client_id, "Second version").await;
    assert_eq!(response.status(), 200);
    let edited: Value = response.json().await.unwrap();
    assert_eq!(edited["signature_request"]["signature_request_id"], id.as_str());
    assert_eq!(edited["signature_request"]["title"], "Second version");
    let new_signature = edited["signature_request"]["signatures"][0]["signature_id"].as_str().unwrap().to_owned();
    assert_ne!(new_signature, old_signature, "signers get new signature ids");
    // Processed again: a second signature_request_sent, about the new version.
    let sent_twice = wait_for(WAIT, "a second signature_request_sent", || async {
        let sent: Vec<Value> = receiver
            .received("/cb")
            .into_iter()
            .map(|r| r.json)
            .filter(|j| j["signature_request"]["signature_request_id"] == id.as_str())
            .filter(|j| j["event"]["event_type"] == "signature_request_sent")
            .collect();
        (sent.len() >= 2).then(|| sent[1].clone())
    })
    .await;
    assert_eq!(sent_twice["signature_request"]["title"], "Second version");
    // The old signer's link is gone; the new one opens.
    assert_ne!(app.get(&format!("/v3/embedded/sign_url/{old_signature}")).await.status(), 200);
    assert_eq!(app.get(&format!("/v3/embedded/sign_url/{new_signature}")).await.status(), 200);

    // Another account cannot edit it (404, nothing changes); once canceled it is gone (410).
    let stranger = app.other_account_key("stranger@example.com").await;
    let refused = edit_embedded(&app, &stranger, &id, &client_id, "Hijacked").await;
    expect_error(refused, 404, "not_found").await;
    let kept: Value = app.get(&format!("/v3/signature_request/{id}")).await.json().await.unwrap();
    assert_eq!(kept["signature_request"]["title"], "Second version");
    let canceled = app.request(Method::POST, &format!("/v3/signature_request/cancel/{id}")).send().await.unwrap();
    assert_eq!(canceled.status(), 200);
    expect_error(edit_embedded(&app, &app.api_key, &id, &client_id, "Too late").await, 410, "deleted").await;
    app.stop().await;
}
both_backends!(an_edit_replaces_the_content_under_the_same_id_on, an_edit_replaces_the_content_under_the_same_id);

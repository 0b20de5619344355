//! Unclaimed drafts over HTTP: `create_embedded` and `create` keep the documents and the request to be;
//! the claim_url opens the requester page (driven here as its script drives it: the fields posted with
//! the page's session) once the documents are read; sending makes an ordinary signature request, sent,
//! signed and sealed like any other; the draft is then spent. Bad input is refused with its path and
//! leaves nothing behind.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::both_backends;
use crate::final_documents::{fields_of, sign_all};
use crate::helpers::{Backend, Options, TestApp, expect_error};
use crate::signature_requests::{fixture, wait_callback};
use crate::signing::{page_config, setup};
use crate::templates::{open_when_read, save_fields};

fn draft_form(client_id: Option<&str>, extra: &[(&str, &str)]) -> Form {
    let mut form = Form::new()
        .text("title", "Consulting agreement")
        .text("signers[0][name]", "Ada Client")
        .text("signers[0][email_address]", "ada@example.com")
        .text("signers[1][name]", "Bob Witness")
        .text("signers[1][email_address]", "bob@example.com")
        .text("cc_email_addresses[0]", "cc@example.com")
        .text("use_text_tags", "1")
        .text("test_mode", "1")
        .part(
            "files[0]",
            Part::bytes(fixture("simple-two-signers.pdf"))
                .file_name("agreement.pdf")
                .mime_str("application/pdf")
                .unwrap(),
        );
    if let Some(client_id) = client_id {
        form = form.text("client_id", client_id.to_owned()).text("requester_email_address", "owner@example.com");
    }
    for (key, value) in extra {
        form = form.text(key.to_string(), value.to_string());
    }
    form
}

async fn post_draft(app: &TestApp, path: &str, form: Form) -> reqwest::Response {
    app.request(Method::POST, path).multipart(form).send().await.unwrap()
}

/// Opens a claim_url (from a page on example.com when `embedded`) once the documents are read.
async fn open_claim(claim_url: &str, client_id: Option<&str>) -> (u16, String) {
    let url = match client_id {
        Some(client_id) => format!("{claim_url}&parent_url=https%3A%2F%2Fexample.com%2Fapp&client_id={client_id}"),
        None => claim_url.to_owned(),
    };
    open_when_read(&url).await
}

async fn request_count(app: &TestApp) -> i64 {
    let list: Value = app.get("/v3/signature_request/list").await.json().await.unwrap();
    list["list_info"]["num_results"].as_i64().unwrap()
}

async fn an_embedded_draft_is_claimed_sent_and_signed(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    let response = post_draft(
        &app,
        "/v3/unclaimed_draft/create_embedded",
        draft_form(
            Some(&client_id),
            &[("is_for_embedded_signing", "1"), ("requesting_redirect_url", "https://example.com/sent")],
        ),
    )
    .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body["warnings"].is_null(), "nothing to warn about: {body}");
    let draft = &body["unclaimed_draft"];
    assert_eq!(draft["signature_request_id"], Value::Null);
    assert_eq!(draft["test_mode"], true);
    assert_eq!(draft["requesting_redirect_url"], "https://example.com/sent");
    let claim_url = draft["claim_url"].as_str().unwrap().to_owned();
    assert!(claim_url.contains("/editor/embeddedRequest?"), "{claim_url}");
    let before = request_count(&app).await;
    assert_eq!(before, 0, "a draft is no request until it is claimed");

    let (status, html) = open_claim(&claim_url, Some(&client_id)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Send request"), "{html}");
    let config = page_config(&html);
    assert_eq!(config["roles"], json!(["Ada Client <ada@example.com>", "Bob Witness <bob@example.com>"]));
    let mut fields = config["fields"].as_array().unwrap().clone();
    assert_eq!(fields.len(), 5, "the text tags were placed: {fields:?}");
    assert!(config["palette"].as_array().unwrap().iter().all(|p| !p["type"].as_str().unwrap().ends_with("-merge")));
    // The draft is no template.
    let draft_id = config["template_id"].as_str().unwrap().to_owned();
    expect_error(app.get(&format!("/v3/template/{draft_id}")).await, 404, "not_found").await;
    let list: Value = app.get("/v3/template/list").await.json().await.unwrap();
    assert_eq!(list["list_info"]["num_results"], 0);

    // The page's session does not save the draft as a template.
    let as_template =
        json!({"action": format!("/edit/{draft_id}/save"), "session": config["session"], "expires": config["expires"]});
    let (status, _) = save_fields(&app, &as_template, config["fields"].clone()).await;
    assert_eq!(status, 404);
    // Bob gets a date too; the requester sends.
    fields.push(json!({"type": "date_signed", "role": 1, "document_index": 0, "page": 1, "x": 400, "y": 700, "width": 100, "height": 18}));
    let (status, sent) = save_fields(&app, &config, Value::Array(fields)).await;
    assert_eq!(status, 200, "{sent}");
    let id = sent["signature_request_id"].as_str().unwrap().to_owned();
    wait_callback(&receiver, &id, &["signature_request_sent"]).await;
    let request: Value = app.get(&format!("/v3/signature_request/{id}")).await.json().await.unwrap();
    let request = request["signature_request"].clone();
    assert_eq!(request["title"], "Consulting agreement");
    assert_eq!(request["cc_email_addresses"], json!(["cc@example.com"]));
    assert_eq!(request["template_ids"], Value::Null, "a claimed draft names no template");
    assert_eq!(request["signatures"][1]["signer_email_address"], "bob@example.com");
    assert_eq!(request["signing_url"], Value::Null, "is_for_embedded_signing: signed in the app");
    let placed = fields_of(&app, &id).await;
    assert_eq!(placed.len(), 6, "{placed:?}");
    assert_eq!(request_count(&app).await, 1);

    // Signed and sealed like any request.
    sign_all(&app, &client_id, &request, &placed, 0, "Ada", None).await;
    sign_all(&app, &client_id, &request, &placed, 1, "Bob", None).await;
    wait_callback(&receiver, &id, &["signature_request_downloadable"]).await;

    // The draft is spent: its claim_url shows so, and a second send makes nothing.
    let (status, html) = open_claim(&claim_url, Some(&client_id)).await;
    assert_eq!(status, 410, "{html}");
    assert!(html.contains("sent already"), "{html}");
    let (status, _) = save_fields(&app, &config, json!([{"type": "signature", "role": 0, "document_index": 0, "page": 1, "x": 10, "y": 10, "width": 100, "height": 30}])).await;
    assert_eq!(status, 409);
    assert_eq!(request_count(&app).await, 1);
    app.stop().await;
}
both_backends!(an_embedded_draft_is_claimed_sent_and_signed_on, an_embedded_draft_is_claimed_sent_and_signed);

async fn a_draft_for_email_signing_and_the_refusals(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    // unclaimed_draft/create: the claim page opens on its own; the request's signers sign from e-mails.
    let body: Value =
        post_draft(&app, "/v3/unclaimed_draft/create", draft_form(None, &[("type", "request_signature")]))
            .await
            .json()
            .await
            .unwrap();
    let claim_url = body["unclaimed_draft"]["claim_url"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    assert!(body["unclaimed_draft"]["expires_at"].as_i64().unwrap() > countersign_domain::time::unix_now() + 86_400);
    let (status, html) = open_claim(&claim_url, None).await;
    assert_eq!(status, 200, "{html}");
    let config = page_config(&html);
    let fields = config["fields"].clone();
    let (status, sent) = save_fields(&app, &config, fields).await;
    assert_eq!(status, 200, "{sent}");
    let id = sent["signature_request_id"].as_str().unwrap().to_owned();
    wait_callback(&receiver, &id, &["signature_request_sent"]).await;
    let request: Value = app.get(&format!("/v3/signature_request/{id}")).await.json().await.unwrap();
    assert!(request["signature_request"]["signing_url"].is_string(), "{request}");

    // Fields the page sends wrong are refused, and nothing is claimed.
    let body: Value = post_draft(&app, "/v3/unclaimed_draft/create_embedded", draft_form(Some(&client_id), &[]))
        .await
        .json()
        .await
        .unwrap();
    let claim_url = body["unclaimed_draft"]["claim_url"].as_str().unwrap().to_owned();
    let (_, html) = open_claim(&claim_url, Some(&client_id)).await;
    let config = page_config(&html);
    let (status, answer) = save_fields(&app, &config, json!([{"type": "signature", "role": 5, "document_index": 0, "page": 1, "x": 1, "y": 1, "width": 50, "height": 20}])).await;
    assert_eq!(status, 400, "{answer}");
    let outside =
        reqwest::get(format!("{claim_url}&parent_url=https%3A%2F%2Fevil.test%2F&client_id={client_id}")).await.unwrap();
    assert_eq!(outside.status(), 403, "a test-mode draft without skip_domain_verification is still checked");
    let before = request_count(&app).await;

    // Refused at once, with the parameter named.
    for (path, form, name) in [
        (
            "/v3/unclaimed_draft/create_embedded",
            draft_form(None, &[("client_id", &client_id)]),
            "requester_email_address",
        ),
        ("/v3/unclaimed_draft/create", draft_form(None, &[("type", "bill_me")]), "type"),
        (
            "/v3/unclaimed_draft/create",
            draft_form(None, &[("signers[1][email_address]", "not-an-address")]),
            "signers[1][email_address]",
        ),
    ] {
        let error = expect_error(post_draft(&app, path, form).await, 400, "bad_request").await;
        assert_eq!(error["error_path"], name, "{error}");
    }
    let no_signers = Form::new()
        .text("type", "request_signature")
        .part("files[0]", Part::bytes(fixture("simple-two-signers.pdf")).file_name("a.pdf"));
    let error =
        expect_error(post_draft(&app, "/v3/unclaimed_draft/create", no_signers).await, 400, "bad_request").await;
    assert_eq!(error["error_path"], "signers");
    assert_eq!(request_count(&app).await, before);
    app.stop().await;
}
both_backends!(a_draft_for_email_signing_and_the_refusals_on, a_draft_for_email_signing_and_the_refusals);

async fn a_draft_from_a_template_keeps_its_fields_and_merge_values(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    let template_id = crate::templates::create_template(
        &app,
        crate::templates::template_form("nda.pdf", fixture("simple-two-signers.pdf")),
    )
    .await;
    crate::templates::wait_template_callback(&receiver, &template_id).await;
    let body = json!({
        "client_id": client_id,
        "requester_email_address": "owner@example.com",
        "template_ids": [template_id],
        "signers": [
            {"role": "Client", "name": "Cy Client", "email_address": "cy@example.com"},
            {"role": "Witness", "name": "Wu Witness", "email_address": "wu@example.com"}
        ],
        "ccs": [{"role": "Lawyer", "email_address": "lawyer@example.com"}],
        "custom_fields": [{"name": "Fee", "value": "CHF 900"}],
        "is_for_embedded_signing": true,
        "test_mode": true
    });
    let response = app.post_json("/v3/unclaimed_draft/create_embedded_with_template", &body).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    let claim_url = answer["unclaimed_draft"]["claim_url"].as_str().unwrap().to_owned();
    let (status, html) = open_claim(&claim_url, Some(&client_id)).await;
    assert_eq!(status, 200, "{html}");
    let config = page_config(&html);
    let fields = config["fields"].as_array().unwrap().clone();
    assert_eq!(fields.len(), 7, "the template's fields, its merge field too: {fields:?}");
    let (status, sent) = save_fields(&app, &config, Value::Array(fields)).await;
    assert_eq!(status, 200, "{sent}");
    let id = sent["signature_request_id"].as_str().unwrap().to_owned();
    wait_callback(&receiver, &id, &["signature_request_sent"]).await;
    let placed = fields_of(&app, &id).await;
    assert!(placed.iter().any(|f| f["type"] == "text-merge" && f["value"] == "CHF 900"), "{placed:?}");
    assert!(placed.iter().any(|f| f["api_id"] == "title" && f["signer"] == json!(1)), "{placed:?}");
    let request: Value = app.get(&format!("/v3/signature_request/{id}")).await.json().await.unwrap();
    assert_eq!(request["signature_request"]["cc_email_addresses"], json!(["lawyer@example.com"]));
    assert_eq!(request["signature_request"]["title"], "Mutual NDA");

    // Checked as send_with_template checks: a role left empty is refused, and no draft is made.
    let mut missing = body.clone();
    missing["signers"] = json!([{"role": "Client", "name": "Cy", "email_address": "cy@example.com"}]);
    let error = expect_error(
        app.post_json("/v3/unclaimed_draft/create_embedded_with_template", &missing).await,
        400,
        "bad_request",
    )
    .await;
    assert!(error["error_msg"].as_str().unwrap().contains("Witness"), "{error}");
    app.stop().await;
}
both_backends!(
    a_draft_from_a_template_keeps_its_fields_and_merge_values_on,
    a_draft_from_a_template_keeps_its_fields_and_merge_values
);

async fn a_held_draft_is_prepared_then_released(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    let form = draft_form(Some(&client_id), &[("hold_request", "1"), ("is_for_embedded_signing", "1")]);
    let body: Value = post_draft(&app, "/v3/unclaimed_draft/create_embedded", form).await.json().await.unwrap();
    let claim_url = body["unclaimed_draft"]["claim_url"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let (_, html) = open_claim(&claim_url, Some(&client_id)).await;
    let config = page_config(&html);
    let (status, sent) = save_fields(&app, &config, config["fields"].clone()).await;
    assert_eq!(status, 200, "{sent}");
    let id = sent["signature_request_id"].as_str().unwrap().to_owned();

    // Prepared, not sent: no signer can open it yet.
    let prepared = wait_callback(&receiver, &id, &["signature_request_prepared", "signature_request_sent"]).await;
    assert_eq!(prepared["event"]["event_type"], "signature_request_prepared", "{prepared}");
    let request: Value = app.get(&format!("/v3/signature_request/{id}")).await.json().await.unwrap();
    let request = request["signature_request"].clone();
    let signature_id = request["signatures"][0]["signature_id"].as_str().unwrap();
    let error = expect_error(app.get(&format!("/v3/embedded/sign_url/{signature_id}")).await, 409, "conflict").await;
    assert!(error["error_msg"].as_str().unwrap().contains("release_hold"), "{error}");

    // Released: sent, and signable.
    let other = app.other_account_key("other@example.com").await;
    let refused =
        app.request_as(&other, Method::POST, &format!("/v3/signature_request/release_hold/{id}")).send().await.unwrap();
    expect_error(refused, 404, "not_found").await;
    let released = app.request(Method::POST, &format!("/v3/signature_request/release_hold/{id}")).send().await.unwrap();
    assert_eq!(released.status(), 200);
    wait_callback(&receiver, &id, &["signature_request_sent"]).await;
    assert_eq!(app.get(&format!("/v3/embedded/sign_url/{signature_id}")).await.status(), 200);
    let again = app.request(Method::POST, &format!("/v3/signature_request/release_hold/{id}")).send().await.unwrap();
    let error = expect_error(again, 400, "bad_request").await;
    assert!(error["error_msg"].as_str().unwrap().contains("on hold"), "{error}");
    let placed = fields_of(&app, &id).await;
    sign_all(&app, &client_id, &request, &placed, 0, "Ada", None).await;
    app.stop().await;
}
both_backends!(a_held_draft_is_prepared_then_released_on, a_held_draft_is_prepared_then_released);

/// Posts the requester page's send with the signers it set (as its script does when it edits them).
async fn send_with_signers(app: &TestApp, config: &Value, signers: Value, fields: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(app.url(config["action"].as_str().unwrap()))
        .json(
            &json!({"session": config["session"], "expires": config["expires"], "signers": signers, "fields": fields}),
        )
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn signature_for(role: u64) -> Value {
    json!({"type": "signature", "role": role, "document_index": 0, "page": 1, "x": 72, "y": 500 + role * 60, "width": 160, "height": 36})
}

async fn the_requester_adds_the_signers_on_the_claim_page(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    // The SDKs' own example of create_embedded: files, client_id, requester_email_address, test_mode.
    let form = Form::new()
        .text("client_id", client_id.clone())
        .text("requester_email_address", "owner@example.com")
        .text("test_mode", "1")
        .part(
            "files[0]",
            Part::bytes(fixture("simple-two-signers.pdf")).file_name("lease.pdf").mime_str("application/pdf").unwrap(),
        );
    let response = post_draft(&app, "/v3/unclaimed_draft/create_embedded", form).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body["warnings"].is_null(), "{body}");
    let claim_url = body["unclaimed_draft"]["claim_url"].as_str().unwrap().to_owned();
    let (status, html) = open_claim(&claim_url, Some(&client_id)).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Add signer"), "the page offers to add signers");
    let config = page_config(&html);
    assert_eq!(config["edit_signers"], true);
    assert_eq!(config["signers"], json!([]));

    // Fields with no signer to go to, and signers the page got wrong, are refused; nothing is sent.
    let (status, answer) = save_fields(&app, &config, json!([signature_for(0)])).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) =
        send_with_signers(&app, &config, json!([{"name": "Ada", "email_address": "ada@"}]), json!([signature_for(0)]))
            .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["error_msg"].as_str().unwrap().contains("Signer 1"), "{answer}");
    let (status, answer) = send_with_signers(
        &app,
        &config,
        json!([{"name": "", "email_address": "ada@example.com"}, {"name": "Bob", "email_address": "bob@example.com"}]),
        json!([signature_for(0), signature_for(1)]),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(request_count(&app).await, 0);

    let signers = json!([
        {"name": "Ada Tenant", "email_address": "ada@example.com"},
        {"name": "Bob Landlord", "email_address": "bob@example.com"}
    ]);
    let (status, sent) = send_with_signers(&app, &config, signers, json!([signature_for(0), signature_for(1)])).await;
    assert_eq!(status, 200, "{sent}");
    let id = sent["signature_request_id"].as_str().unwrap().to_owned();
    wait_callback(&receiver, &id, &["signature_request_sent"]).await;
    let request: Value = app.get(&format!("/v3/signature_request/{id}")).await.json().await.unwrap();
    let signatures = request["signature_request"]["signatures"].as_array().unwrap().clone();
    let who: Vec<(&str, &str)> = signatures
        .iter()
        .map(|s| (s["signer_name"].as_str().unwrap(), s["signer_email_address"].as_str().unwrap()))
        .collect();
    assert_eq!(who, [("Ada Tenant", "ada@example.com"), ("Bob Landlord", "bob@example.com")]);
    assert_eq!(request["signature_request"]["title"], "lease.pdf");
    let placed = fields_of(&app, &id).await;
    for (signature, y) in signatures.iter().zip([500, 560]) {
        let theirs: Vec<&Value> = placed.iter().filter(|f| f["signature_id"] == signature["signature_id"]).collect();
        assert_eq!(theirs.len(), 1, "one signature field each: {placed:?}");
        assert_eq!(theirs[0]["y"], json!(f64::from(y)), "{placed:?}");
    }

    // A draft that names its signers keeps them, unless editor_options[allow_edit_signers] is given.
    let body: Value = post_draft(&app, "/v3/unclaimed_draft/create_embedded", draft_form(Some(&client_id), &[]))
        .await
        .json()
        .await
        .unwrap();
    let (_, html) = open_claim(body["unclaimed_draft"]["claim_url"].as_str().unwrap(), Some(&client_id)).await;
    let config = page_config(&html);
    assert_eq!(config["edit_signers"], false);
    assert!(!html.contains("Add signer"));
    let (status, answer) = send_with_signers(
        &app,
        &config,
        json!([{"name": "Eve", "email_address": "eve@example.com"}]),
        config["fields"].clone(),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["error_msg"].as_str().unwrap().contains("cannot be changed"), "{answer}");

    let form = draft_form(Some(&client_id), &[("editor_options[allow_edit_signers]", "1")]);
    let body: Value = post_draft(&app, "/v3/unclaimed_draft/create_embedded", form).await.json().await.unwrap();
    assert!(body["warnings"].is_null(), "allow_edit_signers is honoured: {body}");
    let (_, html) = open_claim(body["unclaimed_draft"]["claim_url"].as_str().unwrap(), Some(&client_id)).await;
    let config = page_config(&html);
    assert_eq!(config["edit_signers"], true);
    assert_eq!(config["signers"][1]["email_address"], "bob@example.com");
    // Bob's part goes to Cy.
    let signers = json!([
        {"name": "Ada Client", "email_address": "ada@example.com"},
        {"name": "Cy Witness", "email_address": "cy@example.com"}
    ]);
    let (status, sent) = send_with_signers(&app, &config, signers, config["fields"].clone()).await;
    assert_eq!(status, 200, "{sent}");
    let id = sent["signature_request_id"].as_str().unwrap().to_owned();
    wait_callback(&receiver, &id, &["signature_request_sent"]).await;
    let request: Value = app.get(&format!("/v3/signature_request/{id}")).await.json().await.unwrap();
    assert_eq!(request["signature_request"]["signatures"][1]["signer_email_address"], "cy@example.com");
    app.stop().await;
}
both_backends!(the_requester_adds_the_signers_on_the_claim_page_on, the_requester_adds_the_signers_on_the_claim_page);

/// `unclaimed_draft/edit_and_resend` of `id` as the caller's app.
async fn edit_and_resend(app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    app.post_json(&format!("/v3/unclaimed_draft/edit_and_resend/{id}"), &body).await
}

async fn a_sent_request_is_edited_and_resent_from_the_claim_page(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    let form = draft_form(None, &[("client_id", &client_id), ("signing_redirect_url", "https://example.com/signed")]);
    let created: Value = post_draft(&app, "/v3/signature_request/create_embedded", form).await.json().await.unwrap();
    let old =
        created["signature_request"]["signature_request_id"].as_str().unwrap_or_else(|| panic!("{created}")).to_owned();
    wait_callback(&receiver, &old, &["signature_request_sent"]).await;
    let old_fields = fields_of(&app, &old).await;

    // Refused: without the app, for another account, and for an app of another account.
    let error = expect_error(edit_and_resend(&app, &old, json!({})).await, 400, "bad_request").await;
    assert_eq!(error["error_path"], "client_id", "{error}");
    let other = app.other_account_key("other@example.com").await;
    let their_app: Value = app
        .request_as(&other, Method::POST, "/v3/api_app")
        .json(&json!({"name": "Their app", "domains": ["example.org"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let their_client = their_app["api_app"]["client_id"].as_str().unwrap_or_else(|| panic!("{their_app}"));
    let resend_as = |key: &str, client: &str| {
        app.request_as(key, Method::POST, &format!("/v3/unclaimed_draft/edit_and_resend/{old}"))
            .json(&json!({"client_id": client}))
            .send()
    };
    expect_error(resend_as(&other, their_client).await.unwrap(), 404, "not_found").await;
    let error = expect_error(resend_as(&other, &client_id).await.unwrap(), 400, "bad_request").await;
    assert_eq!(error["error_path"], "client_id", "another account's app: {error}");

    let response = edit_and_resend(&app, &old, json!({"client_id": client_id, "is_for_embedded_signing": true})).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body["warnings"].is_null(), "{body}");
    let draft = &body["unclaimed_draft"];
    assert_eq!(draft["signature_request_id"], Value::Null);
    assert_eq!(draft["test_mode"], true, "the request's test_mode is kept");
    assert_eq!(draft["signing_redirect_url"], "https://example.com/signed");
    let claim_url = draft["claim_url"].as_str().unwrap().to_owned();
    // A second draft of the same request, sent later, after the first one replaced it.
    let second: Value = edit_and_resend(&app, &old, json!({"client_id": client_id})).await.json().await.unwrap();
    let second_url = second["unclaimed_draft"]["claim_url"].as_str().unwrap().to_owned();

    let (status, html) = open_claim(&claim_url, Some(&client_id)).await;
    assert_eq!(status, 200, "{html}");
    let config = page_config(&html);
    assert_eq!(config["edit_signers"], true, "signers can be edited in the embedded editor");
    assert_eq!(
        config["signers"],
        json!([{"name": "Ada Client", "email_address": "ada@example.com"}, {"name": "Bob Witness", "email_address": "bob@example.com"}])
    );
    let fields = config["fields"].as_array().unwrap().clone();
    assert_eq!(fields.len(), old_fields.len(), "the request's fields, where they were: {fields:?}");
    let before = request_count(&app).await;

    // Bob's part goes to Cy; the new request is sent and the old one canceled with it.
    let signers = json!([
        {"name": "Ada Client", "email_address": "ada@example.com"},
        {"name": "Cy Witness", "email_address": "cy@example.com"}
    ]);
    let (status, sent) = send_with_signers(&app, &config, signers, Value::Array(fields)).await;
    assert_eq!(status, 200, "{sent}");
    let new = sent["signature_request_id"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    wait_callback(&receiver, &old, &["signature_request_canceled"]).await;
    wait_callback(&receiver, &new, &["signature_request_sent"]).await;
    expect_error(app.get(&format!("/v3/signature_request/{old}")).await, 410, "deleted").await;
    let request: Value = app.get(&format!("/v3/signature_request/{new}")).await.json().await.unwrap();
    let request = request["signature_request"].clone();
    assert_eq!(request["title"], "Consulting agreement");
    assert_eq!(request["cc_email_addresses"], json!(["cc@example.com"]));
    assert_eq!(request["signing_redirect_url"], "https://example.com/signed");
    assert_eq!(request["signatures"][1]["signer_email_address"], "cy@example.com");
    assert_eq!(request["signing_url"], Value::Null, "is_for_embedded_signing");
    let new_fields = fields_of(&app, &new).await;
    let at = |f: &Vec<Value>| {
        let mut at: Vec<String> =
            f.iter().map(|f| format!("{} {} {} {}", f["api_id"], f["page"], f["x"], f["y"])).collect();
        at.sort();
        at
    };
    assert_eq!(at(&new_fields), at(&old_fields), "the fields are where they were");
    assert_eq!(request_count(&app).await, before, "one request replaced by one");

    // The second draft replaces a canceled request: refused, and nothing is made.
    let (_, html) = open_claim(&second_url, Some(&client_id)).await;
    let second_config = page_config(&html);
    let (status, answer) = save_fields(&app, &second_config, second_config["fields"].clone()).await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(request_count(&app).await, before);

    // Once a signer has signed, the request can no longer be edited and resent.
    let resend = edit_and_resend(&app, &new, json!({"client_id": client_id})).await;
    assert_eq!(resend.status(), 200);
    sign_all(&app, &client_id, &request, &new_fields, 0, "Ada", None).await;
    let error =
        expect_error(edit_and_resend(&app, &new, json!({"client_id": client_id})).await, 400, "bad_request").await;
    assert!(error["error_msg"].as_str().unwrap().contains("cannot be edited and resent"), "{error}");
    expect_error(edit_and_resend(&app, &old, json!({"client_id": client_id})).await, 410, "deleted").await;
    app.stop().await;
}
both_backends!(
    a_sent_request_is_edited_and_resent_from_the_claim_page_on,
    a_sent_request_is_edited_and_resent_from_the_claim_page
);

//! Templates over HTTP: a template made from a tagged PDF plus `form_fields_per_document` is processed
//! in the background (`template_created`), shown in Dropbox Sign's shape, listed, downloaded, shared;
//! a request sent from it by role, with merge-field values, is signed and sealed with those values in
//! it. Bad input — another account's template, a deleted one, roles left empty or unknown, merge values
//! of the wrong kind, a file that cannot be read — is refused clearly and leaves nothing half-written.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::both_backends;
use crate::final_documents::{fields_of, sign_all};
use crate::helpers::{Backend, Options, TestApp, expect_error, wait_for};
use crate::receiver::Receiver;
use crate::signature_requests::{fixture, wait_callback};
use crate::signing::{WAIT, pdftotext, setup};

/// The template form of the tests: simple-two-signers.pdf (its text tags name signer1 and signer2),
/// roles Client then Witness, a CC role, and a text merge field placed with `form_fields_per_document`.
pub(crate) fn template_form(file: &str, bytes: Vec<u8>) -> Form {
    template_form_with(file, bytes, json!([{"name": "Fee", "type": "text"}]))
}

fn template_form_with(file: &str, bytes: Vec<u8>, merge_fields: Value) -> Form {
    Form::new()
        .text("title", "Mutual NDA")
        .text("subject", "The NDA we spoke about")
        .text("message", "Please sign.")
        .text("signer_roles[0][name]", "Client")
        .text("signer_roles[0][order]", "0")
        .text("signer_roles[1][name]", "Witness")
        .text("signer_roles[1][order]", "1")
        .text("cc_roles[0]", "Lawyer")
        .text("merge_fields", merge_fields.to_string())
        .text(
            "form_fields_per_document",
            json!([
                {"document_index": 0, "api_id": "fee", "name": "Fee", "type": "text-merge", "signer": "sender",
                 "page": 1, "x": 300, "y": 700, "width": 150, "height": 18, "required": true},
                {"document_index": 0, "api_id": "title", "name": "Job title", "type": "text", "signer": 1,
                 "page": 1, "x": 300, "y": 740, "width": 150, "height": 18, "required": false}
            ])
            .to_string(),
        )
        .text("test_mode", "1")
        .part("files[0]", Part::bytes(bytes).file_name(file.to_owned()).mime_str("application/pdf").unwrap())
}

async fn post_form(app: &TestApp, path: &str, form: Form) -> reqwest::Response {
    app.request(Method::POST, path).multipart(form).send().await.unwrap()
}

/// Creates a template and returns its id (processing goes on in the background).
pub(crate) async fn create_template(app: &TestApp, form: Form) -> String {
    let response = post_form(app, "/v3/template/create", form).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["template"]["template_id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned()
}

/// Waits for the template callback (`template_created` or `template_error`) about `id`.
pub(crate) async fn wait_template_callback(receiver: &Receiver, id: &str) -> Value {
    wait_for(WAIT, &format!("a template callback for {id}"), || async {
        receiver.received("/cb").into_iter().map(|r| r.json).find(|j| {
            j["template"]["template_id"] == id
                && matches!(j["event"]["event_type"].as_str(), Some("template_created" | "template_error"))
        })
    })
    .await
}

async fn get_template(app: &TestApp, id: &str) -> Value {
    let response = app.get(&format!("/v3/template/{id}")).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["template"].clone()
}

async fn a_template_is_made_then_sent_signed_and_sealed(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    let id = create_template(&app, template_form("nda.pdf", fixture("simple-two-signers.pdf"))).await;
    assert_eq!(id.len(), 40);

    let callback = wait_template_callback(&receiver, &id).await;
    assert_eq!(callback["event"]["event_type"], "template_created", "{callback}");
    let template = get_template(&app, &id).await;
    assert_eq!(callback["template"], template, "the event carries the committed template");
    assert_eq!(template["title"], "Mutual NDA");
    assert_eq!(template["is_creator"], true);
    assert_eq!(template["can_edit"], true);
    assert_eq!(template["is_locked"], false);
    assert_eq!(template["signer_roles"], json!([{"name": "Client", "order": 0}, {"name": "Witness", "order": 1}]));
    assert_eq!(template["cc_roles"], json!([{"name": "Lawyer"}]));
    assert_eq!(template["documents"][0]["name"], "nda.pdf");
    let form_fields = template["documents"][0]["form_fields"].as_array().unwrap().clone();
    // Five text tags plus the one signer field placed by form_fields_per_document.
    assert_eq!(form_fields.len(), 6, "{form_fields:?}");
    assert!(form_fields.iter().any(|f| f["api_id"] == "title" && f["signer"] == "2" && f["type"] == "text"));
    assert!(form_fields.iter().any(|f| f["type"] == "signature" && f["signer"] == "1"));
    let merge = &template["documents"][0]["custom_fields"];
    assert_eq!(merge.as_array().map(Vec::len), Some(1), "{template}");
    assert_eq!(merge[0]["name"], "Fee");
    assert_eq!(merge[0]["type"], "text");
    assert!(template["custom_fields"].as_array().unwrap().iter().any(|f| f["name"] == "Fee"));

    // Listed, searchable, and its document downloadable as the original.
    let list: Value = app.get("/v3/template/list?page_size=5").await.json().await.unwrap();
    assert_eq!(list["list_info"]["num_results"], 1, "{list}");
    assert_eq!(list["templates"][0]["template_id"], id);
    let none: Value = app.get("/v3/template/list?query=invoice").await.json().await.unwrap();
    assert_eq!(none["list_info"]["num_results"], 0, "{none}");
    let pdf = app.get(&format!("/v3/template/files/{id}")).await;
    assert_eq!(pdf.status(), 200);
    assert_eq!(pdf.bytes().await.unwrap().as_ref(), fixture("simple-two-signers.pdf").as_slice());
    let link: Value = app.get(&format!("/v3/template/files_as_file_url/{id}")).await.json().await.unwrap();
    let fetched = reqwest::get(link["file_url"].as_str().unwrap()).await.unwrap();
    assert_eq!(fetched.status(), 200, "a file_url needs no credentials");
    assert!(fetched.bytes().await.unwrap().starts_with(b"%PDF"));

    // Sent from the template by role (the signers given in the other order), with the merge value.
    let response = app
        .post_json(
            "/v3/signature_request/create_embedded_with_template",
            &json!({
                "client_id": client_id,
                "template_ids": [id],
                "test_mode": true,
                "signers": [
                    {"role": "Witness", "name": "Wanda Witness", "email_address": "wanda@example.com"},
                    {"role": "Client", "name": "Clara Client", "email_address": "clara@example.com"}
                ],
                "ccs": [{"role": "Lawyer", "email_address": "lawyer@example.com"}],
                "custom_fields": [{"name": "Fee", "value": "EUR 12,500"}]
            }),
        )
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let request = body["signature_request"].clone();
    let request_id = request["signature_request_id"].as_str().unwrap().to_owned();
    assert_eq!(request["template_ids"], json!([id]));
    assert_eq!(request["title"], "Mutual NDA", "the template's title when none is given");
    assert_eq!(request["subject"], "The NDA we spoke about");
    assert_eq!(request["cc_email_addresses"], json!(["lawyer@example.com"]));
    let signatures = request["signatures"].as_array().unwrap();
    assert_eq!(signatures[0]["signer_email_address"], "clara@example.com", "roles keep the template's order");
    assert_eq!(signatures[0]["signer_role"], "Client");
    assert_eq!(signatures[1]["signer_role"], "Witness");
    assert!(
        request["custom_fields"].as_array().unwrap().iter().any(|f| f["name"] == "Fee" && f["value"] == "EUR 12,500")
    );

    let sent = wait_callback(&receiver, &request_id, &["signature_request_sent", "file_error"]).await;
    assert_eq!(sent["event"]["event_type"], "signature_request_sent", "{sent}");
    let fields = fields_of(&app, &request_id).await;
    assert!(fields.iter().any(|f| f["api_id"] == "title" && f["signer"] == json!(1)), "{fields:?}");
    assert!(fields.iter().any(|f| f["type"] == "text-merge" && f["value"] == "EUR 12,500"), "{fields:?}");

    sign_all(&app, &client_id, &request, &fields, 0, "Chief Client", None).await;
    sign_all(&app, &client_id, &request, &fields, 1, "Notary public", None).await;
    wait_callback(&receiver, &request_id, &["signature_request_downloadable"]).await;
    let pdf = app.get(&format!("/v3/signature_request/files/{request_id}")).await;
    assert_eq!(pdf.status(), 200);
    let pdf = pdf.bytes().await.unwrap().to_vec();
    if let Some(text) = pdftotext(&app, &pdf) {
        assert!(text.contains("EUR 12,500"), "the merge value is in the final copy: {text}");
        assert!(text.contains("Notary public"), "the witness's field is in the final copy");
    }

    // Deleted: gone from get, list and sending; the request made from it stays.
    let response = app.request(Method::POST, &format!("/v3/template/delete/{id}")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    expect_error(app.get(&format!("/v3/template/{id}")).await, 404, "not_found").await;
    let list: Value = app.get("/v3/template/list").await.json().await.unwrap();
    assert_eq!(list["list_info"]["num_results"], 0);
    let again = app
        .post_json(
            "/v3/signature_request/send_with_template",
            &json!({"template_ids": [id], "signers": [{"role": "Client", "name": "A", "email_address": "a@example.com"}]}),
        )
        .await;
    let error = expect_error(again, 404, "not_found").await;
    assert_eq!(error["error_path"], "template_ids[0]");
    assert_eq!(app.get(&format!("/v3/signature_request/{request_id}")).await.status(), 200);
    app.stop().await;
}
both_backends!(a_template_is_made_then_sent_signed_and_sealed_on, a_template_is_made_then_sent_signed_and_sealed);

/// The number of signature requests the account can list.
async fn request_count(app: &TestApp) -> i64 {
    let list: Value = app.get("/v3/signature_request/list").await.json().await.unwrap();
    list["list_info"]["num_results"].as_i64().unwrap()
}

async fn bad_templates_and_bad_sends_are_refused(backend: Backend) {
    let Some((app, receiver, _)) = setup(backend, Options::default()).await else { return };

    // Refused at once: no roles, a role named twice, a merge field of an unknown kind.
    let no_roles = Form::new()
        .text("title", "x")
        .part("files[0]", Part::bytes(fixture("simple-two-signers.pdf")).file_name("a.pdf"));
    expect_error(post_form(&app, "/v3/template/create", no_roles).await, 400, "bad_request").await;
    let twice = template_form("a.pdf", fixture("simple-two-signers.pdf")).text("signer_roles[2][name]", "Client");
    let error = expect_error(post_form(&app, "/v3/template/create", twice).await, 400, "bad_request").await;
    assert!(error["error_path"].as_str().unwrap_or_default().starts_with("signer_roles"), "{error}");
    let bad_kind =
        template_form_with("a.pdf", fixture("simple-two-signers.pdf"), json!([{"name": "Fee", "type": "date"}]));
    let error = expect_error(post_form(&app, "/v3/template/create", bad_kind).await, 400, "bad_request").await;
    assert_eq!(error["error_path"], "merge_fields[0][type]");
    let list: Value = app.get("/v3/template/list").await.json().await.unwrap();
    assert_eq!(list["list_info"]["num_results"], 0, "nothing was stored: {list}");

    // A file that is not a PDF: template_error, with the reason, and the template cannot be used.
    let broken = create_template(&app, template_form("broken.pdf", fixture("not-a-pdf.pdf"))).await;
    let callback = wait_template_callback(&receiver, &broken).await;
    assert_eq!(callback["event"]["event_type"], "template_error", "{callback}");
    assert!(
        callback["event"]["event_metadata"]["event_message"].as_str().is_some_and(|m| m.contains("not a PDF")),
        "{callback}"
    );
    let template = get_template(&app, &broken).await;
    assert_eq!(template["documents"][0]["form_fields"], json!([]), "nothing half-written: {template}");
    expect_error(app.get(&format!("/v3/template/files/{broken}")).await, 400, "bad_request").await;
    let refused = app
        .post_json(
            "/v3/signature_request/send_with_template",
            &json!({"template_ids": [broken], "signers": [{"role": "Client", "name": "A", "email_address": "a@example.com"}]}),
        )
        .await;
    expect_error(refused, 400, "bad_request").await;

    // A good template, then every way of sending from it wrongly.
    let id = create_template(&app, template_form("nda.pdf", fixture("simple-two-signers.pdf"))).await;
    assert_eq!(wait_template_callback(&receiver, &id).await["event"]["event_type"], "template_created");
    let before = request_count(&app).await;
    let send = |body: Value| {
        let app = &app;
        async move { app.post_json("/v3/signature_request/send_with_template", &body).await }
    };
    let client = json!({"role": "Client", "name": "Clara", "email_address": "clara@example.com"});
    let witness = json!({"role": "Witness", "name": "Wanda", "email_address": "wanda@example.com"});
    let cc = json!([{"role": "Lawyer", "email_address": "lawyer@example.com"}]);
    let fee = json!([{"name": "Fee", "value": "10"}]);
    // A role left without a signer.
    let error = expect_error(
        send(json!({"template_ids": [id], "signers": [client], "ccs": cc, "custom_fields": fee})).await,
        400,
        "bad_request",
    )
    .await;
    assert!(error["error_msg"].as_str().unwrap().contains("Witness"), "{error}");
    // An unknown role.
    let stranger = json!({"role": "Landlord", "name": "L", "email_address": "l@example.com"});
    let error = expect_error(
        send(json!({"template_ids": [id], "signers": [client, witness, stranger], "ccs": cc, "custom_fields": fee}))
            .await,
        400,
        "bad_request",
    )
    .await;
    assert!(error["error_msg"].as_str().unwrap().contains("Landlord"), "{error}");
    // A CC role left empty.
    expect_error(
        send(json!({"template_ids": [id], "signers": [client, witness], "custom_fields": fee})).await,
        400,
        "bad_request",
    )
    .await;
    // The required merge field without a value, and with a value of the wrong kind.
    let error = expect_error(
        send(json!({"template_ids": [id], "signers": [client, witness], "ccs": cc})).await,
        400,
        "bad_request",
    )
    .await;
    assert!(error["error_msg"].as_str().unwrap().contains("Fee"), "{error}");
    expect_error(
        send(json!({"template_ids": [id], "signers": [client, witness], "ccs": cc,
                    "custom_fields": [{"name": "Fee", "value": {"amount": 10}}]}))
        .await,
        400,
        "bad_request",
    )
    .await;
    // Files appended by URL.
    let by_url = json!({"template_ids": [id], "signers": [client, witness], "ccs": cc,
                        "custom_fields": [{"name": "Fee", "value": "10"}], "file_urls": ["https://example.com/a.pdf"]});
    let error = expect_error(send(by_url).await, 400, "bad_request").await;
    assert_eq!(error["error_path"], "file_urls", "{error}");
    assert_eq!(request_count(&app).await, before, "no refused send left a request behind");

    // Another account sees nothing of it until it is shared, and cannot change it after.
    let other_key = app.other_account_key("other@example.com").await;
    let as_other = |method: Method, path: &str| app.request_as(&other_key, method, path);
    expect_error(as_other(Method::GET, &format!("/v3/template/{id}")).send().await.unwrap(), 404, "not_found").await;
    let refused = as_other(Method::POST, "/v3/signature_request/send_with_template")
        .json(&json!({"template_ids": [id], "signers": [client, witness], "ccs": cc, "custom_fields": fee}))
        .send()
        .await
        .unwrap();
    assert_eq!(expect_error(refused, 404, "not_found").await["error_path"], "template_ids[0]");
    let list: Value = as_other(Method::GET, "/v3/template/list").send().await.unwrap().json().await.unwrap();
    assert_eq!(list["list_info"]["num_results"], 0);
    let shared = app
        .request(Method::POST, &format!("/v3/template/add_user/{id}"))
        .json(&json!({"email_address": "other@example.com"}))
        .send()
        .await
        .unwrap();
    let shared: Value = shared.json().await.unwrap();
    assert!(
        shared["template"]["accounts"].as_array().unwrap().iter().any(|a| a["email_address"] == "other@example.com"),
        "{shared}"
    );
    let seen: Value = as_other(Method::GET, &format!("/v3/template/{id}")).send().await.unwrap().json().await.unwrap();
    assert_eq!(seen["template"]["is_creator"], false, "{seen}");
    assert_eq!(seen["template"]["can_edit"], false);
    let sent = as_other(Method::POST, "/v3/signature_request/send_with_template")
        .json(&json!({"template_ids": [id], "signers": [client, witness], "ccs": cc, "custom_fields": fee, "test_mode": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200, "a shared template can be sent from");
    expect_error(as_other(Method::POST, &format!("/v3/template/delete/{id}")).send().await.unwrap(), 403, "forbidden")
        .await;
    let removed = app
        .request(Method::POST, &format!("/v3/template/remove_user/{id}"))
        .json(&json!({"email_address": "other@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200);
    expect_error(as_other(Method::GET, &format!("/v3/template/{id}")).send().await.unwrap(), 404, "not_found").await;
    app.stop().await;
}
both_backends!(bad_templates_and_bad_sends_are_refused_on, bad_templates_and_bad_sends_are_refused);

/// `create_embedded_draft` of the NDA with roles Client and Witness, test mode off unless `test_mode`.
async fn create_draft(app: &TestApp, client_id: &str, file: &str, test_mode: bool) -> Value {
    let form = Form::new()
        .text("client_id", client_id.to_owned())
        .text("title", "Embedded NDA")
        .text("signer_roles[0][name]", "Client")
        .text("signer_roles[1][name]", "Witness")
        .text("merge_fields", json!([{"name": "Fee", "type": "text"}]).to_string())
        .text("use_text_tags", "0")
        .text("test_mode", if test_mode { "1" } else { "0" })
        .part("files[0]", Part::bytes(fixture(file)).file_name(file.to_owned()).mime_str("application/pdf").unwrap());
    let response = post_form(app, "/v3/template/create_embedded_draft", form).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body["template"].clone()
}

/// Opens an edit_url as `hellosign-embedded` does (from a page on example.com) once the documents are
/// read; returns the status and HTML.
async fn open_editor(edit_url: &str, client_id: &str) -> (u16, String) {
    let url = format!(
        "{edit_url}&parent_url=https%3A%2F%2Fexample.com%2Fbuilder&client_id={client_id}&skip_domain_verification=0&ux_version=2"
    );
    open_when_read(&url).await
}

/// Opens an editor or requester page once its documents were read (it answers 409 until then).
pub(crate) async fn open_when_read(url: &str) -> (u16, String) {
    wait_for(WAIT, "the page to open", || async {
        let response = reqwest::get(url).await.unwrap();
        let status = response.status().as_u16();
        (status != 409).then_some((status, response.text().await.unwrap()))
    })
    .await
}

/// Posts `fields` to the page's action (save a template, send a draft) with the page's session.
pub(crate) async fn save_fields(app: &TestApp, config: &Value, fields: Value) -> (u16, Value) {
    let action = config["action"].as_str().unwrap();
    let response = reqwest::Client::new()
        .post(app.url(action))
        .json(&json!({"session": config["session"], "expires": config["expires"], "fields": fields}))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn an_embedded_draft_is_finished_in_the_editor(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    let draft = create_draft(&app, &client_id, "three-pages.pdf", false).await;
    let id = draft["template_id"].as_str().unwrap().to_owned();
    let edit_url = draft["edit_url"].as_str().unwrap().to_owned();
    assert!(edit_url.contains("/editor/embeddedTemplate?"), "{edit_url}");
    assert!(draft["expires_at"].as_i64().unwrap() > countersign_domain::time::unix_now());

    // Until saved in the editor it cannot be sent, and no template_created went out.
    let (status, html) = open_editor(&edit_url, &client_id).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Save template") && html.contains("Signer role"), "{html}");
    let config = crate::signing::page_config(&html);
    assert_eq!(config["roles"], json!(["Client", "Witness"]));
    assert_eq!(config["documents"][0]["pages"].as_array().unwrap().len(), 3);
    let send = json!({"template_ids": [id], "signers": [
        {"role": "Client", "name": "C", "email_address": "c@example.com"},
        {"role": "Witness", "name": "W", "email_address": "w@example.com"}],
        "custom_fields": [{"name": "Fee", "value": "9"}], "test_mode": true});
    expect_error(app.post_json("/v3/signature_request/send_with_template", &send).await, 409, "conflict").await;
    assert!(receiver.received("/cb").iter().all(|r| r.json["template"]["template_id"] != id.as_str()));

    // A page image of the second page.
    let image_url =
        html.split("src=\"").filter_map(|s| s.split('"').next()).find(|s| s.contains("/pages/0/2")).unwrap();
    let image = reqwest::get(app.url(&image_url.replace("&amp;", "&").replace("&#38;", "&"))).await.unwrap();
    assert_eq!(image.status(), 200);
    assert_eq!(image.headers()["content-type"], "image/png");

    // Fields the domain refuses are answered with the reason, and nothing is saved.
    let off = json!([{"type": "signature", "role": 0, "document_index": 0, "page": 2, "x": 500, "y": 700, "width": 300, "height": 40}]);
    let (status, body) = save_fields(&app, &config, off).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["error_msg"].as_str().unwrap().contains("inside page 2"), "{body}");
    let (status, _) = save_fields(
        &app,
        &json!({"action": config["action"], "session": "0".repeat(64), "expires": config["expires"]}),
        json!([]),
    )
    .await;
    assert_eq!(status, 403, "a forged session saves nothing");

    let fields = json!([
        {"type": "signature", "role": 0, "document_index": 0, "page": 1, "x": 72, "y": 600, "width": 180, "height": 36},
        {"type": "date_signed", "role": 0, "document_index": 0, "page": 1, "x": 300, "y": 610, "width": 100, "height": 18},
        {"type": "signature", "role": 1, "document_index": 0, "page": 3, "x": 72, "y": 600, "width": 180, "height": 36},
        {"type": "dropdown", "role": 1, "name": "Color", "document_index": 0, "page": 2, "x": 72, "y": 100, "width": 120, "height": 18, "options": ["Red", "Blue"]},
        {"type": "text-merge", "name": "Fee", "document_index": 0, "page": 1, "x": 72, "y": 100, "width": 120, "height": 18}
    ]);
    let (status, body) = save_fields(&app, &config, fields).await;
    assert_eq!(status, 200, "{body}");
    let callback = wait_template_callback(&receiver, &id).await;
    assert_eq!(callback["event"]["event_type"], "template_created");
    let template = get_template(&app, &id).await;
    assert_eq!(callback["template"], template);
    assert_eq!(template["is_embedded"], true);
    assert_eq!(template["documents"][0]["form_fields"].as_array().unwrap().len(), 4, "{template}");
    assert_eq!(template["documents"][0]["custom_fields"][0]["name"], "Fee");

    // Sent and signed like any template.
    let response = app
        .post_json("/v3/signature_request/create_embedded_with_template", &{
            let mut body = send.clone();
            body["client_id"] = json!(client_id);
            body
        })
        .await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let request = body["signature_request"].clone();
    let request_id = request["signature_request_id"].as_str().unwrap().to_owned();
    wait_callback(&receiver, &request_id, &["signature_request_sent"]).await;
    let placed = fields_of(&app, &request_id).await;
    assert!(placed.iter().any(|f| f["type"] == "dropdown" && f["page"] == 2 && f["signer"] == json!(1)), "{placed:?}");
    let (status, body) = crate::signing::act(
        &app,
        &crate::signing::page_config(
            &crate::signing::open(&crate::signing::sign_url(&app, &request, 1, &client_id).await).await.1,
        ),
        "sign",
        json!({"values": {"dropdown_4": "Blue"}, "images": {"signature_3": crate::signing::PNG}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // edit_url again: a fresh link; preview_only opens it without a save button; a tampered one is refused.
    let response = app
        .request(Method::POST, &format!("/v3/embedded/edit_url/{id}"))
        .json(&json!({"preview_only": true, "show_preview": true, "force_signer_roles": true}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let preview = body["embedded"]["edit_url"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    let warned: Vec<&str> =
        body["warnings"].as_array().unwrap().iter().map(|w| w["warning_msg"].as_str().unwrap()).collect();
    assert!(
        warned.len() == 1 && warned[0].contains("show_preview"),
        "only what is not honoured is warned about: {body}"
    );
    let (status, html) = open_editor(&preview, &client_id).await;
    assert_eq!(status, 200);
    assert!(!html.contains("Save template"), "preview_only shows no save button");
    let (status, _) = open_editor(&preview.replace("&preview_only=1", ""), &client_id).await;
    assert_eq!(status, 403, "preview_only is part of what the token covers");
    let (status, html) = open_editor(&edit_url, &client_id).await;
    assert_eq!(status, 200, "the first edit_url still opens: {html}");
    let outside =
        reqwest::get(format!("{edit_url}&parent_url=https%3A%2F%2Fevil.test%2F&client_id={client_id}")).await.unwrap();
    assert_eq!(outside.status(), 403, "a live template's editor opens only on the app's domains");

    // Only templates made as embedded drafts, and only by their owner.
    let plain = create_template(&app, template_form("nda.pdf", fixture("simple-two-signers.pdf"))).await;
    let error = expect_error(
        app.request(Method::POST, &format!("/v3/embedded/edit_url/{plain}")).send().await.unwrap(),
        400,
        "bad_request",
    )
    .await;
    assert!(error["error_msg"].as_str().unwrap().contains("create_embedded_draft"), "{error}");
    let other = app.other_account_key("other@example.com").await;
    expect_error(
        app.request_as(&other, Method::POST, &format!("/v3/embedded/edit_url/{id}")).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    // Without client_id a draft is refused.
    let no_client = Form::new()
        .text("signer_roles[0][name]", "Client")
        .part("files[0]", Part::bytes(fixture("three-pages.pdf")).file_name("a.pdf"));
    let error =
        expect_error(post_form(&app, "/v3/template/create_embedded_draft", no_client).await, 400, "bad_request").await;
    assert_eq!(error["error_path"], "client_id");

    // Deleted: the editor says so and saving is refused.
    app.request(Method::POST, &format!("/v3/template/delete/{id}")).send().await.unwrap();
    let (status, _) = save_fields(&app, &config, json!([])).await;
    assert_eq!(status, 410);
    app.stop().await;
}
both_backends!(an_embedded_draft_is_finished_in_the_editor_on, an_embedded_draft_is_finished_in_the_editor);

/// `template/update_files/{id}` with one uploaded file; the new template's id.
async fn update_files(app: &TestApp, id: &str, file: &str) -> reqwest::Response {
    let form = Form::new()
        .text("subject", "Now with the new files")
        .part("files[0]", Part::bytes(fixture(file)).file_name(file.to_owned()).mime_str("application/pdf").unwrap());
    post_form(app, &format!("/v3/template/update_files/{id}"), form).await
}

async fn update_files_makes_a_copy_on_the_new_files(backend: Backend) {
    let Some((app, receiver, _)) = setup(backend, Options::default()).await else { return };
    let form = Form::new()
        .text("title", "Three pages")
        .text("signer_roles[0][name]", "Client")
        .text("signer_roles[1][name]", "Witness")
        .part(
            "files[0]",
            Part::bytes(fixture("three-pages.pdf")).file_name("three.pdf").mime_str("application/pdf").unwrap(),
        );
    let id = create_template(&app, form).await;
    assert_eq!(wait_template_callback(&receiver, &id).await["event"]["event_type"], "template_created");
    let before = get_template(&app, &id).await;

    let response = update_files(&app, &id, "fifty-pages.pdf").await;
    let body: Value = response.json().await.unwrap();
    let copy = body["template"]["template_id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    assert_ne!(copy, id);
    let callback = wait_template_callback(&receiver, &copy).await;
    assert_eq!(callback["event"]["event_type"], "template_created", "{callback}");
    let after = get_template(&app, &copy).await;
    let fields = |t: &Value| {
        t["documents"][0]["form_fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["api_id"].clone(), f["page"].clone(), f["signer"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(fields(&after), fields(&before), "the fields stay where they were");
    assert_eq!(after["signer_roles"], before["signer_roles"]);
    assert_eq!(after["documents"][0]["name"], "fifty-pages.pdf");
    assert_eq!(get_template(&app, &id).await, before, "the template it overlays is unchanged");
    let pdf = app.get(&format!("/v3/template/files/{copy}")).await.bytes().await.unwrap();
    assert_eq!(pdf.as_ref(), fixture("fifty-pages.pdf").as_slice());

    // Files that cannot carry the fields: template_error naming why, for the copy only.
    for (file, why) in [("per-glyph-runs.pdf", "at least as many"), ("rotated-90.pdf", "way up")] {
        let body: Value = update_files(&app, &id, file).await.json().await.unwrap();
        let failed = body["template"]["template_id"].as_str().unwrap().to_owned();
        let callback = wait_template_callback(&receiver, &failed).await;
        assert_eq!(callback["event"]["event_type"], "template_error", "{file}: {callback}");
        let message = callback["event"]["event_metadata"]["event_message"].as_str().unwrap_or_default();
        assert!(message.contains(why), "{file}: {message}");
    }
    let other = app.other_account_key("other@example.com").await;
    let form = Form::new().part("files[0]", Part::bytes(fixture("three-pages.pdf")).file_name("a.pdf"));
    let refused = app
        .request_as(&other, Method::POST, &format!("/v3/template/update_files/{id}"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    expect_error(refused, 404, "not_found").await;
    app.stop().await;
}
both_backends!(update_files_makes_a_copy_on_the_new_files_on, update_files_makes_a_copy_on_the_new_files);

async fn an_expired_edit_url_opens_nothing(backend: Backend) {
    let options = Options { sign_url_lifetime: std::time::Duration::from_secs(1), ..Options::default() };
    let Some((app, _receiver, client_id)) = setup(backend, options).await else { return };
    let draft = create_draft(&app, &client_id, "three-pages.pdf", true).await;
    let expires_at = draft["expires_at"].as_i64().unwrap();
    let edit_url = draft["edit_url"].as_str().unwrap().to_owned();
    wait_for(WAIT, "the edit_url to expire", || async {
        (countersign_domain::time::unix_now() > expires_at).then_some(())
    })
    .await;
    let (status, html) = open_editor(&edit_url, &client_id).await;
    assert_eq!(status, 403, "{html}");
    assert!(html.contains("This link has expired"), "{html}");
    assert!(!html.contains("Save template"));
    app.stop().await;
}
both_backends!(an_expired_edit_url_opens_nothing_on, an_expired_edit_url_opens_nothing);

async fn files_sent_with_a_template_are_appended_with_their_tags(backend: Backend) {
    let Some((app, receiver, _)) = setup(backend, Options::default()).await else { return };
    let id = create_template(&app, template_form("nda.pdf", fixture("simple-two-signers.pdf"))).await;
    wait_template_callback(&receiver, &id).await;
    // Dropbox Sign: "Append additional files to the signature request… Text tags for signers not on the
    // template will be ignored." unknown-signer.pdf has tags for signer1 and signer3.
    let form = Form::new()
        .text("template_ids[0]", id.clone())
        .text("signers[0][role]", "Client")
        .text("signers[0][name]", "Cy Client")
        .text("signers[0][email_address]", "cy@example.com")
        .text("signers[1][role]", "Witness")
        .text("signers[1][name]", "Wu Witness")
        .text("signers[1][email_address]", "wu@example.com")
        .text("ccs[0][role]", "Lawyer")
        .text("ccs[0][email_address]", "lawyer@example.com")
        .text("custom_fields", json!([{"name": "Fee", "value": "CHF 300"}]).to_string())
        .text("test_mode", "1")
        .part(
            "files[0]",
            Part::bytes(fixture("unknown-signer.pdf")).file_name("annex.pdf").mime_str("application/pdf").unwrap(),
        );
    let response = post_form(&app, "/v3/signature_request/send_with_template", form).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let request_id = body["signature_request"]["signature_request_id"].as_str().unwrap().to_owned();
    let sent = wait_callback(&receiver, &request_id, &["signature_request_sent", "signature_request_invalid"]).await;
    assert_eq!(sent["event"]["event_type"], "signature_request_sent", "{sent}");
    let placed = fields_of(&app, &request_id).await;
    let on = |doc: i64| placed.iter().filter(|f| f["document_index"] == doc).count();
    assert_eq!(
        (on(0), on(1)),
        (7, 1),
        "the template's seven fields (five tags, two form fields), and the annex's signer1 tag only: {placed:?}"
    );
    let annexed = placed.iter().find(|f| f["document_index"] == 1).unwrap();
    assert_eq!((annexed["type"].as_str(), annexed["signer"].as_i64()), (Some("signature"), Some(0)), "{annexed}");
    let request: Value = app.get(&format!("/v3/signature_request/{request_id}")).await.json().await.unwrap();
    assert_eq!(request["signature_request"]["template_ids"], json!([id]));
    app.stop().await;
}
both_backends!(
    files_sent_with_a_template_are_appended_with_their_tags_on,
    files_sent_with_a_template_are_appended_with_their_tags
);

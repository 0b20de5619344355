//! Final documents through the API: tagged documents signed by signers with non-Latin names become
//! one sealed copy (and one per document in the zip) with the tags gone, the typed values inside
//! their fields, the audit trail's digests equal to the originals', and a 200-page document sealed
//! like a one-page one.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, wait_for};
use crate::signature_requests::{fixture, wait_callback};
use crate::signing::{
    PNG, WAIT, act, open, page_config, pdfsig, pdftotext, poppler, setup, sha256_hex, sign_url, verify,
};

/// `create_embedded` with `files` (name, bytes), text tags on, and two signers; waits until sent.
async fn create(
    app: &TestApp,
    client_id: &str,
    files: &[(&str, Vec<u8>)],
    names: &[&str],
    extra: &[(&str, &str)],
) -> Value {
    let mut form = Form::new()
        .text("title", "Lease — Аренда")
        .text("test_mode", "1")
        .text("use_text_tags", "1")
        .text("client_id", client_id.to_owned());
    for (i, (name, bytes)) in files.iter().enumerate() {
        form = form.part(
            format!("files[{i}]"),
            Part::bytes(bytes.clone()).file_name(name.to_string()).mime_str("application/pdf").unwrap(),
        );
    }
    for (i, name) in names.iter().enumerate() {
        form = form
            .text(format!("signers[{i}][name]"), name.to_string())
            .text(format!("signers[{i}][email_address]"), format!("signer{i}@example.com"));
    }
    for (key, value) in extra {
        form = form.text(key.to_string(), value.to_string());
    }
    let response =
        app.request(Method::POST, "/v3/signature_request/create_embedded").multipart(form).send().await.unwrap();
    let body: Value = response.json().await.unwrap();
    let request = body["signature_request"].clone();
    let id = request["signature_request_id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    wait_for(WAIT, "the request to be sent", || async {
        (app.get(&format!("/v3/signature_request/files/{id}")).await.status() != 409).then_some(())
    })
    .await;
    request
}

/// Every field of the request, from the `fields` extension.
pub(crate) async fn fields_of(app: &TestApp, id: &str) -> Vec<Value> {
    let fields: Value = app.get(&format!("/v3/signature_request/fields/{id}")).await.json().await.unwrap();
    fields["fields"].as_array().unwrap_or_else(|| panic!("{fields}")).clone()
}

/// Signer `index` fills every one of their fields (text fields with `text`; signatures typed as
/// `typed`, when given) and signs.
pub(crate) async fn sign_all(
    app: &TestApp,
    client_id: &str,
    request: &Value,
    fields: &[Value],
    index: usize,
    text: &str,
    typed: Option<&str>,
) {
    let mut values = json!({});
    let mut images = json!({});
    let mut typed_names = json!({});
    for f in fields.iter().filter(|f| f["signer"] == json!(index)) {
        let api_id = f["api_id"].as_str().unwrap();
        match f["type"].as_str().unwrap() {
            "signature" | "initials" => {
                images[api_id] = json!(PNG);
                if let Some(name) = typed.filter(|_| f["type"] == "signature") {
                    typed_names[api_id] = json!(name);
                }
            }
            "text" => values[api_id] = json!(text),
            "checkbox" => values[api_id] = json!(true),
            _ => {}
        }
    }
    let (status, html) = open(&sign_url(app, request, index, client_id).await).await;
    assert_eq!(status, 200, "{html}");
    let (status, body) =
        act(app, &page_config(&html), "sign", json!({"values": values, "images": images, "typed": typed_names})).await;
    assert_eq!(status, 200, "{body}");
}

/// The entries of a stored (uncompressed) zip: (name, bytes).
fn unzip(zip: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 0;
    while zip.len() >= at + 30 && zip[at..at + 4] == *b"PK\x03\x04" {
        let u16_at = |i: usize| u16::from_le_bytes([zip[i], zip[i + 1]]) as usize;
        let size = u32::from_le_bytes(zip[at + 18..at + 22].try_into().unwrap()) as usize;
        let (name_len, extra_len) = (u16_at(at + 26), u16_at(at + 28));
        let name = String::from_utf8_lossy(&zip[at + 30..at + 30 + name_len]).into_owned();
        let start = at + 30 + name_len + extra_len;
        out.push((name, zip[start..start + size].to_vec()));
        at = start + size;
    }
    out
}

async fn tagged_documents_become_sealed_copies_with_the_tags_gone(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    let files = [("lease.pdf", fixture("simple-two-signers.pdf")), ("annex.pdf", fixture("three-pages.pdf"))];
    let request = create(&app, &client_id, &files, &["Жанна Ли", "张伟"], &[("hide_text_tags", "1")]).await;
    let id = request["signature_request_id"].as_str().unwrap().to_owned();
    let fields = fields_of(&app, &id).await;
    sign_all(&app, &client_id, &request, &fields, 0, "Жанна", Some("Жанна Ли")).await;
    sign_all(&app, &client_id, &request, &fields, 1, "株式会社 Ωμέγα", None).await;
    wait_callback(&receiver, &id, &["signature_request_downloadable"]).await;

    let pdf = app.get(&format!("/v3/signature_request/files/{id}")).await.bytes().await.unwrap().to_vec();
    let pages = countersign_pdf::page_count(&pdf).unwrap();
    assert!(pages >= 5, "1 + 3 pages and the audit trail: {pages}");
    if let Some(report) = pdfsig(&app, &pdf) {
        assert!(report.contains("Signature is Valid") && report.contains("Total document signed"), "{report}");
    }
    assert_eq!(verify(&app, &pdf).await["intact"], true);
    if let Some(text) = pdftotext(&app, &pdf) {
        assert!(!text.contains("|req|") && !text.contains("|noreq|"), "hide_text_tags leaves no tag: {text}");
        assert!(text.contains("株式会社 Ωμέγα"), "the typed value extracts back: {text}");
        assert!(text.contains("Жанна Ли") && text.contains("张伟"), "the audit trail names the signers: {text}");
        for (_, bytes) in &files {
            assert!(text.contains(&sha256_hex(bytes)), "each original's SHA-256 is on the audit trail");
        }
    }
    // The company field (signer 2's text) holds the typed value, inside its rectangle.
    let company = fields.iter().find(|f| f["type"] == "text").unwrap();
    if let Some(html) = poppler(&app, "pdftotext", &["-bbox", "-f", "1", "-l", "1"], &pdf) {
        let word = html.lines().find(|l| l.contains(">株式会社<")).unwrap_or_else(|| panic!("{html}"));
        let attr = |name: &str| -> f64 {
            let start = word.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
            word[start..start + word[start..].find('"').unwrap()].parse().unwrap()
        };
        let (x, y, w, h) = (
            company["x"].as_f64().unwrap(),
            company["y"].as_f64().unwrap(),
            company["width"].as_f64().unwrap(),
            company["height"].as_f64().unwrap(),
        );
        assert!(attr("xMin") >= x - 0.5 && attr("xMax") <= x + w + 0.5, "{word} in {company}");
        assert!(attr("yMin") >= y - 0.5 && attr("yMax") <= y + h + 0.5, "{word} in {company}");
    }
    // The zip: each document sealed on its own.
    let zip = app.get(&format!("/v3/signature_request/files/{id}?file_type=zip")).await.bytes().await.unwrap();
    let entries = unzip(&zip);
    assert_eq!(entries.len(), 2);
    for (name, bytes) in &entries {
        assert_eq!(verify(&app, bytes).await["intact"], true, "{name}");
        if let Some(report) = pdfsig(&app, bytes) {
            assert!(report.contains("Signature is Valid"), "{name}: {report}");
        }
    }
    let audit: Value = app.get(&format!("/v3/signature_request/{id}/audit")).await.json().await.unwrap();
    let documents = audit["audit_trail"]["documents"].as_array().unwrap();
    assert_eq!(documents[0]["sha256"], sha256_hex(&files[0].1));
    assert_eq!(documents[1]["sha256"], sha256_hex(&files[1].1));
    assert_eq!(audit["audit_trail"]["final_copy"]["sha256"], sha256_hex(&pdf));
    // The data URI serves the same sealed bytes.
    let uri: Value = app.get(&format!("/v3/signature_request/files_as_data_uri/{id}")).await.json().await.unwrap();
    let encoded = uri["data_uri"].as_str().unwrap().split_once(",").unwrap().1.to_owned();
    use base64::Engine;
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap(), pdf);
    app.stop().await;
}
both_backends!(
    tagged_documents_become_sealed_copies_with_the_tags_gone_on,
    tagged_documents_become_sealed_copies_with_the_tags_gone
);

async fn a_two_hundred_page_document_is_sealed(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    let fifty = fixture("fifty-pages.pdf");
    let big = countersign_pdf::merge(&[&fifty, &fifty, &fifty, &fifty]).unwrap();
    assert_eq!(countersign_pdf::page_count(&big).unwrap(), 204);
    let request = create(&app, &client_id, &[("big.pdf", big.clone())], &["Ann"], &[]).await;
    let id = request["signature_request_id"].as_str().unwrap().to_owned();
    let fields = fields_of(&app, &id).await;
    assert_eq!(fields.len(), 24);
    sign_all(&app, &client_id, &request, &fields, 0, "", None).await;
    wait_callback(&receiver, &id, &["signature_request_downloadable"]).await;
    let pdf = app.get(&format!("/v3/signature_request/files/{id}")).await.bytes().await.unwrap().to_vec();
    assert!(countersign_pdf::page_count(&pdf).unwrap() > 204);
    if let Some(report) = pdfsig(&app, &pdf) {
        assert!(report.contains("Signature is Valid") && report.contains("Total document signed"), "{report}");
    }
    assert_eq!(verify(&app, &pdf).await["intact"], true);
    app.stop().await;
}
both_backends!(a_two_hundred_page_document_is_sealed_on, a_two_hundred_page_document_is_sealed);

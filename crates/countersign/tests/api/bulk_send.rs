//! Bulk send with templates over HTTP: a JSON signer list with one bad row makes a job whose good rows
//! become requests (each processed and sent like any other, carrying the job's id) while the bad row
//! is reported alone; a CSV signer file for a one-role template; and what is refused whole — broken
//! CSV quoting, more than 10,000 rows, a CSV for a two-role template, another account's template, a
//! list whose every row is bad — with nothing written.

use reqwest::Method;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::{Backend, Options, TestApp, expect_error, wait_for};
use crate::signature_requests::fixture;
use crate::signing::{WAIT, setup};
use crate::templates::{create_template, template_form, wait_template_callback};

async fn post(app: &TestApp, key: &str, path: &str, form: Form) -> reqwest::Response {
    app.request_as(key, Method::POST, path).multipart(form).send().await.unwrap()
}

/// A one-role template (Client) on a one-signer PDF.
fn one_role_template() -> Form {
    Form::new()
        .text("title", "Consent form")
        .text("signer_roles[0][name]", "Client")
        .text("merge_fields", json!([{"name": "company", "type": "text"}]).to_string())
        .text("test_mode", "1")
        .part("files[0]", Part::bytes(fixture("per-glyph-runs.pdf")).file_name("consent.pdf"))
}

fn signer(role: &str, name: &str, email: &str) -> Value {
    json!({"role": role, "name": name, "email_address": email})
}

async fn job_requests(app: &TestApp, job: &str, want: usize) -> Value {
    wait_for(WAIT, &format!("{want} requests of bulk job {job}"), || async {
        let got: Value = app.get(&format!("/v3/bulk_send_job/{job}")).await.json().await.unwrap();
        (got["signature_requests"].as_array().map_or(0, Vec::len) >= want).then_some(got)
    })
    .await
}

async fn a_signer_list_with_a_bad_row_sends_the_others(backend: Backend) {
    let Some((app, receiver, _)) = setup(backend, Options::default()).await else { return };
    let template = create_template(&app, template_form("nda.pdf", fixture("simple-two-signers.pdf"))).await;
    wait_template_callback(&receiver, &template).await;
    let list = json!([
        {"signers": [signer("Client", "Ann", "ann@example.com"), signer("Witness", "Wil", "wil@example.com")],
         "custom_fields": [{"name": "Fee", "value": "CHF 100"}]},
        {"signers": [signer("Client", "Bad", "not-an-address"), signer("Witness", "Wil", "wil@example.com")]},
        {"signers": [signer("Client", "Cem", "cem@example.com"), signer("Witness", "Wil", "wil@example.com")]},
    ]);
    let form = Form::new()
        .text("template_ids[0]", template.clone())
        .text("signer_list", list.to_string())
        .text("ccs[0][role]", "Lawyer")
        .text("ccs[0][email_address]", "lawyer@example.com")
        .text("custom_fields", json!([{"name": "Fee", "value": "CHF 90"}]).to_string())
        .text("title", "NDA for the team")
        .text("test_mode", "1");
    let response = post(&app, &app.api_key, "/v3/signature_request/bulk_send_with_template", form).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let job = body["bulk_send_job"]["bulk_send_job_id"].as_str().unwrap().to_owned();
    assert_eq!(body["bulk_send_job"]["total"], 3);
    assert_eq!(body["bulk_send_job"]["is_creator"], true);
    let warning = &body["warnings"][0];
    assert_eq!(warning["warning_name"], "bulk_send_rows_invalid", "{body}");
    assert!(warning["warning_msg"].as_str().unwrap().contains("row 1"), "{body}");

    let got = job_requests(&app, &job, 2).await;
    assert_eq!(got["list_info"]["num_results"], 2);
    let requests = got["signature_requests"].as_array().unwrap();
    let firsts: Vec<&str> = requests.iter().map(|r| r["signatures"][0]["signer_name"].as_str().unwrap()).collect();
    assert_eq!(firsts, ["Ann", "Cem"], "in row order");
    assert!(requests.iter().all(|r| r["bulk_send_job_id"] == job.as_str() && r["title"] == "NDA for the team"));
    let fee = |r: &Value| {
        r["custom_fields"].as_array().unwrap().iter().find(|f| f["name"] == "Fee").unwrap()["value"].clone()
    };
    assert_eq!((fee(&requests[0]), fee(&requests[1])), (json!("CHF 100"), json!("CHF 90")), "a row's value wins");
    let failed = got["warnings"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "{got}");
    assert_eq!(failed[0]["warning_name"], "bulk_send_row_failed");
    assert!(failed[0]["warning_msg"].as_str().unwrap().starts_with("Row 1:"), "{got}");
    // Each request is processed and sent like any other, and says which job made it.
    for request in requests {
        let id = request["signature_request_id"].as_str().unwrap();
        let sent = crate::signature_requests::wait_callback(&receiver, id, &["signature_request_sent"]).await;
        assert_eq!(sent["signature_request"]["bulk_send_job_id"], job.as_str());
    }
    let listed: Value = app.get("/v3/bulk_send_job/list").await.json().await.unwrap();
    assert_eq!(listed["bulk_send_jobs"][0]["bulk_send_job_id"], job.as_str());
    assert_eq!(listed["list_info"]["num_results"], 1);

    // Another account sees neither the job nor, for its own bulk send, the template.
    let stranger = app.other_account_key("stranger@example.com").await;
    let theirs = app.request_as(&stranger, Method::GET, &format!("/v3/bulk_send_job/{job}")).send().await.unwrap();
    expect_error(theirs, 404, "not_found").await;
    let form = Form::new().text("template_ids[0]", template.clone()).text("signer_list", list.to_string());
    expect_error(post(&app, &stranger, "/v3/signature_request/bulk_send_with_template", form).await, 404, "not_found")
        .await;
    // Every row bad: refused with the first row's reason, and no job is made.
    let all_bad = json!([{"signers": [signer("Client", "Bad", "nope"), signer("Witness", "W", "w@example.com")]}]);
    let form = Form::new()
        .text("template_ids[0]", template.clone())
        .text("signer_list", all_bad.to_string())
        .text("ccs[0][role]", "Lawyer")
        .text("ccs[0][email_address]", "lawyer@example.com");
    let error = expect_error(
        post(&app, &app.api_key, "/v3/signature_request/bulk_send_with_template", form).await,
        400,
        "bad_request",
    )
    .await;
    assert!(error["error_msg"].as_str().unwrap().starts_with("Row 0"), "{error}");
    let listed: Value = app.get("/v3/bulk_send_job/list").await.json().await.unwrap();
    assert_eq!(listed["list_info"]["num_results"], 1, "nothing was written");
    app.stop().await;
}
both_backends!(a_signer_list_with_a_bad_row_sends_the_others_on, a_signer_list_with_a_bad_row_sends_the_others);

async fn a_csv_signer_file_fills_the_one_role(backend: Backend) {
    let Some((app, receiver, client_id)) = setup(backend, Options::default()).await else { return };
    let template = create_template(&app, one_role_template()).await;
    wait_template_callback(&receiver, &template).await;
    let csv = "name, email_address, company_field\nGeorge, george@example.com, ABC Corp\n\"Mary, Jr.\",mary@example.com,\"The \"\"123\"\" LLC\"\n";
    let form = |csv: &str| {
        Form::new()
            .text("template_ids[0]", template.clone())
            .text("client_id", client_id.clone())
            .text("test_mode", "1")
            .part("signer_file", Part::bytes(csv.as_bytes().to_vec()).file_name("signers.csv"))
    };
    let response =
        post(&app, &app.api_key, "/v3/signature_request/bulk_create_embedded_with_template", form(csv)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let job = body["bulk_send_job"]["bulk_send_job_id"].as_str().unwrap().to_owned();
    let got = job_requests(&app, &job, 2).await;
    let requests = got["signature_requests"].as_array().unwrap();
    assert_eq!(requests[1]["signatures"][0]["signer_name"], "Mary, Jr.");
    assert_eq!(requests[1]["signatures"][0]["signer_role"], "Client");
    let company = requests[1]["custom_fields"].as_array().unwrap().iter().find(|f| f["name"] == "company").unwrap();
    assert_eq!(company["value"], "The \"123\" LLC");
    assert!(requests.iter().all(|r| r["signing_url"].is_null()), "embedded requests are signed in the app");

    // Broken quoting and 10,001 rows are refused whole.
    let broken = "name,email_address\n\"Ann,ann@example.com\n";
    let path = "/v3/signature_request/bulk_create_embedded_with_template";
    let error = expect_error(post(&app, &app.api_key, path, form(broken)).await, 400, "bad_request").await;
    assert_eq!(error["error_path"], "signer_file");
    assert!(error["error_msg"].as_str().unwrap().contains("line 2"), "{error}");
    let mut big = String::from("name,email_address\n");
    for i in 0..10_001 {
        big.push_str(&format!("Signer {i},s{i}@example.com\n"));
    }
    let error = expect_error(post(&app, &app.api_key, path, form(&big)).await, 400, "bad_request").await;
    assert!(error["error_msg"].as_str().unwrap().contains("at most 10000"), "{error}");
    // Without client_id, the embedded bulk send is refused.
    let no_app = Form::new()
        .text("template_ids[0]", template.clone())
        .part("signer_file", Part::bytes(csv.as_bytes().to_vec()).file_name("signers.csv"));
    expect_error(post(&app, &app.api_key, path, no_app).await, 400, "bad_request").await;
    let listed: Value = app.get("/v3/bulk_send_job/list").await.json().await.unwrap();
    assert_eq!(listed["list_info"]["num_results"], 1, "only the good file made a job");
    app.stop().await;
}
both_backends!(a_csv_signer_file_fills_the_one_role_on, a_csv_signer_file_fills_the_one_role);

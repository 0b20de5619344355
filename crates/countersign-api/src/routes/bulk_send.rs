//! Bulk send with templates: `POST /v3/signature_request/bulk_send_with_template` and
//! `bulk_create_embedded_with_template` (a signer list as `signer_list` JSON or a `signer_file` CSV),
//! `GET /v3/bulk_send_job/{id}` and `/v3/bulk_send_job/list`.
//!
//! The call reads the list (broken CSV, more than 10,000 rows: `400`, nothing written), loads the
//! templates (another account's: `404`) and checks every row by the rules of `send_with_template` on the
//! blocking pool; when no row passes, the first row's error is the answer and nothing is written.
//! Otherwise the job and its rows are stored at once and the worker makes the requests (rows that
//! break the rules keep their error, listed as warnings by `GET bulk_send_job/{id}`).

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use countersign_domain::bulk::{BulkRow, BulkSpec, parse_signer_file, parse_signer_list};
use countersign_domain::new_request::{FileInput, Requester};
use countersign_domain::template::{Template, signer_roles_of};
use countersign_domain::time::unix_now;
use countersign_store::bulk_send::BulkSendJobRow;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::params::{Flag, List, Object, Params, Text, ignored_warnings};
use crate::routes::download::{ListParams, list_info};
use crate::routes::signature_request::{CcParams, load_templates, own_client};
use crate::state::AppState;
use crate::warnings::{Reply, Warning};

#[derive(Deserialize, Default)]
#[serde(default)]
struct BulkParams {
    template_ids: List<String>,
    signer_list: List<Value>,
    ccs: List<CcParams>,
    custom_fields: List<Value>,
    title: Text,
    subject: Text,
    message: Text,
    metadata: Object<Map<String, Value>>,
    test_mode: Flag,
    allow_decline: Flag,
    signing_redirect_url: Text,
    client_id: Text,
    /// Uploaded as a file part; read from the files.
    #[serde(default, rename = "signer_file")]
    _signer_file: Option<Value>,
    /// Sent `false` by the official SDKs; `true` asks for what this server does not make (refused).
    is_qualified_signature: Flag,
    is_eid: Flag,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// The templates' one signer role, which every row of a CSV signer file takes.
fn single_role(templates: &[(Template, Vec<FileInput>)]) -> ApiResult<String> {
    let (roles, _) = signer_roles_of(templates.iter().map(|(t, _)| t));
    match roles.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(ApiError::bad_param(
            "signer_file",
            format!(
                "A signer_file fills one signer role, and these templates have {}; use signer_list with a role for each signer",
                roles.len()
            ),
        )),
    }
}

async fn bulk(state: AppState, account: Caller, params: Params, embedded: bool) -> ApiResult<Reply> {
    let p: BulkParams = params.parse()?;
    crate::routes::signature_request::refuse_unsupported_signatures(&p.is_qualified_signature, &p.is_eid)?;
    let mut warnings = ignored_warnings(p.other.keys());
    let client_id = own_client(&state, &account, p.client_id.as_deref()).await?;
    if embedded && client_id.is_none() {
        return Err(ApiError::missing("client_id"));
    }
    let ids: Vec<String> = p.template_ids.0.unwrap_or_default();
    let templates = load_templates(&state, &account, ids, &mut warnings).await?;
    let file = params.files.iter().find(|f| f.field == "signer_file");
    let rows: Vec<BulkRow> = match (p.signer_list.0, file) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_param("signer_file", "Send signer_list or signer_file, not both"));
        }
        (Some(list), None) => parse_signer_list(&list)?,
        (None, Some(file)) => parse_signer_file(&file.bytes, &single_role(&templates)?)?,
        (None, None) => return Err(ApiError::missing("signer_list")),
    };
    let spec = BulkSpec {
        template_ids: templates.iter().map(|(t, _)| t.body.template_id.as_str().to_owned()).collect(),
        ccs: p.ccs.0.unwrap_or_default().into_iter().map(|c| (c.role.0, c.email_address.0)).collect(),
        custom_fields: p.custom_fields.0.unwrap_or_default(),
        title: p.title.0,
        subject: p.subject.0,
        message: p.message.0,
        metadata: p.metadata.0,
        test_mode: p.test_mode.0,
        allow_decline: p.allow_decline.0,
        signing_redirect_url: p.signing_redirect_url.0,
        client_id: client_id.as_ref().map(|c| c.as_str().to_owned()),
        embedded,
    };
    // Every row checked now, off the async threads: (rows that pass, the first failure).
    let (spec, rows, passed, first_failure) = {
        let public_url = state.config.public_url.clone();
        let limits = state.config.document_limits;
        let (account_id, email) = (account.id.clone(), account.email.clone());
        tokio::task::spawn_blocking(move || {
            let with_files: Vec<(&Template, Vec<FileInput>)> = templates.iter().map(|(t, f)| (t, f.clone())).collect();
            let by = Requester {
                account_id: &account_id,
                email: &email,
                client_id,
                embedded,
                public_url: &public_url,
                limits,
                now: unix_now(),
            };
            let (mut passed, mut first_failure) = (0usize, None);
            for (i, row) in rows.iter().enumerate() {
                match spec.request_for(&with_files, row, &by, "") {
                    Ok(_) => passed += 1,
                    Err(e) if first_failure.is_none() => first_failure = Some((i, e)),
                    Err(_) => {}
                }
            }
            (spec, rows, passed, first_failure)
        })
        .await
        .map_err(|e| ApiError::unknown(format!("checking the signer list: {e}")))?
    };
    if passed == 0 {
        let (i, e) = first_failure.expect("a list has rows, and none passed");
        let mut error = ApiError::from(e);
        error.message = format!("Row {i} of the signer list: {}", error.message);
        return Err(error);
    }
    if let Some((i, e)) = first_failure {
        warnings.push(Warning::new(
            "bulk_send_rows_invalid",
            format!(
                "{} of {} rows will not be sent; the first is row {i}: {}. GET bulk_send_job/{{id}} lists each.",
                rows.len() - passed,
                rows.len(),
                e.message
            ),
        ));
    }
    let id = countersign_domain::ids::random_hex(20);
    let created_at = unix_now();
    state.store.create_bulk_send_job(&id, &account.id, created_at, &spec, &rows).await?;
    let job = BulkSendJobRow { id, created_at, total: rows.len() as i64 };
    Ok(Reply::ok(json!({"bulk_send_job": job_json(&job)})).with_warnings(warnings))
}

/// `POST /v3/signature_request/bulk_send_with_template`.
pub async fn bulk_send_with_template(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    params: Params,
) -> ApiResult<Reply> {
    bulk(state, account, params, false).await
}

/// `POST /v3/signature_request/bulk_create_embedded_with_template`.
pub async fn bulk_create_embedded_with_template(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    params: Params,
) -> ApiResult<Reply> {
    bulk(state, account, params, true).await
}

/// A job as `BulkSendJobResponse` (only the caller's own jobs are shown, so `is_creator` holds).
fn job_json(job: &BulkSendJobRow) -> Value {
    json!({"bulk_send_job_id": job.id, "total": job.total, "is_creator": true, "created_at": job.created_at})
}

/// `GET /v3/bulk_send_job/{id}`: the job, a page of the requests it made so far (in row order), and a
/// `bulk_send_row_failed` warning for each row that could not be sent (the first 100).
pub async fn get(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<Reply> {
    let p: ListParams = Params::from_query(query.as_deref())?.parse()?;
    let (page, page_size) = p.paging(&account.id, "bulk send jobs")?;
    let job = state.store.bulk_send_job(&account.id, id.trim()).await?.ok_or_else(ApiError::not_found)?;
    let (bodies, total, failed) = state.store.bulk_send_results(&job.id, page, page_size).await?;
    let requests: Vec<Value> = bodies.iter().filter_map(|b| serde_json::from_str(b).ok()).collect();
    let mut warnings = ignored_warnings(p.other.keys());
    warnings
        .extend(failed.into_iter().map(|(row, why)| Warning::new("bulk_send_row_failed", format!("Row {row}: {why}"))));
    Ok(Reply::ok(json!({
        "bulk_send_job": job_json(&job),
        "list_info": list_info(total, page, page_size),
        "signature_requests": requests,
    }))
    .with_warnings(warnings))
}

/// `GET /v3/bulk_send_job/list`: the caller's jobs, newest first.
pub async fn list(
    State(state): State<AppState>,
    Extension(account): Extension<Caller>,
    RawQuery(query): RawQuery,
) -> ApiResult<Reply> {
    let p: ListParams = Params::from_query(query.as_deref())?.parse()?;
    let (page, page_size) = p.paging(&account.id, "bulk send jobs")?;
    let (jobs, total) = state.store.bulk_send_jobs(&account.id, page, page_size).await?;
    Ok(Reply::ok(json!({
        "bulk_send_jobs": jobs.iter().map(job_json).collect::<Vec<_>>(),
        "list_info": list_info(total, page, page_size),
    }))
    .with_warnings(ignored_warnings(p.other.keys())))
}

//! `bulk_send`: a bulk send job's rows become signature requests, a batch per transaction. Each row is
//! made by the rules of `send_with_template` (`BulkSpec::request_for`); a row that breaks them keeps
//! its error and the others go on. Each request is then processed like any other (its own
//! `process_documents` job, `signature_request_sent`). A job taken over after a crash resumes at its
//! first row without a result.

use countersign_domain::ids::TemplateId;
use countersign_domain::new_request::{FileInput, Requester};
use countersign_domain::template::Template;
use countersign_store::bulk_send::RowOutcome;
use countersign_store::jobs::ClaimedJob;

use crate::{Inner, Transient};

/// Rows made into requests per transaction.
const BATCH: i64 = 200;

pub(crate) async fn run(inner: &Inner, job: &ClaimedJob) -> Result<(), Transient> {
    let store = &inner.store;
    let finish = || async { store.finish_job(&job.id).await.map_err(Transient::from) };
    let Some(bulk_id) = job.bulk_send_job_id.as_deref() else { return finish().await };
    let Some((account_id, spec)) = store.bulk_send_spec(bulk_id).await? else { return finish().await };
    let Some(account) = store.account_by_id(&account_id).await? else { return finish().await };
    // The templates as they are now: one deleted or unshared since the call fails every row left.
    let mut templates: Vec<(Template, Vec<FileInput>)> = Vec::new();
    let mut unusable = None;
    for raw in &spec.template_ids {
        let found = match TemplateId::parse(raw) {
            Some(id) => store.template(&id).await?.filter(|t| t.usable_by(&account.id).is_ok()).map(|t| (id, t)),
            None => None,
        };
        match found {
            Some((id, template)) => templates.push((template, store.template_inputs(&id).await?)),
            None => unusable = Some(format!("Template {raw} is no longer available to this account")),
        }
    }
    let with_files: Vec<(&Template, Vec<FileInput>)> = templates.iter().map(|(t, f)| (t, f.clone())).collect();
    let public_url = inner.config.mailing.as_ref().map_or("", |m| m.public_url.as_str());
    let client_id = spec.client_id.as_deref().and_then(countersign_domain::ids::ClientId::parse);
    let (mut made, mut failed) = (0usize, 0usize);
    loop {
        let rows = store.bulk_send_pending_rows(bulk_id, BATCH).await?;
        if rows.is_empty() {
            break;
        }
        let requester = Requester {
            account_id: &account.id,
            email: &account.email,
            client_id: client_id.clone(),
            embedded: spec.embedded,
            public_url,
            limits: inner.config.limits,
            now: countersign_domain::time::unix_now(),
        };
        let outcomes: Vec<(i64, RowOutcome)> = rows
            .into_iter()
            .map(|(index, row)| {
                let outcome = match &unusable {
                    Some(why) => RowOutcome::Failed(why.clone()),
                    None => match spec.request_for(&with_files, &row, &requester, bulk_id) {
                        Ok((new, _)) => RowOutcome::Request(Box::new(new)),
                        Err(e) => RowOutcome::Failed(format!("{} ({})", e.message, e.path)),
                    },
                };
                (index, outcome)
            })
            .collect();
        failed += outcomes.iter().filter(|(_, o)| matches!(o, RowOutcome::Failed(_))).count();
        made += store.commit_bulk_send_rows(bulk_id, outcomes).await?;
        tracing::info!(bulk_send_job_id = bulk_id, requests = made, failed_rows = failed, "bulk send progress");
    }
    metrics::counter!("countersign_bulk_send_requests_total").increment(made as u64);
    tracing::info!(bulk_send_job_id = bulk_id, requests = made, failed_rows = failed, "bulk send job done");
    finish().await
}

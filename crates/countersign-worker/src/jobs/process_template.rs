//! `process_template`: read a template's documents (fetching `file_urls` through the SSRF guard) the
//! way a request's are read, place its fields for its signer roles (form fields and text tags), and
//! commit `template_created` — or `template_error` with the reason — with the outcome.

use countersign_domain::signature_request::FieldSpec;
use countersign_domain::template::{declared_merge_fields, settle_merge_fields};
use countersign_store::jobs::ClaimedJob;
use countersign_store::templates::TemplateOutcome;

use crate::fields::{AnalysedDocument, place_fields};
use crate::jobs::process_documents::{Owner, SourceDocument, read_documents};
use crate::{Inner, Transient};

pub(crate) async fn run(inner: &Inner, job: &ClaimedJob) -> Result<(), Transient> {
    let store = &inner.store;
    let Some(id) = job.template_id.as_ref() else {
        return store.finish_job(&job.id).await.map_err(Transient::from);
    };
    let Some(template) = store.template(id).await? else {
        return store.finish_job(&job.id).await.map_err(Transient::from);
    };
    let sources = store.template_documents(id).await?.into_iter().map(SourceDocument::from).collect();
    let outcome = match read_documents(inner, sources, Owner::Template(id)).await? {
        Err(why) => TemplateOutcome::Failed(why),
        // A template/update_files copy keeps the fields of the template it overlays.
        Ok((analysed, _)) if template.options.overlay.is_some() => {
            let overlay = template.options.overlay.as_ref().expect("checked above");
            let pages = page_sizes(&analysed);
            let sizes: Vec<Vec<[f64; 2]>> = pages.iter().map(|(_, p)| p.clone()).collect();
            match overlay.fits(&sizes) {
                Ok(()) => TemplateOutcome::Ready {
                    fields: overlay.fields.iter().map(|f| kept_on_page(f, &sizes)).collect(),
                    merge_fields: template.body.merge_fields.clone(),
                    pages,
                },
                Err(why) => TemplateOutcome::Failed(why),
            }
        }
        Ok((analysed, _)) => {
            let roles = template.body.signer_roles.len();
            let options = template.options.processing();
            match place_fields(&analysed, roles, &options, inner.config.limits.max_fields) {
                Err(failure) => TemplateOutcome::Failed(failure.message().to_owned()),
                // An embedded draft gets its fields in the editor; any its tags placed are kept.
                Ok(placed) if template.body.is_embedded => {
                    let fields = if placed.appended_signature_page { Vec::new() } else { placed.fields };
                    match declared_merge_fields(&template.body, &fields) {
                        Ok(merge_fields) => {
                            TemplateOutcome::Ready { fields, merge_fields, pages: page_sizes(&analysed) }
                        }
                        Err(why) => TemplateOutcome::Failed(why),
                    }
                }
                // A template without fields would be sent with none to sign.
                Ok(placed) if placed.appended_signature_page => TemplateOutcome::Failed(
                    "The template has no fields: place them with form_fields_per_document or text tags".into(),
                ),
                Ok(placed) => match settle_merge_fields(&template.body, &placed.fields) {
                    Ok(merge_fields) => {
                        TemplateOutcome::Ready { fields: placed.fields, merge_fields, pages: page_sizes(&analysed) }
                    }
                    Err(why) => TemplateOutcome::Failed(why),
                },
            }
        }
    };
    let outcome_name = match &outcome {
        TemplateOutcome::Ready { .. } => "template_created",
        TemplateOutcome::Failed(_) => "template_error",
    };
    if let TemplateOutcome::Failed(why) = &outcome {
        tracing::info!(template_id = %id, reason = %why, "template could not be processed");
    }
    if store.settle_template(id, &job.id, outcome).await? {
        metrics::counter!("countersign_templates_processed_total", "outcome" => outcome_name).increment(1);
    }
    Ok(())
}

/// A field of an overlaid template on its new page, moved (and shrunk) inside it when the new page is
/// smaller.
fn kept_on_page(field: &FieldSpec, sizes: &[Vec<[f64; 2]>]) -> FieldSpec {
    let mut field = field.clone();
    let page = usize::try_from(field.document_index)
        .ok()
        .and_then(|d| sizes.get(d))
        .and_then(|pages| pages.get(usize::try_from(field.page - 1).ok()?));
    if let Some([w, h]) = page {
        field.width = field.width.min(*w);
        field.height = field.height.min(*h);
        field.x = field.x.min(w - field.width).max(0.0);
        field.y = field.y.min(h - field.height).max(0.0);
    }
    field
}

/// Each document's page sizes, as stored.
fn page_sizes(analysed: &[AnalysedDocument]) -> Vec<(i64, Vec<[f64; 2]>)> {
    analysed.iter().enumerate().map(|(i, d)| (i as i64, d.pages.iter().map(|(w, h)| [*w, *h]).collect())).collect()
}

/// Records `template_error` after the job gave up on passing failures.
pub(crate) async fn commit_failure(inner: &Inner, job: &ClaimedJob) -> Result<(), Transient> {
    let Some(id) = job.template_id.as_ref() else {
        return inner.store.finish_job(&job.id).await.map_err(Transient::from);
    };
    let outcome = TemplateOutcome::Failed("An unexpected error occurred while processing the template.".into());
    inner.store.settle_template(id, &job.id, outcome).await?;
    Ok(())
}

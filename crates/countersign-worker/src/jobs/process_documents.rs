//! `process_documents`: fetch `file_urls` (through the SSRF guard, with the upload size limit), read
//! every PDF (pages, positioned text, text tags) on the blocking pool with page and time limits, place
//! the fields, and commit the outcome through the state machine (`processed` or `failed`).

use countersign_domain::lifecycle::SignatureRequest;
use countersign_domain::signature_request::{ProcessingFailure, RequestStatus};
use countersign_domain::signer_mail::mailed;
use countersign_domain::time::unix_now;
use countersign_guard::check_host_literal;
use countersign_pdf::DocumentFormat;
use countersign_store::jobs::ClaimedJob;
use countersign_store::signature_requests::{ChangeError, DocumentRow};

use countersign_domain::signature_request::FieldSpec;

use crate::fields::{AnalysedDocument, Placed, place_fields};
use crate::office::OfficeError;
use crate::{Inner, Transient};

/// The address rule for a `file_urls` URL or a redirect target: http(s), and a public address unless
/// private ones are allowed (`http://` to a public host is fine for documents).
pub(crate) fn check_redirect(url: &url::Url, allow_private: bool) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("blocked: scheme {} is not allowed", url.scheme()));
    }
    check_host_literal(url, allow_private)
}

/// Fetches one `file_urls` entry: http(s) only, public addresses only (unless allowed), at most the
/// upload limit (read in chunks, so a huge or endless body is cut off, not buffered).
async fn fetch(inner: &Inner, url: &str) -> Result<Result<Vec<u8>, String>, Transient> {
    let parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(_) => return Ok(Err(format!("{url} is not a URL"))),
    };
    if let Err(why) = check_redirect(&parsed, inner.config.allow_private_urls) {
        return Ok(Err(format!("the file at {url} cannot be fetched: {why}")));
    }
    let max = inner.config.limits.max_file_bytes;
    let mut response = match inner.client.get(parsed).send().await {
        Ok(r) => r,
        Err(e) if e.is_redirect() => return Ok(Err(format!("the file at {url} could not be fetched: {e}"))),
        Err(e) if e.is_connect() && format!("{e:?}").contains("blocked") => {
            return Ok(Err(format!("the file at {url} cannot be fetched: it resolves only to non-public addresses")));
        }
        Err(e) if e.is_connect() || e.is_timeout() => return Err(Transient(format!("fetching {url}: {e}"))),
        Err(e) => return Ok(Err(format!("the file at {url} could not be fetched: {e}"))),
    };
    let status = response.status();
    if status.is_server_error() {
        return Err(Transient(format!("fetching {url}: HTTP {status}")));
    }
    if !status.is_success() {
        return Ok(Err(format!("the file at {url} could not be fetched: HTTP {status}")));
    }
    if response.content_length().is_some_and(|n| n as usize > max) {
        return Ok(Err(format!("the file at {url} is larger than the limit of {max} bytes")));
    }
    let mut bytes = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if bytes.len() + chunk.len() > max {
                    return Ok(Err(format!("the file at {url} is larger than the limit of {max} bytes")));
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(Transient(format!("reading {url}: {e}"))),
        }
    }
    if bytes.is_empty() {
        return Ok(Err(format!("the file at {url} is empty")));
    }
    Ok(Ok(bytes))
}

/// Processes a request's documents and commits the outcome.
pub(crate) async fn run(inner: &Inner, job: &ClaimedJob) -> Result<(), Transient> {
    let store = &inner.store;
    let Some(id) = job.signature_request_id.as_ref() else {
        return inner.store.finish_job(&job.id).await.map_err(Transient::from);
    };
    let Some(request) = store.signature_request_state(id).await? else {
        return store.finish_job(&job.id).await.map_err(Transient::from);
    };
    if request.status != RequestStatus::Processing {
        // Canceled meanwhile, or a repeated run after the outcome committed.
        return store.finish_job(&job.id).await.map_err(Transient::from);
    }
    let limits = inner.config.limits;
    let sources = store.documents_of(id).await?.into_iter().map(SourceDocument::from).collect();
    let (analysed, last_document) = match read_documents(inner, sources, Owner::Request(id)).await? {
        Ok(read) => read,
        Err(why) => return commit_failure(inner, job, &ProcessingFailure::File(why)).await,
    };
    let total_pages: usize = analysed.iter().map(|d| d.pages.len()).sum();
    let mut last_document = last_document;
    let placed = match &request.options.template_fields {
        // Sent from templates: the fields were placed when the templates were made; the documents are
        // the templates' own, read again here only for their pages.
        // Files appended when sending have their text tags read.
        Some(fields) => {
            let from_templates = request.options.template_documents.unwrap_or(analysed.len()).min(analysed.len());
            let placed = template_fields_fit(fields, &analysed[..from_templates]).and_then(|()| {
                let appended = crate::fields::appended_fields(
                    &analysed,
                    from_templates,
                    request.body.signatures.len(),
                    &request.options.custom_fields,
                )?;
                crate::fields::check_field_count(fields.len() + appended.len(), limits.max_fields)?;
                Ok(fields.iter().cloned().chain(appended).collect())
            });
            match placed {
                Ok(fields) => Placed { fields, appended_signature_page: false },
                Err(failure) => return commit_failure(inner, job, &failure).await,
            }
        }
        None => match place_fields(&analysed, request.body.signatures.len(), &request.options, limits.max_fields) {
            Ok(placed) => placed,
            Err(failure) => return commit_failure(inner, job, &failure).await,
        },
    };
    let mut pages: Vec<(i64, Vec<[f64; 2]>)> =
        analysed.iter().enumerate().map(|(i, d)| (i as i64, d.pages.iter().map(|(w, h)| [*w, *h]).collect())).collect();
    // Without tags or form fields, the signature page is appended to the last document, as on Dropbox
    // Sign: the files endpoints then show it, and the fields on it point at real pages.
    let mut replace_document = None;
    if placed.appended_signature_page {
        let (last, bytes) = last_document.take().ok_or_else(|| Transient("a request without documents".into()))?;
        let (last_index, last_name) = (last.index, last.name);
        let signers: Vec<(String, String)> =
            request.body.signatures.iter().map(|s| (s.signer_name.clone(), s.signer_email_address.clone())).collect();
        let appended =
            tokio::task::spawn_blocking(move || countersign_pdf::append_signature_pages(&bytes, &signers)).await;
        match appended {
            Ok(Ok(with_page)) => {
                let added = signers_pages(request.body.signatures.len());
                if let Some((_, sizes)) = pages.last_mut() {
                    let (w, h) = countersign_pdf::SIGNATURE_PAGE_SIZE;
                    sizes.extend(std::iter::repeat_n([w, h], added));
                }
                replace_document = Some((last_index, store.put_blob(&with_page).await?));
            }
            Ok(Err(e)) => {
                let message = format!("Unreadable file (document {last_index}, {last_name}): {e}");
                return commit_failure(inner, job, &ProcessingFailure::File(message)).await;
            }
            Err(join) => return Err(Transient(format!("appending the signature page panicked: {join}"))),
        }
    }
    let field_count = placed.fields.len();
    let job_id = job.id.clone();
    let mailing = inner.config.mailing.clone();
    let outcome = store
        .change_signature_request(id, move |r| {
            let processed = |r: &mut SignatureRequest| {
                r.processed(placed.fields, pages, replace_document, placed.appended_signature_page, &job_id)
            };
            match &mailing {
                Some(mailing) => mailed(r, mailing, unix_now(), processed),
                None => processed(r),
            }
        })
        .await;
    match outcome {
        Ok(_) => {
            metrics::counter!("countersign_documents_processed_total", "outcome" => "signature_request_sent")
                .increment(1);
            tracing::info!(signature_request_id = %id, fields = field_count, pages = total_pages, "documents processed; signature_request_sent");
            Ok(())
        }
        Err(ChangeError::Refused(_)) | Err(ChangeError::NotFound) => {
            store.finish_job(&job.id).await.map_err(Transient::from)
        }
        Err(ChangeError::Store(e)) => Err(Transient(e.to_string())),
    }
}

/// A document to read: its stored bytes, or the URL they come from.
pub(crate) struct SourceDocument {
    pub index: i64,
    pub name: String,
    pub blob_sha256: Option<String>,
    pub file_url: Option<String>,
}

impl From<DocumentRow> for SourceDocument {
    fn from(d: DocumentRow) -> Self {
        Self { index: d.document_index, name: d.file_name, blob_sha256: d.blob_sha256, file_url: d.file_url }
    }
}

/// The last document read and its bytes (a signature page may be appended to it).
pub(crate) type LastDocument = Option<(SourceDocument, Vec<u8>)>;

/// Whose documents are read: a fetched one is kept with its owner.
#[derive(Clone, Copy)]
pub(crate) enum Owner<'a> {
    Request(&'a countersign_domain::ids::SignatureRequestId),
    Template(&'a countersign_domain::ids::TemplateId),
}

/// Reads documents in order — fetching `file_urls` (kept with their owner), then pages, positioned text and
/// text tags on the blocking pool, within the page, size and time limits — or says why a document
/// cannot be used (a message for `file_error` / `template_error`).
pub(crate) async fn read_documents(
    inner: &Inner,
    sources: Vec<SourceDocument>,
    owner: Owner<'_>,
) -> Result<Result<(Vec<AnalysedDocument>, LastDocument), String>, Transient> {
    let store = &inner.store;
    let limits = inner.config.limits;
    let mut analysed = Vec::new();
    let mut total_pages = 0usize;
    let mut last_document = None;
    for (i, doc) in sources.into_iter().enumerate() {
        let bytes = match (&doc.blob_sha256, &doc.file_url) {
            (Some(sha), _) => store.blob(sha).await?.ok_or_else(|| Transient("a document blob is missing".into()))?,
            (None, Some(url)) => match fetch(inner, url).await? {
                Ok(bytes) => {
                    match owner {
                        Owner::Request(id) => drop(store.store_fetched_document(id, doc.index, &bytes).await?),
                        Owner::Template(id) => store.store_fetched_template_document(id, doc.index, &bytes).await?,
                    }
                    bytes
                }
                Err(why) => return Ok(Err(capitalize(&why))),
            },
            (None, None) => return Err(Transient("a document has neither bytes nor a URL".into())),
        };
        // Images become a page here; office and text documents go through LibreOffice when it is configured.
        let format = countersign_pdf::DocumentFormat::of_file(&bytes, &doc.name);
        let bytes = if matches!(format, DocumentFormat::Png | DocumentFormat::Jpeg) || format.needs_office() {
            let pdf = match convert(inner, bytes, format).await? {
                Ok(pdf) => pdf,
                Err(why) => return Ok(Err(format!("{why} (document {i}, {})", doc.name))),
            };
            let what = format.describe();
            match owner {
                Owner::Request(id) => {
                    store.store_converted_document(id, doc.index, &pdf).await?;
                    tracing::info!(signature_request_id = %id, document = doc.index, format = what, "document made into a PDF");
                }
                Owner::Template(id) => {
                    store.store_fetched_template_document(id, doc.index, &pdf).await?;
                    tracing::info!(template_id = %id, document = doc.index, format = what, "document made into a PDF");
                }
            }
            pdf
        } else {
            bytes
        };
        let pdf_limits = countersign_pdf::Limits {
            max_pages: limits.max_pages,
            max_bytes: limits.max_file_bytes,
            timeout: inner.config.document_timeout,
        };
        let result = tokio::task::spawn_blocking(move || (countersign_pdf::analyze(&bytes, &pdf_limits), bytes)).await;
        let (analysis, bytes) = match result {
            Ok((Ok(analysis), bytes)) => (analysis, bytes),
            Ok((Err(e), _)) => return Ok(Err(format!("{} (document {}, {}): {e}", file_problem(&e), i, doc.name))),
            Err(join) => return Err(Transient(format!("reading document {i} panicked: {join}"))),
        };
        total_pages += analysis.pages.len();
        if total_pages > limits.max_pages {
            return Ok(Err(format!(
                "The documents have {total_pages} pages or more in all; the limit is {}",
                limits.max_pages
            )));
        }
        analysed.push(AnalysedDocument {
            name: doc.name.clone(),
            pages: analysis.pages.iter().map(|p| (p.width, p.height)).collect(),
            tags: analysis.tags,
        });
        last_document = Some((doc, bytes));
    }
    Ok(Ok((analysed, last_document)))
}

/// A PDF of an image or an office document, or why there is none (the start of a `file_error`).
async fn convert(inner: &Inner, bytes: Vec<u8>, format: DocumentFormat) -> Result<Result<Vec<u8>, String>, Transient> {
    if matches!(format, DocumentFormat::Png | DocumentFormat::Jpeg) {
        return match tokio::task::spawn_blocking(move || countersign_pdf::image_to_pdf(&bytes)).await {
            Ok(Ok(pdf)) => Ok(Ok(pdf)),
            Ok(Err(e)) => Ok(Err(format!("Unreadable image: {e}"))),
            Err(join) => Err(Transient(format!("converting an image panicked: {join}"))),
        };
    }
    let Some(office) = &inner.config.office else {
        return Ok(Err(format!(
            "Unsupported file format: it is {}; this server has no office converter (LibreOffice) to make it a PDF — send a PDF",
            format.describe()
        )));
    };
    let started = std::time::Instant::now();
    let converted = office.convert(&bytes, format, inner.config.limits.max_file_bytes).await;
    metrics::histogram!("countersign_office_conversion_seconds").record(started.elapsed().as_secs_f64());
    match converted {
        Ok(pdf) => Ok(Ok(pdf)),
        Err(OfficeError::Io(e)) => Err(Transient(e)),
        Err(OfficeError::TimedOut(limit)) => Ok(Err(format!(
            "File too complex: converting {} took longer than {} s",
            format.describe(),
            limit.as_secs()
        ))),
        Err(e @ OfficeError::Unavailable(_)) => {
            tracing::warn!(error = %e, "the office converter could not be started");
            Ok(Err(format!("Unsupported file format: it is {}; {e}", format.describe())))
        }
        Err(e) => Ok(Err(format!("Unreadable file: {} could not be converted: {e}", format.describe()))),
    }
}

/// A template's fields still land on the pages of the documents they were placed on.
fn template_fields_fit(fields: &[FieldSpec], docs: &[AnalysedDocument]) -> Result<(), ProcessingFailure> {
    for field in fields {
        let pages = usize::try_from(field.document_index).ok().and_then(|i| docs.get(i)).map_or(0, |d| d.pages.len());
        if field.page < 1 || field.page as usize > pages {
            return Err(ProcessingFailure::ComponentPosition(format!(
                "The template field {:?} is on page {} of document {}, which has {pages} page{}",
                field.api_id,
                field.page,
                field.document_index,
                if pages == 1 { "" } else { "s" }
            )));
        }
    }
    Ok(())
}

/// Signature pages appended for `signers` signers.
fn signers_pages(signers: usize) -> usize {
    signers.div_ceil(countersign_pdf::SLOTS_PER_PAGE).max(1)
}

pub(crate) fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

fn file_problem(e: &countersign_pdf::PdfError) -> &'static str {
    use countersign_pdf::PdfError;
    match e {
        PdfError::NotPdf => "Unsupported file format",
        PdfError::PasswordProtected => "Password-protected file",
        PdfError::TooManyPages { .. } | PdfError::TooLarge { .. } => "File over the limits",
        PdfError::TimedOut => "File too complex",
        _ => "Unreadable file",
    }
}

/// Commits a processing failure: status `error`, `has_error`, every signature's `status_code`, and the
/// failure's event with its message — in one transaction.
pub(crate) async fn commit_failure(
    inner: &Inner,
    job: &ClaimedJob,
    failure: &ProcessingFailure,
) -> Result<(), Transient> {
    let Some(id) = job.signature_request_id.as_ref() else {
        return inner.store.finish_job(&job.id).await.map_err(Transient::from);
    };
    let job_id = job.id.clone();
    let outcome = inner.store.change_signature_request(id, |r| r.failed(failure, &job_id)).await;
    match outcome {
        Ok(_) => {
            metrics::counter!("countersign_documents_processed_total", "outcome" => failure.event_type().as_str())
                .increment(1);
            tracing::info!(signature_request_id = %id, event_type = %failure.event_type(), message = failure.message(), "documents could not be processed");
            Ok(())
        }
        Err(ChangeError::Refused(_)) | Err(ChangeError::NotFound) => {
            inner.store.finish_job(&job.id).await.map_err(Transient::from)
        }
        Err(ChangeError::Store(e)) => Err(Transient(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_and_redirects_must_stay_public() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        assert!(check_redirect(&url("http://example.com/a.pdf"), false).is_ok());
        assert!(check_redirect(&url("https://example.com/a.pdf"), false).is_ok());
        assert!(check_redirect(&url("http://127.0.0.1/a.pdf"), false).is_err());
        assert!(check_redirect(&url("http://[::1]/a.pdf"), false).is_err());
        assert!(check_redirect(&url("http://169.254.169.254/latest/meta-data"), false).is_err());
        assert!(check_redirect(&url("file:///etc/passwd"), true).is_err());
        assert!(check_redirect(&url("http://127.0.0.1/a.pdf"), true).is_ok());
    }
}

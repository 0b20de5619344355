//! The document worker: claims due jobs with a lease and runs them.
//!
//! - `process_documents`: fetch `file_urls` (through the SSRF guard, with the upload size limit), read
//!   every PDF (pages, positioned text, text tags) on the blocking pool with page and time limits, place
//!   the fields, and commit fields + status + `signature_request_sent` — or the failure's status and its
//!   event (`file_error`, `signature_request_invalid`, `unknown_error`) — in one transaction.
//! - `expire`: when `expires_at` passes with signatures outstanding, they become `expired` and
//!   `signature_request_expired` fires.
//!
//! A job runs at least once: a node that dies mid-job loses its lease and another node runs the job
//! again; the commit only applies to a request still in the state the job expects, so a second run
//! changes nothing.
//!
//! Not for: HTTP routes or SQL.

pub mod fields;

use std::sync::Arc;
use std::time::Duration;

use countersign_domain::lifecycle::Refusal;
use countersign_domain::signature_request::{DocumentLimits, ProcessingFailure, RequestStatus};
use countersign_domain::time::{now_ms, unix_now};
use countersign_guard::{GuardedResolver, check_host_literal};
use countersign_store::Store;
use countersign_store::signature_requests::{ChangeError, ClaimedJob, JOB_EXPIRE, JOB_PROCESS};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::fields::{AnalysedDocument, place_fields};

/// The worker's settings.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub limits: DocumentLimits,
    /// Time budget for reading one document.
    pub document_timeout: Duration,
    /// Time budget for fetching one `file_urls` entry.
    pub fetch_timeout: Duration,
    /// Allow `file_urls` on private addresses (development and tests).
    pub allow_private_urls: bool,
    /// How long a claimed job is this node's before another may take it.
    pub lease: Duration,
    /// Jobs run at once on this node (documents are CPU-bound).
    pub concurrency: usize,
    /// Attempts before an unexpected failure becomes `unknown_error`.
    pub max_attempts: i64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            limits: DocumentLimits::default(),
            document_timeout: Duration::from_secs(60),
            fetch_timeout: Duration::from_secs(30),
            allow_private_urls: false,
            lease: Duration::from_secs(300),
            concurrency: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_attempts: 3,
        }
    }
}

/// A running worker.
pub struct DocumentWorker {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Why a job must run again later (as opposed to a processing failure, which is an outcome).
#[derive(Debug)]
struct Transient(String);

impl<E: std::fmt::Display> From<E> for Transient {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

struct Inner {
    store: Arc<Store>,
    config: WorkerConfig,
    client: reqwest::Client,
    node: String,
}

impl DocumentWorker {
    pub fn spawn(store: Arc<Store>, config: WorkerConfig) -> Result<Self, reqwest::Error> {
        // Redirects are followed (file hosts use them) but each hop is checked like the first URL: a
        // redirect to an IP literal would not pass through the guarded resolver.
        let allow_private = config.allow_private_urls;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if let Err(why) = check_redirect(attempt.url(), allow_private) {
                attempt.error(why)
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .redirect(redirects)
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow_private: config.allow_private_urls }))
            .timeout(config.fetch_timeout)
            .user_agent("Countersign document fetcher")
            .build()?;
        let node = format!("worker-{}", countersign_domain::ids::random_hex(6));
        let (shutdown, rx) = watch::channel(false);
        let inner = Arc::new(Inner { store, config, client, node });
        let task = tokio::spawn(run(inner, rx));
        Ok(Self { shutdown, task })
    }

    /// Stops claiming, lets jobs in hand finish, and releases the leases of any left.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

async fn run(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    match inner.store.release_stale_job_leases_at_start().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "released job leases left by a previous run"),
        Err(error) => tracing::warn!(%error, "releasing stale job leases failed"),
    }
    let permits = Arc::new(Semaphore::new(inner.config.concurrency.max(1)));
    let wakeup = inner.store.job_wakeup();
    let lease_ms = inner.config.lease.as_millis() as i64;
    let mut running = tokio::task::JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        let free = permits.available_permits();
        let claimed = if free > 0 {
            match inner.store.claim_jobs(&inner.node, lease_ms, free as i64).await {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::warn!(%error, "claiming document jobs failed");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let got = claimed.len();
        for job in claimed {
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let inner = inner.clone();
            running.spawn(async move {
                run_job(&inner, job).await;
                drop(permit);
            });
        }
        while running.try_join_next().is_some() {}
        if got > 0 && got == free {
            continue;
        }
        // Sleep until woken, a job falls due, a running job ends, or the poll interval passes.
        let wait = match inner.store.next_job_ms().await {
            Ok(Some(due)) => Duration::from_millis((due - now_ms()).clamp(0, 2000) as u64),
            _ => Duration::from_secs(2),
        };
        tokio::select! {
            _ = wakeup.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            Some(_) = running.join_next(), if !running.is_empty() => {}
            _ = shutdown.changed() => {}
        }
    }
    while running.join_next().await.is_some() {}
    if let Err(error) = inner.store.release_job_leases_of(&inner.node).await {
        tracing::warn!(%error, "releasing job leases at shutdown failed");
    }
}

async fn run_job(inner: &Inner, job: ClaimedJob) {
    let started = std::time::Instant::now();
    let result = match job.kind.as_str() {
        JOB_PROCESS => process(inner, &job).await,
        JOB_EXPIRE => expire(inner, &job).await,
        other => {
            tracing::error!(job_id = %job.id, kind = other, "unknown job kind; marking it done");
            inner.store.finish_job(&job.id).await.map_err(Transient::from)
        }
    };
    match result {
        Ok(()) => tracing::debug!(
            job_id = %job.id,
            kind = %job.kind,
            signature_request_id = %job.signature_request_id,
            ms = started.elapsed().as_millis() as u64,
            "job done"
        ),
        Err(Transient(error)) if job.attempts < inner.config.max_attempts => {
            let retry_at = now_ms() + 1000 * (1 << job.attempts.clamp(0, 10));
            tracing::warn!(job_id = %job.id, signature_request_id = %job.signature_request_id, attempts = job.attempts, %error, "job failed; will retry");
            if let Err(e) = inner.store.retry_job(&job.id, &error, retry_at).await {
                tracing::error!(job_id = %job.id, error = %e, "could not reschedule a failed job");
            }
        }
        Err(Transient(error)) => {
            tracing::error!(job_id = %job.id, signature_request_id = %job.signature_request_id, %error, "job failed for good");
            let failure =
                ProcessingFailure::Unknown("An unexpected error occurred while processing the request.".into());
            if job.kind == JOB_PROCESS {
                if let Err(e) = commit_failure(inner, &job, &failure).await {
                    tracing::error!(job_id = %job.id, error = ?e, "could not record unknown_error");
                }
            } else if let Err(e) = inner.store.finish_job(&job.id).await {
                tracing::error!(job_id = %job.id, error = %e, "could not finish a failed job");
            }
        }
    }
}

/// The address rule for a `file_urls` URL or a redirect target: http(s), and a public address unless
/// private ones are allowed (`http://` to a public host is fine for documents).
fn check_redirect(url: &url::Url, allow_private: bool) -> Result<(), String> {
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
async fn process(inner: &Inner, job: &ClaimedJob) -> Result<(), Transient> {
    let store = &inner.store;
    let id = &job.signature_request_id;
    let Some(request) = store.signature_request_state(id).await? else {
        return store.finish_job(&job.id).await.map_err(Transient::from);
    };
    if request.status != RequestStatus::Processing {
        // Canceled meanwhile, or a repeated run after the outcome committed.
        return store.finish_job(&job.id).await.map_err(Transient::from);
    }
    let limits = inner.config.limits;
    let mut analysed = Vec::new();
    let mut total_pages = 0usize;
    // The last document and its bytes: the signature page, if one is needed, is appended to it.
    let mut last_document = None;
    for (i, doc) in store.documents_of(id).await?.into_iter().enumerate() {
        let bytes = match (&doc.blob_sha256, &doc.file_url) {
            (Some(sha), _) => store.blob(sha).await?.ok_or_else(|| Transient("a document blob is missing".into()))?,
            (None, Some(url)) => match fetch(inner, url).await? {
                Ok(bytes) => {
                    store.store_fetched_document(id, doc.document_index, &bytes).await?;
                    bytes
                }
                Err(why) => return commit_failure(inner, job, &ProcessingFailure::File(capitalize(&why))).await,
            },
            (None, None) => return Err(Transient("a document has neither bytes nor a URL".into())),
        };
        let pdf_limits = countersign_pdf::Limits {
            max_pages: limits.max_pages,
            max_bytes: limits.max_file_bytes,
            timeout: inner.config.document_timeout,
        };
        let result = tokio::task::spawn_blocking(move || (countersign_pdf::analyze(&bytes, &pdf_limits), bytes)).await;
        let analysis = match result {
            Ok((Ok(analysis), bytes)) => {
                last_document = Some((doc.clone(), bytes));
                analysis
            }
            Ok((Err(e), _)) => {
                let message = format!("{} (document {}, {}): {e}", file_problem(&e), i, doc.file_name);
                return commit_failure(inner, job, &ProcessingFailure::File(message)).await;
            }
            Err(join) => return Err(Transient(format!("reading document {i} panicked: {join}"))),
        };
        total_pages += analysis.pages.len();
        if total_pages > limits.max_pages {
            let message =
                format!("The documents have {total_pages} pages or more in all; the limit is {}", limits.max_pages);
            return commit_failure(inner, job, &ProcessingFailure::File(message)).await;
        }
        analysed.push(AnalysedDocument {
            name: doc.file_name.clone(),
            pages: analysis.pages.iter().map(|p| (p.width, p.height)).collect(),
            tags: analysis.tags,
        });
    }
    let placed = match place_fields(&analysed, request.body.signatures.len(), &request.options, limits.max_fields) {
        Ok(placed) => placed,
        Err(failure) => return commit_failure(inner, job, &failure).await,
    };
    let mut pages: Vec<(i64, Vec<[f64; 2]>)> =
        analysed.iter().enumerate().map(|(i, d)| (i as i64, d.pages.iter().map(|(w, h)| [*w, *h]).collect())).collect();
    // Without tags or form fields, the signature page is appended to the last document, as on Dropbox
    // Sign: the files endpoints then show it, and the fields on it point at real pages.
    let mut replace_document = None;
    if placed.appended_signature_page {
        let (last, bytes) = last_document.take().ok_or_else(|| Transient("a request without documents".into()))?;
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
                replace_document = Some((last.document_index, store.put_blob(&with_page).await?));
            }
            Ok(Err(e)) => {
                let message = format!("Unreadable file (document {}, {}): {e}", last.document_index, last.file_name);
                return commit_failure(inner, job, &ProcessingFailure::File(message)).await;
            }
            Err(join) => return Err(Transient(format!("appending the signature page panicked: {join}"))),
        }
    }
    let field_count = placed.fields.len();
    let job_id = job.id.clone();
    let outcome = store
        .change_signature_request(id, move |r| {
            r.processed(placed.fields, pages, replace_document, placed.appended_signature_page, &job_id)
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

/// Signature pages appended for `signers` signers.
fn signers_pages(signers: usize) -> usize {
    signers.div_ceil(countersign_pdf::SLOTS_PER_PAGE).max(1)
}

fn capitalize(s: &str) -> String {
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
async fn commit_failure(inner: &Inner, job: &ClaimedJob, failure: &ProcessingFailure) -> Result<(), Transient> {
    let id = &job.signature_request_id;
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

/// Expires a request whose `expires_at` has passed with signatures outstanding.
async fn expire(inner: &Inner, job: &ClaimedJob) -> Result<(), Transient> {
    let id = &job.signature_request_id;
    let job_id = job.id.clone();
    let now = unix_now();
    let outcome = inner.store.change_signature_request(id, |r| r.expire(now, &job_id)).await;
    match outcome {
        Ok(_) => {
            tracing::info!(signature_request_id = %id, "signature request expired");
            Ok(())
        }
        Err(ChangeError::Refused(Refusal::NotYet(retry_at))) => {
            inner.store.retry_job(&job.id, "still processing", retry_at).await.map_err(Transient::from)
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

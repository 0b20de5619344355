//! The job runner: claims due jobs of every kind it serves with a lease, runs each with a concurrency
//! limit per kind, and retries what failed for a passing reason. The jobs, one file each under [`jobs`]:
//!
//! - `process_documents`: read the documents and place the fields; the request is sent, or fails with
//!   `file_error`, `signature_request_invalid` or (after repeated unexpected failures) `unknown_error`.
//! - `expire`: when `expires_at` passes with signatures outstanding, `signature_request_expired`.
//! - `send_email`: one stored e-mail over SMTP (served only when an SMTP server is configured).
//!
//! A job runs at least once: a node that dies mid-job loses its lease and another node runs the job
//! again; every outcome commits through the state machine, which refuses a second one, so a second run
//! changes nothing.
//!
//! Not for: HTTP routes or SQL.

pub mod fields;
pub mod jobs;
pub mod office;

pub use jobs::send_email::{MailConfig, MailError};

use std::sync::Arc;
use std::time::Duration;

use std::collections::HashMap;

use countersign_domain::lifecycle::JobKind;
use countersign_domain::signature_request::{DocumentLimits, ProcessingFailure};
use countersign_domain::time::now_ms;
use countersign_guard::GuardedResolver;
use countersign_store::Store;
use countersign_store::jobs::ClaimedJob;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use crate::jobs::send_email::Mailer;

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
    /// Document jobs run at once on this node (documents are CPU-bound).
    pub concurrency: usize,
    /// Attempts before an unexpected failure of a document or expiry job is given up
    /// (`unknown_error` for documents).
    pub max_attempts: i64,
    /// Attempts before an e-mail is given up (with growing pauses of up to an hour, about four days).
    pub max_email_attempts: i64,
    /// Links and the public URL for signers' e-mails (a sent request invites its first signers).
    pub mailing: Option<countersign_domain::signer_mail::Mailing>,
    /// Seals final copies; without it, `finalize` jobs wait (and are retried) until one is configured.
    pub sealer: Option<std::sync::Arc<countersign_seal::Sealer>>,
    /// Makes Word, OpenDocument, RTF and text documents into PDFs; without it they get a `file_error`
    /// naming their format.
    pub office: Option<office::OfficeConverter>,
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
            max_email_attempts: 100,
            mailing: None,
            sealer: None,
            office: None,
        }
    }
}

/// A running job runner.
pub struct JobRunner {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Why a job must run again later (as opposed to a processing failure, which is an outcome).
#[derive(Debug)]
pub(crate) struct Transient(pub(crate) String);

impl<E: std::fmt::Display> From<E> for Transient {
    fn from(e: E) -> Self {
        Self(e.to_string())
    }
}

pub(crate) struct Inner {
    pub(crate) store: Arc<Store>,
    pub(crate) config: WorkerConfig,
    /// The document fetcher (SSRF-guarded, every redirect hop checked).
    pub(crate) client: reqwest::Client,
    /// Present when an SMTP server is configured: only then are `send_email` jobs run.
    pub(crate) mailer: Option<Mailer>,
    node: String,
}

/// Why the runner could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("building the document fetcher: {0}")]
    Client(#[from] reqwest::Error),
    #[error(transparent)]
    Mail(#[from] MailError),
}

impl JobRunner {
    pub fn spawn(store: Arc<Store>, config: WorkerConfig, mail: Option<MailConfig>) -> Result<Self, StartError> {
        // Redirects are followed (file hosts use them) but each hop is checked like the first URL: a
        // redirect to an IP literal would not pass through the guarded resolver.
        let allow_private = config.allow_private_urls;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if let Err(why) = jobs::process_documents::check_redirect(attempt.url(), allow_private) {
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
        let mailer = mail.as_ref().map(Mailer::new).transpose()?;
        let node = format!("worker-{}", countersign_domain::ids::random_hex(6));
        let (shutdown, rx) = watch::channel(false);
        let inner = Arc::new(Inner { store, config, client, mailer, node });
        let task = tokio::spawn(run(inner, rx));
        Ok(Self { shutdown, task })
    }

    /// Stops claiming, lets jobs in hand finish, and releases the leases of any left.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

impl Inner {
    /// The kinds this node runs, with how many of each at once.
    fn served(&self) -> Vec<(JobKind, usize)> {
        let mut kinds = vec![
            (JobKind::ProcessDocuments, self.config.concurrency.max(1)),
            (JobKind::Expire, 4),
            (JobKind::Finalize, self.config.concurrency.max(1)),
            (JobKind::ProcessTemplate, self.config.concurrency.max(1)),
            (JobKind::BulkSend, 1),
        ];
        if self.mailer.is_some() {
            kinds.push((JobKind::SendEmail, 4));
        }
        kinds
    }

    /// When a job that failed for a passing reason runs again, or `None` to give it up.
    fn retry_after(&self, job: &ClaimedJob) -> Option<Duration> {
        match job.kind {
            // A bulk job given up would leave rows without a result: it is retried as long as an e-mail.
            JobKind::SendEmail | JobKind::BulkSend => (job.attempts < self.config.max_email_attempts).then(|| {
                Duration::from_secs(30)
                    .saturating_mul(1 << job.attempts.clamp(0, 7) as u32)
                    .min(Duration::from_secs(3600))
            }),
            JobKind::ProcessDocuments | JobKind::Expire | JobKind::Finalize | JobKind::ProcessTemplate => {
                (job.attempts < self.config.max_attempts).then(|| Duration::from_secs(1 << job.attempts.clamp(0, 10)))
            }
        }
    }
}

async fn run(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    match inner.store.release_stale_job_leases_at_start().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(jobs = n, "released job leases left by a previous run"),
        Err(error) => tracing::warn!(%error, "releasing stale job leases failed"),
    }
    let served = inner.served();
    let permits: HashMap<JobKind, Arc<Semaphore>> =
        served.iter().map(|(kind, n)| (*kind, Arc::new(Semaphore::new(*n)))).collect();
    let wakeup = inner.store.job_wakeup();
    let lease_ms = inner.config.lease.as_millis() as i64;
    let mut running = tokio::task::JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Which kinds have claimable jobs, and when they fall due (one read); then claim, per kind that has
        // due jobs and free slots, as many as it has slots (a write only when there is work).
        let due = match inner.store.due_jobs().await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "looking for due jobs failed");
                Vec::new()
            }
        };
        let now = now_ms();
        let mut filled_a_kind = false;
        let mut next_due: Option<i64> = None;
        for (kind, _) in &served {
            let Some(due_at) = due.iter().find(|(k, _)| k == kind).map(|(_, at)| *at) else { continue };
            let slots = &permits[kind];
            let free = slots.available_permits();
            if free == 0 {
                // A finishing job wakes the loop (join_next below).
                continue;
            }
            if due_at > now {
                next_due = Some(next_due.map_or(due_at, |n| n.min(due_at)));
                continue;
            }
            let claimed = match inner.store.claim_jobs(&inner.node, lease_ms, *kind, free as i64).await {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::warn!(%error, kind = kind.as_str(), "claiming jobs failed");
                    Vec::new()
                }
            };
            if claimed.len() == free {
                filled_a_kind = true;
            }
            for job in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else { break };
                let inner = inner.clone();
                running.spawn(async move {
                    run_job(&inner, job).await;
                    drop(permit);
                });
            }
        }
        while running.try_join_next().is_some() {}
        if filled_a_kind {
            continue;
        }
        // Sleep until woken, a job falls due, a running job ends, or the poll interval passes (which
        // also finds jobs whose lease a dead node left to expire).
        let wait = next_due
            .map_or(Duration::from_secs(2), |due| Duration::from_millis((due - now_ms()).clamp(0, 2000) as u64));
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
    let result = match job.kind {
        JobKind::ProcessDocuments => jobs::process_documents::run(inner, &job).await,
        JobKind::Expire => jobs::expire::run(inner, &job).await,
        JobKind::SendEmail => jobs::send_email::run(inner, &job).await,
        JobKind::Finalize => jobs::finalize::run(inner, &job).await,
        JobKind::ProcessTemplate => jobs::process_template::run(inner, &job).await,
        JobKind::BulkSend => jobs::bulk_send::run(inner, &job).await,
    };
    let request = job.signature_request_id.as_ref().map_or("", |id| id.as_str());
    match result {
        Ok(()) => tracing::debug!(
            job_id = %job.id,
            kind = job.kind.as_str(),
            signature_request_id = %request,
            ms = started.elapsed().as_millis() as u64,
            "job done"
        ),
        Err(Transient(error)) => match inner.retry_after(&job) {
            Some(pause) => {
                let retry_at = now_ms() + pause.as_millis() as i64;
                tracing::warn!(job_id = %job.id, kind = job.kind.as_str(), signature_request_id = %request, attempts = job.attempts, %error, "job failed; will retry");
                if let Err(e) = inner.store.retry_job(&job.id, &error, retry_at).await {
                    tracing::error!(job_id = %job.id, error = %e, "could not reschedule a failed job");
                }
            }
            None => {
                tracing::error!(job_id = %job.id, kind = job.kind.as_str(), signature_request_id = %request, %error, "job failed for good");
                if job.kind == JobKind::ProcessDocuments {
                    let failure =
                        ProcessingFailure::Unknown("An unexpected error occurred while processing the request.".into());
                    if let Err(e) = jobs::process_documents::commit_failure(inner, &job, &failure).await {
                        tracing::error!(job_id = %job.id, error = ?e, "could not record unknown_error");
                    }
                } else if job.kind == JobKind::ProcessTemplate {
                    if let Err(e) = jobs::process_template::commit_failure(inner, &job).await {
                        tracing::error!(job_id = %job.id, error = ?e, "could not record template_error");
                    }
                } else if job.kind == JobKind::Finalize {
                    if let Err(e) = jobs::finalize::commit_failure(inner, &job, &error).await {
                        tracing::error!(job_id = %job.id, error = ?e, "could not record unknown_error");
                    }
                } else if let Err(e) = inner.store.finish_job(&job.id).await {
                    tracing::error!(job_id = %job.id, error = %e, "could not finish a failed job");
                }
            }
        },
    }
}

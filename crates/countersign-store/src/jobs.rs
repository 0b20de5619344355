//! Background jobs: one table, one lease protocol, for every kind (`JobKind`). A job is claimed with
//! a lease for a node; a node that dies loses its lease to another node (PostgreSQL) or gets its jobs
//! back at its next start (SQLite). What a job does lives in `countersign-worker`.

use countersign_domain::lifecycle::JobKind;
use countersign_domain::time::now_ms;

use crate::db::{with_pool, with_writer};
use crate::tx::{Tx, on_tx};
use crate::{Store, StoreError, StoreResult};

/// A claimed job.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: String,
    pub kind: JobKind,
    /// The signature request it works on (document and expiry jobs).
    pub signature_request_id: Option<countersign_domain::ids::SignatureRequestId>,
    /// The `outgoing_emails` row it sends (`send_email` jobs).
    pub email_id: Option<i64>,
    /// The template it processes (`process_template` jobs).
    pub template_id: Option<countersign_domain::ids::TemplateId>,
    /// The bulk send job whose rows it turns into requests (`bulk_send` jobs).
    pub bulk_send_job_id: Option<String>,
    /// Claims so far, this one included.
    pub attempts: i64,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    kind: String,
    signature_request_id: Option<String>,
    email_id: Option<i64>,
    template_id: Option<String>,
    bulk_send_job_id: Option<String>,
    attempts: i64,
}

impl Store {
    /// Claims up to `limit` due jobs of `kind` for `node` until `now + lease_ms`. An expired lease is
    /// claimable again: a node that died mid-job loses it to another.
    pub async fn claim_jobs(
        &self,
        node: &str,
        lease_ms: i64,
        kind: JobKind,
        limit: i64,
    ) -> StoreResult<Vec<ClaimedJob>> {
        let now = now_ms();
        let lock = if self.backend() == crate::Backend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
        let sql = format!(
            "UPDATE jobs SET locked_by = $1, locked_until_ms = $2, attempts = attempts + 1 WHERE id IN (\
               SELECT id FROM jobs WHERE state = 'pending' AND kind = $5 AND run_at_ms <= $3 \
               AND (locked_until_ms IS NULL OR locked_until_ms < $3) ORDER BY run_at_ms LIMIT $4 {lock}) \
             RETURNING id, kind, signature_request_id, email_id, template_id, bulk_send_job_id, attempts"
        );
        let rows: Vec<JobRow> = with_writer!(self, pool => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(node)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .bind(kind.as_str())
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|JobRow { id, kind, signature_request_id, email_id, template_id, bulk_send_job_id, attempts }| {
                let kind = JobKind::parse(&kind).ok_or_else(|| StoreError::Corrupt(format!("job kind {kind:?}")))?;
                let signature_request_id =
                    signature_request_id.map(countersign_domain::ids::SignatureRequestId::from_trusted);
                let template_id = template_id.map(countersign_domain::ids::TemplateId::from_trusted);
                Ok(ClaimedJob { id, kind, signature_request_id, email_id, template_id, bulk_send_job_id, attempts })
            })
            .collect()
    }

    /// For each kind with claimable jobs (pending, and not under a live lease), when its first one
    /// falls due (ms). A read: the runner claims (a write) only the kinds that have due jobs.
    pub async fn due_jobs(&self) -> StoreResult<Vec<(JobKind, i64)>> {
        let rows: Vec<(String, i64)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT kind, MIN(run_at_ms) FROM jobs WHERE state = 'pending' AND (locked_until_ms IS NULL OR locked_until_ms < $1) GROUP BY kind")
            .bind(now_ms())
            .fetch_all(pool)
            .await)?;
        Ok(rows.into_iter().filter_map(|(kind, due)| JobKind::parse(&kind).map(|k| (k, due))).collect())
    }

    /// Marks a job done without any other change (its request moved on meanwhile).
    pub async fn finish_job(&self, job_id: &str) -> StoreResult<()> {
        self.write(async |tx| finish_job_in(tx, job_id).await).await
    }

    /// Gives a failed job back, to run again at `retry_at_ms`.
    pub async fn retry_job(&self, job_id: &str, error: &str, retry_at_ms: i64) -> StoreResult<()> {
        with_writer!(self, pool => sqlx::query(
            "UPDATE jobs SET locked_by = NULL, locked_until_ms = NULL, run_at_ms = $2, last_error = $3 WHERE id = $1")
            .bind(job_id)
            .bind(retry_at_ms)
            .bind(error)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// SQLite has one process: job leases left by a process that died are released at start, so its
    /// jobs run again now rather than when their lease would have expired.
    pub async fn release_stale_job_leases_at_start(&self) -> StoreResult<u64> {
        if self.backend() != crate::Backend::Sqlite {
            return Ok(0);
        }
        with_writer!(self, pool => sqlx::query(
            "UPDATE jobs SET locked_by = NULL, locked_until_ms = NULL WHERE locked_by IS NOT NULL AND state = 'pending'")
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(Into::into)
    }

    /// Releases the job leases `node` holds (at shutdown).
    pub async fn release_job_leases_of(&self, node: &str) -> StoreResult<u64> {
        with_writer!(self, pool => sqlx::query(
            "UPDATE jobs SET locked_by = NULL, locked_until_ms = NULL, attempts = attempts - 1 \
             WHERE locked_by = $1 AND state = 'pending'")
            .bind(node)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .map_err(Into::into)
    }
}

/// What a job works on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JobSubject<'a> {
    SignatureRequest(&'a str),
    /// An `outgoing_emails` row; its job's id is derived from it, so it is queued once.
    Email(i64),
    Template(&'a str),
    BulkSendJob(&'a str),
}

/// Inserts a pending job in an open transaction; the commit wakes the job runners.
pub(crate) async fn insert_job(tx: &mut Tx, kind: JobKind, subject: JobSubject<'_>, run_at_ms: i64) -> StoreResult<()> {
    let (mut request_id, mut email_id, mut template_id, mut bulk_id) = (None, None, None, None);
    let id = match subject {
        JobSubject::SignatureRequest(id) => {
            request_id = Some(id);
            countersign_callback::new_event_id()
        }
        JobSubject::Email(id) => {
            email_id = Some(id);
            format!("email-{id}")
        }
        JobSubject::Template(id) => {
            template_id = Some(id);
            countersign_callback::new_event_id()
        }
        JobSubject::BulkSendJob(id) => {
            bulk_id = Some(id);
            countersign_callback::new_event_id()
        }
    };
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO jobs (id, kind, signature_request_id, email_id, template_id, bulk_send_job_id, state, \
         run_at_ms, created_at_ms) VALUES ($1, $2, $3, $4, $7, $8, 'pending', $5, $6)")
        .bind(&id)
        .bind(kind.as_str())
        .bind(request_id)
        .bind(email_id)
        .bind(run_at_ms)
        .bind(now_ms())
        .bind(template_id)
        .bind(bulk_id)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.jobs_due();
    Ok(())
}

/// Schedules the request's job of `kind` at `run_at_ms`, replacing one still pending and unclaimed.
pub(crate) async fn reschedule_job(tx: &mut Tx, request_id: &str, kind: JobKind, run_at_ms: i64) -> StoreResult<()> {
    on_tx!(tx, c => sqlx::query(
        "DELETE FROM jobs WHERE signature_request_id = $1 AND kind = $2 AND state = 'pending' AND locked_by IS NULL")
        .bind(request_id)
        .bind(kind.as_str())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    insert_job(tx, kind, JobSubject::SignatureRequest(request_id), run_at_ms).await
}

/// Marks a job done, in an open transaction.
pub(crate) async fn finish_job_in(tx: &mut Tx, job_id: &str) -> StoreResult<()> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE jobs SET state = 'done', finished_at_ms = $2, locked_by = NULL, locked_until_ms = NULL WHERE id = $1")
        .bind(job_id)
        .bind(now_ms())
        .execute(c)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Stores an e-mail and its `send_email` job in an open transaction; the job runner sends it once
/// committed.
pub(crate) async fn queue_email(tx: &mut Tx, account_id: &str, to: &str, subject: &str, body: &str) -> StoreResult<()> {
    queue_email_about(tx, account_id, to, subject, body, None).await
}

/// Stores an e-mail with its `send_email` job; `about` names the request and signer it is for, so a
/// bounce can be reported for them.
pub(crate) async fn queue_email_about(
    tx: &mut Tx,
    account_id: &str,
    to: &str,
    subject: &str,
    body: &str,
    about: Option<(&str, Option<&str>)>,
) -> StoreResult<()> {
    let now = now_ms();
    let (email_id,): (i64,) = on_tx!(tx, c => sqlx::query_as(
        "INSERT INTO outgoing_emails (account_id, to_address, subject, body, created_at_ms, signature_request_id, signature_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id")
        .bind(account_id)
        .bind(to)
        .bind(subject)
        .bind(body)
        .bind(now)
        .bind(about.map(|a| a.0))
        .bind(about.and_then(|a| a.1))
        .fetch_one(c)
        .await)?;
    insert_job(tx, JobKind::SendEmail, JobSubject::Email(email_id), now).await
}

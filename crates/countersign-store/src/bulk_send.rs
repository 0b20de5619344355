//! Bulk send jobs: the job and its rows written with a `bulk_send` job in one transaction; the worker
//! takes the rows without a result in batches and commits each batch's requests (written as a create
//! writes them) with the rows' results in one transaction, so a job interrupted anywhere resumes at its
//! first row without a result and no row becomes two requests.

use countersign_domain::bulk::{BulkRow, BulkSpec};
use countersign_domain::ids::AccountId;
use countersign_domain::lifecycle::JobKind;
use countersign_domain::new_request::NewSignatureRequest;
use countersign_domain::time::now_ms;

use crate::db::with_pool;
use crate::jobs::{JobSubject, insert_job};
use crate::signature_requests::insert_request;
use crate::tx::on_tx;
use crate::{Store, StoreError, StoreResult};

/// A bulk send job as the API shows it (`BulkSendJobResponse`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BulkSendJobRow {
    pub id: String,
    pub created_at: i64,
    pub total: i64,
}

/// A row's outcome, as the worker commits it.
pub enum RowOutcome {
    Request(Box<NewSignatureRequest>),
    Failed(String),
}

impl Store {
    /// Writes a job, its rows and the `bulk_send` job that works through them, in one transaction.
    pub async fn create_bulk_send_job(
        &self,
        id: &str,
        account_id: &AccountId,
        created_at: i64,
        spec: &BulkSpec,
        rows: &[BulkRow],
    ) -> StoreResult<()> {
        let spec_json = serde_json::to_string(spec).map_err(|e| StoreError::corrupt("bulk spec", e))?;
        self.write(async |tx| {
            on_tx!(tx, c => sqlx::query(
                "INSERT INTO bulk_send_jobs (id, account_id, created_at, total, is_embedded, spec) \
                 VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(id)
                .bind(account_id.as_str())
                .bind(created_at)
                .bind(rows.len() as i64)
                .bind(spec.embedded)
                .bind(&spec_json)
                .execute(c)
                .await.map(|r| r.rows_affected()))?;
            for (index, row) in rows.iter().enumerate() {
                let input = serde_json::to_string(row).map_err(|e| StoreError::corrupt("bulk row", e))?;
                on_tx!(tx, c => sqlx::query(
                    "INSERT INTO bulk_send_rows (bulk_send_job_id, row_index, input) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(index as i64)
                    .bind(&input)
                    .execute(c)
                    .await.map(|r| r.rows_affected()))?;
            }
            insert_job(tx, JobKind::BulkSend, JobSubject::BulkSendJob(id), now_ms()).await
        })
        .await?;
        tracing::info!(bulk_send_job_id = id, account_id = %account_id, rows = rows.len(), "bulk send job accepted");
        Ok(())
    }

    /// The job's shared settings and owner, for the worker.
    pub async fn bulk_send_spec(&self, id: &str) -> StoreResult<Option<(AccountId, BulkSpec)>> {
        let row: Option<(String, String)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT account_id, spec FROM bulk_send_jobs WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await)?;
        row.map(|(account, spec)| {
            let spec = serde_json::from_str(&spec).map_err(|e| StoreError::corrupt("bulk spec", e))?;
            Ok((AccountId::from_trusted(account), spec))
        })
        .transpose()
    }

    /// Up to `limit` rows without a result, in order.
    pub async fn bulk_send_pending_rows(&self, id: &str, limit: i64) -> StoreResult<Vec<(i64, BulkRow)>> {
        let rows: Vec<(i64, String)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT row_index, input FROM bulk_send_rows WHERE bulk_send_job_id = $1 \
             AND signature_request_id IS NULL AND error IS NULL ORDER BY row_index LIMIT $2")
            .bind(id)
            .bind(limit)
            .fetch_all(pool)
            .await)?;
        rows.into_iter()
            .map(|(index, input)| {
                Ok((index, serde_json::from_str(&input).map_err(|e| StoreError::corrupt("bulk row", e))?))
            })
            .collect()
    }

    /// Commits a batch: each row's request (as a create writes it) or its error, in one transaction.
    /// A row that already has a result (another node's batch) is left as it is, and its request is not
    /// written.
    pub async fn commit_bulk_send_rows(&self, id: &str, outcomes: Vec<(i64, RowOutcome)>) -> StoreResult<usize> {
        self.write(async |tx| {
            let mut written = 0;
            for (index, outcome) in &outcomes {
                let (request_id, error) = match outcome {
                    RowOutcome::Request(new) => (Some(new.body.signature_request_id.as_str().to_owned()), None),
                    RowOutcome::Failed(why) => (None, Some(why.as_str())),
                };
                let claimed = on_tx!(tx, c => sqlx::query(
                    "UPDATE bulk_send_rows SET signature_request_id = $3, error = $4 WHERE bulk_send_job_id = $1 \
                     AND row_index = $2 AND signature_request_id IS NULL AND error IS NULL")
                    .bind(id)
                    .bind(index)
                    .bind(&request_id)
                    .bind(error)
                    .execute(c)
                    .await.map(|r| r.rows_affected()))?;
                if claimed == 1
                    && let RowOutcome::Request(new) = outcome
                {
                    insert_request(tx, &self.master_key, new).await?;
                    written += 1;
                }
            }
            Ok::<_, StoreError>(written)
        })
        .await
    }

    /// One of the account's jobs.
    pub async fn bulk_send_job(&self, account_id: &AccountId, id: &str) -> StoreResult<Option<BulkSendJobRow>> {
        Ok(with_pool!(self, pool => sqlx::query_as(
            "SELECT id, created_at, total FROM bulk_send_jobs WHERE id = $1 AND account_id = $2")
            .bind(id)
            .bind(account_id.as_str())
            .fetch_optional(pool)
            .await)?)
    }

    /// A page of the account's jobs, newest first, and how many there are.
    pub async fn bulk_send_jobs(
        &self,
        account_id: &AccountId,
        page: u32,
        page_size: u32,
    ) -> StoreResult<(Vec<BulkSendJobRow>, i64)> {
        let (total,): (i64,) = with_pool!(self, pool => sqlx::query_as(
            "SELECT COUNT(*) FROM bulk_send_jobs WHERE account_id = $1")
            .bind(account_id.as_str())
            .fetch_one(pool)
            .await)?;
        let rows = with_pool!(self, pool => sqlx::query_as(
            "SELECT id, created_at, total FROM bulk_send_jobs WHERE account_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3")
            .bind(account_id.as_str())
            .bind(i64::from(page_size))
            .bind(i64::from(page.saturating_sub(1)) * i64::from(page_size))
            .fetch_all(pool)
            .await)?;
        Ok((rows, total))
    }

    /// A page of the requests a job made (their stored objects, in row order; removed ones left out),
    /// how many it made, and the rows that failed with why (row index, error).
    pub async fn bulk_send_results(
        &self,
        id: &str,
        page: u32,
        page_size: u32,
    ) -> StoreResult<(Vec<String>, i64, Vec<(i64, String)>)> {
        let (total,): (i64,) = with_pool!(self, pool => sqlx::query_as(
            "SELECT COUNT(*) FROM bulk_send_rows b JOIN signature_requests r ON r.id = b.signature_request_id \
             WHERE b.bulk_send_job_id = $1 AND r.removed = FALSE")
            .bind(id)
            .fetch_one(pool)
            .await)?;
        let bodies: Vec<(String,)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT r.body FROM bulk_send_rows b JOIN signature_requests r ON r.id = b.signature_request_id \
             WHERE b.bulk_send_job_id = $1 AND r.removed = FALSE ORDER BY b.row_index LIMIT $2 OFFSET $3")
            .bind(id)
            .bind(i64::from(page_size))
            .bind(i64::from(page.saturating_sub(1)) * i64::from(page_size))
            .fetch_all(pool)
            .await)?;
        let failed: Vec<(i64, String)> = with_pool!(self, pool => sqlx::query_as(
            "SELECT row_index, error FROM bulk_send_rows WHERE bulk_send_job_id = $1 AND error IS NOT NULL \
             ORDER BY row_index LIMIT 100")
            .bind(id)
            .fetch_all(pool)
            .await)?;
        Ok((bodies.into_iter().map(|(b,)| b).collect(), total, failed))
    }
}

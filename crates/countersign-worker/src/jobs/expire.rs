//! `expire`: when `expires_at` passes with signatures outstanding, they become `expired` and
//! `signature_request_expired` fires (the state machine's `expire`).

use countersign_domain::lifecycle::Refusal;
use countersign_domain::time::unix_now;
use countersign_store::jobs::ClaimedJob;
use countersign_store::signature_requests::ChangeError;

use crate::{Inner, Transient};

/// Expires a request whose `expires_at` has passed with signatures outstanding.
pub(crate) async fn run(inner: &Inner, job: &ClaimedJob) -> Result<(), Transient> {
    let Some(id) = job.signature_request_id.as_ref() else {
        return inner.store.finish_job(&job.id).await.map_err(Transient::from);
    };
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

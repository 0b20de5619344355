//! `send_email`: sends one stored e-mail (`outgoing_emails`) through the configured SMTP server. The job
//! is written with the e-mail, in the transaction of the change that called for it; it is claimed with a
//! lease like every job, so several nodes never send the same e-mail at once, and a node that dies
//! mid-send leaves it to the others. A failed send is kept with its error and tried again with a growing
//! pause (see `retry_after`); one the server refuses for good (5xx) is not retried, and when it was a
//! signer's, `signature_request_email_bounce` is committed for that signer. Without an SMTP server this
//! kind is not run and e-mails stay stored.

use std::time::Duration;

use countersign_domain::ids::{SignatureId, SignatureRequestId};
use countersign_domain::lifecycle::Refusal;
use countersign_store::emails::OutgoingEmail;
use countersign_store::jobs::ClaimedJob;
use countersign_store::signature_requests::ChangeError;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::{Inner, Transient};

#[derive(Clone)]
pub struct MailConfig {
    /// `smtp://user:pass@host:25`, `smtp://host:587?tls=required` (STARTTLS) or `smtps://host:465`.
    pub smtp_url: String,
    /// The sender, e.g. `Countersign <noreply@example.com>`.
    pub from: String,
}

impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("MailConfig").field("smtp_url", &"<redacted>").field("from", &self.from).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid SMTP URL: {0}")]
    Url(String),
    #[error("invalid sender address {0:?}")]
    From(String),
}

/// An SMTP transport and the sender, ready to send.
pub(crate) struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    pub(crate) fn new(config: &MailConfig) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.smtp_url)
            .map_err(|e| MailError::Url(e.to_string()))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let from: Mailbox = config.from.parse().map_err(|_| MailError::From(config.from.clone()))?;
        Ok(Self { transport, from })
    }
}

pub(crate) async fn run(inner: &Inner, job: &ClaimedJob) -> Result<(), Transient> {
    let store = &inner.store;
    let (Some(mailer), Some(email_id)) = (inner.mailer.as_ref(), job.email_id) else {
        return store.finish_job(&job.id).await.map_err(Transient::from);
    };
    // Sent already (a repeated run after the outcome committed): nothing to do.
    let Some(email) = store.email_to_send(email_id).await? else {
        return store.finish_job(&job.id).await.map_err(Transient::from);
    };
    match send(mailer, &email).await {
        Ok(()) => {
            tracing::info!(email_id = email.id, to = %email.to_address, subject = %email.subject, "e-mail sent");
            store.mark_email_sent(email.id).await?;
            store.finish_job(&job.id).await.map_err(Transient::from)
        }
        Err(SendError::Rejected(error)) => {
            // The server refused the recipient for good: no retry; a signer's bounce is reported.
            tracing::warn!(email_id = email.id, to = %email.to_address, %error, "e-mail rejected by the SMTP server");
            store.mark_email_failed(email.id, &error).await?;
            if let (Some(request), Some(signature)) = (
                email.signature_request_id.as_deref().and_then(SignatureRequestId::parse),
                email.signature_id.as_deref().and_then(SignatureId::parse),
            ) {
                let bounced =
                    store.change_signature_request(&request, |r| Ok::<_, Refusal>(r.email_bounced(&signature))).await;
                match bounced {
                    Ok(_) | Err(ChangeError::NotFound) => {}
                    Err(ChangeError::Refused(_)) => {}
                    Err(ChangeError::Store(e)) => return Err(Transient::from(e)),
                }
            }
            store.finish_job(&job.id).await.map_err(Transient::from)
        }
        Err(SendError::Failed(error)) => {
            tracing::warn!(email_id = email.id, to = %email.to_address, %error, "e-mail not sent; will retry");
            store.mark_email_failed(email.id, &error).await?;
            Err(Transient(error))
        }
    }
}

/// Why an e-mail was not sent.
enum SendError {
    /// A permanent (5xx) answer: the recipient does not exist or is refused.
    Rejected(String),
    /// Anything that may pass: a connection error, a 4xx answer.
    Failed(String),
}

async fn send(mailer: &Mailer, email: &OutgoingEmail) -> Result<(), SendError> {
    let to: Mailbox = email
        .to_address
        .parse()
        .map_err(|e| SendError::Rejected(format!("bad recipient {:?}: {e}", email.to_address)))?;
    let message = Message::builder()
        .from(mailer.from.clone())
        .to(to)
        .subject(email.subject.clone())
        .body(email.body.clone())
        .map_err(|e| SendError::Rejected(e.to_string()))?;
    mailer.transport.send(message).await.map(|_| ()).map_err(|e| {
        if e.is_permanent() { SendError::Rejected(e.to_string()) } else { SendError::Failed(e.to_string()) }
    })
}

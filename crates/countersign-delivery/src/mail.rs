//! The mailer: sends the e-mails the store keeps for account owners (a callback URL was disabled, …)
//! through the configured SMTP server. Without one, nothing runs and the e-mails stay stored.
//!
//! Like deliveries, an e-mail is claimed with a lease before it is sent, so several nodes never send
//! the same one at once and a node that dies mid-send leaves it to the others. A failed send is kept
//! with its error and tried again with a growing pause (up to an hour).

use std::sync::Arc;
use std::time::Duration;

use countersign_domain::time::now_ms;
use countersign_store::Store;
use countersign_store::emails::OutgoingEmail;
use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::watch;

#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://user:pass@host:25`, `smtp://host:587?tls=required` (STARTTLS) or `smtps://host:465`.
    pub smtp_url: String,
    /// The sender, e.g. `Countersign <noreply@example.com>`.
    pub from: String,
    /// How often unsent e-mails are looked for when nothing wakes the mailer.
    pub poll_interval: Duration,
}

pub struct Mailer {
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid SMTP URL: {0}")]
    Url(String),
    #[error("invalid sender address {0:?}")]
    From(String),
}

impl Mailer {
    pub fn spawn(store: Arc<Store>, config: MailConfig) -> Result<Self, MailError> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.smtp_url)
            .map_err(|e| MailError::Url(e.to_string()))?
            .timeout(Some(Duration::from_secs(30)))
            .build();
        let from: Mailbox = config.from.parse().map_err(|_| MailError::From(config.from.clone()))?;
        let (shutdown, shutdown_rx) = watch::channel(false);
        let task = tokio::spawn(run(store, transport, from, config.poll_interval, shutdown_rx));
        Ok(Self { shutdown, task })
    }

    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

async fn run(
    store: Arc<Store>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    poll: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let wakeup = store.mail_wakeup();
    loop {
        match store.claim_emails(20, 120_000).await {
            Ok(emails) => {
                for email in emails {
                    send_one(&store, &transport, &from, email).await;
                }
            }
            Err(error) => tracing::error!(%error, "claiming e-mails failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(poll) => {}
            _ = wakeup.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn send_one(store: &Store, transport: &AsyncSmtpTransport<Tokio1Executor>, from: &Mailbox, email: OutgoingEmail) {
    let result = match build(from, &email) {
        Ok(message) => transport.send(message).await.map(|_| ()).map_err(|e| e.to_string()),
        Err(error) => Err(error),
    };
    let outcome = match result {
        Ok(()) => {
            tracing::info!(email_id = email.id, to = %email.to_address, subject = %email.subject, "e-mail sent");
            store.mark_email_sent(email.id).await
        }
        Err(error) => {
            let pause = Duration::from_secs(30)
                .saturating_mul(1 << email.attempts.clamp(0, 7) as u32)
                .min(Duration::from_secs(3600));
            tracing::warn!(email_id = email.id, to = %email.to_address, %error, "e-mail not sent; will retry");
            store.mark_email_failed(email.id, &error, now_ms() + pause.as_millis() as i64).await
        }
    };
    if let Err(error) = outcome {
        tracing::error!(%error, email_id = email.id, "recording an e-mail's outcome failed");
    }
}

fn build(from: &Mailbox, email: &OutgoingEmail) -> Result<Message, String> {
    let to: Mailbox = email.to_address.parse().map_err(|e| format!("bad recipient {:?}: {e}", email.to_address))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .body(email.body.clone())
        .map_err(|e| e.to_string())
}

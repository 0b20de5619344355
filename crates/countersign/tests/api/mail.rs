//! The owner is e-mailed when a callback URL is disabled, through a real SMTP conversation with a
//! small SMTP server on loopback.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use countersign_domain::ids::AccountId;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::both_backends;
use crate::helpers::{Backend, Options, spawn_app_with, wait_for};
use crate::receiver::{Behaviour, Receiver};

/// A minimal SMTP server (RFC 5321 commands a client needs to hand over one message). It refuses, for
/// good (550), any recipient whose address contains `bounce`.
pub(crate) struct SmtpSink {
    pub(crate) url: String,
    /// (the RCPT line, the message as received).
    pub(crate) messages: Arc<Mutex<Vec<(String, String)>>>,
}

impl SmtpSink {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("smtp://{}", listener.local_addr().unwrap());
        let messages = Arc::new(Mutex::new(Vec::new()));
        let store = messages.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let store = store.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
                    let mut recipient = String::new();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let verb = line.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
                        let reply: &[u8] = match verb.as_str() {
                            "EHLO" | "HELO" => b"250-sink\r\n250 OK\r\n",
                            "RCPT" if line.contains("bounce") => b"550 5.1.1 no such mailbox\r\n",
                            "RCPT" => {
                                recipient = line.clone();
                                b"250 OK\r\n"
                            }
                            "DATA" => {
                                let _ = write.write_all(b"354 go ahead\r\n").await;
                                let mut data = String::new();
                                while let Ok(Some(body_line)) = lines.next_line().await {
                                    if body_line == "." {
                                        break;
                                    }
                                    data.push_str(&body_line);
                                    data.push('\n');
                                }
                                store.lock().unwrap().push((recipient.clone(), data));
                                b"250 queued\r\n"
                            }
                            "QUIT" => {
                                let _ = write.write_all(b"221 bye\r\n").await;
                                break;
                            }
                            _ => b"250 OK\r\n",
                        };
                        if write.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { url, messages }
    }
}

async fn the_owner_is_emailed_when_a_url_is_disabled(backend: Backend) {
    let sink = SmtpSink::start().await;
    let mut options = Options::default();
    options.delivery.schedule = Vec::new();
    options.delivery.disable_after_dead = 1;
    options.smtp_url = Some(sink.url.clone());
    let Some(app) = spawn_app_with(backend, options).await else { return };
    let receiver = Receiver::start().await;
    receiver.set_default("/cb", Behaviour::Status(500, "down"));
    let url = receiver.url("/cb");
    app.set_account_callback(&url).await;
    app.account_callback_test().await;
    let (recipient, message) = wait_for(Duration::from_secs(15), "the e-mail at the SMTP server", || async {
        sink.messages.lock().unwrap().first().cloned()
    })
    .await;
    assert!(recipient.contains("owner@example.com"), "{recipient}");
    assert!(message.contains("Subject: Countersign: your callback URL was disabled"), "{message}");
    assert!(message.contains(&url), "{message}");
    let account = AccountId::parse(&app.account_id).unwrap();
    assert_eq!(app.store.stored_emails(&account).await.unwrap().len(), 1, "the e-mail is kept too");
    wait_for(Duration::from_secs(5), "the e-mail to be marked sent", || async {
        (app.store.unsent_email_count().await.unwrap() == 0).then_some(())
    })
    .await;
    app.stop().await;
}
both_backends!(the_owner_is_emailed_when_a_url_is_disabled, the_owner_is_emailed_when_a_url_is_disabled);

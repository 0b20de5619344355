//! E-mail to signers and CCs of requests sent by e-mail (`send`; embedded requests are signed in the
//! app that embeds them): each signer is invited with a personal link when it is their turn, a reminder
//! repeats the invitation, and CCs get the completed notice. [`mailed`] wraps any transition: it notes
//! who could act before the change and, after it, writes the e-mails the change calls for into the
//! [`Transition`], so they commit in the same transaction (and are sent by `send_email` jobs, or kept
//! in the outbox without SMTP).

use countersign_callback::EventType;

use crate::ids::SignatureId;
use crate::lifecycle::{Email, SignatureRequest, Transition};
use crate::links::{Link, LinkSigner};
use crate::signature_request::RequestStatus;

/// How long a signer's e-mail link opens the signer page (the request's own expiry still applies).
pub const EMAIL_LINK_LIFETIME_SECS: i64 = 30 * 86_400;

/// What writing e-mails needs: the link maker and this server's public URL.
#[derive(Debug, Clone)]
pub struct Mailing {
    pub links: LinkSigner,
    pub public_url: String,
}

impl Mailing {
    /// A signer's personal link to the signer page.
    pub fn sign_link(&self, signature_id: &SignatureId, now: i64) -> String {
        let expires = now + EMAIL_LINK_LIFETIME_SECS;
        let token = self.links.token(&Link::Sign { signature_id: signature_id.as_str(), expires });
        format!("{}/sign/{signature_id}?token={token}&expires_at={expires}", self.public_url)
    }
}

/// Runs `change` on `request` and adds the e-mails it calls for: an invitation for every signer who may
/// act after it and could not before (the first signers when the request is sent; the next in order
/// after a signature; a new signer after a reassignment or a new address), a reminder for a
/// `signature_request_remind`, and the completed notice to every CC when the request completes.
pub fn mailed<E>(
    request: &mut SignatureRequest,
    mailing: &Mailing,
    now: i64,
    change: impl FnOnce(&mut SignatureRequest) -> Result<Transition, E>,
) -> Result<Transition, E> {
    let before = request.actionable_signers();
    let was_complete = request.status == RequestStatus::Complete;
    let mut transition = change(request)?;
    if request.is_embedded {
        return Ok(transition);
    }
    let body = &request.body;
    let from = &body.requester_email_address;
    for id in request.actionable_signers() {
        let Some(signer) = body.signatures.iter().find(|s| s.signature_id == id) else { continue };
        let reminded = transition
            .events
            .iter()
            .any(|(t, related, _)| *t == EventType::SignatureRequestRemind && related.as_ref() == Some(&id));
        if before.contains(&id) && !reminded {
            continue;
        }
        let subject = if reminded {
            format!("Reminder: {from} is waiting for your signature on “{}”", body.title)
        } else {
            format!("{from} asks you to sign “{}”", body.title)
        };
        let mut text =
            format!("Hello {},\n\n{from} asks you to review and sign “{}”.\n", signer.signer_name, body.title);
        if let Some(message) = body.message.as_deref().filter(|m| !m.trim().is_empty()) {
            text.push_str(&format!("\nTheir message:\n{message}\n"));
        }
        text.push_str(&format!(
            "\nOpen your personal signing link:\n{}\n\nThis link is for you alone; do not forward it. It works for 30 days{}.\n",
            mailing.sign_link(&id, now),
            if signer.has_pin { " and asks for the access code the sender gave you" } else { "" },
        ));
        transition.emails.push(Email {
            to: signer.signer_email_address.clone(),
            subject,
            body: text,
            signature_id: Some(id),
        });
    }
    if !was_complete && request.status == RequestStatus::Complete {
        for cc in &body.cc_email_addresses {
            let signers: Vec<String> =
                body.signatures.iter().map(|s| format!("- {} <{}>", s.signer_name, s.signer_email_address)).collect();
            transition.emails.push(Email {
                to: cc.clone(),
                subject: format!("“{}” has been signed by everyone", body.title),
                body: format!(
                    "Hello,\n\nYou were copied on “{}”, sent by {from}. Everyone has signed it:\n{}\n\nThe sender can download the signed documents.\n",
                    body.title,
                    signers.join("\n")
                ),
                signature_id: None,
            });
        }
    }
    Ok(transition)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, SignatureRequestId};
    use crate::signature_request::ProcessingOptions;
    use crate::signature_request::search_tests::body;

    fn mailing() -> Mailing {
        Mailing {
            links: crate::secrets::MasterKey::generate().0.link_signer(),
            public_url: "https://sign.example.com".into(),
        }
    }

    fn ordered_request() -> SignatureRequest {
        let mut body = body();
        let mut second = body.signatures[0].clone();
        second.signature_id = SignatureId::from_trusted("c".repeat(32));
        second.signer_email_address = "jack@example.com".into();
        second.signer_name = "Jack".into();
        body.signatures[0].order = Some(0);
        second.order = Some(1);
        body.signatures.push(second);
        body.cc_email_addresses = vec!["boss@example.com".into()];
        SignatureRequest {
            id: SignatureRequestId::from_trusted("a".repeat(40)),
            account_id: AccountId::from_trusted("1".repeat(40)),
            client_id: None,
            is_embedded: false,
            status: RequestStatus::Processing,
            removed: false,
            body,
            options: ProcessingOptions::default(),
        }
    }

    #[test]
    fn signers_are_invited_in_order_and_ccs_told_at_the_end() {
        let mut r = ordered_request();
        let first = r.body.signatures[0].signature_id.clone();
        let second = r.body.signatures[1].signature_id.clone();
        let t = mailed(&mut r, &mailing(), 100, |r| r.processed(Vec::new(), Vec::new(), None, false, "j")).unwrap();
        assert_eq!(t.emails.len(), 1, "only the first in order");
        assert_eq!(t.emails[0].to, "jill@example.com");
        assert!(t.emails[0].body.contains(&format!("https://sign.example.com/sign/{first}?token=")));
        let t = mailed(&mut r, &mailing(), 200, |r| r.sign(&first, Vec::new(), Vec::new(), 200)).unwrap();
        let to: Vec<&str> = t.emails.iter().map(|e| e.to.as_str()).collect();
        assert_eq!(to, vec!["jack@example.com"]);
        assert_eq!(t.emails[0].signature_id.as_ref(), Some(&second));
        let t = mailed(&mut r, &mailing(), 300, |r| r.sign(&second, Vec::new(), Vec::new(), 300)).unwrap();
        let to: Vec<&str> = t.emails.iter().map(|e| e.to.as_str()).collect();
        assert_eq!(to, vec!["boss@example.com"]);
        assert!(t.emails[0].subject.contains("signed by everyone"));
    }

    #[test]
    fn a_reminder_repeats_the_invitation_and_embedded_requests_get_no_mail() {
        let mut r = ordered_request();
        r.status = RequestStatus::Sent;
        let owner = r.account_id.clone();
        let t = mailed(&mut r, &mailing(), 100, |r| r.remind(&owner, "jill@example.com", None, 100)).unwrap();
        assert_eq!(t.emails.len(), 1);
        assert!(t.emails[0].subject.starts_with("Reminder:"));
        let mut embedded = ordered_request();
        embedded.is_embedded = true;
        let t =
            mailed(&mut embedded, &mailing(), 1, |r| r.processed(Vec::new(), Vec::new(), None, false, "j")).unwrap();
        assert!(t.emails.is_empty());
    }
}

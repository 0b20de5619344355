//! Realistic sample events of every type, for handler development (`countersign trigger`): the event a
//! real state change would make, about a test-mode signature request (or template, or account) that
//! exists only in the event. Objects are built with the same types as real ones, so a sample has exactly
//! the shape of a real callback and the official SDKs parse it alike.

use countersign_callback::{EventObject, EventType, NewEvent};
use serde_json::{Map, Value, json};

use crate::ids::{SignatureId, SignatureRequestId, TemplateId};
use crate::signature_request::{Signature, SignatureRequestBody, SignatureStatus};

/// Who a sample is for.
#[derive(Debug, Clone)]
pub struct SampleContext<'a> {
    /// The requester's e-mail address (the account's).
    pub email: &'a str,
    /// This server's public URL, for the links in the object.
    pub public_url: &'a str,
    /// The account as `account_confirmed` carries it.
    pub account: Value,
    pub now: i64,
}

fn signer(name: &str, email: &str, order: i64) -> Signature {
    Signature {
        signature_id: SignatureId::generate(),
        signer_group_guid: None,
        signer_email_address: email.to_owned(),
        signer_name: name.to_owned(),
        signer_role: None,
        order: Some(order),
        status_code: SignatureStatus::AwaitingSignature,
        decline_reason: None,
        signed_at: None,
        last_viewed_at: None,
        last_reminded_at: None,
        has_pin: false,
        has_sms_auth: false,
        has_sms_delivery: false,
        sms_phone_number: None,
        reassigned_by: None,
        reassignment_reason: None,
        reassigned_from: None,
        error: None,
    }
}

/// A sent, test-mode request for two signers, as `signature_request_sent` carries it.
fn sample_request(cx: &SampleContext<'_>) -> SignatureRequestBody {
    let id = SignatureRequestId::generate();
    let base = cx.public_url;
    let mut metadata = Map::new();
    metadata.insert("sample".to_owned(), Value::Bool(true));
    SignatureRequestBody {
        test_mode: true,
        signature_request_id: id.clone(),
        requester_email_address: cx.email.to_owned(),
        title: "Sample: lease agreement".to_owned(),
        original_title: "Sample: lease agreement".to_owned(),
        subject: Some("Please sign the lease".to_owned()),
        message: Some("A sample request made by `countersign trigger`.".to_owned()),
        metadata,
        created_at: cx.now - 600,
        expires_at: None,
        is_complete: false,
        is_declined: false,
        has_error: false,
        files_url: format!("{base}/v3/signature_request/files/{id}"),
        signing_url: Some(format!("{base}/sign/{id}")),
        details_url: format!("{base}/home/manage?guid={id}"),
        cc_email_addresses: vec!["records@example.com".to_owned()],
        signing_redirect_url: None,
        final_copy_uri: format!("/v3/signature_request/final_copy/{id}"),
        template_ids: None,
        custom_fields: Vec::new(),
        attachments: Vec::new(),
        response_data: Vec::new(),
        signatures: vec![signer("Alice Tenant", "alice@example.com", 0), signer("Bob Landlord", "bob@example.com", 1)],
        bulk_send_job_id: None,
        allow_decline: true,
        allow_reassign: true,
    }
}

fn sample_template(cx: &SampleContext<'_>, error: bool) -> Value {
    json!({
        "template_id": TemplateId::generate().as_str(),
        "title": "Sample: consent form",
        "message": "A sample template made by `countersign trigger`.",
        "updated_at": cx.now,
        "is_embedded": false,
        "is_creator": true,
        "can_edit": true,
        "is_locked": false,
        "metadata": {"sample": true},
        "signer_roles": [{"name": "Client", "order": 0}],
        "cc_roles": [],
        "documents": if error { json!([]) } else { json!([{"name": "consent.pdf", "index": 0, "field_groups": [], "form_fields": [], "custom_fields": [], "static_fields": []}]) },
        "custom_fields": [],
        "named_form_fields": [],
        "accounts": [{"account_id": cx.account.get("account_id"), "email_address": cx.email, "is_locked": false, "is_paid_hs": true, "is_paid_hf": false, "quotas": null}],
        "attachments": [],
    })
}

/// The sample event of `kind`.
pub fn sample_event(kind: EventType, cx: &SampleContext<'_>) -> NewEvent {
    if kind == EventType::CallbackTest {
        return NewEvent::callback_test(None);
    }
    let mut event = NewEvent {
        event_type: kind,
        signature_request_id: None,
        template_id: None,
        client_id: None,
        related_signature_id: None,
        event_message: None,
        object: None,
    };
    match kind {
        EventType::AccountConfirmed => {
            event.object = Some(EventObject::Account(cx.account.clone()));
            return event;
        }
        EventType::TemplateCreated | EventType::TemplateError => {
            let template = sample_template(cx, kind == EventType::TemplateError);
            event.template_id = template["template_id"].as_str().map(str::to_owned);
            if kind == EventType::TemplateError {
                event.event_message =
                    Some("Page 1: the text tag [sig|req|signer9] names a role the template does not have.".to_owned());
            }
            event.object = Some(EventObject::Template(template));
            return event;
        }
        _ => {}
    }
    let mut request = sample_request(cx);
    let first = request.signatures[0].signature_id.clone();
    let now = cx.now;
    let mut related = true;
    {
        let alice = &mut request.signatures[0];
        match kind {
            EventType::SignatureRequestViewed => alice.last_viewed_at = Some(now),
            EventType::SignatureRequestSigned => {
                alice.last_viewed_at = Some(now - 60);
                alice.signed_at = Some(now);
                alice.status_code = SignatureStatus::Signed;
            }
            EventType::SignatureRequestDeclined => {
                alice.status_code = SignatureStatus::Declined;
                alice.decline_reason = Some("The rent is not what we agreed.".to_owned());
            }
            EventType::SignatureRequestReassigned => {
                alice.reassigned_by = Some("alice@example.com".to_owned());
                alice.reassignment_reason = Some("My partner signs leases.".to_owned());
                alice.reassigned_from = Some("alice@example.com".to_owned());
                alice.signer_email_address = "carol@example.com".to_owned();
                alice.signer_name = "Carol Tenant".to_owned();
            }
            EventType::SignatureRequestRemind => alice.last_reminded_at = Some(now),
            EventType::SignatureRequestEmailBounce => {
                event.event_message = Some("The mail server for example.com refused alice@example.com.".to_owned());
            }
            EventType::SignUrlInvalid => {
                event.event_message = Some("The sign URL expired.".to_owned());
            }
            EventType::SignatureRequestSignerRemoved => {}
            _ => related = false,
        }
    }
    match kind {
        EventType::SignatureRequestAllSigned | EventType::SignatureRequestDownloadable => {
            for (i, s) in request.signatures.iter_mut().enumerate() {
                s.status_code = SignatureStatus::Signed;
                s.signed_at = Some(now - 60 * (2 - i as i64));
                s.last_viewed_at = s.signed_at.map(|t| t - 30);
            }
            request.is_complete = true;
        }
        EventType::SignatureRequestDeclined => request.is_declined = true,
        EventType::SignatureRequestExpired => {
            request.expires_at = Some(now - 1);
            for s in &mut request.signatures {
                s.status_code = SignatureStatus::Expired;
            }
        }
        EventType::FileError | EventType::SignatureRequestInvalid | EventType::UnknownError => {
            let (status, message) = match kind {
                EventType::FileError => {
                    (SignatureStatus::ErrorFile, "Document 1 is not a PDF or a document this server converts.")
                }
                EventType::SignatureRequestInvalid => (
                    SignatureStatus::ErrorTextTag,
                    "Page 1: the text tag [sig|req|signer9] names signer 9; the request has 2.",
                ),
                _ => (SignatureStatus::ErrorUnknown, "The document could not be processed."),
            };
            request.fail(status, message);
            event.event_message = Some(message.to_owned());
        }
        EventType::SignatureRequestIncompleteQes => {
            event.event_message = Some("The qualified electronic signature could not be completed.".to_owned());
        }
        _ => {}
    }
    event.signature_request_id = Some(request.signature_request_id.as_str().to_owned());
    if related {
        event.related_signature_id = Some(first.as_str().to_owned());
    }
    event.object = Some(EventObject::SignatureRequest(request.to_value()));
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_a_sample_with_its_object() {
        let cx = SampleContext {
            email: "me@example.com",
            public_url: "https://sign.example.com",
            account: json!({"account_id": "a".repeat(40), "email_address": "me@example.com"}),
            now: 1_700_000_000,
        };
        for kind in EventType::ALL {
            let event = sample_event(kind, &cx);
            assert_eq!(event.event_type, kind);
            match (kind, &event.object) {
                (EventType::CallbackTest, None) => {}
                (EventType::AccountConfirmed, Some(EventObject::Account(a))) => {
                    assert_eq!(a["email_address"], "me@example.com")
                }
                (EventType::TemplateCreated | EventType::TemplateError, Some(EventObject::Template(t))) => {
                    assert_eq!(event.template_id.as_deref(), t["template_id"].as_str());
                }
                (_, Some(EventObject::SignatureRequest(r))) => {
                    assert_eq!(r["test_mode"], true, "{kind}");
                    assert_eq!(event.signature_request_id.as_deref(), r["signature_request_id"].as_str());
                    let back: SignatureRequestBody = serde_json::from_value(r.clone()).unwrap();
                    assert_eq!(back.requester_email_address, "me@example.com");
                }
                (kind, object) => panic!("{kind}: unexpected object {object:?}"),
            }
        }
        let all_signed = sample_event(EventType::SignatureRequestAllSigned, &cx);
        let Some(EventObject::SignatureRequest(r)) = all_signed.object else { panic!() };
        assert_eq!(r["is_complete"], true);
        assert!(r["signatures"].as_array().unwrap().iter().all(|s| s["status_code"] == "signed"));
        let signed = sample_event(EventType::SignatureRequestSigned, &cx);
        let Some(EventObject::SignatureRequest(r)) = signed.object else { panic!() };
        assert_eq!(signed.related_signature_id.as_deref(), r["signatures"][0]["signature_id"].as_str());
    }
}

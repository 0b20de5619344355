//! A request's audit trail: one stored line per event of the request, with the signer it concerns and
//! the client (IP address, user agent) that caused it, written in the transaction of the change
//! (see `Transition::client`). [`AuditFacts`] is what the final copy's audit page shows and what
//! `GET /v3/signature_request/{id}/audit` returns.

use serde::Serialize;

use crate::lifecycle::SignatureRequest;
use crate::signature_request::{FinalCopy, RequestStatus};

/// One stored line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub event_type: String,
    /// Unix seconds.
    pub at: i64,
    pub signature_id: Option<String>,
    pub signer_name: Option<String>,
    pub signer_email_address: Option<String>,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// How the audit trail names an event, or `None` for events it leaves out.
pub fn action(event_type: &str) -> Option<&'static str> {
    Some(match event_type {
        "signature_request_sent" => "Sent",
        "signature_request_viewed" => "Viewed",
        "signature_request_signed" => "Signed",
        "signature_request_declined" => "Declined",
        "signature_request_reassigned" => "Reassigned to this signer",
        "signature_request_email_bounce" => "E-mail bounced",
        "signature_request_remind" => "Reminded",
        "signature_request_all_signed" => "Completed (all signed)",
        "signature_request_canceled" => "Canceled",
        "signature_request_expired" => "Expired",
        "signature_request_downloadable" => "Final copy sealed",
        _ => return None,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditDocument {
    pub document_index: i64,
    pub name: String,
    /// SHA-256 of the original file.
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditStep {
    pub event_type: String,
    pub action: String,
    pub at: i64,
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditSigner {
    pub signature_id: String,
    pub name: String,
    pub email_address: String,
    pub status_code: String,
    pub steps: Vec<AuditStep>,
}

/// Everything the audit trail says about a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditFacts {
    pub signature_request_id: String,
    pub title: String,
    pub test_mode: bool,
    pub sent_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub documents: Vec<AuditDocument>,
    pub signers: Vec<AuditSigner>,
    /// Every line, in order.
    pub events: Vec<AuditEntry>,
    /// The sealed final copy, once made.
    pub final_copy: Option<FinalCopy>,
}

/// The facts of `request` from its stored lines and documents.
pub fn facts(request: &SignatureRequest, documents: Vec<AuditDocument>, entries: Vec<AuditEntry>) -> AuditFacts {
    let first = |event: &str| entries.iter().find(|e| e.event_type == event).map(|e| e.at);
    let sent_at = first("signature_request_sent");
    let completed_at =
        if request.status == RequestStatus::Complete { first("signature_request_all_signed") } else { None };
    let signers = request
        .body
        .signatures
        .iter()
        .map(|s| {
            let id = s.signature_id.as_str();
            let mut steps: Vec<AuditStep> = sent_at
                .map(|at| AuditStep {
                    event_type: "signature_request_sent".into(),
                    action: "Sent".into(),
                    at,
                    ip_address: None,
                    user_agent: None,
                })
                .into_iter()
                .collect();
            steps.extend(entries.iter().filter(|e| e.signature_id.as_deref() == Some(id)).filter_map(|e| {
                Some(AuditStep {
                    event_type: e.event_type.clone(),
                    action: action(&e.event_type)?.to_owned(),
                    at: e.at,
                    ip_address: e.ip_address.clone(),
                    user_agent: e.user_agent.clone(),
                })
            }));
            AuditSigner {
                signature_id: id.to_owned(),
                name: s.signer_name.clone(),
                email_address: s.signer_email_address.clone(),
                status_code: s.status_code.as_str().to_owned(),
                steps,
            }
        })
        .collect();
    AuditFacts {
        signature_request_id: request.id.as_str().to_owned(),
        title: request.body.title.clone(),
        test_mode: request.body.test_mode,
        sent_at,
        completed_at,
        documents,
        signers,
        events: entries,
        final_copy: request.options.final_copy.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lifecycle_event_a_signer_causes_has_an_audit_name() {
        for event in ["signature_request_viewed", "signature_request_signed", "signature_request_declined"] {
            assert!(action(event).is_some(), "{event}");
        }
        assert_eq!(action("callback_test"), None);
    }
}

//! The signature-request state machine: every change to a stored request is one method here, taking the
//! request as it is inside the store's transaction and returning what to commit with it (a
//! [`Transition`]: the events and the rows to write besides the object) or why not (a [`Refusal`]).
//! Handlers and jobs call `store.change_signature_request(&id, |r| r.cancel(&caller))`; no status
//! rule lives outside this module.
//!
//! The states (`RequestStatus`):
//!
//! ```text
//!  processing ──processed──► sent ──expire──► expired
//!      │  │                   │ │
//!      │  └──failed──► error  │ └──cancel──► canceled
//!      └──────cancel──────────┘
//!                            sent ──sign (the last signer)──► complete
//!                            sent ──decline──► declined
//!   (view and reassign keep the request sent; once complete, the `finalize` job stamps the values
//!    onto the documents and `signature_request_downloadable` follows)
//! ```

use countersign_callback::EventType;

use crate::ids::{AccountId, SignatureId, SignatureRequestId};
use crate::new_request::NewSignatureRequest;
pub use crate::signature_request::SignatureStatus;
use crate::signature_request::{
    FieldSpec, FinalCopy, ProcessingFailure, ProcessingOptions, RequestStatus, SignatureRequestBody,
};

/// The kinds of background job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Read the documents, place the fields, and send (or fail).
    ProcessDocuments,
    /// Expire the request once `expires_at` has passed.
    Expire,
    /// Send one stored e-mail over SMTP.
    SendEmail,
    /// Stamp the signers' values onto the documents of a completed request.
    Finalize,
    /// Read a template's documents and place its fields (`template_created` / `template_error`).
    ProcessTemplate,
    /// Turn a bulk send job's rows into signature requests, a batch per transaction.
    BulkSend,
}

impl JobKind {
    pub const ALL: [JobKind; 6] = [
        JobKind::ProcessDocuments,
        JobKind::Expire,
        JobKind::SendEmail,
        JobKind::Finalize,
        JobKind::ProcessTemplate,
        JobKind::BulkSend,
    ];

    /// The name stored in the `jobs` table.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProcessDocuments => "process_documents",
            Self::Expire => "expire",
            Self::SendEmail => "send_email",
            Self::Finalize => "finalize",
            Self::ProcessTemplate => "process_template",
            Self::BulkSend => "bulk_send",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// A stored signature request as a change sees it.
#[derive(Debug, Clone)]
pub struct SignatureRequest {
    pub id: SignatureRequestId,
    pub account_id: AccountId,
    pub client_id: Option<String>,
    pub is_embedded: bool,
    pub status: RequestStatus,
    pub removed: bool,
    pub body: SignatureRequestBody,
    pub options: ProcessingOptions,
}

/// What a change writes besides the object itself, in the same transaction.
#[derive(Debug, Default)]
pub struct Transition {
    /// Events to emit, each with the new object: (type, related signature id, message).
    pub events: Vec<(EventType, Option<SignatureId>, Option<String>)>,
    /// Replaces every field of the request.
    pub fields: Option<Vec<FieldSpec>>,
    /// Page sizes found per document: (document index, [[w, h], …]).
    pub pages: Vec<(i64, Vec<[f64; 2]>)>,
    /// A document's new bytes (already stored as a blob): (document index, SHA-256).
    pub replace_document: Option<(i64, String)>,
    /// A signer's new signature id: (old, new, email, name).
    pub replace_signer: Option<(SignatureId, SignatureId, String, String)>,
    /// Renamed signer: (signature id, email, name).
    pub rename_signer: Option<(SignatureId, String, String)>,
    /// Marks this job done.
    pub finish_job: Option<String>,
    /// Schedules a job at (unix ms), replacing a pending one of the same kind.
    pub schedule_job: Option<(JobKind, i64)>,
    pub options: Option<ProcessingOptions>,
    pub remove: bool,
    /// Signature images to keep: (signature id, image).
    pub signer_images: Vec<(SignatureId, SignerImage)>,
    /// E-mails to write with the change (`signer_mail::mailed` adds them).
    pub emails: Vec<Email>,
    /// Each document's final copy (already stored as a blob): (document index, SHA-256).
    pub final_documents: Vec<(i64, String)>,
    /// Who caused the change, for the audit trail (a signer's browser); the store writes one audit
    /// line per event of the change.
    pub client: Option<Client>,
}

impl Transition {
    /// The same change, recorded in the audit trail as caused by `client`.
    pub fn by(mut self, client: Client) -> Transition {
        self.client = Some(client);
        self
    }
}

/// The client behind a signer's action, as the audit trail records it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Client {
    pub ip_address: Option<String>,
    pub user_agent: Option<String>,
}

/// One e-mail to write with a change, sent by a `send_email` job (or kept in the outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub body: String,
    /// The signer it is for (a bounce is reported for them).
    pub signature_id: Option<SignatureId>,
}

/// Why a change was refused. The API maps each to Dropbox Sign's error name and status; jobs read the
/// ones that concern them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not the caller's (or no such request): answered as not found.
    NotFound,
    /// Already canceled (answered as gone).
    Canceled,
    /// Removed by its owner (answered as gone).
    Removed,
    CancelFailed(String),
    InvalidReminder(String),
    UpdateFailed(String),
    RemoveFailed(String),
    /// No signer of the request has the given `signature_id`.
    UnknownSignature,
    /// A job's work is moot: the request left the state the job was for.
    Moot,
    /// A job's work must wait: try again at (unix ms).
    NotYet(i64),
    /// A signer acted on a request that is not out for signature (or on their own finished signature).
    SignerClosed(String),
    /// A signer with an `order` acted before every earlier signer had signed.
    NotYourTurn,
    /// Decline or reassign on a request created without `allow_decline` / `allow_reassign`.
    NotAllowed(String),
    /// `release_hold` on a request that is not on hold.
    NotHeld(String),
    /// `unclaimed_draft/edit_and_resend` of a request that is not out for signature, or that a signer
    /// has signed already.
    NotResendable(String),
    /// `signature_request/edit*` of a request that cannot be edited (finished, signed by someone, or
    /// edited through the other kind of endpoint, embedded or not).
    NotEditable(String),
    /// A change that must wait until the request's documents are processed.
    StillProcessing,
}

/// One value a signer gave (a `response_data[]` entry of the object).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldResponse {
    pub api_id: String,
    pub name: String,
    /// The field type as Dropbox Sign names it (`text`, `checkbox`, `signature`, `date_signed`, …).
    pub field_type: String,
    pub required: bool,
    /// Text, a boolean for checkboxes, or null for a signature (its image is kept with the request).
    pub value: serde_json::Value,
}

/// A signature or initials image a signer made, kept with the request (for the final copy).
#[derive(Debug, Clone, PartialEq)]
pub struct SignerImage {
    pub api_id: String,
    pub png: Vec<u8>,
    /// The name the signer typed, when the signature was typed rather than drawn or uploaded: the final
    /// copy shows it as text (so it can be found and read), not as the picture.
    pub typed: Option<String>,
}

/// The least time between two reminders to one signer, in seconds.
pub const REMINDER_INTERVAL_SECS: i64 = 3600;

impl SignatureRequest {
    /// Whether `caller` may see and change this request: another account's is not found, a removed or
    /// canceled one is gone. Every change an API caller asks for begins here.
    pub fn visible_to(&self, caller: &AccountId) -> Result<(), Refusal> {
        if &self.account_id != caller {
            return Err(Refusal::NotFound);
        }
        if self.removed {
            return Err(Refusal::Removed);
        }
        if self.status == RequestStatus::Canceled {
            return Err(Refusal::Canceled);
        }
        Ok(())
    }

    /// `cancel`: allowed while processing or out for signature; the request is then gone (410).
    pub fn cancel(&mut self, caller: &AccountId) -> Result<Transition, Refusal> {
        self.visible_to(caller)?;
        match self.status {
            RequestStatus::Processing | RequestStatus::Sent | RequestStatus::OnHold => {}
            other => {
                return Err(Refusal::CancelFailed(format!(
                    "A signature request that {} cannot be canceled.",
                    other.describe()
                )));
            }
        }
        self.status = RequestStatus::Canceled;
        Ok(Transition { events: vec![(EventType::SignatureRequestCanceled, None, None)], ..Transition::default() })
    }

    /// Whether `unclaimed_draft/edit_and_resend` may replace this request: it is out for signature (or
    /// on hold) and no signer has signed, declined or had it expire yet; no signer has a PIN (PINs are
    /// kept only as digests tied to the signature, so a new request could not carry them).
    pub fn resendable(&self, caller: &AccountId) -> Result<(), Refusal> {
        self.visible_to(caller)?;
        let refuse = |why: &str| {
            Err(Refusal::NotResendable(format!("A signature request that {why} cannot be edited and resent.")))
        };
        if !matches!(self.status, RequestStatus::Sent | RequestStatus::OnHold) {
            return refuse(self.status.describe());
        }
        if self
            .body
            .signatures
            .iter()
            .any(|s| !matches!(s.status_code, SignatureStatus::AwaitingSignature | SignatureStatus::OnHold))
        {
            return refuse("a signer has acted on already");
        }
        if self.body.signatures.iter().any(|s| s.has_pin) {
            return refuse("has signers with a PIN");
        }
        Ok(())
    }

    /// The request an `edit_and_resend` draft replaces, when that draft is sent: canceled (with
    /// `signature_request_canceled`, as `cancel` does), provided it is still [`Self::resendable`].
    pub fn replace_by_resend(&mut self, caller: &AccountId) -> Result<Transition, Refusal> {
        self.resendable(caller)?;
        self.status = RequestStatus::Canceled;
        Ok(Transition { events: vec![(EventType::SignatureRequestCanceled, None, None)], ..Transition::default() })
    }

    /// `signature_request/edit*`: the request's content is replaced by `new` — parsed as a create is,
    /// under this request's id ([`NewSignatureRequest::keep_id`]) — and it is processed again: its
    /// signers get new signature ids (links to the old version stop working), and
    /// `signature_request_sent` fires again once it is out. Allowed while the request is out for
    /// signature, on hold or failed in processing, before any signer signed or declined, through the
    /// endpoint of its kind (embedded or not). The store replaces signers, documents, fields and jobs
    /// in the same transaction.
    pub fn edit(&mut self, caller: &AccountId, new: &NewSignatureRequest) -> Result<Transition, Refusal> {
        self.visible_to(caller)?;
        let refuse = |why: String| Err(Refusal::NotEditable(why));
        match self.status {
            RequestStatus::Sent | RequestStatus::OnHold | RequestStatus::Error => {}
            RequestStatus::Processing => return Err(Refusal::StillProcessing),
            other => return refuse(format!("A signature request that {} cannot be edited.", other.describe())),
        }
        if self
            .body
            .signatures
            .iter()
            .any(|s| matches!(s.status_code, SignatureStatus::Signed | SignatureStatus::Declined))
        {
            return refuse("A signature request that a signer has signed or declined cannot be edited.".into());
        }
        if self.is_embedded != new.is_embedded {
            return refuse(if self.is_embedded {
                "This signature request is for embedded signing: edit it with signature_request/edit_embedded or edit_embedded_with_template.".into()
            } else {
                "This signature request is not for embedded signing: edit it with signature_request/edit or edit_with_template.".into()
            });
        }
        debug_assert_eq!(new.body.signature_request_id, self.id, "an edit keeps the request's id");
        self.body = new.body.clone();
        self.options = new.options.clone();
        self.client_id = new.client_id.clone();
        self.status = RequestStatus::Processing;
        Ok(Transition::default())
    }

    /// `release_hold`: a held request goes out for signature (`signature_request_sent`; the signers'
    /// invitations follow when wrapped by `signer_mail::mailed`).
    pub fn release_hold(&mut self, caller: &AccountId) -> Result<Transition, Refusal> {
        self.visible_to(caller)?;
        if self.status != RequestStatus::OnHold {
            return Err(Refusal::NotHeld(format!(
                "A signature request that {} cannot be released: only a request on hold can.",
                self.status.describe()
            )));
        }
        self.status = RequestStatus::Sent;
        Ok(Transition { events: vec![(EventType::SignatureRequestSent, None, None)], ..Transition::default() })
    }

    /// `remind`: one signer (by e-mail address, and name when given) still awaiting, not for embedded
    /// requests, not within [`REMINDER_INTERVAL_SECS`] of the last reminder.
    pub fn remind(
        &mut self,
        caller: &AccountId,
        email: &str,
        name: Option<&str>,
        now: i64,
    ) -> Result<Transition, Refusal> {
        self.visible_to(caller)?;
        if self.is_embedded {
            return Err(Refusal::InvalidReminder("Reminders cannot be sent for embedded signature requests.".into()));
        }
        if self.status != RequestStatus::Sent {
            return Err(Refusal::InvalidReminder(format!(
                "A signature request that {} cannot be reminded.",
                self.status.describe()
            )));
        }
        let signature = self
            .body
            .signatures
            .iter_mut()
            .find(|s| {
                s.signer_email_address.eq_ignore_ascii_case(email)
                    && name.is_none_or(|n| n == s.signer_name)
                    && s.status_code == SignatureStatus::AwaitingSignature
            })
            .ok_or_else(|| {
                Refusal::InvalidReminder(format!("No signer of this request awaits a signature at {email}."))
            })?;
        if let Some(last) = signature.last_reminded_at
            && now - last < REMINDER_INTERVAL_SECS
        {
            return Err(Refusal::InvalidReminder("A reminder was sent less than an hour ago; try again later.".into()));
        }
        signature.last_reminded_at = Some(now);
        let related = Some(signature.signature_id.clone());
        Ok(Transition { events: vec![(EventType::SignatureRequestRemind, related, None)], ..Transition::default() })
    }

    /// `update`: a signer's e-mail address (a new address issues a new `signature_id`, so links made
    /// for the old one stop working) or name, and the request's expiry. `signature_id` is `None` when
    /// the caller's value has no id's shape, so names no signer.
    pub fn update_signer(
        &mut self,
        caller: &AccountId,
        signature_id: Option<&SignatureId>,
        email: Option<&str>,
        name: Option<&str>,
        expires_at: Option<i64>,
    ) -> Result<Transition, Refusal> {
        self.visible_to(caller)?;
        if !matches!(self.status, RequestStatus::Processing | RequestStatus::Sent) {
            return Err(Refusal::UpdateFailed(format!(
                "A signature request that {} cannot be updated.",
                self.status.describe()
            )));
        }
        let mut transition = Transition::default();
        let signature = signature_id.and_then(|id| self.body.signature_mut(id)).ok_or(Refusal::UnknownSignature)?;
        if signature.status_code != SignatureStatus::AwaitingSignature {
            return Err(Refusal::UpdateFailed("This signer has already acted on the request.".into()));
        }
        if let Some(name) = name {
            signature.signer_name = name.to_owned();
        }
        match email {
            Some(email) if !email.eq_ignore_ascii_case(&signature.signer_email_address) => {
                let new_id = SignatureId::generate();
                transition.replace_signer = Some((
                    signature.signature_id.clone(),
                    new_id.clone(),
                    email.to_owned(),
                    signature.signer_name.clone(),
                ));
                signature.signature_id = new_id;
                signature.signer_email_address = email.to_owned();
                // An access code was given to the person it was set for, not to the new address.
                signature.has_pin = false;
            }
            _ => {
                transition.rename_signer = Some((
                    signature.signature_id.clone(),
                    signature.signer_email_address.clone(),
                    signature.signer_name.clone(),
                ));
            }
        }
        if let Some(at) = expires_at {
            self.set_expiry(at, &mut transition);
        }
        Ok(transition)
    }

    /// Moves the expiry (and its job) to `at` (unix seconds).
    pub fn reschedule_expiry(&mut self, at: i64) -> Transition {
        let mut transition = Transition::default();
        self.set_expiry(at, &mut transition);
        transition
    }

    fn set_expiry(&mut self, at: i64, transition: &mut Transition) {
        self.body.expires_at = Some(at);
        transition.schedule_job = Some((JobKind::Expire, at * 1000));
    }

    /// `remove`: the caller loses access to a completed or declined request.
    pub fn remove(&mut self, caller: &AccountId) -> Result<Transition, Refusal> {
        self.visible_to(caller)?;
        if !matches!(self.status, RequestStatus::Complete | RequestStatus::Declined) {
            return Err(Refusal::RemoveFailed("Only a completed or declined signature request can be removed.".into()));
        }
        Ok(Transition {
            events: vec![(EventType::SignatureRequestDestroyed, None, None)],
            remove: true,
            ..Transition::default()
        })
    }

    /// The `expire` job at `now` (unix seconds): open signatures become `expired`. Moot when the expiry
    /// moved later or the request is no longer out; not yet while its documents are still processed.
    pub fn expire(&mut self, now: i64, job_id: &str) -> Result<Transition, Refusal> {
        match self.body.expires_at {
            Some(at) if at <= now => {}
            // Moved later by an update (which scheduled a new job) or removed.
            _ => return Err(Refusal::Moot),
        }
        match self.status {
            RequestStatus::Sent => {}
            RequestStatus::Processing => return Err(Refusal::NotYet(now * 1000 + 60_000)),
            _ => return Err(Refusal::Moot),
        }
        self.status = RequestStatus::Expired;
        self.set_open_signatures(SignatureStatus::Expired);
        Ok(Transition {
            events: vec![(EventType::SignatureRequestExpired, None, None)],
            finish_job: Some(job_id.to_owned()),
            ..Transition::default()
        })
    }

    /// The documents were read and the fields placed: the request is out for signature.
    pub fn processed(
        &mut self,
        fields: Vec<FieldSpec>,
        pages: Vec<(i64, Vec<[f64; 2]>)>,
        replace_document: Option<(i64, String)>,
        appended_signature_page: bool,
        job_id: &str,
    ) -> Result<Transition, Refusal> {
        if self.status != RequestStatus::Processing {
            return Err(Refusal::Moot);
        }
        // A held request is prepared, not sent: its signers hear of it when it is released.
        let event = if self.options.hold {
            self.status = RequestStatus::OnHold;
            EventType::SignatureRequestPrepared
        } else {
            self.status = RequestStatus::Sent;
            EventType::SignatureRequestSent
        };
        let mut options = self.options.clone();
        options.appended_signature_page = appended_signature_page;
        Ok(Transition {
            events: vec![(event, None, None)],
            fields: Some(fields),
            pages,
            replace_document,
            finish_job: Some(job_id.to_owned()),
            options: Some(options),
            ..Transition::default()
        })
    }

    /// The documents could not be processed: status `error`, `has_error`, every signature's
    /// `status_code`, the failure's event with its message, and no fields.
    pub fn failed(&mut self, failure: &ProcessingFailure, job_id: &str) -> Result<Transition, Refusal> {
        if self.status != RequestStatus::Processing {
            return Err(Refusal::Moot);
        }
        self.status = RequestStatus::Error;
        self.body.fail(failure.status_code(), failure.message());
        Ok(Transition {
            events: vec![(failure.event_type(), None, Some(failure.message().to_owned()))],
            fields: Some(Vec::new()),
            finish_job: Some(job_id.to_owned()),
            ..Transition::default()
        })
    }

    /// The signers who may act now: the request is out for signature, their signature is open, and
    /// every signer ordered before them has signed.
    pub fn actionable_signers(&self) -> Vec<SignatureId> {
        if self.status != RequestStatus::Sent {
            return Vec::new();
        }
        self.body
            .signatures
            .iter()
            .filter(|s| s.status_code.is_open() && self.acting_signer(&s.signature_id).is_ok())
            .map(|s| s.signature_id.clone())
            .collect()
    }

    /// The signer with `signature_id`, if they may act now: the request is out for signature, their
    /// signature is open, and (with `order`) every signer ordered before them has signed.
    fn acting_signer(&self, signature_id: &SignatureId) -> Result<usize, Refusal> {
        if self.status != RequestStatus::Sent {
            return Err(Refusal::SignerClosed(format!("This signature request {}.", self.status.describe())));
        }
        let index = self
            .body
            .signatures
            .iter()
            .position(|s| &s.signature_id == signature_id)
            .ok_or(Refusal::UnknownSignature)?;
        let signer = &self.body.signatures[index];
        if !signer.status_code.is_open() {
            return Err(Refusal::SignerClosed("This signer has already signed or declined.".into()));
        }
        if let Some(order) = signer.order {
            let waiting = self
                .body
                .signatures
                .iter()
                .any(|s| s.order.is_some_and(|o| o < order) && s.status_code != SignatureStatus::Signed);
            if waiting {
                return Err(Refusal::NotYourTurn);
            }
        }
        Ok(index)
    }

    /// A signer opened the request (`now` in unix seconds): `last_viewed_at` moves on every open,
    /// `signature_request_viewed` fires on the first.
    pub fn view(&mut self, signature_id: &SignatureId, now: i64) -> Result<Transition, Refusal> {
        let index = self.acting_signer(signature_id)?;
        let signer = &mut self.body.signatures[index];
        let first = signer.last_viewed_at.is_none();
        signer.last_viewed_at = Some(now);
        let events = if first {
            vec![(EventType::SignatureRequestViewed, Some(signature_id.clone()), None)]
        } else {
            Vec::new()
        };
        Ok(Transition { events, ..Transition::default() })
    }

    /// A signer completed their fields: `signed`, their values in `response_data`, and
    /// `signature_request_signed`; when they were the last, the request is complete and
    /// `signature_request_all_signed` follows in the same commit.
    pub fn sign(
        &mut self,
        signature_id: &SignatureId,
        responses: Vec<FieldResponse>,
        images: Vec<SignerImage>,
        now: i64,
    ) -> Result<Transition, Refusal> {
        let index = self.acting_signer(signature_id)?;
        let signer = &mut self.body.signatures[index];
        signer.status_code = SignatureStatus::Signed;
        signer.signed_at = Some(now);
        signer.last_viewed_at.get_or_insert(now);
        let signer_name = signer.signer_name.clone();
        for r in responses {
            let mut entry = serde_json::json!({
                "api_id": r.api_id,
                "signature_id": signature_id,
                "name": r.name,
                "required": r.required,
                "type": r.field_type,
                "value": r.value,
            });
            if matches!(r.field_type.as_str(), "signature" | "initials") {
                // As Dropbox Sign shows a signature: the signer's name as its value (the SDKs type it a
                // string), and whether it was signed.
                entry["value"] = serde_json::Value::String(signer_name.clone());
                entry["is_signed"] = serde_json::Value::Bool(true);
            }
            self.body.response_data.push(entry);
        }
        let mut events = vec![(EventType::SignatureRequestSigned, Some(signature_id.clone()), None)];
        let mut schedule_job = None;
        if self.body.signatures.iter().all(|s| s.status_code == SignatureStatus::Signed) {
            self.status = RequestStatus::Complete;
            self.body.is_complete = true;
            events.push((EventType::SignatureRequestAllSigned, None, None));
            schedule_job = Some((JobKind::Finalize, now * 1000));
        }
        let signer_images = images.into_iter().map(|image| (signature_id.clone(), image)).collect();
        Ok(Transition { events, signer_images, schedule_job, ..Transition::default() })
    }

    /// A signer declined with `reason` (only when the request allows it): the request is declined,
    /// `event_message` carries the reason.
    pub fn decline(&mut self, signature_id: &SignatureId, reason: &str) -> Result<Transition, Refusal> {
        if !self.body.allow_decline {
            return Err(Refusal::NotAllowed("This signature request does not allow declining.".into()));
        }
        let index = self.acting_signer(signature_id)?;
        let signer = &mut self.body.signatures[index];
        signer.status_code = SignatureStatus::Declined;
        signer.decline_reason = Some(reason.to_owned());
        self.status = RequestStatus::Declined;
        self.body.is_declined = true;
        Ok(Transition {
            events: vec![(EventType::SignatureRequestDeclined, Some(signature_id.clone()), Some(reason.to_owned()))],
            ..Transition::default()
        })
    }

    /// A signer handed their signature to someone else (only when the request allows it): the new
    /// signer gets a new `signature_id` with `reassigned_by`, `reassigned_from` and the reason.
    pub fn reassign(
        &mut self,
        signature_id: &SignatureId,
        email: &str,
        name: &str,
        reason: Option<&str>,
    ) -> Result<Transition, Refusal> {
        if !self.body.allow_reassign {
            return Err(Refusal::NotAllowed("This signature request does not allow reassigning.".into()));
        }
        let index = self.acting_signer(signature_id)?;
        let signer = &mut self.body.signatures[index];
        if signer.signer_email_address.eq_ignore_ascii_case(email) {
            return Err(Refusal::NotAllowed("A signature cannot be reassigned to the same signer.".into()));
        }
        let new_id = SignatureId::generate();
        let replace = (signer.signature_id.clone(), new_id.clone(), email.to_owned(), name.to_owned());
        signer.reassigned_by = Some(signer.signer_email_address.clone());
        signer.reassigned_from = Some(signer.signature_id.as_str().to_owned());
        signer.reassignment_reason = reason.map(str::to_owned);
        signer.signature_id = new_id.clone();
        signer.signer_email_address = email.to_owned();
        signer.signer_name = name.to_owned();
        signer.last_viewed_at = None;
        // An access code was given to the person it was set for, not to whom they hand the signature.
        signer.has_pin = false;
        Ok(Transition {
            events: vec![(EventType::SignatureRequestReassigned, Some(new_id), None)],
            replace_signer: Some(replace),
            ..Transition::default()
        })
    }

    /// A signer opened a link that no longer opens anything (expired, already used, or the request
    /// closed): `sign_url_invalid` for that signer; nothing else changes.
    pub fn sign_url_invalid(&mut self, signature_id: &SignatureId) -> Transition {
        Transition {
            events: vec![(EventType::SignUrlInvalid, Some(signature_id.clone()), None)],
            ..Transition::default()
        }
    }

    /// The SMTP server refused a signer's e-mail for good: `signature_request_email_bounce` for that
    /// signer (the sender fixes the address with `update`).
    pub fn email_bounced(&mut self, signature_id: &SignatureId) -> Transition {
        Transition {
            events: vec![(EventType::SignatureRequestEmailBounce, Some(signature_id.clone()), None)],
            ..Transition::default()
        }
    }

    /// The signer's position in `signatures[]` (what fields name as their signer).
    pub fn signer_index(&self, signature_id: &SignatureId) -> Option<i64> {
        self.body.signatures.iter().position(|s| &s.signature_id == signature_id).map(|i| i as i64)
    }

    /// The `finalize` job sealed the final copy: `files` now serves it, and
    /// `signature_request_downloadable` follows `signature_request_all_signed`.
    pub fn finalized(&mut self, final_copy: FinalCopy, job_id: &str) -> Result<Transition, Refusal> {
        if self.status != RequestStatus::Complete || self.options.finalized {
            return Err(Refusal::Moot);
        }
        let final_documents = final_copy.documents.iter().map(|d| (d.document_index, d.sha256.clone())).collect();
        // The store writes the request's options as changed here.
        self.options.finalized = true;
        self.options.final_copy = Some(final_copy);
        Ok(Transition {
            events: vec![(EventType::SignatureRequestDownloadable, None, None)],
            final_documents,
            finish_job: Some(job_id.to_owned()),
            ..Transition::default()
        })
    }

    /// The `finalize` job gave up: `unknown_error` with the reason, so the request never waits silently;
    /// `files` then says the signed copy could not be made.
    pub fn finalize_failed(&mut self, message: &str, job_id: &str) -> Result<Transition, Refusal> {
        if self.status != RequestStatus::Complete || self.options.finalized {
            return Err(Refusal::Moot);
        }
        self.options.finalize_error = Some(message.to_owned());
        Ok(Transition {
            events: vec![(EventType::UnknownError, None, Some(message.to_owned()))],
            finish_job: Some(job_id.to_owned()),
            ..Transition::default()
        })
    }

    /// Marks every signature still open with `status`.
    fn set_open_signatures(&mut self, status: SignatureStatus) {
        for s in &mut self.body.signatures {
            if s.status_code.is_open() {
                s.status_code = status;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature_request::search_tests::body;

    fn request(status: RequestStatus) -> SignatureRequest {
        SignatureRequest {
            id: SignatureRequestId::from_trusted("a".repeat(40)),
            account_id: AccountId::from_trusted("1".repeat(40)),
            client_id: None,
            is_embedded: false,
            status,
            removed: false,
            body: body(),
            options: ProcessingOptions {
                use_text_tags: true,
                hide_text_tags: false,
                form_fields_per_document: Vec::new(),
                custom_fields: Vec::new(),
                appended_signature_page: false,
                ..ProcessingOptions::default()
            },
        }
    }

    const SIGNATURE_HEX: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    fn signature() -> SignatureId {
        SignatureId::from_trusted(SIGNATURE_HEX.to_owned())
    }

    fn owner() -> AccountId {
        AccountId::from_trusted("1".repeat(40))
    }

    #[test]
    fn another_accounts_request_is_not_found_and_a_removed_or_canceled_one_is_gone() {
        let stranger = AccountId::from_trusted("2".repeat(40));
        let mut r = request(RequestStatus::Sent);
        assert_eq!(r.remind(&stranger, "jill@example.com", None, 1).unwrap_err(), Refusal::NotFound);
        assert_eq!(
            r.update_signer(&stranger, Some(&signature()), None, Some("n"), None).unwrap_err(),
            Refusal::NotFound
        );
        let mut removed = request(RequestStatus::Complete);
        removed.removed = true;
        assert_eq!(removed.remove(&owner()).unwrap_err(), Refusal::Removed);
        assert_eq!(removed.cancel(&owner()).unwrap_err(), Refusal::Removed);
        let mut canceled = request(RequestStatus::Canceled);
        assert_eq!(canceled.remind(&owner(), "jill@example.com", None, 1).unwrap_err(), Refusal::Canceled);
        assert_eq!(canceled.visible_to(&stranger).unwrap_err(), Refusal::NotFound, "not found before gone");
    }

    #[test]
    fn a_held_request_is_prepared_then_released_once() {
        let mut r = request(RequestStatus::Processing);
        r.options.hold = true;
        let prepared = r.processed(Vec::new(), Vec::new(), None, false, "job").unwrap();
        assert_eq!(prepared.events[0].0, EventType::SignatureRequestPrepared);
        assert_eq!(r.status, RequestStatus::OnHold);
        assert!(r.actionable_signers().is_empty(), "nobody is invited while it is held");
        let stranger = AccountId::from_trusted("2".repeat(40));
        assert_eq!(r.release_hold(&stranger).unwrap_err(), Refusal::NotFound);
        let released = r.release_hold(&owner()).unwrap();
        assert_eq!(released.events[0].0, EventType::SignatureRequestSent);
        assert_eq!(r.status, RequestStatus::Sent);
        assert!(matches!(r.release_hold(&owner()), Err(Refusal::NotHeld(_))));
    }

    /// What an edit of `r` brings: another title, the same kind of request, under `r`'s id.
    fn edition_of(r: &SignatureRequest, embedded: bool) -> NewSignatureRequest {
        let mut body = body();
        body.signature_request_id = r.id.clone();
        body.title = "Second version".into();
        NewSignatureRequest {
            account_id: r.account_id.clone(),
            client_id: embedded.then(|| "c".repeat(32)),
            is_embedded: embedded,
            body,
            options: ProcessingOptions::default(),
            documents: Vec::new(),
            pins: Vec::new(),
        }
    }

    #[test]
    fn an_edit_replaces_a_request_no_signer_acted_on_through_its_own_kind_of_endpoint() {
        let stranger = AccountId::from_trusted("2".repeat(40));
        let mut r = request(RequestStatus::Sent);
        let new = edition_of(&r, false);
        assert_eq!(r.edit(&stranger, &new).unwrap_err(), Refusal::NotFound);
        assert_eq!(request(RequestStatus::Processing).edit(&owner(), &new).unwrap_err(), Refusal::StillProcessing);
        for status in [RequestStatus::Complete, RequestStatus::Declined, RequestStatus::Expired] {
            assert!(matches!(request(status).edit(&owner(), &new), Err(Refusal::NotEditable(_))), "{status:?}");
        }
        assert_eq!(request(RequestStatus::Canceled).edit(&owner(), &new).unwrap_err(), Refusal::Canceled);
        let mut signed = request(RequestStatus::Sent);
        signed.body.signatures[0].status_code = SignatureStatus::Signed;
        assert!(matches!(signed.edit(&owner(), &new), Err(Refusal::NotEditable(m)) if m.contains("signed")));
        assert_eq!(signed.status, RequestStatus::Sent, "a refused edit changes nothing");
        let embedded = edition_of(&r, true);
        assert!(matches!(r.edit(&owner(), &embedded), Err(Refusal::NotEditable(m)) if m.contains("not for embedded")));
        let t = r.edit(&owner(), &new).unwrap();
        assert!(t.events.is_empty(), "signature_request_sent follows when the new version is processed");
        assert_eq!((r.status, r.body.title.as_str()), (RequestStatus::Processing, "Second version"));
        assert_eq!(r.edit(&owner(), &new).unwrap_err(), Refusal::StillProcessing);
        // A request whose documents failed can be edited into one that works.
        assert!(request(RequestStatus::Error).edit(&owner(), &new).is_ok());
    }

    #[test]
    fn edit_and_resend_replaces_only_requests_no_signer_acted_on() {
        let owner = AccountId::from_trusted("1".repeat(40));
        let mut r = request(RequestStatus::Sent);
        assert!(r.body.signatures.iter().all(|s| !s.has_pin));
        assert_eq!(r.resendable(&AccountId::from_trusted("2".repeat(40))).unwrap_err(), Refusal::NotFound);
        for status in [RequestStatus::Processing, RequestStatus::Complete, RequestStatus::Error] {
            assert!(matches!(request(status).resendable(&owner), Err(Refusal::NotResendable(_))), "{status:?}");
        }
        let mut signed = request(RequestStatus::Sent);
        signed.body.signatures[0].status_code = SignatureStatus::Signed;
        assert!(matches!(signed.resendable(&owner), Err(Refusal::NotResendable(m)) if m.contains("acted on")));
        let mut pinned = request(RequestStatus::Sent);
        pinned.body.signatures[0].has_pin = true;
        assert!(matches!(pinned.resendable(&owner), Err(Refusal::NotResendable(m)) if m.contains("PIN")));
        assert!(request(RequestStatus::OnHold).resendable(&owner).is_ok());
        let t = r.replace_by_resend(&owner).unwrap();
        assert_eq!((r.status, t.events[0].0), (RequestStatus::Canceled, EventType::SignatureRequestCanceled));
        assert_eq!(r.replace_by_resend(&owner).unwrap_err(), Refusal::Canceled);
    }

    #[test]
    fn cancel_is_for_open_requests_of_the_caller() {
        let owner = AccountId::from_trusted("1".repeat(40));
        let mut r = request(RequestStatus::Sent);
        assert_eq!(r.cancel(&AccountId::from_trusted("2".repeat(40))).unwrap_err(), Refusal::NotFound);
        let t = r.cancel(&owner).unwrap();
        assert_eq!(r.status, RequestStatus::Canceled);
        assert_eq!(t.events[0].0, EventType::SignatureRequestCanceled);
        assert_eq!(r.cancel(&owner).unwrap_err(), Refusal::Canceled);
        let mut done = request(RequestStatus::Complete);
        assert!(matches!(done.cancel(&owner), Err(Refusal::CancelFailed(m)) if m.contains("is complete")));
        assert!(request(RequestStatus::Processing).cancel(&owner).is_ok(), "allowed while processing");
    }

    #[test]
    fn reminders_need_a_waiting_signer_and_an_hour_between_them() {
        let mut r = request(RequestStatus::Sent);
        let t = r.remind(&owner(), "JILL@example.com", None, 10_000).unwrap();
        assert_eq!(t.events[0], (EventType::SignatureRequestRemind, Some(signature()), None));
        assert!(
            matches!(r.remind(&owner(), "jill@example.com", None, 10_000 + 3599), Err(Refusal::InvalidReminder(m)) if m.contains("hour"))
        );
        assert!(r.remind(&owner(), "jill@example.com", None, 10_000 + 3600).is_ok());
        assert!(matches!(r.remind(&owner(), "nobody@example.com", None, 99_999), Err(Refusal::InvalidReminder(_))));
        assert!(
            r.remind(&owner(), "jill@example.com", Some("Someone Else"), 99_999).is_err(),
            "the name must match when given"
        );
        let mut failed = request(RequestStatus::Error);
        assert!(
            matches!(failed.remind(&owner(), "jill@example.com", None, 1), Err(Refusal::InvalidReminder(m)) if m.contains("failed processing"))
        );
        let mut embedded = request(RequestStatus::Sent);
        embedded.is_embedded = true;
        assert!(embedded.remind(&owner(), "jill@example.com", None, 1).is_err());
    }

    #[test]
    fn a_new_address_issues_a_new_signature_id_and_a_name_only_renames() {
        let mut r = request(RequestStatus::Sent);
        let t = r.update_signer(&owner(), Some(&signature()), None, Some("Jill Z."), None).unwrap();
        assert_eq!(t.rename_signer.unwrap().2, "Jill Z.");
        let t = r.update_signer(&owner(), Some(&signature()), Some("new@example.com"), None, Some(5_000)).unwrap();
        let (old, new, email, _) = t.replace_signer.unwrap();
        assert_eq!((old.as_str(), email.as_str()), (SIGNATURE_HEX, "new@example.com"));
        assert_eq!(r.body.signatures[0].signature_id, new);
        assert_eq!(t.schedule_job, Some((JobKind::Expire, 5_000_000)));
        assert_eq!(
            r.update_signer(&owner(), Some(&signature()), Some("x@example.com"), None, None).unwrap_err(),
            Refusal::UnknownSignature
        );
        assert!(matches!(
            request(RequestStatus::Expired).update_signer(&owner(), Some(&signature()), None, Some("n"), None),
            Err(Refusal::UpdateFailed(_))
        ));
    }

    #[test]
    fn jobs_act_only_in_the_state_they_were_for() {
        let failure = ProcessingFailure::File("bad".into());
        let mut sent = request(RequestStatus::Sent);
        assert_eq!(
            sent.failed(&failure, "j").unwrap_err(),
            Refusal::Moot,
            "a result after a cancel or a retry is moot"
        );
        assert_eq!(sent.processed(Vec::new(), Vec::new(), None, false, "j").unwrap_err(), Refusal::Moot);
        let mut processing = request(RequestStatus::Processing);
        let t = processing.failed(&failure, "j").unwrap();
        assert_eq!(processing.status, RequestStatus::Error);
        assert!(processing.body.has_error);
        assert_eq!(processing.body.signatures[0].status_code, SignatureStatus::ErrorFile);
        assert_eq!(t.finish_job.as_deref(), Some("j"));
        assert_eq!(t.fields, Some(Vec::new()), "a failed request keeps no fields");

        let mut expiring = request(RequestStatus::Sent);
        expiring.body.expires_at = Some(100);
        assert_eq!(expiring.expire(99, "j").unwrap_err(), Refusal::Moot, "moved later");
        expiring.expire(100, "j").unwrap();
        assert_eq!(expiring.status, RequestStatus::Expired);
        assert_eq!(expiring.body.signatures[0].status_code, SignatureStatus::Expired);
        let mut early = request(RequestStatus::Processing);
        early.body.expires_at = Some(100);
        assert_eq!(early.expire(200, "j").unwrap_err(), Refusal::NotYet(260_000));
    }

    fn two_signers(first_order: Option<i64>, second_order: Option<i64>) -> SignatureRequest {
        let mut r = request(RequestStatus::Sent);
        let mut second = r.body.signatures[0].clone();
        second.signature_id = SignatureId::from_trusted("c".repeat(32));
        second.signer_email_address = "jack@example.com".into();
        r.body.signatures[0].order = first_order;
        second.order = second_order;
        r.body.signatures.push(second);
        r
    }

    fn jack() -> SignatureId {
        SignatureId::from_trusted("c".repeat(32))
    }

    #[test]
    fn the_first_view_fires_viewed_and_later_ones_only_move_last_viewed_at() {
        let mut r = request(RequestStatus::Sent);
        let t = r.view(&signature(), 100).unwrap();
        assert_eq!(t.events, vec![(EventType::SignatureRequestViewed, Some(signature()), None)]);
        assert!(r.view(&signature(), 200).unwrap().events.is_empty());
        assert_eq!(r.body.signatures[0].last_viewed_at, Some(200));
        let closed = Refusal::SignerClosed("This signature request is still being processed.".into());
        assert_eq!(request(RequestStatus::Processing).view(&signature(), 1).unwrap_err(), closed);
        assert_eq!(r.view(&jack(), 1).unwrap_err(), Refusal::UnknownSignature);
    }

    #[test]
    fn each_signature_fires_signed_and_the_last_completes_the_request() {
        let mut r = two_signers(None, None);
        let value = FieldResponse {
            api_id: "f1".into(),
            name: "Company".into(),
            field_type: "text".into(),
            required: true,
            value: serde_json::json!("ACME"),
        };
        let t = r.sign(&jack(), vec![value], Vec::new(), 300).unwrap();
        assert_eq!(t.events, vec![(EventType::SignatureRequestSigned, Some(jack()), None)]);
        assert_eq!(r.status, RequestStatus::Sent);
        assert_eq!(r.body.response_data[0]["signature_id"], jack().as_str());
        assert_eq!(r.body.response_data[0]["value"], "ACME");
        assert!(matches!(r.sign(&jack(), Vec::new(), Vec::new(), 301), Err(Refusal::SignerClosed(_))), "signs once");
        let t = r.sign(&signature(), Vec::new(), Vec::new(), 400).unwrap();
        let kinds: Vec<EventType> = t.events.iter().map(|e| e.0).collect();
        assert_eq!(kinds, vec![EventType::SignatureRequestSigned, EventType::SignatureRequestAllSigned]);
        assert_eq!((r.status, r.body.is_complete), (RequestStatus::Complete, true));
        assert_eq!(r.body.signatures[0].signed_at, Some(400));
    }

    #[test]
    fn ordered_signers_wait_their_turn() {
        let mut r = two_signers(Some(1), Some(0));
        assert_eq!(r.sign(&signature(), Vec::new(), Vec::new(), 1).unwrap_err(), Refusal::NotYourTurn);
        assert_eq!(r.view(&signature(), 1).unwrap_err(), Refusal::NotYourTurn);
        r.sign(&jack(), Vec::new(), Vec::new(), 2).unwrap();
        assert!(r.sign(&signature(), Vec::new(), Vec::new(), 3).is_ok());
    }

    #[test]
    fn decline_and_reassign_need_the_requests_permission() {
        let mut r = two_signers(None, None);
        assert!(matches!(r.decline(&jack(), "no"), Err(Refusal::NotAllowed(_))));
        assert!(matches!(r.reassign(&jack(), "jo@example.com", "Jo", None), Err(Refusal::NotAllowed(_))));
        r.body.allow_decline = true;
        r.body.allow_reassign = true;
        let t = r.reassign(&jack(), "jo@example.com", "Jo", Some("on leave")).unwrap();
        let (old, new, email, _) = t.replace_signer.clone().unwrap();
        assert_eq!((old, email.as_str()), (jack(), "jo@example.com"));
        assert_eq!(t.events, vec![(EventType::SignatureRequestReassigned, Some(new.clone()), None)]);
        let moved = &r.body.signatures[1];
        assert_eq!(moved.reassigned_from.as_deref(), Some(jack().as_str()));
        assert_eq!(moved.reassigned_by.as_deref(), Some("jack@example.com"));
        assert_eq!(moved.reassignment_reason.as_deref(), Some("on leave"));
        let t = r.decline(&new, "wrong contract").unwrap();
        assert_eq!(t.events[0], (EventType::SignatureRequestDeclined, Some(new), Some("wrong contract".into())));
        assert_eq!((r.status, r.body.is_declined), (RequestStatus::Declined, true));
        assert!(
            matches!(r.sign(&signature(), Vec::new(), Vec::new(), 5), Err(Refusal::SignerClosed(_))),
            "declined is final"
        );
    }

    #[test]
    fn only_finished_requests_are_removed() {
        let t = request(RequestStatus::Complete).remove(&owner()).unwrap();
        assert!(t.remove);
        assert_eq!(t.events[0].0, EventType::SignatureRequestDestroyed);
        assert!(request(RequestStatus::Declined).remove(&owner()).is_ok());
        assert!(matches!(request(RequestStatus::Sent).remove(&owner()), Err(Refusal::RemoveFailed(_))));
    }

    #[test]
    fn job_kinds_and_signature_states_round_trip_their_names() {
        for kind in JobKind::ALL {
            assert_eq!(JobKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(SignatureStatus::of("awaiting_signature"), Some(SignatureStatus::AwaitingSignature));
        assert_eq!(SignatureStatus::of("nonsense"), None);
    }
}

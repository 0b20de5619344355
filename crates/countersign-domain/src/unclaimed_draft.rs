//! Unclaimed drafts (embedded requesting): `unclaimed_draft/create` and `create_embedded` keep the
//! documents and everything else the caller gave, and answer with a `claim_url` where the requester
//! places the fields and sends. A draft is kept as a hidden template whose signer roles are the
//! draft's signers (so text tags, `form_fields_per_document`, the editor and
//! [`crate::template::request_from_templates`] all work on it unchanged) and whose options carry the
//! [`PendingRequest`]; claiming it turns it into an ordinary signature request.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::InvalidInput;
use crate::ids::TemplateId;
use crate::lifecycle::SignatureRequest;
use crate::new_request::{FileInput, NewSignatureRequest, Notice, RequestInput, Requester, SignerInput};
use crate::signature_request::{DocumentLimits, FieldSpec};
use crate::template::{
    NewTemplate, Overlay, RoleCc, RoleSigner, SignerRole, Template, TemplateBody, TemplateOptions,
    request_from_templates,
};

/// `type`: a file the requester sends for signature, or a signature request ready but for its fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftKind {
    SendDocument,
    #[default]
    RequestSignature,
}

impl DraftKind {
    pub fn parse(raw: Option<&str>) -> Result<Self, InvalidInput> {
        match raw.map(str::trim).filter(|t| !t.is_empty()) {
            None => Ok(Self::RequestSignature),
            Some("request_signature") => Ok(Self::RequestSignature),
            Some("send_document") => Ok(Self::SendDocument),
            Some(other) => {
                Err(InvalidInput::new("type", format!("type {other:?} is not send_document or request_signature")))
            }
        }
    }
}

/// A signer as the draft keeps it until it is claimed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PendingSigner {
    pub name: String,
    pub email_address: String,
    pub order: Option<u32>,
    pub pin: Option<String>,
}

/// What the signature request made from a draft will be, but for its fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PendingRequest {
    pub kind: DraftKind,
    /// Made with `create_embedded` (its claim page opens inside the app's pages).
    pub embedded: bool,
    /// The request made at the claim is signed in the app (embedded sign URLs), not from e-mails.
    pub for_embedded_signing: bool,
    pub requester_email_address: Option<String>,
    pub signers: Vec<PendingSigner>,
    pub cc_email_addresses: Vec<String>,
    pub title: Option<String>,
    pub subject: Option<String>,
    pub message: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    pub test_mode: bool,
    pub allow_decline: Option<bool>,
    pub allow_reassign: Option<bool>,
    pub signing_redirect_url: Option<String>,
    pub requesting_redirect_url: Option<String>,
    pub expires_at: Option<u32>,
    pub custom_fields: Vec<Value>,
    pub signing_options: Option<Value>,
    /// The request its claim made, once claimed (a claim_url then opens nothing).
    pub signature_request_id: Option<String>,
    /// `hold_request`: the request made at the claim waits for `release_hold` once processed.
    pub hold: bool,
    /// The requester may add, change and remove signers on the claim page: a draft made without
    /// signers, or with `editor_options[allow_edit_signers]` / `force_signer_page`.
    pub edit_signers: bool,
    /// `unclaimed_draft/edit_and_resend`: the signature request the claim replaces (canceled in the
    /// claim's transaction).
    pub replaces: Option<String>,
}

/// `unclaimed_draft/create*` as the caller sent it.
#[derive(Debug, Clone, Default)]
pub struct DraftInput {
    pub kind: Option<String>,
    pub hold_request: bool,
    pub request: RequestInput,
    pub requester_email_address: Option<String>,
    pub requesting_redirect_url: Option<String>,
    /// `editor_options[allow_edit_signers]` or `force_signer_page`.
    pub edit_signers: bool,
}

/// A signer as the claim page sends it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct ClaimSigner {
    pub name: String,
    pub email_address: String,
}

/// A request's signers as a draft keeps them (`pin_of` an address: the PIN given for it).
fn pending_signers(
    signatures: &[crate::signature_request::Signature],
    pin_of: impl Fn(&str) -> Option<String>,
) -> Vec<PendingSigner> {
    signatures
        .iter()
        .map(|s| PendingSigner {
            name: s.signer_name.clone(),
            email_address: s.signer_email_address.clone(),
            order: s.order.and_then(|o| u32::try_from(o).ok()),
            pin: pin_of(&s.signer_email_address),
        })
        .collect()
}

/// Signer roles named after a draft's signers, in their order.
fn roles_of(signers: &[PendingSigner]) -> Vec<SignerRole> {
    let mut roles: Vec<SignerRole> = Vec::with_capacity(signers.len());
    for s in signers {
        let name = role_name(s, &roles);
        roles.push(SignerRole { name, order: s.order.map(i64::from) });
    }
    roles
}

/// A draft's fields when they come placed (from templates or a request): no text tags to read.
fn placed_fields(field_groups: Vec<crate::signature_request::FieldGroup>) -> TemplateOptions {
    TemplateOptions {
        use_text_tags: false,
        form_fields_per_document: Vec::new(),
        field_groups,
        overlay: None,
        unclaimed: None,
    }
}

/// The hidden template that keeps a draft: its signer roles are the draft's signers, its CC roles the
/// draft's CCs, its options `options` with the pending request.
fn keep_draft(
    pending: PendingRequest,
    title: String,
    allow_reassign: bool,
    mut options: TemplateOptions,
    documents: Vec<crate::new_request::NewDocument>,
    by: &Requester<'_>,
) -> NewTemplate {
    let body = TemplateBody {
        template_id: TemplateId::generate(),
        title,
        subject: pending.subject.clone().filter(|s| !s.trim().is_empty()),
        message: pending.message.clone().filter(|m| !m.trim().is_empty()),
        metadata: Map::new(),
        signer_roles: roles_of(&pending.signers),
        cc_roles: pending.cc_email_addresses.clone(),
        merge_fields: Vec::new(),
        is_embedded: pending.embedded,
        test_mode: pending.test_mode,
        allow_reassign,
        created_at: by.now,
        updated_at: by.now,
    };
    options.unclaimed = Some(pending);
    NewTemplate {
        account_id: by.account_id.clone(),
        client_id: by.client_id.as_ref().map(|c| c.as_str().to_owned()),
        body,
        options,
        documents,
    }
}

/// A signer role's name for a draft's signer: their name and address (unique within the draft).
fn role_name(signer: &PendingSigner, taken: &[SignerRole]) -> String {
    let base = format!("{} <{}>", signer.name, signer.email_address);
    let mut name = base.clone();
    let mut n = 2;
    while taken.iter().any(|r| r.name == name) {
        name = format!("{base} #{n}");
        n += 1;
    }
    name
}

impl PendingRequest {
    /// The request input of the claim (everything but the documents, which are the draft's).
    fn input(&self) -> RequestInput {
        RequestInput {
            title: self.title.clone(),
            subject: self.subject.clone(),
            message: self.message.clone(),
            metadata: self.metadata.clone(),
            test_mode: Some(self.test_mode),
            allow_decline: self.allow_decline,
            allow_reassign: self.allow_reassign,
            signing_redirect_url: self.signing_redirect_url.clone(),
            expires_at: self.expires_at,
            signing_options: self.signing_options.clone(),
            ..RequestInput::default()
        }
    }
}

/// Checks a draft the way the request it becomes will be checked (signers, lengths, metadata, expiry,
/// files), and returns the hidden template that keeps it.
pub fn new_draft(
    input: DraftInput,
    by: &Requester<'_>,
    embedded: bool,
) -> Result<(NewTemplate, Vec<Notice>), InvalidInput> {
    let kind = DraftKind::parse(input.kind.as_deref())?;
    let request = input.request;
    let signers = request.signers.clone().unwrap_or_default();
    if signers.is_empty() {
        // Dropbox Sign: a request_signature draft of `unclaimed_draft/create` names its signers; an
        // embedded draft's requester may add them on the claim page, as may a send_document's.
        if kind == DraftKind::RequestSignature && !embedded {
            return Err(InvalidInput::new("signers", "A request_signature draft needs its signers"));
        }
        if !request.form_fields_per_document.is_empty() || request.use_text_tags == Some(true) {
            return Err(InvalidInput::new(
                "signers",
                "form_fields_per_document and text tags give fields to signers by number: give the draft's signers with them",
            ));
        }
    }
    if !request.form_field_rules.is_empty() {
        return Err(InvalidInput::new("form_field_rules", "form_field_rules are not supported by this server yet"));
    }
    // Everything the request will be checked for, checked now (the request itself is made at the claim).
    let (_, notices) = if signers.is_empty() {
        NewSignatureRequest::parse_for(request.clone(), by, &[])?
    } else {
        NewSignatureRequest::parse(request.clone(), by)?
    };
    let edit_signers = signers.is_empty() || input.edit_signers;
    let limits: &DocumentLimits = &by.limits;
    let documents = crate::new_request::documents(&request.files, &request.file_urls, limits)?;
    let pending_signers: Vec<PendingSigner> = signers
        .iter()
        .map(|s: &SignerInput| PendingSigner {
            name: s.name.clone().unwrap_or_default().trim().to_owned(),
            email_address: s.email_address.clone().unwrap_or_default().trim().to_owned(),
            order: s.order,
            pin: s.pin.clone(),
        })
        .collect();
    // Dropbox Sign's drafts take no title: the subject names the request, else the first file.
    let title = request
        .title
        .clone()
        .filter(|t| !t.trim().is_empty())
        .or_else(|| request.subject.clone().filter(|s| !s.trim().is_empty()))
        .unwrap_or_else(|| documents[0].file_name.clone());
    let field_groups = crate::new_request::parse_field_groups(&request.form_field_groups)?;
    let pending = PendingRequest {
        kind,
        embedded,
        for_embedded_signing: by.embedded,
        requester_email_address: input.requester_email_address,
        signers: pending_signers,
        cc_email_addresses: request.cc_email_addresses.clone(),
        title: request.title.clone(),
        subject: request.subject.clone(),
        message: request.message.clone(),
        metadata: request.metadata.clone(),
        test_mode: request.test_mode.unwrap_or(false),
        allow_decline: request.allow_decline,
        allow_reassign: request.allow_reassign,
        signing_redirect_url: request.signing_redirect_url.clone(),
        requesting_redirect_url: input.requesting_redirect_url,
        expires_at: request.expires_at,
        custom_fields: request.custom_fields.clone(),
        signing_options: request.signing_options.clone(),
        signature_request_id: None,
        hold: input.hold_request,
        edit_signers,
        replaces: None,
    };
    let options = TemplateOptions {
        use_text_tags: request.use_text_tags.unwrap_or(false),
        form_fields_per_document: request.form_fields_per_document.clone(),
        field_groups,
        overlay: None,
        unclaimed: None,
    };
    let allow_reassign = request.allow_reassign.unwrap_or(false);
    Ok((keep_draft(pending, title, allow_reassign, options, documents, by), notices))
}

/// The signers the requester set on the claim page replace the draft's (and its signer roles, which
/// the placed fields name by position). A signer kept (same address) keeps their order and PIN.
pub fn set_claim_signers(draft: &mut Template, signers: &[ClaimSigner]) -> Result<(), String> {
    let Some(pending) = draft.options.unclaimed.as_mut() else { return Err("This is not a draft.".into()) };
    if !pending.edit_signers {
        return Err("The signers of this request cannot be changed.".into());
    }
    if signers.is_empty() {
        return Err("Add at least one signer.".into());
    }
    if signers.len() > crate::new_request::MAX_SIGNERS {
        return Err(format!("A request may have at most {} signers.", crate::new_request::MAX_SIGNERS));
    }
    let mut next = Vec::with_capacity(signers.len());
    for (i, s) in signers.iter().enumerate() {
        let n = i + 1;
        let name = s.name.trim();
        if name.is_empty() {
            return Err(format!("Signer {n}: enter a name."));
        }
        let name =
            crate::parse_name(name, "name", crate::MAX_NAME_CHARS).map_err(|e| format!("Signer {n}: {}", e.message))?;
        let email = crate::email::EmailAddress::parse(s.email_address.trim(), "email_address")
            .map_err(|_| format!("Signer {n}: enter a valid e-mail address."))?;
        let before = pending.signers.iter().find(|p| p.email_address.eq_ignore_ascii_case(email.as_str()));
        next.push(PendingSigner {
            name,
            email_address: email.as_str().to_owned(),
            order: before.and_then(|b| b.order),
            pin: before.and_then(|b| b.pin.clone()),
        });
    }
    draft.body.signer_roles = roles_of(&next);
    pending.signers = next;
    Ok(())
}

/// The signature request a claim makes: the draft (its fields as placed on the claim page) with its
/// signers and CCs, as from a template; it names no template.
pub fn claimed_request(
    draft: &Template,
    files: Vec<FileInput>,
    by: &Requester<'_>,
) -> Result<NewSignatureRequest, InvalidInput> {
    let pending =
        draft.options.unclaimed.as_ref().ok_or_else(|| InvalidInput::new("draft", "not an unclaimed draft"))?;
    let signers: Vec<RoleSigner> = draft
        .body
        .signer_roles
        .iter()
        .zip(&pending.signers)
        .map(|(role, s)| RoleSigner {
            role: Some(role.name.clone()),
            signer: SignerInput {
                name: Some(s.name.clone()),
                email_address: Some(s.email_address.clone()),
                order: s.order,
                pin: s.pin.clone(),
                ..SignerInput::default()
            },
        })
        .collect();
    let ccs: Vec<RoleCc> = pending
        .cc_email_addresses
        .iter()
        .map(|a| RoleCc { role: Some(a.clone()), email_address: Some(a.clone()) })
        .collect();
    // Merge values already in the draft's fields (a draft made from templates) are given again.
    let mut custom_fields = pending.custom_fields.clone();
    for field in draft.fields.iter().filter(|f| f.field_type.ends_with("-merge")) {
        let name = if field.name.is_empty() { &field.api_id } else { &field.name };
        if let Some(value) = &field.value
            && !custom_fields.iter().any(|c| c["name"] == name.as_str())
        {
            custom_fields.push(serde_json::json!({"name": name, "value": value}));
        }
    }
    let (mut request, _) =
        request_from_templates(&[(draft, files)], &signers, &ccs, &custom_fields, pending.input(), by)?;
    request.body.template_ids = None;
    request.options.hold = pending.hold;
    for signature in &mut request.body.signatures {
        signature.signer_role = None;
    }
    Ok(request)
}

/// `unclaimed_draft/create_embedded_with_template`: the request the templates make (checked as
/// `send_with_template` checks it), kept as a draft whose fields are the templates' — merge values
/// already in them — for the requester to review, add to and send.
pub fn draft_from_templates(
    templates: &[(&Template, Vec<FileInput>)],
    signers: &[RoleSigner],
    ccs: &[RoleCc],
    custom_fields: &[Value],
    draft: DraftInput,
    by: &Requester<'_>,
) -> Result<(NewTemplate, Vec<Notice>), InvalidInput> {
    let input = draft.request;
    let (request, notices) = request_from_templates(templates, signers, ccs, custom_fields, input.clone(), by)?;
    let files: Vec<FileInput> = templates.iter().flat_map(|(_, files)| files.iter().cloned()).collect();
    let documents = crate::new_request::documents(&files, &[], &by.limits)?;
    let pin_of = |email: &str| {
        signers
            .iter()
            .find(|s| s.signer.email_address.as_deref().map(str::trim) == Some(email))
            .and_then(|s| s.signer.pin.clone())
    };
    let pending_signers = pending_signers(&request.body.signatures, pin_of);
    let body = &request.body;
    let pending = PendingRequest {
        kind: DraftKind::RequestSignature,
        embedded: true,
        for_embedded_signing: by.embedded,
        requester_email_address: draft.requester_email_address,
        signers: pending_signers,
        cc_email_addresses: body.cc_email_addresses.clone(),
        title: Some(body.title.clone()),
        subject: body.subject.clone(),
        message: body.message.clone(),
        metadata: input.metadata.clone(),
        test_mode: body.test_mode,
        allow_decline: Some(body.allow_decline),
        allow_reassign: Some(body.allow_reassign),
        signing_redirect_url: input.signing_redirect_url.clone(),
        requesting_redirect_url: draft.requesting_redirect_url,
        expires_at: input.expires_at,
        // The values are in the fields already.
        custom_fields: Vec::new(),
        signing_options: input.signing_options.clone(),
        signature_request_id: None,
        hold: draft.hold_request,
        edit_signers: draft.edit_signers,
        replaces: None,
    };
    // The templates' fields, kept as they are when the documents are read.
    let overlay = Overlay {
        fields: request.options.template_fields.clone().unwrap_or_default(),
        pages: templates.iter().flat_map(|(t, _)| t.documents.iter().map(|d| d.pages.clone())).collect(),
    };
    let options = TemplateOptions { overlay: Some(overlay), ..placed_fields(request.options.field_groups.clone()) };
    Ok((keep_draft(pending, body.title.clone(), body.allow_reassign, options, documents, by), notices))
}

/// `unclaimed_draft/edit_and_resend` as the caller sent it (what it does not give stays the
/// request's).
#[derive(Debug, Clone, Default)]
pub struct ResendInput {
    pub requester_email_address: Option<String>,
    pub requesting_redirect_url: Option<String>,
    pub signing_redirect_url: Option<String>,
    pub test_mode: Option<bool>,
}

/// `unclaimed_draft/edit_and_resend`: the request, still [`SignatureRequest::resendable`], as an
/// embedded draft again — its documents as the signers see them (`documents`: each file with its page
/// sizes), its fields where they are, its signers (the requester may edit them), CCs and texts. Sending
/// the draft makes a new request and cancels this one, in one transaction.
pub fn draft_from_request(
    request: &SignatureRequest,
    documents: Vec<(FileInput, Vec<[f64; 2]>)>,
    fields: Vec<FieldSpec>,
    input: ResendInput,
    by: &Requester<'_>,
) -> Result<NewTemplate, InvalidInput> {
    let body = &request.body;
    let signing_redirect_url = match input.signing_redirect_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        Some(raw) => Some(crate::new_request::url_of(raw, "signing_redirect_url")?),
        None => body.signing_redirect_url.clone(),
    };
    let requesting_redirect_url =
        match input.requesting_redirect_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(raw) => Some(crate::new_request::url_of(raw, "requesting_redirect_url")?),
            None => None,
        };
    let requester_email_address =
        match input.requester_email_address.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
            Some(raw) => crate::email::EmailAddress::parse(raw, "requester_email_address")?.as_str().to_owned(),
            None => body.requester_email_address.clone(),
        };
    let (files, pages): (Vec<FileInput>, Vec<Vec<[f64; 2]>>) = documents.into_iter().unzip();
    let documents = crate::new_request::documents(&files, &[], &by.limits)?;
    // PINs are kept only as digests: a request with any is not resendable.
    let signers = pending_signers(&body.signatures, |_| None);
    // An expiry the new request could no longer be given (too near, or past) is dropped.
    let expires_at = body
        .expires_at
        .and_then(|at| u32::try_from(at).ok())
        .filter(|at| crate::signature_request::parse_expires_at(Some(*at), by.now).is_ok());
    let test_mode = input.test_mode.unwrap_or(body.test_mode);
    let pending = PendingRequest {
        kind: DraftKind::RequestSignature,
        embedded: true,
        for_embedded_signing: by.embedded,
        requester_email_address: Some(requester_email_address),
        signers,
        cc_email_addresses: body.cc_email_addresses.clone(),
        title: Some(body.title.clone()),
        subject: body.subject.clone(),
        message: body.message.clone(),
        metadata: Some(body.metadata.clone()),
        test_mode,
        allow_decline: Some(body.allow_decline),
        allow_reassign: Some(body.allow_reassign),
        signing_redirect_url,
        requesting_redirect_url,
        expires_at,
        // The merge values are in the fields already.
        custom_fields: Vec::new(),
        signing_options: serde_json::to_value(&request.options.signing_options).ok(),
        signature_request_id: None,
        hold: false,
        // "Signers can be edited in the embedded editor."
        edit_signers: true,
        replaces: Some(request.id.as_str().to_owned()),
    };
    // The request's fields, kept where they are when the documents are read.
    let options = TemplateOptions {
        overlay: Some(Overlay { fields, pages }),
        ..placed_fields(request.options.field_groups.clone())
    };
    Ok(keep_draft(pending, body.title.clone(), body.allow_reassign, options, documents, by))
}

//! Templates: documents whose fields are placed for signer *roles* instead of named signers, sent later
//! with `template_ids[]` (several merged in order) and a signer per role.
//!
//! - [`NewTemplate::parse`]: every rule of `template/create` a caller can see up front (roles, CC roles,
//!   merge fields, files, lengths); the fields themselves are placed in the background, like a
//!   request's (`process_template`), and the outcome commits with `template_created` or
//!   `template_error`.
//! - [`Template::response`]: the `TemplateResponse` object, as one account sees it.
//! - [`request_from_templates`]: `send_with_template` / `create_embedded_with_template`: signers and CCs
//!   by role, merge-field values by name, the templates' placed fields mapped onto the request's
//!   signers — then the ordinary [`NewSignatureRequest::parse`], so every request rule still applies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::ids::{AccountId, TemplateId};
use crate::new_request::{FileInput, NewSignatureRequest, Notice, RequestInput, Requester, SignerInput};
use crate::signature_request::{
    DocumentLimits, FieldGroup, FieldSpec, LEGACY_PIXEL, ProcessingOptions, check_metadata,
};
use crate::{InvalidInput, MAX_NAME_CHARS, parse_bool, parse_name};

/// The most signer roles (and, separately, CC roles) a template may have.
pub const MAX_ROLES: usize = 100;

/// A merge field's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MergeKind {
    Text,
    Checkbox,
}

impl MergeKind {
    fn of_field_type(field_type: &str) -> Option<Self> {
        match field_type {
            "text-merge" => Some(Self::Text),
            "checkbox-merge" => Some(Self::Checkbox),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Checkbox => "checkbox",
        }
    }
}

/// A signer role, in the order the caller gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignerRole {
    pub name: String,
    /// The signing position, when the template asks for an order.
    pub order: Option<i64>,
}

/// A merge field: a value the sender gives when sending (`custom_fields` by name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergeField {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: MergeKind,
}

/// What a template says besides its documents and fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateBody {
    pub template_id: TemplateId,
    pub title: String,
    pub subject: Option<String>,
    pub message: Option<String>,
    pub metadata: Map<String, Value>,
    pub signer_roles: Vec<SignerRole>,
    pub cc_roles: Vec<String>,
    pub merge_fields: Vec<MergeField>,
    pub is_embedded: bool,
    pub test_mode: bool,
    pub allow_reassign: bool,
    /// Unix seconds.
    pub created_at: i64,
    pub updated_at: i64,
}

/// What placing a template's fields needs (stored, not shown).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TemplateOptions {
    pub use_text_tags: bool,
    pub form_fields_per_document: Vec<Value>,
    pub field_groups: Vec<FieldGroup>,
    /// Made by `template/update_files`: the fields of the template it overlays, kept where they
    /// were, and that template's page sizes (the new files need as many pages, each the same way up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlay: Option<Overlay>,
    /// An unclaimed draft kept as a hidden template: the request its claim makes. Never shown as a
    /// template, never sends template events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unclaimed: Option<crate::unclaimed_draft::PendingRequest>,
}

/// The template a `template/update_files` copy overlays.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Overlay {
    pub fields: Vec<FieldSpec>,
    /// Each document's page sizes, in order.
    pub pages: Vec<Vec<[f64; 2]>>,
}

impl Overlay {
    /// Whether the new documents (each one's page sizes) can carry the old fields: as many documents,
    /// each with at least as many pages, each page the same way up (portrait or landscape).
    pub fn fits(&self, new_pages: &[Vec<[f64; 2]>]) -> Result<(), String> {
        if new_pages.len() != self.pages.len() {
            return Err(format!(
                "The template has {} document{}; give as many files ({} were given)",
                self.pages.len(),
                if self.pages.len() == 1 { "" } else { "s" },
                new_pages.len()
            ));
        }
        for (doc, (old, new)) in self.pages.iter().zip(new_pages).enumerate() {
            if new.len() < old.len() {
                return Err(format!(
                    "File {doc} has {} page{}; it replaces a document of {} and needs at least as many",
                    new.len(),
                    if new.len() == 1 { "" } else { "s" },
                    old.len()
                ));
            }
            for (page, ([ow, oh], [nw, nh])) in old.iter().zip(new).enumerate() {
                if (ow > oh) != (nw > nh) {
                    return Err(format!(
                        "Page {} of file {doc} is not the same way up as the page it replaces",
                        page + 1
                    ));
                }
            }
        }
        Ok(())
    }
}

impl TemplateOptions {
    /// The options the shared field placement reads (signers = the template's roles).
    pub fn processing(&self) -> ProcessingOptions {
        ProcessingOptions {
            use_text_tags: self.use_text_tags,
            form_fields_per_document: self.form_fields_per_document.clone(),
            field_groups: self.field_groups.clone(),
            ..ProcessingOptions::default()
        }
    }
}

/// Where a template is in its processing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateStatus {
    /// Documents not read yet; `files` answers 409 and the template cannot be sent.
    Processing,
    /// An embedded draft whose documents were read: waiting for its fields in the editor
    /// (`edit_url`); `template_created` is sent when the editor saves it.
    Draft,
    Ready,
    /// Processing failed (`template_error` was sent); kept so the caller can read why.
    Error,
}

impl TemplateStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Draft => "draft",
            Self::Ready => "ready",
            Self::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Processing, Self::Draft, Self::Ready, Self::Error].into_iter().find(|k| k.as_str() == s)
    }
}

/// A template document as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateDocument {
    pub index: i64,
    pub name: String,
    /// Page sizes (width, height in points), once read.
    pub pages: Vec<[f64; 2]>,
}

/// An account a template is visible to.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateAccount {
    pub account_id: AccountId,
    pub email_address: String,
}

/// A stored template as readers see it.
#[derive(Debug, Clone)]
pub struct Template {
    pub owner: TemplateAccount,
    pub client_id: Option<String>,
    pub status: TemplateStatus,
    pub body: TemplateBody,
    pub options: TemplateOptions,
    /// Placed fields; `signer_index` is the role's index in `body.signer_roles`.
    pub fields: Vec<FieldSpec>,
    pub documents: Vec<TemplateDocument>,
    pub error: Option<String>,
    pub deleted: bool,
    /// Other accounts it is shared with (`template/add_user`).
    pub shared_with: Vec<TemplateAccount>,
}

/// Why a template cannot be used by a caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateRefusal {
    /// Unknown, deleted, or another account's: the same 404, so ids cannot be probed.
    NotFound,
    /// Still being processed.
    Processing,
    /// An embedded draft not saved in the editor yet.
    Draft,
    /// Processing failed.
    Failed(String),
}

impl Template {
    /// Whether `account` may see and use it.
    pub fn visible_to(&self, account: &AccountId) -> bool {
        !self.deleted
            && self.options.unclaimed.is_none()
            && (&self.owner.account_id == account || self.shared_with.iter().any(|a| &a.account_id == account))
    }

    /// Whether `account` may change it (delete, share, update files).
    pub fn editable_by(&self, account: &AccountId) -> bool {
        !self.deleted && &self.owner.account_id == account
    }

    /// Whether its fields come from the embedded editor once its documents are read (an embedded
    /// draft), rather than from processing.
    pub fn waits_for_editor(&self) -> bool {
        (self.body.is_embedded || self.options.unclaimed.is_some()) && self.options.overlay.is_none()
    }

    /// The template, ready to send from, for `account`.
    pub fn usable_by(&self, account: &AccountId) -> Result<&Self, TemplateRefusal> {
        if !self.visible_to(account) {
            return Err(TemplateRefusal::NotFound);
        }
        match self.status {
            TemplateStatus::Ready => Ok(self),
            TemplateStatus::Processing => Err(TemplateRefusal::Processing),
            TemplateStatus::Draft => Err(TemplateRefusal::Draft),
            TemplateStatus::Error => Err(TemplateRefusal::Failed(self.error.clone().unwrap_or_default())),
        }
    }

    /// The `TemplateResponse` object as `viewer` sees it.
    pub fn response(&self, viewer: &AccountId) -> Value {
        let is_creator = &self.owner.account_id == viewer;
        let roles = &self.body.signer_roles;
        let mut documents = Vec::new();
        let mut all_form_fields = Vec::new();
        let mut all_custom_fields = Vec::new();
        for doc in &self.documents {
            let mut form_fields = Vec::new();
            let mut custom_fields = Vec::new();
            let mut groups: Vec<&str> = Vec::new();
            for field in self.fields.iter().filter(|f| f.document_index == doc.index) {
                if let Some(group) = field.options.group.as_deref()
                    && !groups.contains(&group)
                {
                    groups.push(group);
                }
                let shown = field_json(field, roles.len());
                if MergeKind::of_field_type(&field.field_type).is_some() {
                    custom_fields.push(shown);
                } else {
                    form_fields.push(shown);
                }
            }
            let field_groups: Vec<Value> = groups
                .iter()
                .map(|name| {
                    let group = self.options.field_groups.iter().find(|g| g.group_id == *name);
                    json!({
                        "name": name,
                        "rule": {
                            "requirement": group.map_or_else(|| "require_0-ploral".to_owned(), requirement_text),
                            "groupLabel": group.map_or("", |g| g.group_label.as_str()),
                        },
                    })
                })
                .collect();
            all_form_fields.extend(form_fields.iter().cloned());
            all_custom_fields.extend(custom_fields.iter().cloned());
            documents.push(json!({
                "index": doc.index,
                "name": doc.name,
                "field_groups": field_groups,
                "form_fields": form_fields,
                "custom_fields": custom_fields,
                "static_fields": [],
            }));
        }
        // Merge fields declared but not placed on any page are listed too: the sender can still give
        // them (they fill nothing).
        for merge in &self.body.merge_fields {
            if !all_custom_fields.iter().any(|f| f["name"] == merge.name.as_str()) {
                all_custom_fields.push(json!({"name": merge.name, "type": merge.kind.as_str(), "signer": null}));
            }
        }
        let account = |a: &TemplateAccount| {
            json!({
                "account_id": a.account_id.as_str(),
                "email_address": a.email_address,
                "is_locked": false,
                "is_paid_hs": true,
                "is_paid_hf": false,
            })
        };
        let accounts: Vec<Value> = std::iter::once(&self.owner).chain(&self.shared_with).map(account).collect();
        json!({
            "template_id": self.body.template_id.as_str(),
            "title": self.body.title,
            "message": self.body.message.clone().unwrap_or_default(),
            "updated_at": self.body.updated_at,
            "is_embedded": if is_creator { json!(self.body.is_embedded) } else { Value::Null },
            "is_creator": is_creator,
            "can_edit": is_creator,
            "is_locked": false,
            "metadata": self.body.metadata,
            "signer_roles": roles.iter().map(|r| json!({"name": r.name, "order": r.order})).collect::<Vec<_>>(),
            "cc_roles": self.body.cc_roles.iter().map(|name| json!({"name": name})).collect::<Vec<_>>(),
            "documents": documents,
            "custom_fields": all_custom_fields,
            "named_form_fields": all_form_fields,
            "accounts": accounts,
            "attachments": [],
            "signer_experience": {"form_view": "disabled"},
        })
    }
}

fn requirement_text(group: &FieldGroup) -> String {
    match group.most {
        Some(most) if most == group.least => format!("require_{most}"),
        Some(most) => format!("require_{}-{most}", group.least),
        None => format!("require_{}-ploral", group.least),
    }
}

/// One placed field as `documents[].form_fields[]` / `custom_fields[]` show it: `x`/`y` in points from
/// the page's top-left corner and `width`/`height` in Dropbox Sign's 80-DPI pixels — the units
/// `form_fields_per_document` takes with `page`, so a field read here can be sent back as is.
/// `signer` is the role's 1-based position as text ("1" = the first role), `null` for the sender.
fn field_json(field: &FieldSpec, roles: usize) -> Value {
    let merge = MergeKind::of_field_type(&field.field_type);
    let signer = match field.signer_index {
        Some(i) if (i as usize) < roles => json!((i + 1).to_string()),
        _ => Value::Null,
    };
    let mut shown = json!({
        "api_id": field.api_id,
        "name": field.name,
        "type": merge.map_or_else(|| field.field_type.clone(), |m| m.as_str().to_owned()),
        "signer": signer,
        "x": field.x.round() as i64,
        "y": field.y.round() as i64,
        "width": (field.width / LEGACY_PIXEL).round() as i64,
        "height": (field.height / LEGACY_PIXEL).round() as i64,
        "required": field.required,
        "group": field.options.group,
        "page": field.page,
        "document_index": field.document_index,
    });
    if let Some(validation) = &field.validation_type {
        shown["validation_type"] = json!(validation);
    }
    if !field.options.options.is_empty() {
        shown["options"] = json!(field.options.options);
    }
    shown
}

/// `template/create` as the caller sent it.
#[derive(Debug, Clone, Default)]
pub struct TemplateInput {
    pub title: Option<String>,
    pub subject: Option<String>,
    pub message: Option<String>,
    pub signer_roles: Vec<Value>,
    pub cc_roles: Vec<String>,
    pub merge_fields: Vec<Value>,
    pub files: Vec<FileInput>,
    pub file_urls: Vec<String>,
    pub metadata: Option<Map<String, Value>>,
    pub test_mode: Option<bool>,
    pub allow_reassign: Option<bool>,
    pub use_text_tags: Option<bool>,
    pub form_fields_per_document: Vec<Value>,
    pub form_field_groups: Vec<Value>,
    pub form_field_rules: Vec<Value>,
}

/// A template's first document, as the store writes it.
pub use crate::new_request::NewDocument;

/// A new template as accepted.
#[derive(Debug, Clone)]
pub struct NewTemplate {
    pub account_id: AccountId,
    pub client_id: Option<String>,
    pub body: TemplateBody,
    pub options: TemplateOptions,
    pub documents: Vec<NewDocument>,
}

impl NewTemplate {
    /// `template/update_files`: a new template with `files` (or `file_urls`) in place of `template`'s
    /// documents, its roles, merge fields and fields kept (checked against the new pages when they
    /// are read); `subject` and `message` replace the old ones when given.
    pub fn overlay(
        template: &Template,
        input: TemplateInput,
        limits: &DocumentLimits,
        now: i64,
    ) -> Result<Self, InvalidInput> {
        crate::new_request::check_len(&input.subject, 255, "subject")?;
        crate::new_request::check_len(&input.message, 5000, "message")?;
        let documents = crate::new_request::documents(&input.files, &input.file_urls, limits)?;
        let mut body = template.body.clone();
        body.template_id = TemplateId::generate();
        if let Some(subject) = input.subject.filter(|s| !s.trim().is_empty()) {
            body.subject = Some(subject);
        }
        if let Some(message) = input.message.filter(|m| !m.trim().is_empty()) {
            body.message = Some(message);
        }
        if let Some(test_mode) = input.test_mode {
            body.test_mode = test_mode;
        }
        body.created_at = now;
        body.updated_at = now;
        let options = TemplateOptions {
            use_text_tags: false,
            form_fields_per_document: Vec::new(),
            field_groups: template.options.field_groups.clone(),
            overlay: Some(Overlay {
                fields: template.fields.clone(),
                pages: template.documents.iter().map(|d| d.pages.clone()).collect(),
            }),
            unclaimed: None,
        };
        Ok(Self {
            account_id: template.owner.account_id.clone(),
            client_id: template.client_id.clone(),
            body,
            options,
            documents,
        })
    }

    /// Applies every rule of `template/create` a caller can see up front, with a fresh id.
    pub fn parse(
        input: TemplateInput,
        account_id: &AccountId,
        client_id: Option<String>,
        embedded: bool,
        limits: &DocumentLimits,
        now: i64,
    ) -> Result<Self, InvalidInput> {
        let signer_roles = parse_roles(&input.signer_roles)?;
        let cc_roles = parse_cc_roles(&input.cc_roles)?;
        crate::new_request::check_len(&input.title, 255, "title")?;
        crate::new_request::check_len(&input.subject, 255, "subject")?;
        crate::new_request::check_len(&input.message, 5000, "message")?;
        let metadata = input.metadata.unwrap_or_default();
        check_metadata(&metadata)?;
        let merge_fields = parse_merge_fields(&input.merge_fields)?;
        crate::new_request::check_form_field_numbers(&input.form_fields_per_document)?;
        crate::new_request::check_custom_regexes(&input.form_fields_per_document)?;
        let field_groups = crate::new_request::parse_field_groups(&input.form_field_groups)?;
        if !input.form_field_rules.is_empty() {
            return Err(InvalidInput::new(
                "form_field_rules",
                "form_field_rules (conditional logic) are not supported by this server yet; create the template without them",
            ));
        }
        let documents = crate::new_request::documents(&input.files, &input.file_urls, limits)?;
        let title = input
            .title
            .filter(|t| !t.trim().is_empty())
            .or_else(|| input.subject.clone().filter(|s| !s.trim().is_empty()))
            .unwrap_or_else(|| documents[0].file_name.clone());
        let body = TemplateBody {
            template_id: TemplateId::generate(),
            title,
            subject: input.subject.filter(|s| !s.trim().is_empty()),
            message: input.message.filter(|m| !m.trim().is_empty()),
            metadata,
            signer_roles,
            cc_roles,
            merge_fields,
            is_embedded: embedded,
            test_mode: input.test_mode.unwrap_or(false),
            allow_reassign: input.allow_reassign.unwrap_or(false),
            created_at: now,
            updated_at: now,
        };
        let options = TemplateOptions {
            // Text tags are read unless the caller turns them off: the SDKs have no `use_text_tags` for
            // templates, and a template's tags are how many are made (DECISIONS.md).
            use_text_tags: input.use_text_tags.unwrap_or(true),
            form_fields_per_document: input.form_fields_per_document,
            field_groups,
            overlay: None,
            unclaimed: None,
        };
        Ok(Self { account_id: account_id.clone(), client_id, body, options, documents })
    }
}

/// `signer_roles`: `[{name, order?}]` (or bare names), at least one, names unique.
fn parse_roles(raw: &[Value]) -> Result<Vec<SignerRole>, InvalidInput> {
    if raw.is_empty() {
        return Err(InvalidInput::missing("signer_roles"));
    }
    if raw.len() > MAX_ROLES {
        return Err(InvalidInput::new("signer_roles", format!("a template may have at most {MAX_ROLES} signer roles")));
    }
    let mut roles: Vec<SignerRole> = Vec::new();
    for (i, entry) in raw.iter().enumerate() {
        let path = format!("signer_roles[{i}][name]");
        let (name, order) = match entry {
            Value::String(name) => (Some(name.as_str()), None),
            Value::Object(map) => {
                let order = match map.get("order") {
                    None | Some(Value::Null) => None,
                    Some(Value::Number(n)) if n.as_u64().is_some() => n.as_i64(),
                    Some(Value::String(s)) if s.trim().is_empty() => None,
                    Some(Value::String(s)) => Some(s.trim().parse::<u32>().map(i64::from).map_err(|_| {
                        InvalidInput::new(format!("signer_roles[{i}][order]"), "order must be a whole number from 0")
                    })?),
                    Some(_) => {
                        return Err(InvalidInput::new(
                            format!("signer_roles[{i}][order]"),
                            "order must be a whole number from 0",
                        ));
                    }
                };
                (map.get("name").and_then(Value::as_str), order)
            }
            _ => return Err(InvalidInput::new(format!("signer_roles[{i}]"), "each signer role must be an object")),
        };
        let name = name.filter(|n| !n.trim().is_empty()).ok_or_else(|| InvalidInput::missing(&path))?;
        let name = parse_name(name, &path, MAX_NAME_CHARS)?;
        if roles.iter().any(|r| r.name == name) {
            return Err(InvalidInput::new(
                path,
                format!("The signer role {name:?} is given twice; role names must be unique."),
            ));
        }
        roles.push(SignerRole { name, order });
    }
    Ok(roles)
}

pub fn parse_cc_roles(raw: &[String]) -> Result<Vec<String>, InvalidInput> {
    if raw.len() > MAX_ROLES {
        return Err(InvalidInput::new("cc_roles", format!("a template may have at most {MAX_ROLES} CC roles")));
    }
    let mut roles: Vec<String> = Vec::new();
    for (i, name) in raw.iter().enumerate() {
        let path = format!("cc_roles[{i}]");
        let name = parse_name(name, &path, MAX_NAME_CHARS)?;
        if roles.contains(&name) {
            return Err(InvalidInput::new(
                path,
                format!("The CC role {name:?} is given twice; role names must be unique."),
            ));
        }
        roles.push(name);
    }
    Ok(roles)
}

pub fn parse_merge_fields(raw: &[Value]) -> Result<Vec<MergeField>, InvalidInput> {
    let mut fields: Vec<MergeField> = Vec::new();
    for (i, entry) in raw.iter().enumerate() {
        let Value::Object(map) = entry else {
            return Err(InvalidInput::new(format!("merge_fields[{i}]"), "each merge field must be an object"));
        };
        let path = format!("merge_fields[{i}][name]");
        let name = map.get("name").and_then(Value::as_str).filter(|n| !n.trim().is_empty());
        let name = parse_name(name.ok_or_else(|| InvalidInput::missing(&path))?, &path, MAX_NAME_CHARS)?;
        let kind = match map.get("type").and_then(Value::as_str) {
            Some("text") => MergeKind::Text,
            Some("checkbox") => MergeKind::Checkbox,
            None => return Err(InvalidInput::missing(&format!("merge_fields[{i}][type]"))),
            Some(other) => {
                return Err(InvalidInput::new(
                    format!("merge_fields[{i}][type]"),
                    format!("merge field type {other:?} is not one of text, checkbox"),
                ));
            }
        };
        if fields.iter().any(|f| f.name == name) {
            return Err(InvalidInput::new(
                path,
                format!("The merge field {name:?} is given twice; names must be unique."),
            ));
        }
        fields.push(MergeField { name, kind });
    }
    Ok(fields)
}

/// Checks a template's placed fields against its declarations, once processed: every field names a
/// role the template has, and every placed merge field is declared (one placed but not declared is
/// declared from its type, as Dropbox Sign's editor does). Returns the merge fields to store.
pub fn settle_merge_fields(body: &TemplateBody, fields: &[FieldSpec]) -> Result<Vec<MergeField>, String> {
    let merge_fields = declared_merge_fields(body, fields)?;
    if fields.iter().all(|f| f.signer_index.is_none()) {
        return Err(
            "The template has no fields for its signers: place them with form_fields_per_document or text tags".into(),
        );
    }
    Ok(merge_fields)
}

/// [`settle_merge_fields`] without requiring signer fields: an embedded draft gets them in the editor.
pub fn declared_merge_fields(body: &TemplateBody, fields: &[FieldSpec]) -> Result<Vec<MergeField>, String> {
    let mut merge_fields = body.merge_fields.clone();
    for field in fields {
        if let Some(i) = field.signer_index
            && (i < 0 || i as usize >= body.signer_roles.len())
        {
            return Err(format!(
                "The field {:?} on page {} is for signer {}, but the template has {} signer role{}",
                field.api_id,
                field.page,
                i + 1,
                body.signer_roles.len(),
                if body.signer_roles.len() == 1 { "" } else { "s" }
            ));
        }
        let Some(kind) = MergeKind::of_field_type(&field.field_type) else { continue };
        let name = if field.name.is_empty() { &field.api_id } else { &field.name };
        match merge_fields.iter().find(|m| &m.name == name) {
            Some(declared) if declared.kind != kind => {
                return Err(format!(
                    "The merge field {name:?} is declared as {} but placed as {}",
                    declared.kind.as_str(),
                    field.field_type
                ));
            }
            Some(_) => {}
            None => merge_fields.push(MergeField { name: name.clone(), kind }),
        }
    }
    Ok(merge_fields)
}

/// The field types the template editor places.
pub const EDITOR_FIELD_TYPES: [&str; 10] = [
    "signature",
    "initials",
    "date_signed",
    "text",
    "checkbox",
    "radio",
    "dropdown",
    "hyperlink",
    "text-merge",
    "checkbox-merge",
];

/// The fields the template editor saves, checked against the template: each a known type on a page of
/// a document, inside it, for one of the template's signer roles (merge fields: for the sender, with
/// a name), api_ids unique, dropdowns with choices, and at least one field for a signer. `raw` is the
/// page's JSON: `[{type, role, name, required, document_index, page, x, y, width, height, options}]`,
/// positions in PDF points from the page's top-left corner. Returns the fields and the merge fields
/// to store, or a message naming the field. A field the page had from before (same `api_id` and type:
/// placed by a text tag, `form_fields_per_document` or a template) keeps what the editor does not
/// edit — its validation, options, merge value and source.
pub fn editor_fields(
    template: &Template,
    raw: &[Value],
    max_fields: usize,
) -> Result<(Vec<FieldSpec>, Vec<MergeField>), String> {
    let (body, documents) = (&template.body, &template.documents);
    if raw.len() > max_fields {
        return Err(format!("A template may have at most {max_fields} fields"));
    }
    let mut fields: Vec<FieldSpec> = Vec::with_capacity(raw.len());
    for (i, f) in raw.iter().enumerate() {
        let at = |what: &str| format!("Field {}: {what}", i + 1);
        let text = |key: &str| f.get(key).and_then(Value::as_str).map(str::trim).unwrap_or("").to_owned();
        let number = |key: &str| f.get(key).and_then(Value::as_f64).filter(|n| n.is_finite());
        let field_type = text("type");
        // A field the template already has (text tags, form_fields_per_document: radio buttons,
        // hyperlinks, …) may be moved and reassigned; a new one is of a type the palette offers.
        let api_id = text("api_id");
        let before =
            template.fields.iter().find(|b| !api_id.is_empty() && b.api_id == api_id && b.field_type == field_type);
        if before.is_none() && !EDITOR_FIELD_TYPES.contains(&field_type.as_str()) {
            return Err(at(&format!("the type {field_type:?} is not one the editor places")));
        }
        let merge = MergeKind::of_field_type(&field_type).is_some();
        let name = text("name");
        crate::new_request::check_len(&Some(name.clone()), 255, "name").map_err(|e| at(&e.message))?;
        let signer_index = if merge {
            if name.is_empty() {
                return Err(at("a merge field needs a name (the custom_fields name senders fill it with)"));
            }
            None
        } else {
            let role = f.get("role").and_then(Value::as_u64).map(|r| r as usize);
            match role.filter(|r| *r < body.signer_roles.len()) {
                Some(r) => Some(r as i64),
                None => return Err(at("choose one of the template's signer roles for it")),
            }
        };
        let document_index = f.get("document_index").and_then(Value::as_i64).unwrap_or(0);
        let document = documents
            .iter()
            .find(|d| d.index == document_index)
            .ok_or_else(|| at(&format!("document {document_index} does not exist")))?;
        let page = f.get("page").and_then(Value::as_i64).unwrap_or(0);
        let Some([page_w, page_h]) = usize::try_from(page - 1).ok().and_then(|p| document.pages.get(p)).copied() else {
            return Err(at(&format!("page {page} does not exist in {}", document.name)));
        };
        let (Some(x), Some(y), Some(width), Some(height)) =
            (number("x"), number("y"), number("width"), number("height"))
        else {
            return Err(at("its position and size are missing"));
        };
        if width < 4.0 || height < 4.0 || x < -0.5 || y < -0.5 || x + width > page_w + 0.5 || y + height > page_h + 0.5
        {
            return Err(at(&format!("it must lie inside page {page}")));
        }
        let options: Vec<String> = f
            .get("options")
            .and_then(Value::as_array)
            .map(|o| {
                o.iter().filter_map(Value::as_str).map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect()
            })
            .unwrap_or_default();
        if field_type == "dropdown" && options.is_empty() {
            return Err(at("a dropdown needs at least one choice"));
        }
        // A radio button belongs to a group (the buttons one is chosen from); a hyperlink shows its text
        // and opens its address.
        // What the page does not send of a field placed before stays as it was.
        let or_before = |posted: String, kept: Option<&Option<String>>| {
            if posted.is_empty() { kept.and_then(Clone::clone).unwrap_or_default() } else { posted }
        };
        let group = or_before(text("group"), before.map(|b| &b.options.group));
        if field_type == "radio" && group.is_empty() {
            return Err(at("a radio button needs a group (the buttons of one group are chosen from)"));
        }
        crate::new_request::check_len(&Some(group.clone()), 255, "group").map_err(|e| at(&e.message))?;
        let content = or_before(text("content"), before.map(|b| &b.options.content));
        let content_url = or_before(text("content_url"), before.map(|b| &b.options.content_url));
        let content_url = if field_type == "hyperlink" {
            if content.is_empty() || content_url.is_empty() {
                return Err(at("a hyperlink needs its text and its address"));
            }
            crate::new_request::check_len(&Some(content.clone()), 255, "content").map_err(|e| at(&e.message))?;
            crate::new_request::url_of(&content_url, "content_url").map_err(|e| at(&e.message))?
        } else {
            content_url
        };
        let api_id = if api_id.is_empty() {
            // A new field's id: unused by the other fields posted and by the template's own.
            let posted = |id: &str| raw.iter().any(|r| r.get("api_id").and_then(Value::as_str) == Some(id));
            let stem = field_type.replace('-', "_");
            (i + 1..)
                .map(|n| format!("{stem}_{n}"))
                .find(|id| {
                    !posted(id)
                        && !fields.iter().any(|f| &f.api_id == id)
                        && !template.fields.iter().any(|f| &f.api_id == id)
                })
                .unwrap_or_default()
        } else {
            api_id
        };
        if fields.iter().any(|other| other.api_id == api_id) {
            return Err(at(&format!("the api_id {api_id:?} is used twice")));
        }
        // A hyperlink is read, never filled.
        let required = field_type != "hyperlink"
            && f.get("required").and_then(Value::as_bool).unwrap_or(!matches!(field_type.as_str(), "checkbox"));
        // What the editor edits of a field; one placed before keeps the rest (validation, source, …).
        let mut field_options = before.map(|b| b.options.clone()).unwrap_or_default();
        if before.is_none() || field_type == "dropdown" {
            field_options.options = options;
        }
        match field_type.as_str() {
            "radio" => field_options.group = Some(group),
            "hyperlink" => (field_options.content, field_options.content_url) = (Some(content), Some(content_url)),
            _ => {}
        }
        let placed = FieldSpec {
            document_index,
            api_id,
            name,
            field_type,
            signer_index,
            required,
            page,
            x: x.max(0.0),
            y: y.max(0.0),
            width: width.min(page_w),
            height: height.min(page_h),
            validation_type: None,
            auto_fill: None,
            source: "editor".into(),
            value: None,
            options: field_options,
        };
        fields.push(match before {
            Some(before) => FieldSpec {
                validation_type: before.validation_type.clone(),
                auto_fill: before.auto_fill.clone(),
                source: before.source.clone(),
                value: before.value.clone(),
                ..placed
            },
            None => placed,
        });
    }
    if fields.iter().all(|f| f.signer_index.is_none()) {
        return Err("Place at least one field for a signer role before saving".into());
    }
    // One signer chooses among a radio group's buttons.
    for radio in fields.iter().filter(|f| f.field_type == "radio") {
        let group = radio.options.group.as_deref();
        if fields.iter().any(|o| {
            o.field_type == "radio" && o.options.group.as_deref() == group && o.signer_index != radio.signer_index
        }) {
            return Err(format!(
                "The radio group {:?} has buttons for different signers: give all of them to one",
                group.unwrap_or("")
            ));
        }
    }
    let merge_fields = declared_merge_fields(body, &fields)?;
    Ok((fields, merge_fields))
}

/// A signer of `send_with_template`, by role.
#[derive(Debug, Clone, Default)]
pub struct RoleSigner {
    pub role: Option<String>,
    pub signer: SignerInput,
}

/// A CC of `send_with_template`, by role.
#[derive(Debug, Clone, Default)]
pub struct RoleCc {
    pub role: Option<String>,
    pub email_address: Option<String>,
}

/// The signer roles of templates used together: by name, in the templates' order (each template's by
/// its role order), merged by name; and whether any role has an order.
pub fn signer_roles_of<'a>(templates: impl IntoIterator<Item = &'a Template>) -> (Vec<String>, bool) {
    let mut roles: Vec<String> = Vec::new();
    let mut ordered = false;
    for template in templates {
        let mut own: Vec<&SignerRole> = template.body.signer_roles.iter().collect();
        own.sort_by_key(|r| r.order.unwrap_or(i64::MAX));
        ordered |= own.iter().any(|r| r.order.is_some());
        for role in own {
            if !roles.contains(&role.name) {
                roles.push(role.name.clone());
            }
        }
    }
    (roles, ordered)
}

/// Builds a request from `templates` (in order, each already checked usable by the caller) and each
/// one's document bytes: the caller's signers and CCs by role, merge-field values from
/// `custom_fields` by name, and every other parameter from `input` (whose own `signers`, files and
/// `custom_fields` are ignored).
pub fn request_from_templates(
    templates: &[(&Template, Vec<FileInput>)],
    signers: &[RoleSigner],
    ccs: &[RoleCc],
    custom_fields: &[Value],
    mut input: RequestInput,
    by: &Requester<'_>,
) -> Result<(NewSignatureRequest, Vec<Notice>), InvalidInput> {
    let first = templates.first().map(|(t, _)| *t).ok_or_else(|| InvalidInput::missing("template_ids"))?;
    let (roles, ordered) = signer_roles_of(templates.iter().map(|(t, _)| *t));
    // Signers by role: each role once, each named role known, every role filled.
    let mut by_role: Vec<Option<&RoleSigner>> = vec![None; roles.len()];
    for (i, s) in signers.iter().enumerate() {
        let role = s.role.as_deref().map(str::trim).filter(|r| !r.is_empty());
        let role = role.ok_or_else(|| InvalidInput::missing(&format!("signers[{i}][role]")))?;
        let slot = roles.iter().position(|r| r == role).ok_or_else(|| {
            InvalidInput::new(
                format!("signers[{i}][role]"),
                format!("The template has no signer role {role:?} (roles are case-sensitive: {})", names(&roles)),
            )
        })?;
        if by_role[slot].is_some() {
            return Err(InvalidInput::new(
                format!("signers[{i}][role]"),
                format!("The signer role {role:?} is given twice"),
            ));
        }
        by_role[slot] = Some(s);
    }
    if signers.is_empty() {
        return Err(InvalidInput::missing("signers"));
    }
    if let Some(missing) = by_role.iter().position(Option::is_none) {
        return Err(InvalidInput::new(
            "signers",
            format!(
                "The signer role {:?} has no signer: give one signer for each of the template's roles ({})",
                roles[missing],
                names(&roles)
            ),
        ));
    }
    // CCs by role.
    let cc_roles: Vec<&String> = {
        let mut all: Vec<&String> = Vec::new();
        for (template, _) in templates {
            for role in &template.body.cc_roles {
                if !all.contains(&role) {
                    all.push(role);
                }
            }
        }
        all
    };
    let mut cc_addresses: Vec<Option<String>> = vec![None; cc_roles.len()];
    for (i, cc) in ccs.iter().enumerate() {
        let role = cc.role.as_deref().map(str::trim).filter(|r| !r.is_empty());
        let role = role.ok_or_else(|| InvalidInput::missing(&format!("ccs[{i}][role]")))?;
        let slot = cc_roles.iter().position(|r| *r == role).ok_or_else(|| {
            InvalidInput::new(format!("ccs[{i}][role]"), format!("The template has no CC role {role:?}"))
        })?;
        if cc_addresses[slot].is_some() {
            return Err(InvalidInput::new(format!("ccs[{i}][role]"), format!("The CC role {role:?} is given twice")));
        }
        let email =
            cc.email_address.clone().ok_or_else(|| InvalidInput::missing(&format!("ccs[{i}][email_address]")))?;
        cc_addresses[slot] = Some(email);
    }
    if let Some(missing) = cc_addresses.iter().position(Option::is_none) {
        return Err(InvalidInput::new(
            "ccs",
            format!("The CC role {:?} has no e-mail address: give one in ccs", cc_roles[missing]),
        ));
    }
    let values = merge_values(templates, custom_fields, &roles)?;

    // The request's signers, in role order; the order is kept when a template asks for one.
    input.signers = Some(
        by_role
            .iter()
            .enumerate()
            .map(|(position, s)| {
                let mut signer = s.map(|s| s.signer.clone()).unwrap_or_default();
                signer.order = ordered.then_some(position as u32);
                signer
            })
            .collect(),
    );
    input.cc_email_addresses = cc_addresses.into_iter().flatten().collect();
    // Files sent with the templates come after the templates' documents.
    if !input.file_urls.is_empty() {
        return Err(InvalidInput::new(
            "file_urls",
            "Appending files by URL to a template's documents is not supported by this server yet; upload them with files[]",
        ));
    }
    let appended = std::mem::take(&mut input.files);
    input.files =
        templates.iter().flat_map(|(_, files)| files.iter().cloned()).chain(appended.iter().cloned()).collect();
    let template_documents = input.files.len() - appended.len();
    input.custom_fields = Vec::new();
    input.form_fields_per_document = Vec::new();
    input.use_text_tags = Some(false);
    input.title = input.title.filter(|t| !t.trim().is_empty()).or_else(|| Some(first.body.title.clone()));
    input.subject = input.subject.filter(|t| !t.trim().is_empty()).or_else(|| first.body.subject.clone());
    input.message = input.message.filter(|t| !t.trim().is_empty()).or_else(|| first.body.message.clone());
    if input.allow_reassign.is_none() && templates.iter().any(|(t, _)| t.body.allow_reassign) {
        input.allow_reassign = Some(true);
    }
    let (mut request, notices) = NewSignatureRequest::parse(input, by)?;

    // The templates' fields, their documents and roles mapped onto the request's.
    let mut fields = Vec::new();
    let mut groups = Vec::new();
    let mut document_offset = 0i64;
    for (template, _) in templates {
        for field in &template.fields {
            let mut field = field.clone();
            field.document_index += document_offset;
            field.signer_index = field
                .signer_index
                .and_then(|i| template.body.signer_roles.get(i as usize))
                .and_then(|role| roles.iter().position(|r| r == &role.name))
                .map(|i| i as i64);
            if let Some(kind) = MergeKind::of_field_type(&field.field_type) {
                let name = if field.name.is_empty() { field.api_id.clone() } else { field.name.clone() };
                if let Some(value) = values.get(&name) {
                    field.value = value.value.clone();
                    if let Some(editor) = value.editor {
                        // An editable merge field becomes the editor's own field, filled in advance.
                        field.signer_index = Some(editor as i64);
                        field.field_type = kind.as_str().to_owned();
                        field.required = value.required;
                        if kind == MergeKind::Checkbox {
                            field.options.is_checked = value.value.as_deref() == Some("true");
                        }
                    }
                }
            }
            fields.push(field);
        }
        for group in &template.options.field_groups {
            if !groups.iter().any(|g: &FieldGroup| g.group_id == group.group_id) {
                groups.push(group.clone());
            }
        }
        document_offset += template.documents.len() as i64;
    }
    request.body.template_ids = Some(templates.iter().map(|(t, _)| t.body.template_id.as_str().to_owned()).collect());
    for (signature, role) in request.body.signatures.iter_mut().zip(&roles) {
        signature.signer_role = Some(role.clone());
    }
    request.body.custom_fields = values
        .iter()
        .map(|(name, v)| {
            let mut shown = json!({"name": name, "type": v.kind.as_str(), "required": v.required, "value": v.shown()});
            if let Some(editor) = v.editor {
                shown["editor"] = json!(roles[editor]);
            }
            shown
        })
        .collect();
    request.options.custom_fields = Vec::new();
    if !appended.is_empty() {
        // The appended files' text tags are read, merge tags filled from custom_fields.
        request.options.template_documents = Some(template_documents);
        request.options.use_text_tags = true;
        request.options.custom_fields = custom_fields.to_vec();
    }
    request.options.field_groups = groups;
    request.options.template_fields = Some(fields);
    Ok((request, notices))
}

fn names(roles: &[String]) -> String {
    roles.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", ")
}

/// A merge field's value as sent.
struct MergeValue {
    kind: MergeKind,
    value: Option<String>,
    editor: Option<usize>,
    required: bool,
}

impl MergeValue {
    fn shown(&self) -> Value {
        match (self.kind, self.value.as_deref()) {
            (_, None) => Value::Null,
            (MergeKind::Checkbox, Some(v)) => json!(v == "true"),
            (MergeKind::Text, Some(v)) => json!(v),
        }
    }
}

/// `custom_fields` checked against the templates' merge fields: a value of the right kind for each
/// (text, or a boolean for a checkbox), `editor` naming one of the roles, `required` only with an
/// editor, and a value for every merge field placed as required.
fn merge_values(
    templates: &[(&Template, Vec<FileInput>)],
    custom_fields: &[Value],
    roles: &[String],
) -> Result<BTreeMap<String, MergeValue>, InvalidInput> {
    let mut declared: BTreeMap<String, MergeValue> = BTreeMap::new();
    for (template, _) in templates {
        for merge in &template.body.merge_fields {
            declared.entry(merge.name.clone()).or_insert(MergeValue {
                kind: merge.kind,
                value: None,
                editor: None,
                required: false,
            });
        }
    }
    for (i, entry) in custom_fields.iter().enumerate() {
        let at = |key: &str| format!("custom_fields[{i}][{key}]");
        let Value::Object(map) = entry else {
            return Err(InvalidInput::new(format!("custom_fields[{i}]"), "each custom field must be an object"));
        };
        let name = map.get("name").and_then(Value::as_str).filter(|n| !n.trim().is_empty());
        let name = name.ok_or_else(|| InvalidInput::missing(&at("name")))?;
        let Some(slot) = declared.get_mut(name) else {
            // Dropbox Sign fills nothing for a name no merge field has; neither do we.
            continue;
        };
        slot.value = match (slot.kind, map.get("value")) {
            (_, None | Some(Value::Null)) => None,
            (MergeKind::Text, Some(Value::String(s))) => Some(s.clone()),
            (MergeKind::Text, Some(Value::Number(n))) => Some(n.to_string()),
            (MergeKind::Checkbox, Some(v)) => match parse_bool(v) {
                Ok(Some(b)) => Some(b.to_string()),
                Ok(None) => None,
                Err(_) => {
                    return Err(InvalidInput::new(
                        at("value"),
                        format!("The merge field {name:?} is a checkbox: its value must be true or false"),
                    ));
                }
            },
            (MergeKind::Text, Some(_)) => {
                return Err(InvalidInput::new(at("value"), format!("The merge field {name:?} takes text")));
            }
        };
        if let Some(editor) = map.get("editor").and_then(Value::as_str).filter(|e| !e.trim().is_empty()) {
            let position = roles.iter().position(|r| r == editor).ok_or_else(|| {
                InvalidInput::new(
                    at("editor"),
                    format!("editor {editor:?} is not one of the signer roles ({})", names(roles)),
                )
            })?;
            slot.editor = Some(position);
        }
        if let Some(raw) = map.get("required") {
            slot.required = parse_bool(raw).map_err(|m| InvalidInput::new(at("required"), m))?.unwrap_or(false);
            if slot.required && slot.editor.is_none() {
                return Err(InvalidInput::new(
                    at("required"),
                    format!("The merge field {name:?} is required for a signer: name their role in editor"),
                ));
            }
        }
    }
    // A merge field placed as required needs a value, unless a signer fills it in.
    for (template, _) in templates {
        for field in template.fields.iter().filter(|f| f.required && MergeKind::of_field_type(&f.field_type).is_some())
        {
            let name = if field.name.is_empty() { &field.api_id } else { &field.name };
            if let Some(v) = declared.get(name)
                && v.value.is_none()
                && v.editor.is_none()
            {
                return Err(InvalidInput::new(
                    "custom_fields",
                    format!("The merge field {name:?} is required: give its value in custom_fields"),
                ));
            }
        }
    }
    Ok(declared)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature_request::FieldOptions;

    fn field(kind: &str, signer: Option<i64>, name: &str, required: bool) -> FieldSpec {
        FieldSpec {
            document_index: 0,
            api_id: format!("{name}_id"),
            name: name.into(),
            field_type: kind.into(),
            signer_index: signer,
            required,
            page: 1,
            x: 72.0,
            y: 100.0,
            width: 90.0,
            height: 18.0,
            validation_type: None,
            auto_fill: None,
            source: "form_fields_per_document".into(),
            value: None,
            options: FieldOptions::default(),
        }
    }

    fn template(roles: &[&str], cc: &[&str], fields: Vec<FieldSpec>) -> Template {
        let owner = TemplateAccount { account_id: AccountId::generate(), email_address: "owner@example.com".into() };
        Template {
            owner,
            client_id: None,
            status: TemplateStatus::Ready,
            body: TemplateBody {
                template_id: TemplateId::generate(),
                title: "NDA".into(),
                subject: None,
                message: Some("Please sign".into()),
                metadata: Map::new(),
                signer_roles: roles.iter().map(|r| SignerRole { name: (*r).into(), order: None }).collect(),
                cc_roles: cc.iter().map(|r| (*r).to_string()).collect(),
                merge_fields: vec![MergeField { name: "Company".into(), kind: MergeKind::Text }],
                is_embedded: false,
                test_mode: true,
                allow_reassign: false,
                created_at: 1,
                updated_at: 1,
            },
            options: TemplateOptions::default(),
            fields,
            documents: vec![TemplateDocument { index: 0, name: "nda.pdf".into(), pages: vec![[612.0, 792.0]] }],
            error: None,
            deleted: false,
            shared_with: Vec::new(),
        }
    }

    fn signer(role: &str, email: &str) -> RoleSigner {
        RoleSigner {
            role: Some(role.into()),
            signer: SignerInput {
                name: Some("Ann".into()),
                email_address: Some(email.into()),
                ..SignerInput::default()
            },
        }
    }

    fn send(
        templates: &[&Template],
        signers: &[RoleSigner],
        ccs: &[RoleCc],
        custom: &[Value],
    ) -> Result<NewSignatureRequest, InvalidInput> {
        let account = AccountId::generate();
        let email = crate::email::EmailAddress::parse("me@example.com", "x").unwrap_or_else(|e| panic!("{e:?}"));
        let by = Requester {
            account_id: &account,
            email: &email,
            client_id: None,
            embedded: false,
            public_url: "http://localhost",
            limits: DocumentLimits::default(),
            now: 1_700_000_000,
        };
        let with_files: Vec<(&Template, Vec<FileInput>)> = templates
            .iter()
            .map(|t| {
                (
                    *t,
                    vec![FileInput {
                        file_name: Some("nda.pdf".into()),
                        bytes: bytes::Bytes::from_static(b"%PDF-1.4"),
                    }],
                )
            })
            .collect();
        request_from_templates(&with_files, signers, ccs, custom, RequestInput::default(), &by).map(|(r, _)| r)
    }

    #[test]
    fn signers_are_matched_to_roles_and_fields_follow_them() {
        let t = template(
            &["Client", "Manager"],
            &[],
            vec![field("signature", Some(1), "m_sig", true), field("signature", Some(0), "c_sig", true)],
        );
        let r = send(&[&t], &[signer("Manager", "m@example.com"), signer("Client", "c@example.com")], &[], &[])
            .unwrap_or_else(|e| panic!("{e:?}"));
        let s = &r.body.signatures;
        assert_eq!(
            (s[0].signer_email_address.as_str(), s[0].signer_role.as_deref()),
            ("c@example.com", Some("Client"))
        );
        assert_eq!(s[1].signer_role.as_deref(), Some("Manager"));
        let fields = r.options.template_fields.unwrap_or_default();
        assert_eq!(
            fields.iter().map(|f| (f.api_id.as_str(), f.signer_index)).collect::<Vec<_>>(),
            [("m_sig_id", Some(1)), ("c_sig_id", Some(0))]
        );
        assert_eq!(r.body.template_ids, Some(vec![t.body.template_id.as_str().to_owned()]));
        assert_eq!(r.body.title, "NDA");
    }

    #[test]
    fn role_mistakes_are_refused_with_their_path() {
        let t = template(&["Client", "Manager"], &["Lawyer"], vec![field("signature", Some(0), "s", true)]);
        let lawyer = RoleCc { role: Some("Lawyer".into()), email_address: Some("l@example.com".into()) };
        let err = send(&[&t], &[signer("Client", "c@example.com")], std::slice::from_ref(&lawyer), &[]).err().unwrap();
        assert!(err.path == "signers" && err.message.contains("\"Manager\""), "{err:?}");
        let err = send(&[&t], &[signer("client", "c@example.com")], std::slice::from_ref(&lawyer), &[]).err().unwrap();
        assert_eq!(err.path, "signers[0][role]");
        let both = [signer("Client", "c@example.com"), signer("Manager", "m@example.com")];
        let err = send(&[&t], &both, &[], &[]).err().unwrap();
        assert!(err.path == "ccs" && err.message.contains("Lawyer"), "{err:?}");
        assert!(send(&[&t], &both, &[lawyer], &[]).is_ok());
    }

    #[test]
    fn merge_fields_take_values_of_their_kind_and_required_ones_must_be_given() {
        let mut t = template(
            &["Client"],
            &[],
            vec![field("signature", Some(0), "s", true), field("text-merge", None, "Company", true)],
        );
        let one = [signer("Client", "c@example.com")];
        let err = send(&[&t], &one, &[], &[]).err().unwrap();
        assert!(err.message.contains("\"Company\" is required"), "{err:?}");
        let err = send(&[&t], &one, &[], &[json!({"name": "Company", "value": true})]).err().unwrap();
        assert_eq!(err.path, "custom_fields[0][value]");
        let r =
            send(&[&t], &one, &[], &[json!({"name": "Company", "value": "Acme"})]).unwrap_or_else(|e| panic!("{e:?}"));
        let fields = r.options.template_fields.unwrap_or_default();
        assert_eq!(fields[1].value.as_deref(), Some("Acme"));
        assert_eq!(r.body.custom_fields[0]["value"], "Acme");
        // An editor makes it the signer's own field, filled in advance.
        let r = send(
            &[&t],
            &one,
            &[],
            &[json!({"name": "Company", "value": "Acme", "editor": "Client", "required": true})],
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        let fields = r.options.template_fields.unwrap_or_default();
        assert_eq!((fields[1].field_type.as_str(), fields[1].signer_index), ("text", Some(0)));
        t.body.merge_fields[0].kind = MergeKind::Checkbox;
        let err = send(&[&t], &one, &[], &[json!({"name": "Company", "value": "Acme"})]).err().unwrap();
        assert!(err.message.contains("checkbox"), "{err:?}");
    }

    #[test]
    fn several_templates_merge_roles_by_name_and_stack_documents() {
        let a = template(&["Client"], &[], vec![field("signature", Some(0), "a", true)]);
        let b = template(
            &["Manager", "Client"],
            &[],
            vec![field("signature", Some(0), "b", true), field("initials", Some(1), "c", true)],
        );
        let r = send(&[&a, &b], &[signer("Client", "c@example.com"), signer("Manager", "m@example.com")], &[], &[])
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.documents.len(), 2);
        let fields = r.options.template_fields.unwrap_or_default();
        assert_eq!(
            fields.iter().map(|f| (f.document_index, f.signer_index)).collect::<Vec<_>>(),
            [(0, Some(0)), (1, Some(1)), (1, Some(0))]
        );
    }

    #[test]
    fn the_response_shows_fields_in_the_units_form_fields_per_document_takes() {
        let t = template(
            &["Client"],
            &["Lawyer"],
            vec![field("signature", Some(0), "s", true), field("text-merge", None, "Company", false)],
        );
        let shown = t.response(&t.owner.account_id);
        let doc = &shown["documents"][0];
        assert_eq!(doc["form_fields"][0]["signer"], "1");
        assert_eq!(doc["form_fields"][0]["width"], 100);
        assert_eq!(doc["custom_fields"][0]["type"], "text");
        assert_eq!(shown["cc_roles"][0]["name"], "Lawyer");
        assert_eq!(shown["is_creator"], true);
        let other = AccountId::generate();
        assert!(!t.visible_to(&other));
        assert_eq!(t.response(&other)["is_embedded"], Value::Null);
    }

    #[test]
    fn placed_fields_must_name_declared_roles_and_merge_kinds() {
        let t = template(&["Client"], &[], Vec::new());
        assert!(settle_merge_fields(&t.body, &[field("signature", Some(1), "s", true)]).is_err());
        assert!(settle_merge_fields(&t.body, &[field("text-merge", None, "Company", true)]).is_err());
        let merged = settle_merge_fields(
            &t.body,
            &[field("signature", Some(0), "s", true), field("checkbox-merge", None, "Agreed", false)],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(merged.len(), 2);
        assert!(
            settle_merge_fields(
                &t.body,
                &[field("checkbox-merge", None, "Company", false), field("signature", Some(0), "s", true)]
            )
            .is_err()
        );
    }

    #[test]
    fn the_editor_saves_fields_inside_pages_for_roles_and_named_merge_fields() {
        let t = template(&["Client", "Witness"], &[], Vec::new());
        let save = |raw: Value| editor_fields(&t, raw.as_array().unwrap(), 100);
        let sig = json!({"type": "signature", "role": 1, "document_index": 0, "page": 1, "x": 50, "y": 700, "width": 150, "height": 30});
        let fee = json!({"type": "text-merge", "name": "Fee", "document_index": 0, "page": 1, "x": 50, "y": 100, "width": 100, "height": 14});
        let (fields, merge) = save(json!([sig, fee])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(fields[0].signer_index, Some(1));
        assert_eq!(fields[0].source, "editor");
        assert!(fields[0].required, "signer fields are required unless unticked");
        assert_eq!(fields[1].signer_index, None);
        assert_eq!(merge.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["Company", "Fee"]);

        let mut off_page = sig.clone();
        off_page["y"] = json!(780);
        assert!(save(json!([off_page])).unwrap_err().contains("inside page 1"));
        let mut no_role = sig.clone();
        no_role["role"] = json!(2);
        assert!(save(json!([no_role])).unwrap_err().contains("signer roles"));
        let mut page_two = sig.clone();
        page_two["page"] = json!(2);
        assert!(save(json!([page_two])).unwrap_err().contains("page 2 does not exist"));
        assert!(save(json!([fee])).unwrap_err().contains("at least one field for a signer"));
        let unnamed = json!({"type": "checkbox-merge", "document_index": 0, "page": 1, "x": 1, "y": 1, "width": 10, "height": 10});
        assert!(save(json!([sig, unnamed])).unwrap_err().contains("needs a name"));
        let dropdown = json!({"type": "dropdown", "role": 0, "document_index": 0, "page": 1, "x": 1, "y": 1, "width": 60, "height": 14});
        assert!(save(json!([dropdown])).unwrap_err().contains("choice"));
        // A field placed before keeps what the editor does not edit.
        let mut before = template(&["Client", "Witness"], &[], vec![field("text", Some(0), "mail", true)]);
        before.fields[0].validation_type = Some("email_address".into());
        before.fields[0].source = "text_tag".into();
        let moved = json!([{"api_id": "mail_id", "type": "text", "role": 1, "name": "mail", "document_index": 0, "page": 1, "x": 20, "y": 30, "width": 100, "height": 14}]);
        let (kept, _) = editor_fields(&before, moved.as_array().unwrap(), 100).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(kept[0].validation_type.as_deref(), Some("email_address"));
        assert_eq!(kept[0].source, "text_tag");
        assert_eq!((kept[0].signer_index, kept[0].x), (Some(1), 20.0));
        let mut wrong_kind = fee.clone();
        wrong_kind["name"] = json!("Company");
        wrong_kind["type"] = json!("checkbox-merge");
        assert!(save(json!([sig, wrong_kind])).is_err(), "Company is declared as text");

        // Radio buttons in a group for one signer; hyperlinks with their text and an http(s) address.
        let radio = |role: u64, group: &str| json!({"type": "radio", "role": role, "group": group, "document_index": 0, "page": 1, "x": 5, "y": 5 + role * 20, "width": 14, "height": 14});
        let (placed, _) = save(json!([radio(0, "Plan"), radio(0, "Plan")])).unwrap_or_else(|e| panic!("{e}"));
        assert!(placed.iter().all(|f| f.options.group.as_deref() == Some("Plan") && f.required));
        assert!(save(json!([radio(0, "")])).unwrap_err().contains("needs a group"));
        assert!(save(json!([radio(0, "Plan"), radio(1, "Plan")])).unwrap_err().contains("different signers"));
        let link = |url: &str| json!({"type": "hyperlink", "role": 0, "content": "Terms", "content_url": url, "document_index": 0, "page": 1, "x": 5, "y": 5, "width": 80, "height": 14, "required": true});
        let (placed, _) = save(json!([link("https://example.com/terms")])).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(placed[0].options.content_url.as_deref(), Some("https://example.com/terms"));
        assert!(!placed[0].required, "a hyperlink is never required");
        assert!(save(json!([link("javascript:alert(1)")])).unwrap_err().contains("http(s)"));
        assert!(save(json!([link("")])).unwrap_err().contains("its text and its address"));

        // A radio button from text tags may be moved and reassigned, keeping its group.
        let mut radios = template(&["Client", "Witness"], &[], vec![field("radio", Some(0), "plan", true)]);
        radios.fields[0].options.group = Some("tagged".into());
        let moved = json!([{"api_id": "plan_id", "type": "radio", "role": 1, "document_index": 0, "page": 1, "x": 5, "y": 5, "width": 14, "height": 14}]);
        let (kept, _) = editor_fields(&radios, moved.as_array().unwrap(), 100).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((kept[0].field_type.as_str(), kept[0].signer_index), ("radio", Some(1)));
        assert_eq!(kept[0].options.group.as_deref(), Some("tagged"));
        let mut unknown = moved.clone();
        (unknown[0]["api_id"], unknown[0]["type"]) = (json!(""), json!("stamp"));
        let refused = editor_fields(&radios, unknown.as_array().unwrap(), 100).unwrap_err();
        assert!(refused.contains("not one the editor places"), "{refused}");
        // A new field's id is not one the template's fields already use.
        let mut texts = template(&["Client", "Witness"], &[], vec![field("text", Some(0), "t", true)]);
        texts.fields[0].api_id = "text_1".into();
        let both = json!([
            {"type": "text", "role": 1, "document_index": 0, "page": 1, "x": 5, "y": 50, "width": 80, "height": 14},
            {"api_id": "text_1", "type": "text", "role": 0, "document_index": 0, "page": 1, "x": 5, "y": 5, "width": 80, "height": 14}
        ]);
        let (saved, _) = editor_fields(&texts, both.as_array().unwrap(), 100).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(saved[1].api_id, "text_1");
        assert_ne!(saved[0].api_id, "text_1");
    }

    #[test]
    fn an_overlay_needs_as_many_pages_each_the_same_way_up() {
        let overlay = Overlay { fields: Vec::new(), pages: vec![vec![[612.0, 792.0], [612.0, 792.0]]] };
        assert!(
            overlay.fits(&[vec![[595.0, 842.0], [595.0, 842.0], [595.0, 842.0]]]).is_ok(),
            "A4 for letter, one more page"
        );
        assert!(overlay.fits(&[vec![[612.0, 792.0]]]).unwrap_err().contains("at least as many"));
        assert!(overlay.fits(&[vec![[612.0, 792.0], [792.0, 612.0]]]).unwrap_err().contains("Page 2"));
        assert!(overlay.fits(&[vec![[612.0, 792.0]; 2], vec![[612.0, 792.0]]]).unwrap_err().contains("1 document"));
    }
}

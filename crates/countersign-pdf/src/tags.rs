//! The Dropbox-Sign text tag grammar (spec §7.2).
//!
//! ```text
//! tag := "[" type "|" req "|" signer [ "|" label [ "|" api_id [ "|" validation [ "|" autofill ]]]] "]"
//! ```
//!
//! Parsing is lenient about whitespace, because PDF producers often position glyphs so that text
//! extraction sees a space where there was none in the source document: whitespace is removed from
//! every slot except the label (where runs of whitespace collapse to one space). Tags may also be
//! padded with spaces or underscores before the closing bracket to widen the field.

use std::fmt;

/// The kind of form field a text tag creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// `text`: a free-text field.
    Text,
    /// `check`: a checkbox.
    Checkbox,
    /// `date`: the date the signer signed.
    DateSigned,
    /// `initial`: the signer's initials.
    Initials,
    /// `sig`: a signature.
    Signature,
    /// `text-merge`: a text field pre-filled from `custom_fields`.
    TextMerge,
    /// `checkbox-merge`: a checkbox pre-filled from `custom_fields`.
    CheckboxMerge,
}

impl FieldType {
    /// The field type's name in the Dropbox Sign API (`form_fields_per_document[].type`).
    pub fn api_name(&self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Checkbox => "checkbox",
            FieldType::DateSigned => "date_signed",
            FieldType::Initials => "initials",
            FieldType::Signature => "signature",
            FieldType::TextMerge => "text-merge",
            FieldType::CheckboxMerge => "checkbox-merge",
        }
    }

    /// The spelling used inside a text tag (`sig`, `check`, …).
    pub fn tag_name(&self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Checkbox => "check",
            FieldType::DateSigned => "date",
            FieldType::Initials => "initial",
            FieldType::Signature => "sig",
            FieldType::TextMerge => "text-merge",
            FieldType::CheckboxMerge => "checkbox-merge",
        }
    }

    /// Whether this is one of the `*-merge` types that the sender fills through `custom_fields`.
    pub fn is_merge(&self) -> bool {
        matches!(self, FieldType::TextMerge | FieldType::CheckboxMerge)
    }

    fn from_tag_name(name: &str) -> Option<FieldType> {
        const ALL: [FieldType; 7] = [
            FieldType::Text,
            FieldType::Checkbox,
            FieldType::DateSigned,
            FieldType::Initials,
            FieldType::Signature,
            FieldType::TextMerge,
            FieldType::CheckboxMerge,
        ];
        ALL.into_iter().find(|t| t.tag_name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.api_name())
    }
}

/// Who a text tag's field belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagSigner {
    /// `signerN`: the N-th signer of the request (1-based).
    Signer(u32),
    /// `sender`: a merge field filled by the sender (only for `text-merge` / `checkbox-merge`).
    Sender,
}

impl fmt::Display for TagSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TagSigner::Signer(n) => write!(f, "signer{n}"),
            TagSigner::Sender => f.write_str("sender"),
        }
    }
}

/// A parsed text tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextTag {
    /// The field type.
    pub field_type: FieldType,
    /// `req` (or anything other than `noreq`) → `true`; `noreq` → `false`.
    pub required: bool,
    /// Whose field it is.
    pub signer: TagSigner,
    /// The optional label (4th slot).
    pub label: Option<String>,
    /// The optional API id (5th slot), reported as `api_id` in the response data.
    pub api_id: Option<String>,
    /// The optional validation type (6th slot, text fields only), e.g. `numbers_only`.
    pub validation: Option<String>,
    /// The optional auto-fill type (7th slot), e.g. `firstName`.
    pub autofill: Option<String>,
}

/// A malformed text tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagError {
    /// A user-facing description, naming the tag.
    pub message: String,
}

impl fmt::Display for TagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TagError {}

/// The validation types a `text` tag may name (spec §7.2).
pub const VALIDATION_TYPES: [&str; 10] = [
    "numbers_only",
    "letters_only",
    "phone_number",
    "bank_routing_number",
    "bank_account_number",
    "email_address",
    "zip_code",
    "social_security_number",
    "employer_identification_number",
    "custom_regex",
];

/// The auto-fill types a tag may name (spec §7.2).
pub const AUTOFILL_TYPES: [&str; 6] = ["firstName", "lastName", "name", "email", "company", "title"];

/// The most slots a tag can have: type, req, signer, label, api_id, validation, autofill.
const MAX_PARTS: usize = 7;

/// Parse one text tag, brackets included, e.g. `"[sig|req|signer1]"`.
pub fn parse_tag(text: &str) -> Result<TextTag, TagError> {
    let shown = display_tag(text);
    let err = |message: String| TagError { message };

    let trimmed = text.trim();
    let inner = trimmed
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| err(format!("text tag {shown} must be enclosed in square brackets")))?;
    // Padding that widens the field: spaces or underscores just inside the brackets.
    let inner = inner.trim_matches(|c: char| c.is_whitespace() || c == '_');

    let parts: Vec<&str> = inner.split('|').collect();
    if parts.len() < 3 {
        return Err(err(format!("text tag {shown} needs at least three parts: type|req|signer")));
    }
    if parts.len() > MAX_PARTS {
        return Err(err(format!(
            "text tag {shown} has {} parts; at most {MAX_PARTS} are allowed \
             (type|req|signer|label|api_id|validation|autofill)",
            parts.len()
        )));
    }

    let type_text = compact(parts[0]);
    let field_type = FieldType::from_tag_name(&type_text).ok_or_else(|| {
        if type_text.is_empty() {
            err(format!("missing field type in text tag {shown}"))
        } else {
            err(format!("unknown field type \"{type_text}\" in text tag {shown}"))
        }
    })?;

    let req_text = compact(parts[1]);
    let required = !req_text.eq_ignore_ascii_case("noreq");

    let signer_text = compact(parts[2]);
    let signer = parse_signer(&signer_text).ok_or_else(|| {
        if signer_text.is_empty() {
            err(format!("missing signer in text tag {shown}; expected signer1, signer2, … or sender"))
        } else {
            err(format!("unknown signer \"{signer_text}\" in text tag {shown}; expected signer1, signer2, … or sender"))
        }
    })?;
    if signer == TagSigner::Sender && !field_type.is_merge() {
        return Err(err(format!(
            "\"sender\" can only own text-merge and checkbox-merge fields, not \"{}\", in text tag {shown}",
            field_type.tag_name()
        )));
    }

    let label = parts.get(3).map(|s| collapse_whitespace(s)).filter(|s| !s.is_empty());
    let api_id = parts.get(4).map(|s| compact(s)).filter(|s| !s.is_empty());

    let validation = match parts.get(5).map(|s| compact(s)).filter(|s| !s.is_empty()) {
        None => None,
        Some(v) => {
            let canonical = VALIDATION_TYPES.iter().find(|known| known.eq_ignore_ascii_case(&v)).ok_or_else(|| {
                err(format!(
                    "unknown validation type \"{v}\" in text tag {shown}; expected one of {}",
                    VALIDATION_TYPES.join(", ")
                ))
            })?;
            if field_type != FieldType::Text {
                return Err(err(format!(
                    "validation \"{canonical}\" is only allowed on text fields, not \"{}\", in text tag {shown}",
                    field_type.tag_name()
                )));
            }
            Some((*canonical).to_string())
        }
    };

    let autofill = match parts.get(6).map(|s| compact(s)).filter(|s| !s.is_empty()) {
        None => None,
        Some(v) => {
            let canonical = AUTOFILL_TYPES.iter().find(|known| known.eq_ignore_ascii_case(&v)).ok_or_else(|| {
                err(format!(
                    "unknown auto-fill type \"{v}\" in text tag {shown}; expected one of {}",
                    AUTOFILL_TYPES.join(", ")
                ))
            })?;
            Some((*canonical).to_string())
        }
    };

    Ok(TextTag { field_type, required, signer, label, api_id, validation, autofill })
}

fn parse_signer(s: &str) -> Option<TagSigner> {
    if s.eq_ignore_ascii_case("sender") {
        return Some(TagSigner::Sender);
    }
    let prefix = s.get(..6)?;
    if !prefix.eq_ignore_ascii_case("signer") {
        return None;
    }
    let digits = &s[6..];
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match digits.parse::<u32>() {
        Ok(n) if n >= 1 => Some(TagSigner::Signer(n)),
        _ => None,
    }
}

/// Remove all whitespace, and padding underscores at both ends.
fn compact(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect::<String>().trim_matches('_').to_string()
}

/// Trim, and collapse every run of whitespace to a single space.
fn collapse_whitespace(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// The tag as shown in error messages: whitespace collapsed, and cut if absurdly long.
fn display_tag(text: &str) -> String {
    let collapsed = collapse_whitespace(text);
    const MAX: usize = 200;
    if collapsed.chars().count() > MAX {
        let cut: String = collapsed.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        collapsed
    }
}

/// Whether the text between a `[` and the next `]` looks like a text tag rather than ordinary
/// bracketed text: it must have at least two `|` separators (`type|req|signer`).
pub(crate) fn looks_like_tag(inner: &str) -> bool {
    inner.bytes().filter(|&b| b == b'|').count() >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> TextTag {
        match parse_tag(s) {
            Ok(t) => t,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn bad(s: &str) -> String {
        match parse_tag(s) {
            Ok(t) => panic!("{s} parsed as {t:?}"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn all_seven_types() {
        let cases = [
            ("[text|req|signer1]", FieldType::Text, "text"),
            ("[check|req|signer1]", FieldType::Checkbox, "checkbox"),
            ("[date|req|signer1]", FieldType::DateSigned, "date_signed"),
            ("[initial|req|signer1]", FieldType::Initials, "initials"),
            ("[sig|req|signer1]", FieldType::Signature, "signature"),
            ("[text-merge|req|signer1]", FieldType::TextMerge, "text-merge"),
            ("[checkbox-merge|req|signer1]", FieldType::CheckboxMerge, "checkbox-merge"),
        ];
        for (tag, ty, api) in cases {
            let t = ok(tag);
            assert_eq!(t.field_type, ty, "{tag}");
            assert_eq!(t.field_type.api_name(), api);
            assert!(t.required);
            assert_eq!(t.signer, TagSigner::Signer(1));
            assert_eq!((t.label, t.api_id, t.validation, t.autofill), (None, None, None, None));
        }
    }

    #[test]
    fn full_form() {
        let t = ok("[text|noreq|signer2|Company|company_name]");
        assert_eq!(t.field_type, FieldType::Text);
        assert!(!t.required);
        assert_eq!(t.signer, TagSigner::Signer(2));
        assert_eq!(t.label.as_deref(), Some("Company"));
        assert_eq!(t.api_id.as_deref(), Some("company_name"));

        let t = ok("[text|req|signer1|Label|UniqueId|letters_only|firstName]");
        assert_eq!(t.validation.as_deref(), Some("letters_only"));
        assert_eq!(t.autofill.as_deref(), Some("firstName"));

        let t = ok("[check|noreq|signer1|Agree to terms|agree_terms]");
        assert_eq!(t.label.as_deref(), Some("Agree to terms"));
        assert_eq!(t.api_id.as_deref(), Some("agree_terms"));
    }

    #[test]
    fn signers_and_sender() {
        assert_eq!(ok("[sig|req|signer12]").signer, TagSigner::Signer(12));
        let t = ok("[text-merge|req|sender|firstname|firstname_api_id]");
        assert_eq!(t.signer, TagSigner::Sender);
        assert_eq!(t.label.as_deref(), Some("firstname"));
        assert_eq!(ok("[checkbox-merge|req|signer1|is_registered|product_id]").signer, TagSigner::Signer(1));
        assert_eq!(ok("[checkbox-merge|noreq|sender]").signer, TagSigner::Sender);
        assert!(bad("[sig|req|sender]").contains("sender"));
        assert!(bad("[text|req|sender]").contains("sender"));
    }

    #[test]
    fn bad_signer() {
        for tag in ["[sig|req|signer0]", "[sig|req|signer]", "[sig|req|bob]", "[sig|req|]", "[sig|req|signer1a]"] {
            let m = bad(tag);
            assert!(m.contains("signer"), "{tag}: {m}");
        }
        assert!(bad("[sig|req|signerX]").contains("unknown signer \"signerX\""));
    }

    #[test]
    fn bad_type() {
        assert_eq!(bad("[stamp|req|signer1]"), "unknown field type \"stamp\" in text tag [stamp|req|signer1]");
        assert!(bad("[|req|signer1]").contains("missing field type"));
        assert!(bad("[signature|req|signer1]").contains("unknown field type"));
    }

    #[test]
    fn req_values() {
        assert!(ok("[sig|req|signer1]").required);
        assert!(!ok("[sig|noreq|signer1]").required);
        // Anything else is treated as "req".
        assert!(ok("[sig|maybe|signer1]").required);
        assert!(ok("[sig||signer1]").required);
    }

    #[test]
    fn empty_slots() {
        let t = ok("[text|req|signer1||||firstName]");
        assert_eq!((t.label.as_deref(), t.api_id.as_deref(), t.validation.as_deref()), (None, None, None));
        assert_eq!(t.autofill.as_deref(), Some("firstName"));
        let t = ok("[sig|req|signer1||my_id]");
        assert_eq!(t.label, None);
        assert_eq!(t.api_id.as_deref(), Some("my_id"));
        let t = ok("[text|req|signer1| | | | ]");
        assert_eq!((t.label, t.api_id, t.validation, t.autofill), (None, None, None, None));
    }

    #[test]
    fn too_many_or_too_few_parts() {
        assert!(bad("[text|req|signer1|a|b|numbers_only|name|extra]").contains("8 parts"));
        assert!(bad("[sig|req]").contains("at least three"));
        assert!(bad("sig|req|signer1").contains("brackets"));
    }

    #[test]
    fn validation_and_autofill() {
        for v in VALIDATION_TYPES {
            assert_eq!(ok(&format!("[text|req|signer1|L|id|{v}]")).validation.as_deref(), Some(v));
        }
        for a in AUTOFILL_TYPES {
            assert_eq!(ok(&format!("[text|req|signer1|L|id||{a}]")).autofill.as_deref(), Some(a));
        }
        assert!(bad("[text|req|signer1|L|id|digits]").contains("unknown validation type \"digits\""));
        assert!(bad("[sig|req|signer1|L|id|numbers_only]").contains("only allowed on text fields"));
        assert!(bad("[text|req|signer1|L|id||nickname]").contains("unknown auto-fill type \"nickname\""));
        // Canonical spelling is restored.
        assert_eq!(ok("[text|req|signer1|||PHONE_NUMBER|firstname]").validation.as_deref(), Some("phone_number"));
        assert_eq!(ok("[text|req|signer1|||PHONE_NUMBER|firstname]").autofill.as_deref(), Some("firstName"));
    }

    #[test]
    fn whitespace_and_padding() {
        let t = ok("[ sig | req | signer 1 |  My   label  | my_id ]");
        assert_eq!(t.field_type, FieldType::Signature);
        assert_eq!(t.signer, TagSigner::Signer(1));
        assert_eq!(t.label.as_deref(), Some("My label"));
        assert_eq!(t.api_id.as_deref(), Some("my_id"));
        assert_eq!(ok("[sig|req|signer1            ]").signer, TagSigner::Signer(1));
        assert_eq!(ok("[sig|req|signer1__________]").signer, TagSigner::Signer(1));
        assert_eq!(ok("  [sig|req|signer1]  ").field_type, FieldType::Signature);
        assert_eq!(ok("[SIG|REQ|Signer2]").signer, TagSigner::Signer(2));
        assert_eq!(ok("[s ig|r eq|sig ner1]").field_type, FieldType::Signature);
    }

    #[test]
    fn looks_like_tag_is_conservative() {
        assert!(looks_like_tag("sig|req|signer1"));
        assert!(!looks_like_tag("1"));
        assert!(!looks_like_tag("a|b"));
        assert!(!looks_like_tag("see appendix"));
    }
}

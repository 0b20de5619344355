//! What a signer submits from the signer page, checked against the fields placed for them: every
//! required field filled, each value of its field's kind (a validated text, a boolean, one of a
//! dropdown's choices, a PNG signature), groups answered as `form_field_groups` say, and
//! `date_signed` filled here with the signing date. The outcome is the `response_data` entries and
//! signature images that [`crate::lifecycle::SignatureRequest::sign`] commits.
//!
//! The signer page checks the same rules as the signer types, for a quick answer; this module is the
//! rule.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::Value;

use crate::lifecycle::{FieldResponse, SignerImage};
use crate::signature_request::{DATE_FORMATS, FieldGroup, FieldSpec};

/// The most bytes one signature image may have.
pub const MAX_SIGNATURE_IMAGE_BYTES: usize = 512 * 1024;
/// The largest side of a signature image, in pixels.
pub const MAX_SIGNATURE_IMAGE_SIDE: u32 = 4000;
/// The longest text value, in characters.
pub const MAX_TEXT_VALUE_CHARS: usize = 4000;

/// What the signer page sends: text and boolean values by `api_id`, and signature images (PNG bytes)
/// by `api_id`.
#[derive(Debug, Default, Clone)]
pub struct Submission {
    pub values: BTreeMap<String, Value>,
    pub images: BTreeMap<String, Vec<u8>>,
    /// For typed signatures: the typed name, by api_id (an image is sent too).
    pub typed: BTreeMap<String, String>,
}

/// Longest typed signature, in characters.
pub const MAX_TYPED_SIGNATURE_CHARS: usize = 100;

/// Why a submission was refused: the field (its `api_id`, or a group's id) and a message for the signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub api_id: String,
    pub message: String,
}

impl FieldError {
    fn new(api_id: &str, message: impl Into<String>) -> Self {
        Self { api_id: api_id.to_owned(), message: message.into() }
    }
}

/// The checked outcome of a submission.
#[derive(Debug, Default)]
pub struct Signed {
    pub responses: Vec<FieldResponse>,
    pub images: Vec<SignerImage>,
}

/// Whether a field is one the signer fills (not a merge field, not a hyperlink, not the sender's).
pub fn fills(field: &FieldSpec, signer_index: i64) -> bool {
    field.signer_index == Some(signer_index) && !matches!(field.field_type.as_str(), "text-merge" | "checkbox-merge")
}

/// Checks `submission` against the fields of the signer at `signer_index` (their position in
/// `signatures[]`). `now` is the signing time (unix seconds), written into `date_signed` fields.
pub fn check_submission(
    fields: &[FieldSpec],
    groups: &[FieldGroup],
    signer_index: i64,
    submission: &Submission,
    now: i64,
) -> Result<Signed, FieldError> {
    let mine: Vec<&FieldSpec> = fields.iter().filter(|f| fills(f, signer_index)).collect();
    for api_id in submission.values.keys().chain(submission.images.keys()).chain(submission.typed.keys()) {
        if !mine.iter().any(|f| &f.api_id == api_id) {
            return Err(FieldError::new(api_id, "This field is not one of yours."));
        }
    }
    let mut signed = Signed::default();
    let mut filled_in_group: BTreeMap<&str, u32> = BTreeMap::new();
    for field in &mine {
        let api_id = field.api_id.as_str();
        let grouped = field.options.group.as_deref().filter(|g| groups.iter().any(|group| group.group_id == *g));
        let value = match field.field_type.as_str() {
            "signature" | "initials" => match submission.images.get(api_id) {
                Some(png) => {
                    check_png(api_id, png)?;
                    let typed = match submission.typed.get(api_id).map(|t| t.trim()) {
                        None | Some("") => None,
                        Some(t) if t.chars().count() > MAX_TYPED_SIGNATURE_CHARS || t.chars().any(char::is_control) => {
                            return Err(FieldError::new(
                                api_id,
                                "A typed signature is one line of at most 100 characters.",
                            ));
                        }
                        Some(t) => Some(t.to_owned()),
                    };
                    signed.images.push(SignerImage { api_id: api_id.to_owned(), png: png.clone(), typed });
                    Value::Null
                }
                None if field.required => {
                    let what = if field.field_type == "initials" { "your initials" } else { "your signature" };
                    return Err(FieldError::new(api_id, format!("Add {what} here.")));
                }
                None => continue,
            },
            "date_signed" => Value::String(format_date(now, field.options.date_format.as_deref())),
            "hyperlink" => continue,
            "checkbox" | "radio" => {
                let checked = match submission.values.get(api_id) {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(FieldError::new(api_id, "A checkbox is checked or not.")),
                };
                if let Some(group) = grouped {
                    *filled_in_group.entry(group).or_default() += u32::from(checked);
                } else if field.required && !checked && field.field_type == "checkbox" {
                    return Err(FieldError::new(api_id, "Check this box to continue."));
                }
                Value::Bool(checked)
            }
            "dropdown" => {
                let choice = text_value(api_id, submission.values.get(api_id))?;
                match choice {
                    Some(choice) if field.options.options.iter().any(|o| o == &choice) => Value::String(choice),
                    Some(_) => return Err(FieldError::new(api_id, "Choose one of the listed options.")),
                    None if field.required => return Err(FieldError::new(api_id, "Choose an option.")),
                    None => continue,
                }
            }
            _ => {
                let text = text_value(api_id, submission.values.get(api_id))?;
                match text {
                    Some(text) => {
                        check_text(field, &text)?;
                        Value::String(text)
                    }
                    None if field.required => return Err(FieldError::new(api_id, "Fill in this field.")),
                    None => continue,
                }
            }
        };
        signed.responses.push(FieldResponse {
            api_id: field.api_id.clone(),
            name: field.name.clone(),
            field_type: field.field_type.clone(),
            required: field.required,
            value,
        });
    }
    // Radio buttons without a declared group form one group of their own: exactly one, when required.
    let mut loose_radios: BTreeMap<&str, (u32, bool)> = BTreeMap::new();
    for field in mine.iter().filter(|f| f.field_type == "radio") {
        if field.options.group.as_deref().is_some_and(|g| groups.iter().any(|group| group.group_id == g)) {
            continue;
        }
        let key = field.options.group.as_deref().unwrap_or(field.api_id.as_str());
        let checked = matches!(submission.values.get(&field.api_id), Some(Value::Bool(true)));
        let entry = loose_radios.entry(key).or_default();
        entry.0 += u32::from(checked);
        entry.1 |= field.required;
    }
    for (group, (checked, required)) in loose_radios {
        if checked > 1 {
            return Err(FieldError::new(group, "Choose only one option."));
        }
        if required && checked == 0 {
            return Err(FieldError::new(group, "Choose one option."));
        }
    }
    for group in groups {
        if !mine.iter().any(|f| f.options.group.as_deref() == Some(group.group_id.as_str())) {
            continue;
        }
        let checked = filled_in_group.get(group.group_id.as_str()).copied().unwrap_or(0);
        let label = if group.group_label.is_empty() { "this group" } else { group.group_label.as_str() };
        if checked < group.least {
            return Err(FieldError::new(&group.group_id, format!("Choose at least {} in {label}.", group.least)));
        }
        if let Some(most) = group.most
            && checked > most
        {
            return Err(FieldError::new(&group.group_id, format!("Choose at most {most} in {label}.")));
        }
    }
    Ok(signed)
}

/// A text value: absent, null and blank are no value.
fn text_value(api_id: &str, raw: Option<&Value>) -> Result<Option<String>, FieldError> {
    let text = match raw {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.trim().to_owned(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(FieldError::new(api_id, "This field takes text.")),
    };
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().count() > MAX_TEXT_VALUE_CHARS {
        return Err(FieldError::new(api_id, format!("Use at most {MAX_TEXT_VALUE_CHARS} characters.")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(FieldError::new(api_id, "This text contains characters that cannot be shown."));
    }
    Ok(Some(text))
}

/// A text field's `validation_type`.
fn check_text(field: &FieldSpec, text: &str) -> Result<(), FieldError> {
    let Some(kind) = field.validation_type.as_deref() else { return Ok(()) };
    let digits = |t: &str| t.chars().filter(char::is_ascii_digit).count();
    let only = |t: &str, allowed: &dyn Fn(char) -> bool| t.chars().all(allowed);
    let ok = match kind {
        "numbers_only" => only(text, &|c| c.is_ascii_digit() || c == '.' || c == ',' || c == '-'),
        "letters_only" => only(text, &|c| c.is_alphabetic() || c == ' '),
        "phone_number" => {
            only(text, &|c| c.is_ascii_digit() || " +-().".contains(c)) && (7..=15).contains(&digits(text))
        }
        "bank_routing_number" => only(text, &|c| c.is_ascii_digit()) && text.len() == 9,
        "bank_account_number" => only(text, &|c| c.is_ascii_digit()) && (4..=17).contains(&text.len()),
        "email_address" => crate::email::EmailAddress::parse(text, "value").is_ok(),
        "zip_code" => {
            let d: String = text.chars().filter(|c| *c != '-').collect();
            only(text, &|c| c.is_ascii_digit() || c == '-') && (d.len() == 5 || d.len() == 9)
        }
        "social_security_number" => only(text, &|c| c.is_ascii_digit() || c == '-') && digits(text) == 9,
        "employer_identification_number" => only(text, &|c| c.is_ascii_digit() || c == '-') && digits(text) == 9,
        "custom_regex" => match field.options.validation_custom_regex.as_deref() {
            Some(pattern) => custom_regex(pattern).is_some_and(|re| re.is_match(text)),
            None => true,
        },
        _ => true,
    };
    if ok {
        return Ok(());
    }
    let expected = match kind {
        "numbers_only" => "numbers only".to_owned(),
        "letters_only" => "letters only".to_owned(),
        "phone_number" => "a phone number".to_owned(),
        "bank_routing_number" => "a 9-digit bank routing number".to_owned(),
        "bank_account_number" => "a bank account number (4 to 17 digits)".to_owned(),
        "email_address" => "an e-mail address".to_owned(),
        "zip_code" => "a ZIP code (5 or 9 digits)".to_owned(),
        "social_security_number" => "a social security number (9 digits)".to_owned(),
        "employer_identification_number" => "an employer identification number (9 digits)".to_owned(),
        _ => field
            .options
            .validation_custom_regex_format_label
            .clone()
            .filter(|l| !l.trim().is_empty())
            .unwrap_or_else(|| "the expected format".to_owned()),
    };
    Err(FieldError::new(&field.api_id, format!("Enter {expected}.")))
}

/// A `validation_custom_regex`, anchored so it must match the whole value; `None` when it is not a
/// regular expression this server can run (refused at create, so only a stored request could hold one).
pub fn custom_regex(pattern: &str) -> Option<Regex> {
    regex::RegexBuilder::new(&format!("^(?:{pattern})$")).size_limit(1 << 20).build().ok()
}

/// A signature image must be a PNG of sensible size.
fn check_png(api_id: &str, png: &[u8]) -> Result<(), FieldError> {
    if png.len() > MAX_SIGNATURE_IMAGE_BYTES {
        return Err(FieldError::new(
            api_id,
            format!("The signature image is larger than {} KiB.", MAX_SIGNATURE_IMAGE_BYTES / 1024),
        ));
    }
    let (width, height) = png_size(png).ok_or_else(|| FieldError::new(api_id, "The signature must be a PNG image."))?;
    if width == 0 || height == 0 || width > MAX_SIGNATURE_IMAGE_SIDE || height > MAX_SIGNATURE_IMAGE_SIDE {
        return Err(FieldError::new(api_id, "The signature image has an unusable size."));
    }
    Ok(())
}

/// The width and height from a PNG's header (signature, then the IHDR chunk).
pub fn png_size(png: &[u8]) -> Option<(u32, u32)> {
    if png.len() < 24 || &png[..8] != b"\x89PNG\r\n\x1a\n" || &png[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(png[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(png[20..24].try_into().ok()?);
    Some((width, height))
}

/// The date `unix` (seconds, UTC) in one of [`DATE_FORMATS`] (the first when `format` is not one).
pub fn format_date(unix: i64, format: Option<&str>) -> String {
    let (year, month, day) = civil_date(unix);
    let format = format.filter(|f| DATE_FORMATS.contains(f)).unwrap_or(DATE_FORMATS[0]);
    format
        .replace("YYYY", &format!("{year:04}"))
        .replace("MM", &format!("{month:02}"))
        .replace("DD", &format!("{day:02}"))
}

/// (year, month, day) of a unix time, in UTC (times outside years 1–9999 read as the epoch).
fn civil_date(unix: i64) -> (i64, u32, u32) {
    let date = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH).date();
    (i64::from(date.year()), u32::from(u8::from(date.month())), u32::from(date.day()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature_request::FieldOptions;
    use serde_json::json;

    fn field(api_id: &str, field_type: &str, required: bool) -> FieldSpec {
        FieldSpec {
            document_index: 0,
            api_id: api_id.into(),
            name: api_id.into(),
            field_type: field_type.into(),
            signer_index: Some(0),
            required,
            page: 1,
            x: 10.0,
            y: 10.0,
            width: 100.0,
            height: 20.0,
            validation_type: None,
            auto_fill: None,
            source: "form_fields_per_document".into(),
            value: None,
            options: FieldOptions::default(),
        }
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        bytes.extend_from_slice(&width.to_be_bytes());
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend_from_slice(&[8, 6, 0, 0, 0]);
        bytes
    }

    fn submit(
        fields: &[FieldSpec],
        groups: &[FieldGroup],
        values: Value,
        images: &[(&str, Vec<u8>)],
    ) -> Result<Signed, FieldError> {
        let submission = Submission {
            values: values.as_object().cloned().unwrap_or_default().into_iter().collect(),
            images: images.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
            typed: BTreeMap::new(),
        };
        check_submission(fields, groups, 0, &submission, 1_765_065_600)
    }

    #[test]
    fn required_fields_must_be_filled_and_date_signed_is_filled_by_the_server() {
        let mut date = field("d", "date_signed", true);
        date.options.date_format = Some("DD - MM - YYYY".into());
        let fields = [field("sig", "signature", true), field("t", "text", true), date, field("opt", "text", false)];
        let err = submit(&fields, &[], json!({"t": "x"}), &[]).unwrap_err();
        assert_eq!(err.api_id, "sig");
        let err = submit(&fields, &[], json!({"t": "  "}), &[("sig", png(300, 100))]).unwrap_err();
        assert_eq!((err.api_id.as_str(), err.message.as_str()), ("t", "Fill in this field."));
        let signed = submit(&fields, &[], json!({"t": "ACME"}), &[("sig", png(300, 100))]).unwrap();
        let values: Vec<(&str, &Value)> = signed.responses.iter().map(|r| (r.api_id.as_str(), &r.value)).collect();
        assert_eq!(values, vec![("sig", &Value::Null), ("t", &json!("ACME")), ("d", &json!("07 - 12 - 2025"))]);
        assert_eq!(signed.images.len(), 1);
    }

    #[test]
    fn values_must_fit_their_fields() {
        let mut phone = field("p", "text", false);
        phone.validation_type = Some("phone_number".into());
        let mut code = field("c", "text", false);
        code.validation_type = Some("custom_regex".into());
        code.options.validation_custom_regex = Some("[A-Z]{3}-\\d+".into());
        code.options.validation_custom_regex_format_label = Some("a code like ABC-123".into());
        let mut choice = field("dd", "dropdown", false);
        choice.options.options = vec!["Red".into(), "Blue".into()];
        let fields = [phone, code, choice, field("sig", "signature", false)];
        assert_eq!(submit(&fields, &[], json!({"p": "call me"}), &[]).unwrap_err().message, "Enter a phone number.");
        assert!(submit(&fields, &[], json!({"p": "+1 (415) 555-0100"}), &[]).is_ok());
        assert_eq!(
            submit(&fields, &[], json!({"c": "ABC-12x"}), &[]).unwrap_err().message,
            "Enter a code like ABC-123."
        );
        assert!(submit(&fields, &[], json!({"c": "ABC-12"}), &[]).is_ok());
        assert!(submit(&fields, &[], json!({"dd": "Green"}), &[]).is_err());
        assert!(submit(&fields, &[], json!({"other": "x"}), &[]).is_err(), "a field of no one");
        let not_png = submit(&fields, &[], json!({}), &[("sig", b"GIF89a".to_vec())]).unwrap_err();
        assert_eq!(not_png.message, "The signature must be a PNG image.");
        let huge = submit(&fields, &[], json!({}), &[("sig", png(9000, 10))]).unwrap_err();
        assert!(huge.message.contains("size"));
    }

    #[test]
    fn groups_count_their_checked_members() {
        let mut a = field("a", "checkbox", false);
        a.options.group = Some("g".into());
        let mut b = field("b", "checkbox", false);
        b.options.group = Some("g".into());
        let group = FieldGroup { group_id: "g".into(), group_label: "Colors".into(), least: 1, most: Some(1) };
        let fields = [a, b];
        let groups = [group];
        assert_eq!(submit(&fields, &groups, json!({}), &[]).unwrap_err().message, "Choose at least 1 in Colors.");
        assert!(submit(&fields, &groups, json!({"a": true, "b": true}), &[]).is_err());
        assert!(submit(&fields, &groups, json!({"a": false, "b": true}), &[]).is_ok());
        let mut r1 = field("r1", "radio", true);
        r1.options.group = Some("plan".into());
        let mut r2 = field("r2", "radio", true);
        r2.options.group = Some("plan".into());
        let radios = [r1, r2];
        assert_eq!(submit(&radios, &[], json!({}), &[]).unwrap_err().api_id, "plan");
        assert!(submit(&radios, &[], json!({"r1": true, "r2": true}), &[]).is_err());
        assert!(submit(&radios, &[], json!({"r2": true}), &[]).is_ok());
    }

    #[test]
    fn requirements_and_dates_parse() {
        assert_eq!(FieldGroup::requirement("require_0-1"), Some((0, Some(1))));
        assert_eq!(FieldGroup::requirement("require_1"), Some((1, Some(1))));
        assert_eq!(FieldGroup::requirement("require_1-ploral"), Some((1, None)));
        assert_eq!(FieldGroup::requirement("require_3-2"), None);
        assert_eq!(FieldGroup::requirement("always"), None);
        assert_eq!(format_date(0, None), "01 / 01 / 1970");
        assert_eq!(format_date(951_782_400, Some("YYYY - MM - DD")), "2000 - 02 - 29");
        assert_eq!(civil_date(-86_400), (1969, 12, 31));
    }
}

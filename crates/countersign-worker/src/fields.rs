//! From analysed documents to fields: text tags, `form_fields_per_document`, or — with neither — an
//! appended signature page with one signature field per signer (compat spec §6.1, §7).
//!
//! Pure functions: the outcome depends only on the documents and the request's options, so it is the
//! same on every node and every retry.

use countersign_domain::signature_request::field_number as number;
use countersign_domain::signature_request::{
    FIELD_TYPES, FieldOptions, FieldSpec, Placement, ProcessingFailure, ProcessingOptions, form_field_entries,
    place_entry,
};
use countersign_pdf::{FoundTag, TagSigner, parse_tag, signature_slot};
use serde_json::Value;

/// One analysed document.
pub struct AnalysedDocument {
    pub name: String,
    /// Displayed page sizes (width, height) in points.
    pub pages: Vec<(f64, f64)>,
    pub tags: Vec<FoundTag>,
}

/// The fields, and whether a signature page was appended.
pub struct Placed {
    pub fields: Vec<FieldSpec>,
    pub appended_signature_page: bool,
}

/// The value a merge field takes from `custom_fields`, matched by name against the tag's label or
/// api_id.
fn merge_value(custom_fields: &[Value], label: Option<&str>, api_id: Option<&str>) -> Option<String> {
    custom_fields.iter().find_map(|field| {
        let name = field.get("name").and_then(Value::as_str)?;
        let matches = Some(name) == label || Some(name) == api_id;
        if !matches {
            return None;
        }
        match field.get("value")? {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    })
}

fn from_tags(
    docs: &[AnalysedDocument],
    signers: usize,
    custom_fields: &[Value],
) -> Result<Vec<FieldSpec>, ProcessingFailure> {
    tags_of(docs, 0, signers, custom_fields, false)
}

/// The fields of files appended to templates' documents when sending (`docs[first..]`): their text
/// tags, those naming a signer the request does not have left out (as Dropbox Sign does).
pub fn appended_fields(
    docs: &[AnalysedDocument],
    first: usize,
    signers: usize,
    custom_fields: &[Value],
) -> Result<Vec<FieldSpec>, ProcessingFailure> {
    tags_of(docs, first, signers, custom_fields, true)
}

/// The text tags of `docs[first..]` as fields; a tag for an unknown signer fails the request unless
/// `skip_unknown_signers`.
fn tags_of(
    docs: &[AnalysedDocument],
    first: usize,
    signers: usize,
    custom_fields: &[Value],
    skip_unknown_signers: bool,
) -> Result<Vec<FieldSpec>, ProcessingFailure> {
    let mut fields = Vec::new();
    for (doc_index, doc) in docs.iter().enumerate().skip(first) {
        for tag in &doc.tags {
            let place = format!("on page {} of {}", tag.page, doc.name);
            let parsed = parse_tag(&tag.text).map_err(|e| {
                ProcessingFailure::File(format!("Invalid text tag {} {place}: {}", tag.text, e.message))
            })?;
            let signer_index = match parsed.signer {
                TagSigner::Signer(n) if (n as usize) <= signers && n >= 1 => Some(i64::from(n) - 1),
                TagSigner::Signer(_) if skip_unknown_signers => continue,
                TagSigner::Signer(n) => {
                    return Err(ProcessingFailure::TextTag(format!(
                        "Text tag {} {place} names signer{n}, but the request has {signers} signer{}",
                        tag.text,
                        if signers == 1 { "" } else { "s" }
                    )));
                }
                TagSigner::Sender => None,
            };
            let n = fields.len() + 1;
            let type_name = parsed.field_type.api_name();
            let value = if parsed.field_type.is_merge() {
                merge_value(custom_fields, parsed.label.as_deref(), parsed.api_id.as_deref())
            } else {
                None
            };
            fields.push(FieldSpec {
                document_index: doc_index as i64,
                api_id: parsed
                    .api_id
                    .clone()
                    .unwrap_or_else(|| format!("{}_{doc_index}_{n}", type_name.replace('-', "_"))),
                name: parsed.label.clone().unwrap_or_default(),
                field_type: type_name.to_owned(),
                signer_index,
                required: parsed.required,
                page: i64::from(tag.page),
                x: tag.rect.x,
                y: tag.rect.y,
                width: tag.rect.width,
                height: tag.rect.height,
                validation_type: parsed.validation.clone(),
                auto_fill: parsed.autofill.clone(),
                source: "text_tag".into(),
                value,
                options: FieldOptions::default(),
            });
        }
    }
    Ok(fields)
}

fn text(field: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match field.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The settings of a form field the signer page and signing need (`options`, `content`, `group`, …).
fn field_options(map: &serde_json::Map<String, Value>) -> FieldOptions {
    let flag = |key: &str| map.get(key).and_then(|v| countersign_domain::parse_bool(v).ok().flatten()).unwrap_or(false);
    FieldOptions {
        options: match map.get("options") {
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(|o| match o {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        },
        content: text(map, "content"),
        content_url: text(map, "content_url"),
        placeholder: text(map, "placeholder"),
        masked: flag("masked"),
        group: text(map, "group").filter(|g| !g.is_empty()),
        date_format: map
            .get("field_options")
            .and_then(Value::as_object)
            .and_then(|o| text(o, "date_format"))
            .or_else(|| text(map, "date_format")),
        validation_custom_regex: text(map, "validation_custom_regex"),
        validation_custom_regex_format_label: text(map, "validation_custom_regex_format_label"),
        is_checked: flag("is_checked"),
    }
}

/// `form_fields_per_document`: the flat list of the current API (`document_index` on each field) or the
/// older list of lists (one list per document).
fn from_form_fields(
    docs: &[AnalysedDocument],
    signers: usize,
    form_fields: &[Value],
    custom_fields: &[Value],
) -> Result<Vec<FieldSpec>, ProcessingFailure> {
    let flat = form_field_entries(form_fields)
        .map_err(|path| ProcessingFailure::ComponentPosition(format!("{path} is not an object")))?;
    let mut fields = Vec::new();
    for entry in &flat {
        let (doc_index, map, path) = (entry.document_index, entry.field, &entry.path);
        let bad = |what: String| ProcessingFailure::ComponentPosition(format!("{path}: {what}"));
        let doc = docs.get(doc_index).ok_or_else(|| bad(format!("document_index {doc_index} names no document")))?;
        let field_type = text(map, "type").ok_or_else(|| bad("type is missing".into()))?;
        if !FIELD_TYPES.contains(&field_type.as_str()) {
            return Err(bad(format!("unknown field type {field_type:?}")));
        }
        let requested_page = number(map, "page").map(|p| p as i64);
        let (x, y) = (number(map, "x").unwrap_or(0.0), number(map, "y").unwrap_or(0.0));
        let (w, h) = (number(map, "width").unwrap_or(0.0), number(map, "height").unwrap_or(0.0));
        let (page, x, y, width, height) = match place_entry(entry, &doc.pages) {
            Placement::Fits { page, x, y, width, height } => (page, x, y, width, height),
            Placement::Clipped { page, x, y, width, height } => {
                tracing::info!(%path, page, "a form field overflowing its page was clipped to it");
                (page, x, y, width, height)
            }
            Placement::Off => {
                let on = match requested_page {
                    Some(page) => format!("page {page}"),
                    None => "any page (legacy 80-DPI coordinates)".to_owned(),
                };
                return Err(bad(format!(
                    "the field at ({x}, {y}) of size {w}×{h} is not on {on} of the document ({} page{})",
                    doc.pages.len(),
                    if doc.pages.len() == 1 { "" } else { "s" }
                )));
            }
        };
        let signer = map.get("signer").cloned().unwrap_or(Value::Null);
        let signer_index = match &signer {
            Value::String(s) if s == "sender" => None,
            Value::String(s) => {
                Some(s.trim().parse::<i64>().map_err(|_| bad(format!("signer {s:?} is not a signer index")))?)
            }
            Value::Number(n) => Some(n.as_i64().ok_or_else(|| bad(format!("signer {n} is not a signer index")))?),
            _ => return Err(bad("signer is missing".into())),
        };
        if let Some(i) = signer_index
            && (i < 0 || i as usize >= signers)
        {
            return Err(ProcessingFailure::TextTag(format!(
                "{path}: signer {i} does not exist; the request has {signers} signer{}",
                if signers == 1 { "" } else { "s" }
            )));
        }
        let api_id = text(map, "api_id")
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| format!("field_{doc_index}_{}", fields.len() + 1));
        let name = text(map, "name").unwrap_or_default();
        // Values that are not booleans were refused at create.
        let required =
            map.get("required").and_then(|v| countersign_domain::parse_bool(v).ok().flatten()).unwrap_or(false);
        let value =
            if field_type.ends_with("-merge") { merge_value(custom_fields, Some(&name), Some(&api_id)) } else { None };
        fields.push(FieldSpec {
            document_index: doc_index as i64,
            api_id,
            name,
            field_type,
            signer_index,
            required,
            page,
            x,
            y,
            width,
            height,
            validation_type: text(map, "validation_type"),
            auto_fill: None,
            source: "form_fields_per_document".into(),
            value,
            options: field_options(map),
        });
    }
    Ok(fields)
}

/// One signature field per signer on pages appended after the last document's last page (seven to a
/// page; `countersign_pdf::append_signature_pages` draws the same boxes).
fn signature_page(docs: &[AnalysedDocument], signers: usize) -> Vec<FieldSpec> {
    let last = docs.len().saturating_sub(1);
    let first_page = docs.last().map_or(0, |d| d.pages.len()) as i64 + 1;
    (0..signers)
        .map(|i| {
            let (page, slot) = signature_slot(i);
            FieldSpec {
                document_index: last as i64,
                api_id: format!("signature_page_{}", i + 1),
                name: format!("Signer {}", i + 1),
                field_type: "signature".into(),
                signer_index: Some(i as i64),
                required: true,
                page: first_page + page as i64,
                x: slot.x,
                y: slot.y,
                width: slot.width,
                height: slot.height,
                validation_type: None,
                auto_fill: None,
                source: "signature_page".into(),
                value: None,
                options: FieldOptions::default(),
            }
        })
        .collect()
}

/// Places the request's fields.
pub fn place_fields(
    docs: &[AnalysedDocument],
    signers: usize,
    options: &ProcessingOptions,
    max_fields: usize,
) -> Result<Placed, ProcessingFailure> {
    let mut fields = if options.use_text_tags { from_tags(docs, signers, &options.custom_fields)? } else { Vec::new() };
    fields.extend(from_form_fields(docs, signers, &options.form_fields_per_document, &options.custom_fields)?);
    let appended_signature_page = fields.is_empty();
    if appended_signature_page {
        fields = signature_page(docs, signers);
    }
    check_field_count(fields.len(), max_fields)?;
    Ok(Placed { fields, appended_signature_page })
}

/// The documents of one request carry at most `max_fields` fields.
pub fn check_field_count(count: usize, max_fields: usize) -> Result<(), ProcessingFailure> {
    if count > max_fields {
        return Err(ProcessingFailure::File(format!("The documents have {count} fields; the limit is {max_fields}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use countersign_pdf::Rect;
    use serde_json::json;

    fn doc(tags: &[(u32, &str)]) -> AnalysedDocument {
        AnalysedDocument {
            name: "a.pdf".into(),
            pages: vec![(612.0, 792.0); 3],
            tags: tags
                .iter()
                .map(|(page, text)| FoundTag {
                    page: *page,
                    text: (*text).into(),
                    rect: Rect { x: 10.0, y: 20.0, width: 100.0, height: 12.0 },
                })
                .collect(),
        }
    }

    fn tags_on() -> ProcessingOptions {
        ProcessingOptions { use_text_tags: true, ..ProcessingOptions::default() }
    }

    #[test]
    fn tags_become_fields_for_their_signers() {
        let placed = place_fields(
            &[doc(&[(1, "[sig|req|signer2|Sign here|client_sig]"), (2, "[date|noreq|signer1]")])],
            2,
            &tags_on(),
            100,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(!placed.appended_signature_page);
        let f = &placed.fields;
        assert_eq!(
            (f[0].field_type.as_str(), f[0].signer_index, f[0].api_id.as_str()),
            ("signature", Some(1), "client_sig")
        );
        assert_eq!((f[1].field_type.as_str(), f[1].required, f[1].page), ("date_signed", false, 2));
        assert_eq!(f[0].name, "Sign here");
    }

    #[test]
    fn unknown_signer_is_invalid_and_malformed_tag_a_file_error() {
        let err = place_fields(&[doc(&[(1, "[sig|req|signer3]")])], 2, &tags_on(), 100).err().unwrap();
        assert!(
            matches!(&err, ProcessingFailure::TextTag(m) if m.contains("[sig|req|signer3]") && m.contains("page 1"))
        );
        let err = place_fields(&[doc(&[(1, "[stamp|req|signer1]")])], 1, &tags_on(), 100).err().unwrap();
        assert!(
            matches!(&err, ProcessingFailure::File(m) if m.contains("[stamp|req|signer1]") && m.contains("page 1"))
        );
    }

    #[test]
    fn files_appended_to_templates_read_their_tags_and_leave_out_unknown_signers() {
        let template_doc = doc(&[(1, "[sig|req|signer1]")]);
        let appended =
            doc(&[(1, "[sig|req|signer1]"), (2, "[text|req|signer3]"), (3, "[text-merge|noreq|sender|Fee]")]);
        let fee = [json!({"name": "Fee", "value": "CHF 10"})];
        let fields = appended_fields(&[template_doc, appended], 1, 2, &fee).unwrap_or_else(|e| panic!("{e:?}"));
        let got: Vec<(i64, &str, Option<i64>)> =
            fields.iter().map(|f| (f.document_index, f.field_type.as_str(), f.signer_index)).collect();
        assert_eq!(
            got,
            [(1, "signature", Some(0)), (1, "text-merge", None)],
            "the template's own tags are not read again"
        );
        assert_eq!(fields[1].value.as_deref(), Some("CHF 10"));
        let broken = doc(&[(1, "[stamp|req|signer1]")]);
        assert!(matches!(appended_fields(&[broken], 0, 1, &[]), Err(ProcessingFailure::File(_))));
    }

    #[test]
    fn merge_fields_take_custom_field_values() {
        let mut options = tags_on();
        options.custom_fields = vec![json!({"name": "company", "value": "Acme"})];
        let placed = place_fields(&[doc(&[(1, "[text-merge|req|sender|company|co_id]")])], 1, &options, 100)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(placed.fields[0].value.as_deref(), Some("Acme"));
        assert_eq!(placed.fields[0].signer_index, None);
    }

    #[test]
    fn without_tags_or_fields_a_signature_page_is_appended() {
        let placed = place_fields(&[doc(&[(1, "[sig|req|signer1]")])], 2, &ProcessingOptions::default(), 100)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(placed.appended_signature_page);
        assert_eq!(placed.fields.len(), 2);
        assert!(placed.fields.iter().all(|f| f.page == 4 && f.field_type == "signature"));
    }

    #[test]
    fn form_fields_are_checked_against_the_page() {
        let mut options = ProcessingOptions {
            form_fields_per_document: vec![
                json!({"document_index": 0, "api_id": "x", "type": "text", "x": 112, "y": 328, "width": 100, "height": 16, "signer": "0", "page": 1}),
            ],
            ..ProcessingOptions::default()
        };
        let placed = place_fields(&[doc(&[])], 1, &options, 100).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((placed.fields[0].x, placed.fields[0].signer_index), (112.0, Some(0)));
        options.form_fields_per_document[0]["page"] = json!(9);
        assert!(matches!(place_fields(&[doc(&[])], 1, &options, 100), Err(ProcessingFailure::ComponentPosition(_))));
        options.form_fields_per_document[0]["page"] = json!(1);
        options.form_fields_per_document[0]["signer"] = json!(3);
        assert!(matches!(place_fields(&[doc(&[])], 1, &options, 100), Err(ProcessingFailure::TextTag(_))));
    }
}

//! Bulk send with templates: the signer list (`signer_list` as JSON, or `signer_file` as CSV) read into
//! rows, what every row shares (`BulkSpec`), and one row made into an ordinary request from templates
//! (`BulkSpec::request_for`) — so a row is checked by exactly the rules of `send_with_template`, and a
//! row that breaks them fails alone.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::InvalidInput;
use crate::new_request::{FileInput, NewSignatureRequest, Notice, RequestInput, Requester, SignerInput};
use crate::template::{RoleCc, RoleSigner, Template, request_from_templates};

/// The most rows one bulk send job may have (Dropbox Sign's limit).
pub const MAX_BULK_ROWS: usize = 10_000;

/// One entry of the signer list: the signers by role, and custom-field values for this row.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BulkRow {
    pub signers: Vec<BulkSigner>,
    /// `{"name", "value"}` objects; a row's value wins over the job's for the same name.
    #[serde(default)]
    pub custom_fields: Vec<Value>,
}

/// A signer of a row, by role.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BulkSigner {
    pub role: Option<String>,
    pub name: Option<String>,
    pub email_address: Option<String>,
    pub pin: Option<String>,
    pub sms_phone_number: Option<String>,
}

/// What every row of a job shares.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BulkSpec {
    pub template_ids: Vec<String>,
    pub ccs: Vec<(Option<String>, Option<String>)>,
    pub custom_fields: Vec<Value>,
    pub title: Option<String>,
    pub subject: Option<String>,
    pub message: Option<String>,
    pub metadata: Option<Map<String, Value>>,
    pub test_mode: Option<bool>,
    pub allow_decline: Option<bool>,
    pub signing_redirect_url: Option<String>,
    pub client_id: Option<String>,
    pub embedded: bool,
}

impl BulkSpec {
    /// Row `row` as a request from `templates` (with their documents), for `by`: the job's custom
    /// fields overridden by the row's, the job's CCs and texts. The request carries `job_id`.
    pub fn request_for(
        &self,
        templates: &[(&Template, Vec<FileInput>)],
        row: &BulkRow,
        by: &Requester<'_>,
        job_id: &str,
    ) -> Result<(NewSignatureRequest, Vec<Notice>), InvalidInput> {
        let signers: Vec<RoleSigner> = row
            .signers
            .iter()
            .map(|s| RoleSigner {
                role: s.role.clone(),
                signer: SignerInput {
                    name: s.name.clone(),
                    email_address: s.email_address.clone(),
                    pin: s.pin.clone(),
                    sms_phone_number: s.sms_phone_number.clone(),
                    ..SignerInput::default()
                },
            })
            .collect();
        let ccs: Vec<RoleCc> =
            self.ccs.iter().map(|(role, email)| RoleCc { role: role.clone(), email_address: email.clone() }).collect();
        let name_of = |v: &Value| v.get("name").and_then(Value::as_str).map(str::to_owned);
        let mut custom_fields: Vec<Value> = self
            .custom_fields
            .iter()
            .filter(|f| !row.custom_fields.iter().any(|r| name_of(r).is_some() && name_of(r) == name_of(f)))
            .cloned()
            .collect();
        custom_fields.extend(row.custom_fields.iter().cloned());
        let input = RequestInput {
            title: self.title.clone(),
            subject: self.subject.clone(),
            message: self.message.clone(),
            metadata: self.metadata.clone(),
            test_mode: self.test_mode,
            allow_decline: self.allow_decline,
            signing_redirect_url: self.signing_redirect_url.clone(),
            ..RequestInput::default()
        };
        let (mut new, notices) = request_from_templates(templates, &signers, &ccs, &custom_fields, input, by)?;
        new.body.bulk_send_job_id = Some(job_id.to_owned());
        Ok((new, notices))
    }
}

/// `signer_list`: a JSON array of `{"signers": [...], "custom_fields": [...]}` (each element an object
/// or JSON text, as forms send them). Rows are read, not yet checked (that is [`BulkSpec::request_for`]).
pub fn parse_signer_list(list: &[Value]) -> Result<Vec<BulkRow>, InvalidInput> {
    check_row_count(list.len(), "signer_list")?;
    list.iter()
        .enumerate()
        .map(|(i, raw)| {
            let value = match raw {
                Value::String(text) => serde_json::from_str(text)
                    .map_err(|e| InvalidInput::new(format!("signer_list[{i}]"), format!("not JSON: {e}")))?,
                other => other.clone(),
            };
            let mut row: BulkRow = serde_json::from_value(value).map_err(|e| {
                InvalidInput::new(
                    format!("signer_list[{i}]"),
                    format!("each entry needs signers (role, name, email_address) and may have custom_fields: {e}"),
                )
            })?;
            for field in &mut row.custom_fields {
                if let Some(Value::Number(n)) = field.get("value") {
                    field["value"] = Value::String(n.to_string());
                }
            }
            Ok(row)
        })
        .collect()
}

/// `signer_file`: a CSV whose header names `name`, `email_address` and optionally `pin`,
/// `sms_phone_number` and `*_field` columns (custom-field values, named without the suffix). Every
/// row's signer takes `role`, the templates' one signer role. Broken quoting, a missing column or a
/// row of the wrong width is refused with its line number.
pub fn parse_signer_file(bytes: &[u8], role: &str) -> Result<Vec<BulkRow>, InvalidInput> {
    let bad = |message: String| InvalidInput::new("signer_file", message);
    let text = std::str::from_utf8(bytes).map_err(|_| bad("the CSV file must be UTF-8 text".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let records = parse_csv(text).map_err(bad)?;
    let mut records = records.into_iter().filter(|(_, r)| !(r.len() == 1 && r[0].trim().is_empty()));
    let (_, header) = records.next().ok_or_else(|| bad("the CSV file is empty".into()))?;
    let header: Vec<String> = header.iter().map(|h| h.trim().to_ascii_lowercase()).collect();
    let column = |name: &str| header.iter().position(|h| h == name);
    let name = column("name").ok_or_else(|| bad("the CSV file has no name column".into()))?;
    let email = column("email_address").ok_or_else(|| bad("the CSV file has no email_address column".into()))?;
    let (pin, sms) = (column("pin"), column("sms_phone_number"));
    let fields: Vec<(usize, String)> =
        header.iter().enumerate().filter_map(|(i, h)| h.strip_suffix("_field").map(|n| (i, n.to_owned()))).collect();
    let rows: Vec<(usize, Vec<String>)> = records.collect();
    check_row_count(rows.len(), "signer_file")?;
    rows.into_iter()
        .map(|(line, record)| {
            if record.len() != header.len() {
                return Err(bad(format!(
                    "line {line} has {} values; the header has {} columns",
                    record.len(),
                    header.len()
                )));
            }
            let cell = |i: usize| Some(record[i].trim().to_owned()).filter(|v| !v.is_empty());
            Ok(BulkRow {
                signers: vec![BulkSigner {
                    role: Some(role.to_owned()),
                    name: cell(name),
                    email_address: cell(email),
                    pin: pin.and_then(cell),
                    sms_phone_number: sms.and_then(cell),
                }],
                custom_fields: fields
                    .iter()
                    .filter_map(|(i, n)| cell(*i).map(|v| serde_json::json!({"name": n, "value": v})))
                    .collect(),
            })
        })
        .collect()
}

fn check_row_count(rows: usize, path: &str) -> Result<(), InvalidInput> {
    if rows == 0 {
        return Err(InvalidInput::new(path, format!("{path} has no signers")));
    }
    if rows > MAX_BULK_ROWS {
        return Err(InvalidInput::new(
            path,
            format!("{path} has {rows} rows; a bulk send job may have at most {MAX_BULK_ROWS}"),
        ));
    }
    Ok(())
}

/// RFC 4180 records with the line each starts on: fields split by commas, quoted fields may hold
/// commas, line breaks and doubled quotes. An unterminated quote, or text after a closing quote, is
/// an error naming its line.
fn parse_csv(text: &str) -> Result<Vec<(usize, Vec<String>)>, String> {
    let mut records = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let (mut line, mut start_line) = (1usize, 1usize);
    let mut chars = text.chars().peekable();
    let mut quoted_field = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if field.trim().is_empty() && !quoted_field => {
                field.clear();
                quoted_field = true;
                let opened = line;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            field.push(c);
                        }
                        None => return Err(format!("the quote opened on line {opened} is never closed")),
                    }
                }
                // Only spaces may follow a closing quote before the separator.
                while chars.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                    chars.next();
                }
                if !matches!(chars.peek(), None | Some(',') | Some('\n') | Some('\r')) {
                    return Err(format!("line {line} has text after a closing quote"));
                }
            }
            '"' => return Err(format!("line {line} has a quote inside an unquoted value")),
            ',' => {
                record.push(std::mem::take(&mut field));
                quoted_field = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                record.push(std::mem::take(&mut field));
                records.push((start_line, std::mem::take(&mut record)));
                quoted_field = false;
                line += 1;
                start_line = line;
            }
            c => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() || quoted_field {
        record.push(field);
        records.push((start_line, record));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_csv_signer_file_becomes_rows_for_the_templates_role() {
        let csv = "name, email_address, pin, company_field\r\nGeorge, george@example.com, d79a3td, ABC Corp\n\
                   \"Mary, Jr.\",mary@example.com,,\"The \"\"123\"\" LLC\"\n";
        let rows = parse_signer_file(csv.as_bytes(), "Client").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].signers[0].role.as_deref(), Some("Client"));
        assert_eq!(rows[0].signers[0].pin.as_deref(), Some("d79a3td"));
        assert_eq!(rows[0].custom_fields, vec![serde_json::json!({"name": "company", "value": "ABC Corp"})]);
        assert_eq!(rows[1].signers[0].name.as_deref(), Some("Mary, Jr."));
        assert_eq!(rows[1].signers[0].pin, None);
        assert_eq!(rows[1].custom_fields[0]["value"], "The \"123\" LLC");
    }

    #[test]
    fn broken_csv_is_refused_with_its_line() {
        let unterminated = parse_signer_file(b"name,email_address\n\"Ann,ann@example.com\n", "R").unwrap_err();
        assert!(unterminated.message.contains("line 2") && unterminated.message.contains("never closed"));
        let stray = parse_signer_file(b"name,email_address\nAn\"n,ann@example.com\n", "R").unwrap_err();
        assert!(stray.message.contains("line 2"), "{stray}");
        let after = parse_signer_file(b"name,email_address\n\"Ann\"x,ann@example.com\n", "R").unwrap_err();
        assert!(after.message.contains("after a closing quote"), "{after}");
        let width = parse_signer_file(b"name,email_address\nAnn\n", "R").unwrap_err();
        assert!(width.message.contains("line 2 has 1 values"), "{width}");
        let no_email = parse_signer_file(b"name\nAnn\n", "R").unwrap_err();
        assert!(no_email.message.contains("email_address"));
        assert_eq!(parse_signer_file(b"", "R").unwrap_err().path, "signer_file");
    }

    #[test]
    fn more_than_ten_thousand_rows_are_refused() {
        let mut csv = String::from("name,email_address\n");
        for i in 0..=MAX_BULK_ROWS {
            csv.push_str(&format!("Signer {i},s{i}@example.com\n"));
        }
        let error = parse_signer_file(csv.as_bytes(), "R").unwrap_err();
        assert!(error.message.contains("10001 rows"), "{error}");
        let list = vec![serde_json::json!({"signers": []}); MAX_BULK_ROWS + 1];
        assert!(parse_signer_list(&list).unwrap_err().message.contains("at most 10000"));
    }

    #[test]
    fn a_signer_list_reads_objects_and_json_text() {
        let list = vec![
            serde_json::json!({"signers": [{"role": "Client", "name": "Ann", "email_address": "ann@example.com"}],
                                "custom_fields": [{"name": "company", "value": 12}]}),
            Value::String(
                r#"{"signers": [{"role": "Client", "name": "Bo", "email_address": "bo@example.com"}]}"#.into(),
            ),
        ];
        let rows = parse_signer_list(&list).unwrap();
        assert_eq!(rows[0].custom_fields[0]["value"], "12");
        assert_eq!(rows[1].signers[0].name.as_deref(), Some("Bo"));
        assert_eq!(parse_signer_list(&[serde_json::json!(3)]).unwrap_err().path, "signer_list[0]");
    }
}

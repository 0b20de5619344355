//! The PDF side of a document signature (ISO 32000 §12.8): a signature field whose `/V` is a `/Sig`
//! dictionary with a `/Contents` placeholder and a `/ByteRange` covering every byte but that
//! placeholder, then — once a signer (the `countersign-seal` crate) has signed the covered bytes — the
//! signature written into the placeholder. No cryptography happens here.
//!
//! [`signatures`] reads the signatures of a file back from its bytes (not its object graph), so a
//! damaged or tampered file can still be checked.

use lopdf::{Dictionary, Document, Object, ObjectId, StringFormat, text_string};

use crate::PdfError;

/// What the signature dictionary says.
#[derive(Debug, Clone, PartialEq)]
pub struct SealSpec {
    /// `/Name`: who signed (the instance).
    pub name: String,
    /// `/Reason`.
    pub reason: String,
    /// `/Location` (the instance's public address).
    pub location: String,
    /// `/M`, unix seconds.
    pub signed_at: i64,
    /// `/SubFilter`, e.g. `ETSI.CAdES.detached`.
    pub sub_filter: String,
    /// Bytes reserved for the CMS signature (the placeholder is twice this many hex digits).
    pub capacity: usize,
}

/// A saved document with an empty signature, ready for the signer.
#[derive(Debug, Clone)]
pub struct PreparedPdf {
    bytes: Vec<u8>,
    byte_range: [usize; 4],
    capacity: usize,
}

const RANGE_PLACEHOLDER: &[u8] = b"[0 9999999999 9999999999 9999999999]";
const RANGE_MAX: i64 = 9_999_999_999;

impl PreparedPdf {
    /// The bytes the signature covers: everything but the `/Contents` placeholder.
    pub fn signed_parts(&self) -> [&[u8]; 2] {
        let [a, b, c, d] = self.byte_range;
        [&self.bytes[a..a + b], &self.bytes[c..c + d]]
    }

    /// The `/ByteRange`.
    pub fn byte_range(&self) -> [usize; 4] {
        self.byte_range
    }

    /// Writes the DER signature into the placeholder and returns the signed file.
    pub fn embed(mut self, signature: &[u8]) -> Result<Vec<u8>, PdfError> {
        if signature.len() > self.capacity {
            return Err(PdfError::Unreadable(format!(
                "the signature ({} bytes) does not fit its placeholder ({} bytes)",
                signature.len(),
                self.capacity
            )));
        }
        let start = self.byte_range[1] + 1;
        let hex = hex_upper(signature);
        self.bytes[start..start + hex.len()].copy_from_slice(&hex);
        Ok(self.bytes)
    }
}

fn hex_upper(bytes: &[u8]) -> Vec<u8> {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize]);
        out.push(DIGITS[(b & 15) as usize]);
    }
    out
}

/// A unix time (seconds) as a UTC date and time; times outside years 1–9999 read as the epoch.
pub(crate) fn utc_time(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// `D:YYYYMMDDHHmmSSZ` for unix seconds.
pub fn pdf_date(unix: i64) -> String {
    let t = utc_time(unix);
    format!(
        "D:{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Adds an invisible signature field on the last page with an empty signature, saves the document
/// and locates the placeholder.
pub fn prepare_signature(mut doc: Document, spec: &SealSpec) -> Result<PreparedPdf, PdfError> {
    let broken = |why: &str| PdfError::Unreadable(why.to_owned());
    let last_page: ObjectId = *doc.get_pages().values().last().ok_or_else(|| broken("the document has no pages"))?;
    let sig = Dictionary::from_iter(vec![
        ("Type", Object::Name(b"Sig".to_vec())),
        ("Filter", Object::Name(b"Adobe.PPKLite".to_vec())),
        ("SubFilter", Object::Name(spec.sub_filter.as_bytes().to_vec())),
        (
            "ByteRange",
            Object::Array(vec![
                Object::Integer(0),
                Object::Integer(RANGE_MAX),
                Object::Integer(RANGE_MAX),
                Object::Integer(RANGE_MAX),
            ]),
        ),
        ("Contents", Object::String(vec![0; spec.capacity], StringFormat::Hexadecimal)),
        ("M", Object::String(pdf_date(spec.signed_at).into_bytes(), StringFormat::Literal)),
        ("Name", text_string(&spec.name)),
        ("Reason", text_string(&spec.reason)),
        ("Location", text_string(&spec.location)),
    ]);
    let sig_id = doc.add_object(sig);
    let widget_id = doc.add_object(Dictionary::from_iter(vec![
        ("Type", Object::Name(b"Annot".to_vec())),
        ("Subtype", Object::Name(b"Widget".to_vec())),
        ("FT", Object::Name(b"Sig".to_vec())),
        ("T", text_string("Countersign seal")),
        ("V", Object::Reference(sig_id)),
        // Print + Locked; zero-size: the seal has no appearance of its own (the audit trail shows it).
        ("F", Object::Integer(132)),
        ("Rect", Object::Array(vec![0.into(), 0.into(), 0.into(), 0.into()])),
        ("P", Object::Reference(last_page)),
    ]));
    // The page's /Annots (inline or by reference).
    let annots = doc.get_object(last_page).and_then(Object::as_dict).ok().and_then(|d| d.get(b"Annots").ok().cloned());
    match annots {
        Some(Object::Reference(id)) => match doc.get_object_mut(id) {
            Ok(Object::Array(list)) => list.push(Object::Reference(widget_id)),
            _ => set_annots(&mut doc, last_page, vec![Object::Reference(widget_id)])?,
        },
        Some(Object::Array(mut list)) => {
            list.push(Object::Reference(widget_id));
            set_annots(&mut doc, last_page, list)?;
        }
        _ => set_annots(&mut doc, last_page, vec![Object::Reference(widget_id)])?,
    }
    // The catalog's /AcroForm: the field joins any the document has; SigFlags 3 (signed, append only).
    let catalog_id = doc.trailer.get(b"Root").and_then(Object::as_reference).map_err(|_| broken("no catalog"))?;
    let acroform =
        doc.get_object(catalog_id).and_then(Object::as_dict).ok().and_then(|c| c.get(b"AcroForm").ok().cloned());
    let form_id = match acroform {
        Some(Object::Reference(id)) => id,
        Some(Object::Dictionary(d)) => doc.add_object(d),
        _ => doc.add_object(Dictionary::new()),
    };
    let form = doc
        .get_object_mut(form_id)
        .and_then(Object::as_dict_mut)
        .map_err(|_| broken("the form is not a dictionary"))?;
    let mut fields = match form.get(b"Fields") {
        Ok(Object::Array(list)) => list.clone(),
        _ => Vec::new(),
    };
    fields.push(Object::Reference(widget_id));
    form.set("Fields", Object::Array(fields));
    form.set("SigFlags", Object::Integer(3));
    doc.get_object_mut(catalog_id)
        .and_then(Object::as_dict_mut)
        .map_err(|_| broken("the catalog is not a dictionary"))?
        .set("AcroForm", Object::Reference(form_id));

    let mut bytes = Vec::new();
    doc.save_to(&mut bytes).map_err(|e| PdfError::Unreadable(format!("the PDF could not be written: {e}")))?;
    locate(bytes, spec.capacity)
}

fn set_annots(doc: &mut Document, page: ObjectId, list: Vec<Object>) -> Result<(), PdfError> {
    doc.get_object_mut(page)
        .and_then(Object::as_dict_mut)
        .map_err(|_| PdfError::Unreadable("a page is not a dictionary".into()))?
        .set("Annots", Object::Array(list));
    Ok(())
}

/// Finds the placeholders in the saved bytes and writes the real `/ByteRange`.
fn locate(mut bytes: Vec<u8>, capacity: usize) -> Result<PreparedPdf, PdfError> {
    let missing = || PdfError::Unreadable("the signature placeholder was not found".into());
    let range_at = find(&bytes, RANGE_PLACEHOLDER, 0).ok_or_else(missing)?;
    if find(&bytes, RANGE_PLACEHOLDER, range_at + 1).is_some() {
        return Err(PdfError::Unreadable("the signature placeholder is not unique".into()));
    }
    // The /Contents placeholder is in the same object, just before or after.
    let object_start = rfind(&bytes[..range_at], b" obj").ok_or_else(missing)?;
    let object_end = find(&bytes, b"endobj", range_at).ok_or_else(missing)?;
    let mut needle = Vec::with_capacity(capacity * 2 + 2);
    needle.push(b'<');
    needle.resize(capacity * 2 + 1, b'0');
    needle.push(b'>');
    let lt = find(&bytes[..object_end], &needle, object_start).ok_or_else(missing)?;
    let gt = lt + needle.len() - 1;
    let byte_range = [0, lt, gt + 1, bytes.len() - (gt + 1)];
    let mut written = format!("[0 {} {} {}", byte_range[1], byte_range[2], byte_range[3]).into_bytes();
    written.resize(RANGE_PLACEHOLDER.len() - 1, b' ');
    written.push(b']');
    bytes[range_at..range_at + RANGE_PLACEHOLDER.len()].copy_from_slice(&written);
    Ok(PreparedPdf { bytes, byte_range, capacity })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if from >= hay.len() || needle.is_empty() {
        return None;
    }
    hay[from..].windows(needle.len()).position(|w| w == needle).map(|p| p + from)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

/// A signature found in a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundSignature {
    pub byte_range: Vec<usize>,
    /// The `/Contents` bytes (DER, possibly zero-padded).
    pub contents: Vec<u8>,
    /// The byte range covers the whole file but the `/Contents` value.
    pub covers_whole_file: bool,
}

impl FoundSignature {
    /// The covered bytes of `file` (empty when the range lies outside it).
    pub fn signed_parts<'a>(&self, file: &'a [u8]) -> Vec<&'a [u8]> {
        self.byte_range
            .chunks(2)
            .filter_map(|pair| match pair {
                [start, len] => file.get(*start..start.checked_add(*len)?),
                _ => None,
            })
            .collect()
    }
}

/// Every `/ByteRange` signature in `file`, read from the raw bytes.
pub fn signatures(file: &[u8]) -> Vec<FoundSignature> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = find(file, b"/ByteRange", from) {
        from = at + 1;
        let Some(range) = read_int_array(&file[at + b"/ByteRange".len()..]) else { continue };
        if range.len() != 4 || range[0] != 0 {
            continue;
        }
        let (gap_start, gap_end) = (range[1], range[2]);
        let Some(gap) = file.get(gap_start..gap_end) else { continue };
        if gap.len() < 2 || gap[0] != b'<' || gap[gap.len() - 1] != b'>' {
            continue;
        }
        let Some(contents) = unhex(&gap[1..gap.len() - 1]) else { continue };
        let covers_whole_file = range[2].checked_add(range[3]) == Some(file.len());
        out.push(FoundSignature { byte_range: range, contents, covers_whole_file });
    }
    out
}

fn read_int_array(bytes: &[u8]) -> Option<Vec<usize>> {
    let start = bytes.iter().take(16).position(|&b| b == b'[')?;
    let end = bytes[start..].iter().take(128).position(|&b| b == b']')? + start;
    std::str::from_utf8(&bytes[start + 1..end]).ok()?.split_ascii_whitespace().map(|n| n.parse().ok()).collect()
}

fn unhex(hex: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = hex.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
    let value = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    digits.chunks(2).map(|pair| Some(value(pair[0])? << 4 | value(*pair.get(1).unwrap_or(&b'0'))?)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pdf_dates_are_utc_civil_dates() {
        assert_eq!(pdf_date(0), "D:19700101000000Z");
        assert_eq!(pdf_date(1_796_651_109), "D:20261207134509Z");
        assert_eq!(pdf_date(951_782_400), "D:20000229000000Z");
    }
}

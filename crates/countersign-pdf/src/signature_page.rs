//! The signature page Dropbox Sign appends when a request has neither text tags nor form fields: one
//! signature box per signer, with the signer's name and e-mail address under it, seven to a US Letter
//! page. [`signature_slot`] says where each box is (so the fields and the drawing agree);
//! [`append_signature_pages`] adds the pages to the last document.

use lopdf::content::{Content, Operation};
use lopdf::{Dictionary, Object, Stream};

use crate::Rect;
use crate::merge::MergeError;

/// US Letter, in points.
pub const SIGNATURE_PAGE_SIZE: (f64, f64) = (612.0, 792.0);
/// Signature boxes per appended page.
pub const SLOTS_PER_PAGE: usize = 7;

/// Where signer `index` (0-based) signs: (0-based appended page, box in top-left page coordinates).
pub fn signature_slot(index: usize) -> (usize, Rect) {
    let row = index % SLOTS_PER_PAGE;
    (index / SLOTS_PER_PAGE, Rect { x: 72.0, y: 120.0 + 90.0 * row as f64, width: 240.0, height: 48.0 })
}

/// Text the standard Helvetica font (WinAnsi) can show: other characters become `?`.
fn winansi(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| if (' '..='~').contains(&c) || ('\u{a0}'..='\u{ff}').contains(&c) { c as u8 } else { b'?' })
        .collect()
}

fn text_op(x: f64, y: f64, size: f64, text: &str) -> Vec<Operation> {
    vec![
        Operation::new("BT", vec![]),
        Operation::new("Tf", vec![Object::Name(b"F1".to_vec()), Object::Real(size as f32)]),
        Operation::new("Td", vec![Object::Real(x as f32), Object::Real(y as f32)]),
        Operation::new("Tj", vec![Object::String(winansi(text), lopdf::StringFormat::Literal)]),
        Operation::new("ET", vec![]),
    ]
}

/// `pdf` with signature pages appended for `signers` (name, e-mail address), in order.
pub fn append_signature_pages(pdf: &[u8], signers: &[(String, String)]) -> Result<Vec<u8>, MergeError> {
    let unreadable = |e: lopdf::Error| MergeError::Unreadable { index: 0, message: e.to_string() };
    let mut doc = crate::open_for_editing(pdf, unreadable, unreadable)?;
    let pages_id = doc.catalog().and_then(|c| c.get(b"Pages")).and_then(Object::as_reference).map_err(unreadable)?;
    let mut font = Dictionary::new();
    font.set("Type", Object::Name(b"Font".to_vec()));
    font.set("Subtype", Object::Name(b"Type1".to_vec()));
    font.set("BaseFont", Object::Name(b"Helvetica".to_vec()));
    font.set("Encoding", Object::Name(b"WinAnsiEncoding".to_vec()));
    let font_id = doc.add_object(font);
    let (w, h) = SIGNATURE_PAGE_SIZE;
    let pages = signers.len().div_ceil(SLOTS_PER_PAGE).max(1);
    let mut new_pages = Vec::new();
    for page in 0..pages {
        let mut ops = text_op(72.0, h - 72.0, 16.0, "Signatures");
        for (i, (name, email)) in signers.iter().enumerate().filter(|(i, _)| i / SLOTS_PER_PAGE == page) {
            let (_, slot) = signature_slot(i);
            let bottom = h - slot.y - slot.height;
            ops.push(Operation::new("q", vec![]));
            ops.push(Operation::new("RG", vec![Object::Real(0.6), Object::Real(0.6), Object::Real(0.6)]));
            ops.push(Operation::new("w", vec![Object::Real(0.75)]));
            ops.push(Operation::new(
                "re",
                vec![
                    Object::Real(slot.x as f32),
                    Object::Real(bottom as f32),
                    Object::Real(slot.width as f32),
                    Object::Real(slot.height as f32),
                ],
            ));
            ops.push(Operation::new("S", vec![]));
            ops.push(Operation::new("Q", vec![]));
            ops.extend(text_op(slot.x, bottom - 14.0, 10.0, &format!("{name} <{email}>")));
        }
        let content = Content { operations: ops }.encode().map_err(unreadable)?;
        let content_id = doc.add_object(Stream::new(Dictionary::new(), content));
        let mut fonts = Dictionary::new();
        fonts.set("F1", Object::Reference(font_id));
        let mut resources = Dictionary::new();
        resources.set("Font", Object::Dictionary(fonts));
        let mut page_dict = Dictionary::new();
        page_dict.set("Type", Object::Name(b"Page".to_vec()));
        page_dict.set("Parent", Object::Reference(pages_id));
        page_dict
            .set("MediaBox", Object::Array(vec![0.into(), 0.into(), Object::Real(w as f32), Object::Real(h as f32)]));
        page_dict.set("Resources", Object::Dictionary(resources));
        page_dict.set("Contents", Object::Reference(content_id));
        new_pages.push(doc.add_object(page_dict));
    }
    let tree = doc.get_object_mut(pages_id).and_then(Object::as_dict_mut).map_err(unreadable)?;
    let mut kids = tree.get(b"Kids").and_then(Object::as_array).cloned().unwrap_or_default();
    kids.extend(new_pages.iter().map(|id| Object::Reference(*id)));
    let count = tree.get(b"Count").and_then(Object::as_i64).unwrap_or(0) + new_pages.len() as i64;
    tree.set("Kids", Object::Array(kids));
    tree.set("Count", Object::Integer(count));
    let mut out = Vec::new();
    doc.save_to(&mut out).map_err(|e| MergeError::Write(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_stack_seven_to_a_page() {
        assert_eq!(signature_slot(0).0, 0);
        assert_eq!(signature_slot(6).0, 0);
        assert_eq!(signature_slot(7), (1, signature_slot(0).1));
        let last = signature_slot(6).1;
        assert!(last.y + last.height + 20.0 < SIGNATURE_PAGE_SIZE.1, "the last box and its label fit on the page");
    }
}

//! `hide_text_tags`: text tags removed from the content streams themselves (not covered by a white
//! box), so no text extractor finds them in the final copy, while every other glyph keeps its place.
//!
//! Each page's content (and each form XObject it draws) is read operation by operation, tracking the
//! text state (`Tf`, `Tc`, `Tw`, saved and restored by `q`/`Q`). The glyphs a stream shows are
//! decoded to text in drawing order (the font's `ToUnicode` or encoding), tags are found in that text, and
//! their glyphs are cut out of the strings; each cut becomes a `TJ` adjustment of exactly the removed
//! glyphs' advance (their widths from `/Widths`, `/W` or the standard fonts' metrics, plus character and
//! word spacing), so text after a tag on the same line does not move. A stream is re-encoded only
//! when it held a tag.

use std::collections::{HashMap, HashSet};

use lopdf::content::{Content, Operation};
use lopdf::{Dictionary, Document, Encoding, Object, ObjectId, StringFormat};

use crate::PdfError;
use crate::tags::looks_like_tag;

/// Deepest nesting of form XObjects followed.
const MAX_FORM_DEPTH: usize = 8;

/// How a font's strings decode.
struct FontInfo<'a> {
    /// Bytes per character code (1 for simple fonts, 2 for composite ones).
    code_len: usize,
    /// The font's `ToUnicode` map or encoding.
    unicode: Option<Encoding<'a>>,
    /// Advance widths in glyph units (1/1000 of the font size) by code.
    widths: HashMap<u32, f64>,
    default_width: f64,
}

impl FontInfo<'_> {
    fn text(&self, code: u32) -> String {
        let bytes = &code.to_be_bytes()[4 - self.code_len..];
        match &self.unicode {
            Some(encoding) => encoding.bytes_to_string(bytes).unwrap_or_default(),
            None if self.code_len == 1 => char::from_u32(code).map(String::from).unwrap_or_default(),
            None => String::new(),
        }
    }

    fn width(&self, code: u32) -> f64 {
        self.widths.get(&code).copied().unwrap_or(self.default_width)
    }
}

fn resolve<'a>(doc: &'a Document, object: &'a Object) -> &'a Object {
    match object {
        Object::Reference(id) => doc.get_object(*id).unwrap_or(object),
        other => other,
    }
}

fn number(object: &Object) -> Option<f64> {
    match object {
        Object::Integer(i) => Some(*i as f64),
        Object::Real(r) => Some(f64::from(*r)),
        _ => None,
    }
}

fn font_info<'a>(doc: &'a Document, font: &'a Dictionary) -> FontInfo<'a> {
    let subtype = font.get(b"Subtype").and_then(Object::as_name).unwrap_or(b"");
    let base = font.get(b"BaseFont").and_then(Object::as_name).ok().map(|n| String::from_utf8_lossy(n).into_owned());
    if subtype == b"Type0" {
        let cmap = match font.get_font_encoding(doc) {
            Ok(encoding @ Encoding::UnicodeMapEncoding(_)) => Some(encoding),
            _ => None,
        };
        let descendant = font
            .get(b"DescendantFonts")
            .map(|d| resolve(doc, d))
            .and_then(Object::as_array)
            .ok()
            .and_then(|a| a.first())
            .map(|d| resolve(doc, d))
            .and_then(|d| d.as_dict().ok());
        let mut widths = HashMap::new();
        let mut default_width = 1000.0;
        if let Some(cid) = descendant {
            default_width = cid.get(b"DW").ok().and_then(number).unwrap_or(1000.0);
            if let Ok(w) = cid.get(b"W").map(|w| resolve(doc, w)).and_then(Object::as_array) {
                let mut i = 0;
                while i < w.len() {
                    let Some(first) = number(&w[i]) else { break };
                    match w.get(i + 1).map(|o| resolve(doc, o)) {
                        Some(Object::Array(list)) => {
                            for (k, v) in list.iter().enumerate() {
                                if let Some(v) = number(v) {
                                    widths.insert(first as u32 + k as u32, v);
                                }
                            }
                            i += 2;
                        }
                        Some(last) => {
                            let (Some(last), Some(v)) = (number(last), w.get(i + 2).and_then(number)) else { break };
                            // A hostile range is capped: only codes a string can hold matter.
                            for code in first as u32..=(last as u32).min(first as u32 + 65_535) {
                                widths.insert(code, v);
                            }
                            i += 3;
                        }
                        None => break,
                    }
                }
            }
        }
        return FontInfo { code_len: 2, unicode: cmap, widths, default_width };
    }
    let unicode = font.get_font_encoding(doc).ok();
    let mut widths = HashMap::new();
    let first = font.get(b"FirstChar").ok().and_then(number).unwrap_or(0.0) as u32;
    if let Ok(list) = font.get(b"Widths").map(|w| resolve(doc, w)).and_then(Object::as_array) {
        for (k, v) in list.iter().enumerate() {
            if let Some(v) = number(resolve(doc, v)) {
                widths.insert(first + k as u32, v);
            }
        }
    } else if let Some(afm) = base.as_deref().and_then(crate::fonts::afm_widths) {
        for (k, w) in afm.iter().enumerate() {
            widths.insert(32 + k as u32, f64::from(*w));
        }
    }
    let default_width = font
        .get(b"FontDescriptor")
        .map(|d| resolve(doc, d))
        .and_then(Object::as_dict)
        .ok()
        .and_then(|d| d.get(b"MissingWidth").ok().and_then(number))
        .unwrap_or(0.0);
    FontInfo { code_len: 1, unicode, widths, default_width }
}

/// The fonts of a resource dictionary, by resource name.
fn fonts_of<'a>(doc: &'a Document, resources: &'a Dictionary) -> HashMap<Vec<u8>, FontInfo<'a>> {
    let Some(fonts) = resources.get(b"Font").ok().map(|f| resolve(doc, f)).and_then(|f| f.as_dict().ok()) else {
        return HashMap::new();
    };
    fonts
        .iter()
        .filter_map(|(name, font)| Some((name.clone(), font_info(doc, resolve(doc, font).as_dict().ok()?))))
        .collect()
}

#[derive(Clone, Copy)]
struct TextState {
    font: usize,
    size: f64,
    char_spacing: f64,
    word_spacing: f64,
}

/// One glyph shown: where its code sits and how far it advances (text space, before `Tz`).
struct Shown {
    op: usize,
    /// Index in the `TJ` array (0 for the other operators).
    element: usize,
    start: usize,
    len: usize,
    text_start: usize,
    text_end: usize,
    advance: f64,
    size: f64,
}

/// Removes the text tags from one content stream; `None` when it has none.
fn hide_in_stream(ops: &[Operation], fonts: &HashMap<Vec<u8>, FontInfo<'_>>) -> Option<Vec<Operation>> {
    let names: Vec<&Vec<u8>> = fonts.keys().collect();
    let mut state = TextState { font: usize::MAX, size: 0.0, char_spacing: 0.0, word_spacing: 0.0 };
    let mut saved = Vec::new();
    let mut shown: Vec<Shown> = Vec::new();
    let mut text = String::new();
    for (index, op) in ops.iter().enumerate() {
        let operands = &op.operands;
        match op.operator.as_str() {
            "q" => saved.push(state),
            "Q" => state = saved.pop().unwrap_or(state),
            "Tf" => {
                if let (Some(Object::Name(name)), Some(size)) = (operands.first(), operands.get(1).and_then(number)) {
                    state.font = names.iter().position(|n| n.as_slice() == name.as_slice()).unwrap_or(usize::MAX);
                    state.size = size;
                }
            }
            "Tc" => state.char_spacing = operands.first().and_then(number).unwrap_or(0.0),
            "Tw" => state.word_spacing = operands.first().and_then(number).unwrap_or(0.0),
            "Tj" | "'" | "\"" | "TJ" => {
                if op.operator == "\"" {
                    state.word_spacing = operands.first().and_then(number).unwrap_or(state.word_spacing);
                    state.char_spacing = operands.get(1).and_then(number).unwrap_or(state.char_spacing);
                }
                let Some(font) = names.get(state.font).and_then(|n| fonts.get(*n)) else { continue };
                let strings: Vec<(usize, &[u8])> = match op.operator.as_str() {
                    "TJ" => match operands.first() {
                        Some(Object::Array(items)) => items
                            .iter()
                            .enumerate()
                            .filter_map(|(i, o)| match o {
                                Object::String(bytes, _) => Some((i, bytes.as_slice())),
                                _ => None,
                            })
                            .collect(),
                        _ => Vec::new(),
                    },
                    _ => match operands.last() {
                        Some(Object::String(bytes, _)) => vec![(0, bytes.as_slice())],
                        _ => Vec::new(),
                    },
                };
                for (element, bytes) in strings {
                    let mut at = 0;
                    while at + font.code_len <= bytes.len() {
                        let code = bytes[at..at + font.code_len].iter().fold(0u32, |c, b| c << 8 | u32::from(*b));
                        let glyph_text = font.text(code);
                        let space = font.code_len == 1 && code == 32;
                        let advance = font.width(code) / 1000.0 * state.size
                            + state.char_spacing
                            + if space { state.word_spacing } else { 0.0 };
                        let text_start = text.len();
                        text.push_str(&glyph_text);
                        shown.push(Shown {
                            op: index,
                            element,
                            start: at,
                            len: font.code_len,
                            text_start,
                            text_end: text.len(),
                            advance,
                            size: state.size,
                        });
                        at += font.code_len;
                    }
                }
            }
            _ => {}
        }
    }
    let cut = cut_tags(&shown, &text);
    if cut.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(ops.len() + 8);
    for (index, op) in ops.iter().enumerate() {
        let touched = cut.keys().any(|(o, _, _)| *o == index);
        if !touched {
            out.push(op.clone());
            continue;
        }
        let elements: Vec<Object> = match op.operator.as_str() {
            "TJ" => match op.operands.first() {
                Some(Object::Array(items)) => items.clone(),
                _ => Vec::new(),
            },
            _ => op.operands.last().cloned().into_iter().collect(),
        };
        match op.operator.as_str() {
            "'" => out.push(Operation::new("T*", vec![])),
            "\"" => {
                out.push(Operation::new("Tw", vec![op.operands[0].clone()]));
                out.push(Operation::new("Tc", vec![op.operands[1].clone()]));
                out.push(Operation::new("T*", vec![]));
            }
            _ => {}
        }
        let mut array: Vec<Object> = Vec::new();
        let push_adjust = |array: &mut Vec<Object>, amount: f64| {
            if let Some(Object::Real(last)) = array.last_mut() {
                *last += amount as f32;
            } else {
                array.push(Object::Real(amount as f32));
            }
        };
        for (element, object) in elements.into_iter().enumerate() {
            let Object::String(bytes, format) = object else {
                if let Some(n) = number(&object) {
                    push_adjust(&mut array, n);
                }
                continue;
            };
            let mut kept = Vec::new();
            let mut at = 0;
            while at < bytes.len() {
                if let Some(glyph) = cut.get(&(index, element, at)) {
                    if !kept.is_empty() {
                        array.push(Object::String(std::mem::take(&mut kept), format));
                    }
                    // A TJ number moves the next glyph by -n/1000 of the font size (times Tz, as the
                    // removed advance was).
                    if glyph.size != 0.0 {
                        push_adjust(&mut array, -glyph.advance * 1000.0 / glyph.size);
                    }
                    at += glyph.len;
                } else {
                    kept.push(bytes[at]);
                    at += 1;
                }
            }
            if !kept.is_empty() {
                array.push(Object::String(kept, format));
            }
        }
        if array.is_empty() {
            array.push(Object::String(Vec::new(), StringFormat::Literal));
        }
        out.push(Operation::new("TJ", vec![Object::Array(array)]));
    }
    Some(out)
}

/// The glyphs of every tag in the text a stream shows, by (operation, TJ element, byte offset). The
/// whole stream is one text: producers that draw each glyph in its own `BT … ET` block split tags
/// across blocks.
fn cut_tags<'s>(shown: &'s [Shown], text: &str) -> HashMap<(usize, usize, usize), &'s Shown> {
    let mut cut = HashMap::new();
    for range in tag_ranges(text) {
        for g in shown.iter().filter(|g| g.text_start >= range.start && g.text_end <= range.end) {
            cut.insert((g.op, g.element, g.start), g);
        }
    }
    cut
}

/// Byte ranges of `text` that are text tags (`[…|…|…]`).
fn tag_ranges(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(open) = text[from..].find('[').map(|i| i + from) {
        let Some(close) = text[open..].find(']').map(|i| i + open) else { break };
        let inner = &text[open + 1..close];
        if let Some(nested) = inner.rfind('[') {
            from = open + 1 + nested;
            continue;
        }
        if looks_like_tag(inner) {
            out.push(open..close + 1);
        }
        from = close + 1;
    }
    out
}

/// Removes the text tags of every page of `doc` (and of the form XObjects the pages draw). Returns how
/// many content streams changed.
pub(crate) fn hide_text_tags(doc: &mut Document) -> Result<usize, PdfError> {
    let mut changed = 0;
    let mut visited: HashSet<ObjectId> = HashSet::new();
    let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
    for page in pages {
        let resources = crate::overlay::own_resources(doc, page)?;
        let content = doc.get_page_content(page);
        let edited = match Content::decode(&content) {
            Ok(decoded) => hide_in_stream(&decoded.operations, &fonts_of(doc, &resources)),
            Err(_) => None,
        };
        if let Some(ops) = edited {
            let encoded = Content { operations: ops }.encode().map_err(|e| PdfError::Unreadable(e.to_string()))?;
            replace_page_content(doc, page, encoded)?;
            changed += 1;
        }
        changed += hide_in_forms(doc, &resources, &mut visited, 0)?;
    }
    Ok(changed)
}

/// Replaces the page's content with one new stream (the old streams stay for any other page sharing
/// them).
fn replace_page_content(doc: &mut Document, page: ObjectId, content: Vec<u8>) -> Result<(), PdfError> {
    let mut stream = lopdf::Stream::new(Dictionary::new(), content);
    let _ = stream.compress();
    let id = doc.add_object(stream);
    doc.get_object_mut(page)
        .and_then(Object::as_dict_mut)
        .map_err(|e| PdfError::Unreadable(e.to_string()))?
        .set("Contents", Object::Reference(id));
    Ok(())
}

fn hide_in_forms(
    doc: &mut Document,
    resources: &Dictionary,
    visited: &mut HashSet<ObjectId>,
    depth: usize,
) -> Result<usize, PdfError> {
    if depth >= MAX_FORM_DEPTH {
        return Ok(0);
    }
    let Some(xobjects) = resources.get(b"XObject").ok().map(|x| resolve(doc, x)).and_then(|x| x.as_dict().ok()) else {
        return Ok(0);
    };
    let ids: Vec<ObjectId> = xobjects.iter().filter_map(|(_, o)| o.as_reference().ok()).collect();
    let mut changed = 0;
    for id in ids {
        if !visited.insert(id) {
            continue;
        }
        let Ok(stream) = doc.get_object(id).and_then(Object::as_stream) else { continue };
        if stream.dict.get(b"Subtype").and_then(Object::as_name).ok() != Some(b"Form".as_slice()) {
            continue;
        }
        let own = stream.dict.get(b"Resources").ok().map(|r| resolve(doc, r)).and_then(|r| r.as_dict().ok()).cloned();
        let form_resources = own.unwrap_or_else(|| resources.clone());
        let content = stream.decompressed_content().unwrap_or_else(|_| stream.content.clone());
        let edited = match Content::decode(&content) {
            Ok(decoded) => hide_in_stream(&decoded.operations, &fonts_of(doc, &form_resources)),
            Err(_) => None,
        };
        if let Some(ops) = edited {
            let encoded = Content { operations: ops }.encode().map_err(|e| PdfError::Unreadable(e.to_string()))?;
            let stream = doc
                .get_object_mut(id)
                .and_then(Object::as_stream_mut)
                .map_err(|e| PdfError::Unreadable(e.to_string()))?;
            stream.dict.remove(b"DecodeParms");
            stream.set_plain_content(encoded);
            let _ = stream.compress();
            changed += 1;
        }
        changed += hide_in_forms(doc, &form_resources, visited, depth + 1)?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_found_in_running_text() {
        let text = "Sign [sig|req|signer1] here [x] and [text|noreq|signer2|Co|co]";
        let ranges = tag_ranges(text);
        let found: Vec<&str> = ranges.iter().map(|r| &text[r.clone()]).collect();
        assert_eq!(found, ["[sig|req|signer1]", "[text|noreq|signer2|Co|co]"]);
        assert_eq!(tag_ranges("[a [sig|req|signer1]"), vec![3..20]);
    }
}

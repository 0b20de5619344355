//! Stamping signers' values onto a document: text, check marks and signature images (PNG, alpha kept
//! as a soft mask) drawn at field rectangles given in [`crate::analyze`]'s coordinates (the media box
//! after `/Rotate`, top-left origin), so a value lands where the signer saw its field at any page
//! rotation. The original content is wrapped in `q … Q` first, so a page that leaves its graphics
//! state changed cannot move the stamps.
//!
//! Text uses the standard Helvetica font (WinAnsi): characters it lacks are drawn as `?`. The final
//! document with embedded fonts, the audit trail and the seal are the final-documents work.

use std::io::Write;

use flate2::Compression;
use flate2::write::ZlibEncoder;
use hayro_interpret::kurbo::{Affine, Rect as KRect};
use lopdf::{Dictionary, Document, Object, ObjectId, Stream};

use crate::{PdfError, Rect, guarded, initial_transform, media_box, open, precheck};

/// What to draw in a field's rectangle.
#[derive(Debug, Clone, PartialEq)]
pub enum StampContent {
    Text(String),
    /// A checkbox: a check mark when true, nothing when false.
    Check(bool),
    /// A PNG image, scaled to fit the rectangle and centred.
    Image(Vec<u8>),
}

/// One value on one page.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamp {
    /// 1-based.
    pub page: u32,
    pub rect: Rect,
    pub content: StampContent,
}

/// Draws `stamps` onto the PDF `bytes` and returns the new document.
pub fn stamp(bytes: &[u8], stamps: &[Stamp]) -> Result<Vec<u8>, PdfError> {
    precheck(bytes)?;
    // Each page's transform from page space to the stamps' coordinates, read the way analysis reads it.
    let transforms: Vec<Affine> = guarded(|| {
        let pdf = open(bytes)?;
        Ok(pdf
            .pages()
            .iter()
            .map(|page| {
                let media: KRect = media_box(page);
                initial_transform(page, media)
            })
            .collect())
    })?;
    let mut doc =
        Document::load_mem(bytes).map_err(|e| PdfError::Unreadable(format!("the PDF could not be rewritten: {e}")))?;
    if doc.is_encrypted() {
        doc.decrypt("").map_err(|_| PdfError::PasswordProtected)?;
    }
    let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
    if pages.len() != transforms.len() {
        return Err(PdfError::Unreadable("the page tree could not be read consistently".into()));
    }
    let font_id = doc.add_object(Dictionary::from_iter(vec![
        ("Type", Object::Name(b"Font".to_vec())),
        ("Subtype", Object::Name(b"Type1".to_vec())),
        ("BaseFont", Object::Name(b"Helvetica".to_vec())),
        ("Encoding", Object::Name(b"WinAnsiEncoding".to_vec())),
    ]));
    for (index, page_id) in pages.iter().enumerate() {
        let number = index as u32 + 1;
        let on_page: Vec<&Stamp> = stamps.iter().filter(|s| s.page == number).collect();
        if on_page.is_empty() {
            continue;
        }
        let mut content = Vec::new();
        let mut images: Vec<(String, ObjectId)> = Vec::new();
        // From the stamps' space (top-left origin, y down) back to page space.
        let [a, b, c, d, e, f] = transforms[index].inverse().as_coeffs();
        content.extend_from_slice(format!("q {a} {b} {c} {d} {e} {f} cm\n").as_bytes());
        for (i, s) in on_page.iter().enumerate() {
            let Rect { x, y, width, height } = s.rect;
            match &s.content {
                StampContent::Text(text) => {
                    let size = (height * 0.7).clamp(4.0, 14.0);
                    let baseline = y + (height + size * 0.7) / 2.0;
                    content.extend_from_slice(
                        format!("BT /CsF1 {size:.2} Tf 0 g 1 0 0 -1 {:.2} {baseline:.2} Tm ", x + 1.5).as_bytes(),
                    );
                    content.extend_from_slice(&pdf_string(text));
                    content.extend_from_slice(b" Tj ET\n");
                }
                StampContent::Check(true) => {
                    let side = width.min(height);
                    let (x0, y0) = (x + (width - side) / 2.0, y + (height - side) / 2.0);
                    content.extend_from_slice(
                        format!(
                            "q 0 G {:.2} w 1 J 1 j {:.2} {:.2} m {:.2} {:.2} l {:.2} {:.2} l S Q\n",
                            (side * 0.12).max(0.8),
                            x0 + side * 0.2,
                            y0 + side * 0.55,
                            x0 + side * 0.42,
                            y0 + side * 0.78,
                            x0 + side * 0.82,
                            y0 + side * 0.22
                        )
                        .as_bytes(),
                    );
                }
                StampContent::Check(false) => {}
                StampContent::Image(png) => {
                    let (image_id, w, h) = add_png(&mut doc, png)?;
                    let name = format!("CsIm{i}");
                    let scale = (width / w as f64).min(height / h as f64);
                    let (dw, dh) = (w as f64 * scale, h as f64 * scale);
                    let (dx, dy) = (x + (width - dw) / 2.0, y + (height - dh) / 2.0);
                    // The image's unit square has y up: flip it into the y-down space.
                    content.extend_from_slice(
                        format!("q {dw:.3} 0 0 {:.3} {dx:.3} {:.3} cm /{name} Do Q\n", -dh, dy + dh).as_bytes(),
                    );
                    images.push((name, image_id));
                }
            }
        }
        content.extend_from_slice(b"Q\n");
        add_to_page(&mut doc, *page_id, content, font_id, &images)?;
    }
    let mut out = Vec::new();
    doc.save_to(&mut out).map_err(|e| PdfError::Unreadable(format!("the PDF could not be written: {e}")))?;
    Ok(out)
}

/// Text as a PDF string in WinAnsi (Latin-1 here; other characters become `?`), escaped.
fn pdf_string(text: &str) -> Vec<u8> {
    let mut out = vec![b'('];
    for ch in text.chars().filter(|c| !c.is_control()) {
        let byte = u32::from(ch);
        let byte = if (0x20..=0x7e).contains(&byte) || (0xa0..=0xff).contains(&byte) { byte as u8 } else { b'?' };
        if matches!(byte, b'(' | b')' | b'\\') {
            out.push(b'\\');
        }
        out.push(byte);
    }
    out.push(b')');
    out
}

/// Adds a PNG as an image XObject (its alpha as a soft mask); returns its id and size.
fn add_png(doc: &mut Document, png: &[u8]) -> Result<(ObjectId, u32, u32), PdfError> {
    let bad = |e: String| PdfError::Unreadable(format!("a signature image could not be read: {e}"));
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::normalize_to_color8() | png::Transformations::ALPHA);
    let mut reader = decoder.read_info().map_err(|e| bad(e.to_string()))?;
    let mut buffer = vec![0; reader.output_buffer_size().ok_or_else(|| bad("too large".into()))?];
    let info = reader.next_frame(&mut buffer).map_err(|e| bad(e.to_string()))?;
    let pixels = &buffer[..info.buffer_size()];
    let (mut color, mut alpha) = (Vec::new(), Vec::new());
    let (space, channels): (&[u8], usize) = match info.color_type {
        png::ColorType::Rgba => (b"DeviceRGB", 4),
        png::ColorType::GrayscaleAlpha => (b"DeviceGray", 2),
        other => return Err(bad(format!("unexpected colour type {other:?}"))),
    };
    for px in pixels.chunks_exact(channels) {
        color.extend_from_slice(&px[..channels - 1]);
        alpha.push(px[channels - 1]);
    }
    let mask = image_stream(info.width, info.height, b"DeviceGray", &alpha, None)?;
    let mask_id = doc.add_object(mask);
    let image = image_stream(info.width, info.height, space, &color, Some(mask_id))?;
    Ok((doc.add_object(image), info.width, info.height))
}

fn image_stream(
    width: u32,
    height: u32,
    space: &[u8],
    data: &[u8],
    mask: Option<ObjectId>,
) -> Result<Stream, PdfError> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).and_then(|_| encoder.flush()).map_err(|e| PdfError::Unreadable(e.to_string()))?;
    let compressed = encoder.finish().map_err(|e| PdfError::Unreadable(e.to_string()))?;
    let mut dict = Dictionary::from_iter(vec![
        ("Type", Object::Name(b"XObject".to_vec())),
        ("Subtype", Object::Name(b"Image".to_vec())),
        ("Width", Object::Integer(i64::from(width))),
        ("Height", Object::Integer(i64::from(height))),
        ("ColorSpace", Object::Name(space.to_vec())),
        ("BitsPerComponent", Object::Integer(8)),
        ("Filter", Object::Name(b"FlateDecode".to_vec())),
    ]);
    if let Some(mask) = mask {
        dict.set("SMask", Object::Reference(mask));
    }
    Ok(Stream::new(dict, compressed))
}

/// Wraps the page's content in `q … Q`, appends `content`, and adds the font and images to the page's
/// own resources (copied from the inherited ones when the page has none of its own).
fn add_to_page(
    doc: &mut Document,
    page_id: ObjectId,
    content: Vec<u8>,
    font_id: ObjectId,
    images: &[(String, ObjectId)],
) -> Result<(), PdfError> {
    let fail = |e: lopdf::Error| PdfError::Unreadable(format!("the page could not be stamped: {e}"));
    let resources = {
        let (own, inherited) = doc.get_page_resources(page_id).map_err(fail)?;
        let mut merged = own.cloned().unwrap_or_default();
        for id in inherited {
            if let Ok(dict) = doc.get_dictionary(id) {
                for (key, value) in dict.iter() {
                    if !merged.has(key) {
                        merged.set(key.clone(), value.clone());
                    }
                }
            }
        }
        merged
    };
    let mut resources = resources;
    let mut fonts = match resources.get(b"Font") {
        Ok(Object::Dictionary(d)) => d.clone(),
        Ok(Object::Reference(id)) => doc.get_dictionary(*id).cloned().unwrap_or_default(),
        _ => Dictionary::new(),
    };
    fonts.set("CsF1", Object::Reference(font_id));
    resources.set("Font", Object::Dictionary(fonts));
    if !images.is_empty() {
        let mut xobjects = match resources.get(b"XObject") {
            Ok(Object::Dictionary(d)) => d.clone(),
            Ok(Object::Reference(id)) => doc.get_dictionary(*id).cloned().unwrap_or_default(),
            _ => Dictionary::new(),
        };
        for (name, id) in images {
            xobjects.set(name.as_bytes().to_vec(), Object::Reference(*id));
        }
        resources.set("XObject", Object::Dictionary(xobjects));
    }
    let before = doc.add_object(Stream::new(Dictionary::new(), b"q\n".to_vec()));
    let after = doc.add_object(Stream::new(Dictionary::new(), [b"Q\n".as_slice(), &content].concat()));
    let page = doc.get_object_mut(page_id).and_then(Object::as_dict_mut).map_err(fail)?;
    let mut contents = vec![Object::Reference(before)];
    match page.get(b"Contents") {
        Ok(Object::Array(list)) => contents.extend(list.iter().cloned()),
        Ok(other) => contents.push(other.clone()),
        Err(_) => {}
    }
    contents.push(Object::Reference(after));
    page.set("Contents", Object::Array(contents));
    page.set("Resources", Object::Dictionary(resources));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Limits;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pdf").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// A 2×1 PNG: one opaque blue pixel, one transparent.
    fn png() -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, 2, 1);
            encoder.set_color(png::ColorType::Rgba);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(&[0, 0, 255, 255, 0, 0, 0, 0]).unwrap();
        }
        out
    }

    #[test]
    fn stamped_text_lands_in_its_rectangle_and_the_document_still_reads() {
        let original = fixture("simple-two-signers.pdf");
        let stamps = vec![
            Stamp {
                page: 1,
                rect: Rect { x: 300.0, y: 500.0, width: 200.0, height: 20.0 },
                content: StampContent::Text("Zoë (ACME)".into()),
            },
            Stamp {
                page: 1,
                rect: Rect { x: 100.0, y: 600.0, width: 120.0, height: 40.0 },
                content: StampContent::Image(png()),
            },
            Stamp {
                page: 1,
                rect: Rect { x: 100.0, y: 660.0, width: 12.0, height: 12.0 },
                content: StampContent::Check(true),
            },
        ];
        let stamped = stamp(&original, &stamps).unwrap_or_else(|e| panic!("{e}"));
        let analysis = crate::analyze(&stamped, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(analysis.pages.len(), 1);
        assert!(!analysis.tags.is_empty(), "the original text is still there");
        let rendered = crate::render_page(&stamped, 1, 612, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(rendered.png.len() > 1000);
    }

    #[test]
    fn text_outside_latin_1_becomes_a_question_mark_and_parentheses_are_escaped() {
        assert_eq!(pdf_string("a(b)\\ 张"), b"(a\\(b\\)\\\\ ?)".to_vec());
    }
}

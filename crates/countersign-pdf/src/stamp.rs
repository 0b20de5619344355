//! Stamping signers' values onto a document: text (in the bundled Noto fonts, any script, see
//! [`crate::text`]), check marks and signature images (PNG, alpha kept as a soft mask), drawn at
//! field rectangles given in [`crate::analyze`]'s coordinates (the media box after `/Rotate`, top-left
//! origin), so a value lands where the signer saw its field at any page rotation.
//!
//! The values of a page are drawn with krilla on a page of the same size, which becomes a form
//! XObject painted over the original page ([`crate::overlay`]); the original content streams are
//! kept byte for byte (wrapped in `q … Q`), never re-rasterised.

use hayro_interpret::kurbo::{Affine, Rect as KRect};
use krilla::geom::{PathBuilder, Size, Transform};
use krilla::paint::{Fill, LineCap, LineJoin, Stroke};
use lopdf::{Document, ObjectId};

use crate::text::Line;
use crate::{PdfError, Rect, guarded, initial_transform, media_box, open, overlay, precheck};

/// Largest signature image, in pixels (decoding a larger one is refused: a decompression bomb).
pub const MAX_IMAGE_PIXELS: u64 = 16 * 1024 * 1024;

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

/// How to make the stamped copy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StampOptions {
    /// Remove the text tags from the content streams first (`hide_text_tags`).
    pub hide_text_tags: bool,
}

/// Draws `stamps` onto the PDF `bytes` and returns the new document.
pub fn stamp(bytes: &[u8], stamps: &[Stamp], options: StampOptions) -> Result<Vec<u8>, PdfError> {
    let doc = stamp_document(bytes, stamps, options)?;
    save(doc)
}

pub(crate) fn save(mut doc: Document) -> Result<Vec<u8>, PdfError> {
    let mut out = Vec::new();
    doc.save_to(&mut out).map_err(|e| PdfError::Unreadable(format!("the PDF could not be written: {e}")))?;
    Ok(out)
}

/// Opens `bytes` with lopdf (decrypting a file with an empty password).
pub(crate) fn load(bytes: &[u8]) -> Result<Document, PdfError> {
    crate::open_for_editing(
        bytes,
        |e| PdfError::Unreadable(format!("the PDF could not be rewritten: {e}")),
        |_| PdfError::PasswordProtected,
    )
}

/// [`stamp`], returning the edited document unsaved.
pub(crate) fn stamp_document(bytes: &[u8], stamps: &[Stamp], options: StampOptions) -> Result<Document, PdfError> {
    precheck(bytes)?;
    // Each page's transform from page space to the stamps' coordinates, read the way analysis reads
    // it, and the stamps' page size (the media box after rotation).
    let pages_info: Vec<(Affine, f64, f64)> = guarded(|| {
        let pdf = open(bytes)?;
        Ok(pdf
            .pages()
            .iter()
            .map(|page| {
                let media: KRect = media_box(page);
                let t = initial_transform(page, media);
                let size = t.transform_rect_bbox(media);
                (t, size.width(), size.height())
            })
            .collect())
    })?;
    let mut doc = load(bytes)?;
    if options.hide_text_tags {
        crate::hide::hide_text_tags(&mut doc)?;
    }
    let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
    if pages.len() != pages_info.len() {
        return Err(PdfError::Unreadable("the page tree could not be read consistently".into()));
    }
    let mut drawn = overlay::krilla_document();
    let mut targets = Vec::new();
    for (index, (transform, width, height)) in pages_info.iter().enumerate() {
        let number = index as u32 + 1;
        let on_page: Vec<&Stamp> = stamps.iter().filter(|s| s.page == number).collect();
        if on_page.is_empty() {
            continue;
        }
        let settings = krilla::page::PageSettings::from_wh(*width as f32, *height as f32)
            .ok_or_else(|| PdfError::Unreadable(format!("page {number} has no size")))?;
        let mut page = drawn.start_page_with(settings);
        let mut surface = page.surface();
        for s in on_page {
            draw_stamp(&mut surface, s)?;
        }
        surface.finish();
        page.finish();
        // From the drawn page's space (PDF, y up) to the stamps' (y down), then back to page space.
        let flip = Affine::new([1.0, 0.0, 0.0, -1.0, 0.0, *height]);
        targets.push((pages[index], (transform.inverse() * flip).as_coeffs()));
    }
    if targets.is_empty() {
        return Ok(doc);
    }
    let drawn = overlay::finish(drawn)?;
    let forms = overlay::import(&mut doc, drawn);
    for ((page_id, matrix), form_page) in targets.into_iter().zip(forms) {
        let form = overlay::page_as_form(&mut doc, form_page)?;
        overlay::draw_over(&mut doc, page_id, form, matrix)?;
    }
    Ok(doc)
}

fn draw_stamp(surface: &mut krilla::surface::Surface<'_>, s: &Stamp) -> Result<(), PdfError> {
    let Rect { x, y, width, height } = s.rect;
    let (x, y, width, height) = (x as f32, y as f32, width as f32, height as f32);
    match &s.content {
        StampContent::Text(text) => {
            let line = Line::new(text);
            // Noto's glyph box (ascent 1.07, descent 0.29 em) stays inside the rectangle at this size.
            let mut size = (height * 0.6).clamp(4.0, 14.0);
            let room = (width - 3.0).max(1.0);
            let natural = line.width(size);
            if natural > room {
                size = (size * room / natural).max(4.0);
            }
            let baseline = y + (height + size * 0.7) / 2.0;
            line.draw(surface, x + 1.5, baseline, size);
        }
        StampContent::Check(true) => {
            let side = width.min(height);
            let (x0, y0) = (x + (width - side) / 2.0, y + (height - side) / 2.0);
            let mut path = PathBuilder::new();
            path.move_to(x0 + side * 0.2, y0 + side * 0.55);
            path.line_to(x0 + side * 0.42, y0 + side * 0.78);
            path.line_to(x0 + side * 0.82, y0 + side * 0.22);
            if let Some(path) = path.finish() {
                surface.set_fill(None);
                surface.set_stroke(Some(Stroke {
                    width: (side * 0.12).max(0.8),
                    line_cap: LineCap::Round,
                    line_join: LineJoin::Round,
                    ..Stroke::default()
                }));
                surface.draw_path(&path);
                surface.set_stroke(None);
                surface.set_fill(Some(Fill::default()));
            }
        }
        StampContent::Check(false) => {}
        StampContent::Image(png) => {
            let (pixels, w, h) = decode_png(png)?;
            let image = krilla::image::Image::from_rgba8(pixels, w, h);
            let scale = (width / w as f32).min(height / h as f32);
            let (dw, dh) = (w as f32 * scale, h as f32 * scale);
            let (dx, dy) = (x + (width - dw) / 2.0, y + (height - dh) / 2.0);
            if let Some(size) = Size::from_wh(dw, dh) {
                surface.push_transform(&Transform::from_translate(dx, dy));
                surface.draw_image(image, size);
                surface.pop();
            }
        }
    }
    Ok(())
}

/// A PNG as RGBA pixels, refusing images over [`MAX_IMAGE_PIXELS`] before decoding them.
fn decode_png(png: &[u8]) -> Result<(Vec<u8>, u32, u32), PdfError> {
    let bad = |e: String| PdfError::Unreadable(format!("a signature image could not be read: {e}"));
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
    decoder.set_transformations(png::Transformations::normalize_to_color8() | png::Transformations::ALPHA);
    let header = decoder.read_header_info().map_err(|e| bad(e.to_string()))?;
    let pixels = u64::from(header.width) * u64::from(header.height);
    if pixels == 0 || pixels > MAX_IMAGE_PIXELS {
        return Err(bad(format!("{}×{} pixels is outside the limit", header.width, header.height)));
    }
    let mut reader = decoder.read_info().map_err(|e| bad(e.to_string()))?;
    let mut buffer = vec![0; reader.output_buffer_size().ok_or_else(|| bad("too large".into()))?];
    let info = reader.next_frame(&mut buffer).map_err(|e| bad(e.to_string()))?;
    let data = &buffer[..info.buffer_size()];
    let rgba = match info.color_type {
        png::ColorType::Rgba => data.to_vec(),
        png::ColorType::GrayscaleAlpha => data.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
        other => return Err(bad(format!("unexpected colour type {other:?}"))),
    };
    Ok((rgba, info.width, info.height))
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

    /// A PNG header claiming `width`×`height` pixels, followed by a tiny (wrong) image.
    fn bomb(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, 1, 1);
            encoder.set_color(png::ColorType::Rgba);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().unwrap();
            writer.write_image_data(&[0, 0, 0, 255]).unwrap();
        }
        // Rewrite IHDR's size (and its CRC) to claim a huge image.
        out[16..20].copy_from_slice(&width.to_be_bytes());
        out[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32(&out[12..29]);
        out[29..33].copy_from_slice(&crc.to_be_bytes());
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for b in bytes {
            crc ^= u32::from(*b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn images_that_are_bombs_or_not_images_are_refused_not_decoded() {
        let original = fixture("simple-two-signers.pdf");
        let rect = Rect { x: 100.0, y: 600.0, width: 120.0, height: 40.0 };
        for (what, image) in
            [("bomb", bomb(60_000, 60_000)), ("not a PNG", b"GIF89a....".to_vec()), ("empty", Vec::new())]
        {
            let stamps = vec![Stamp { page: 1, rect, content: StampContent::Image(image) }];
            let err = stamp(&original, &stamps, StampOptions::default()).unwrap_err();
            assert!(err.to_string().contains("signature image"), "{what}: {err}");
        }
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
        let stamped = stamp(&original, &stamps, StampOptions::default()).unwrap_or_else(|e| panic!("{e}"));
        let analysis = crate::analyze(&stamped, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(analysis.pages.len(), 1);
        assert!(!analysis.tags.is_empty(), "the original text is still there");
        let rendered = crate::render_page(&stamped, 1, 612, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert!(rendered.png.len() > 1000);
    }
}

//! Page images for the signer page: one page of a PDF rendered to PNG with
//! [hayro](https://crates.io/crates/hayro), in the same coordinates as [`crate::analyze`] (the media
//! box after `/Rotate`, top-left origin), so a field's rectangle in points lands on the same pixels
//! at any scale.
//!
//! Bounded like analysis: the input size, a wall-time budget checked between the steps hayro allows,
//! the image size (at most [`MAX_RENDER_PIXELS`]), and every panic caught.

use hayro::vello_cpu::color::palette::css::WHITE;
use hayro::vello_cpu::{Pixmap, RasterizerSettings, RenderContext, Resources, TargetInit};
use hayro::{RenderCache, RenderSettings, render_into};
use hayro_interpret::InterpreterSettings;
use hayro_interpret::kurbo::Affine;

use crate::{Limits, PdfError, guarded, initial_transform, media_box, open, page_size, precheck};

/// The most pixels one rendered page may have (about 4000 × 4000).
pub const MAX_RENDER_PIXELS: f64 = 16_000_000.0;

/// A rendered page.
#[derive(Debug, Clone)]
pub struct PageImage {
    pub png: Vec<u8>,
    pub width_px: u32,
    pub height_px: u32,
}

/// Renders page `page` (1-based) of `bytes` to a PNG `width_px` pixels wide (the height follows the
/// page's proportions), on a white background.
pub fn render_page(bytes: &[u8], page: usize, width_px: u32, limits: &Limits) -> Result<PageImage, PdfError> {
    precheck(bytes)?;
    if bytes.len() > limits.max_bytes {
        return Err(PdfError::TooLarge { bytes: bytes.len(), max: limits.max_bytes });
    }
    guarded(|| {
        let pdf = open(bytes)?;
        let pages = pdf.pages();
        if pages.len() > limits.max_pages {
            return Err(PdfError::TooManyPages { pages: pages.len(), max: limits.max_pages });
        }
        let target = page
            .checked_sub(1)
            .and_then(|i| pages.get(i))
            .ok_or_else(|| PdfError::Unreadable(format!("the document has no page {page}")))?;
        let media = media_box(target);
        let (width, height) = page_size(target, media);
        let mut scale = f64::from(width_px.max(1)) / width;
        if width * height * scale * scale > MAX_RENDER_PIXELS {
            scale = (MAX_RENDER_PIXELS / (width * height)).sqrt();
        }
        let (w, h) = ((width * scale).round().max(1.0), (height * scale).round().max(1.0));
        if w > f64::from(u16::MAX) || h > f64::from(u16::MAX) {
            return Err(PdfError::Unreadable(format!("page {page} is too large to render")));
        }
        let (w, h) = (w as u16, h as u16);
        let mut context = RenderContext::new(w, h);
        let transform = Affine::scale(scale) * initial_transform(target, media);
        let cache = RenderCache::new();
        render_into(
            target,
            &cache,
            &InterpreterSettings::default(),
            &RenderSettings::default(),
            &mut context,
            transform,
        );
        context.flush();
        let mut pixmap = Pixmap::new(w, h);
        context.render_with(
            &mut pixmap,
            &mut Resources::default(),
            RasterizerSettings { target_init: TargetInit::Clear(WHITE), ..Default::default() },
        );
        let png =
            pixmap.into_png().map_err(|e| PdfError::Unreadable(format!("the page image could not be encoded: {e}")))?;
        Ok(PageImage { png, width_px: u32::from(w), height_px: u32::from(h) })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pdf").join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    #[test]
    fn a_page_renders_at_the_asked_width_with_the_pages_proportions() {
        let bytes = fixture("simple-two-signers.pdf");
        let image = render_page(&bytes, 1, 600, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(image.width_px, 600);
        let analysis = crate::analyze(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{e}"));
        let ratio = analysis.pages[0].height / analysis.pages[0].width;
        assert!((f64::from(image.height_px) - 600.0 * ratio).abs() <= 1.0);
        assert_eq!(&image.png[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn a_missing_page_or_a_non_pdf_is_an_error() {
        let bytes = fixture("simple-two-signers.pdf");
        assert!(
            matches!(render_page(&bytes, 99, 600, &Limits::default()), Err(PdfError::Unreadable(m)) if m.contains("no page 99"))
        );
        assert!(matches!(render_page(&bytes, 0, 600, &Limits::default()), Err(PdfError::Unreadable(_))));
        assert_eq!(render_page(b"hello", 1, 600, &Limits::default()).unwrap_err(), PdfError::NotPdf);
    }
}

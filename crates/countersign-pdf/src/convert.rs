//! Documents that are not PDFs: what format a file is (by its bytes, not its name), and PNG or JPEG
//! images made into a one-page PDF here, so they are signed like any document. Word, OpenDocument and
//! RTF files need an office converter, which this crate does not have: [`DocumentFormat::needs_office`].

use krilla::geom::{Size, Transform};

use crate::PdfError;
use crate::overlay::krilla_document;

/// The largest image made into a page, in pixels (a 48-megapixel photo fits; its decoded RGBA is
/// held in memory once).
pub const MAX_DOCUMENT_IMAGE_PIXELS: u64 = 50_000_000;

/// US Letter, in points; an image wider than tall gets the landscape page.
const LETTER: (f32, f32) = (612.0, 792.0);
/// The white border around an image on its page, in points.
const MARGIN: f32 = 36.0;

/// What a document's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentFormat {
    Pdf,
    Png,
    Jpeg,
    /// Word 2007+ (`.docx`).
    Docx,
    /// Word 97–2003 (`.doc`).
    Doc,
    /// OpenDocument text (`.odt`).
    Odt,
    Rtf,
    /// Something else (plain text, another format, or damaged).
    Other,
}

impl DocumentFormat {
    /// The format of `bytes`, by their signature (and, for the zip-based office formats, by the entry
    /// names their first bytes show).
    pub fn of(bytes: &[u8]) -> Self {
        if crate::has_pdf_header(bytes) {
            Self::Pdf
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Self::Png
        } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Self::Jpeg
        } else if bytes.starts_with(b"{\\rtf") {
            Self::Rtf
        } else if bytes.starts_with(&[0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1]) {
            Self::Doc
        } else if bytes.starts_with(b"PK\x03\x04") {
            let head = &bytes[..bytes.len().min(64 * 1024)];
            if contains(head, b"application/vnd.oasis.opendocument.text") {
                Self::Odt
            } else if contains(head, b"word/") {
                Self::Docx
            } else {
                Self::Other
            }
        } else {
            Self::Other
        }
    }

    /// How a person names the format.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Pdf => "a PDF",
            Self::Png => "a PNG image",
            Self::Jpeg => "a JPEG image",
            Self::Docx => "a Word document (.docx)",
            Self::Doc => "a Word 97–2003 document (.doc)",
            Self::Odt => "an OpenDocument text (.odt)",
            Self::Rtf => "a rich-text document (.rtf)",
            Self::Other => "not a PDF, an image or an office document",
        }
    }

    /// Whether making a PDF of it takes an office converter (LibreOffice).
    pub fn needs_office(self) -> bool {
        matches!(self, Self::Docx | Self::Doc | Self::Odt | Self::Rtf)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A PNG or JPEG as a one-page PDF: a US Letter page (landscape for a wide image) with the image
/// fitted inside a half-inch margin, centered. Refuses other formats, unreadable images and images
/// over [`MAX_DOCUMENT_IMAGE_PIXELS`] without decoding them.
pub fn image_to_pdf(bytes: &[u8]) -> Result<Vec<u8>, PdfError> {
    let unreadable = |why: String| PdfError::Unreadable(format!("the image could not be read: {why}"));
    let data = krilla::Data::from(bytes.to_vec());
    let image = match DocumentFormat::of(bytes) {
        DocumentFormat::Png => krilla::image::Image::from_png(data, true),
        DocumentFormat::Jpeg => krilla::image::Image::from_jpeg(data, true),
        _ => return Err(PdfError::NotPdf),
    }
    .map_err(unreadable)?;
    let (w, h) = image.size();
    if w == 0 || h == 0 {
        return Err(unreadable("it has no pixels".into()));
    }
    if u64::from(w) * u64::from(h) > MAX_DOCUMENT_IMAGE_PIXELS {
        return Err(unreadable(format!(
            "it is {w}×{h} pixels; the limit is {} megapixels",
            MAX_DOCUMENT_IMAGE_PIXELS / 1_000_000
        )));
    }
    let (page_w, page_h) = if w > h { (LETTER.1, LETTER.0) } else { LETTER };
    let scale = ((page_w - 2.0 * MARGIN) / w as f32).min((page_h - 2.0 * MARGIN) / h as f32);
    let (dw, dh) = (w as f32 * scale, h as f32 * scale);
    let size = Size::from_wh(dw, dh).ok_or_else(|| unreadable("it has no size".into()))?;
    let mut doc = krilla_document();
    let settings = krilla::page::PageSettings::from_wh(page_w, page_h).ok_or_else(|| unreadable("page".into()))?;
    let mut page = doc.start_page_with(settings);
    let mut surface = page.surface();
    surface.push_transform(&Transform::from_translate((page_w - dw) / 2.0, (page_h - dh) / 2.0));
    surface.draw_image(image, size);
    surface.pop();
    surface.finish();
    page.finish();
    doc.finish().map_err(|e| unreadable(format!("{e:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&vec![200u8; (w * h * 3) as usize]).unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn formats_are_told_by_their_bytes() {
        assert_eq!(DocumentFormat::of(b"%PDF-1.7\n"), DocumentFormat::Pdf);
        assert_eq!(DocumentFormat::of(&png(2, 2)), DocumentFormat::Png);
        assert_eq!(DocumentFormat::of(&[0xFF, 0xD8, 0xFF, 0xE0]), DocumentFormat::Jpeg);
        assert_eq!(DocumentFormat::of(b"PK\x03\x04....[Content_Types].xml....word/document.xml"), DocumentFormat::Docx);
        assert_eq!(
            DocumentFormat::of(b"PK\x03\x04mimetypeapplication/vnd.oasis.opendocument.text"),
            DocumentFormat::Odt
        );
        assert_eq!(DocumentFormat::of(b"{\\rtf1\\ansi"), DocumentFormat::Rtf);
        assert_eq!(DocumentFormat::of(b"PK\x03\x04just a zip"), DocumentFormat::Other);
        assert_eq!(DocumentFormat::of(b"hello"), DocumentFormat::Other);
        assert!(DocumentFormat::Docx.needs_office() && !DocumentFormat::Png.needs_office());
    }

    #[test]
    fn an_image_becomes_one_letter_page_the_right_way_up() {
        let tall = image_to_pdf(&png(300, 600)).unwrap_or_else(|e| panic!("{e}"));
        let sizes = crate::page_sizes(&tall).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sizes.len(), 1);
        assert_eq!((sizes[0].width.round(), sizes[0].height.round()), (612.0, 792.0));
        let wide = image_to_pdf(&png(600, 300)).unwrap_or_else(|e| panic!("{e}"));
        let sizes = crate::page_sizes(&wide).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((sizes[0].width.round(), sizes[0].height.round()), (792.0, 612.0));
        let limits = crate::Limits { max_pages: 10, max_bytes: 10 << 20, timeout: std::time::Duration::from_secs(10) };
        assert!(crate::analyze(&wide, &limits).is_ok(), "the page reads as any PDF");
    }

    #[test]
    fn what_is_not_an_image_or_is_broken_is_refused() {
        assert_eq!(image_to_pdf(b"%PDF-1.7"), Err(PdfError::NotPdf));
        let mut broken = png(4, 4);
        broken.truncate(20);
        assert!(matches!(image_to_pdf(&broken), Err(PdfError::Unreadable(_))));
    }
}

//! Documents that are not PDFs: what format a file is (by its bytes, not its name), and PNG or JPEG
//! images made into a one-page PDF here, so they are signed like any document. Word, OpenDocument, RTF
//! and plain-text files need an office converter, which this crate does not run
//! ([`DocumentFormat::needs_office`]); [`check_office_zip`] bounds what a zip-based one expands to
//! before a converter is given it.

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
    /// UTF-8 text without control characters other than tabs, line and page breaks, in a file named
    /// `.txt` ([`Self::of_file`]).
    Text,
    /// Something else (another format, or damaged).
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

    /// The format of a file named `name`: [`Self::of`] its bytes, except that text — which bytes
    /// alone cannot tell from an HTML page or a mislabelled upload — is [`Self::Text`] only when its
    /// name says so (`.txt`).
    pub fn of_file(bytes: &[u8], name: &str) -> Self {
        match Self::of(bytes) {
            Self::Other if name.to_ascii_lowercase().ends_with(".txt") && is_plain_text(bytes) => Self::Text,
            other => other,
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
            Self::Text => "a plain-text file (.txt)",
            Self::Other => "not a PDF, an image or an office document",
        }
    }

    /// Whether making a PDF of it takes an office converter (LibreOffice).
    pub fn needs_office(self) -> bool {
        matches!(self, Self::Docx | Self::Doc | Self::Odt | Self::Rtf | Self::Text)
    }

    /// The file-name extension an office converter recognises the format by.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Docx => "docx",
            Self::Doc => "doc",
            Self::Odt => "odt",
            Self::Rtf => "rtf",
            Self::Text => "txt",
            Self::Other => "bin",
        }
    }
}

/// Non-empty UTF-8 (a byte-order mark allowed) whose only control characters are tab, line feed,
/// carriage return and form feed.
fn is_plain_text(bytes: &[u8]) -> bool {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            !text.trim().is_empty() && text.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r' | '\x0c'))
        }
        Err(_) => false,
    }
}

/// Most entries a zip-based office document may hold.
pub const MAX_OFFICE_ZIP_ENTRIES: usize = 10_000;

/// Checks a zip-based office document (`.docx`, `.odt`) against a zip bomb before a converter opens it:
/// its central directory must be readable, hold at most [`MAX_OFFICE_ZIP_ENTRIES`] entries, and
/// declare at most `max_expanded` bytes in all once inflated. Not a zip: nothing to check.
pub fn check_office_zip(bytes: &[u8], max_expanded: u64) -> Result<(), String> {
    if !bytes.starts_with(b"PK\x03\x04") {
        return Ok(());
    }
    let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let damaged = || "the file is a damaged zip archive (its directory cannot be read)".to_owned();
    // The end-of-central-directory record: in the last 22 + 65,535 bytes (its comment's most).
    let tail_start = bytes.len().saturating_sub(22 + 65_535);
    let eocd = (tail_start..bytes.len().saturating_sub(21))
        .rev()
        .find(|&at| bytes[at..].starts_with(b"PK\x05\x06"))
        .ok_or_else(damaged)?;
    let entries = usize::from(u16_at(eocd + 10).ok_or_else(damaged)?);
    let directory = u32_at(eocd + 16).ok_or_else(damaged)?;
    if entries == 0xFFFF || directory == 0xFFFF_FFFF {
        return Err("the file is a ZIP64 archive, which no office document needs".to_owned());
    }
    if entries > MAX_OFFICE_ZIP_ENTRIES {
        return Err(format!("the file holds {entries} parts; the limit is {MAX_OFFICE_ZIP_ENTRIES}"));
    }
    let mut at = directory as usize;
    let mut expanded = 0u64;
    for _ in 0..entries {
        if u32_at(at) != Some(0x0201_4b50) {
            return Err(damaged());
        }
        let size = u32_at(at + 24).ok_or_else(damaged)?;
        if size == 0xFFFF_FFFF {
            return Err("the file is a ZIP64 archive, which no office document needs".to_owned());
        }
        expanded += u64::from(size);
        if expanded > max_expanded {
            return Err(format!(
                "the file expands to more than {} MB once unpacked; the limit is {} MB",
                expanded / 1_000_000,
                max_expanded / 1_000_000
            ));
        }
        let name = usize::from(u16_at(at + 28).ok_or_else(damaged)?);
        let extra = usize::from(u16_at(at + 30).ok_or_else(damaged)?);
        let comment = usize::from(u16_at(at + 32).ok_or_else(damaged)?);
        at += 46 + name + extra + comment;
    }
    Ok(())
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
        assert_eq!(DocumentFormat::of_file(b"hello\r\n\tworld\x0c", "notes.TXT"), DocumentFormat::Text);
        assert_eq!(DocumentFormat::of_file("\u{feff}Grüße".as_bytes(), "a.txt"), DocumentFormat::Text);
        assert_eq!(
            DocumentFormat::of_file(b"<!doctype html><p>hi", "page.pdf"),
            DocumentFormat::Other,
            "text by name only"
        );
        assert_eq!(DocumentFormat::of_file(b"bin\x00ary", "a.txt"), DocumentFormat::Other);
        assert_eq!(DocumentFormat::of_file(b"\xff\xfelatin", "a.txt"), DocumentFormat::Other);
        assert_eq!(DocumentFormat::of_file(b"  \n", "a.txt"), DocumentFormat::Other);
        assert_eq!(DocumentFormat::of_file(b"%PDF-1.7", "a.txt"), DocumentFormat::Pdf, "bytes first");
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

    /// A stored (uncompressed) zip of `parts`, each declared `declared` bytes long when given.
    fn zip(parts: &[(&str, &[u8])], declared: Option<u32>) -> Vec<u8> {
        let (mut out, mut directory) = (Vec::new(), Vec::new());
        for (name, data) in parts {
            let offset = out.len() as u32;
            let size = declared.unwrap_or(data.len() as u32);
            out.extend_from_slice(b"PK\x03\x04\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00");
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&size.to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&[0, 0]);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
            directory.extend_from_slice(b"PK\x01\x02\x14\x00\x14\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00");
            directory.extend_from_slice(&(data.len() as u32).to_le_bytes());
            directory.extend_from_slice(&size.to_le_bytes());
            directory.extend_from_slice(&(name.len() as u16).to_le_bytes());
            directory.extend_from_slice(&[0; 12]);
            directory.extend_from_slice(&offset.to_le_bytes());
            directory.extend_from_slice(name.as_bytes());
        }
        let start = out.len() as u32;
        out.extend_from_slice(&directory);
        out.extend_from_slice(b"PK\x05\x06\x00\x00\x00\x00");
        out.extend_from_slice(&(parts.len() as u16).to_le_bytes());
        out.extend_from_slice(&(parts.len() as u16).to_le_bytes());
        out.extend_from_slice(&(directory.len() as u32).to_le_bytes());
        out.extend_from_slice(&start.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn a_zip_bomb_is_told_by_its_directory() {
        let parts: &[(&str, &[u8])] = &[("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w:document/>")];
        assert_eq!(check_office_zip(&zip(parts, None), 1_000), Ok(()));
        let fixture = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/office/lease.docx")).unwrap();
        assert_eq!(DocumentFormat::of(&fixture), DocumentFormat::Docx);
        assert_eq!(check_office_zip(&fixture, 1 << 20), Ok(()));
        let bomb = check_office_zip(&zip(parts, Some(600_000_000)), 256_000_000).unwrap_err();
        assert!(bomb.contains("expands to more than") && bomb.contains("256 MB"), "{bomb}");
        let mut cut = zip(parts, None);
        cut.truncate(cut.len() - 30);
        assert!(check_office_zip(&cut, 1_000).unwrap_err().contains("damaged"));
        assert_eq!(check_office_zip(b"{\\rtf1}", 1), Ok(()), "not a zip: nothing to check");
    }
}

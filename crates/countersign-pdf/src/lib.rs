//! PDF analysis for Countersign: page sizes and Dropbox-Sign text tags with their positions.
//!
//! [`analyze`] reads a PDF with [hayro](https://crates.io/crates/hayro-interpret), records every
//! glyph's position (no pixels are rendered, images are never decoded), assembles the glyphs into
//! lines of text the way poppler's `pdftotext` does, and returns every `[type|req|signer…]` tag
//! with the rectangle it covers. [`parse_tag`] parses a tag's text (spec §7.2).
//!
//! Coordinates are PDF points in the *displayed* page (after `/Rotate`, relative to the crop box),
//! with the origin at the top-left corner and y growing downwards — the convention of
//! `pdftotext -bbox` (which uses the media box; the two differ only for pages with a `/CropBox`).
//! Boxes reproduce poppler's word boxes; see the crate README for details and limitations.
//!
//! # Robustness
//! * The whole hayro run happens inside [`std::panic::catch_unwind`]; a panic becomes
//!   [`PdfError::Unreadable`]. (This needs `panic = "unwind"`, the default.)
//! * [`Limits`] bound the input size, page count and wall time. The time limit is checked between
//!   pages and on every drawing callback, which stops hayro in the middle of a content stream.
//! * Content streams and form XObjects whose decoded size could exceed 64 MiB are measured first
//!   with a bounded inflater; hayro itself decodes streams without any size limit.

mod afm;
mod extract;
mod fonts;
mod guard;
mod layout;
mod merge;
mod tags;

pub use merge::{MergeError, merge};

pub use tags::{AUTOFILL_TYPES, FieldType, TagError, TagSigner, TextTag, VALIDATION_TYPES, parse_tag};

use extract::{Abort, Collector};
use fonts::FontResolver;
use hayro_interpret::hayro_syntax::object::{Array, Stream};
use hayro_interpret::hayro_syntax::page::{Page, Rotation};
use hayro_interpret::hayro_syntax::{DecryptionError, LoadPdfError, Pdf};
use hayro_interpret::kurbo::{Affine, Rect as KRect};
use hayro_interpret::{Context, InterpreterCache, InterpreterSettings, RenderContent, interpret, interpret_page};
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// Resource limits for [`analyze`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most pages a document may have (default 500).
    pub max_pages: usize,
    /// Largest accepted file, in bytes (default 40 MiB).
    pub max_bytes: usize,
    /// Wall-clock budget for one call (default 30 s); checked between pages and during
    /// interpretation.
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_pages: 500, max_bytes: 40 * 1024 * 1024, timeout: Duration::from_secs(30) }
    }
}

/// The displayed size of a page in points, after `/Rotate` (a 90°-rotated A4 portrait page is
/// 842 × 595).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageSize {
    pub width: f64,
    pub height: f64,
}

/// A rectangle in PDF points on the displayed (rotated) page, origin at the top-left corner,
/// y growing downwards — the same convention as `pdftotext -bbox` (`x`,`y` = xMin,yMin).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

/// A text tag found on a page.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundTag {
    /// 1-based page number.
    pub page: u32,
    /// The tag text as it appears on the page, brackets included, e.g. `"[sig|req|signer1]"`.
    /// Where glyphs are spaced apart without a space character, a single space is inserted, as
    /// text extraction does; [`parse_tag`] tolerates that.
    pub text: String,
    /// The area the whole bracketed string covers (width of the tag, height of the line).
    pub rect: Rect,
}

/// The result of [`analyze`].
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// Every page's displayed size, in page order.
    pub pages: Vec<PageSize>,
    /// Every text tag, in page order, then reading order (top to bottom, left to right).
    pub tags: Vec<FoundTag>,
}

/// Why a file could not be analysed. `Display` gives a message fit for an API user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PdfError {
    /// The bytes are not a PDF (no `%PDF-` header).
    NotPdf,
    /// The PDF is damaged, truncated or otherwise unreadable.
    Unreadable(String),
    /// The PDF needs a password to open.
    PasswordProtected,
    /// More pages than [`Limits::max_pages`].
    TooManyPages { pages: usize, max: usize },
    /// Larger than [`Limits::max_bytes`].
    TooLarge { bytes: usize, max: usize },
    /// Analysis took longer than [`Limits::timeout`].
    TimedOut,
    /// The file is empty.
    Empty,
}

impl fmt::Display for PdfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PdfError::NotPdf => f.write_str("the file is not a PDF"),
            PdfError::Unreadable(why) => write!(f, "the PDF could not be read: {why}"),
            PdfError::PasswordProtected => f.write_str("the PDF is password-protected"),
            PdfError::TooManyPages { pages, max } => write!(f, "the PDF has {pages} pages; the limit is {max}"),
            PdfError::TooLarge { bytes, max } => {
                write!(f, "the file is {} large; the limit is {}", human_size(*bytes), human_size(*max))
            }
            PdfError::TimedOut => f.write_str("the PDF took too long to process"),
            PdfError::Empty => f.write_str("the file is empty"),
        }
    }
}

impl std::error::Error for PdfError {}

fn human_size(bytes: usize) -> String {
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else {
        format!("{bytes} bytes")
    }
}

/// Find the page sizes and text tags of a PDF. Never panics.
pub fn analyze(bytes: &[u8], limits: &Limits) -> Result<Analysis, PdfError> {
    let deadline = Instant::now() + limits.timeout;
    precheck(bytes)?;
    if bytes.len() > limits.max_bytes {
        return Err(PdfError::TooLarge { bytes: bytes.len(), max: limits.max_bytes });
    }
    guarded(|| analyze_inner(bytes, limits, deadline, false))
}

/// Every word on every page with its box, instead of only the tags: a diagnostic for comparing
/// the layout with `pdftotext -bbox`. Not part of the supported API.
#[doc(hidden)]
pub fn debug_words(bytes: &[u8], limits: &Limits) -> Result<Analysis, PdfError> {
    let deadline = Instant::now() + limits.timeout;
    precheck(bytes)?;
    guarded(|| analyze_inner(bytes, limits, deadline, true))
}

/// Count the pages of a PDF without extracting any text. Never panics.
pub fn page_count(bytes: &[u8]) -> Result<usize, PdfError> {
    precheck(bytes)?;
    guarded(|| {
        let pdf = open(bytes)?;
        Ok(pdf.pages().len())
    })
}

/// Cheap checks on the raw bytes: empty, not a PDF, truncated.
fn precheck(bytes: &[u8]) -> Result<(), PdfError> {
    if bytes.is_empty() {
        return Err(PdfError::Empty);
    }
    // Like poppler and Acrobat, accept the header anywhere in the first 1024 bytes.
    let head = &bytes[..bytes.len().min(1024)];
    if !contains(head, b"%PDF-") {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(PdfError::Empty);
        }
        return Err(PdfError::NotPdf);
    }
    // A complete file ends with %%EOF (Acrobat looks in the last 1024 bytes). Without it the
    // upload was most likely cut short; hayro would silently recover what it can.
    let tail = &bytes[bytes.len().saturating_sub(1024)..];
    if !contains(tail, b"%%EOF") {
        return Err(PdfError::Unreadable("the file is truncated (it does not end with %%EOF)".into()));
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Run hayro work, turning panics into errors (and our own aborts into their errors).
fn guarded<T>(work: impl FnOnce() -> Result<T, PdfError>) -> Result<T, PdfError> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result,
        Err(payload) => Err(match payload.downcast::<Abort>() {
            Ok(abort) => match *abort {
                Abort::TimedOut => PdfError::TimedOut,
                Abort::TooMuchText => {
                    PdfError::Unreadable(format!("a page draws more than {} characters", extract::MAX_GLYPHS_PER_PAGE))
                }
            },
            Err(payload) => {
                let detail = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                PdfError::Unreadable(if detail.is_empty() {
                    "the PDF reader failed on this file".to_string()
                } else {
                    format!("the PDF reader failed on this file ({detail})")
                })
            }
        }),
    }
}

fn abort_error(abort: Abort) -> PdfError {
    match abort {
        Abort::TimedOut => PdfError::TimedOut,
        Abort::TooMuchText => {
            PdfError::Unreadable(format!("a page draws more than {} characters", extract::MAX_GLYPHS_PER_PAGE))
        }
    }
}

fn open(bytes: &[u8]) -> Result<Pdf, PdfError> {
    match Pdf::new(bytes.to_vec()) {
        Ok(pdf) => Ok(pdf),
        Err(LoadPdfError::Decryption(DecryptionError::PasswordProtected)) => Err(PdfError::PasswordProtected),
        Err(LoadPdfError::Decryption(DecryptionError::UnsupportedAlgorithm)) => {
            Err(PdfError::Unreadable("it uses an unsupported kind of encryption".into()))
        }
        Err(LoadPdfError::Decryption(DecryptionError::MissingIDEntry | DecryptionError::InvalidEncryption)) => {
            Err(PdfError::Unreadable("its encryption dictionary is invalid".into()))
        }
        Err(LoadPdfError::Invalid) => {
            Err(PdfError::Unreadable("the file is damaged (no readable cross-reference table or page tree)".into()))
        }
    }
}

fn analyze_inner(bytes: &[u8], limits: &Limits, deadline: Instant, words: bool) -> Result<Analysis, PdfError> {
    let pdf = open(bytes)?;
    let pages = pdf.pages();
    if pages.is_empty() {
        return Err(PdfError::Unreadable("the document has no pages".into()));
    }
    if pages.len() > limits.max_pages {
        return Err(PdfError::TooManyPages { pages: pages.len(), max: limits.max_pages });
    }

    let cache = InterpreterCache::new();
    let settings = InterpreterSettings::default();
    let mut annotation_settings = settings.clone();
    annotation_settings.render_content = RenderContent::ANNOTATIONS;

    let mut fonts = FontResolver::new();
    let mut analysis = Analysis { pages: Vec::with_capacity(pages.len()), tags: Vec::new() };
    for (index, page) in pages.iter().enumerate() {
        if Instant::now() > deadline {
            return Err(PdfError::TimedOut);
        }
        let number = index as u32 + 1;
        let (width, height) = page_size(page);
        analysis.pages.push(PageSize { width, height });

        let content = page_content(page, number)?;
        guard::check_forms(&page.resources().x_objects).map_err(|n| too_big(number, n))?;

        let initial = Affine::new(page.initial_transform(true).as_coeffs());
        let bbox = KRect::new(0.0, 0.0, width, height);
        let mut device = Collector::new(page, (width, height), deadline, &mut fonts);
        if !content.is_empty() {
            let mut context = Context::new(initial, bbox, &cache, pdf.xref(), settings.clone());
            interpret(
                hayro_interpret::hayro_syntax::content::TypedIter::new(&content),
                page.resources(),
                &mut context,
                &mut device,
            );
        }
        if page.raw().contains_key(b"Annots") {
            let mut context = Context::new(initial, bbox, &cache, pdf.xref(), annotation_settings.clone());
            interpret_page(page, &mut context, &mut device);
        }
        analysis.tags.extend(device.finish(number, words).map_err(abort_error)?);
    }
    Ok(analysis)
}

fn too_big(page: u32, bytes: usize) -> PdfError {
    PdfError::Unreadable(format!(
        "page {page} has a content stream that decompresses to more than {} MiB (at least {bytes} bytes)",
        guard::MAX_DECODED_STREAM >> 20
    ))
}

/// The page's decoded content streams, joined (like hayro's own `Page::page_stream`, but not
/// cached for the document's lifetime, and each stream size-checked first).
fn page_content(page: &Page<'_>, number: u32) -> Result<Vec<u8>, PdfError> {
    let mut streams: Vec<Stream<'_>> = Vec::new();
    if let Some(stream) = page.raw().get::<Stream<'_>>(b"Contents") {
        streams.push(stream);
    } else if let Some(array) = page.raw().get::<Array<'_>>(b"Contents") {
        streams.extend(array.iter::<Stream<'_>>());
    }
    let mut content = Vec::new();
    for stream in &streams {
        guard::check_stream(stream).map_err(|n| too_big(number, n))?;
        let Ok(data) = stream.decoded_data() else { continue };
        if content.len() + data.len() > guard::MAX_DECODED_STREAM {
            return Err(too_big(number, content.len() + data.len()));
        }
        if streams.len() == 1 {
            return Ok(data.into_owned());
        }
        content.extend_from_slice(&data);
        // Streams must be separated by whitespace.
        content.push(b' ');
    }
    Ok(content)
}

/// Displayed page size: the crop box (intersected with the media box), swapped for 90°/270°.
fn page_size(page: &Page<'_>) -> (f64, f64) {
    let crop = page.intersected_crop_box();
    let (mut w, mut h) = (crop.width(), crop.height());
    if w.abs() < 1e-6 || h.abs() < 1e-6 {
        let (rw, rh) = page.render_dimensions();
        return (f64::from(rw), f64::from(rh));
    }
    w = w.max(1.0);
    h = h.max(1.0);
    if matches!(page.rotation(), Rotation::Horizontal | Rotation::FlippedHorizontal) {
        std::mem::swap(&mut w, &mut h);
    }
    (w, h)
}

//! PDF analysis for Countersign: page sizes and Dropbox-Sign text tags with their positions.
//!
//! [`analyze`] reads a PDF with [hayro](https://crates.io/crates/hayro-interpret), records every
//! glyph's position (no pixels are rendered, images are never decoded), assembles the glyphs into
//! lines of text the way poppler's `pdftotext` does, and returns every `[type|req|signer…]` tag
//! with the rectangle it covers. [`parse_tag`] parses a tag's text (spec §7.2).
//!
//! Coordinates are PDF points relative to the page's **media box**, after `/Rotate`, with the
//! origin at the top-left corner and y growing downwards — exactly the convention of plain
//! `pdftotext -bbox` (poppler without `-cropbox`), which is the oracle the rectangles are checked
//! against. The `/CropBox` is deliberately ignored: it is kept nowhere, neither in the
//! coordinates nor in [`PageSize`], nor to drop text (text outside the crop box but inside the
//! media box is reported, as poppler reports it; text outside the media box is dropped, as
//! poppler drops it). Boxes reproduce poppler's word boxes; see the crate README for details and
//! limitations.
//!
//! # Robustness
//! * The whole hayro run happens inside [`std::panic::catch_unwind`]; a panic becomes
//!   [`PdfError::Unreadable`]. (This needs `panic = "unwind"`, the default.)
//! * [`Limits`] bound the input size, page count and wall time. The time limit is checked between
//!   pages and on every drawing callback, which stops hayro in the middle of a content stream.
//! * Content streams and form XObjects whose decoded size could exceed 64 MiB are measured first
//!   with a bounded inflater; hayro itself decodes streams without any size limit.

mod afm;
mod audit;
mod convert;
mod extract;
mod final_copy;
mod fonts;
mod guard;
mod hide;
mod layout;
mod merge;
mod overlay;
mod render;
mod signature;
mod signature_page;
mod stamp;
mod tags;
mod text;

pub use audit::{AuditDocument, AuditSigner, AuditStep, AuditTrail, LETTER as LETTER_SIZE, audit_page_size};
pub use convert::{DocumentFormat, MAX_DOCUMENT_IMAGE_PIXELS, MAX_OFFICE_ZIP_ENTRIES, check_office_zip, image_to_pdf};
pub use final_copy::prepare_final;
pub use merge::{MergeError, merge};
pub use render::{MAX_RENDER_PIXELS, PageImage, render_page};
pub use signature::{FoundSignature, PreparedPdf, SealSpec, signatures};
pub use signature_page::{SIGNATURE_PAGE_SIZE, SLOTS_PER_PAGE, append_signature_pages, signature_slot};
pub use stamp::{MAX_IMAGE_PIXELS, Stamp, StampContent, StampOptions, stamp};

pub use tags::{AUTOFILL_TYPES, FieldType, TagError, TagSigner, TextTag, VALIDATION_TYPES, parse_tag};

use extract::{Abort, Collector};
use fonts::FontResolver;
use hayro_interpret::hayro_syntax::object::{Array, Dict, Object, Stream};
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

/// The size of a page's media box in points, after `/Rotate` (a 90°-rotated A4 portrait page is
/// 842 × 595). The `/CropBox` is ignored, as in plain `pdftotext -bbox`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageSize {
    pub width: f64,
    pub height: f64,
}

/// A rectangle in PDF points relative to the page's media box after `/Rotate`, origin at the
/// top-left corner, y growing downwards — the same convention as plain `pdftotext -bbox`
/// (`x`,`y` = xMin,yMin).
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
    /// Every page's size (media box, after `/Rotate`), in page order.
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
/// Every page's size (media box after `/Rotate`), reading only the page tree: cheap enough to run
/// while answering an upload.
pub fn page_sizes(bytes: &[u8]) -> Result<Vec<PageSize>, PdfError> {
    precheck(bytes)?;
    guarded(|| {
        let pdf = open(bytes)?;
        Ok(pdf
            .pages()
            .iter()
            .map(|page| {
                let (width, height) = page_size(page, media_box(page));
                PageSize { width, height }
            })
            .collect())
    })
}

/// Opens `bytes` with lopdf for editing, decrypting a file whose user password is empty; `unreadable`
/// and `locked` say how a file that does not load, or does not decrypt, is refused.
pub(crate) fn open_for_editing<E>(
    bytes: &[u8],
    unreadable: impl Fn(lopdf::Error) -> E,
    locked: impl Fn(lopdf::Error) -> E,
) -> Result<lopdf::Document, E> {
    let mut doc = lopdf::Document::load_mem(bytes).map_err(unreadable)?;
    if doc.is_encrypted() {
        doc.decrypt("").map_err(locked)?;
    }
    Ok(doc)
}

/// Whether `bytes` start like a PDF: like poppler and Acrobat, the `%PDF-` header may be anywhere in
/// the first 1024 bytes.
pub fn has_pdf_header(bytes: &[u8]) -> bool {
    contains(&bytes[..bytes.len().min(1024)], b"%PDF-")
}

fn precheck(bytes: &[u8]) -> Result<(), PdfError> {
    if bytes.is_empty() {
        return Err(PdfError::Empty);
    }
    if !has_pdf_header(bytes) {
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
        let media = media_box(page);
        let (width, height) = page_size(page, media);
        analysis.pages.push(PageSize { width, height });

        let content = page_content(page, number)?;
        guard::check_forms(&page.resources().x_objects).map_err(|n| too_big(number, n))?;

        let initial = initial_transform(page, media);
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

/// US Letter, poppler's media box for a page without a usable `/MediaBox`.
const LETTER: KRect = KRect::new(0.0, 0.0, 612.0, 792.0);

/// How deep the `/Parent` chain is followed when looking for an inherited `/MediaBox`.
const MAX_PAGE_TREE_DEPTH: usize = 64;

/// The page's media box as poppler (`PageAttrs`) determines it: the nearest `/MediaBox` up the page
/// tree that is an array of exactly four numbers, not all zero, normalised; US Letter if there is
/// none. The `/CropBox` plays no part (plain `pdftotext -bbox` lays out text on the media box).
///
/// hayro's own `Page::media_box` differs in the details that matter here (it defaults to A4,
/// accepts `[0 0 0 0]` and reads the numbers as `f32`), so the page dictionaries are read directly.
fn media_box(page: &Page<'_>) -> KRect {
    let mut dict = Some(page.raw().clone());
    for _ in 0..MAX_PAGE_TREE_DEPTH {
        let Some(d) = dict else { break };
        if let Some(media) = poppler_box(&d, b"MediaBox") {
            return media;
        }
        dict = d.get::<Dict<'_>>(b"Parent");
    }
    // No usable box on the /Parent chain. hayro inherits through /Kids instead, so it can still
    // have found one if a /Parent link is missing; its A4 default and empty boxes are not used.
    let m = page.media_box();
    let hayro = KRect::new(m.x0, m.y0, m.x1, m.y1);
    let a4 = hayro_interpret::hayro_syntax::page::A4;
    let usable = hayro.width() > 0.0
        && hayro.height() > 0.0
        && [m.x0, m.y0, m.x1, m.y1].iter().all(|v| v.is_finite())
        && (m.x0, m.y0, m.x1, m.y1) != (a4.x0, a4.y0, a4.x1, a4.y1);
    if usable { hayro } else { LETTER }
}

/// A page box entry read the way poppler's `PageAttrs::readBox` does.
fn poppler_box(dict: &Dict<'_>, key: &[u8]) -> Option<KRect> {
    let array = dict.get::<Array<'_>>(key)?;
    let mut numbers = [0.0f64; 4];
    let mut items = array.iter::<Object<'_>>();
    for slot in &mut numbers {
        match items.next()? {
            Object::Number(n) if n.as_f64().is_finite() => *slot = n.as_f64(),
            _ => return None,
        }
    }
    if items.next().is_some() || numbers == [0.0; 4] {
        return None;
    }
    let [x0, y0, x1, y1] = numbers;
    Some(KRect::new(x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1)))
}

/// The page size reported and used to drop off-page text: the media box, swapped for 90°/270°,
/// at least 1 pt each way (poppler would report a degenerate box as is; no text survives on it
/// either way).
fn page_size(page: &Page<'_>, media: KRect) -> (f64, f64) {
    let (mut w, mut h) = (media.width().max(1.0), media.height().max(1.0));
    if matches!(page.rotation(), Rotation::Horizontal | Rotation::FlippedHorizontal) {
        std::mem::swap(&mut w, &mut h);
    }
    (w, h)
}

/// The transform from user space to the reported coordinates: relative to the media box, rotated
/// by `/Rotate` (clockwise), y down with the origin at the top-left corner — poppler's `GfxState`
/// base matrix at 72 dpi with the media box as the page box, as plain `pdftotext -bbox` sets it up.
fn initial_transform(page: &Page<'_>, media: KRect) -> Affine {
    let KRect { x0, y0, x1, y1 } = media;
    // Affine::new([a, b, c, d, e, f]) maps (x, y) to (a·x + c·y + e, b·x + d·y + f).
    match page.rotation() {
        // X = x − x0, Y = y1 − y
        Rotation::None => Affine::new([1.0, 0.0, 0.0, -1.0, -x0, y1]),
        // 90°: X = y − y0, Y = x − x0
        Rotation::Horizontal => Affine::new([0.0, 1.0, 1.0, 0.0, -y0, -x0]),
        // 180°: X = x1 − x, Y = y − y0
        Rotation::Flipped => Affine::new([-1.0, 0.0, 0.0, 1.0, x1, -y0]),
        // 270°: X = y1 − y, Y = x1 − x
        Rotation::FlippedHorizontal => Affine::new([0.0, -1.0, -1.0, 0.0, y1, x1]),
    }
}

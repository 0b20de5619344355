//! Hostile and broken input: errors, never panics, bounded time.

mod common;

use common::{PageSpec, PdfBuilder, simple_pdf};
use countersign_pdf::{Limits, PdfError, analyze, page_count};
use std::time::{Duration, Instant};

/// A small deterministic generator (no rand dependency).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn base_doc() -> Vec<u8> {
    simple_pdf(&[
        PageSpec::new("BT /F1 12 Tf 72 700 Td ([sig|req|signer1]) Tj ET 0 0 m 100 100 l S"),
        PageSpec::new("BT /F2 12 Tf 72 700 Td [([date|r) 20 (eq|signer1])] TJ ET").with("/Rotate 90"),
    ])
}

#[test]
fn empty_and_not_pdf() {
    let limits = Limits::default();
    assert_eq!(analyze(b"", &limits), Err(PdfError::Empty));
    assert_eq!(analyze(b"  \n\t ", &limits), Err(PdfError::Empty));
    assert_eq!(page_count(b""), Err(PdfError::Empty));
    let html = b"<!DOCTYPE html><html><head><title>Sign</title></head><body>[sig|req|signer1]</body></html>";
    assert_eq!(analyze(html, &limits), Err(PdfError::NotPdf));
    assert_eq!(page_count(html), Err(PdfError::NotPdf));
    assert_eq!(analyze(b"PK\x03\x04 zip", &limits), Err(PdfError::NotPdf));
    assert_eq!(PdfError::NotPdf.to_string(), "the file is not a PDF");
    assert_eq!(PdfError::Empty.to_string(), "the file is empty");
}

#[test]
fn error_messages() {
    assert_eq!(PdfError::TooManyPages { pages: 612, max: 500 }.to_string(), "the PDF has 612 pages; the limit is 500");
    assert_eq!(
        PdfError::TooLarge { bytes: 50 * 1024 * 1024, max: 40 * 1024 * 1024 }.to_string(),
        "the file is 50 MiB large; the limit is 40 MiB"
    );
    assert_eq!(PdfError::Unreadable("x".into()).to_string(), "the PDF could not be read: x");
    assert_eq!(PdfError::TimedOut.to_string(), "the PDF took too long to process");
}

#[test]
fn too_large() {
    let doc = base_doc();
    let limits = Limits { max_bytes: 100, ..Limits::default() };
    assert_eq!(analyze(&doc, &limits), Err(PdfError::TooLarge { bytes: doc.len(), max: 100 }));
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Lcg(42);
    let limits = Limits { timeout: Duration::from_secs(5), ..Limits::default() };
    for len in [1usize, 10, 100, 1000, 5000] {
        for prefix in [&b""[..], b"%PDF-1.7\n"] {
            let mut bytes = prefix.to_vec();
            bytes.extend((0..len).map(|_| rng.next() as u8));
            bytes.extend_from_slice(b"\n%%EOF\n");
            assert!(analyze(&bytes, &limits).is_err(), "random bytes analysed as a PDF");
            let _ = page_count(&bytes);
        }
    }
}

#[test]
fn truncated_files_are_errors_not_panics() {
    let doc = base_doc();
    let limits = Limits::default();
    let mut step = doc.len() / 97;
    step = step.max(1);
    let mut cut = 1;
    while cut < doc.len() - 8 {
        let r = analyze(&doc[..cut], &limits);
        assert!(r.is_err(), "truncated at {cut} of {} analysed: {r:?}", doc.len());
        let _ = page_count(&doc[..cut]);
        cut += step;
    }
}

#[test]
fn corrupted_files_never_panic() {
    let doc = base_doc();
    let limits = Limits { timeout: Duration::from_secs(5), ..Limits::default() };
    let mut rng = Lcg(7);
    for _ in 0..300 {
        let mut bytes = doc.clone();
        for _ in 0..(1 + rng.next() % 4) {
            let i = (rng.next() as usize) % bytes.len();
            bytes[i] = rng.next() as u8;
        }
        // Errors or a (possibly partial) result are both fine; a panic is not.
        let _ = analyze(&bytes, &limits);
        let _ = page_count(&bytes);
    }
    // Deleting a chunk in the middle.
    for i in (0..doc.len()).step_by(doc.len() / 50 + 1) {
        let mut bytes = doc[..i].to_vec();
        bytes.extend_from_slice(&doc[(i + 37).min(doc.len())..]);
        let _ = analyze(&bytes, &limits);
    }
}

fn many_pages(n: usize) -> Vec<u8> {
    let mut b = PdfBuilder::new();
    let catalog = b.reserve();
    let pages = b.reserve();
    let content = b.stream("", b"");
    let kids: Vec<String> = (0..n)
        .map(|_| format!("{} 0 R", b.add(format!("<< /Type /Page /Parent {pages} 0 R /Contents {content} 0 R >>"))))
        .collect();
    b.set(pages, format!("<< /Type /Pages /Kids [{}] /Count {n} /MediaBox [0 0 200 200] >>", kids.join(" ")));
    b.set(catalog, format!("<< /Type /Catalog /Pages {pages} 0 R >>"));
    b.root(catalog);
    b.finish()
}

#[test]
fn too_many_pages() {
    let doc = many_pages(600);
    assert_eq!(page_count(&doc), Ok(600));
    assert_eq!(analyze(&doc, &Limits::default()), Err(PdfError::TooManyPages { pages: 600, max: 500 }));
    let a = analyze(&doc, &Limits { max_pages: 600, ..Limits::default() }).expect("600 allowed");
    assert_eq!(a.pages.len(), 600);
    assert!(a.tags.is_empty());
}

#[test]
fn no_pages() {
    let mut b = PdfBuilder::new();
    let catalog = b.reserve();
    let pages = b.add("<< /Type /Pages /Kids [] /Count 0 >>");
    b.set(catalog, format!("<< /Type /Catalog /Pages {pages} 0 R >>"));
    b.root(catalog);
    assert!(matches!(analyze(&b.finish(), &Limits::default()), Err(PdfError::Unreadable(_))));
}

#[test]
fn timeout_between_pages() {
    let doc = many_pages(50);
    assert_eq!(analyze(&doc, &Limits { timeout: Duration::ZERO, ..Limits::default() }), Err(PdfError::TimedOut));
}

/// Form XObjects nested 8 deep, each drawing the next 10 times: 10^8 leaf draws.
fn billion_laughs(leaf: &[u8]) -> Vec<u8> {
    let mut b = PdfBuilder::new();
    let catalog = b.reserve();
    let pages = b.reserve();
    let font = b.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
    let mut child = b.stream(
        &format!("/Type /XObject /Subtype /Form /BBox [0 0 100 100] /Resources << /Font << /F1 {font} 0 R >> >>"),
        leaf,
    );
    for _ in 0..8 {
        let draws = "/X Do ".repeat(10);
        child = b.stream(
            &format!(
                "/Type /XObject /Subtype /Form /BBox [0 0 100 100] /Resources << /XObject << /X {child} 0 R >> >>"
            ),
            draws.as_bytes(),
        );
    }
    let content = b.stream("", b"/X Do");
    let page = b.add(format!(
        "<< /Type /Page /Parent {pages} 0 R /MediaBox [0 0 200 200] /Resources << /XObject << /X {child} 0 R >> >> /Contents {content} 0 R >>"
    ));
    b.set(pages, format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>"));
    b.set(catalog, format!("<< /Type /Catalog /Pages {pages} 0 R >>"));
    b.root(catalog);
    b.finish()
}

#[test]
fn timeout_inside_a_page() {
    let limits = Limits { timeout: Duration::from_millis(500), ..Limits::default() };
    for leaf in [&b"0 0 m 10 10 l S"[..], b"q Q", b"BT /F1 1 Tf (x) Tj ET"] {
        let doc = billion_laughs(leaf);
        let start = Instant::now();
        let r = analyze(&doc, &limits);
        let took = start.elapsed();
        assert!(
            matches!(r, Err(PdfError::TimedOut) | Err(PdfError::Unreadable(_))),
            "leaf {:?}: {r:?}",
            String::from_utf8_lossy(leaf)
        );
        assert!(took < Duration::from_secs(5), "leaf {:?} took {took:?}", String::from_utf8_lossy(leaf));
    }
}

#[test]
fn large_but_legal_content_stream_finishes() {
    // 4 MB of drawing operators: no tags, no error, well within the time limit.
    let content = "0 0 m 10 10 l S q 1 0 0 1 5 5 cm Q ".repeat(120_000);
    let doc = simple_pdf(&[PageSpec::new(content)]);
    let start = Instant::now();
    let a = analyze(&doc, &Limits::default()).expect("analyze");
    assert!(a.tags.is_empty());
    println!("4 MB content stream: {:?}", start.elapsed());
}

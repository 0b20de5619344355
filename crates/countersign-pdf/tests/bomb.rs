//! A FlateDecode content stream that inflates to 200 MB. Kept alone in its own test binary so
//! that the process's peak memory reflects this test only.

mod common;

use common::PdfBuilder;
use countersign_pdf::{Limits, PdfError, analyze};
use std::io::Write;
use std::time::Instant;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn bomb(total: usize) -> Vec<u8> {
    // Compress chunk by chunk so the test itself never holds the inflated data.
    let chunk = vec![b' '; 1 << 20];
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let mut written = 0;
    while written < total {
        enc.write_all(&chunk).expect("compress");
        written += chunk.len();
    }
    enc.write_all(b"BT /F1 12 Tf 72 700 Td ([sig|req|signer1]) Tj ET").expect("compress");
    let compressed = enc.finish().expect("compress");

    let mut b = PdfBuilder::new();
    let catalog = b.reserve();
    let pages = b.reserve();
    let font = b.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
    let content = b.stream("/Filter /FlateDecode", &compressed);
    let page = b.add(format!(
        "<< /Type /Page /Parent {pages} 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {font} 0 R >> >> /Contents {content} 0 R >>"
    ));
    b.set(pages, format!("<< /Type /Pages /Kids [{page} 0 R] /Count 1 >>"));
    b.set(catalog, format!("<< /Type /Catalog /Pages {pages} 0 R >>"));
    b.root(catalog);
    b.finish()
}

#[test]
fn deflate_bomb_is_rejected_quickly_with_bounded_memory() {
    let doc = bomb(200 << 20);
    println!("bomb: {} bytes on disk", doc.len());
    let before = peak_rss_kib();
    let start = Instant::now();
    let r = analyze(&doc, &Limits::default());
    let took = start.elapsed();
    let after = peak_rss_kib();
    println!("bomb: {r:?} in {took:?}; peak RSS {before:?} KiB -> {after:?} KiB");
    match r {
        Err(PdfError::Unreadable(msg)) => assert!(msg.contains("decompresses to more than"), "{msg}"),
        other => panic!("expected Unreadable, got {other:?}"),
    }
    assert!(took.as_secs() < 10, "took {took:?}");
    if let (Some(b), Some(a)) = (before, after) {
        assert!(a.saturating_sub(b) < 64 * 1024, "peak memory grew by {} KiB", a - b);
    }
}

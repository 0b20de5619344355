//! PDFs from other producers (groff, Ghostscript, cairo): tags found and placed where poppler
//! places them.

mod common;

use common::{assert_rects_match_poppler, normalize_tag};
use countersign_pdf::{Limits, analyze, parse_tag};
use std::path::PathBuf;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn check(name: &str, expected: &[(u32, &str)]) {
    let path = data(name);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let analysis = analyze(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    let got: Vec<(u32, String)> = analysis.tags.iter().map(|t| (t.page, normalize_tag(&t.text))).collect();
    let want: Vec<(u32, String)> = expected.iter().map(|(p, t)| (*p, t.to_string())).collect();
    assert_eq!(got, want, "{name}");
    for t in &analysis.tags {
        parse_tag(&t.text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    if let Some(worst) = assert_rects_match_poppler(&path, &analysis, 1.0) {
        println!("{name}: largest edge difference from pdftotext {worst:.4} pt");
    }
}

const GROFF_TAGS: &[(u32, &str)] = &[
    (1, "[sig|req|signer1|Tenant signature|tenant_sig]"),
    (1, "[date|req|signer1]"),
    (1, "[initial|req|signer2]"),
    (1, "[text|noreq|signer2|Company|company_name]"),
    (1, "[check|noreq|signer1|Agree to terms|agree_terms]"),
    (1, "[text|req|signer1|Phone|tenant_phone|phone_number]"),
    (1, "[sig|req|signer2]"),
    (1, "[date|req|signer2]"),
];

#[test]
fn gropdf() {
    check("gropdf.pdf", GROFF_TAGS);
}

#[test]
fn ghostscript() {
    check("ghostscript.pdf", GROFF_TAGS);
}

#[test]
fn cairo() {
    check(
        "cairo.pdf",
        &[
            (1, "[sig|req|signer1|Signature|sig1]"),
            (1, "[date|req|signer1]"),
            (1, "[text|req|signer2|Ümlaut näme|name_id]"),
            (1, "[text|noreq|signer1|Spaced]"),
            (1, "[sig|req|signer2]"),
            (1, "[check|noreq|signer1]"),
            (1, "[initial|req|signer2]"),
            (2, "[sig|req|signer3]"),
            (2, "[date|req|signer3]"),
        ],
    );
}

#[test]
fn cairo_cid_font() {
    // A CIDFontType2 (Identity-H) subset for the Greek/Cyrillic glyphs and a simple TrueType subset
    // for ASCII, mixed within each tag.
    check("cid.pdf", &[(1, "[sig|req|signer1|Υπογραφή|sig_gr]"), (1, "[text|req|signer2|Имя|name_ru]")]);
}

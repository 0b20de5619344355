//! Every fixture in the shared manifest: tags found, parsed, and placed where poppler puts them.

mod common;

use common::{assert_rects_match_poppler, normalize_tag};
use countersign_pdf::{Limits, analyze, page_count, parse_tag};
use std::path::PathBuf;

fn fixtures_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("COUNTERSIGN_FIXTURES") {
        return PathBuf::from(dir);
    }
    // The fixtures committed with the repository, at <repo>/fixtures/pdf.
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/pdf")
}

#[test]
fn manifest_fixtures() {
    let dir = fixtures_dir();
    let manifest_path = dir.join("manifest.json");
    let manifest_text = std::fs::read_to_string(&manifest_path)
        .unwrap_or_else(|e| panic!("cannot read {} (set COUNTERSIGN_FIXTURES): {e}", manifest_path.display()));
    let manifest: serde_json::Value = serde_json::from_str(&manifest_text).expect("manifest is JSON");
    let entries = manifest.as_object().expect("manifest is an object");
    assert!(!entries.is_empty());

    let limits = Limits::default();
    let mut checked = 0;
    for (name, entry) in entries {
        let path = dir.join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expect = entry["expect"].as_str().expect("expect");
        let mut want: Vec<(u64, String)> = entry["tags"]
            .as_array()
            .expect("tags")
            .iter()
            .map(|t| (t[0].as_u64().expect("page"), normalize_tag(t[1].as_str().expect("text"))))
            .collect();
        want.sort();

        match expect {
            "ok" | "signature_request_invalid" => {
                let analysis = analyze(&bytes, &limits).unwrap_or_else(|e| panic!("{name}: {e}"));
                let mut got: Vec<(u64, String)> =
                    analysis.tags.iter().map(|t| (u64::from(t.page), normalize_tag(&t.text))).collect();
                got.sort();
                assert_eq!(got, want, "{name}: tags");
                for tag in &analysis.tags {
                    parse_tag(&tag.text).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert!(tag.rect.width > 0.0 && tag.rect.height > 0.0, "{name}: empty rect {:?}", tag.rect);
                    let size = analysis.pages[tag.page as usize - 1];
                    assert!(tag.rect.x >= 0.0 && tag.rect.x + tag.rect.width <= size.width + 0.01, "{name}: {tag:?}");
                    assert!(tag.rect.y >= 0.0 && tag.rect.y + tag.rect.height <= size.height + 0.01, "{name}: {tag:?}");
                }
                // Reading order: page order, and top to bottom within a page for upright text.
                assert!(analysis.tags.windows(2).all(|w| w[0].page <= w[1].page), "{name}: page order");
                if let Some(pages) = entry.get("pages").and_then(|p| p.as_u64()) {
                    assert_eq!(analysis.pages.len() as u64, pages, "{name}: pages");
                    assert_eq!(page_count(&bytes).expect("page_count") as u64, pages, "{name}: page_count");
                } else {
                    assert_eq!(page_count(&bytes).expect("page_count"), analysis.pages.len(), "{name}: page_count");
                }
                if let Some(worst) = assert_rects_match_poppler(&path, &analysis, 1.0) {
                    println!(
                        "{name}: {} tags, largest edge difference from pdftotext {worst:.4} pt",
                        analysis.tags.len()
                    );
                }
            }
            "file_error" => match analyze(&bytes, &limits) {
                Err(e) => println!("{name}: rejected as expected: {e}"),
                Ok(analysis) => {
                    let mut got: Vec<(u64, String)> =
                        analysis.tags.iter().map(|t| (u64::from(t.page), normalize_tag(&t.text))).collect();
                    got.sort();
                    assert_eq!(got, want, "{name}: tags");
                    let errors: Vec<String> =
                        analysis.tags.iter().filter_map(|t| parse_tag(&t.text).err()).map(|e| e.message).collect();
                    assert!(
                        !errors.is_empty(),
                        "{name}: expected a file error, but analysis succeeded with valid tags"
                    );
                    println!("{name}: malformed tag as expected: {}", errors.join("; "));
                }
            },
            other => panic!("{name}: unknown expectation {other}"),
        }
        checked += 1;
    }
    assert_eq!(checked, entries.len());
}

#[test]
fn rotated_page_sizes_are_displayed_sizes() {
    let bytes = std::fs::read(fixtures_dir().join("rotated-90.pdf")).expect("fixture");
    let analysis = analyze(&bytes, &Limits::default()).expect("analyze");
    for p in &analysis.pages {
        assert!((p.width - 841.89).abs() < 0.01 && (p.height - 595.28).abs() < 0.01, "{p:?}");
    }
}

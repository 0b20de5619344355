//! `hide_text_tags`: after stamping with the option, no tag is left in the text of any PDF we have
//! (every producer: reportlab, fpdf2 CID fonts, hand-written TJ splits, rotated text, object streams,
//! encrypted files, groff, Ghostscript, cairo), while every other word stays where it was.

mod common;

use countersign_pdf::{Limits, StampOptions, debug_words, stamp};
use std::path::PathBuf;

fn files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [root.join("../../fixtures/pdf"), root.join("tests/data")] {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "pdf") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

#[test]
fn hidden_tags_leave_the_text_and_other_words_keep_their_place() {
    let mut checked = 0;
    for path in files() {
        let bytes = std::fs::read(&path).unwrap();
        let Ok(before) = debug_words(&bytes, &Limits::default()) else { continue };
        let tagged: Vec<_> = before.tags.iter().filter(|w| w.text.contains('[') && w.text.contains('|')).collect();
        if tagged.is_empty() {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let hidden =
            stamp(&bytes, &[], StampOptions { hide_text_tags: true }).unwrap_or_else(|e| panic!("{name}: {e}"));
        let after = debug_words(&hidden, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let left: Vec<&str> =
            after.tags.iter().map(|w| w.text.as_str()).filter(|t| t.contains('[') && t.contains('|')).collect();
        assert!(left.is_empty(), "{name}: tags left {left:?}");
        let analysis = countersign_pdf::analyze(&hidden, &Limits::default()).unwrap();
        assert!(analysis.tags.is_empty(), "{name}: {:?}", analysis.tags);
        // Every word outside the tags is still there, in the same place.
        let tags = countersign_pdf::analyze(&bytes, &Limits::default()).unwrap().tags;
        let in_a_tag = |w: &countersign_pdf::FoundTag| {
            tags.iter().any(|t| {
                t.page == w.page
                    && w.rect.x < t.rect.x + t.rect.width
                    && t.rect.x < w.rect.x + w.rect.width
                    && w.rect.y < t.rect.y + t.rect.height
                    && t.rect.y < w.rect.y + w.rect.height
            })
        };
        for word in before.tags.iter().filter(|w| !in_a_tag(w)) {
            let same = after.tags.iter().any(|w| {
                w.page == word.page
                    && w.text == word.text
                    && (w.rect.x - word.rect.x).abs() < 0.5
                    && (w.rect.y - word.rect.y).abs() < 0.5
            });
            assert!(same, "{name}: {word:?} moved or vanished");
        }
        if let Some(exe) = common::pdftotext_path() {
            let file = std::env::temp_dir().join(format!("countersign-hidden-{name}"));
            std::fs::write(&file, &hidden).unwrap();
            let out = std::process::Command::new(exe).arg(&file).arg("-").output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                !text.contains("|req|") && !text.contains("|noreq|"),
                "{name}: pdftotext still finds a tag: {text}"
            );
            let _ = std::fs::remove_file(file);
        }
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} tagged files were checked");
}

//! Diagnostic: compare every word's box with `pdftotext -bbox` and print the differences.
//!
//! ```text
//! cargo run --release --example words -- FILE.pdf [--verbose]
//! ```

use countersign_pdf::{Limits, debug_words};
use std::process::{Command, ExitCode};

struct Word {
    text: String,
    b: [f64; 4],
}

fn attr(tag: &str, name: &str) -> f64 {
    let key = format!("{name}=\"");
    let Some(start) = tag.find(&key).map(|i| i + key.len()) else { return f64::NAN };
    let end = tag[start..].find('"').map_or(tag.len(), |e| e + start);
    tag[start..end].parse().unwrap_or(f64::NAN)
}

fn poppler(path: &str) -> Vec<Vec<Word>> {
    let Ok(out) = Command::new("pdftotext").args(["-bbox", path, "-"]).output() else { return Vec::new() };
    let html = String::from_utf8_lossy(&out.stdout);
    let mut pages: Vec<Vec<Word>> = Vec::new();
    for line in html.lines() {
        let line = line.trim();
        if line.starts_with("<page ") {
            pages.push(Vec::new());
        } else if let Some(rest) = line.strip_prefix("<word ") {
            let Some(gt) = rest.find('>') else { continue };
            let text = rest[gt + 1..].trim_end_matches("</word>");
            let text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&amp;", "&");
            let tag = &rest[..gt];
            let b = [attr(tag, "xMin"), attr(tag, "yMin"), attr(tag, "xMax"), attr(tag, "yMax")];
            if let Some(p) = pages.last_mut() {
                p.push(Word { text, b });
            }
        }
    }
    pages
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "--verbose");
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: words FILE.pdf [--verbose]");
        return ExitCode::from(2);
    };
    let Ok(bytes) = std::fs::read(path) else {
        eprintln!("cannot read {path}");
        return ExitCode::FAILURE;
    };
    let ours = match debug_words(&bytes, &Limits::default()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let theirs = poppler(path);
    let (mut matched, mut unmatched, mut within1) = (0usize, 0usize, 0usize);
    let mut worst = 0.0f64;
    for w in &ours.tags {
        let Some(page) = theirs.get(w.page as usize - 1) else { continue };
        let r = [w.rect.x, w.rect.y, w.rect.x + w.rect.width, w.rect.y + w.rect.height];
        let best = page
            .iter()
            .filter(|p| p.text == w.text)
            .map(|p| (0..4).map(|i| (p.b[i] - r[i]).abs()).fold(0.0, f64::max))
            .fold(f64::INFINITY, f64::min);
        if best.is_finite() && best < 20.0 {
            matched += 1;
            worst = worst.max(best);
            if best <= 1.0 {
                within1 += 1;
            }
            if best > 0.3 && verbose {
                println!("p{} {:?} off by {best:.2}: {:?}", w.page, w.text, w.rect);
            }
        } else {
            unmatched += 1;
            if verbose {
                println!("p{} {:?} has no poppler word nearby: {:?}", w.page, w.text, w.rect);
            }
        }
    }
    let total_poppler: usize = theirs.iter().map(Vec::len).sum();
    println!(
        "{path}: pages {} ours {} words, poppler {total_poppler}; matched {matched} ({within1} within 1pt, worst {worst:.3}), unmatched {unmatched}",
        ours.pages.len(),
        ours.tags.len()
    );
    ExitCode::SUCCESS
}

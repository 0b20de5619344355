//! Test helpers: a tiny PDF writer, and a comparison of found tag rectangles with
//! `pdftotext -bbox` (poppler).

#![allow(dead_code)]

use countersign_pdf::{Analysis, FoundTag};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

// ---------------------------------------------------------------------------------------------
// A minimal PDF writer.

/// Objects are numbered from 1 in the order they are added; `finish` writes the xref table.
pub struct PdfBuilder {
    objects: Vec<Vec<u8>>,
    root: usize,
}

impl PdfBuilder {
    pub fn new() -> Self {
        PdfBuilder { objects: Vec::new(), root: 0 }
    }

    /// Reserve an object number to fill later.
    pub fn reserve(&mut self) -> usize {
        self.objects.push(Vec::new());
        self.objects.len()
    }

    pub fn set(&mut self, id: usize, body: impl Into<Vec<u8>>) {
        self.objects[id - 1] = body.into();
    }

    pub fn add(&mut self, body: impl Into<Vec<u8>>) -> usize {
        self.objects.push(body.into());
        self.objects.len()
    }

    /// Add a stream object (uncompressed).
    pub fn stream(&mut self, extra_dict: &str, data: &[u8]) -> usize {
        let mut body = format!("<< /Length {} {extra_dict} >>\nstream\n", data.len()).into_bytes();
        body.extend_from_slice(data);
        body.extend_from_slice(b"\nendstream");
        self.add(body)
    }

    /// Add a FlateDecode stream.
    pub fn flate_stream(&mut self, extra_dict: &str, data: &[u8]) -> usize {
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).expect("compress");
        let compressed = enc.finish().expect("compress");
        self.stream(&format!("/Filter /FlateDecode {extra_dict}"), &compressed)
    }

    pub fn root(&mut self, id: usize) {
        self.root = id;
    }

    pub fn finish(&self) -> Vec<u8> {
        let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
        let mut offsets = Vec::new();
        for (i, body) in self.objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n", i + 1).as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\nendobj\n");
        }
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", self.objects.len() + 1).as_bytes());
        for off in offsets {
            out.extend_from_slice(format!("{off:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root {} 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                self.objects.len() + 1,
                self.root
            )
            .as_bytes(),
        );
        out
    }
}

/// A page description for [`simple_pdf`].
pub struct PageSpec {
    pub content: String,
    /// Extra entries for the page dictionary, e.g. "/Rotate 270".
    pub extra: String,
}

impl PageSpec {
    pub fn new(content: impl Into<String>) -> Self {
        PageSpec { content: content.into(), extra: String::new() }
    }

    pub fn with(mut self, extra: &str) -> Self {
        self.extra = extra.to_string();
        self
    }
}

/// A document whose pages use /F1 = Helvetica and /F2 = Times-Roman (base-14, no /Widths, not
/// embedded), US Letter unless a page overrides /MediaBox.
pub fn simple_pdf(pages: &[PageSpec]) -> Vec<u8> {
    let mut b = PdfBuilder::new();
    let catalog = b.reserve();
    let pages_id = b.reserve();
    let f1 = b.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>");
    let f2 = b.add("<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman /Encoding /WinAnsiEncoding >>");
    let mut kids = Vec::new();
    for p in pages {
        let content = b.flate_stream("", p.content.as_bytes());
        let page = b.add(format!(
            "<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 612 792] {} /Resources << /Font << /F1 {f1} 0 R /F2 {f2} 0 R >> >> /Contents {content} 0 R >>",
            p.extra
        ));
        kids.push(format!("{page} 0 R"));
    }
    b.set(pages_id, format!("<< /Type /Pages /Kids [{}] /Count {} >>", kids.join(" "), kids.len()));
    b.set(catalog, format!("<< /Type /Catalog /Pages {pages_id} 0 R >>"));
    b.root(catalog);
    b.finish()
}

// ---------------------------------------------------------------------------------------------
// pdftotext -bbox

#[derive(Debug, Clone)]
pub struct Word {
    pub text: String,
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
}

pub fn pdftotext_path() -> Option<PathBuf> {
    let candidates = [PathBuf::from("/usr/bin/pdftotext"), PathBuf::from("/usr/local/bin/pdftotext")];
    candidates
        .into_iter()
        .find(|p| p.exists())
        .or_else(|| Command::new("pdftotext").arg("-v").output().ok().map(|_| PathBuf::from("pdftotext")))
}

pub fn require_poppler() -> bool {
    std::env::var("COUNTERSIGN_REQUIRE_POPPLER").is_ok_and(|v| v == "1")
}

/// Words per page (index 0 = page 1), or `None` if pdftotext is not installed.
pub fn poppler_words(file: &Path) -> Option<Vec<Vec<Word>>> {
    let Some(exe) = pdftotext_path() else {
        assert!(!require_poppler(), "pdftotext is required (COUNTERSIGN_REQUIRE_POPPLER=1) but was not found");
        eprintln!("NOTICE: pdftotext not found; skipping the rectangle comparison for {}", file.display());
        return None;
    };
    let out = Command::new(exe).arg("-bbox").arg(file).arg("-").output().expect("run pdftotext");
    assert!(out.status.success(), "pdftotext failed on {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    Some(parse_bbox_html(&String::from_utf8_lossy(&out.stdout)))
}

fn attr(tag: &str, name: &str) -> f64 {
    let key = format!("{name}=\"");
    let start = tag.find(&key).map(|i| i + key.len()).expect("attribute");
    let end = tag[start..].find('"').expect("attribute end") + start;
    tag[start..end].parse().expect("number")
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
}

pub fn parse_bbox_html(html: &str) -> Vec<Vec<Word>> {
    let mut pages: Vec<Vec<Word>> = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i..];
        if rest.starts_with("<page ") {
            pages.push(Vec::new());
            rest = &rest[1..];
        } else if rest.starts_with("<word ") {
            let tag_end = rest.find('>').expect("word tag end");
            let tag = &rest[..tag_end];
            let close = rest.find("</word>").expect("word close");
            let text = unescape(&rest[tag_end + 1..close]);
            let word = Word {
                text,
                x0: attr(tag, "xMin"),
                y0: attr(tag, "yMin"),
                x1: attr(tag, "xMax"),
                y1: attr(tag, "yMax"),
            };
            if let Some(p) = pages.last_mut() {
                p.push(word);
            }
            rest = &rest[close..];
        } else {
            rest = &rest[1..];
        }
    }
    pages
}

fn compact(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A run of consecutive pdftotext words that contains a tag.
#[derive(Debug, Clone, Copy)]
pub struct WordRun {
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
    /// The tag starts at the first word's start / ends at the last word's end (otherwise other
    /// text is glued to it in the same word, and that edge of the run lies beyond the tag).
    pub starts_exactly: bool,
    pub ends_exactly: bool,
}

/// Every run of consecutive pdftotext words whose concatenation contains the tag, starting in the
/// first word and ending in the last.
pub fn poppler_runs_for(words: &[Word], tag_text: &str) -> Vec<WordRun> {
    let target = compact(tag_text);
    let mut found = Vec::new();
    for start in 0..words.len() {
        let mut joined = String::new();
        let mut run = WordRun {
            x0: f64::MAX,
            y0: f64::MAX,
            x1: f64::MIN,
            y1: f64::MIN,
            starts_exactly: false,
            ends_exactly: false,
        };
        for (k, w) in words[start..].iter().enumerate() {
            let before = joined.len();
            joined.push_str(&compact(&w.text));
            run.x0 = run.x0.min(w.x0);
            run.y0 = run.y0.min(w.y0);
            run.x1 = run.x1.max(w.x1);
            run.y1 = run.y1.max(w.y1);
            if let Some(pos) = joined.find(&target) {
                let first_len = compact(&words[start].text).len();
                // The tag must start inside the first word and end inside the last one.
                if pos < first_len && pos + target.len() > before {
                    run.starts_exactly = pos == 0;
                    run.ends_exactly = pos + target.len() == joined.len();
                    found.push(run);
                }
                break;
            }
            if k > 0 && !target.contains(&compact(&w.text)) {
                break;
            }
        }
    }
    found
}

/// The largest difference between a tag's edges and a word run's: exact edges must agree; where
/// other text is glued on, the tag's edge must lie within the run.
pub fn run_diff(tag: &FoundTag, run: &WordRun) -> f64 {
    let r = &tag.rect;
    let left = if run.starts_exactly { (r.x - run.x0).abs() } else { (run.x0 - r.x).max(0.0) };
    let right = if run.ends_exactly { (r.x + r.width - run.x1).abs() } else { (r.x + r.width - run.x1).max(0.0) };
    [left, right, (r.y - run.y0).abs(), (r.y + r.height - run.y1).abs()].into_iter().fold(0.0, f64::max)
}

/// Of the pdftotext word runs that contain `tag`, the one closest to its rectangle.
pub fn poppler_union_for(words: &[Word], tag: &FoundTag) -> Option<WordRun> {
    poppler_runs_for(words, &tag.text).into_iter().min_by(|a, b| run_diff(tag, a).total_cmp(&run_diff(tag, b)))
}

/// Assert that every found tag's rect equals the union of the pdftotext words that make it up,
/// within `tolerance` points on every edge. Returns the largest difference seen.
pub fn assert_rects_match_poppler(file: &Path, analysis: &Analysis, tolerance: f64) -> Option<f64> {
    let pages = poppler_words(file)?;
    let mut worst = 0.0f64;
    for tag in &analysis.tags {
        let words = pages
            .get(tag.page as usize - 1)
            .unwrap_or_else(|| panic!("{}: poppler has no page {}", file.display(), tag.page));
        let run = poppler_union_for(words, tag).unwrap_or_else(|| {
            panic!(
                "{}: poppler words for tag {:?} on page {} not found in {:?}",
                file.display(),
                tag.text,
                tag.page,
                words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>()
            )
        });
        let diff = run_diff(tag, &run);
        worst = worst.max(diff);
        assert!(
            diff <= tolerance,
            "{}: tag {:?} on page {}: ours {:?}, poppler {run:?}, edge difference {diff:.3} pt",
            file.display(),
            tag.text,
            tag.page,
            tag.rect
        );
    }
    Some(worst)
}

/// Whitespace-normalise tag text for comparison: drop whitespace next to `[`, `]` and `|`, and
/// collapse other runs to one space.
pub fn normalize_tag(s: &str) -> String {
    let collapsed: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::new();
    let chars: Vec<char> = collapsed.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = i.checked_sub(1).map(|j| chars[j]);
            let next = chars.get(i + 1).copied();
            if matches!(prev, Some('[' | '|')) || matches!(next, Some(']' | '|')) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

/// Write bytes to a temp file that lives as long as the returned guard.
pub struct TempFile(pub PathBuf);

impl TempFile {
    pub fn new(name: &str, bytes: &[u8]) -> TempFile {
        let dir = std::env::temp_dir().join(format!("countersign-pdf-tests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(name);
        std::fs::write(&path, bytes).expect("write temp file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        // Succeeds once the last file of this process is gone.
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

pub fn qpdf_path() -> Option<PathBuf> {
    let p = PathBuf::from("/usr/bin/qpdf");
    if p.exists() {
        return Some(p);
    }
    Command::new("qpdf").arg("--version").output().ok().map(|_| PathBuf::from("qpdf"))
}

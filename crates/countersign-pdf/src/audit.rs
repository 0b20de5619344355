//! The audit trail appended to a final document: what was signed (title, request id, each original
//! file's SHA-256), by whom (name, e-mail, IP address, user agent), when (each step in UTC), the
//! SHA-256 of the stamped document before it was sealed, and the seal's certificate.
//!
//! Every value is drawn as one cleaned line (see [`crate::text::clean`]), wrapped to the page width,
//! so nothing a signer typed can start a line of its own or reorder one.

use krilla::geom::PathBuilder;
use krilla::paint::{Fill, Stroke};
use lopdf::Document;

use crate::text::Line;
use crate::{PdfError, overlay};

/// US Letter and A4, in points.
pub const LETTER: (f64, f64) = (612.0, 792.0);
pub const A4: (f64, f64) = (595.276, 841.89);

/// The audit page size for a document whose first page is `width`×`height`: A4 when it is A4-like
/// (either orientation), else US Letter.
pub fn audit_page_size(width: f64, height: f64) -> (f64, f64) {
    let (short, long) = if width < height { (width, height) } else { (height, width) };
    if (short - A4.0).abs() < 10.0 && (long - A4.1).abs() < 10.0 { A4 } else { LETTER }
}

/// One original file.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditDocument {
    pub name: String,
    pub sha256: String,
}

/// One step in a signer's (or the request's) history.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditStep {
    /// What happened: "Sent", "Viewed", "Signed", "Declined", …
    pub action: String,
    /// Unix seconds.
    pub at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuditSigner {
    pub name: String,
    pub email: String,
    pub steps: Vec<AuditStep>,
}

/// Everything the audit trail shows.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditTrail {
    pub title: String,
    pub signature_request_id: String,
    pub documents: Vec<AuditDocument>,
    pub signers: Vec<AuditSigner>,
    /// Unix seconds.
    pub sent_at: Option<i64>,
    pub completed_at: Option<i64>,
    /// SHA-256 of the stamped document, before the audit trail and the seal were added.
    pub stamped_sha256: String,
    /// Who seals it (certificate subject) and the certificate's SHA-256.
    pub sealed_by: String,
    pub certificate_sha256: String,
    /// Points.
    pub page_size: (f64, f64),
}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(unix: i64) -> String {
    let t = crate::signature::utc_time(unix);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

const MARGIN: f32 = 54.0;

/// A line placed on a page.
struct Placed {
    x: f32,
    baseline: f32,
    size: f32,
    line: Line,
    grey: bool,
}

struct Writer {
    doc: krilla::Document,
    size: (f32, f32),
    /// Lines per page.
    pages: Vec<Vec<Placed>>,
    rules: Vec<Vec<f32>>,
    y: f32,
}

impl Writer {
    fn new(size: (f64, f64)) -> Writer {
        Writer {
            doc: overlay::krilla_document(),
            size: (size.0 as f32, size.1 as f32),
            pages: vec![Vec::new()],
            rules: vec![Vec::new()],
            y: MARGIN,
        }
    }

    fn width(&self) -> f32 {
        self.size.0 - 2.0 * MARGIN
    }

    fn room(&mut self, height: f32) {
        if self.y + height > self.size.1 - MARGIN {
            self.pages.push(Vec::new());
            self.rules.push(Vec::new());
            self.y = MARGIN;
        }
    }

    /// A line of text, wrapped; `indent` from the margin.
    fn text(&mut self, text: &str, size: f32, indent: f32, grey: bool) {
        let width = self.width() - indent;
        for piece in wrap(text, size, width) {
            self.room(size * 1.45);
            self.y += size * 1.2;
            let y = self.y;
            self.pages.last_mut().expect("a page").push(Placed {
                x: MARGIN + indent,
                baseline: y,
                size,
                line: Line::new(&piece),
                grey,
            });
            self.y += size * 0.25;
        }
    }

    /// "label: value" with the label in grey.
    fn field(&mut self, label: &str, value: &str, indent: f32) {
        self.text(&format!("{label}: {value}"), 9.0, indent, false);
    }

    fn gap(&mut self, points: f32) {
        self.y += points;
    }

    fn rule(&mut self) {
        self.room(8.0);
        self.y += 4.0;
        let y = self.y;
        self.rules.last_mut().expect("a page").push(y);
        self.y += 4.0;
    }

    fn finish(mut self) -> Result<Document, PdfError> {
        let count = self.pages.len();
        let (w, h) = self.size;
        for (index, (lines, rules)) in self.pages.into_iter().zip(self.rules).enumerate() {
            let settings = krilla::page::PageSettings::from_wh(w, h)
                .ok_or_else(|| PdfError::Unreadable("the audit page has no size".into()))?;
            let mut page = self.doc.start_page_with(settings);
            let mut surface = page.surface();
            let footer = Line::new(&format!("Audit trail — page {} of {count}", index + 1));
            let grey = Fill { paint: krilla::color::rgb::Color::new(110, 110, 110).into(), ..Fill::default() };
            let black = Fill::default();
            for p in &lines {
                surface.set_fill(Some(if p.grey { grey.clone() } else { black.clone() }));
                p.line.draw(&mut surface, p.x, p.baseline, p.size);
            }
            surface.set_fill(Some(grey.clone()));
            footer.draw(&mut surface, MARGIN, h - MARGIN / 2.0, 8.0);
            for y in rules {
                let mut path = PathBuilder::new();
                path.move_to(MARGIN, y);
                path.line_to(w - MARGIN, y);
                if let Some(path) = path.finish() {
                    surface.set_fill(None);
                    surface.set_stroke(Some(Stroke {
                        width: 0.5,
                        paint: krilla::color::rgb::Color::new(180, 180, 180).into(),
                        ..Stroke::default()
                    }));
                    surface.draw_path(&path);
                    surface.set_stroke(None);
                }
            }
            surface.finish();
            page.finish();
        }
        overlay::finish(self.doc)
    }
}

/// Splits `text` into lines no wider than `width` at `size`: at spaces, or inside a word too long for
/// a line.
fn wrap(text: &str, size: f32, width: f32) -> Vec<String> {
    let text = crate::text::clean(text);
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let candidate = if current.is_empty() { word.to_owned() } else { format!("{current} {word}") };
        if Line::new(&candidate).width(size) <= width {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        // The word alone: break it by characters when it is still too wide.
        for ch in word.chars() {
            let mut next = current.clone();
            next.push(ch);
            if !current.is_empty() && Line::new(&next).width(size) > width {
                lines.push(std::mem::take(&mut current));
                current.push(ch);
            } else {
                current = next;
            }
        }
    }
    if !current.is_empty() || lines.is_empty() {
        lines.push(current);
    }
    lines
}

/// The audit trail as pages (a krilla-made document, to append to the final copy).
pub fn audit_pages(trail: &AuditTrail) -> Result<Document, PdfError> {
    let mut w = Writer::new(trail.page_size);
    w.text("Audit trail", 18.0, 0.0, false);
    w.gap(6.0);
    w.field("Title", &trail.title, 0.0);
    w.field("Signature request ID", &trail.signature_request_id, 0.0);
    if let Some(at) = trail.sent_at {
        w.field("Sent", &utc(at), 0.0);
    }
    match trail.completed_at {
        Some(at) => w.field("Completed", &utc(at), 0.0),
        None => w.field("Status", "not completed", 0.0),
    }
    w.rule();
    w.text("Documents", 12.0, 0.0, false);
    for (i, d) in trail.documents.iter().enumerate() {
        w.text(&format!("{}. {}", i + 1, d.name), 9.0, 0.0, false);
        w.text(&format!("SHA-256 of the original file: {}", d.sha256), 8.0, 12.0, true);
    }
    w.rule();
    w.text("Signers", 12.0, 0.0, false);
    for (i, s) in trail.signers.iter().enumerate() {
        w.gap(4.0);
        w.text(&format!("{}. {} <{}>", i + 1, s.name, s.email), 10.0, 0.0, false);
        for step in &s.steps {
            w.text(&format!("{}  {}", utc(step.at), step.action), 9.0, 12.0, false);
            if let Some(ip) = &step.ip {
                w.text(&format!("IP address: {ip}"), 8.0, 24.0, true);
            }
            if let Some(agent) = &step.user_agent {
                w.text(&format!("User agent: {agent}"), 8.0, 24.0, true);
            }
        }
    }
    w.rule();
    w.text("Seal", 12.0, 0.0, false);
    w.text(&format!("SHA-256 of the signed document before sealing: {}", trail.stamped_sha256), 8.0, 0.0, true);
    w.text(&format!("Sealed by: {}", trail.sealed_by), 8.0, 0.0, true);
    w.text(&format!("Certificate SHA-256: {}", trail.certificate_sha256), 8.0, 0.0, true);
    w.text(
        "This document carries a digital signature (PAdES) over every byte; any change after sealing invalidates it.",
        8.0,
        0.0,
        true,
    );
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a4_documents_get_a4_audit_pages_and_everything_else_letter() {
        assert_eq!(audit_page_size(595.0, 842.0), A4);
        assert_eq!(audit_page_size(842.0, 595.0), A4);
        assert_eq!(audit_page_size(612.0, 792.0), LETTER);
        assert_eq!(audit_page_size(300.0, 300.0), LETTER);
    }

    #[test]
    fn long_values_wrap_and_never_break_lines_of_their_own() {
        let lines = wrap(&"x".repeat(400), 8.0, 200.0);
        assert!(lines.len() > 2);
        assert!(lines.iter().all(|l| Line::new(l).width(8.0) <= 200.0));
        assert_eq!(wrap("Signed\nby Mallory\u{202e}", 8.0, 500.0), vec!["Signed by Mallory".to_owned()]);
    }

    #[test]
    fn utc_is_readable() {
        assert_eq!(utc(1_796_651_109), "2026-12-07 13:45:09 UTC");
    }
}

//! A hayro [`Device`] that records positioned glyphs (nothing else), and the layout step that turns
//! them into lines of text and finds text tags in them.
//!
//! Glyph boxes follow poppler's `TextOutputDev` so that they agree with `pdftotext -bbox`: the box
//! runs from the glyph origin along the advance, and from `descent` to `ascent` (font metrics from
//! the font descriptor or the built-in base-14 table) times the transformed font size across it.
//! The orientation ("rot") is one of four, chosen from the glyph's transform as poppler does.

use crate::FoundTag;
use crate::fonts::FontResolver;
use crate::layout::{PageGlyph, find_tags, find_words};
use hayro_interpret::font::{Glyph, GlyphRun};
use hayro_interpret::hayro_cmap::{BfString, WritingMode};
use hayro_interpret::hayro_syntax::page::Page;
use hayro_interpret::kurbo::{self, BezPath};
use hayro_interpret::{BlendMode, ClipPath, Device, DrawMode, DrawProps, Image, ImageDrawProps, SoftMask};
use std::time::Instant;

/// Why interpretation was cut short (carried through a panic unwind so that hayro can be stopped
/// in the middle of a content stream).
#[derive(Debug)]
pub(crate) enum Abort {
    TimedOut,
    TooMuchText,
}

/// Most glyphs recorded for one page; more is treated as a hostile file.
pub(crate) const MAX_GLYPHS_PER_PAGE: usize = 1_000_000;
/// Most bytes of text recorded for one page (`ToUnicode` can map one glyph to a long string).
pub(crate) const MAX_TEXT_BYTES_PER_PAGE: usize = 64 << 20;

/// Records the glyphs of one page.
pub(crate) struct Collector<'p, 'a> {
    page: &'p Page<'a>,
    deadline: Instant,
    fonts: &'p mut FontResolver,
    glyphs: Vec<PageGlyph>,
    text: String,
    last_run: Option<RunKey>,
    /// The page size (media box after `/Rotate`); glyphs outside it are dropped, as poppler does.
    page_size: (f64, f64),
    /// Set when work was stopped and unwinding is not available (`panic = "abort"` builds).
    stopped: Option<Abort>,
}

impl<'p, 'a> Collector<'p, 'a> {
    pub(crate) fn new(
        page: &'p Page<'a>,
        page_size: (f64, f64),
        deadline: Instant,
        fonts: &'p mut FontResolver,
    ) -> Self {
        fonts.begin_page();
        Self {
            page,
            deadline,
            fonts,
            glyphs: Vec::new(),
            text: String::new(),
            last_run: None,
            page_size,
            stopped: None,
        }
    }

    /// Stop interpreting. With unwinding, this unwinds out of hayro right away (caught by
    /// `catch_unwind` in `analyze`; `resume_unwind` skips the panic hook, so nothing is printed).
    /// Without it, the rest of the page's drawing calls become no-ops.
    fn stop(&mut self, why: Abort) {
        #[cfg(panic = "unwind")]
        std::panic::resume_unwind(Box::new(why));
        #[cfg(not(panic = "unwind"))]
        {
            self.stopped = Some(why);
        }
    }

    /// Check the deadline; `false` if work has been stopped.
    fn check(&mut self) -> bool {
        if self.stopped.is_some() {
            return false;
        }
        if Instant::now() > self.deadline {
            self.stop(Abort::TimedOut);
            return false;
        }
        true
    }

    /// Append a glyph's text (control characters, NUL among them, as U+FFFD: extracted text ends up in
    /// messages and rows, and PostgreSQL text cannot hold NUL); `true` if it is whitespace. `cache` remembers single characters by
    /// code within one run (one font), since looking them up is a good part of the per-glyph cost.
    fn push_text(&mut self, glyph: &Glyph<'_>, cache: Option<&mut RunCache>) -> bool {
        let code = glyph.char_code();
        let cached = cache.as_ref().and_then(|c| c.chars.get(code as usize)).and_then(|&c| char::from_u32(c));
        if let Some(c) = cached.map(printable) {
            self.text.push(c);
            return c.is_whitespace();
        }
        match glyph.as_unicode() {
            Some(BfString::Char(c)) => {
                let c = printable(c);
                if let Some(slot) = cache.and_then(|cache| cache.chars.get_mut(code as usize)) {
                    *slot = c as u32;
                }
                self.text.push(c);
                c.is_whitespace()
            }
            Some(BfString::String(s)) => {
                self.text.extend(s.chars().map(printable));
                !s.is_empty() && s.chars().all(char::is_whitespace)
            }
            None => {
                self.text.push('\u{FFFD}');
                false
            }
        }
    }

    /// Lay out the page's glyphs into lines and return the text tags found, in reading order.
    pub(crate) fn finish(self, page_number: u32, words: bool) -> Result<Vec<FoundTag>, Abort> {
        match self.stopped {
            Some(why) => Err(why),
            None if words => Ok(find_words(&self.glyphs, &self.text, page_number)),
            None => Ok(find_tags(&self.glyphs, &self.text, page_number)),
        }
    }
}

impl<'a> Device<'a> for Collector<'_, 'a> {
    fn draw_path(&mut self, _: &BezPath, _: DrawProps<'a>, _: &DrawMode) {
        let _ = self.check();
    }

    fn push_clip_path(&mut self, _: &ClipPath) {
        let _ = self.check();
    }

    fn push_clip_rect(&mut self, _: &kurbo::Rect) {
        let _ = self.check();
    }

    fn push_transparency_group(&mut self, _: f32, _: Option<SoftMask<'a>>, _: BlendMode) {}

    fn draw_glyph_run(&mut self, run: &GlyphRun<'_, 'a>, props: DrawProps<'a>, _: &DrawMode) {
        if !self.check() {
            return;
        }
        let glyphs = run.glyphs();
        let (Some(first), Some(last)) = (glyphs.first(), glyphs.last()) else { return };

        // Fill-and-stroke text modes draw the same run twice; record it once.
        let key = RunKey {
            len: glyphs.len(),
            first: (props.transform * first.transform()).as_coeffs(),
            last: (props.transform * last.transform()).as_coeffs(),
        };
        if self.last_run == Some(key) {
            return;
        }
        self.last_run = Some(key);

        if self.glyphs.len() + glyphs.len() > MAX_GLYPHS_PER_PAGE || self.text.len() > MAX_TEXT_BYTES_PER_PAGE {
            self.stop(Abort::TooMuchText);
            return;
        }

        self.fonts.prepare(self.page);
        let sample = &glyphs[..glyphs.len().min(16)];
        let metrics = self.fonts.metrics(first, sample);
        let vertical = matches!(run.writing_mode(), WritingMode::Vertical);

        // Long runs repeat codes; short ones aren't worth clearing the memo for.
        let mut cache = (glyphs.len() >= 12).then(RunCache::new);
        for glyph in glyphs {
            let m = props.transform * glyph.transform();
            let [a, b, c, d, e, f] = m.as_coeffs();
            let code = glyph.char_code() as usize;
            let memo = cache.as_ref().and_then(|c| c.advances.get(code)).copied().filter(|a| !a.is_nan());
            let advance = match memo {
                Some(a) => a,
                None => {
                    let a = match &**glyph {
                        Glyph::Outline(o) => o.advance_width(),
                        Glyph::Type3(t) => t.advance_width(),
                    }
                    .unwrap_or(0.0);
                    if let Some(slot) = cache.as_mut().and_then(|c| c.advances.get_mut(code)) {
                        *slot = a;
                    }
                    a
                }
            } as f64;
            // The transform includes the 1/1000 glyph-space scale, so the y axis of 1000 units is
            // the font size in device space (poppler's "transformed font size").
            let font_size = (c * 1000.0).hypot(d * 1000.0);
            if !(font_size.is_finite() && e.is_finite() && f.is_finite() && a.is_finite() && b.is_finite()) {
                continue;
            }
            let (dx, dy) = if vertical { (-c * 1000.0, -d * 1000.0) } else { (a * advance, b * advance) };
            let mut rot: u8 = if (a * d).abs() > (b * c).abs() {
                if a > 0.0 || d < 0.0 { 0 } else { 2 }
            } else if c > 0.0 {
                1
            } else {
                3
            };
            if vertical {
                rot = (rot + 1) & 3;
            }

            let asc = metrics.ascent * font_size;
            let desc = metrics.descent * font_size;
            let (x0, y0, x1, y1, base, pos, len) = match rot {
                0 => (e, f - asc, e + dx, f - desc, f, e, dx),
                1 => (e + desc, f, e + asc, f + dy, e, f, dy),
                2 => (e + dx, f + desc, e, f + asc, f, -e, -dx),
                _ => (e - asc, f + dy, e - desc, f, e, -f, -dy),
            };

            // poppler (`TextPage::addChar`) drops a character whose origin lies beyond the right
            // or bottom edge of the page, or whose origin plus advance lies before the left or top
            // edge — the page being the media box for plain `pdftotext -bbox`.
            let (width, height) = self.page_size;
            if !(dx.is_finite() && dy.is_finite()) || e + dx < 0.0 || e > width || f + dy < 0.0 || f > height {
                continue;
            }
            let (x0, y0, x1, y1) = (x0.min(x1), y0.min(y1), x0.max(x1), y0.max(y1));

            let text_start = self.text.len() as u32;
            let whitespace = self.push_text(glyph, cache.as_mut());
            let text_end = self.text.len() as u32;
            self.glyphs.push(PageGlyph {
                text_start,
                text_end,
                x0,
                y0,
                x1,
                y1,
                base,
                pos,
                len,
                font_size,
                rot,
                whitespace,
            });
        }
    }

    fn draw_image(&mut self, _: Image<'a, '_>, _: ImageDrawProps<'a>) {
        let _ = self.check();
    }

    fn pop_clip(&mut self) {}

    fn pop_transparency_group(&mut self) {}
}

/// Identifies a glyph run, to recognise the second drawing of a fill-and-stroke run.
#[derive(Debug, Clone, Copy, PartialEq)]
struct RunKey {
    len: usize,
    first: [f64; 6],
    last: [f64; 6],
}

/// Per-run memo of code → character and code → advance for single-byte codes.
struct RunCache {
    /// `u32::MAX` = not known yet.
    chars: [u32; 256],
    /// NaN = not known yet.
    advances: [f32; 256],
}

impl RunCache {
    fn new() -> Self {
        RunCache { chars: [u32::MAX; 256], advances: [f32::NAN; 256] }
    }
}

/// A character as it may be kept: control characters other than whitespace become U+FFFD.
fn printable(c: char) -> char {
    if c.is_control() && !c.is_whitespace() { '\u{FFFD}' } else { c }
}

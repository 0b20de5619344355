//! From positioned glyphs to lines of text, and text tags with their boxes.
//!
//! Like poppler's `TextOutputDev`, glyphs are first chained in drawing order into *fragments*
//! (consecutive glyphs that continue each other along one baseline), so that two strings drawn
//! over each other on the same baseline don't get interleaved glyph by glyph. Fragments are then
//! grouped into lines (same orientation, baseline within a tolerance), lines are put in reading
//! order, and each line's fragments are ordered along the line. Spaces are inserted where the gap
//! between glyphs is wider than the line's letter spacing plus [`WORD_GAP`] times the font size.
//!
//! Boxes follow poppler's word boxes, see [`union_rect`].

use crate::tags::looks_like_tag;
use crate::{FoundTag, Rect};

/// A glyph as recorded for layout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageGlyph {
    /// Byte range of this glyph's text in the page text buffer.
    pub text_start: u32,
    pub text_end: u32,
    /// Box in page space (media box after `/Rotate`, top-left origin, y down).
    pub x0: f64,
    pub y0: f64,
    pub x1: f64,
    pub y1: f64,
    /// Position of the origin across the line (the baseline) and along it, in the direction of
    /// the text (for rotated text the axes are rotated so that `pos` grows along the line).
    pub base: f64,
    pub pos: f64,
    /// Length of the advance along the line.
    pub len: f64,
    /// poppler's transformed font size.
    pub font_size: f64,
    /// Orientation: 0 upright, 1 rotated 90° clockwise, 2 upside down, 3 rotated 90° counter-clockwise.
    pub rot: u8,
    pub whitespace: bool,
}

/// A gap along the line wider than this fraction of the font size (beyond the line's letter
/// spacing) gets a space in the line text.
const WORD_GAP: f64 = 0.15;
/// poppler's word-break thresholds (`minWordBreakSpace`, `minDupBreakOverlap`), used for boxes.
const MIN_WORD_BREAK_SPACE: f64 = 0.1;
const MIN_DUP_BREAK_OVERLAP: f64 = 0.2;
/// A glyph further than this (in points) from a fragment's baseline starts a new fragment
/// (poppler uses the same absolute value for words).
const MAX_BASE_DELTA: f64 = 0.5;
/// Longest text between `[` and `]` that can still be a tag.
const MAX_TAG_CHARS: usize = 400;

/// One character of a line's text, and the glyph it came from (`None` for an inserted space).
pub(crate) struct LineChar {
    pub ch: char,
    pub glyph: Option<u32>,
}

/// Consecutive glyphs (a range of indices, in drawing order) that continue each other.
#[derive(Debug, Clone, Copy)]
struct Fragment {
    start: u32,
    end: u32,
    rot: u8,
    base: f64,
    pos: f64,
    font_size: f64,
}

/// The text tags of a page, in reading order.
pub(crate) fn find_tags(glyphs: &[PageGlyph], text: &str, page: u32) -> Vec<FoundTag> {
    let mut tags = Vec::new();
    if !text.contains('[') {
        return tags;
    }
    for_each_line(glyphs, text, |chars| scan_line(glyphs, chars, page, &mut tags));
    tags
}

/// Every whitespace-separated word with its box (for checking the layout against poppler).
pub(crate) fn find_words(glyphs: &[PageGlyph], text: &str, page: u32) -> Vec<FoundTag> {
    let mut words = Vec::new();
    for_each_line(glyphs, text, |chars| {
        let mut start = None;
        for i in 0..=chars.len() {
            let boundary = chars.get(i).is_none_or(|c| c.ch.is_whitespace());
            match (boundary, start) {
                (false, None) => start = Some(i),
                (true, Some(s)) => {
                    if let Some(rect) = union_rect(glyphs, &chars[s..i]) {
                        words.push(FoundTag { page, text: chars[s..i].iter().map(|c| c.ch).collect(), rect });
                    }
                    start = None;
                }
                _ => {}
            }
        }
    });
    words
}

fn glyph_text<'t>(text: &'t str, g: &PageGlyph) -> &'t str {
    text.get(g.text_start as usize..g.text_end as usize).unwrap_or("")
}

/// Chain glyphs in drawing order into fragments.
fn fragments(glyphs: &[PageGlyph]) -> Vec<Fragment> {
    let mut out: Vec<Fragment> = Vec::new();
    for (i, g) in glyphs.iter().enumerate() {
        let i = i as u32;
        if let Some(f) = out.last_mut()
            && let Some(prev) = (i as usize).checked_sub(1).and_then(|p| glyphs.get(p))
        {
            let gap = g.pos - (prev.pos + prev.len);
            let continues = g.rot == f.rot
                && (g.base - f.base).abs() <= MAX_BASE_DELTA.max(0.05 * f.font_size)
                && gap >= -MIN_DUP_BREAK_OVERLAP * f.font_size
                && gap <= 3.0 * f.font_size;
            if continues {
                f.end = i + 1;
                continue;
            }
        }
        out.push(Fragment { start: i, end: i + 1, rot: g.rot, base: g.base, pos: g.pos, font_size: g.font_size });
    }
    out
}

/// The order of lines: upright text top to bottom; rotated text in the order its lines follow
/// each other in the text's own frame.
fn line_key(rot: u8, base: f64) -> f64 {
    if rot == 1 || rot == 2 { -base } else { base }
}

/// Group the glyphs into lines in reading order and hand each line's text to `f`.
fn for_each_line(glyphs: &[PageGlyph], text: &str, mut f: impl FnMut(&[LineChar])) {
    if glyphs.is_empty() {
        return;
    }
    let mut frags = fragments(glyphs);
    frags.sort_by(|a, b| a.rot.cmp(&b.rot).then(line_key(a.rot, a.base).total_cmp(&line_key(b.rot, b.base))));

    let mut line: Vec<Fragment> = Vec::new();
    let mut order: Vec<u32> = Vec::new();
    let mut gaps: Vec<f64> = Vec::new();
    let mut chars: Vec<LineChar> = Vec::new();
    let mut start = 0;
    while start < frags.len() {
        let first = frags[start];
        let tolerance = (first.font_size * 0.3).max(MAX_BASE_DELTA);
        let key = line_key(first.rot, first.base);
        let mut end = start + 1;
        while end < frags.len()
            && frags[end].rot == first.rot
            && line_key(first.rot, frags[end].base) - key <= tolerance
        {
            end += 1;
        }
        line.clear();
        line.extend_from_slice(&frags[start..end]);
        line.sort_by(|a, b| a.pos.total_cmp(&b.pos));
        drop_duplicates(glyphs, text, &mut line);
        order.clear();
        for fr in &line {
            order.extend(fr.start..fr.end);
        }
        build_line_text(glyphs, text, &order, &mut gaps, &mut chars);
        f(&chars);
        start = end;
    }
}

/// Drop fragments that repeat another one at (nearly) the same place: fake bold, or text drawn
/// once filled and once stroked. poppler drops these too.
fn drop_duplicates(glyphs: &[PageGlyph], text: &str, line: &mut Vec<Fragment>) {
    let frag_text = |f: &Fragment| {
        let a = glyphs.get(f.start as usize).map_or(0, |g| g.text_start as usize);
        let b = glyphs.get(f.end as usize - 1).map_or(0, |g| g.text_end as usize);
        text.get(a..b).unwrap_or("")
    };
    let mut kept: Vec<Fragment> = Vec::with_capacity(line.len());
    for fr in line.iter() {
        let duplicate = kept.iter().rev().take_while(|k| fr.pos - k.pos < 0.1 * k.font_size).any(|k| {
            (fr.base - k.base).abs() < 0.2 * k.font_size
                && fr.end - fr.start == k.end - k.start
                && frag_text(fr) == frag_text(k)
        });
        if !duplicate {
            kept.push(*fr);
        }
    }
    *line = kept;
}

/// Build a line's text from its glyphs in line order, inserting a space where the gap between
/// two glyphs is wider than the line's letter spacing plus [`WORD_GAP`] times the font size.
fn build_line_text(glyphs: &[PageGlyph], text: &str, order: &[u32], gaps: &mut Vec<f64>, out: &mut Vec<LineChar>) {
    out.clear();
    // Letter spacing of the line (tracking, justified or `Tc` text): a low percentile of the gaps
    // between adjacent non-space glyphs, in units of the font size. Most gaps in a line are
    // between letters of a word.
    gaps.clear();
    for pair in order.windows(2) {
        let (p, c) = (&glyphs[pair[0] as usize], &glyphs[pair[1] as usize]);
        if !p.whitespace && !c.whitespace && p.font_size > 0.0 {
            gaps.push((c.pos - (p.pos + p.len)) / p.font_size);
        }
    }
    let letter_spacing = if gaps.len() >= 4 {
        let k = gaps.len() * 2 / 5;
        let (_, v, _) = gaps.select_nth_unstable_by(k, f64::total_cmp);
        v.clamp(0.0, 0.5)
    } else {
        0.0
    };

    let mut prev: Option<&PageGlyph> = None;
    for &i in order {
        let cur = &glyphs[i as usize];
        if let Some(p) = prev {
            let gap = cur.pos - (p.pos + p.len);
            let size = p.font_size.max(cur.font_size);
            if !p.whitespace && !cur.whitespace && gap > (WORD_GAP + letter_spacing) * size {
                out.push(LineChar { ch: ' ', glyph: None });
            }
        }
        out.extend(glyph_text(text, cur).chars().map(|ch| LineChar { ch, glyph: Some(i) }));
        prev = Some(cur);
    }
}

fn scan_line(glyphs: &[PageGlyph], chars: &[LineChar], page: u32, tags: &mut Vec<FoundTag>) {
    let mut i = 0;
    while i < chars.len() {
        if chars[i].ch != '[' {
            i += 1;
            continue;
        }
        // Find the matching ']' with no '[' in between.
        let mut j = i + 1;
        let mut close = None;
        while j < chars.len() && j - i <= MAX_TAG_CHARS {
            match chars[j].ch {
                '[' => break,
                ']' => {
                    close = Some(j);
                    break;
                }
                _ => j += 1,
            }
        }
        let Some(close) = close else {
            // Either another '[' starts at j, or there is no closing bracket.
            i = j.max(i + 1);
            continue;
        };
        let inner: String = chars[i + 1..close].iter().map(|c| c.ch).collect();
        if looks_like_tag(&inner) {
            let mut text = String::with_capacity(inner.len() + 2);
            text.push('[');
            text.push_str(&inner);
            text.push(']');
            if let Some(rect) = union_rect(glyphs, &chars[i..=close]) {
                tags.push(FoundTag { page, text, rect });
            }
        }
        i = close + 1;
    }
}

/// The box of a run of line characters, built the way poppler builds word boxes: glyphs are
/// grouped into words (split at spaces, at gaps wider than a tenth of the font size, at overlaps,
/// and where the font size or baseline changes), a word's extent across the line is that of its
/// first glyph, and along the line it spans all its glyphs. The result is the union of the words.
fn union_rect(glyphs: &[PageGlyph], chars: &[LineChar]) -> Option<Rect> {
    let mut bounds: Option<(f64, f64, f64, f64)> = None;
    let mut last = None;
    let mut word_first: Option<&PageGlyph> = None;
    let mut prev: Option<&PageGlyph> = None;
    for c in chars {
        let Some(gi) = c.glyph else {
            word_first = None;
            continue;
        };
        if last == Some(gi) {
            continue;
        }
        last = Some(gi);
        let g = &glyphs[gi as usize];
        if g.whitespace {
            word_first = None;
            prev = None;
            continue;
        }
        if let (Some(first), Some(p)) = (word_first, prev) {
            let gap = g.pos - (p.pos + p.len);
            if gap > MIN_WORD_BREAK_SPACE * first.font_size
                || gap < -MIN_DUP_BREAK_OVERLAP * first.font_size
                || (g.base - first.base).abs() > MAX_BASE_DELTA
                || (g.font_size - first.font_size).abs() > 1e-6 * first.font_size.max(1.0)
            {
                word_first = None;
            }
        }
        let first = *word_first.get_or_insert(g);
        prev = Some(g);
        let (x0, y0, x1, y1) =
            if g.rot.is_multiple_of(2) { (g.x0, first.y0, g.x1, first.y1) } else { (first.x0, g.y0, first.x1, g.y1) };
        bounds = Some(match bounds {
            None => (x0, y0, x1, y1),
            Some((a, b, c, d)) => (a.min(x0), b.min(y0), c.max(x1), d.max(y1)),
        });
    }
    bounds.map(|(x0, y0, x1, y1)| Rect { x: x0, y: y0, width: x1 - x0, height: y1 - y0 })
}

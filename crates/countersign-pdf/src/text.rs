//! Drawing a line of Unicode text with the bundled Noto fonts (see `fonts/README.md`): each character
//! takes the first font that has it, each run of one font is shaped by rustybuzz (so Arabic joins and
//! reads right to left), and krilla embeds a subset of every font used with a `ToUnicode` map, so the
//! text extracts back as typed.
//!
//! Text is cleaned before drawing: control characters, line breaks and bidirectional overrides are
//! dropped ([`clean`]), so a signer's name can neither start a new audit line nor reorder one.

use std::sync::OnceLock;

use krilla::geom::Point;
use krilla::surface::Surface;
use krilla::text::{Font, GlyphId, KrillaGlyph};
use rustybuzz::{Direction, UnicodeBuffer};

struct Face {
    font: Font,
    /// Parsed once: shaping and coverage look-ups read it for every line.
    shaper: rustybuzz::Face<'static>,
    rtl: bool,
}

static FONT_FILES: [(&[u8], bool); 8] = [
    (include_bytes!("../fonts/NotoSans-Regular.ttf"), false),
    (include_bytes!("../fonts/NotoSansArabic-Regular.ttf"), true),
    (include_bytes!("../fonts/NotoSansHebrew-Regular.ttf"), true),
    (include_bytes!("../fonts/NotoSansDevanagari-Regular.ttf"), false),
    (include_bytes!("../fonts/NotoSansThai-Regular.ttf"), false),
    (include_bytes!("../fonts/NotoSansArmenian-Regular.ttf"), false),
    (include_bytes!("../fonts/NotoSansGeorgian-Regular.ttf"), false),
    (include_bytes!("../fonts/NotoSansCJKsc-Regular-subset.otf"), false),
];

fn faces() -> &'static [Face] {
    static FACES: OnceLock<Vec<Face>> = OnceLock::new();
    FACES.get_or_init(|| {
        FONT_FILES
            .iter()
            .filter_map(|(data, rtl)| {
                let font = Font::new((*data).into(), 0)?;
                let shaper = rustybuzz::Face::from_slice(data, 0)?;
                Some(Face { font, shaper, rtl: *rtl })
            })
            .collect()
    })
}

/// `text` without control characters, line or paragraph separators and bidirectional controls (which
/// could forge or reorder what is drawn); runs of whitespace become one space.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for ch in text.chars() {
        let bidi_control =
            matches!(ch, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if bidi_control || matches!(ch, '\u{feff}' | '\u{fffe}' | '\u{ffff}') {
            continue;
        }
        if ch.is_whitespace() || ch.is_control() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(ch);
    }
    out
}

/// One run of text in one font, shaped.
struct Run {
    face: usize,
    text: String,
    glyphs: Vec<KrillaGlyph>,
    /// In units of the font size.
    width: f32,
}

fn has_glyph(face: &rustybuzz::Face<'_>, ch: char) -> bool {
    face.glyph_index(ch).is_some_and(|g| g.0 != 0)
}

fn is_rtl(ch: char) -> bool {
    matches!(u32::from(ch), 0x0590..=0x08ff | 0xfb1d..=0xfdff | 0xfe70..=0xfefe)
}

/// Splits cleaned text into runs by font and shapes each.
fn runs(text: &str) -> Vec<Run> {
    let faces = faces();
    let pick = |ch: char, current: Option<usize>| -> usize {
        // Spaces, digits and punctuation stay in the current run when its font has them.
        if let Some(c) = current
            && !ch.is_alphabetic()
            && has_glyph(&faces[c].shaper, ch)
        {
            return c;
        }
        faces.iter().position(|f| has_glyph(&f.shaper, ch)).unwrap_or(0)
    };
    let mut pieces: Vec<(usize, String)> = Vec::new();
    for ch in text.chars() {
        let current = pieces.last().map(|(f, _)| *f);
        let face = pick(ch, current);
        match pieces.last_mut() {
            Some((f, s)) if *f == face => s.push(ch),
            _ => pieces.push((face, ch.to_string())),
        }
    }
    // Whitespace after a right-to-left run belongs between it and what follows: kept inside, shaping
    // would draw it on the run's left.
    let mut split: Vec<(usize, String)> = Vec::with_capacity(pieces.len());
    for (face, text) in pieces {
        let trimmed = text.trim_end();
        if faces[face].rtl && trimmed.len() < text.len() && !trimmed.is_empty() {
            let tail = text[trimmed.len()..].to_owned();
            split.push((face, trimmed.to_owned()));
            split.push((0, tail));
        } else {
            split.push((face, text));
        }
    }
    split
        .into_iter()
        .map(|(face, text)| {
            let rtl = faces[face].rtl && text.chars().any(is_rtl);
            let (glyphs, width) = shape(&faces[face].shaper, &text, rtl);
            Run { face, text, glyphs, width }
        })
        .collect()
}

fn shape(face: &rustybuzz::Face<'_>, text: &str, rtl: bool) -> (Vec<KrillaGlyph>, f32) {
    let mut buffer = UnicodeBuffer::new();
    buffer.push_str(text);
    buffer.guess_segment_properties();
    buffer.set_direction(if rtl { Direction::RightToLeft } else { Direction::LeftToRight });
    let output = rustybuzz::shape(face, &[], buffer);
    let units = face.units_per_em() as f32;
    let infos = output.glyph_infos();
    let positions = output.glyph_positions();
    // Each glyph's cluster covers the text from its cluster start to the next cluster start (in
    // logical order).
    let mut starts: Vec<usize> = infos.iter().map(|i| i.cluster as usize).collect();
    starts.sort_unstable();
    starts.dedup();
    let end_of = |start: usize| starts.iter().find(|&&s| s > start).copied().unwrap_or(text.len());
    let mut width = 0.0;
    let glyphs = infos
        .iter()
        .zip(positions)
        .map(|(info, pos)| {
            let start = info.cluster as usize;
            width += pos.x_advance as f32 / units;
            KrillaGlyph::new(
                GlyphId::new(info.glyph_id),
                pos.x_advance as f32 / units,
                pos.x_offset as f32 / units,
                pos.y_offset as f32 / units,
                pos.y_advance as f32 / units,
                start..end_of(start),
                None,
            )
        })
        .collect();
    (glyphs, width)
}

/// A line of text, shaped and ready to draw.
pub struct Line {
    runs: Vec<Run>,
}

impl Line {
    /// Shapes `text` (cleaned first).
    pub fn new(text: &str) -> Line {
        let text = clean(text);
        let mut runs = runs(&text);
        // A line written only in right-to-left scripts reads right to left: its runs too. A line that also
        // holds left-to-right letters (an audit line: "1. محمد <m@example.com>") keeps left-to-right order,
        // each right-to-left run still shaped and read right to left within itself.
        let letters = || text.chars().filter(|c| c.is_alphabetic());
        if letters().next().is_some() && letters().all(is_rtl) {
            runs.reverse();
        }
        Line { runs }
    }

    /// Width at `size` points.
    pub fn width(&self, size: f32) -> f32 {
        self.runs.iter().map(|r| r.width).sum::<f32>() * size
    }

    /// Draws the line with its baseline starting at (`x`, `y`) (krilla's top-left space).
    pub fn draw(&self, surface: &mut Surface<'_>, x: f32, y: f32, size: f32) {
        let faces = faces();
        let mut x = x;
        for run in &self.runs {
            let font = faces[run.face].font.clone();
            surface.draw_glyphs(Point::from_xy(x, y), &run.glyphs, font, &run.text, size, false);
            x += run.width * size;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_drops_controls_and_bidi_overrides_and_folds_whitespace() {
        assert_eq!(clean("  Zoë\n\tŁukasiewicz \u{202e}evil\u{202c} "), "Zoë Łukasiewicz evil");
        assert_eq!(clean("a\u{0}\u{7}b"), "a b");
    }

    #[test]
    fn every_script_finds_a_font_with_its_glyphs() {
        for (text, face) in [
            ("Zoë", 0),
            ("Ἀθηνᾶ", 0),
            ("Жанна", 0),
            ("محمد", 1),
            ("שלום", 2),
            ("张伟", 7),
            ("さくら", 7),
            ("김민수", 7),
        ] {
            let line = Line::new(text);
            assert_eq!(line.runs.len(), 1, "{text}");
            assert_eq!(line.runs[0].face, face, "{text}");
            assert!(line.runs[0].glyphs.iter().all(|g| g.glyph_id.to_u32() != 0), "{text} has no missing glyphs");
            assert!(line.width(10.0) > 5.0);
        }
    }

    #[test]
    fn only_a_wholly_right_to_left_line_reverses_its_runs() {
        // Arabic with Arabic-Indic digits: one right-to-left line.
        let arabic = Line::new("محمد ١٢");
        assert!(arabic.runs.len() <= 2);
        let mixed = Line::new("1. محمد علي <m@example.com>");
        let faces: Vec<usize> = mixed.runs.iter().map(|r| r.face).collect();
        assert_eq!(faces, vec![0, 1, 0, 0], "Latin, Arabic, Latin in reading order");
        assert!(mixed.runs[0].text.starts_with("1."));
        assert_eq!(mixed.runs[1].text, "محمد علي", "the space after the Arabic name is not drawn inside it");
    }

    #[test]
    fn mixed_text_is_split_into_runs_per_font() {
        let line = Line::new("Li 李");
        assert_eq!(line.runs.iter().map(|r| r.face).collect::<Vec<_>>(), vec![0, 7]);
    }
}

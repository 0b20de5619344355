//! Font ascent/descent, computed the way poppler does, so that glyph boxes agree with
//! `pdftotext -bbox`.
//!
//! hayro gives each glyph its position and advance but not the font dictionary it came from, so
//! this module collects the font dictionaries a page can use (page resources, form XObjects,
//! annotation appearances) and maps a glyph back to one of them by its PostScript name, font kind
//! and glyph widths.

use crate::afm;
use hayro_interpret::font::{Glyph, PositionedGlyph};
use hayro_interpret::hayro_cmap::BfString;
use hayro_interpret::hayro_syntax::object::{Array, Dict, Name, Object, ObjectIdentifier, Stream};
use hayro_interpret::hayro_syntax::page::Page;
use std::collections::{HashMap, HashSet};

/// Vertical extent of a font's glyphs relative to the baseline, in units of the font size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Metrics {
    pub ascent: f64,
    pub descent: f64,
}

/// poppler's default for fonts without usable metrics.
pub(crate) const DEFAULT_METRICS: Metrics = Metrics { ascent: 0.95, descent: -0.35 };

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Type1, MMType1 or TrueType.
    Simple,
    Type0,
    Type3,
}

#[derive(Debug)]
struct Candidate {
    /// BaseFont with any subset prefix removed (what hayro reports as the PostScript name).
    name: Option<String>,
    kind: Kind,
    metrics: Metrics,
    first_char: u32,
    widths: Vec<f32>,
    missing_width: f32,
    /// For a standard font without /Widths: its AFM widths of printable ASCII.
    afm: Option<&'static [u16; 95]>,
    /// The font dictionary's object number.
    id: Option<ObjectIdentifier>,
    /// A symbol or dingbat font (by name).
    symbolic: bool,
    /// The printable-ASCII character that /Encoding /Differences assigns to a code, if any.
    differences: Vec<(u8, char)>,
    /// Factor from /Widths units to 1000-unit glyph space (FontMatrix × 1000 for Type3, else 1).
    width_scale: f32,
}

impl Candidate {
    /// The width this font gives a glyph, if known: from /Widths, or for a standard font without
    /// /Widths from the AFM metrics (by the glyph's Unicode value).
    fn width(&self, code: u32, glyph: &Glyph<'_>) -> Option<f32> {
        if self.widths.is_empty() {
            let table = self.afm?;
            let Some(BfString::Char(c)) = glyph.as_unicode() else { return None };
            let i = (c as usize).checked_sub(32)?;
            return table.get(i).map(|w| f32::from(*w));
        }
        match code.checked_sub(self.first_char).and_then(|i| self.widths.get(i as usize)) {
            Some(w) => Some(*w * self.width_scale),
            None => Some(self.missing_width * self.width_scale),
        }
    }
}

/// Limits for walking resources, so a hostile file can't make this expensive.
const MAX_FONTS: usize = 512;
const MAX_FORM_DEPTH: u32 = 8;
const MAX_FORMS: usize = 256;

/// Resolves the metrics of glyphs drawn in a document, page by page.
#[derive(Default)]
pub(crate) struct FontResolver {
    /// The current page's fonts.
    candidates: Vec<Candidate>,
    collected: bool,
    /// Cache for embedded outline fonts, keyed by font program hash, when the name was unique
    /// (per page).
    by_program: HashMap<u128, Metrics>,
    /// The font chosen for the previous ambiguous run (across pages).
    last_pick: Option<ObjectIdentifier>,
    /// How many ambiguous runs each font was chosen for (across pages): the tie-breaker when a
    /// short run fits several fonts.
    usage: HashMap<ObjectIdentifier, u32>,
}

impl FontResolver {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Forget the previous page's fonts.
    pub(crate) fn begin_page(&mut self) {
        self.candidates.clear();
        self.collected = false;
        self.by_program.clear();
    }

    /// Collect the page's fonts (lazily: only pages that show text pay for it).
    pub(crate) fn prepare(&mut self, page: &Page<'_>) {
        if self.collected {
            return;
        }
        self.collected = true;
        let mut walker = Walker::default();
        let resources = page.resources();
        walker.resources(&resources.fonts, &resources.x_objects, 0);
        // Annotation appearance streams are drawn too.
        if let Some(annots) = page.raw().get::<Array<'_>>(b"Annots") {
            for annot in annots.iter::<Dict<'_>>().take(MAX_FORMS) {
                let Some(ap) = annot.get::<Dict<'_>>(b"AP") else { continue };
                match ap.get::<Object<'_>>(b"N") {
                    Some(Object::Stream(s)) => walker.form(&s, 1),
                    Some(Object::Dict(states)) => {
                        for key in states.keys().take(8) {
                            if let Some(s) = states.get::<Stream<'_>>(key) {
                                walker.form(&s, 1);
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        self.candidates = walker.candidates;
    }

    /// The metrics of the font a glyph run was drawn with. `sample` are a few of the run's glyphs,
    /// used to tell fonts apart by their widths when the name is not enough.
    pub(crate) fn metrics(&mut self, glyph: &Glyph<'_>, sample: &[PositionedGlyph<'_>]) -> Metrics {
        match glyph {
            Glyph::Type3(_) => self.pick(|c| c.kind == Kind::Type3, sample).unwrap_or(DEFAULT_METRICS),
            Glyph::Outline(outline) => {
                if let Some(data) = outline.font_data() {
                    if let Some(m) = self.by_program.get(&data.cache_key) {
                        return *m;
                    }
                    let name = data.postscript_name.as_deref();
                    let by_name: Vec<usize> = self
                        .candidates
                        .iter()
                        .enumerate()
                        .filter(|(_, c)| c.kind != Kind::Type3 && name.is_some() && c.name.as_deref() == name)
                        .map(|(i, _)| i)
                        .collect();
                    if let Some(m) = self.unique_metrics(&by_name) {
                        self.by_program.insert(data.cache_key, m);
                        return m;
                    }
                    if !by_name.is_empty() {
                        return self.pick_among(&by_name, sample).unwrap_or(DEFAULT_METRICS);
                    }
                    if let Some(m) = name.and_then(builtin_metrics) {
                        return m;
                    }
                    self.pick(|c| c.kind != Kind::Type3, sample).unwrap_or(DEFAULT_METRICS)
                } else {
                    // Type1 (embedded or standard) or a non-embedded TrueType font.
                    self.pick(|c| c.kind == Kind::Simple, sample).unwrap_or(DEFAULT_METRICS)
                }
            }
        }
    }

    fn unique_metrics(&self, idx: &[usize]) -> Option<Metrics> {
        let first = self.candidates.get(*idx.first()?)?.metrics;
        idx.iter().all(|&i| self.candidates.get(i).is_some_and(|c| c.metrics == first)).then_some(first)
    }

    fn pick(&mut self, filter: impl Fn(&Candidate) -> bool, sample: &[PositionedGlyph<'_>]) -> Option<Metrics> {
        let idx: Vec<usize> = self.candidates.iter().enumerate().filter(|(_, c)| filter(c)).map(|(i, _)| i).collect();
        self.pick_among(&idx, sample)
    }

    /// Among candidates, prefer those whose widths agree with the glyphs' advances, and among
    /// those the font picked last time (fonts rarely change from one glyph to the next, and a
    /// single glyph often fits several fonts).
    fn pick_among(&mut self, idx: &[usize], sample: &[PositionedGlyph<'_>]) -> Option<Metrics> {
        if let Some(m) = self.unique_metrics(idx) {
            return Some(m);
        }
        let matches = |c: &Candidate| -> Option<bool> {
            let mut known = false;
            for g in sample {
                // Symbol and dingbat fonts don't draw Latin letters or tag punctuation.
                if c.symbolic
                    && let Some(BfString::Char(ch)) = g.as_unicode()
                    && (ch.is_ascii_alphanumeric() || matches!(ch, '[' | ']' | '|'))
                {
                    return Some(false);
                }
                // The font's /Differences name a different character for this code.
                if let Ok(code) = u8::try_from(g.char_code())
                    && let Some(&(_, expected)) = c.differences.iter().find(|(k, _)| *k == code)
                    && let Some(BfString::Char(ch)) = g.as_unicode()
                    && ch.is_ascii_graphic()
                    && ch != expected
                {
                    return Some(false);
                }
                let (code, adv) = match &**g {
                    Glyph::Outline(o) => (o.char_code(), o.advance_width()),
                    Glyph::Type3(t) => (t.char_code(), t.advance_width()),
                };
                let (Some(adv), Some(w)) = (adv, c.width(code, g)) else { continue };
                known = true;
                if (adv - w).abs() > 0.5 {
                    return Some(false);
                }
            }
            known.then_some(true)
        };
        let verdicts: Vec<(usize, Option<bool>)> =
            idx.iter().filter_map(|&i| self.candidates.get(i).map(|c| (i, matches(c)))).collect();
        let choose = |wanted: Option<bool>| -> Option<usize> {
            let set: Vec<usize> = verdicts.iter().filter(|(_, v)| *v == wanted).map(|(i, _)| *i).collect();
            let id = |i: usize| self.candidates.get(i).and_then(|c| c.id);
            if let Some(&i) = set.iter().find(|&&i| self.last_pick.is_some() && id(i) == self.last_pick) {
                return Some(i);
            }
            let uses = |i: usize| id(i).and_then(|id| self.usage.get(&id)).copied().unwrap_or(0);
            // The most used one; the first on ties.
            set.iter().copied().rev().max_by_key(|&i| uses(i))
        };
        let chosen = choose(Some(true)).or_else(|| choose(None)).or_else(|| idx.first().copied())?;
        let candidate = self.candidates.get(chosen)?;
        if let Some(id) = candidate.id {
            self.last_pick = Some(id);
            *self.usage.entry(id).or_default() += 1;
        }
        Some(candidate.metrics)
    }
}

#[derive(Default)]
struct Walker {
    candidates: Vec<Candidate>,
    seen_fonts: HashSet<ObjectIdentifier>,
    seen_forms: HashSet<ObjectIdentifier>,
    forms: usize,
}

impl Walker {
    fn resources(&mut self, fonts: &Dict<'_>, xobjects: &Dict<'_>, depth: u32) {
        for key in fonts.keys() {
            if self.candidates.len() >= MAX_FONTS {
                return;
            }
            if let Some(font) = fonts.get::<Dict<'_>>(key.clone()) {
                if let Some(id) = font.obj_id()
                    && !self.seen_fonts.insert(id)
                {
                    continue;
                }
                self.candidates.push(candidate(&font));
            }
        }
        if depth >= MAX_FORM_DEPTH {
            return;
        }
        for key in xobjects.keys() {
            if let Some(stream) = xobjects.get::<Stream<'_>>(key) {
                self.form(&stream, depth + 1);
            }
        }
    }

    fn form(&mut self, stream: &Stream<'_>, depth: u32) {
        let dict = stream.dict();
        if dict.get::<Name<'_>>(b"Subtype").is_some_and(|s| s.as_ref() != b"Form") {
            return;
        }
        if self.forms >= MAX_FORMS || !self.seen_forms.insert(stream.obj_id()) {
            return;
        }
        self.forms += 1;
        let Some(resources) = dict.get::<Dict<'_>>(b"Resources") else { return };
        let fonts = resources.get::<Dict<'_>>(b"Font").unwrap_or_default();
        let xobjects = resources.get::<Dict<'_>>(b"XObject").unwrap_or_default();
        self.resources(&fonts, &xobjects, depth);
    }
}

fn strip_subset_prefix(name: &str) -> &str {
    match name.split_once('+') {
        Some((prefix, rest)) if prefix.len() == 6 => rest,
        _ => name,
    }
}

fn candidate(font: &Dict<'_>) -> Candidate {
    let subtype = font.get::<Name<'_>>(b"Subtype");
    let kind = match subtype.as_ref().map(|n| n.as_ref()) {
        Some(b"Type0") => Kind::Type0,
        Some(b"Type3") => Kind::Type3,
        _ => Kind::Simple,
    };
    let base_font = font.get::<Name<'_>>(b"BaseFont").map(|n| n.as_str().to_string());
    let name = base_font.as_deref().map(|n| strip_subset_prefix(n).to_string());

    let descendant = if kind == Kind::Type0 {
        font.get::<Array<'_>>(b"DescendantFonts").and_then(|a| a.iter::<Dict<'_>>().next())
    } else {
        None
    };
    let descriptor = descendant.as_ref().unwrap_or(font).get::<Dict<'_>>(b"FontDescriptor");

    let mut metrics = DEFAULT_METRICS;
    let mut builtin = None;
    if kind == Kind::Simple {
        builtin = base_font.as_deref().and_then(builtin_metrics);
        if let Some(b) = builtin {
            metrics = b;
        }
    }
    let mut embedded = false;
    if let Some(desc) = &descriptor {
        embedded = [b"FontFile".as_slice(), b"FontFile2", b"FontFile3"].iter().any(|k| desc.contains_key(k));
        if let Some(a) = desc.get::<f64>(b"Ascent") {
            let t = (0.001 * a).abs();
            if t != 0.0 && t < 3.0 {
                metrics.ascent = t;
            }
        }
        if let Some(d) = desc.get::<f64>(b"Descent") {
            let t = -(0.001 * d).abs();
            if t != 0.0 && t > -3.0 {
                metrics.descent = t;
            }
        }
    }
    // poppler: "for non-embedded fonts, don't trust the ascent/descent/bbox values from the font
    // descriptor".
    if let Some(b) = builtin
        && !embedded
    {
        metrics = b;
    }

    let (first_char, widths) = if kind == Kind::Simple || kind == Kind::Type3 {
        let first = font.get::<u32>(b"FirstChar").unwrap_or(0);
        let widths = font
            .get::<Array<'_>>(b"Widths")
            .map(|a| a.iter::<f32>().take(256).collect::<Vec<f32>>())
            .unwrap_or_default();
        (first, widths)
    } else {
        (0, Vec::new())
    };
    let missing_width = descriptor.as_ref().and_then(|d| d.get::<f32>(b"MissingWidth")).unwrap_or(0.0);
    let afm = if kind == Kind::Simple && !embedded { base_font.as_deref().and_then(afm_widths) } else { None };

    let width_scale = if kind == Kind::Type3 {
        font.get::<Array<'_>>(b"FontMatrix").and_then(|m| m.iter::<f32>().next()).map_or(1.0, |a| a * 1000.0)
    } else {
        1.0
    };

    let differences = if kind == Kind::Type0 { Vec::new() } else { ascii_differences(font) };
    let symbolic = name.as_deref().is_some_and(|n| {
        let n = n.to_ascii_lowercase();
        ["symbol", "zapfdingbats", "dingbats", "wingdings", "webdings"].iter().any(|s| n.starts_with(s))
    });

    Candidate {
        name,
        kind,
        metrics,
        first_char,
        widths,
        missing_width,
        afm,
        width_scale,
        id: font.obj_id(),
        symbolic,
        differences,
    }
}

/// The codes that a font's /Encoding /Differences array maps to glyph names of printable ASCII
/// characters.
fn ascii_differences(font: &Dict<'_>) -> Vec<(u8, char)> {
    let mut out = Vec::new();
    let Some(diffs) = font.get::<Dict<'_>>(b"Encoding").and_then(|e| e.get::<Array<'_>>(b"Differences")) else {
        return out;
    };
    let mut code: i64 = -1;
    for item in diffs.iter::<Object<'_>>().take(512) {
        match item {
            Object::Number(n) => code = n.as_f64() as i64,
            Object::Name(name) => {
                if let (Ok(c), Some(ch)) = (u8::try_from(code), ascii_for_glyph_name(name.as_str())) {
                    out.push((c, ch));
                }
                code += 1;
            }
            _ => {}
        }
    }
    out
}

/// The printable ASCII character an Adobe glyph name stands for.
fn ascii_for_glyph_name(name: &str) -> Option<char> {
    const NAMES: [&str; 32] = [
        "exclam",
        "quotedbl",
        "numbersign",
        "dollar",
        "percent",
        "ampersand",
        "quotesingle",
        "parenleft",
        "parenright",
        "asterisk",
        "plus",
        "comma",
        "hyphen",
        "period",
        "slash",
        "colon",
        "semicolon",
        "less",
        "equal",
        "greater",
        "question",
        "at",
        "bracketleft",
        "backslash",
        "bracketright",
        "asciicircum",
        "underscore",
        "grave",
        "braceleft",
        "bar",
        "braceright",
        "asciitilde",
    ];
    const CHARS: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    const DIGITS: [&str; 10] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && c.is_ascii_alphabetic()
    {
        return Some(c);
    }
    if let Some(i) = DIGITS.iter().position(|d| *d == name) {
        return char::from_digit(i as u32, 10);
    }
    NAMES.iter().position(|n| *n == name).and_then(|i| CHARS.chars().nth(i))
}

/// Ascent/descent of the standard 14 fonts and their common aliases (poppler's built-in font
/// table, which comes from the AFM files).
pub(crate) fn builtin_metrics(base_font: &str) -> Option<Metrics> {
    let family = base14_family(base_font)?;
    let (ascent, descent) = match family {
        Base14::Courier => (629.0, -157.0),
        Base14::Helvetica => (718.0, -207.0),
        Base14::Times => (683.0, -217.0),
        Base14::Symbol => (1010.0, -293.0),
        Base14::ZapfDingbats => (820.0, -143.0),
    };
    Some(Metrics { ascent: ascent / 1000.0, descent: descent / 1000.0 })
}

#[derive(Clone, Copy)]
enum Base14 {
    Courier,
    Helvetica,
    Times,
    Symbol,
    ZapfDingbats,
}

/// poppler's base-14 alias table (`base14FontMap`), reduced to font families: the names that map to
/// each family, with any `,Bold`/`-BoldItalicMT`… style suffix.
fn base14_family(name: &str) -> Option<Base14> {
    base14_style(name).map(|(family, _, _)| family)
}

/// AFM widths (printable ASCII) of a standard font name, for telling fonts without /Widths apart.
pub(crate) fn afm_widths(name: &str) -> Option<&'static [u16; 95]> {
    Some(match base14_style(name)? {
        (Base14::Helvetica, false, _) => &afm::HELVETICA,
        (Base14::Helvetica, true, _) => &afm::HELVETICA_BOLD,
        (Base14::Times, false, false) => &afm::TIMES_ROMAN,
        (Base14::Times, true, false) => &afm::TIMES_BOLD,
        (Base14::Times, false, true) => &afm::TIMES_ITALIC,
        (Base14::Times, true, true) => &afm::TIMES_BOLD_ITALIC,
        (Base14::Courier, _, _) => &afm::COURIER,
        (Base14::Symbol | Base14::ZapfDingbats, _, _) => return None,
    })
}

/// Family, bold, italic.
fn base14_style(name: &str) -> Option<(Base14, bool, bool)> {
    let stem = name.split([',', '-']).next().unwrap_or(name);
    let style = &name[stem.len()..];
    let style_ok = matches!(
        style,
        "" | ",Bold"
            | ",BoldItalic"
            | ",Italic"
            | "-Bold"
            | "-BoldItalic"
            | "-BoldOblique"
            | "-Italic"
            | "-Oblique"
            | "-Roman"
            | "-BoldMT"
            | "-BoldItalicMT"
            | "-ItalicMT"
    );
    if !style_ok {
        return None;
    }
    let bold = style.contains("Bold");
    let italic = style.contains("Italic") || style.contains("Oblique");
    let family = match stem {
        "Courier" | "CourierNew" | "CourierNewPS" | "CourierNewPSMT" => Some(Base14::Courier),
        "Helvetica" | "Arial" | "ArialMT" => Some(Base14::Helvetica),
        "Times" | "TimesNewRoman" | "TimesNewRomanPS" | "TimesNewRomanPSMT" => {
            // Plain "Times" only exists with a style suffix ("Times-Roman", "Times-Bold", …).
            (stem != "Times" || !style.is_empty()).then_some(Base14::Times)
        }
        "Symbol" => Some(Base14::Symbol),
        "ZapfDingbats" => Some(Base14::ZapfDingbats),
        _ => None,
    }?;
    Some((family, bold, italic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base14_aliases() {
        assert_eq!(builtin_metrics("Helvetica").map(|m| m.ascent), Some(0.718));
        assert_eq!(builtin_metrics("Helvetica-BoldOblique").map(|m| m.descent), Some(-0.207));
        assert_eq!(builtin_metrics("Arial,Bold").map(|m| m.ascent), Some(0.718));
        assert_eq!(builtin_metrics("Times-Roman").map(|m| m.ascent), Some(0.683));
        assert_eq!(builtin_metrics("TimesNewRomanPSMT").map(|m| m.ascent), Some(0.683));
        assert_eq!(builtin_metrics("Courier-Oblique").map(|m| m.ascent), Some(0.629));
        assert_eq!(builtin_metrics("ZapfDingbats").map(|m| m.ascent), Some(0.82));
        assert!(builtin_metrics("Times").is_none());
        assert!(builtin_metrics("DejaVuSans").is_none());
        assert!(builtin_metrics("ABCDEF+Helvetica").is_none());
    }

    #[test]
    fn glyph_names() {
        assert_eq!(ascii_for_glyph_name("bracketleft"), Some('['));
        assert_eq!(ascii_for_glyph_name("bar"), Some('|'));
        assert_eq!(ascii_for_glyph_name("asciitilde"), Some('~'));
        assert_eq!(ascii_for_glyph_name("backslash"), Some('\\'));
        assert_eq!(ascii_for_glyph_name("quotedbl"), Some('"'));
        assert_eq!(ascii_for_glyph_name("seven"), Some('7'));
        assert_eq!(ascii_for_glyph_name("Q"), Some('Q'));
        assert_eq!(ascii_for_glyph_name("Eacute"), None);
        assert_eq!(ascii_for_glyph_name("g12"), None);
    }
}

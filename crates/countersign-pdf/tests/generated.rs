//! Hand-written PDFs covering producer behaviour beyond the shared fixtures, each checked against
//! poppler's `pdftotext -bbox` where it is installed.

mod common;

use common::{
    PageSpec, PdfBuilder, TempFile, assert_rects_match_poppler, normalize_tag, poppler_words, qpdf_path, simple_pdf,
};
use countersign_pdf::{Analysis, FieldType, Limits, PdfError, TagSigner, analyze, page_count, parse_tag};
use std::process::Command;

fn tag_texts(a: &Analysis) -> Vec<(u32, String)> {
    a.tags.iter().map(|t| (t.page, normalize_tag(&t.text))).collect()
}

fn want(tags: &[(u32, &str)]) -> Vec<(u32, String)> {
    tags.iter().map(|(p, t)| (*p, t.to_string())).collect()
}

/// Analyze, check the tags (in order), and compare rectangles with poppler.
fn check(name: &str, bytes: &[u8], expected: &[(u32, &str)]) -> Analysis {
    let analysis = analyze(bytes, &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(tag_texts(&analysis), want(expected), "{name}");
    for t in &analysis.tags {
        parse_tag(&t.text).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let file = TempFile::new(&format!("{name}.pdf"), bytes);
    if let Some(worst) = assert_rects_match_poppler(&file.0, &analysis, 1.0) {
        println!("{name}: largest edge difference from pdftotext {worst:.4} pt");
    }
    analysis
}

#[test]
fn tj_array_with_kerning_splits_a_tag() {
    let pdf = simple_pdf(&[PageSpec::new(
        "BT /F1 12 Tf 72 700 Td (Please sign here:) Tj ET\n\
         BT /F1 12 Tf 72 680 Td [([sig|r) 30 (eq|sig) -40 (ner1]) ] TJ ET\n\
         BT /F1 12 Tf 72 650 Td ([date|) Tj [(req) 50 (|sig)] TJ (ner2]) Tj ET\n\
         BT /F1 12 Tf 72 620 Td [([) 20 (t) -10 (e) 15 (x) (t) (|) (n) (o) (r) (e) (q) (|) (s) (i) (g) (n) (e) (r) (1) (|) (N) (a) (m) (e) (])] TJ ET\n",
    )]);
    check("tj-kerning", &pdf, &[(1, "[sig|req|signer1]"), (1, "[date|req|signer2]"), (1, "[text|noreq|signer1|Name]")]);
}

#[test]
fn letter_spaced_and_justified_text() {
    // Character spacing of 0.2 em between every glyph, and word spacing in justified text.
    let pdf = simple_pdf(&[PageSpec::new(
        "BT /F1 10 Tf 2 Tc 72 700 Td ([sig|req|signer1]) Tj ET\n\
         BT /F1 10 Tf 0 Tc 6 Tw 72 650 Td (Sign here please [date|req|signer1] and here [initial|req|signer1] thanks) Tj ET\n",
    )]);
    let a = check(
        "letter-spaced",
        &pdf,
        &[(1, "[sig|req|signer1]"), (1, "[date|req|signer1]"), (1, "[initial|req|signer1]")],
    );
    // The letter-spaced tag is reported without spurious spaces.
    assert_eq!(a.tags[0].text, "[sig|req|signer1]");
}

#[test]
fn one_glyph_per_text_object() {
    // Like the per-glyph producer, but with Td moves and a space glyph inside the label.
    let text = "[text|req|signer1|Full name|full_name]";
    let mut content = String::from("BT /F1 10 Tf 72 500 Td\n");
    let widths = helvetica_widths(text);
    for (ch, w) in text.chars().zip(widths) {
        let esc = if ch == '(' || ch == ')' || ch == '\\' { format!("\\{ch}") } else { ch.to_string() };
        content.push_str(&format!("({esc}) Tj {:.3} 0 Td\n", w * 10.0 / 1000.0));
    }
    content.push_str("ET\n");
    check("per-glyph-td", &simple_pdf(&[PageSpec::new(content)]), &[(1, text)]);
}

#[test]
fn rotated_pages() {
    let content =
        "BT /F1 12 Tf 100 500 Td ([sig|req|signer1]) Tj ET BT /F2 14 Tf 300 200 Td ([date|req|signer1]) Tj ET";
    let pdf = simple_pdf(&[
        PageSpec::new(content).with("/Rotate 90"),
        PageSpec::new(content).with("/Rotate 180"),
        PageSpec::new(content).with("/Rotate 270"),
        PageSpec::new(content).with("/Rotate -90"),
    ]);
    let a = check(
        "rotated",
        &pdf,
        &[
            (1, "[sig|req|signer1]"),
            (1, "[date|req|signer1]"),
            (2, "[sig|req|signer1]"),
            (2, "[date|req|signer1]"),
            (3, "[sig|req|signer1]"),
            (3, "[date|req|signer1]"),
            (4, "[sig|req|signer1]"),
            (4, "[date|req|signer1]"),
        ],
    );
    for (i, p) in a.pages.iter().enumerate() {
        if i == 1 {
            assert_eq!((p.width, p.height), (612.0, 792.0));
        } else {
            assert_eq!((p.width, p.height), (792.0, 612.0), "page {}", i + 1);
        }
    }
    // On the 270° page the text runs bottom-to-top: the field is tall and narrow.
    let t = &a.tags[4];
    assert_eq!(t.page, 3);
    assert!(t.rect.height > 3.0 * t.rect.width, "{t:?}");
}

#[test]
fn scaled_font_text_matrix_and_ctm() {
    let pdf = simple_pdf(&[PageSpec::new(
        "BT /F1 10 Tf 2 0 0 2 72 600 Tm ([text|req|signer1|Name]) Tj ET\n\
         q 1.5 0 0 1.5 0 0 cm BT /F2 10 Tf 50 300 Td ([initial|req|signer2]) Tj ET Q\n\
         BT /F1 12 Tf 150 Tz 72 300 Td ([sig|req|signer2]) Tj ET\n\
         BT /F1 9 Tf 1 0 0 1.6 72 200 Tm ([check|noreq|signer1]) Tj ET\n",
    )]);
    let a = check(
        "scaled",
        &pdf,
        &[
            (1, "[text|req|signer1|Name]"),
            (1, "[initial|req|signer2]"),
            (1, "[sig|req|signer2]"),
            (1, "[check|noreq|signer1]"),
        ],
    );
    // 20 pt text: the box is 20 × (0.718 + 0.207) high.
    assert!((a.tags[0].rect.height - 18.5).abs() < 0.01, "{:?}", a.tags[0]);
}

#[test]
fn two_tags_on_a_line_and_text_right_after_a_tag() {
    let pdf = simple_pdf(&[PageSpec::new(
        "BT /F1 11 Tf 72 500 Td ([sig|req|signer1]) Tj 150 0 Td ([date|req|signer1]) Tj ET\n\
         BT /F1 11 Tf 72 450 Td (Sign:[sig|req|signer2]Signed on [date|req|signer2] by [1] [see note] [a|b]) Tj ET\n\
         BT /F1 11 Tf 72 400 Td ([sig|req|signer2]) Tj ET\n",
    )]);
    let analysis = analyze(&pdf, &Limits::default()).expect("analyze");
    assert_eq!(
        tag_texts(&analysis),
        want(&[
            (1, "[sig|req|signer1]"),
            (1, "[date|req|signer1]"),
            (1, "[sig|req|signer2]"),
            (1, "[date|req|signer2]"),
            (1, "[sig|req|signer2]"),
        ])
    );
    // Reading order: top to bottom.
    let ys: Vec<f64> = analysis.tags.iter().map(|t| t.rect.y).collect();
    assert!(ys.windows(2).all(|w| w[0] <= w[1] + 0.001), "{ys:?}");

    // The glued tag ("Sign:[sig…]Signed") has the same width as the stand-alone one.
    let glued = analysis
        .tags
        .iter()
        .find(|t| t.rect.y > 330.0 && t.rect.y < 340.0 && t.text.starts_with("[sig"))
        .expect("glued");
    let alone = analysis.tags.iter().find(|t| t.rect.y > 380.0 && t.text.starts_with("[sig")).expect("alone");
    assert!((glued.rect.width - alone.rect.width).abs() < 0.01, "{glued:?} vs {alone:?}");
    assert!((glued.rect.height - alone.rect.height).abs() < 0.01);

    // Compare with poppler where the tag is its own word.
    let file = TempFile::new("two-tags.pdf", &pdf);
    if let Some(pages) = poppler_words(&file.0) {
        for t in &analysis.tags {
            let run = common::poppler_union_for(&pages[0], t).expect("poppler words");
            assert!(common::run_diff(t, &run) <= 1.0, "{t:?} vs {run:?}");
        }
        // A glued word ("Sign:[sig|req|signer2]Signed") contains the tag's box.
        let w = pages[0].iter().find(|w| w.text.starts_with("Sign:")).expect("poppler word");
        assert!((w.y0 - glued.rect.y).abs() < 1.0 && (w.y1 - (glued.rect.y + glued.rect.height)).abs() < 1.0);
        assert!(glued.rect.x > w.x0 && glued.rect.x + glued.rect.width < w.x1);
    }
}

#[test]
fn inherited_page_attributes_and_form_xobjects() {
    // MediaBox, Rotate and Resources are on the Pages node; one tag is inside a form XObject with
    // its own font resources; a page has an array of content streams.
    let mut b = PdfBuilder::new();
    let catalog = b.reserve();
    let pages = b.reserve();
    let helv = b.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
    let courier = b.add("<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>");
    let form = b.stream(
        &format!("/Type /XObject /Subtype /Form /BBox [0 0 300 100] /Matrix [1 0 0 1 0 0] /Resources << /Font << /C {courier} 0 R >> >>"),
        b"BT /C 12 Tf 10 40 Td ([initial|req|signer1]) Tj ET",
    );
    let c1 = b.stream("", b"BT /F1 12 Tf 72 700 Td ([sig|req|signer1]) Tj ET q 1 0 0 1 72 500 cm /Fm1 Do Q");
    // Content streams may only be split between tokens.
    let c2a = b.stream("", b"BT /F1 12 Tf 72 700 Td ([text|req|signer1])");
    let c2b = b.stream("", b"Tj ET");
    let p1 = b.add(format!("<< /Type /Page /Parent {pages} 0 R /Contents {c1} 0 R >>"));
    let p2 = b.add(format!("<< /Type /Page /Parent {pages} 0 R /Contents [{c2a} 0 R {c2b} 0 R] /Rotate 0 >>"));
    b.set(
        pages,
        format!(
            "<< /Type /Pages /Kids [{p1} 0 R {p2} 0 R] /Count 2 /MediaBox [0 0 595 842] /Rotate 90 \
             /Resources << /Font << /F1 {helv} 0 R >> /XObject << /Fm1 {form} 0 R >> >> >>"
        ),
    );
    b.set(catalog, format!("<< /Type /Catalog /Pages {pages} 0 R >>"));
    b.root(catalog);
    let pdf = b.finish();
    let a =
        check("inherited", &pdf, &[(1, "[sig|req|signer1]"), (1, "[initial|req|signer1]"), (2, "[text|req|signer1]")]);
    assert_eq!((a.pages[0].width, a.pages[0].height), (842.0, 595.0));
    assert_eq!((a.pages[1].width, a.pages[1].height), (595.0, 842.0));
    assert_eq!(page_count(&pdf), Ok(2));
}

#[test]
fn coordinates_are_relative_to_the_media_box_not_the_crop_box() {
    // Plain `pdftotext -bbox` (the oracle) lays the page out on the media box and ignores the
    // crop box; so do we, for the rectangles and for the page size.
    let pdf = simple_pdf(&[PageSpec::new(
        "BT /F1 12 Tf 100 600 Td ([sig|req|signer1]) Tj ET\n\
         BT /F1 12 Tf 20 20 Td ([date|req|signer1]) Tj ET\n\
         BT /F1 12 Tf 480 760 Td ([text|req|signer1]) Tj ET\n",
    )
    .with("/CropBox [50 50 562 742]")]);
    // The second and third tags lie outside the crop box but inside the media box: kept.
    let a = check(
        "media-box-vs-crop-box",
        &pdf,
        &[(1, "[text|req|signer1]"), (1, "[sig|req|signer1]"), (1, "[date|req|signer1]")],
    );
    assert_eq!(a.pages.len(), 1);
    assert_eq!((a.pages[0].width, a.pages[0].height), (612.0, 792.0));
    // What poppler 22.12 `pdftotext -bbox` prints for the first tag (`check` above compares with
    // the installed pdftotext): xMin 100, yMin 183.384, xMax 184.936, yMax 194.484, i.e.
    // x = 100, top = (792 - 600) - 0.718 × 12 (Helvetica ascent), bottom = 192 + 0.207 × 12.
    let t = &a.tags[1];
    assert_eq!(t.text, "[sig|req|signer1]");
    let (x0, y0, x1, y1) = (t.rect.x, t.rect.y, t.rect.x + t.rect.width, t.rect.y + t.rect.height);
    for (ours, poppler) in [(x0, 100.0), (y0, 183.384), (x1, 184.936), (y1, 194.484)] {
        assert!((ours - poppler).abs() <= 1.0, "{t:?}");
    }
    assert!((x0 - 100.0).abs() < 1e-6 && (y0 - 183.384).abs() < 1e-6, "{t:?}");
}

#[test]
fn offset_media_box_with_crop_box_and_rotation() {
    // A media box that does not start at the origin, a crop box inside it, and every /Rotate.
    let content = "BT /F1 12 Tf 300 700 Td ([sig|req|signer1]) Tj ET\n\
                   BT /F2 12 Tf 120 220 Td ([date|req|signer1]) Tj ET\n";
    let boxes = "/MediaBox [100 200 712 992] /CropBox [150 250 600 900]";
    let pdf = simple_pdf(&[
        PageSpec::new(content).with(boxes),
        PageSpec::new(content).with(&format!("{boxes} /Rotate 90")),
        PageSpec::new(content).with(&format!("{boxes} /Rotate 180")),
        PageSpec::new(content).with(&format!("{boxes} /Rotate 270")),
    ]);
    let a = analyze(&pdf, &Limits::default()).expect("analyze");
    let mut texts = tag_texts(&a);
    texts.sort();
    let mut expected = Vec::new();
    for page in 1..=4 {
        expected.push((page, "[date|req|signer1]".to_string()));
        expected.push((page, "[sig|req|signer1]".to_string()));
    }
    assert_eq!(texts, expected);
    let sizes: Vec<(f64, f64)> = a.pages.iter().map(|p| (p.width, p.height)).collect();
    assert_eq!(sizes, [(612.0, 792.0), (792.0, 612.0), (612.0, 792.0), (792.0, 612.0)]);
    // Unrotated: x = 300 - 100, top = (992 - 700) - 0.718 × 12.
    let t = a.tags.iter().find(|t| t.page == 1 && t.text.starts_with("[sig")).expect("tag");
    assert!((t.rect.x - 200.0).abs() < 1e-6 && (t.rect.y - (292.0 - 8.616)).abs() < 1e-6, "{t:?}");
    let file = TempFile::new("offset-media-box.pdf", &pdf);
    if let Some(worst) = assert_rects_match_poppler(&file.0, &a, 1.0) {
        println!("offset-media-box: largest edge difference from pdftotext {worst:.4} pt");
    }
}

#[test]
fn off_page_text_is_dropped_like_poppler() {
    let pdf = simple_pdf(&[
        PageSpec::new(
            "BT /F1 12 Tf 100 600 Td ([sig|req|signer1]) Tj ET\n\
             BT /F1 12 Tf 100 50 Td ([text|req|signer1]) Tj ET\n",
        )
        .with("/CropBox [50 100 562 742]"),
        PageSpec::new(
            "BT /F1 12 Tf -400 700 Td ([sig|req|signer2]) Tj ET\n\
             BT /F1 12 Tf 72 900 Td ([date|req|signer2]) Tj ET\n\
             BT /F1 12 Tf 72 100 Td ([initial|req|signer2]) Tj ET\n\
             BT /F1 12 Tf 300 -2 Td ([check|req|signer2]) Tj ET\n\
             BT /F1 12 Tf 300 794 Td ([text|req|signer2]) Tj ET\n",
        ),
    ]);
    // Page 1: outside the crop box is still on the page. Page 2: left of, above and below the
    // media box. poppler drops a glyph by its origin (and advance), not its box: the baseline
    // 2 pt below the bottom edge (the glyphs' tops on the page) and 2 pt above the top edge (the
    // descenders on the page) are both dropped.
    check("off-page", &pdf, &[(1, "[sig|req|signer1]"), (1, "[text|req|signer1]"), (2, "[initial|req|signer2]")]);
    if let Some(pages) = poppler_words(&TempFile::new("off-page-words.pdf", &pdf).0) {
        let words: Vec<&str> = pages[1].iter().map(|w| w.text.as_str()).collect();
        assert_eq!(words, ["[initial|req|signer2]"]);
    }
}

#[test]
fn missing_or_empty_media_box_is_us_letter_like_poppler() {
    // No /MediaBox anywhere: poppler uses US Letter (hayro alone would use A4). A [0 0 0 0] box is
    // invalid to poppler: the inherited one applies (Letter on the first document's second page,
    // 400 × 500 from the Pages node in the second document).
    let doc = |pages_extra: &str, page_extras: &[&str]| {
        let mut b = PdfBuilder::new();
        let catalog = b.reserve();
        let pages = b.reserve();
        let helv = b.add("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
        let content = b.stream("", b"BT /F1 12 Tf 100 300 Td ([sig|req|signer1]) Tj ET");
        let kids: Vec<String> = page_extras
            .iter()
            .map(|extra| {
                let id = b.add(format!(
                    "<< /Type /Page /Parent {pages} 0 R {extra} /Resources << /Font << /F1 {helv} 0 R >> >> /Contents {content} 0 R >>"
                ));
                format!("{id} 0 R")
            })
            .collect();
        b.set(pages, format!("<< /Type /Pages /Kids [{}] /Count {} {pages_extra} >>", kids.join(" "), kids.len()));
        b.set(catalog, format!("<< /Type /Catalog /Pages {pages} 0 R >>"));
        b.root(catalog);
        b.finish()
    };
    let letter = doc("", &["", "/MediaBox [0 0 0 0]"]);
    let a = check("no-media-box", &letter, &[(1, "[sig|req|signer1]"), (2, "[sig|req|signer1]")]);
    for p in &a.pages {
        assert_eq!((p.width, p.height), (612.0, 792.0));
    }
    assert!((a.tags[0].rect.y - (492.0 - 8.616)).abs() < 1e-6, "{:?}", a.tags[0]);

    let inherited = doc("/MediaBox [0 0 400 500]", &["/MediaBox [0 0 0 0]"]);
    let a = check("empty-media-box", &inherited, &[(1, "[sig|req|signer1]")]);
    assert_eq!((a.pages[0].width, a.pages[0].height), (400.0, 500.0));
    assert!((a.tags[0].rect.y - (200.0 - 8.616)).abs() < 1e-6, "{:?}", a.tags[0]);
}

#[test]
fn overlapping_strings_on_one_baseline_are_not_interleaved() {
    let pdf = simple_pdf(&[PageSpec::new(
        "BT /F1 12 Tf 20 600 Td ([date|req|signer1]) Tj ET\n\
         BT /F1 12 Tf 100 600 Td ([sig|req|signer1]) Tj ET\n",
    )]);
    check("overlap", &pdf, &[(1, "[date|req|signer1]"), (1, "[sig|req|signer1]")]);
}

#[test]
fn fill_stroke_and_invisible_text_are_found_once() {
    let pdf = simple_pdf(&[PageSpec::new(
        "BT /F1 12 Tf 2 Tr 72 700 Td ([sig|req|signer1]) Tj ET\n\
         BT /F1 12 Tf 3 Tr 72 650 Td ([date|req|signer1]) Tj ET\n\
         BT /F1 12 Tf 0 Tr 72 600 Td ([text|req|signer1]) Tj ET\n\
         BT /F1 12 Tf 0 Tr 72.2 600 Td ([text|req|signer1]) Tj ET\n",
    )]);
    let a = analyze(&pdf, &Limits::default()).expect("analyze");
    assert_eq!(tag_texts(&a), want(&[(1, "[sig|req|signer1]"), (1, "[date|req|signer1]"), (1, "[text|req|signer1]")]));
}

#[test]
fn padded_and_spaced_tags() {
    let pdf = simple_pdf(&[PageSpec::new(
        "BT /F1 12 Tf 72 700 Td ([sig|req|signer1            ]) Tj ET\n\
         BT /F1 12 Tf 72 650 Td ([text|req|signer2|Your name|name_id______]) Tj ET\n\
         BT /F1 12 Tf 72 600 Td ([ check | noreq | signer1 ]) Tj ET\n",
    )]);
    let a = check(
        "padded",
        &pdf,
        &[(1, "[sig|req|signer1]"), (1, "[text|req|signer2|Your name|name_id______]"), (1, "[check|noreq|signer1]")],
    );
    // The padding widens the field.
    assert!(a.tags[0].rect.width > 100.0, "{:?}", a.tags[0]);
    let t = parse_tag(&a.tags[1].text).expect("parse");
    assert_eq!(t.api_id.as_deref(), Some("name_id"));
    assert_eq!(t.signer, TagSigner::Signer(2));
    assert_eq!(parse_tag(&a.tags[2].text).expect("parse").field_type, FieldType::Checkbox);
}

fn qpdf(args: &[&str], input: &[u8], name: &str) -> Option<Vec<u8>> {
    let exe = qpdf_path()?;
    let src = TempFile::new(&format!("{name}-in.pdf"), input);
    let dst = TempFile::new(&format!("{name}-out.pdf"), b"");
    let status = Command::new(exe)
        .args(args.iter().map(|a| a.replace("IN", &src.0.to_string_lossy()).replace("OUT", &dst.0.to_string_lossy())))
        .status()
        .expect("run qpdf");
    // qpdf exits with 3 for warnings.
    assert!(status.code() == Some(0) || status.code() == Some(3), "qpdf {args:?} failed");
    Some(std::fs::read(&dst.0).expect("read qpdf output"))
}

fn tagged_doc() -> Vec<u8> {
    simple_pdf(&[
        PageSpec::new("BT /F1 12 Tf 72 700 Td ([sig|req|signer1]) Tj ET"),
        PageSpec::new("BT /F2 12 Tf 72 700 Td ([date|req|signer2]) Tj ET").with("/Rotate 90"),
    ])
}

const TAGGED: &[(u32, &str)] = &[(1, "[sig|req|signer1]"), (2, "[date|req|signer2]")];

#[test]
fn encrypted_with_empty_user_password() {
    let plain = tagged_doc();
    let cases: [(&str, &[&str]); 4] = [
        ("aes256", &["--encrypt", "", "owner", "256", "--", "IN", "OUT"]),
        ("aes128", &["--encrypt", "", "owner", "128", "--use-aes=y", "--", "IN", "OUT"]),
        ("rc4-128", &["--allow-weak-crypto", "--encrypt", "", "owner", "128", "--use-aes=n", "--", "IN", "OUT"]),
        ("rc4-40", &["--allow-weak-crypto", "--encrypt", "", "owner", "40", "--", "IN", "OUT"]),
    ];
    for (name, args) in cases {
        let Some(enc) = qpdf(args, &plain, name) else {
            eprintln!("NOTICE: qpdf not found; skipping encryption tests");
            return;
        };
        assert!(common::parse_bbox_html("").is_empty());
        assert!(enc.windows(8).any(|w| w == b"/Encrypt"), "{name}: not encrypted");
        check(&format!("enc-{name}"), &enc, TAGGED);
    }
}

#[test]
fn user_password_is_password_protected() {
    let Some(enc) = qpdf(&["--encrypt", "secret", "owner", "256", "--", "IN", "OUT"], &tagged_doc(), "userpw") else {
        eprintln!("NOTICE: qpdf not found; skipping");
        return;
    };
    assert_eq!(analyze(&enc, &Limits::default()), Err(PdfError::PasswordProtected));
    assert_eq!(page_count(&enc), Err(PdfError::PasswordProtected));
    assert_eq!(PdfError::PasswordProtected.to_string(), "the PDF is password-protected");
}

#[test]
fn object_streams_and_xref_streams() {
    let Some(packed) =
        qpdf(&["--object-streams=generate", "--compress-streams=y", "IN", "OUT"], &tagged_doc(), "objstm")
    else {
        eprintln!("NOTICE: qpdf not found; skipping");
        return;
    };
    check("objstm", &packed, TAGGED);
}

/// Helvetica AFM widths for ASCII (what poppler and hayro use for the non-embedded base-14 font).
fn helvetica_widths(s: &str) -> Vec<f64> {
    s.chars()
        .map(|c| match c {
            ' ' | '!' | ',' | '.' | '/' | ':' | ';' | '[' | ']' | 'I' | '\\' | 'f' | 't' => 278.0,
            'i' | 'j' | 'l' => 222.0,
            '|' => 260.0,
            'r' | '-' | '(' | ')' => 333.0,
            '_' | 'a' | 'b' | 'd' | 'e' | 'g' | 'h' | 'n' | 'o' | 'p' | 'q' | 'u' => 556.0,
            '0'..='9' => 556.0,
            'c' | 'k' | 's' | 'v' | 'x' | 'y' | 'z' | 'J' => 500.0,
            'm' | 'M' => 833.0,
            'w' => 722.0,
            'F' | 'T' | 'Z' => 611.0,
            'N' | 'H' | 'D' | 'U' | 'C' | 'R' => 722.0,
            'A' | 'B' | 'E' | 'K' | 'P' | 'S' | 'V' | 'X' | 'Y' => 667.0,
            'G' | 'O' | 'Q' => 778.0,
            'L' => 556.0,
            'W' => 944.0,
            _ => 556.0,
        })
        .collect()
}

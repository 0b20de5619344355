//! `countersign bench finalize`: the time to make a final copy — stamp every field's value (text
//! tags hidden), append the audit trail, seal — for a 1-page and a 200-page request, beside
//! `qpdf --linearize` of the same file, the floor of "rewrite this PDF once".

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use countersign_pdf::{AuditDocument, AuditSigner, AuditStep, AuditTrail, Rect, Stamp, StampContent, StampOptions};
use serde_json::{Value, json};

#[derive(Debug, Clone, clap::Args)]
pub struct FinalizeBenchArgs {
    /// The one-page document.
    #[arg(long, default_value = "fixtures/pdf/simple-two-signers.pdf")]
    pub small: PathBuf,
    /// A document repeated to make the large one (its copies are merged until it has `--pages`).
    #[arg(long, default_value = "fixtures/pdf/fifty-pages.pdf")]
    pub large: PathBuf,
    /// Pages of the large document (at least).
    #[arg(long, default_value_t = 200)]
    pub pages: usize,
    /// Rounds per document, for each of the two tools.
    #[arg(long, default_value_t = 7)]
    pub rounds: usize,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

/// A 240×80 RGBA PNG with a transparent background: a signature as the signer page sends it.
fn signature_png() -> Vec<u8> {
    let (w, h) = (240u32, 80u32);
    let mut pixels = vec![0u8; (w * h * 4) as usize];
    for x in 0..w {
        let y = (h as f64 / 2.0 + (x as f64 / 12.0).sin() * 20.0) as u32;
        for dy in 0..3 {
            let i = (((y + dy).min(h - 1) * w + x) * 4) as usize;
            pixels[i..i + 4].copy_from_slice(&[20, 30, 120, 255]);
        }
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("a PNG header");
        writer.write_image_data(&pixels).expect("PNG data");
    }
    out
}

/// Stamps for every tag of the document: an image for signatures and initials, text otherwise.
fn stamps_for(bytes: &[u8]) -> anyhow::Result<Vec<Stamp>> {
    let analysis = countersign_pdf::analyze(bytes, &countersign_pdf::Limits::default())?;
    let png = signature_png();
    Ok(analysis
        .tags
        .iter()
        .map(|t| {
            let image = t.text.starts_with("[sig") || t.text.starts_with("[initial");
            Stamp {
                page: t.page,
                rect: Rect { x: t.rect.x, y: t.rect.y, width: t.rect.width.max(60.0), height: t.rect.height.max(14.0) },
                content: if image {
                    StampContent::Image(png.clone())
                } else {
                    StampContent::Text("Zoë Łukasiewicz 张伟".into())
                },
            }
        })
        .collect())
}

fn trail(bytes: &[u8], sealer: &countersign_seal::Sealer) -> AuditTrail {
    use sha2::Digest;
    let step = |action: &str, at: i64| AuditStep {
        action: action.into(),
        at,
        ip: Some("203.0.113.7".into()),
        user_agent: Some(
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36".into(),
        ),
    };
    AuditTrail {
        title: "Benchmark agreement".into(),
        signature_request_id: "fa5c8a0b0f492d768749333ad6fcc214c111e967".into(),
        documents: vec![AuditDocument {
            name: "document.pdf".into(),
            sha256: hex::encode(sha2::Sha256::digest(bytes)),
        }],
        signers: ["Ann Example", "Bo Example"]
            .iter()
            .map(|name| AuditSigner {
                name: name.to_string(),
                email: "signer@example.com".into(),
                steps: vec![step("Sent", 1_796_650_000), step("Viewed", 1_796_650_100), step("Signed", 1_796_650_200)],
            })
            .collect(),
        sent_at: Some(1_796_650_000),
        completed_at: Some(1_796_650_200),
        stamped_sha256: "0".repeat(64),
        sealed_by: sealer.identity().subject(),
        certificate_sha256: sealer.identity().fingerprint(),
        page_size: countersign_pdf::LETTER_SIZE,
    }
}

/// One final copy: (stamp, audit + placeholder, seal) in milliseconds, and the file.
fn finalize(bytes: &[u8], stamps: &[Stamp], sealer: &countersign_seal::Sealer) -> anyhow::Result<([f64; 3], Vec<u8>)> {
    let t0 = Instant::now();
    let stamped = countersign_pdf::stamp(bytes, stamps, StampOptions { hide_text_tags: true })?;
    let t1 = Instant::now();
    let prepared =
        countersign_pdf::prepare_final(&stamped, &trail(bytes, sealer), &sealer.spec("https://bench", 1_796_650_300))?;
    let t2 = Instant::now();
    let sealed = sealer.seal(prepared)?;
    let t3 = Instant::now();
    let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1000.0;
    Ok(([ms(t0, t1), ms(t1, t2), ms(t2, t3)], sealed))
}

fn qpdf_ms(path: &Path, out: &Path) -> anyhow::Result<f64> {
    let started = Instant::now();
    let status =
        std::process::Command::new("qpdf").arg("--linearize").arg(path).arg(out).status().context("running qpdf")?;
    // qpdf exits 3 for warnings, with a usable output.
    anyhow::ensure!(status.success() || status.code() == Some(3), "qpdf failed on {}", path.display());
    Ok(started.elapsed().as_secs_f64() * 1000.0)
}

pub fn run_finalize(args: FinalizeBenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let identity = countersign_seal::Identity::load(&countersign_seal::IdentitySource::Generated {
        dir: dir.path().join("seal"),
    })?;
    let sealer = countersign_seal::Sealer::new(identity);
    let small = std::fs::read(&args.small).with_context(|| format!("reading {}", args.small.display()))?;
    let part = std::fs::read(&args.large).with_context(|| format!("reading {}", args.large.display()))?;
    let per_part = countersign_pdf::page_count(&part)?.max(1);
    let copies = args.pages.div_ceil(per_part).max(1);
    let parts: Vec<&[u8]> = std::iter::repeat_n(part.as_slice(), copies).collect();
    let large = countersign_pdf::merge(&parts)?;
    let qpdf = Path::new("/usr/bin/qpdf").exists();
    let mut results = Vec::new();
    for (label, bytes) in [("small", small), ("large", large)] {
        let pages = countersign_pdf::page_count(&bytes)?;
        let stamps = stamps_for(&bytes)?;
        let input = dir.path().join(format!("{label}.pdf"));
        std::fs::write(&input, &bytes)?;
        eprintln!("bench finalize: {label}: {pages} pages, {} fields, {} rounds", stamps.len(), args.rounds);
        let (mut total, mut phases, mut theirs) = (Vec::new(), [Vec::new(), Vec::new(), Vec::new()], Vec::new());
        let mut size = 0;
        for round in 0..args.rounds {
            let (ms, sealed) = finalize(&bytes, &stamps, &sealer)?;
            size = sealed.len();
            anyhow::ensure!(sealer.verify(&sealed).intact, "the sealed copy does not verify");
            for (i, m) in ms.iter().enumerate() {
                phases[i].push(*m);
            }
            total.push(ms.iter().sum::<f64>());
            if qpdf {
                theirs.push(qpdf_ms(&input, &dir.path().join("linearized.pdf"))?);
            }
            eprintln!(
                "  round {}/{}: finalize {:.1} ms (stamp {:.1}, audit {:.1}, seal {:.1}){}",
                round + 1,
                args.rounds,
                total[round],
                ms[0],
                ms[1],
                ms[2],
                theirs.get(round).map(|t| format!(", qpdf --linearize {t:.1} ms")).unwrap_or_default()
            );
        }
        let [stamp, audit, seal] = phases.map(median);
        let (ours, floor) = (median(total), median(theirs));
        results.push(json!({
            "document": label,
            "pages": pages,
            "fields": stamps.len(),
            "finalize_ms": (ours * 10.0).round() / 10.0,
            "stamp_ms": (stamp * 10.0).round() / 10.0,
            "audit_ms": (audit * 10.0).round() / 10.0,
            "seal_ms": (seal * 10.0).round() / 10.0,
            "sealed_bytes": size,
            "qpdf_linearize_ms": if qpdf { json!((floor * 10.0).round() / 10.0) } else { Value::Null },
            "ratio_to_qpdf": if qpdf { json!((ours / floor * 100.0).round() / 100.0) } else { Value::Null },
        }));
    }
    println!("{}", json!({ "bench": "finalize", "rounds": args.rounds, "results": results }));
    Ok(())
}

//! Print the analysis of PDF files as JSON, or benchmark `analyze`.
//!
//! ```text
//! cargo run --release --example tags -- FILE.pdf [FILE.pdf …]
//! cargo run --release --example tags -- --bench 200 FILE.pdf [FILE.pdf …]
//! ```
//! With several files, one JSON object per line. `--bench N` analyzes every file N times and
//! prints the pages per second.

use countersign_pdf::{Limits, analyze, parse_tag};
use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut bench = None;
    if let Some(i) = args.iter().position(|a| a == "--bench") {
        let n = args.get(i + 1).and_then(|n| n.parse::<u32>().ok());
        let Some(n) = n else {
            eprintln!("--bench needs a number of iterations");
            return ExitCode::from(2);
        };
        bench = Some(n);
        args.drain(i..i + 2);
    }
    if args.is_empty() {
        eprintln!("usage: tags [--bench N] FILE.pdf [FILE.pdf …]");
        return ExitCode::from(2);
    }
    let mut files = Vec::new();
    for path in &args {
        match std::fs::read(path) {
            Ok(bytes) => files.push((path.clone(), bytes)),
            Err(e) => {
                eprintln!("{path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let limits = Limits::default();

    if let Some(n) = bench {
        let start = Instant::now();
        let mut pages = 0usize;
        let mut errors = 0usize;
        for _ in 0..n {
            for (_, bytes) in &files {
                match analyze(bytes, &limits) {
                    Ok(a) => pages += a.pages.len(),
                    Err(_) => errors += 1,
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{{\"iterations\":{n},\"files\":{},\"pages\":{pages},\"errors\":{errors},\"seconds\":{secs:.4},\"pages_per_second\":{:.1},\"files_per_second\":{:.1}}}",
            files.len(),
            pages as f64 / secs,
            (files.len() as f64 * f64::from(n)) / secs
        );
        return ExitCode::SUCCESS;
    }

    for (path, bytes) in &files {
        println!("{}", to_json(path, bytes, &limits));
    }
    ExitCode::SUCCESS
}

fn to_json(path: &str, bytes: &[u8], limits: &Limits) -> String {
    let mut out = String::new();
    let _ = write!(out, "{{\"file\":{}", quote(path));
    match analyze(bytes, limits) {
        Err(e) => {
            let _ = write!(out, ",\"error\":{}", quote(&e.to_string()));
        }
        Ok(a) => {
            out.push_str(",\"pages\":[");
            for (i, p) in a.pages.iter().enumerate() {
                let sep = if i > 0 { "," } else { "" };
                let _ = write!(out, "{sep}{{\"width\":{:.3},\"height\":{:.3}}}", p.width, p.height);
            }
            out.push_str("],\"tags\":[");
            for (i, t) in a.tags.iter().enumerate() {
                let sep = if i > 0 { "," } else { "" };
                let _ = write!(
                    out,
                    "{sep}{{\"page\":{},\"text\":{},\"x\":{:.3},\"y\":{:.3},\"width\":{:.3},\"height\":{:.3}",
                    t.page,
                    quote(&t.text),
                    t.rect.x,
                    t.rect.y,
                    t.rect.width,
                    t.rect.height
                );
                match parse_tag(&t.text) {
                    Ok(tag) => {
                        let _ = write!(
                            out,
                            ",\"type\":{},\"required\":{},\"signer\":{}",
                            quote(tag.field_type.api_name()),
                            tag.required,
                            quote(&tag.signer.to_string())
                        );
                    }
                    Err(e) => {
                        let _ = write!(out, ",\"error\":{}", quote(&e.message));
                    }
                }
                out.push('}');
            }
            out.push(']');
        }
    }
    out.push('}');
    out
}

fn quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\r' => q.push_str("\\r"),
            '\t' => q.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(q, "\\u{:04x}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

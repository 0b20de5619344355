//! Diagnostic: analyze randomly corrupted copies of PDFs and count outcomes (panics inside hayro
//! are caught and reported as `Unreadable`).
//!
//! ```text
//! cargo run --release --example mutate -- ROUNDS FILE.pdf [FILE.pdf …]
//! ```

use countersign_pdf::{Limits, PdfError, analyze};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100);
    let files: Vec<Vec<u8>> = args.filter_map(|p| std::fs::read(p).ok()).collect();
    let limits = Limits { timeout: Duration::from_secs(5), ..Limits::default() };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let (mut ok, mut err, mut panics, mut timeouts) = (0, 0, 0, 0);
    let mut slowest = Duration::ZERO;
    for _ in 0..rounds {
        for f in &files {
            let mut bytes = f.clone();
            for _ in 0..(1 + next() % 8) {
                let i = (next() as usize) % bytes.len();
                bytes[i] = next() as u8;
            }
            let start = Instant::now();
            match analyze(&bytes, &limits) {
                Ok(_) => ok += 1,
                Err(PdfError::TimedOut) => timeouts += 1,
                Err(PdfError::Unreadable(m)) if m.contains("reader failed") => panics += 1,
                Err(_) => err += 1,
            }
            slowest = slowest.max(start.elapsed());
        }
    }
    println!("ok {ok}, errors {err}, caught panics {panics}, timeouts {timeouts}, slowest {slowest:?}");
}

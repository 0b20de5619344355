//! Decompression-bomb guard for content streams.
//!
//! hayro decodes a stream in one go into a `Vec` with no size limit, so a few kilobytes of
//! `FlateDecode` data can ask for gigabytes. Before a page's content streams (and the form
//! XObjects it can draw) are handed to hayro, each one whose worst-case expansion could exceed
//! [`MAX_DECODED_STREAM`] is inflated into a fixed-size scratch buffer, counting bytes and stopping
//! at the limit, so the check itself uses constant memory.

use hayro_interpret::hayro_syntax::Filter;
use hayro_interpret::hayro_syntax::object::{Dict, Name, ObjectIdentifier, Stream};
use std::collections::HashSet;
use std::io::Read;

/// The largest decoded content stream accepted (per stream).
pub(crate) const MAX_DECODED_STREAM: usize = 64 << 20;

/// The largest expansion ratio of DEFLATE (a 258-byte match in about two bits).
const FLATE_RATIO: usize = 1032;
/// LZW with 12-bit codes can emit up to 4096 bytes per code.
const LZW_RATIO: usize = 2731;
const RUN_LENGTH_RATIO: usize = 128;

const MAX_FORMS: usize = 256;
const MAX_FORM_DEPTH: u32 = 8;

/// Check one stream. `Err(n)` means it decodes to at least `n` bytes, more than the limit.
pub(crate) fn check_stream(stream: &Stream<'_>) -> Result<(), usize> {
    let filters = stream.filters();
    let filters: Vec<Filter> = filters.into_iter().filter(|f| *f != Filter::Crypt).collect();
    if filters.is_empty() {
        return Ok(());
    }
    // The data hayro will decode (for an encrypted file, decrypting it costs a copy; /Length is not
    // trusted because hayro recovers streams whose /Length is wrong).
    let raw = stream.raw_data();
    let mut bound = raw.len().max(1);
    for f in &filters {
        let ratio = match f {
            Filter::FlateDecode => FLATE_RATIO,
            Filter::LzwDecode => LZW_RATIO,
            Filter::RunLengthDecode => RUN_LENGTH_RATIO,
            _ => 1,
        };
        bound = bound.saturating_mul(ratio);
    }
    if bound <= MAX_DECODED_STREAM {
        return Ok(());
    }
    // Only chains of FlateDecode are measured; other combinations are left to hayro.
    if !filters.iter().all(|f| *f == Filter::FlateDecode) {
        return Ok(());
    }
    let n = inflated_len(&raw, filters.len(), MAX_DECODED_STREAM);
    if n > MAX_DECODED_STREAM { Err(n) } else { Ok(()) }
}

fn looks_like_zlib(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => (cmf & 0x0f) == 8 && ((u16::from(*cmf) << 8) | u16::from(*flg)).is_multiple_of(31),
        _ => false,
    }
}

/// Decoded size of `layers` nested DEFLATE streams, counting at most a little past `cap`.
fn inflated_len(data: &[u8], layers: usize, cap: usize) -> usize {
    let mut reader: Box<dyn Read + '_> = if looks_like_zlib(data) {
        Box::new(flate2::read::ZlibDecoder::new(data))
    } else {
        Box::new(flate2::read::DeflateDecoder::new(data))
    };
    for _ in 1..layers {
        reader = Box::new(flate2::read::ZlibDecoder::new(reader));
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0usize;
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                total += n;
                if total > cap {
                    break;
                }
            }
        }
    }
    total
}

/// Check the form XObjects reachable from a resource dictionary.
pub(crate) fn check_forms(xobjects: &Dict<'_>) -> Result<(), usize> {
    let mut seen = HashSet::new();
    check_forms_inner(xobjects, 0, &mut seen)
}

fn check_forms_inner(xobjects: &Dict<'_>, depth: u32, seen: &mut HashSet<ObjectIdentifier>) -> Result<(), usize> {
    if depth >= MAX_FORM_DEPTH {
        return Ok(());
    }
    for key in xobjects.keys() {
        if seen.len() >= MAX_FORMS {
            return Ok(());
        }
        let Some(stream) = xobjects.get::<Stream<'_>>(key) else { continue };
        let dict = stream.dict();
        if dict.get::<Name<'_>>(b"Subtype").is_none_or(|s| s.as_str() != "Form") {
            continue;
        }
        if !seen.insert(stream.obj_id()) {
            continue;
        }
        check_stream(&stream)?;
        if let Some(inner) = dict.get::<Dict<'_>>(b"Resources").and_then(|r| r.get::<Dict<'_>>(b"XObject")) {
            check_forms_inner(&inner, depth + 1, seen)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn measures_nested_deflate_with_bounded_reads() {
        let plain = vec![b' '; 3 << 20];
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&plain).unwrap_or_default();
        let once = enc.finish().unwrap_or_default();
        assert_eq!(inflated_len(&once, 1, usize::MAX), plain.len());
        assert!(inflated_len(&once, 1, 1 << 20) <= (1 << 20) + 64 * 1024);

        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        enc.write_all(&once).unwrap_or_default();
        let twice = enc.finish().unwrap_or_default();
        assert_eq!(inflated_len(&twice, 2, usize::MAX), plain.len());
    }
}

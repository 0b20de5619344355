//! A ZIP archive of stored (uncompressed) entries: `GET /v3/signature_request/files/{id}?file_type=zip`
//! returns one entry per document. PDFs are compressed already, so storing costs little and needs no
//! compressor.

/// CRC-32 (IEEE), as ZIP needs it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut table = [0u32; 256];
    for (i, slot) in table.iter_mut().enumerate() {
        let mut c = i as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 { 0xEDB8_8320 ^ (c >> 1) } else { c >> 1 };
        }
        *slot = c;
    }
    let mut crc = 0xFFFF_FFFFu32;
    for b in bytes {
        crc = table[((crc ^ u32::from(*b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// Entry names made unique (`a.pdf`, `a (2).pdf`) so extracting never overwrites one document with
/// another.
fn unique_names(entries: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    entries
        .iter()
        .map(|(name, _)| {
            let clean: String = name.chars().map(|c| if matches!(c, '/' | '\\') { '_' } else { c }).collect();
            let (stem, ext) =
                clean.rsplit_once('.').map_or((clean.clone(), String::new()), |(s, e)| (s.into(), format!(".{e}")));
            let mut candidate = clean.clone();
            let mut n = 2;
            while !seen.insert(candidate.clone()) {
                candidate = format!("{stem} ({n}){ext}");
                n += 1;
            }
            candidate
        })
        .collect()
}

/// The archive. Sizes above 4 GiB are not supported (documents are limited far below that).
pub fn stored_zip(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let names = unique_names(entries);
    let mut out = Vec::new();
    let mut central = Vec::new();
    for ((_, bytes), name) in entries.iter().zip(&names) {
        let offset = out.len() as u32;
        let crc = crc32(bytes);
        let size = bytes.len() as u32;
        let name = name.as_bytes();
        // Local file header: version 2.0, UTF-8 names (flag bit 11), stored, DOS time 1980-01-01.
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&20u16.to_le_bytes());
        out.extend_from_slice(&0x0800u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0x0021u16.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name);
        out.extend_from_slice(bytes);
        // Central directory entry.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&0x0800u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0u16.to_le_bytes());
        central.extend_from_slice(&0x0021u16.to_le_bytes());
        central.extend_from_slice(&crc.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&size.to_le_bytes());
        central.extend_from_slice(&(name.len() as u16).to_le_bytes());
        central.extend_from_slice(&[0u8; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name);
    }
    let central_offset = out.len() as u32;
    let central_len = central.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&central_len.to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn duplicate_names_get_numbered() {
        let entries =
            vec![("a.pdf".to_owned(), vec![1]), ("a.pdf".to_owned(), vec![2]), ("x/y.pdf".to_owned(), vec![])];
        assert_eq!(unique_names(&entries), vec!["a.pdf", "a (2).pdf", "x_y.pdf"]);
    }
}

//! The locales Dropbox Sign supports (its "supported locales" constants page).

use crate::InvalidInput;

pub const SUPPORTED_LOCALES: &[&str] = &[
    "en-US", "fr-FR", "de-DE", "sv-SE", "zh-CN", "zh-TW", "da-DK", "nl-NL", "es-ES", "es-MX", "pt-BR", "pl-PL",
    "ja-JP", "ko-KR", "it-IT", "ru-RU", "nb-NO", "fi-FI", "th-TH", "id-ID", "ms-MY", "vi-VN",
];

/// Accepts a supported locale in any case (`en-us`) and returns its canonical spelling (`en-US`).
pub fn parse_locale(raw: &str, path: &str) -> Result<String, InvalidInput> {
    SUPPORTED_LOCALES
        .iter()
        .find(|l| l.eq_ignore_ascii_case(raw.trim()))
        .map(|l| (*l).to_owned())
        .ok_or_else(|| InvalidInput::new(path, format!("Unsupported locale: {raw:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonicalises_case_and_refuses_unknown() {
        assert_eq!(parse_locale("fr-fr", "locale").unwrap(), "fr-FR");
        assert_eq!(parse_locale("xx-YY", "locale").unwrap_err().path, "locale");
    }
}

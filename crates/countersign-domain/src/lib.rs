//! Countersign's domain: the types that can only be built valid (ids, e-mail addresses, callback URLs,
//! locales), the secrets (API keys, the instance master key) and the accounts and API apps built from them.
//!
//! Not for: HTTP (that is `countersign-api`) or SQL (that is `countersign-store`). Every input from a user
//! is parsed into one of these types at the edge; code deeper in never re-validates.

pub mod account;
pub mod api_app;
pub mod audit;
pub mod bulk;
pub mod callback_url;
pub mod email;
pub mod ids;
pub mod lifecycle;
pub mod links;
pub mod locale;
pub mod new_request;
pub mod oauth;
pub mod samples;
pub mod secrets;
pub mod signature_request;
pub mod signer_mail;
pub mod signing;
pub mod template;
pub mod time;
pub mod unclaimed_draft;

/// A reason an input was refused, naming the parameter it came from (Dropbox Sign's `error_path`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidInput {
    pub path: String,
    pub message: String,
}

impl InvalidInput {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }

    /// A required parameter that is absent, in Dropbox Sign's words.
    pub fn missing(path: &str) -> Self {
        Self::new(path, format!("Missing required parameter: {path}"))
    }
}

/// A boolean as JSON or a form sends it: `true`/`false`, `1`/`0` (number or text), text in any case;
/// empty text or `null` is absent. The one rule for every boolean parameter, at the edge and in the
/// worker alike.
pub fn parse_bool(value: &serde_json::Value) -> Result<Option<bool>, String> {
    use serde_json::Value;
    match value {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(Some(true)),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(Some(false)),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(Some(true)),
            "false" | "0" => Ok(Some(false)),
            "" => Ok(None),
            _ => Err(format!("{s:?} is not a boolean (use true, false, 1 or 0)")),
        },
        other => Err(format!("{other} is not a boolean (use true, false, 1 or 0)")),
    }
}

/// The longest name (of a signer, an app) accepted, in characters.
pub const MAX_NAME_CHARS: usize = 255;

/// A name as people see it in lists, e-mails and the audit trail: trimmed, not blank, at most `max`
/// characters, and no control characters (line breaks, NUL, escapes) that would break those.
pub fn parse_name(raw: &str, path: &str, max: usize) -> Result<String, InvalidInput> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(InvalidInput::new(path, "This value should not be blank"));
    }
    if name.chars().count() > max {
        return Err(InvalidInput::new(path, format!("The name must be at most {max} characters long")));
    }
    if name.chars().any(char::is_control) {
        return Err(InvalidInput::new(path, "The name may not contain control characters"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(parse_name("  Ada Lovelace ", "name", 255).unwrap(), "Ada Lovelace");
        assert_eq!(parse_name("   ", "name", 255).unwrap_err().path, "name");
        assert!(parse_name(&"x".repeat(256), "name", 255).is_err());
        for bad in ["a\u{0}b", "line\nbreak", "tab\there", "esc\u{1b}[31m"] {
            assert_eq!(parse_name(bad, "signers[0][name]", 255).unwrap_err().path, "signers[0][name]", "{bad:?}");
        }
    }
}

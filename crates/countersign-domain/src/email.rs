//! E-mail addresses, checked the way a sign-up form would: one `@`, a non-empty local part, a domain with
//! a dot, no spaces or control characters, at most 254 characters. Stored lower-cased in the domain part
//! only would surprise nobody, but Dropbox Sign echoes what it was given, so we keep the text as given and
//! compare case-insensitively in the store.

use crate::InvalidInput;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str, path: &str) -> Result<Self, InvalidInput> {
        let s = raw.trim();
        let invalid = || InvalidInput::new(path, format!("Invalid email address: {raw:?}"));
        if s.is_empty() {
            return Err(InvalidInput::new(path, "This value should not be blank"));
        }
        if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if local.is_empty() || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(s.to_owned()))
    }

    pub fn from_trusted(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        for ok in ["me@dropboxsign.com", "first.last+tag@sub.example.co.uk", " Zoë@exämple.de "] {
            assert!(EmailAddress::parse(ok, "email_address").is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_malformed_addresses_naming_the_parameter() {
        for bad in ["", "plain", "a@b", "a b@c.com", "@c.com", "a@@c.com", "a@.com", "a@c..com"] {
            let err = EmailAddress::parse(bad, "email_address").unwrap_err();
            assert_eq!(err.path, "email_address", "{bad}");
        }
    }
}

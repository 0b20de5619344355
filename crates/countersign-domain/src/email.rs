//! E-mail addresses, checked with the syntax of HTML's `<input type="email">` (what the official SDKs'
//! forms and Dropbox Sign accept): a local part of letters, digits and ``.!#$%&'*+/=?^_`{|}~-``, one
//! `@`, and a domain of dot-separated labels of letters, digits and inner hyphens (at most 63 each),
//! with at least one dot; at most 254 characters. Letters may be non-ASCII (internationalised
//! addresses). Anything else — `<script>@x.com`, quotes, spaces, control characters — is refused. Dropbox
//! Sign echoes what it was given, so the text is kept as given and compared case-insensitively in the store.

use crate::InvalidInput;

const LOCAL_SPECIALS: &str = ".!#$%&'*+/=?^_`{|}~-";

fn local_part_ok(local: &str) -> bool {
    !local.is_empty()
        && local.len() <= 64
        && local.chars().all(|c| (c.is_alphanumeric() && !c.is_control()) || LOCAL_SPECIALS.contains(c))
}

fn domain_ok(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.chars().count() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str, path: &str) -> Result<Self, InvalidInput> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(InvalidInput::new(path, "This value should not be blank"));
        }
        // Dropbox Sign's wording, with the exact parameter in `error_path`.
        let invalid = || InvalidInput::new(path, format!("{path} not valid"));
        if s.len() > 254 {
            return Err(invalid());
        }
        let (local, domain) = s.split_once('@').ok_or_else(invalid)?;
        if !local_part_ok(local) || !domain_ok(domain) {
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
        for ok in [
            "me@dropboxsign.com",
            "first.last+tag@sub.example.co.uk",
            " Zoë@exämple.de ",
            "o'brien@example.ie",
            "x_y=z@a-b.example",
        ] {
            assert!(EmailAddress::parse(ok, "email_address").is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_malformed_addresses_naming_the_parameter() {
        for bad in [
            "",
            "plain",
            "a@b",
            "a b@c.com",
            "@c.com",
            "a@@c.com",
            "a@.com",
            "a@c..com",
            "<script>@x.com",
            "\"quoted\"@x.com",
            "a@-x.com",
            "a@x-.com",
            "a@x_y.com",
            "a\u{0}@x.com",
            "a@x.com\u{7}",
            "a(b)@x.com",
        ] {
            let err = EmailAddress::parse(bad, "email_address").unwrap_err();
            assert_eq!(err.path, "email_address", "{bad}");
        }
        let err = EmailAddress::parse("nope", "signers[0][email_address]").unwrap_err();
        assert_eq!(err.message, "signers[0][email_address] not valid");
    }
}

//! API apps: a `client_id` that embedded requests are made under, with its own callback URL, allowed
//! domains, OAuth settings and white-labeling options.

use serde::{Deserialize, Serialize};

use crate::InvalidInput;
use crate::ids::{AccountId, ClientId};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiApp {
    pub client_id: ClientId,
    pub owner_account_id: AccountId,
    pub owner_email: String,
    pub name: String,
    pub domains: Vec<String>,
    pub callback_url: Option<String>,
    pub oauth: Option<OAuthSettings>,
    pub can_insert_everywhere: bool,
    pub white_labeling: Option<WhiteLabeling>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    pub callback_url: String,
    pub scopes: Vec<String>,
    /// Plain text here; sealed under the master key in the store.
    pub secret: String,
    pub charges_users: bool,
}

pub const OAUTH_SCOPES: &[&str] = &[
    "request_signature",
    "basic_account_info",
    "account_access",
    "signature_request_access",
    "template_access",
    "team_access",
    "api_app_access",
];

/// Colors and legal version of the signer page, each field with Dropbox Sign's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhiteLabeling {
    pub header_background_color: String,
    pub legal_version: String,
    pub link_color: String,
    pub page_background_color: String,
    pub primary_button_color: String,
    pub primary_button_color_hover: String,
    pub primary_button_text_color: String,
    pub primary_button_text_color_hover: String,
    pub secondary_button_color: String,
    pub secondary_button_color_hover: String,
    pub secondary_button_text_color: String,
    pub secondary_button_text_color_hover: String,
    pub text_color1: String,
    pub text_color2: String,
}

impl Default for WhiteLabeling {
    fn default() -> Self {
        let s = |v: &str| v.to_owned();
        Self {
            header_background_color: s("#1a1a1a"),
            legal_version: s("terms1"),
            link_color: s("#0061FE"),
            page_background_color: s("#f7f8f9"),
            primary_button_color: s("#0061FE"),
            primary_button_color_hover: s("#0061FE"),
            primary_button_text_color: s("#ffffff"),
            primary_button_text_color_hover: s("#ffffff"),
            secondary_button_color: s("#ffffff"),
            secondary_button_color_hover: s("#ffffff"),
            secondary_button_text_color: s("#0061FE"),
            secondary_button_text_color_hover: s("#0061FE"),
            text_color1: s("#808080"),
            text_color2: s("#ffffff"),
        }
    }
}

impl WhiteLabeling {
    /// Apply the given (field name, value) pairs on top of `self`, checking each one. Field names not
    /// in the schema are returned so the caller can warn about them.
    pub fn apply(&mut self, changes: &[(String, String)], path: &str) -> Result<Vec<String>, InvalidInput> {
        let mut ignored = Vec::new();
        for (name, value) in changes {
            let field_path = format!("{path}[{name}]");
            if name == "legal_version" {
                if value != "terms1" && value != "terms2" {
                    return Err(InvalidInput::new(field_path, "legal_version must be terms1 or terms2"));
                }
                self.legal_version = value.clone();
                continue;
            }
            let Some(slot) = self.color_slot(name) else {
                ignored.push(name.clone());
                continue;
            };
            if !is_hex_color(value) {
                return Err(InvalidInput::new(field_path, format!("{value:?} is not a color like #1A1A1A")));
            }
            *slot = value.clone();
        }
        Ok(ignored)
    }

    fn color_slot(&mut self, name: &str) -> Option<&mut String> {
        Some(match name {
            "header_background_color" => &mut self.header_background_color,
            "link_color" => &mut self.link_color,
            "page_background_color" => &mut self.page_background_color,
            "primary_button_color" => &mut self.primary_button_color,
            "primary_button_color_hover" => &mut self.primary_button_color_hover,
            "primary_button_text_color" => &mut self.primary_button_text_color,
            "primary_button_text_color_hover" => &mut self.primary_button_text_color_hover,
            "secondary_button_color" => &mut self.secondary_button_color,
            "secondary_button_color_hover" => &mut self.secondary_button_color_hover,
            "secondary_button_text_color" => &mut self.secondary_button_text_color,
            "secondary_button_text_color_hover" => &mut self.secondary_button_text_color_hover,
            "text_color1" => &mut self.text_color1,
            "text_color2" => &mut self.text_color2,
            _ => return None,
        })
    }
}

fn is_hex_color(s: &str) -> bool {
    s.len() == 7 && s.starts_with('#') && s[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// Most domains an app may list (the OpenAPI's `maxItems`).
pub const MAX_DOMAINS: usize = 10;

/// Checks an app's `domains`: 1 to 10 host names (no scheme, no path), stored lower-cased.
pub fn parse_domains(raw: &[String], path: &str) -> Result<Vec<String>, InvalidInput> {
    if raw.is_empty() {
        return Err(InvalidInput::new(path, "At least one domain is required"));
    }
    if raw.len() > MAX_DOMAINS {
        return Err(InvalidInput::new(path, format!("At most {MAX_DOMAINS} domains are allowed")));
    }
    raw.iter()
        .enumerate()
        .map(|(i, d)| {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            let label_ok = |l: &str| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            };
            let ok = !d.is_empty() && d.len() <= 253 && d.split('.').all(label_ok);
            if ok {
                Ok(d)
            } else {
                Err(InvalidInput::new(format!("{path}[{i}]"), format!("{d:?} is not a domain name")))
            }
        })
        .collect()
}

/// Whether a page on `host` may embed this app's signer pages: the host is one of the app's `domains` or
/// a subdomain of one (`app.example.com` for `example.com`), compared without case.
pub fn domain_allows(domains: &[String], host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    domains.iter().any(|d| host == *d || host.strip_suffix(d.as_str()).is_some_and(|rest| rest.ends_with('.')))
}

/// Checks an app name: not blank, at most 255 characters.
pub fn parse_app_name(raw: &str, path: &str) -> Result<String, InvalidInput> {
    crate::parse_name(raw, path, crate::MAX_NAME_CHARS)
}

/// Checks OAuth scopes against Dropbox Sign's list (an empty string is allowed there and ignored here).
pub fn parse_scopes(raw: &[String], path: &str) -> Result<Vec<String>, InvalidInput> {
    let mut scopes = Vec::new();
    for (i, s) in raw.iter().enumerate() {
        if s.is_empty() {
            continue;
        }
        if !OAUTH_SCOPES.contains(&s.as_str()) {
            return Err(InvalidInput::new(format!("{path}[{i}]"), format!("Unknown OAuth scope {s:?}")));
        }
        if !scopes.contains(s) {
            scopes.push(s.clone());
        }
    }
    Ok(scopes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_domain_allows_itself_and_its_subdomains_only() {
        let domains = vec!["example.com".to_owned(), "localhost".to_owned()];
        assert!(domain_allows(&domains, "example.com"));
        assert!(domain_allows(&domains, "App.Example.com."));
        assert!(domain_allows(&domains, "localhost"));
        assert!(!domain_allows(&domains, "badexample.com"));
        assert!(!domain_allows(&domains, "example.com.evil.net"));
        assert!(!domain_allows(&domains, "127.0.0.1"));
    }

    use super::*;

    #[test]
    fn domains_are_checked_and_normalised() {
        let ok = parse_domains(&["Example.COM".into(), "sub.example.org.".into()], "domains").unwrap();
        assert_eq!(ok, vec!["example.com", "sub.example.org"]);
        assert_eq!(parse_domains(&[], "domains").unwrap_err().path, "domains");
        assert_eq!(
            parse_domains(&["ok.com".into(), "https://x.com/".into()], "domains").unwrap_err().path,
            "domains[1]"
        );
        let eleven: Vec<String> = (0..11).map(|i| format!("d{i}.com")).collect();
        assert!(parse_domains(&eleven, "domains").is_err());
    }

    #[test]
    fn white_labeling_checks_colors_and_reports_unknown_names() {
        let mut wl = WhiteLabeling::default();
        let ignored = wl
            .apply(&[("link_color".into(), "#123ABC".into()), ("font".into(), "x".into())], "white_labeling_options")
            .unwrap();
        assert_eq!(wl.link_color, "#123ABC");
        assert_eq!(ignored, vec!["font"]);
        let err = wl.apply(&[("text_color1".into(), "red".into())], "white_labeling_options").unwrap_err();
        assert_eq!(err.path, "white_labeling_options[text_color1]");
        assert!(wl.apply(&[("legal_version".into(), "terms9".into())], "w").is_err());
    }

    #[test]
    fn scopes_come_from_the_official_list() {
        assert_eq!(parse_scopes(&["basic_account_info".into(), "".into()], "s").unwrap(), vec!["basic_account_info"]);
        assert_eq!(parse_scopes(&["root".into()], "oauth[scopes]").unwrap_err().path, "oauth[scopes][0]");
    }
}

//! The pages' cookies: read one from the request, set one with the attributes every cookie here has
//! (`HttpOnly`, `SameSite=Strict`, `Secure` when the server's public URL is https), clear one.

use axum::http::{HeaderMap, HeaderValue, header};

/// The value of cookie `name` in the request, if sent.
pub fn get(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_owned())
}

/// A `Set-Cookie` value. `value` must be cookie-safe (the callers pass hex).
pub fn set(name: &str, value: &str, path: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}"
    ))
    .expect("a name, hex and fixed text make a valid header")
}

/// A `Set-Cookie` value that removes cookie `name`.
pub fn clear(name: &str, path: &str, secure: bool) -> HeaderValue {
    set(name, "", path, 0, secure)
}

/// Whether a form's `token` is the one in cookie `name` (the double submit of a form shown before any
/// session exists).
pub fn matches(headers: &HeaderMap, name: &str, token: &str) -> bool {
    get(headers, name).is_some_and(|cookie| same_token(&cookie, token))
}

/// Constant-time equality of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others_and_set_strict() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; countersign_x=abc; b=2"));
        assert_eq!(get(&headers, "countersign_x").as_deref(), Some("abc"));
        assert_eq!(get(&HeaderMap::new(), "countersign_x"), None);
        let cookie = set("n", "v", "/dashboard", 60, true);
        assert_eq!(cookie, "n=v; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=60; Secure");
        assert!(same_token("ab", "ab") && !same_token("ab", "ac") && !same_token("", ""));
    }
}

//! The one page frame: every HTML page leaves through [`html`] with a content security policy that
//! loads nothing from elsewhere, and every value in a page is escaped by askama's HTML escaper (the
//! templates never mark user text `|safe`; JSON handed to the page's script goes through
//! [`json_for_script`]).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Who may put a page in a frame.
#[derive(Debug, Clone)]
pub enum Framing {
    /// Nobody (`frame-ancestors 'none'`).
    Never,
    /// Only this origin (the embedding app's, verified against its domains).
    By(String),
}

/// An HTML response with the page policy: scripts, styles, images and fetches from this origin only
/// (images also as `data:`/`blob:` URLs, for signature previews), nothing stored by caches.
pub fn html(status: StatusCode, body: String, framing: &Framing) -> Response {
    let ancestors = match framing {
        Framing::Never => "'none'".to_owned(),
        Framing::By(origin) => origin.clone(),
    };
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
         connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    response
}

/// `303 See Other` to `location`, not cached, with no referrer for the next page.
pub fn see_other(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, location);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// A page that says one thing to a person: a heading and a sentence. When the page was opened by
/// `hellosign-embedded` (`embed` is set), its script tells the embedding app too.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub heading: &'a str,
    pub text: &'a str,
    /// The page's script settings (`hellosign-embedded` messages), as JSON.
    pub config: String,
    pub css: String,
    pub js: String,
}

/// Renders a message page.
pub fn message(
    status: StatusCode,
    heading: &str,
    text: &str,
    embed: Option<&EmbedNotice>,
    framing: &Framing,
) -> Response {
    let config = json_for_script(&serde_json::json!({ "page": "message", "embed": embed }));
    let page = MessagePage {
        title: heading,
        heading,
        text,
        config,
        css: crate::assets::path("sign.css"),
        js: crate::assets::path("sign.js"),
    };
    match page.render() {
        Ok(body) => html(status, body, framing),
        Err(e) => {
            tracing::error!(error = %e, "a message page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown.").into_response()
        }
    }
}

/// What a message page tells the embedding app: `hellosign:initialize`, then `hellosign:error` with
/// `code` (so the library does not wait for a page that will never be ready).
#[derive(Debug, Clone, Serialize)]
pub struct EmbedNotice {
    /// The parent page's origin, the only one messages are posted to.
    pub parent_origin: String,
    pub signature_id: Option<String>,
    pub code: String,
}

/// JSON for a `<script type="application/json">` block: `<`, `>` and `&` are escaped so no text in it
/// can close the block or start markup.
pub fn json_for_script<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|_| "null".to_owned())
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Escapes text for HTML element content and quoted attribute values, as the templates do.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_for_a_script_block_cannot_close_it() {
        let json = json_for_script(&serde_json::json!({"title": "</script><b>&"}));
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["title"], "</script><b>&");
    }

    #[test]
    fn pages_carry_the_policy_and_escape_their_text() {
        let response = message(StatusCode::GONE, "Closed <now>", "It's \"gone\"", None, &Framing::Never);
        assert_eq!(response.status(), StatusCode::GONE);
        let csp = response.headers()[header::CONTENT_SECURITY_POLICY].to_str().unwrap().to_owned();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    }
}

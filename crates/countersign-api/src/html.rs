//! The few server-rendered pages of the API crate (link pages, account confirmation) share one
//! escaping rule and one page frame. The web crate of the signing issue takes these over.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// A whole page: `title` is escaped here, `body` must already be escaped HTML. Pages carry a
/// content security policy that allows nothing from elsewhere and no scripts.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <style>body{{font-family:system-ui,sans-serif;margin:0;padding:1rem 2rem;color:#1a1a1a;max-width:48rem}}\
         iframe{{width:100%;height:80vh;border:1px solid #ccc}}li{{margin:.2rem 0}}\
         code{{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px;word-break:break-all}}\
         button{{font-size:1rem;padding:.5rem 1rem}}</style></head><body>{body}</body></html>",
        escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'self'; style-src 'unsafe-inline'; script-src 'none'"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        page,
    )
        .into_response()
}

//! The few server-rendered pages still in the API crate (the file link's errors, account confirmation):
//! one page frame, with `countersign-web`'s escaping rule (the one every page uses).

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

pub use countersign_web::frame::escape;

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

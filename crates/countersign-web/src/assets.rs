//! The pages' static files, compiled into the binary. Each is served under a name that carries a digest
//! of its bytes (`sign.3f9c1a2b.js`), so a browser may keep it for a year and a new build is never
//! mistaken for an old one.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

struct Asset {
    /// The name without its digest: `sign.js`.
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

const ASSETS: [Asset; 3] = [
    Asset {
        name: "sign.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/sign.js"),
    },
    Asset {
        name: "edit.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/edit.js"),
    },
    Asset { name: "sign.css", content_type: "text/css; charset=utf-8", bytes: include_bytes!("../assets/sign.css") },
];

/// Each asset's served name (`sign.3f9c1a2b.js`), computed once.
fn served_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = hex::encode(&Sha256::digest(a.bytes)[..4]);
                match a.name.rsplit_once('.') {
                    Some((stem, ext)) => format!("{stem}.{digest}.{ext}"),
                    None => format!("{}.{digest}", a.name),
                }
            })
            .collect()
    })
}

/// The path a page links to for the asset `name` (`sign.js` → `/assets/sign.3f9c1a2b.js`).
pub fn path(name: &str) -> String {
    let index = ASSETS.iter().position(|a| a.name == name).unwrap_or(0);
    format!("/assets/{}", served_names()[index])
}

/// `GET /assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    let Some(index) = served_names().iter().position(|n| *n == name) else {
        return (StatusCode::NOT_FOUND, "No such file.").into_response();
    };
    let asset = &ASSETS[index];
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_names_carry_a_digest_of_the_bytes() {
        let js = path("sign.js");
        assert!(js.starts_with("/assets/sign.") && js.ends_with(".js") && js.len() == "/assets/sign.12345678.js".len());
        assert_ne!(path("sign.css"), js);
    }
}

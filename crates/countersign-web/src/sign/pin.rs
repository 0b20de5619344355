//! A signer's access code (`signers[][pin]`): asked before the documents are shown, checked against the
//! stored digest in constant time, with a bounded number of wrong tries per signer and time window
//! (counted on this node).

use std::collections::HashMap;
use std::sync::Mutex;

use askama::Template;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use countersign_domain::lifecycle::SignatureRequest;
use countersign_domain::secrets::Pin;
use countersign_domain::signature_request::Signature;
use countersign_domain::time::unix_now;

use super::{OpenQuery, embed_config};
use crate::WebState;
use crate::frame::{Framing, html, json_for_script};

/// Wrong PINs per signature id: (count, start of the window).
#[derive(Default)]
pub struct PinAttempts {
    wrong: Mutex<HashMap<String, (u32, i64)>>,
}

impl PinAttempts {
    pub(crate) fn locked(&self, signature_id: &str, limit: u32, window: i64, now: i64) -> bool {
        let wrong = self.wrong.lock().unwrap_or_else(|e| e.into_inner());
        wrong.get(signature_id).is_some_and(|(count, since)| now - since < window && *count >= limit)
    }

    pub(crate) fn record_wrong(&self, signature_id: &str, window: i64, now: i64) {
        let mut wrong = self.wrong.lock().unwrap_or_else(|e| e.into_inner());
        wrong.retain(|_, (_, since)| now - *since < window);
        let entry = wrong.entry(signature_id.to_owned()).or_insert((0, now));
        entry.0 += 1;
    }

    pub(crate) fn clear(&self, signature_id: &str) {
        self.wrong.lock().unwrap_or_else(|e| e.into_inner()).remove(signature_id);
    }
}

#[derive(Template)]
#[template(path = "pin.html")]
struct PinPage<'a> {
    title: &'a str,
    signer_name: &'a str,
    error: Option<&'a str>,
    config: String,
    css: String,
    js: String,
}

/// The PIN form. It posts back to the page's own URL, query included.
pub fn page(
    request: &SignatureRequest,
    signer: &Signature,
    query: &OpenQuery,
    error: Option<&str>,
    framing: &Framing,
) -> Response {
    let config = json_for_script(&serde_json::json!({
        "page": "pin",
        "embed": embed_config(query, framing, signer.signature_id.as_str()),
    }));
    let page = PinPage {
        title: &request.body.title,
        signer_name: &signer.signer_name,
        error,
        config,
        css: crate::assets::path("sign.css"),
        js: crate::assets::path("sign.js"),
    };
    let status = if error.is_some() { StatusCode::UNAUTHORIZED } else { StatusCode::OK };
    match page.render() {
        Ok(body) => html(status, body, framing),
        Err(e) => {
            tracing::error!(error = %e, "the PIN page could not be rendered");
            (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown.").into_response()
        }
    }
}

/// Checks `pin`; the PIN page again (with a message) when it is wrong or too many were wrong.
pub async fn check(
    state: &WebState,
    request: &SignatureRequest,
    signer: &Signature,
    query: &OpenQuery,
    pin: &str,
    framing: &Framing,
) -> Result<(), Response> {
    let now = unix_now();
    let id = signer.signature_id.as_str();
    let (limit, window) = (state.config.pin_attempts, state.config.pin_window_secs);
    if state.pin_attempts.locked(id, limit, window, now) {
        return Err(page(request, signer, query, Some("Too many wrong access codes. Try again later."), framing));
    }
    let pin = pin.trim();
    let matches = if pin.is_empty() || pin.len() > 64 {
        Ok(Some(false))
    } else {
        state.store.signer_pin_matches(&signer.signature_id, &Pin::new(pin)).await
    };
    match matches {
        Ok(Some(true)) | Ok(None) => {
            state.pin_attempts.clear(id);
            Ok(())
        }
        Ok(Some(false)) => {
            state.pin_attempts.record_wrong(id, window, now);
            tracing::info!(signature_request_id = %request.id, signature_id = %id, "a wrong access code was entered");
            Err(page(request, signer, query, Some("That access code is not correct."), framing))
        }
        Err(e) => {
            tracing::error!(signature_id = %id, error = ?e, "the access code could not be checked");
            Err(page(request, signer, query, Some("The access code could not be checked. Try again."), framing))
        }
    }
}

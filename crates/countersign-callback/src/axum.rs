//! For axum handlers (feature `axum`): [`VerifiedCallback`] reads and checks the request with the
//! [`Verifier`] in the router's state, and [`Ack`] is the answer that acknowledges it.
//!
//! ```no_run
//! use axum::{Router, routing::post};
//! use countersign_callback::axum::{Ack, VerifiedCallback};
//! use countersign_callback::receive::Verifier;
//!
//! async fn handle(VerifiedCallback(callback): VerifiedCallback) -> Ack {
//!     println!("{} for {:?}", callback.event.event_type, callback.signature_request_id());
//!     Ack
//! }
//!
//! # async fn run() {
//! let verifier = Verifier::new().api_key(std::env::var("COUNTERSIGN_API_KEY").unwrap());
//! let app: Router = Router::new().route("/callbacks", post(handle)).with_state(verifier);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await.unwrap();
//! axum::serve(listener, app).await.unwrap();
//! # }
//! ```

use ::axum::extract::{FromRef, FromRequest, Request};
use ::axum::http::{StatusCode, header};
use ::axum::response::{IntoResponse, Response};

use crate::ACK_BODY;
use crate::receive::{Callback, ReceiveError, Verifier};

/// The largest callback body read (a payload is a few kilobytes; this leaves room for large requests).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// A callback whose signature checked out. Rejected with `400` (not a callback) or `401` (not signed
/// with the verifier's key or secret), with the reason as text.
#[derive(Debug, Clone)]
pub struct VerifiedCallback(pub Callback);

/// Why the extractor refused a request.
#[derive(Debug)]
pub struct Rejection(pub ReceiveError);

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let status = if self.0.is_malformed() { StatusCode::BAD_REQUEST } else { StatusCode::UNAUTHORIZED };
        (status, self.0.to_string()).into_response()
    }
}

impl<S> FromRequest<S> for VerifiedCallback
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Rejection;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Verifier::from_ref(state);
        let (parts, body) = request.into_parts();
        let body =
            ::axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| Rejection(ReceiveError::NoJsonField))?;
        let content_type = parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let lookup = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        verifier.verify(lookup, content_type, &body).map(VerifiedCallback).map_err(Rejection)
    }
}

/// `200` with `Hello API Event Received`: the only answer that counts as delivered.
#[derive(Debug, Clone, Copy)]
pub struct Ack;

impl IntoResponse for Ack {
    fn into_response(self) -> Response {
        (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], ACK_BODY).into_response()
    }
}

//! The smallest useful callback handler: checks each callback (the `event_hash` with your API key, and
//! the Standard Webhooks signature when `COUNTERSIGN_WEBHOOK_SECRET` is set), prints one line, and
//! acknowledges it.
//!
//! ```sh
//! COUNTERSIGN_API_KEY=… cargo run -p countersign-callback --features axum --example minimal
//! # then set http://127.0.0.1:3000/callbacks as the account's callback URL
//! ```

use axum::Router;
use axum::routing::post;
use countersign_callback::axum::{Ack, VerifiedCallback};
use countersign_callback::receive::Verifier;

async fn handle(VerifiedCallback(callback): VerifiedCallback) -> Ack {
    println!(
        "{} {} request={} sequence={:?}{}",
        callback.event.event_time,
        callback.event.event_type,
        callback.signature_request_id().unwrap_or("-"),
        callback.event_sequence,
        if callback.is_app_callback() { " (app callback)" } else { "" },
    );
    Ack
}

#[tokio::main]
async fn main() {
    let api_key = std::env::var("COUNTERSIGN_API_KEY").expect("set COUNTERSIGN_API_KEY to the account's API key");
    let mut verifier = Verifier::new().api_key(api_key);
    if let Ok(secret) = std::env::var("COUNTERSIGN_WEBHOOK_SECRET") {
        verifier = verifier.webhook_secret(secret);
    }
    let addr = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let app = Router::new().route("/callbacks", post(handle)).with_state(verifier);
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("the address is free");
    println!("listening on http://{addr}/callbacks");
    axum::serve(listener, app).await.expect("the server runs");
}

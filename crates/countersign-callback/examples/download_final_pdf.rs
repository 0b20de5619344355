//! On `signature_request_all_signed`, fetch the final, sealed PDF and save it as
//! `<signature_request_id>.pdf`. The handler acknowledges at once and downloads in the background: a
//! callback handler that takes long is retried. The server answers `409` while it stamps and seals the
//! copy (until `signature_request_downloadable`), so the download waits and tries again, for a while.
//!
//! ```sh
//! COUNTERSIGN_API_KEY=… COUNTERSIGN_URL=http://127.0.0.1:8080 \
//!     cargo run -p countersign-callback --features axum --example download_final_pdf
//! ```

use std::time::Duration;

use axum::Router;
use axum::extract::FromRef;
use axum::routing::post;
use countersign_callback::EventType;
use countersign_callback::axum::{Ack, VerifiedCallback};
use countersign_callback::receive::Verifier;

#[derive(Clone)]
struct State {
    verifier: Verifier,
    server: String,
    api_key: String,
    http: reqwest::Client,
}

impl FromRef<State> for Verifier {
    fn from_ref(state: &State) -> Verifier {
        state.verifier.clone()
    }
}

async fn handle(
    axum::extract::State(state): axum::extract::State<State>,
    VerifiedCallback(callback): VerifiedCallback,
) -> Ack {
    if callback.kind() == Some(EventType::SignatureRequestAllSigned)
        && let Some(id) = callback.signature_request_id()
    {
        let id = id.to_owned();
        tokio::spawn(async move {
            match download(&state, &id).await {
                Ok(path) => println!("saved {path}"),
                Err(e) => eprintln!("could not download {id}: {e}"),
            }
        });
    }
    Ack
}

async fn download(state: &State, id: &str) -> Result<String, String> {
    let url = format!("{}/v3/signature_request/files/{id}?file_type=pdf", state.server);
    for _ in 0..60 {
        let response =
            state.http.get(&url).basic_auth(&state.api_key, Some("")).send().await.map_err(|e| e.to_string())?;
        match response.status().as_u16() {
            200 => {
                let bytes = response.bytes().await.map_err(|e| e.to_string())?;
                let path = format!("{id}.pdf");
                tokio::fs::write(&path, &bytes).await.map_err(|e| e.to_string())?;
                return Ok(path);
            }
            // The final copy is still being made.
            409 => tokio::time::sleep(Duration::from_secs(2)).await,
            status => return Err(format!("HTTP {status}: {}", response.text().await.unwrap_or_default())),
        }
    }
    Err("the final copy was not ready within two minutes".to_owned())
}

#[tokio::main]
async fn main() {
    let api_key = std::env::var("COUNTERSIGN_API_KEY").expect("set COUNTERSIGN_API_KEY to the account's API key");
    let server = std::env::var("COUNTERSIGN_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".to_owned());
    let state = State {
        verifier: Verifier::new().api_key(api_key.clone()),
        server: server.trim_end_matches('/').to_owned(),
        api_key,
        http: reqwest::Client::new(),
    };
    let addr = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let app = Router::new().route("/callbacks", post(handle)).with_state(state);
    let listener = tokio::net::TcpListener::bind(&addr).await.expect("the address is free");
    println!("listening on http://{addr}/callbacks");
    axum::serve(listener, app).await.expect("the server runs");
}

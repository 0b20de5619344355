//! Operations: liveness, readiness, metrics, and the dashboard's front page.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /healthz`: the process is up and serving.
pub async fn healthz() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// `GET /readyz`: the database answers. 503 otherwise, so a load balancer stops sending traffic.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => {
            axum::Json(json!({"status": "ready", "database": format!("{:?}", state.store.backend()).to_lowercase()}))
                .into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "readiness check failed: database unreachable");
            ApiError::unavailable("The database is not reachable.").into_response()
        }
    }
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

/// `GET /dashboard`: where the instance is and how to reach its API. The per-account views (requests,
/// callbacks and their attempts) are built on this page as those parts of the server arrive.
pub async fn dashboard(State(state): State<AppState>) -> Response {
    let base = &state.config.public_url;
    let backend = format!("{:?}", state.store.backend());
    let accounts = state.store.count_accounts().await.map_or_else(|_| "unknown".to_owned(), |n| n.to_string());
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Countersign</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}}\
         code{{background:#f3f3f3;padding:.1rem .3rem;border-radius:3px}}</style></head><body>\
         <h1>Countersign</h1><p>A self-hosted server speaking the Dropbox Sign API v3.</p>\
         <table><tr><td>API base URL</td><td><code>{base}/v3</code></td></tr>\
         <tr><td>Database</td><td>{backend}</td></tr><tr><td>Accounts</td><td>{accounts}</td></tr>\
         <tr><td>Version</td><td>{version}</td></tr></table>\
         <p>Point an official SDK at the API base URL with your API key as the user name, for example\
         <code>curl -u YOUR_API_KEY: {base}/v3/account</code>.</p>\
         <p>Health: <a href=\"/healthz\">/healthz</a> · <a href=\"/readyz\">/readyz</a> · <a href=\"/metrics\">/metrics</a></p>\
         </body></html>",
        base = crate::html::escape(base),
        version = env!("CARGO_PKG_VERSION"),
    );
    Html(page).into_response()
}

//! The Dropbox-Sign-v3-compatible HTTP API of Countersign.
//!
//! Thin handlers, one module per resource under [`routes`]: parse the parameters (JSON, form or
//! multipart, see [`params`]) into domain types, call the store, answer in Dropbox Sign's shapes.
//! Authentication and the rate limit run as middleware in front of every `/v3` route ([`auth`]);
//! every error leaves as `{"error": {…}}` ([`error`]).
//!
//! Not for: SQL (`countersign-store`) or business rules (`countersign-domain`).

pub mod auth;
pub mod error;
pub mod html;
pub mod params;
pub mod rate_limit;
pub mod routes;
pub mod server;
pub mod state;
pub mod telemetry;
pub mod warnings;
pub mod zip;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::Request;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::routes::{
    account, api_app, bulk_send, events, oauth, ops, outbox, signature_request as sr, template, unclaimed_draft,
};
pub use crate::state::{ApiConfig, AppState};

/// The whole HTTP surface: `/v3/*`, the operations endpoints and the dashboard.
pub fn router(state: AppState) -> Router {
    let v3 = Router::new()
        .route("/account", get(account::get).put(account::update).post(account::update))
        .route("/account/create", post(account::create))
        .route("/account/verify", post(account::verify))
        .route("/api_app", post(api_app::create))
        .route("/api_app/list", get(api_app::list))
        .route("/api_app/{client_id}", get(api_app::get).put(api_app::update).delete(api_app::delete))
        .route("/api_app/{client_id}/callback_test", post(events::app_callback_test))
        .route("/account/callback_test", post(events::account_callback_test))
        .route("/signature_request/send", post(sr::send))
        .route("/signature_request/create_embedded", post(sr::create_embedded))
        .route("/signature_request/send_with_template", post(sr::send_with_template))
        .route("/signature_request/release_hold/{id}", post(sr::release_hold))
        .route("/signature_request/create_embedded_with_template", post(sr::create_embedded_with_template))
        .route("/signature_request/bulk_send_with_template", post(bulk_send::bulk_send_with_template))
        .route(
            "/signature_request/bulk_create_embedded_with_template",
            post(bulk_send::bulk_create_embedded_with_template),
        )
        .route("/bulk_send_job/list", get(bulk_send::list))
        .route("/bulk_send_job/{id}", get(bulk_send::get))
        .route("/signature_request/edit/{id}", put(sr::edit_request))
        .route("/signature_request/edit_embedded/{id}", put(sr::edit_embedded))
        .route("/signature_request/edit_with_template/{id}", put(sr::edit_with_template))
        .route("/signature_request/edit_embedded_with_template/{id}", put(sr::edit_embedded_with_template))
        .route("/template/create", post(template::create))
        .route("/unclaimed_draft/create", post(unclaimed_draft::create))
        .route("/unclaimed_draft/create_embedded", post(unclaimed_draft::create_embedded))
        .route("/unclaimed_draft/create_embedded_with_template", post(unclaimed_draft::create_embedded_with_template))
        .route("/unclaimed_draft/edit_and_resend/{id}", post(unclaimed_draft::edit_and_resend))
        .route("/template/create_embedded_draft", post(template::create_embedded_draft))
        .route("/template/update_files/{id}", post(template::update_files))
        .route("/embedded/edit_url/{id}", post(template::edit_url))
        .route("/template/list", get(template::list))
        .route("/template/delete/{id}", post(template::delete))
        .route("/template/files/{id}", get(template::files))
        .route("/template/files_as_data_uri/{id}", get(template::files_as_data_uri))
        .route("/template/files_as_file_url/{id}", get(template::files_as_file_url))
        .route("/template/add_user/{id}", post(template::add_user))
        .route("/template/remove_user/{id}", post(template::remove_user))
        .route("/template/{id}", get(template::get))
        .route("/signature_request/list", get(sr::list))
        .route("/signature_request/cancel/{id}", post(sr::cancel))
        .route("/signature_request/remind/{id}", post(sr::remind))
        .route("/signature_request/update/{id}", post(sr::update))
        .route("/signature_request/remove/{id}", post(sr::remove))
        .route("/signature_request/files/{id}", get(sr::files))
        .route("/signature_request/files_as_data_uri/{id}", get(sr::files_as_data_uri))
        .route("/signature_request/files_as_file_url/{id}", get(sr::files_as_file_url))
        .route("/signature_request/fields/{id}", get(sr::fields))
        .route("/signature_request/verify", post(sr::verify))
        .route("/signature_request/{id}/audit", get(sr::audit_trail))
        .route("/signature_request/{id}", get(sr::get))
        .route("/embedded/sign_url/{signature_id}", get(sr::sign_url))
        .route("/events", get(events::feed))
        .route("/events/{event_id}", get(events::get))
        .route("/events/{event_id}/resend", post(events::resend))
        .route("/callback_endpoints", get(events::endpoints))
        .route("/callback_endpoints/enable", post(events::enable_endpoint))
        .route("/x/outbox", get(outbox::list))
        .route("/x/trigger", post(events::trigger))
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate))
        .method_not_allowed_fallback(|| async { ApiError::method_not_supported() })
        .fallback(|| async { ApiError::not_found() });

    let max_body = state.config.max_body_bytes;
    let web_state = countersign_web::WebState::new(
        state.store.clone(),
        state.links.clone(),
        state.config.public_url.clone(),
        state.config.web.clone(),
    );
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/files/{id}", get(sr::file_link))
        .route("/account/confirm", get(account::confirm_page).post(account::confirm))
        // The token endpoint lives at the root, as on app.hellosign.com (where the SDKs' OAuth API points),
        // and under /v3 too, for an SDK configured with `ignore_operation_servers`.
        .route("/oauth/token", post(oauth::token))
        .route("/v3/oauth/token", post(oauth::token))
        .route("/oauth/revoke", post(oauth::revoke))
        .route("/", get(|| async { axum::response::Redirect::temporary("/dashboard") }))
        .nest("/v3", v3)
        .merge(countersign_web::router(web_state))
        .fallback(|| async { ApiError::not_found() })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn(telemetry::track_requests))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), account_id = tracing::field::Empty, client_id = tracing::field::Empty)
            }),
        )
        .layer(CatchPanicLayer::custom(|_| ApiError::unknown("a handler panicked").into_response()))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    /// Every `/v3` route the router declares, as (method, path), read from this file's source: the
    /// table of what OAuth tokens may call must name each one, so adding a route means deciding.
    #[test]
    fn every_v3_route_says_what_oauth_tokens_may_do() {
        let source = include_str!("lib.rs");
        let start = source.find("let v3 = Router::new()").expect("the v3 router");
        let end = start + source[start..].find(".route_layer(").expect("its auth layer");
        let mut routes = Vec::new();
        for chunk in source[start..end].split(".route(").skip(1) {
            let path = chunk.split('"').nth(1).expect("a quoted path");
            for (name, method) in [("get", "GET"), ("post", "POST"), ("put", "PUT"), ("delete", "DELETE")] {
                if chunk.contains(&format!(" {name}(")) || chunk.contains(&format!(".{name}(")) {
                    routes.push((method, path.to_owned()));
                }
            }
        }
        assert!(routes.len() > 50, "found {} routes", routes.len());
        for (method, path) in routes {
            assert!(
                crate::auth::TOKEN_ACCESS.iter().any(|(m, p, _)| *m == method && *p == path),
                "{method} {path} is missing from auth::TOKEN_ACCESS"
            );
        }
    }
}

//! What the `files` endpoints of requests and templates share: the PDF (or zip) answer with its
//! download name, the data URI, the expiring `/files/{id}` link, several documents merged into one, and
//! the paging of `list` endpoints.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use countersign_domain::ids::AccountId;
use countersign_domain::links::Link;
use countersign_domain::time::unix_now;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::params::{Count, Text};
use crate::state::AppState;
use crate::warnings::Reply;

/// How long a file URL stays valid (an embedded sign URL's lifetime is configuration).
pub const FILE_URL_LIFETIME_SECS: i64 = 3600;

/// A file answer: `attachment` when `download`, else `inline`, named `name`.
pub(crate) fn file_response(bytes: Vec<u8>, content_type: &str, name: &str, download: bool) -> Response {
    let disposition = if download { "attachment" } else { "inline" };
    let name = name.replace(['"', '\\', '\r', '\n'], "_");
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_DISPOSITION, format!("{disposition}; filename=\"{name}\""))
        .body(Body::from(bytes))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A download's file name: the title, kept to safe characters, else the id.
pub(crate) fn download_name(title: &str, id: &str, ext: &str) -> String {
    let base: String = title.chars().filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.')).collect();
    let base = base.trim().trim_end_matches(".pdf").trim_end_matches(".PDF").to_owned();
    if base.is_empty() { format!("{id}.{ext}") } else { format!("{base}.{ext}") }
}

/// Documents as one PDF (one document is returned as it is).
pub(crate) fn merge_documents(docs: Vec<(String, Vec<u8>)>) -> ApiResult<Vec<u8>> {
    if docs.len() == 1 {
        return Ok(docs.into_iter().next().map(|(_, b)| b).unwrap_or_default());
    }
    let parts: Vec<&[u8]> = docs.iter().map(|(_, b)| b.as_slice()).collect();
    countersign_pdf::merge(&parts).map_err(|e| ApiError::bad_request(format!("The files could not be merged: {e}")))
}

/// `{"data_uri": "data:application/pdf;base64,…"}`.
pub(crate) fn data_uri(pdf: Vec<u8>) -> Reply {
    let encoded = base64::engine::general_purpose::STANDARD.encode(pdf);
    Reply::ok(json!({"data_uri": format!("data:application/pdf;base64,{encoded}")}))
}

/// `{"file_url", "expires_at"}`: an expiring `/files/{id}` link that needs no credentials.
pub(crate) fn file_url(state: &AppState, id: &str, download: bool) -> Reply {
    let expires = unix_now() + FILE_URL_LIFETIME_SECS;
    let token = state.links.token(&Link::Files { signature_request_id: id, expires });
    let url = format!(
        "{}/files/{id}?expires={expires}&token={token}&force_download={}",
        state.config.public_url,
        u8::from(download)
    );
    Reply::ok(json!({"file_url": url, "expires_at": expires}))
}

/// The parameters of a `list` endpoint.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(crate) struct ListParams {
    account_id: Text,
    page: Count,
    page_size: Count,
    pub query: Text,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl ListParams {
    /// The page and page size, checked; listing another account's `what` is refused.
    pub fn paging(&self, account: &AccountId, what: &str) -> ApiResult<(u32, u32)> {
        let page = self.page.unwrap_or(1);
        if page == 0 {
            return Err(ApiError::bad_param("page", "page must be 1 or more"));
        }
        let page_size = self.page_size.unwrap_or(20);
        if !(1..=100).contains(&page_size) {
            return Err(ApiError::bad_param("page_size", "page_size must be between 1 and 100"));
        }
        if let Some(other) =
            self.account_id.as_deref().filter(|a| !a.is_empty() && *a != "all" && *a != account.as_str())
        {
            return Err(ApiError::bad_param("account_id", format!("Cannot list the {what} of account {other:?}")));
        }
        Ok((page, page_size))
    }
}

/// The `list_info` of a page.
pub(crate) fn list_info(total: i64, page: u32, page_size: u32) -> Value {
    let num_pages = (total + i64::from(page_size) - 1) / i64::from(page_size);
    json!({"num_pages": num_pages, "num_results": total, "page": page, "page_size": page_size})
}

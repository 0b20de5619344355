//! Page images: `GET /sign/{signature_id}/pages/{document}/{page}?session&expires&w`, a page of the
//! request's document rendered to PNG (`countersign_pdf::render_page`, on the blocking pool, at most
//! one render per core at a time) at one of a few widths, kept in a bounded in-memory cache keyed by
//! the document's SHA-256 — so every signer of a request, and every reload, shares one rendering.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use countersign_domain::ids::SignatureId;
use countersign_domain::links::Link;
use countersign_domain::time::unix_now;
use serde::Deserialize;
use tokio::sync::Semaphore;

use crate::WebState;

/// The widths a page is rendered at, in pixels; a request is served at the smallest one not narrower.
pub const WIDTHS: [u32; 4] = [640, 1024, 1400, 2000];

type Key = (String, usize, u32);

/// Rendered pages, least recently added dropped first once `capacity` bytes are held.
pub struct PageImages {
    capacity: usize,
    inner: Mutex<Cache>,
    renders: Semaphore,
}

#[derive(Default)]
struct Cache {
    images: HashMap<Key, Arc<Vec<u8>>>,
    order: VecDeque<Key>,
    bytes: usize,
}

impl PageImages {
    pub fn new(capacity: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self { capacity, inner: Mutex::new(Cache::default()), renders: Semaphore::new(cores) }
    }

    fn get(&self, key: &Key) -> Option<Arc<Vec<u8>>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).images.get(key).cloned()
    }

    fn put(&self, key: Key, png: Arc<Vec<u8>>) {
        let mut cache = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if png.len() > self.capacity || cache.images.contains_key(&key) {
            return;
        }
        cache.bytes += png.len();
        cache.order.push_back(key.clone());
        cache.images.insert(key, png);
        while cache.bytes > self.capacity {
            let Some(oldest) = cache.order.pop_front() else { break };
            if let Some(dropped) = cache.images.remove(&oldest) {
                cache.bytes -= dropped.len();
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ImageQuery {
    pub session: String,
    pub expires: i64,
    pub w: Option<u32>,
}

pub(crate) fn refuse(status: StatusCode, text: &'static str) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], text).into_response()
}

/// `GET /sign/{signature_id}/pages/{document}/{page}`.
pub async fn page_image(
    State(state): State<WebState>,
    Path((signature_id, document, page)): Path<(String, i64, usize)>,
    Query(query): Query<ImageQuery>,
) -> Response {
    let Some(signature_id) = SignatureId::parse(&signature_id) else {
        return refuse(StatusCode::NOT_FOUND, "No such page.");
    };
    let link = Link::SignSession { signature_id: signature_id.as_str(), expires: query.expires };
    if !state.links.check(&link, &query.session, unix_now()) {
        return refuse(StatusCode::FORBIDDEN, "This page's session has ended; reload the signing page.");
    }
    let owner = match state.store.signature_owner(&signature_id).await {
        Ok(Some(owner)) => owner,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "No such page."),
        Err(e) => {
            tracing::error!(error = ?e, "a page image could not be read");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment.");
        }
    };
    let documents = match state.store.documents_of(&owner.signature_request_id).await {
        Ok(documents) => documents,
        Err(e) => {
            tracing::error!(error = ?e, "a page image could not be read");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment.");
        }
    };
    let Some(sha256) = documents.iter().find(|d| d.document_index == document).and_then(|d| d.blob_sha256.clone())
    else {
        return refuse(StatusCode::NOT_FOUND, "No such page.");
    };
    serve_page(&state, sha256, page, query.w).await
}

/// The PNG of page `page` of the document stored as `sha256`, at the smallest width not narrower than
/// `w`, from the cache or rendered now.
pub(crate) async fn serve_page(state: &WebState, sha256: String, page: usize, w: Option<u32>) -> Response {
    let width = WIDTHS.into_iter().find(|x| *x >= w.unwrap_or(1024)).unwrap_or(WIDTHS[WIDTHS.len() - 1]);
    let key = (sha256.clone(), page, width);
    let png = match state.pages.get(&key) {
        Some(png) => png,
        None => match render(state, &sha256, page, width).await {
            Ok(png) => {
                state.pages.put(key, png.clone());
                png
            }
            Err(response) => return response,
        },
    };
    let mut response = png.as_ref().clone().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=3600"));
    response
}

async fn render(state: &WebState, sha256: &str, page: usize, width: u32) -> Result<Arc<Vec<u8>>, Response> {
    let bytes = match state.store.blob(sha256).await {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(refuse(StatusCode::NOT_FOUND, "No such page.")),
        Err(e) => {
            tracing::error!(error = ?e, "a document could not be read for its page image");
            return Err(refuse(StatusCode::SERVICE_UNAVAILABLE, "Try again in a moment."));
        }
    };
    let _permit =
        state.pages.renders.acquire().await.map_err(|_| refuse(StatusCode::SERVICE_UNAVAILABLE, "Shutting down."))?;
    let limits = state.config.pdf_limits.clone();
    let started = std::time::Instant::now();
    let rendered =
        tokio::task::spawn_blocking(move || countersign_pdf::render_page(&bytes, page, width, &limits)).await;
    match rendered {
        Ok(Ok(image)) => {
            tracing::debug!(page, width, elapsed_ms = started.elapsed().as_millis() as u64, "page image rendered");
            Ok(Arc::new(image.png))
        }
        Ok(Err(e)) => {
            tracing::warn!(page, error = %e, "a page image could not be rendered");
            Err(refuse(StatusCode::UNPROCESSABLE_ENTITY, "This page could not be shown."))
        }
        Err(e) => {
            tracing::error!(error = %e, "the page renderer failed");
            Err(refuse(StatusCode::INTERNAL_SERVER_ERROR, "This page could not be shown."))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_keeps_within_its_capacity_dropping_the_oldest() {
        let cache = PageImages::new(10);
        cache.put(("a".into(), 1, 640), Arc::new(vec![0; 6]));
        cache.put(("b".into(), 1, 640), Arc::new(vec![0; 6]));
        assert!(cache.get(&("a".into(), 1, 640)).is_none());
        assert!(cache.get(&("b".into(), 1, 640)).is_some());
        cache.put(("c".into(), 1, 640), Arc::new(vec![0; 11]));
        assert!(cache.get(&("c".into(), 1, 640)).is_none(), "larger than the whole cache");
    }
}

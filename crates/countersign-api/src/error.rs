//! The one error type of the API and its mapping to Dropbox Sign's error format:
//! `{"error": {"error_msg", "error_name", "error_path"?}}`, `application/json`, with the status code
//! that goes with `error_name` (compat spec §8.1).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use countersign_domain::InvalidInput;
use countersign_domain::lifecycle::Refusal;
use countersign_store::StoreError;
use serde_json::json;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub name: &'static str,
    pub message: String,
    pub path: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, name: &'static str, message: impl Into<String>) -> Self {
        Self { status, name, message: message.into(), path: None }
    }

    /// 400 naming the parameter at fault.
    pub fn bad_param(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: Some(path.into()), ..Self::new(StatusCode::BAD_REQUEST, "bad_request", message) }
    }

    /// 400 about the request as a whole (malformed body, wrong content type).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn missing(path: &str) -> Self {
        Self::bad_param(path, format!("Missing required parameter: {path}"))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "Not found.")
    }

    pub fn method_not_supported() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_supported", "Method not supported.")
    }

    pub fn exceeded_rate(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "exceeded_rate", message)
    }

    /// 500: the message a client sees stays generic; the cause goes to the log.
    pub fn unknown(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "request failed with an internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "unknown", "An unexpected error occurred. Please try again.")
    }

    /// 409: the resource is not ready yet (files while a PDF is prepared).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 410: the resource was canceled or removed.
    pub fn deleted(message: impl Into<String>) -> Self {
        Self::new(StatusCode::GONE, "deleted", message)
    }

    /// 403: the caller may not do this (a link that is invalid or expired, a feature turned off).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "maintenance", message)
    }
}

impl From<InvalidInput> for ApiError {
    fn from(e: InvalidInput) -> Self {
        Self::bad_param(e.path, e.message)
    }
}

/// Every refusal of the signature-request state machine, with Dropbox Sign's error name and status.
impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        let bad = |name, message| Self::new(StatusCode::BAD_REQUEST, name, message);
        match refusal {
            Refusal::NotFound => Self::not_found(),
            Refusal::Canceled => Self::deleted("This signature request has been canceled."),
            Refusal::Removed => Self::deleted("This signature request has been removed."),
            Refusal::CancelFailed(message) => bad("signature_request_cancel_failed", message),
            Refusal::InvalidReminder(message) => bad("invalid_reminder", message),
            Refusal::UpdateFailed(message) => bad("signature_request_update_failed", message),
            Refusal::RemoveFailed(message) => bad("signature_request_remove_failed", message),
            Refusal::UnknownSignature => {
                Self::bad_param("signature_id", "No signer of this request has this signature_id.")
            }
            // The signer's transitions (the signer page answers these with a page of its own).
            Refusal::SignerClosed(message) => Self::conflict(message),
            Refusal::NotYourTurn => Self::conflict("An earlier signer in the signing order has not signed yet."),
            Refusal::NotAllowed(message) => Self::bad_request(message),
            Refusal::NotHeld(message) | Refusal::NotResendable(message) | Refusal::NotEditable(message) => {
                Self::bad_request(message)
            }
            Refusal::StillProcessing => Self::conflict(
                "The documents are still being processed. Please try again after the signature_request_sent callback.",
            ),
            // Jobs' refusals never reach a caller; should one, it is the server's fault.
            Refusal::Moot | Refusal::NotYet(_) => {
                Self::unknown(format!("a job's refusal reached the API: {refusal:?}"))
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(msg) => Self::bad_request(msg),
            other => Self::unknown(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"error_msg": self.message, "error_name": self.name});
        if let Some(path) = self.path {
            error["error_path"] = json!(path);
        }
        (self.status, axum::Json(json!({ "error": error }))).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

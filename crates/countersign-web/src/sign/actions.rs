//! What an open signer page does: `POST /sign/{signature_id}/sign`, `/decline` and `/reassign`, each a
//! JSON body carrying the page's session token. Each is one transition of the state machine, committed
//! with its events; a refused action changes nothing and answers in Dropbox Sign's error format
//! (`error_path` names the field, for the page to point at).
//!
//! The session token is a capability bound to the signer; the bodies are JSON, which a page on another
//! origin cannot send here without a CORS preflight this server never grants.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use countersign_domain::email::EmailAddress;
use countersign_domain::ids::{SignatureId, SignatureRequestId};
use countersign_domain::lifecycle::{Client, Refusal, SignatureRequest, Transition};
use countersign_domain::links::Link;
use countersign_domain::signer_mail::mailed;
use countersign_domain::signing::{FieldError, MAX_SIGNATURE_IMAGE_BYTES, Submission, check_submission};
use countersign_domain::time::unix_now;
use countersign_store::signature_requests::ChangeError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::WebState;
use crate::client::Acting;

/// The longest decline or reassignment reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// A refused action, answered as `{"error": {error_msg, error_name, error_path}}`.
#[derive(Debug)]
struct ActionError {
    status: StatusCode,
    name: &'static str,
    message: String,
    path: Option<String>,
}

impl IntoResponse for ActionError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"error_msg": self.message, "error_name": self.name}});
        if let Some(path) = self.path {
            body["error"]["error_path"] = json!(path);
        }
        (self.status, Json(body)).into_response()
    }
}

fn refuse(status: StatusCode, name: &'static str, message: &str, path: Option<&str>) -> ActionError {
    ActionError { status, name, message: message.to_owned(), path: path.map(str::to_owned) }
}

fn error(status: StatusCode, name: &'static str, message: &str, path: Option<&str>) -> Response {
    refuse(status, name, message, path).into_response()
}

#[derive(Debug, Deserialize)]
struct Session {
    session: String,
    expires: i64,
}

/// What an action acts on: the signer, the request they belong to, and the body.
struct Action<T> {
    signature_id: SignatureId,
    request_id: SignatureRequestId,
    body: T,
}

/// The body as `T`, after its session token was checked for `signature_id`, with the signer's request
/// (a replaced signer acts no more).
async fn read<T: DeserializeOwned>(
    state: &WebState,
    signature_id: &str,
    body: &Bytes,
) -> Result<Action<T>, ActionError> {
    let bad = |m: &str| refuse(StatusCode::BAD_REQUEST, "bad_request", m, None);
    let not_found = || refuse(StatusCode::NOT_FOUND, "not_found", "Not found", None);
    let signature_id = SignatureId::parse(signature_id).ok_or_else(not_found)?;
    let session: Session =
        serde_json::from_slice(body).map_err(|_| bad("The body must be a JSON object with the page's session."))?;
    let link = Link::SignSession { signature_id: signature_id.as_str(), expires: session.expires };
    if !state.links.check(&link, &session.session, unix_now()) {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This signing page has been open too long or is not valid; reload it to continue.",
            None,
        ));
    }
    let body: T = serde_json::from_slice(body).map_err(|e| bad(&format!("The body could not be read: {e}")))?;
    let owner = match state.store.signature_owner(&signature_id).await {
        Ok(Some(owner)) => owner,
        Ok(None) => return Err(not_found()),
        Err(e) => {
            tracing::error!(signature_id = %signature_id, error = ?e, "a signer action could not be read");
            return Err(unavailable("Try again in a moment."));
        }
    };
    if owner.replaced {
        return Err(refuse(StatusCode::GONE, "deleted", "This signature was given to someone else.", None));
    }
    Ok(Action { signature_id, request_id: owner.signature_request_id, body })
}

fn unavailable(message: &str) -> ActionError {
    refuse(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message, None)
}

/// Runs `decide` on the signer's request in one transaction, and answers.
async fn act<E>(
    state: &WebState,
    request_id: &SignatureRequestId,
    signature_id: &SignatureId,
    (what, client): (&str, Client),
    decide: impl FnOnce(&mut SignatureRequest) -> Result<Transition, E>,
    refused: impl FnOnce(E) -> Response,
) -> Response {
    let decide = |r: &mut SignatureRequest| decide(r).map(|t| t.by(client));
    match state.store.change_signature_request(request_id, decide).await {
        Ok((request, _)) => {
            tracing::info!(signature_request_id = %request.id, signature_id = %signature_id, action = what, "signer acted");
            (StatusCode::OK, Json(json!({"signature_id": signature_id, "status": request.status.as_str()})))
                .into_response()
        }
        Err(ChangeError::Refused(e)) => refused(e),
        Err(ChangeError::NotFound) => error(StatusCode::NOT_FOUND, "not_found", "Not found", None),
        Err(ChangeError::Store(e)) => {
            tracing::error!(signature_id = %signature_id, error = ?e, "a signer action could not be committed");
            unavailable("Your answer could not be saved; try again.").into_response()
        }
    }
}

fn refusal(r: Refusal) -> Response {
    match r {
        Refusal::NotYourTurn => error(StatusCode::CONFLICT, "conflict", "Other signers must sign before you.", None),
        Refusal::SignerClosed(m) | Refusal::NotAllowed(m) => error(StatusCode::CONFLICT, "conflict", &m, None),
        Refusal::UnknownSignature | Refusal::NotFound => error(StatusCode::NOT_FOUND, "not_found", "Not found", None),
        other => error(StatusCode::CONFLICT, "conflict", &format!("{other:?}"), None),
    }
}

/// Why a sign submission was refused.
enum SignRefusal {
    Field(FieldError),
    State(Refusal),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignBody {
    values: BTreeMap<String, Value>,
    /// `data:image/png;base64,…` by api_id.
    images: BTreeMap<String, String>,
    /// The typed name of a typed signature, by api_id.
    typed: BTreeMap<String, String>,
}

/// `POST /sign/{signature_id}/sign`.
pub async fn sign(
    State(state): State<WebState>,
    Acting(client): Acting,
    Path(signature_id): Path<String>,
    body: Bytes,
) -> Response {
    let Action { signature_id, request_id, body } = match read::<SignBody>(&state, &signature_id, &body).await {
        Ok(action) => action,
        Err(e) => return e.into_response(),
    };
    let mut submission = Submission { values: body.values, images: BTreeMap::new(), typed: body.typed };
    for (api_id, data_url) in body.images {
        let Some(encoded) = data_url.strip_prefix("data:image/png;base64,") else {
            return error(StatusCode::BAD_REQUEST, "bad_request", "The signature must be a PNG image.", Some(&api_id));
        };
        if encoded.len() > MAX_SIGNATURE_IMAGE_BYTES * 4 / 3 + 4 {
            return error(
                StatusCode::BAD_REQUEST,
                "bad_request",
                &format!("The signature image is larger than {} KiB.", MAX_SIGNATURE_IMAGE_BYTES / 1024),
                Some(&api_id),
            );
        }
        match base64::engine::general_purpose::STANDARD.decode(encoded) {
            Ok(png) => submission.images.insert(api_id, png),
            Err(_) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    "The signature image could not be read.",
                    Some(&api_id),
                );
            }
        };
    }
    // Fields are fixed once a request is sent, so they are read before the transaction.
    let fields = match state.store.fields_of(&request_id).await {
        Ok(fields) => fields,
        Err(e) => {
            tracing::error!(signature_request_id = %request_id, error = ?e, "fields could not be read");
            return unavailable("Try again in a moment.").into_response();
        }
    };
    let now = unix_now();
    let decide = |r: &mut SignatureRequest| {
        let index = r.signer_index(&signature_id).ok_or(SignRefusal::State(Refusal::UnknownSignature))?;
        let signed =
            check_submission(&fields, &r.options.field_groups, index, &submission, now).map_err(SignRefusal::Field)?;
        mailed(r, &state.mailing(), now, |r| r.sign(&signature_id, signed.responses, signed.images, now))
            .map_err(SignRefusal::State)
    };
    act(&state, &request_id, &signature_id, ("sign", client), decide, |e| match e {
        SignRefusal::Field(f) => error(StatusCode::BAD_REQUEST, "bad_request", &f.message, Some(&f.api_id)),
        SignRefusal::State(r) => refusal(r),
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DeclineBody {
    reason: String,
}

fn reason(raw: &str, required: bool) -> Result<Option<String>, ActionError> {
    let reason = raw.trim();
    if reason.is_empty() {
        return if required {
            Err(refuse(StatusCode::BAD_REQUEST, "bad_request", "Say why you decline.", Some("reason")))
        } else {
            Ok(None)
        };
    }
    if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(|c| c.is_control() && c != '\n') {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "bad_request",
            &format!("The reason must be plain text of at most {MAX_REASON_CHARS} characters."),
            Some("reason"),
        ));
    }
    Ok(Some(reason.to_owned()))
}

/// `POST /sign/{signature_id}/decline`.
pub async fn decline(
    State(state): State<WebState>,
    Acting(client): Acting,
    Path(signature_id): Path<String>,
    body: Bytes,
) -> Response {
    let Action { signature_id, request_id, body } = match read::<DeclineBody>(&state, &signature_id, &body).await {
        Ok(action) => action,
        Err(e) => return e.into_response(),
    };
    let reason = match reason(&body.reason, true) {
        Ok(reason) => reason.unwrap_or_default(),
        Err(e) => return e.into_response(),
    };
    act(&state, &request_id, &signature_id, ("decline", client), |r| r.decline(&signature_id, &reason), refusal).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ReassignBody {
    name: String,
    email_address: String,
    reason: String,
}

/// `POST /sign/{signature_id}/reassign`.
pub async fn reassign(
    State(state): State<WebState>,
    Acting(client): Acting,
    Path(signature_id): Path<String>,
    body: Bytes,
) -> Response {
    let Action { signature_id, request_id, body } = match read::<ReassignBody>(&state, &signature_id, &body).await {
        Ok(action) => action,
        Err(e) => return e.into_response(),
    };
    let name = match countersign_domain::parse_name(&body.name, "name", countersign_domain::MAX_NAME_CHARS) {
        Ok(name) => name,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", &e.message, Some("name")),
    };
    let email = match EmailAddress::parse(&body.email_address, "email_address") {
        Ok(email) => email,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_request", &e.message, Some("email_address")),
    };
    let reason = match reason(&body.reason, false) {
        Ok(reason) => reason,
        Err(e) => return e.into_response(),
    };
    // The new signer of a request sent by e-mail is invited at once.
    let mailing = state.mailing();
    let decide = |r: &mut SignatureRequest| {
        mailed(r, &mailing, unix_now(), |r| r.reassign(&signature_id, email.as_str(), &name, reason.as_deref()))
    };
    act(&state, &request_id, &signature_id, ("reassign", client), decide, refusal).await
}

//! Our extensions for callbacks (outside the official paths, documented in the README):
//! `callback_test` for the account and for an app, the account's event feed with delivery states,
//! one event with every attempt, resend, and the callback endpoints with their signing secrets.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use countersign_callback::{NewEvent, is_event_id};
use countersign_domain::account::Account;
use countersign_domain::ids::ClientId;
use countersign_store::deliveries::{AttemptInfo, DeliverySummary, EventSummary};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::params::{Count, Params, Text, ignored_warnings};
use crate::state::AppState;
use crate::warnings::Reply;

fn seconds(ms: i64) -> i64 {
    ms.div_euclid(1000)
}

fn delivery_json(d: &DeliverySummary, attempts: Option<&[AttemptInfo]>) -> Value {
    let mut value = json!({
        "delivery_id": d.id,
        "target": d.target,
        "client_id": d.client_id,
        "url": d.url,
        "state": d.state,
        "attempts": d.attempts,
        "last_status_code": d.last_status,
        "last_error": d.last_error,
        "next_attempt_at": (d.state == "pending").then(|| seconds(d.next_attempt_ms)),
        "delivered_at": d.delivered_at_ms.map(seconds),
    });
    if let Some(attempts) = attempts {
        value["payload"] = json!(d.payload);
        value["attempt_log"] = attempts
            .iter()
            .filter(|a| a.delivery_id == d.id)
            .map(|a| {
                json!({
                    "attempt": a.attempt_no,
                    "started_at_ms": a.started_at_ms,
                    "url": a.url,
                    "status_code": a.status_code,
                    "latency_ms": a.latency_ms,
                    "response_excerpt": a.response_excerpt,
                    "error": a.error,
                    "outcome": a.outcome,
                })
            })
            .collect();
    }
    value
}

/// An event as the feed shows it; with `attempts`, also each delivery's payload and attempt log.
pub fn event_json(e: &EventSummary, attempts: Option<&[AttemptInfo]>) -> Value {
    json!({
        "event_id": e.id,
        "event_type": e.event_type,
        "event_time": e.event_time,
        "signature_request_id": e.signature_request_id,
        "event_sequence": e.event_sequence,
        "client_id": e.client_id,
        "created_at_ms": e.created_at_ms,
        "deliveries": e.deliveries.iter().map(|d| delivery_json(d, attempts)).collect::<Vec<_>>(),
    })
}

async fn send_test_event(state: &AppState, caller: &Account, client_id: Option<String>) -> ApiResult<Reply> {
    let client_ids: Vec<&str> = client_id.as_deref().into_iter().collect();
    let events = [NewEvent::callback_test(client_id.clone())];
    let inserted = state.store.record_account_events(&caller.id, &client_ids, &events).await?;
    let event_id = inserted.first().map(|e| e.event_id.clone()).unwrap_or_default();
    let (event, _) = state.store.event_detail(&caller.id, &event_id).await?.ok_or_else(ApiError::not_found)?;
    tracing::info!(account_id = %caller.id, client_id = client_id.as_deref().unwrap_or(""), event_id = %event_id, "callback_test queued");
    Ok(Reply::ok(json!({ "event": event_json(&event, None) })))
}

/// `POST /v3/account/callback_test`: a `callback_test` event to the account's callback URL.
pub async fn account_callback_test(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
) -> ApiResult<Reply> {
    if caller.callback_url.is_none() {
        return Err(ApiError::bad_param(
            "callback_url",
            "This account has no callback URL; set one with PUT /v3/account.",
        ));
    }
    send_test_event(&state, &caller, None).await
}

/// `POST /v3/api_app/{client_id}/callback_test`: a `callback_test` event to the app's callback URL.
pub async fn app_callback_test(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    Path(raw): Path<String>,
) -> ApiResult<Reply> {
    let client_id = ClientId::parse(&raw).ok_or_else(ApiError::not_found)?;
    let app = state.store.api_app(&caller.id, &client_id).await?.ok_or_else(ApiError::not_found)?;
    if app.callback_url.is_none() {
        return Err(ApiError::bad_param(
            "callback_url",
            "This app has no callback URL; set one with PUT /v3/api_app/{client_id}.",
        ));
    }
    send_test_event(&state, &caller, Some(client_id.as_str().to_owned())).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct TriggerParams {
    event_type: Text,
    url: Text,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// `POST /v3/x/trigger` (what `countersign trigger` calls): a realistic sample event of `event_type`
/// (any of the 23; its signature request, template or account exists only in the event, in test mode),
/// delivered like a real one — signed, retried, in the event log — to the account's callback URL, or to
/// `url` instead (checked as a callback URL is).
pub async fn trigger(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    params: Params,
) -> ApiResult<Reply> {
    let p: TriggerParams = params.parse()?;
    let raw = p.event_type.non_blank().ok_or_else(|| ApiError::missing("event_type"))?;
    let kind = countersign_callback::EventType::parse(raw).ok_or_else(|| {
        let names: Vec<&str> = countersign_callback::EventType::ALL.iter().map(|t| t.as_str()).collect();
        ApiError::bad_param("event_type", format!("Unknown event type {raw:?}: one of {}", names.join(", ")))
    })?;
    let context = countersign_domain::samples::SampleContext {
        email: caller.email.as_str(),
        public_url: &state.config.public_url,
        account: crate::routes::account::account_json(&caller),
        now: countersign_domain::time::unix_now(),
    };
    let event = countersign_domain::samples::sample_event(kind, &context);
    let url = p.url.non_blank();
    let inserted = match url {
        Some(raw) => {
            let config = &state.config;
            let url = countersign_domain::callback_url::check_callback_url(
                raw,
                config.callback_policy,
                "url",
                config.callback_dns_timeout,
            )
            .await?;
            let targets = state.store.outbox_targets_to(&caller.id, url.as_str()).await?;
            state.store.record_events(&targets, &[event]).await?
        }
        None if caller.callback_url.is_none() => {
            return Err(ApiError::bad_param(
                "url",
                "This account has no callback URL: set one with PUT /v3/account, or give url.",
            ));
        }
        None => state.store.record_account_events(&caller.id, &[], &[event]).await?,
    };
    let event_id = inserted.first().map(|e| e.event_id.clone()).unwrap_or_default();
    let (event, _) = state.store.event_detail(&caller.id, &event_id).await?.ok_or_else(ApiError::not_found)?;
    tracing::info!(account_id = %caller.id, event_id = %event_id, event_type = %kind, "sample event triggered");
    Ok(Reply::ok(json!({ "event": event_json(&event, None) })).with_warnings(ignored_warnings(p.other.keys())))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct FeedQuery {
    after: Text,
    limit: Count,
    #[serde(flatten)]
    other: BTreeMap<String, Value>,
}

/// Largest page of the event feed.
pub const MAX_FEED_LIMIT: u32 = 1000;

/// `GET /v3/events?after=CURSOR&limit=N`: the account's events in commit order, each with its
/// deliveries' states, for reconciliation after downtime. Pass `next_cursor` back as `after`.
pub async fn feed(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    RawQuery(query): RawQuery,
) -> ApiResult<Reply> {
    let query: FeedQuery = Params::from_query(query.as_deref())?.parse()?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_FEED_LIMIT).contains(&limit) {
        return Err(ApiError::bad_param("limit", format!("limit must be between 1 and {MAX_FEED_LIMIT}")));
    }
    let page =
        state.store.events_feed(&caller.id, query.after.as_deref().filter(|c| !c.is_empty()), i64::from(limit)).await?;
    let body = json!({
        "events": page.events.iter().map(|e| event_json(e, None)).collect::<Vec<_>>(),
        "next_cursor": page.next_cursor,
        "has_more": page.events.len() == limit as usize,
    });
    Ok(Reply::ok(body).with_warnings(ignored_warnings(query.other.keys())))
}

/// `GET /v3/events/{event_id}`: one event with every delivery's payload and attempt log.
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    Path(event_id): Path<String>,
) -> ApiResult<Reply> {
    if !is_event_id(&event_id) {
        return Err(ApiError::not_found());
    }
    let (event, attempts) = state.store.event_detail(&caller.id, &event_id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(json!({ "event": event_json(&event, Some(&attempts)) })))
}

/// `POST /v3/events/{event_id}/resend`: every delivery of the event again, same bytes, fresh schedule.
pub async fn resend(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    Path(event_id): Path<String>,
) -> ApiResult<Reply> {
    if !is_event_id(&event_id) {
        return Err(ApiError::not_found());
    }
    let queued = state.store.resend_event(&caller.id, &event_id).await?.ok_or_else(ApiError::not_found)?;
    tracing::info!(account_id = %caller.id, event_id = %event_id, queued, "event resent");
    let (event, _) = state.store.event_detail(&caller.id, &event_id).await?.ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(json!({ "queued": queued, "event": event_json(&event, None) })))
}

/// `GET /v3/callback_endpoints`: the account's callback URLs with their Standard Webhooks secrets
/// (`whsec_…`, for verifying `webhook-signature`) and their health.
pub async fn endpoints(State(state): State<AppState>, Extension(caller): Extension<Account>) -> ApiResult<Reply> {
    let endpoints = state.store.endpoints_of(&caller.id).await?;
    let list: Vec<Value> = endpoints
        .iter()
        .map(|e| {
            json!({
                "url": e.url,
                "webhook_secret": e.secret.expose(),
                "state": if e.disabled_at_ms.is_some() { "disabled" } else { "enabled" },
                "disabled_at": e.disabled_at_ms.map(seconds),
                "disabled_reason": e.disabled_reason,
                "consecutive_dead_deliveries": e.consecutive_dead,
                "parked_deliveries": e.parked,
            })
        })
        .collect();
    Ok(Reply::ok(json!({ "callback_endpoints": list })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct EnableParams {
    url: Text,
}

/// `POST /v3/callback_endpoints/enable` with `url`: re-enables a disabled callback URL and replays
/// the deliveries parked for it.
pub async fn enable_endpoint(
    State(state): State<AppState>,
    Extension(caller): Extension<Account>,
    params: Params,
) -> ApiResult<Reply> {
    let params: EnableParams = params.parse()?;
    let url = params.url.0.filter(|u| !u.trim().is_empty()).ok_or_else(|| ApiError::missing("url"))?;
    let replayed = state.store.enable_endpoint(&caller.id, url.trim()).await?.ok_or_else(ApiError::not_found)?;
    Ok(Reply::ok(json!({ "url": url.trim(), "state": "enabled", "replayed": replayed })))
}

/// After a callback URL is saved: its endpoint exists (so its signing secret can be read before the
/// first event), and saving a disabled URL again re-enables it and replays what was parked.
pub async fn callback_url_saved(state: &AppState, caller: &Account, url: &str) -> ApiResult<()> {
    state.store.endpoint_for(&caller.id, url).await?;
    state.store.enable_endpoint(&caller.id, url).await?;
    Ok(())
}

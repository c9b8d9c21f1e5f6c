//! `PUT /v1/event/fire/<name>` and `GET /v1/event/list?name=`: user events,
//! as Consul's (kept in the replicated store; see `store/src/events.rs`).
//! As in Consul, an event's node, service and tag filters (regular
//! expressions) decide which agents act on it: an agent lists only the
//! events whose filters match its node name and one of its services.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use praetor_api::event::UserEvent;
use praetor_server::read::Events;
use praetor_store::Command;

use super::error::ApiError;
use super::extract::{Body, Caller, Path};
use super::query::{self, Params, ReadOpts};
use super::AppState;

/// `PUT /v1/event/fire/<name>` (`?node=`, `?service=`, `?tag=` filters; the
/// body is the payload): answers the event.
pub async fn fire(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let dc = query::check_dc(&p, &state)?;
    if name.is_empty() {
        return Err(ApiError::BadRequest("Missing name".into()));
    }
    if body.len() > 100 * 1024 {
        return Err(ApiError::TooLarge(format!(
            "User event payload is {} bytes; the limit is 102400",
            body.len()
        )));
    }
    let tag = p.get("tag").unwrap_or("").to_owned();
    let service = p.get("service").unwrap_or("").to_owned();
    if !tag.is_empty() && service.is_empty() {
        return Err(ApiError::BadRequest(
            "Cannot provide tag filter without service filter".into(),
        ));
    }
    for what in ["node", "service", "tag"] {
        if let Some(f) = p.get(what).filter(|f| !f.is_empty()) {
            regex_lite::Regex::new(f)
                .map_err(|e| ApiError::BadRequest(format!("Invalid {what} filter: {e}")))?;
        }
    }
    let event = UserEvent {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        payload: praetor_api::kv::encode_value(&body),
        node_filter: p.get("node").unwrap_or("").to_owned(),
        service_filter: service,
        tag_filter: tag,
        version: 1,
        ltime: 0,
    };
    let (index, _) = query::write(
        &state,
        &caller,
        dc.as_deref(),
        Command::EventFire(event.clone().into()),
    )
    .await?;
    let event = UserEvent {
        ltime: index,
        ..event
    };
    Ok(([("X-Consul-Index", index.to_string())], Json(event)).into_response())
}

/// `GET /v1/event/list` (`?name=`): the recent events, oldest first; a
/// blocking query that returns when a new event is fired.
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let opts = ReadOpts::from_params(&p, &state)?;
    let name = p.get("name").filter(|n| !n.is_empty()).map(str::to_owned);
    let r = query::run(&state, &caller, &opts, Events { name }).await?;
    let headers = query::headers_of(&r, opts.consistency);
    let list = delivered(&state, r.answer);
    Ok((headers, Json(list)).into_response())
}

/// The events of `list` this agent acts on (its node name and the
/// services it owns now), in order: what `/v1/event/list` answers and an
/// `event` watch hands over.
pub fn delivered(state: &AppState, list: Vec<UserEvent>) -> Vec<UserEvent> {
    let node = state.config().node_name.clone();
    let services = state.local.owned().services;
    list.into_iter()
        .filter(|e| delivered_here(e, &node, services.values()))
        .collect()
}

/// Whether an agent on `node` with `services` acts on event `e` (Consul's
/// `shouldProcessUserEvent`): the node filter must match the node name, and
/// the service filter (with the tag filter, if any) one of its services.
/// Filters are anchored nowhere, as Go's `regexp.MatchString`.
fn delivered_here<'a>(
    e: &UserEvent,
    node: &str,
    mut services: impl Iterator<Item = &'a praetor_api::catalog::ServiceDefinition>,
) -> bool {
    let matches = |re: &str, s: &str| regex_lite::Regex::new(re).is_ok_and(|r| r.is_match(s));
    if !e.node_filter.is_empty() && !matches(&e.node_filter, node) {
        return false;
    }
    if e.service_filter.is_empty() {
        return true;
    }
    services.any(|s| {
        matches(&e.service_filter, &s.service)
            && (e.tag_filter.is_empty() || s.tags.iter().any(|t| matches(&e.tag_filter, t)))
    })
}

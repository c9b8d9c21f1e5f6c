//! Consul's coordinate endpoints: the servers' coordinates by datacenter
//! (`/v1/coordinate/datacenters`, no ACL, not blocking, as Consul's), every
//! node's (`/v1/coordinate/nodes`, filtered by `node:read`) and one node's
//! (`/v1/coordinate/node/<node>`, 404 when it has none), both blocking
//! queries with `?stale`/`?consistent`/`?dc`; and `PUT
//! /v1/coordinate/update` (`node:write`), which the leader batches.

use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use praetor_api::coordinate::{CoordinateDatacenterMap, CoordinateEntry};
use praetor_server::read::{CoordinateNode, CoordinateNodes};
use praetor_store::Command;

use super::error::ApiError;
use super::extract::{Caller, Path};
use super::query::{self, Params, ReadOpts};
use super::AppState;
use crate::coordinate::{to_api, to_record, validate};

/// The coordinate routes.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/coordinate/datacenters", get(datacenters))
        .route("/v1/coordinate/nodes", get(nodes))
        .route("/v1/coordinate/node/{node}", get(node))
        .route("/v1/coordinate/update", put(update))
}

/// `GET /v1/coordinate/datacenters`: each datacenter's servers and their
/// WAN coordinates, as a server's WAN pool holds them (this agent's, or
/// one of its servers' on a client agent, as Consul forwards it): see
/// `federation::distance::wan_maps`.
pub async fn datacenters(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<CoordinateDatacenterMap>>, ApiError> {
    Params::parse(q.as_deref()).check()?;
    let hold = state.config().rpc_hold_timeout;
    Ok(Json(state.backend.coordinate_maps(hold).await?))
}

/// `GET /v1/coordinate/nodes`.
pub async fn nodes(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let opts = ReadOpts::from_params(&p, &state)?;
    let r = query::run(&state, &caller, &opts, CoordinateNodes).await?;
    let headers = query::headers_of(&r, opts.consistency);
    let body: Vec<CoordinateEntry> = r.answer.into_iter().map(to_api).collect();
    Ok((headers, Json(body)).into_response())
}

/// `GET /v1/coordinate/node/<node>`: its coordinates, one per segment;
/// 404 with an empty body when it has none, as Consul's.
pub async fn node(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(node): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let opts = ReadOpts::from_params(&p, &state)?;
    let r = query::run(&state, &caller, &opts, CoordinateNode { node }).await?;
    let headers = query::headers_of(&r, opts.consistency);
    if r.answer.is_empty() {
        return Ok((StatusCode::NOT_FOUND, headers).into_response());
    }
    let body: Vec<CoordinateEntry> = r.answer.into_iter().map(to_api).collect();
    Ok((headers, Json(body)).into_response())
}

/// `PUT /v1/coordinate/update`: `{"Node", "Segment", "Coord"}`. Queued on
/// the leader for its next batch and answered at once (200, no body), as
/// Consul's; an update for a node not in the catalog is dropped there.
/// `?dc=` sends it to that datacenter's leader.
pub async fn update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let dc = query::check_dc(&Params::parse(q.as_deref()), &state)?;
    let entry: CoordinateEntry = super::json_body(&body)?;
    validate(&entry).map_err(ApiError::BadRequest)?;
    query::write(
        &state,
        &caller,
        dc.as_deref(),
        Command::CoordinateBatchUpdate(vec![to_record(&entry)]),
    )
    .await?;
    Ok(StatusCode::OK.into_response())
}

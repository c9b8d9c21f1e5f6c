//! Catalog endpoints: `/v1/catalog/datacenters`, `/v1/catalog/nodes`,
//! `/v1/catalog/node/<node>` and `/v1/health/node/<node>`, in Consul's
//! shapes, all blocking queries with `?stale`/`?consistent`/`?dc`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use praetor_api::catalog::NodeServices;
use praetor_server::{Answer, Query, QueryResult};

use super::error::ApiError;
use super::query::{self, read_headers, Params, ReadOpts};
use super::AppState;

/// The known datacenters, this agent's first.
pub async fn datacenters(State(state): State<Arc<AppState>>) -> Json<Vec<String>> {
    Json(vec![state.config().datacenter.clone()])
}

async fn read(
    state: &AppState,
    q: Option<&str>,
    query: Query,
) -> Result<(ReadOpts, QueryResult), ApiError> {
    let p = Params::parse(q);
    let opts = ReadOpts::from_params(&p, state)?;
    let r = query::run(state, &opts, query).await?;
    Ok((opts, r))
}

/// `GET /v1/catalog/nodes`.
pub async fn nodes(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (opts, r) = read(&state, q.as_deref(), Query::CatalogNodes).await?;
    let Answer::Nodes(nodes) = r.answer else {
        return Err(unexpected());
    };
    Ok((
        read_headers(&r.meta, r.index, opts.consistency),
        Json(nodes),
    )
        .into_response())
}

/// `GET /v1/catalog/node/<node>`: the node and its services, or `null`
/// when there is no such node (Consul answers 200 with `null`).
pub async fn node(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (opts, r) = read(&state, q.as_deref(), Query::CatalogNode { name }).await?;
    let Answer::Nodes(mut nodes) = r.answer else {
        return Err(unexpected());
    };
    let body = nodes.pop().map(|node| NodeServices {
        node,
        services: BTreeMap::new(),
    });
    Ok((read_headers(&r.meta, r.index, opts.consistency), Json(body)).into_response())
}

/// `GET /v1/health/node/<node>`: the node's checks.
pub async fn health_node(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (opts, r) = read(&state, q.as_deref(), Query::NodeChecks { name }).await?;
    let Answer::Checks(checks) = r.answer else {
        return Err(unexpected());
    };
    Ok((
        read_headers(&r.meta, r.index, opts.consistency),
        Json(checks),
    )
        .into_response())
}

fn unexpected() -> ApiError {
    ApiError::Failed("the server answered a different query".into())
}

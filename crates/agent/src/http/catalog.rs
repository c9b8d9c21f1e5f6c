//! Catalog and health endpoints in Consul's shapes: register and
//! deregister, datacenters, nodes, a node and its services, services, a
//! service's instances, and health by node, service and state; every read a
//! blocking query with `?stale`/`?consistent`/`?dc`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use praetor_api::catalog::{DeregisterRequest, NodeServices, RegisterRequest};
use praetor_server::{Answer, Query, QueryResult};
use praetor_store::{Command, Response as Applied};

use super::error::ApiError;
use super::extract::Path;
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
    reply(&state, q.as_deref(), Query::CatalogNodes, |a| match a {
        Answer::Nodes(nodes) => Some(nodes),
        _ => None,
    })
    .await
}

/// `GET /v1/catalog/node/<node>`: the node and its services by ID, or
/// `null` when there is no such node (Consul answers 200 with `null`).
pub async fn node(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    reply(
        &state,
        q.as_deref(),
        Query::CatalogNode { name },
        |a| match a {
            Answer::NodeServices(node, services) => Some(node.map(|node| {
                NodeServices {
                    node,
                    services: services
                        .into_iter()
                        .map(|s| (s.id.clone(), s))
                        .collect::<BTreeMap<_, _>>(),
                }
            })),
            _ => None,
        },
    )
    .await
}

/// `GET /v1/catalog/node-services/<node>`: `{"Node", "Services": [...]}`.
pub async fn node_services(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    reply(
        &state,
        q.as_deref(),
        Query::CatalogNode { name },
        |a| match a {
            Answer::NodeServices(node, services) => {
                Some(node.map(|node| serde_json::json!({ "Node": node, "Services": services })))
            }
            _ => None,
        },
    )
    .await
}

/// `GET /v1/catalog/services`: service names with their tags.
pub async fn services(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    reply(&state, q.as_deref(), Query::CatalogServices, |a| match a {
        Answer::Services(services) => Some(services),
        _ => None,
    })
    .await
}

/// `GET /v1/catalog/service/<name>` (`?tag=`; `?near=` is accepted and
/// ignored).
pub async fn service(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let tag = Params::parse(q.as_deref()).get("tag").map(str::to_owned);
    reply(
        &state,
        q.as_deref(),
        Query::ServiceNodes { name, tag },
        |a| match a {
            Answer::CatalogServices(list) => Some(list),
            _ => None,
        },
    )
    .await
}

/// `GET /v1/health/service/<name>` (`?passing`, `?tag=`).
pub async fn health_service(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let tag = p.get("tag").map(str::to_owned);
    let passing = p.flag("passing");
    let query = Query::HealthService { name, tag, passing };
    reply(&state, q.as_deref(), query, |a| match a {
        Answer::ServiceEntries(list) => Some(list),
        _ => None,
    })
    .await
}

/// `GET /v1/health/checks/<service>`.
pub async fn health_checks(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    checks_answer(&state, q.as_deref(), Query::ServiceChecks { name }).await
}

/// `GET /v1/health/state/<state>`: `passing`, `warning`, `critical` or `any`.
pub async fn health_state(
    State(state): State<Arc<AppState>>,
    Path(wanted): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    if !["any", "passing", "warning", "critical"].contains(&wanted.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "Invalid check state {wanted:?}"
        )));
    }
    checks_answer(&state, q.as_deref(), Query::ChecksInState { state: wanted }).await
}

async fn checks_answer(
    state: &AppState,
    q: Option<&str>,
    query: Query,
) -> Result<Response, ApiError> {
    reply(state, q, query, |a| match a {
        Answer::Checks(checks) => Some(checks),
        _ => None,
    })
    .await
}

/// `PUT /v1/catalog/register`: Consul's register body; answers `true`.
pub async fn register(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    query::check_dc(&Params::parse(q.as_deref()), &state)?;
    let mut req: RegisterRequest = super::json_body(&body)?;
    if req.datacenter.is_empty() {
        req.datacenter = state.config().datacenter.clone();
    }
    let (index, resp) = state
        .backend
        .write(Command::CatalogRegister(req.into()))
        .await?;
    if let Applied::Refused(reason) = resp {
        return Err(ApiError::BadRequest(reason));
    }
    Ok(([("X-Consul-Index", index.to_string())], Json(true)).into_response())
}

/// `PUT /v1/catalog/deregister`: a check, a service or a whole node.
pub async fn deregister(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    query::check_dc(&Params::parse(q.as_deref()), &state)?;
    let req: DeregisterRequest = super::json_body(&body)?;
    if req.node.is_empty() {
        return Err(ApiError::BadRequest("Must provide node".into()));
    }
    let (index, _) = state
        .backend
        .write(Command::CatalogDeregister(req.into()))
        .await?;
    Ok(([("X-Consul-Index", index.to_string())], Json(true)).into_response())
}

/// `GET /v1/health/node/<node>`: the node's checks.
pub async fn health_node(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    checks_answer(&state, q.as_deref(), Query::NodeChecks { name }).await
}

/// Runs `query` and answers with what `pick` takes from its answer, with
/// Consul's read headers.
async fn reply<T: serde::Serialize>(
    state: &AppState,
    q: Option<&str>,
    query: Query,
    pick: impl FnOnce(Answer) -> Option<T>,
) -> Result<Response, ApiError> {
    let (opts, r) = read(state, q, query).await?;
    let body = pick(r.answer).ok_or_else(unexpected)?;
    let body = serde_json::to_value(body).map_err(|e| ApiError::Failed(e.to_string()))?;
    let body = super::filter::apply(&Params::parse(q), body)?;
    Ok((read_headers(&r.meta, r.index, opts.consistency), Json(body)).into_response())
}

fn unexpected() -> ApiError {
    ApiError::Failed("the server answered a different query".into())
}

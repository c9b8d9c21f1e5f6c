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
use praetor_server::acl::Guarded;
use praetor_server::read::{
    CatalogNode, CatalogNodes, CatalogServices, ChecksInState, HealthService, NodeChecks,
    ServiceChecks, ServiceNodes,
};
use praetor_store::{Command, Response as Applied};

use super::error::ApiError;
use super::extract::{Caller, Path};
use super::query::{self, Params, ReadOpts};
use super::AppState;

/// The known datacenters, this agent's first.
pub async fn datacenters(State(state): State<Arc<AppState>>) -> Json<Vec<String>> {
    Json(vec![state.config().datacenter.clone()])
}

/// `GET /v1/catalog/nodes`.
pub async fn nodes(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    reply(&state, &caller, q.as_deref(), CatalogNodes, |nodes| nodes).await
}

/// `GET /v1/catalog/node/<node>`: the node and its services by ID, or
/// `null` when there is no such node (Consul answers 200 with `null`).
pub async fn node(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    reply(
        &state,
        &caller,
        q.as_deref(),
        CatalogNode { name },
        |(node, services)| {
            node.map(|node| NodeServices {
                node,
                services: services
                    .into_iter()
                    .map(|s| (s.id.clone(), s))
                    .collect::<BTreeMap<_, _>>(),
            })
        },
    )
    .await
}

/// `GET /v1/catalog/node-services/<node>`: `{"Node", "Services": [...]}`.
pub async fn node_services(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    reply(
        &state,
        &caller,
        q.as_deref(),
        CatalogNode { name },
        |(node, services)| {
            node.map(|node| serde_json::json!({ "Node": node, "Services": services }))
        },
    )
    .await
}

/// `GET /v1/catalog/services`: service names with their tags.
pub async fn services(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    reply(&state, &caller, q.as_deref(), CatalogServices, |services| {
        services
    })
    .await
}

/// `GET /v1/catalog/service/<name>` (`?tag=`; `?near=` is accepted and
/// ignored).
pub async fn service(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let tag = Params::parse(q.as_deref()).get("tag").map(str::to_owned);
    reply(
        &state,
        &caller,
        q.as_deref(),
        ServiceNodes { name, tag },
        |list| list,
    )
    .await
}

/// `GET /v1/health/service/<name>` (`?passing`, `?tag=`).
pub async fn health_service(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let tag = p.get("tag").map(str::to_owned);
    let passing = p.flag("passing");
    let read = HealthService { name, tag, passing };
    reply(&state, &caller, q.as_deref(), read, |list| list).await
}

/// `GET /v1/health/checks/<service>`.
pub async fn health_checks(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    reply(
        &state,
        &caller,
        q.as_deref(),
        ServiceChecks { name },
        |list| list,
    )
    .await
}

/// `GET /v1/health/state/<state>`: `passing`, `warning`, `critical` or `any`.
pub async fn health_state(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(wanted): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    check_state(&wanted)?;
    let read = ChecksInState { state: wanted };
    reply(&state, &caller, q.as_deref(), read, |list| list).await
}

/// Refuses a state `/v1/health/state/<state>` does not know.
///
/// # Errors
/// `BadRequest` naming the state.
pub fn check_state(state: &str) -> Result<(), ApiError> {
    if ["any", "passing", "warning", "critical"].contains(&state) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "Invalid check state {state:?}"
        )))
    }
}

/// `PUT /v1/catalog/register`: Consul's register body; answers `true`.
pub async fn register(
    State(state): State<Arc<AppState>>,
    caller: Caller,
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
        .write(
            caller.token(),
            Command::catalog_register(req.into(), crate::definition::check_types(&body)),
        )
        .await?;
    if let Applied::Refused(reason) = resp {
        return Err(ApiError::BadRequest(reason));
    }
    Ok(([("X-Consul-Index", index.to_string())], Json(true)).into_response())
}

/// `PUT /v1/catalog/deregister`: a check, a service or a whole node.
pub async fn deregister(
    State(state): State<Arc<AppState>>,
    caller: Caller,
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
        .write(caller.token(), Command::CatalogDeregister(req.into()))
        .await?;
    Ok(([("X-Consul-Index", index.to_string())], Json(true)).into_response())
}

/// `GET /v1/health/node/<node>`: the node's checks.
pub async fn health_node(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    reply(&state, &caller, q.as_deref(), NodeChecks { name }, |list| {
        list
    })
    .await
}

/// Runs `read` and answers with `shape` of its answer (filtered by
/// `?filter=`), with Consul's read headers.
async fn reply<R: Guarded, T: serde::Serialize>(
    state: &AppState,
    caller: &Caller,
    q: Option<&str>,
    read: R,
    shape: impl FnOnce(R::Answer) -> T,
) -> Result<Response, ApiError> {
    let p = Params::parse(q);
    let opts = ReadOpts::from_params(&p, state)?;
    let r = query::run(state, caller, &opts, read).await?;
    let headers = query::headers_of(&r, opts.consistency);
    let body =
        serde_json::to_value(shape(r.answer)).map_err(|e| ApiError::Failed(e.to_string()))?;
    let body = super::filter::apply(&p, body)?;
    Ok((headers, Json(body)).into_response())
}

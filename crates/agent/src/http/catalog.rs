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
    CatalogNode, CatalogNodes, CatalogServices, ChecksInState, CoordinateNodes, HealthService,
    NodeChecks, ServiceChecks, ServiceInstances, ServiceNodes,
};
use praetor_store::{Command, Response as Applied};
use serde_json::Value;

use super::error::ApiError;
use super::extract::{Caller, Path};
use super::query::{self, Params, ReadOpts};
use super::AppState;

/// `GET /v1/catalog/datacenters`: every datacenter the servers' WAN pool
/// knows, nearest first (`federation::datacenters_by_rtt`); a client
/// agent asks one of its servers.
///
/// # Errors
/// On a client agent, when no server answers.
pub async fn datacenters(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Vec<String>>, ApiError> {
    let hold = state.config().rpc_hold_timeout;
    Ok(Json(state.backend.datacenters(hold).await?))
}

/// `GET /v1/catalog/nodes`.
pub async fn nodes(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    reply_near(
        &state,
        &caller,
        q.as_deref(),
        CatalogNodes,
        |nodes| nodes,
        |n| &n.node,
    )
    .await
}

/// `GET /v1/catalog/node/<node>`: the node and its services by ID, or
/// `null` when there is no such node (Consul answers 200 with `null`).
/// `?filter=` selects among the services, as Consul's does.
pub async fn node(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    reply_with(
        &state,
        &caller,
        q.as_deref(),
        CatalogNode { name },
        filter_services,
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

/// `GET /v1/catalog/node-services/<node>`: `{"Node", "Services": [...]}`;
/// `?filter=` selects among the services.
pub async fn node_services(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    reply_with(
        &state,
        &caller,
        q.as_deref(),
        CatalogNode { name },
        filter_services,
        |(node, services)| {
            node.map(|node| serde_json::json!({ "Node": node, "Services": services }))
        },
    )
    .await
}

/// `GET /v1/catalog/services`: service names with their tags. With
/// `?filter=`, as Consul: the filter selects among every instance (the
/// fields of `/v1/catalog/service/<name>`: `ServiceName`, `ServiceTags`,
/// `ServiceMeta`, `NodeMeta`, …) and the answer lists the names and tags
/// of the instances it kept.
pub async fn services(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    if p.get("filter").is_none_or(|f| f.trim().is_empty()) {
        return reply(&state, &caller, q.as_deref(), CatalogServices, |services| {
            services
        })
        .await;
    }
    reply_with(
        &state,
        &caller,
        q.as_deref(),
        ServiceInstances,
        |p, body| Ok(names_and_tags(super::filter::apply(p, body)?)),
        |list| list,
    )
    .await
}

/// `{name: [tags]}` of a list of instances as `/v1/catalog/service/<name>`
/// shows them: each name once, its tags merged, sorted and unique (the
/// shape of `/v1/catalog/services`).
fn names_and_tags(instances: Value) -> Value {
    let mut out: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
    for i in instances.as_array().into_iter().flatten() {
        let Some(name) = i.get("ServiceName").and_then(Value::as_str) else {
            continue;
        };
        let tags = out.entry(name.to_owned()).or_default();
        let given = i.get("ServiceTags").and_then(Value::as_array);
        tags.extend(
            given
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned),
        );
    }
    serde_json::to_value(out).unwrap_or(Value::Null)
}

/// `?filter=` on a node's services (`/v1/catalog/node/<node>`, whose
/// `Services` is a map by ID, and `/v1/catalog/node-services/<node>`, a
/// list): Consul evaluates it on each service, not on the node.
fn filter_services(p: &Params, mut body: Value) -> Result<Value, ApiError> {
    match body.get_mut("Services") {
        Some(services) => {
            *services = super::filter::apply(p, services.take())?;
            Ok(body)
        }
        // No such node: still refuse a malformed filter.
        None => super::filter::apply(p, body),
    }
}

/// The `?tag=` values of a query: the first goes to the server with the
/// read, the others are checked here on what it answers.
fn tags_of(p: &Params) -> (Option<String>, Vec<String>) {
    let mut tags = p.all("tag").into_iter().map(str::to_owned);
    (tags.next(), tags.collect())
}

/// Whether an instance with `tags` carries every one of `wanted` (Consul
/// ANDs repeated `?tag=`, comparing case-insensitively).
fn has_all(tags: &[String], wanted: &[String]) -> bool {
    wanted
        .iter()
        .all(|t| praetor_store::catalog::has_tag(tags, t))
}

/// `GET /v1/catalog/service/<name>` (`?tag=`, repeatable: an instance must
/// carry every tag; `?near=` sorts by distance).
pub async fn service(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let (tag, more) = tags_of(&Params::parse(q.as_deref()));
    let wan = translate_wan(&state, q.as_deref());
    reply_near(
        &state,
        &caller,
        q.as_deref(),
        ServiceNodes { name, tag },
        |mut list| {
            list.retain(|s| has_all(&s.service_tags, &more));
            if wan {
                crate::federation::translate_catalog_services(&mut list);
            }
            list
        },
        |s| &s.node,
    )
    .await
}

/// Whether answers are for another datacenter under
/// `translate_wan_addrs` (its nodes' and services' `wan` addresses are
/// answered instead, as Consul's).
fn translate_wan(state: &AppState, q: Option<&str>) -> bool {
    let p = Params::parse(q);
    state.config().wan.translate_addrs && matches!(query::check_dc(&p, state), Ok(Some(_)))
}

/// `GET /v1/health/service/<name>` (`?passing`; `?tag=`, repeatable and
/// ANDed as on the catalog; `?near=` sorts by distance).
pub async fn health_service(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let (tag, more) = tags_of(&p);
    let passing = p.flag("passing");
    let read = HealthService { name, tag, passing };
    let wan = translate_wan(&state, q.as_deref());
    reply_near(
        &state,
        &caller,
        q.as_deref(),
        read,
        |mut list| {
            list.retain(|e| has_all(&e.service.tags, &more));
            if wan {
                crate::federation::translate_entries(&mut list);
            }
            list
        },
        |e| &e.node.node,
    )
    .await
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

/// The datacenter a catalog write is for, as Consul picks it: the body's
/// `Datacenter`, else `?dc=`, else this agent's; with the other
/// datacenter to forward the write to, if it is not this one.
///
/// # Errors
/// `BadRequest` for a query string over its limits or a malformed
/// datacenter name.
fn target_dc(
    state: &AppState,
    body_dc: &str,
    q: Option<&str>,
) -> Result<(String, Option<String>), ApiError> {
    let p = Params::parse(q);
    p.check()?;
    let local = state.config().datacenter.clone();
    // The body's `Datacenter` wins over `?dc=`, as Consul's (`?dc=` only
    // fills an empty one).
    let wanted = [body_dc, p.get("dc").unwrap_or_default()]
        .into_iter()
        .find(|dc| !dc.is_empty());
    let remote = query::target_dc(wanted, &local)?;
    Ok((remote.clone().unwrap_or(local), remote))
}

/// `PUT /v1/catalog/register`: Consul's register body; answers `true`.
/// A body or `?dc=` naming another datacenter registers there ([`target_dc`]).
pub async fn register(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let mut req: RegisterRequest = super::json_body(&body)?;
    let remote;
    (req.datacenter, remote) = target_dc(&state, &req.datacenter, q.as_deref())?;
    let (index, resp) = query::write(
        &state,
        &caller,
        remote.as_deref(),
        Command::catalog_register(req, crate::definition::check_types(&body)),
    )
    .await?;
    if let Applied::Refused(reason) = resp {
        return Err(ApiError::BadRequest(reason));
    }
    Ok(([("X-Consul-Index", index.to_string())], Json(true)).into_response())
}

/// `PUT /v1/catalog/deregister`: a check, a service or a whole node, in
/// the datacenter the body or `?dc=` names ([`target_dc`]).
pub async fn deregister(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let mut req: DeregisterRequest = super::json_body(&body)?;
    let remote;
    (req.datacenter, remote) = target_dc(&state, &req.datacenter, q.as_deref())?;
    if req.node.is_empty() {
        return Err(ApiError::BadRequest("Must provide node".into()));
    }
    let (index, _) = query::write(
        &state,
        &caller,
        remote.as_deref(),
        Command::CatalogDeregister(req.into()),
    )
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

/// As [`reply`] for a list whose items are on nodes (`node_of`): with
/// `?near=<node>` (`_agent`: this agent's), sorted by the estimated round
/// trip from that node, using the coordinates as the server has them when
/// the read answers (`crate::coordinate::near`).
async fn reply_near<R: Guarded, I: serde::Serialize>(
    state: &AppState,
    caller: &Caller,
    q: Option<&str>,
    read: R,
    shape: impl FnOnce(R::Answer) -> Vec<I>,
    node_of: impl Fn(&I) -> &str,
) -> Result<Response, ApiError> {
    use crate::coordinate::near;
    let p = Params::parse(q);
    let opts = ReadOpts::from_params(&p, state)?;
    let r = query::run(state, caller, &opts, read).await?;
    let headers = query::headers_of(&r, opts.consistency);
    let mut list = shape(r.answer);
    if let Some(from) = near::near_node(p.get("near"), &state.config().node_name) {
        let now = ReadOpts { index: 0, ..opts };
        let coords = query::run(state, caller, &now, CoordinateNodes).await?;
        near::sort_by_distance(&mut list, node_of, &from, &coords.answer);
    }
    let body = serde_json::to_value(list).map_err(|e| ApiError::Failed(e.to_string()))?;
    let body = super::filter::apply(&p, body)?;
    Ok((headers, Json(body)).into_response())
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
    reply_with(state, caller, q, read, super::filter::apply, shape).await
}

/// As [`reply`], with `filter` applying `?filter=` to the shaped answer
/// (for the endpoints whose filter is not over the answer's items).
async fn reply_with<R: Guarded, T: serde::Serialize>(
    state: &AppState,
    caller: &Caller,
    q: Option<&str>,
    read: R,
    filter: impl FnOnce(&Params, Value) -> Result<Value, ApiError>,
    shape: impl FnOnce(R::Answer) -> T,
) -> Result<Response, ApiError> {
    let p = Params::parse(q);
    let opts = ReadOpts::from_params(&p, state)?;
    let r = query::run(state, caller, &opts, read).await?;
    let headers = query::headers_of(&r, opts.consistency);
    let body =
        serde_json::to_value(shape(r.answer)).map_err(|e| ApiError::Failed(e.to_string()))?;
    let body = filter(&p, body)?;
    Ok((headers, Json(body)).into_response())
}

//! `/v1/agent/service/*` and `/v1/agent/check/*`: the services and checks
//! this agent owns, in Consul's shapes. Bodies are parsed by `definition`;
//! the services and checks persist in the data dir and reach the catalog
//! through anti-entropy (`local.rs`); the agent runs their checks itself
//! (`checks.rs`): TTL, HTTP(S), TCP, UDP, script, gRPC and alias.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::Json;
use praetor_api::catalog::{check_status, ServiceDefinition};
use serde::Deserialize;
use serde_json::{json, Value};

use praetor_acl::{Access, Resource};
use praetor_server::acl::Authz;

use super::error::ApiError;
use super::extract::{Body, Caller, Path};
use super::query::Params;
use super::{json_body, AppState};
use crate::definition::{check_from_body, service_from_body, DefinitionError};
use crate::local::{LocalCheck, LocalError};

impl From<DefinitionError> for ApiError {
    fn from(e: DefinitionError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl From<LocalError> for ApiError {
    fn from(e: LocalError) -> Self {
        match e {
            LocalError::Save { .. } => ApiError::Failed(format!("{e:#}")),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// Consul's 404 for a service ID this agent does not have (the agent's
/// deregister and maintenance endpoints).
fn unknown_service(id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "Unknown service ID {id:?}. Ensure that the service ID is passed, not the service name."
    ))
}

/// Consul's 404 for a check ID this agent does not have (check deregister
/// and the TTL updates).
fn unknown_check(id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "Unknown check ID {id:?}. Ensure that the check ID is passed, not the check name."
    ))
}

/// `err` with an unknown ID as Consul's 404 rather than a 400.
fn not_found(err: LocalError) -> ApiError {
    match err {
        LocalError::UnknownService(id) => unknown_service(&id),
        LocalError::UnknownCheck(id) => unknown_check(&id),
        other => other.into(),
    }
}

/// Write on what a check of this agent checks: its service (by the
/// service's name), or this agent's node.
fn require_check_write(state: &AppState, authz: &Authz, service_id: &str) -> Result<(), ApiError> {
    match state.local.service(service_id) {
        Some(s) if !service_id.is_empty() => {
            Ok(authz.require(Resource::Service, &s.service, Access::Write)?)
        }
        _ => Ok(authz.require(Resource::Node, &state.config().node_name, Access::Write)?),
    }
}

/// Write on this agent's check `id` (what it checks); an unknown check is
/// Consul's 404.
fn require_existing_check_write(state: &AppState, authz: &Authz, id: &str) -> Result<(), ApiError> {
    let Some(service_id) = state.local.check(id).map(|c| c.service_id) else {
        return Err(unknown_check(id));
    };
    require_check_write(state, authz, &service_id)
}

/// Whether `authz` may read check `c` of this agent.
fn check_readable(authz: &Authz, node: &str, service_name: &str) -> bool {
    authz.allows(Resource::Node, node, Access::Read)
        && (service_name.is_empty() || authz.allows(Resource::Service, service_name, Access::Read))
}

/// `X-Consul-Results-Filtered-By-ACLs` when something was left out.
fn filtered_header(filtered: bool) -> axum::http::HeaderMap {
    let mut h = axum::http::HeaderMap::new();
    if filtered {
        h.insert(
            "X-Consul-Results-Filtered-By-ACLs",
            axum::http::HeaderValue::from_static("true"),
        );
    }
    h
}

/// Whether this agent runs script checks (`enable_script_checks` or
/// `enable_local_script_checks`).
pub fn scripts_allowed(state: &AppState) -> bool {
    let cfg = state.config();
    cfg.enable_script_checks || cfg.enable_local_script_checks
}

/// `PUT /v1/agent/service/register`.
pub async fn register_service(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body,
) -> Result<(), ApiError> {
    let (svc, checks) = service_from_body(json_body(&body)?, scripts_allowed(&state))?;
    let authz = state.authorize(&caller).await?;
    authz.require(Resource::Service, &svc.service, Access::Write)?;
    state.local.add_service(svc, checks)?;
    Ok(())
}

/// `PUT /v1/agent/service/deregister/<id>`.
pub async fn deregister_service(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(), ApiError> {
    let authz = state.authorize(&caller).await?;
    let name = state.local.service(&id).map(|s| s.service);
    let Some(name) = name else {
        return Err(unknown_service(&id));
    };
    authz.require(Resource::Service, &name, Access::Write)?;
    state.local.remove_service(&id).map_err(not_found)
}

/// A service as Consul's `AgentService`: `Kind`, `TaggedAddresses`,
/// `Proxy` and `Locality` only when the service has them (Consul's
/// `omitempty`).
fn service_json(state: &AppState, s: &ServiceDefinition) -> Value {
    let mut v = json!({
        "ID": s.id, "Service": s.service, "Tags": s.tags, "Meta": s.meta, "Port": s.port,
        "Address": s.address, "Weights": s.weights.clone().unwrap_or_default(),
        "EnableTagOverride": s.enable_tag_override, "Datacenter": state.config().datacenter,
    });
    if !s.kind.is_empty() {
        v["Kind"] = json!(s.kind);
    }
    if !s.tagged_addresses.is_empty() {
        v["TaggedAddresses"] = json!(s.tagged_addresses);
    }
    if !s.proxy.is_empty() {
        v["Proxy"] = s.proxy.to_value();
    }
    if let Some(l) = &s.locality {
        v["Locality"] = json!(l);
    }
    v
}

/// `GET /v1/agent/services` (`?filter=`): this agent's services by ID.
pub async fn services(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<(axum::http::HeaderMap, Json<Value>), ApiError> {
    let authz = state.authorize(&caller).await?;
    let (all, filtered) = services_map(&state, &authz);
    let body = super::filter::apply(
        &Params::parse(q.as_deref()),
        Value::Object(all.into_iter().collect()),
    )?;
    Ok((filtered_header(filtered), Json(body)))
}

/// The services `authz` may read, and whether any was left out.
fn services_map(state: &AppState, authz: &Authz) -> (BTreeMap<String, Value>, bool) {
    let owned = state.local.owned();
    let mut filtered = false;
    let map = owned
        .services
        .iter()
        .filter(|(_, s)| {
            let ok = authz.allows(Resource::Service, &s.service, Access::Read);
            filtered |= !ok;
            ok
        })
        .map(|(id, s)| (id.clone(), service_json(state, s)))
        .collect();
    (map, filtered)
}

/// `GET /v1/agent/service/<id>`: 404 when this agent has no such service.
pub async fn service(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let authz = state.authorize(&caller).await?;
    match state.local.service(&id) {
        Some(s) => {
            authz.require(Resource::Service, &s.service, Access::Read)?;
            Ok(Json(service_json(&state, &s)))
        }
        None => Err(ApiError::NotFound(format!("unknown service ID: {id}"))),
    }
}

/// `PUT /v1/agent/check/register`.
pub async fn register_check(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Body(body): Body,
) -> Result<(), ApiError> {
    let check = check_from_body(json_body(&body)?, scripts_allowed(&state))?;
    let authz = state.authorize(&caller).await?;
    require_check_write(&state, &authz, &check.service_id)?;
    Ok(state.local.add_check(check)?)
}

/// `PUT /v1/agent/check/deregister/<id>`.
pub async fn deregister_check(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<(), ApiError> {
    let authz = state.authorize(&caller).await?;
    require_existing_check_write(&state, &authz, &id)?;
    state.local.remove_check(&id).map_err(not_found)
}

/// `GET /v1/agent/checks` (`?filter=`): this agent's checks by ID.
pub async fn checks(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<(axum::http::HeaderMap, Json<Value>), ApiError> {
    let authz = state.authorize(&caller).await?;
    let (all, filtered) = checks_map(&state, &authz);
    let body = super::filter::apply(
        &Params::parse(q.as_deref()),
        Value::Object(all.into_iter().collect()),
    )?;
    Ok((filtered_header(filtered), Json(body)))
}

/// The checks `authz` may read, and whether any was left out.
fn checks_map(state: &AppState, authz: &Authz) -> (BTreeMap<String, Value>, bool) {
    let owned = state.local.owned();
    let node = state.config().node_name.clone();
    let mut filtered = false;
    let map = owned
        .checks
        .iter()
        .filter(|(_, c)| {
            let service = owned
                .services
                .get(&c.service_id)
                .map(|s| s.service.as_str())
                .unwrap_or_default();
            let ok = check_readable(authz, &node, service);
            filtered |= !ok;
            ok
        })
        .map(|(id, c)| {
            let svc = owned.services.get(&c.service_id);
            let v = json!({
                "Node": node, "CheckID": c.id, "Name": c.name, "Status": c.status, "Notes": c.notes,
                "Output": c.output, "ServiceID": c.service_id,
                "ServiceName": svc.map(|s| s.service.clone()).unwrap_or_default(),
                "ServiceTags": svc.map(|s| s.tags.clone()).unwrap_or_default(),
                "Type": c.kind_name(),
            });
            (id.clone(), v)
        })
        .collect();
    (map, filtered)
}

/// `PUT /v1/agent/check/pass|warn|fail/<id>?note=`.
pub async fn ttl_mark(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path((verb, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<(), ApiError> {
    let status = match verb.as_str() {
        "pass" => check_status::PASSING,
        "warn" => check_status::WARNING,
        "fail" => check_status::CRITICAL,
        other => {
            return Err(ApiError::BadRequest(format!(
                "unknown check action {other:?}"
            )))
        }
    };
    let authz = state.authorize(&caller).await?;
    require_existing_check_write(&state, &authz, &id)?;
    let note = Params::parse(q.as_deref())
        .get("note")
        .unwrap_or("")
        .to_owned();
    Ok(state.checks.ttl_update(&state.local, &id, status, &note)?)
}

/// `PUT /v1/agent/check/update/<id>` with `{"Status", "Output"}`.
pub async fn ttl_update(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<(), ApiError> {
    let authz = state.authorize(&caller).await?;
    require_existing_check_write(&state, &authz, &id)?;
    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Update {
        status: String,
        #[serde(default)]
        output: String,
    }
    let u: Update = json_body(&body)?;
    Ok(state
        .checks
        .ttl_update(&state.local, &id, &u.status, &u.output)?)
}

/// Consul's default reason when maintenance mode is enabled without one.
const NO_REASON: &str = "Maintenance mode is enabled for this service, but no reason was provided. This is a default message.";

fn maintenance_check(id: String, name: &str, service_id: String, reason: &str) -> LocalCheck {
    LocalCheck {
        id,
        name: name.to_owned(),
        service_id,
        notes: if reason.is_empty() {
            NO_REASON.to_owned()
        } else {
            reason.to_owned()
        },
        status: check_status::CRITICAL.to_owned(),
        output: String::new(),
        deregister_after: None,
        definition: None,
    }
}

/// `enable` as Consul requires it: present and a boolean as Go's
/// `strconv.ParseBool` reads one (`true`, `True`, `1`, `t`, …; py-consul
/// sends Python's `True`).
fn enable_flag(p: &Params) -> Result<bool, ApiError> {
    match p.get("enable") {
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
        Some(v) => Err(ApiError::BadRequest(format!(
            "Invalid value for \"enable\": {v:?}"
        ))),
        None => Err(ApiError::BadRequest("Missing value for enable".into())),
    }
}

/// `PUT /v1/agent/service/maintenance/<id>?enable=&reason=`: a critical
/// `_service_maintenance:<id>` check takes the instance out of healthy
/// answers until maintenance is disabled.
pub async fn service_maintenance(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<(), ApiError> {
    let p = Params::parse(q.as_deref());
    let enable = enable_flag(&p)?;
    let authz = state.authorize(&caller).await?;
    let Some(name) = state.local.service(&id).map(|s| s.service) else {
        return Err(unknown_service(&id));
    };
    authz.require(Resource::Service, &name, Access::Write)?;
    let check_id = format!("_service_maintenance:{id}");
    if enable {
        let reason = p.get("reason").unwrap_or("");
        state.local.add_check(maintenance_check(
            check_id,
            "Service Maintenance Mode",
            id,
            reason,
        ))?;
    } else if state.local.check(&check_id).is_some() {
        state.local.remove_check(&check_id)?;
    }
    Ok(())
}

/// `PUT /v1/agent/maintenance?enable=&reason=`: the same for the whole node
/// (`_node_maintenance`), which makes every service on it unhealthy.
pub async fn node_maintenance(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    RawQuery(q): RawQuery,
) -> Result<(), ApiError> {
    let p = Params::parse(q.as_deref());
    let enable = enable_flag(&p)?;
    let authz = state.authorize(&caller).await?;
    authz.require(Resource::Node, &state.config().node_name, Access::Write)?;
    let check_id = "_node_maintenance".to_owned();
    if enable {
        let reason = p.get("reason").unwrap_or("");
        state.local.add_check(maintenance_check(
            check_id,
            "Node Maintenance Mode",
            String::new(),
            reason,
        ))?;
    } else if state.local.check(&check_id).is_some() {
        state.local.remove_check(&check_id)?;
    }
    Ok(())
}

/// An instance's aggregated health as Consul words it: `maintenance` when
/// the node or the service is in maintenance, else the worst of its
/// checks and its node's (`passing` with none).
fn aggregated_status(checks: &[&LocalCheck]) -> &'static str {
    if checks
        .iter()
        .any(|c| c.id == "_node_maintenance" || c.id.starts_with("_service_maintenance:"))
    {
        return "maintenance";
    }
    let has = |s: &str| checks.iter().any(|c| c.status == s);
    if has(check_status::CRITICAL) {
        check_status::CRITICAL
    } else if has(check_status::WARNING) {
        check_status::WARNING
    } else {
        check_status::PASSING
    }
}

/// The status code load balancers read: 200 passing, 429 warning, 503
/// critical or in maintenance.
fn health_code(status: &str) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    match status {
        check_status::PASSING => StatusCode::OK,
        check_status::WARNING => StatusCode::TOO_MANY_REQUESTS,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The more severe of two aggregated statuses.
fn severity(status: &str) -> u8 {
    match status {
        check_status::PASSING => 0,
        check_status::WARNING => 1,
        check_status::CRITICAL => 2,
        _ => 3,
    }
}

/// `{AggregatedStatus, Service, Checks}` of one local instance: its checks
/// and its node's.
fn instance_health(
    state: &AppState,
    owned: &crate::local::Owned,
    s: &ServiceDefinition,
) -> (&'static str, Value) {
    let node = state.config().node_name.clone();
    let checks: Vec<&LocalCheck> = owned
        .checks
        .values()
        .filter(|c| c.service_id == s.id || c.service_id.is_empty())
        .collect();
    let status = aggregated_status(&checks);
    let checks_json: Vec<Value> = checks
        .iter()
        .map(|c| {
            let service = c.service_id == s.id;
            json!({
                "Node": node, "CheckID": c.id, "Name": c.name, "Status": c.status,
                "Notes": c.notes, "Output": c.output,
                "ServiceID": if service { s.id.as_str() } else { "" },
                "ServiceName": if service { s.service.as_str() } else { "" },
                "ServiceTags": if service { s.tags.clone() } else { Vec::new() },
                "Type": c.kind_name(),
            })
        })
        .collect();
    (
        status,
        json!({ "AggregatedStatus": status, "Service": service_json(state, s), "Checks": checks_json }),
    )
}

/// The answer of the two health endpoints: JSON, or the status alone with
/// `?format=text`, under the status's code.
fn health_answer(status: &str, body: Value, q: Option<&str>) -> axum::response::Response {
    use axum::response::IntoResponse;
    let code = health_code(status);
    if Params::parse(q).get("format") == Some("text") {
        (code, status.to_owned()).into_response()
    } else {
        (code, Json(body)).into_response()
    }
}

/// `GET /v1/agent/health/service/id/<id>`: one local instance's aggregated
/// health, with Consul's codes (200 passing, 429 warning, 503 critical or
/// maintenance, 404 unknown).
pub async fn health_by_id(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::response::Response, ApiError> {
    let authz = state.authorize(&caller).await?;
    let owned = state.local.owned();
    let Some(s) = owned.services.get(&id) else {
        return Err(ApiError::NotFound(format!("ServiceId {id} not found")));
    };
    authz.require(Resource::Service, &s.service, Access::Read)?;
    let (status, body) = instance_health(&state, &owned, s);
    Ok(health_answer(status, body, q.as_deref()))
}

/// `GET /v1/agent/health/service/name/<name>`: every local instance of a
/// service with its aggregated health; the code is the worst instance's.
pub async fn health_by_name(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<axum::response::Response, ApiError> {
    let authz = state.authorize(&caller).await?;
    authz.require(Resource::Service, &name, Access::Read)?;
    let owned = state.local.owned();
    let mut worst = check_status::PASSING;
    let mut list = Vec::new();
    for s in owned.services.values().filter(|s| s.service == name) {
        let (status, body) = instance_health(&state, &owned, s);
        if severity(status) > severity(worst) {
            worst = status;
        }
        list.push(body);
    }
    if list.is_empty() {
        return Err(ApiError::NotFound(format!("ServiceName {name} Not Found")));
    }
    Ok(health_answer(worst, Value::Array(list), q.as_deref()))
}

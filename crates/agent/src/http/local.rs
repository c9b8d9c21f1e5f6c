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

use super::error::ApiError;
use super::extract::{Body, Path};
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

/// Whether this agent runs script checks (`enable_script_checks` or
/// `enable_local_script_checks`).
pub fn scripts_allowed(state: &AppState) -> bool {
    let cfg = state.config();
    cfg.enable_script_checks || cfg.enable_local_script_checks
}

/// `PUT /v1/agent/service/register`.
pub async fn register_service(
    State(state): State<Arc<AppState>>,
    Body(body): Body,
) -> Result<(), ApiError> {
    let (svc, checks) = service_from_body(json_body(&body)?, scripts_allowed(&state))?;
    state.local.add_service(svc, checks)?;
    Ok(())
}

/// `PUT /v1/agent/service/deregister/<id>`.
pub async fn deregister_service(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<(), ApiError> {
    Ok(state.local.remove_service(&id)?)
}

fn service_json(state: &AppState, s: &ServiceDefinition) -> Value {
    json!({
        "ID": s.id, "Service": s.service, "Tags": s.tags, "Meta": s.meta, "Port": s.port,
        "Address": s.address, "Weights": s.weights.clone().unwrap_or_default(),
        "EnableTagOverride": s.enable_tag_override, "Datacenter": state.config().datacenter,
    })
}

/// `GET /v1/agent/services` (`?filter=`): this agent's services by ID.
pub async fn services(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let all = services_map(&state);
    Ok(Json(super::filter::apply(
        &Params::parse(q.as_deref()),
        Value::Object(all.into_iter().collect()),
    )?))
}

fn services_map(state: &AppState) -> BTreeMap<String, Value> {
    let owned = state.local.owned();
    owned
        .services
        .iter()
        .map(|(id, s)| (id.clone(), service_json(state, s)))
        .collect()
}

/// `GET /v1/agent/service/<id>`: 404 when this agent has no such service.
pub async fn service(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match state.local.owned().services.get(&id) {
        Some(s) => Ok(Json(service_json(&state, s))),
        None => Err(ApiError::NotFound(format!("unknown service ID: {id}"))),
    }
}

/// `PUT /v1/agent/check/register`.
pub async fn register_check(
    State(state): State<Arc<AppState>>,
    Body(body): Body,
) -> Result<(), ApiError> {
    let check = check_from_body(json_body(&body)?, scripts_allowed(&state))?;
    Ok(state.local.add_check(check)?)
}

/// `PUT /v1/agent/check/deregister/<id>`.
pub async fn deregister_check(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<(), ApiError> {
    Ok(state.local.remove_check(&id)?)
}

/// `GET /v1/agent/checks` (`?filter=`): this agent's checks by ID.
pub async fn checks(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let all = checks_map(&state);
    Ok(Json(super::filter::apply(
        &Params::parse(q.as_deref()),
        Value::Object(all.into_iter().collect()),
    )?))
}

fn checks_map(state: &AppState) -> BTreeMap<String, Value> {
    let owned = state.local.owned();
    let node = state.config().node_name.clone();
    owned
        .checks
        .iter()
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
        .collect()
}

/// `PUT /v1/agent/check/pass|warn|fail/<id>?note=`.
pub async fn ttl_mark(
    State(state): State<Arc<AppState>>,
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
    let note = Params::parse(q.as_deref())
        .get("note")
        .unwrap_or("")
        .to_owned();
    Ok(state.checks.ttl_update(&state.local, &id, status, &note)?)
}

/// `PUT /v1/agent/check/update/<id>` with `{"Status", "Output"}`.
pub async fn ttl_update(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Body(body): Body,
) -> Result<(), ApiError> {
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

/// `enable` as Consul requires it: present and a boolean.
fn enable_flag(p: &Params) -> Result<bool, ApiError> {
    match p.get("enable") {
        Some("true") => Ok(true),
        Some("false") => Ok(false),
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
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<(), ApiError> {
    let p = Params::parse(q.as_deref());
    let enable = enable_flag(&p)?;
    if !state.local.owned().services.contains_key(&id) {
        return Err(ApiError::BadRequest(format!(
            "No service registered with ID {id:?}"
        )));
    }
    let check_id = format!("_service_maintenance:{id}");
    if enable {
        let reason = p.get("reason").unwrap_or("");
        state.local.add_check(maintenance_check(
            check_id,
            "Service Maintenance Mode",
            id,
            reason,
        ))?;
    } else if state.local.owned().checks.contains_key(&check_id) {
        state.local.remove_check(&check_id)?;
    }
    Ok(())
}

/// `PUT /v1/agent/maintenance?enable=&reason=`: the same for the whole node
/// (`_node_maintenance`), which makes every service on it unhealthy.
pub async fn node_maintenance(
    State(state): State<Arc<AppState>>,
    RawQuery(q): RawQuery,
) -> Result<(), ApiError> {
    let p = Params::parse(q.as_deref());
    let enable = enable_flag(&p)?;
    let check_id = "_node_maintenance".to_owned();
    if enable {
        let reason = p.get("reason").unwrap_or("");
        state.local.add_check(maintenance_check(
            check_id,
            "Node Maintenance Mode",
            String::new(),
            reason,
        ))?;
    } else if state.local.owned().checks.contains_key(&check_id) {
        state.local.remove_check(&check_id)?;
    }
    Ok(())
}

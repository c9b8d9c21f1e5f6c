//! `/v1/agent/service/*` and `/v1/agent/check/*`: the services and checks
//! this agent owns, in Consul's shapes. They persist in the data dir and
//! reach the catalog through anti-entropy (`local.rs`); the agent runs their
//! checks itself (`checks.rs`): TTL, HTTP(S), TCP, UDP, script, gRPC and
//! alias.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::Json;
use praetor_api::catalog::{check_status, ServiceDefinition, Weights};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::extract::{Body, Path};
use super::query::Params;
use super::{json_body, AppState};
use crate::local::{LocalCheck, LocalError};

impl From<LocalError> for ApiError {
    fn from(e: LocalError) -> Self {
        match e {
            LocalError::Save { .. } => ApiError::Failed(format!("{e:#}")),
            other => ApiError::BadRequest(other.to_string()),
        }
    }
}

/// A check in a registration body (Consul's `AgentServiceCheck` and
/// `AgentCheckRegistration`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CheckBody {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "CheckID")]
    pub check_id: String,
    pub name: String,
    pub notes: String,
    pub status: String,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    #[serde(rename = "TTL")]
    pub ttl: String,
    #[serde(rename = "HTTP")]
    pub http: String,
    #[serde(rename = "TCP")]
    pub tcp: String,
    #[serde(rename = "UDP")]
    pub udp: String,
    #[serde(rename = "GRPC")]
    pub grpc: String,
    pub args: Vec<String>,
    pub alias_service: String,
    pub alias_node: String,
    pub deregister_critical_service_after: String,
    pub interval: String,
    pub timeout: String,
    pub method: String,
    pub header: BTreeMap<String, Vec<String>>,
    pub body: Option<String>,
    #[serde(rename = "TLSSkipVerify")]
    pub tls_skip_verify: bool,
    #[serde(rename = "GRPCUseTLS")]
    pub grpc_use_tls: bool,
    pub disable_redirects: bool,
    pub success_before_passing: u32,
    pub failures_before_warning: u32,
    pub failures_before_critical: u32,
}

/// Consul's `AgentServiceRegistration`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceBody {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub tags: Vec<String>,
    pub address: String,
    pub port: u16,
    pub meta: BTreeMap<String, String>,
    pub enable_tag_override: bool,
    pub weights: Option<Weights>,
    pub check: Option<CheckBody>,
    pub checks: Vec<CheckBody>,
}

/// Turns a check body into a check this agent runs.
fn local_check(
    b: CheckBody,
    default_id: String,
    default_name: String,
    scripts: bool,
) -> Result<LocalCheck, ApiError> {
    if !b.args.is_empty() && !scripts {
        return Err(ApiError::BadRequest(
            "Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true".into(),
        ));
    }
    let duration = |what: &str, v: &str| {
        praetor_api::duration::parse(v)
            .map_err(|e| ApiError::BadRequest(format!("Invalid {what} {v:?}: {e}")))
    };
    let kinds = [
        !b.http.is_empty(),
        !b.tcp.is_empty(),
        !b.args.is_empty(),
        !b.udp.is_empty(),
        !b.alias_service.is_empty() || !b.alias_node.is_empty(),
        !b.grpc.is_empty(),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 {
        return Err(ApiError::BadRequest(
            "A check runs one of HTTP, TCP or Args, not several".into(),
        ));
    }
    let target = match (b.http.is_empty(), b.tcp.is_empty()) {
        (true, true) if !b.grpc.is_empty() => {
            let (addr, service) = b.grpc.split_once('/').unwrap_or((b.grpc.as_str(), ""));
            Some(crate::checks::Target::Grpc {
                addr: addr.to_owned(),
                service: service.to_owned(),
                tls: b.grpc_use_tls,
                tls_skip_verify: b.tls_skip_verify,
            })
        }
        (true, true) if !b.udp.is_empty() => Some(crate::checks::Target::Udp {
            addr: b.udp.clone(),
        }),
        (true, true) if !b.alias_service.is_empty() || !b.alias_node.is_empty() => {
            Some(crate::checks::Target::Alias {
                service_id: b.alias_service.clone(),
                node: Some(b.alias_node.clone()).filter(|n| !n.is_empty()),
            })
        }
        (true, true) if !b.args.is_empty() => Some(crate::checks::Target::Script {
            args: b.args.clone(),
        }),
        (false, true) => Some(crate::checks::Target::Http {
            url: b.http.clone(),
            method: if b.method.is_empty() {
                "GET".into()
            } else {
                b.method.to_uppercase()
            },
            header: b.header.clone(),
            body: b.body.clone(),
            tls_skip_verify: b.tls_skip_verify,
            disable_redirects: b.disable_redirects,
        }),
        (true, false) => Some(crate::checks::Target::Tcp {
            addr: b.tcp.clone(),
        }),
        (true, true) => None,
        (false, false) => {
            return Err(ApiError::BadRequest(
                "A check is either HTTP or TCP, not both".into(),
            ))
        }
    };
    let probe = match target {
        Some(target) => {
            let alias = matches!(target, crate::checks::Target::Alias { .. });
            if b.interval.is_empty() && !alias {
                return Err(ApiError::BadRequest(
                    "Interval must be set for HTTP, TCP, UDP and script checks".into(),
                ));
            }
            // An alias check follows its service; it is re-evaluated every second.
            let interval = if b.interval.is_empty() {
                Duration::from_secs(1)
            } else {
                duration("Interval", &b.interval)?
            };
            if interval < Duration::from_secs(1) {
                return Err(ApiError::BadRequest("Interval must be at least 1s".into()));
            }
            let timeout = if b.timeout.is_empty() {
                Duration::from_secs(10)
            } else {
                duration("Timeout", &b.timeout)?
            };
            Some(crate::checks::Probe {
                target,
                interval,
                timeout,
                success_before_passing: b.success_before_passing,
                failures_before_warning: b.failures_before_warning,
                failures_before_critical: b.failures_before_critical,
            })
        }
        None => None,
    };
    if let Some(def) = probe
        .as_ref()
        .and_then(|p| crate::checks::definition("check", p, check_status::CRITICAL))
    {
        def.validate().map_err(|e| match e {
            praetor_checks::CheckError::InvalidDefinition { reason, .. } => {
                ApiError::BadRequest(format!("Invalid check: {reason}"))
            }
            other => ApiError::BadRequest(other.to_string()),
        })?;
    }
    if probe.is_none() && b.ttl.is_empty() {
        return Err(ApiError::BadRequest(
            "Check must be a TTL, HTTP, TCP or script (Args) check".into(),
        ));
    }
    let ttl = if b.ttl.is_empty() {
        None
    } else {
        Some(duration("TTL", &b.ttl)?)
    };
    if ttl.is_some_and(|t| t < Duration::from_millis(1)) {
        return Err(ApiError::BadRequest("TTL must be positive".into()));
    }
    let status = if b.status.is_empty() {
        check_status::CRITICAL.to_owned()
    } else {
        b.status
    };
    if ![
        check_status::PASSING,
        check_status::WARNING,
        check_status::CRITICAL,
    ]
    .contains(&status.as_str())
    {
        return Err(ApiError::BadRequest(format!(
            "Invalid check status {status:?}"
        )));
    }
    let deregister_after = match b.deregister_critical_service_after.as_str() {
        "" => None,
        d => Some(praetor_api::duration::parse(d).map_err(|e| {
            ApiError::BadRequest(format!("Invalid DeregisterCriticalServiceAfter {d:?}: {e}"))
        })?),
    };
    let id = [b.check_id, b.id]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or(default_id);
    Ok(LocalCheck {
        name: if b.name.is_empty() {
            default_name
        } else {
            b.name
        },
        id,
        service_id: b.service_id,
        notes: b.notes,
        status,
        output: String::new(),
        ttl,
        deregister_after,
        probe,
    })
}

/// The service and checks a registration body describes.
///
/// # Errors
/// `BadRequest` naming what is wrong (a missing name, a check type this
/// version does not run, a bad duration).
pub fn service_from_body(
    b: ServiceBody,
    scripts: bool,
) -> Result<(ServiceDefinition, Vec<LocalCheck>), ApiError> {
    if b.name.is_empty() {
        return Err(ApiError::BadRequest("Missing service name".into()));
    }
    let id = if b.id.is_empty() {
        b.name.clone()
    } else {
        b.id.clone()
    };
    let bodies: Vec<CheckBody> = b.check.into_iter().chain(b.checks).collect();
    let many = bodies.len() > 1;
    let mut checks = Vec::new();
    for (i, c) in bodies.into_iter().enumerate() {
        let default_id = if many {
            format!("service:{id}:{}", i + 1)
        } else {
            format!("service:{id}")
        };
        checks.push(local_check(
            c,
            default_id,
            format!("Service '{}' check", b.name),
            scripts,
        )?);
    }
    let svc = ServiceDefinition {
        id,
        service: b.name,
        tags: b.tags,
        address: b.address,
        meta: b.meta,
        port: b.port,
        weights: b.weights,
        enable_tag_override: b.enable_tag_override,
    };
    Ok((svc, checks))
}

/// The check a check registration body describes.
///
/// # Errors
/// As `service_from_body`.
pub fn check_from_body(b: CheckBody, scripts: bool) -> Result<LocalCheck, ApiError> {
    if b.name.is_empty() {
        return Err(ApiError::BadRequest("Missing check name".into()));
    }
    let id = b.name.clone();
    local_check(b, id.clone(), id, scripts)
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
                "Type": check_type(c),
            });
            (id.clone(), v)
        })
        .collect()
}

/// Consul's `Type` of a check: `ttl`, `http`, `tcp`, or `maintenance`.
fn check_type(c: &LocalCheck) -> &'static str {
    match (&c.ttl, &c.probe) {
        (Some(_), _) => "ttl",
        (None, Some(p)) => match p.target {
            crate::checks::Target::Http { .. } => "http",
            crate::checks::Target::Tcp { .. } => "tcp",
            crate::checks::Target::Script { .. } => "script",
            crate::checks::Target::Udp { .. } => "udp",
            crate::checks::Target::Grpc { .. } => "grpc",
            crate::checks::Target::Alias { .. } => "alias",
        },
        (None, None) => "maintenance",
    }
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
    Ok(state.local.set_status(&id, status, &note)?)
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
    Ok(state.local.set_status(&id, &u.status, &u.output)?)
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
        ttl: None,
        deregister_after: None,
        probe: None,
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

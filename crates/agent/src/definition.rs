//! Service and check definitions as Consul's agent takes them, wherever
//! they come from: an HTTP body (`/v1/agent/service/register`,
//! `/v1/agent/check/register`), a config file's `service`/`check` blocks,
//! or a `/v1/txn` catalog service. This module alone knows a definition's
//! fields, decodes them (keys normalised by [`praetor_api::keys`]) and
//! validates them with Consul's wording; each check kind is parsed by its
//! own function into the one check kind type, [`praetor_checks::Kind`].
//!
//! Pure: never touches the local state, the network or a clock.

use std::collections::BTreeMap;
use std::time::Duration;

use praetor_api::catalog::{
    check_status, Locality, ServiceAddress, ServiceDefinition, ServiceProxy, Weights,
};
use praetor_checks::{CheckError, Definition, Kind, MIN_INTERVAL};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::local::LocalCheck;

/// Largest check output kept, in bytes (Consul's `check_output_max_size`).
pub const MAX_OUTPUT: usize = praetor_checks::DEFAULT_OUTPUT_MAX_SIZE;

/// Why a definition was refused; the message is Consul's where Consul has
/// one, and is the 400's body.
#[derive(Debug, thiserror::Error)]
pub enum DefinitionError {
    /// The JSON does not have the definition's shape.
    #[error("Request decode failed: {0}")]
    Decode(#[from] serde_json::Error),
    #[error("Missing service name")]
    MissingServiceName,
    #[error("Missing check name")]
    MissingCheckName,
    #[error("Missing node name or service ID")]
    MissingNodeOrServiceId,
    #[error("Scripts are disabled on this agent; to enable, configure 'enable_script_checks' or 'enable_local_script_checks' to true")]
    ScriptsDisabled,
    /// More than one of TTL, HTTP, TCP, UDP, gRPC, Args and alias.
    #[error("A check runs one of TTL, HTTP, TCP, UDP, GRPC, Args or an alias, not several")]
    SeveralKinds,
    #[error("Check must be a TTL, HTTP, TCP, UDP, GRPC, script (Args) or alias check")]
    NoKind,
    /// A probed check without a positive interval (Consul's words).
    #[error("Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks")]
    MissingInterval,
    /// A TTL check whose TTL is zero (Consul's words).
    #[error("TTL must be > 0 for TTL checks")]
    ZeroTtl,
    /// A duration field that does not parse.
    #[error("Invalid {field} {value:?}: {reason}")]
    BadDuration {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("Invalid check status {0:?}")]
    BadStatus(String),
    /// What `praetor-checks` refuses (an empty address, a bad URL, …).
    #[error("Invalid check: {0}")]
    Invalid(String),
    /// A service's kind, tagged addresses or proxy (Consul's words).
    #[error("{0}")]
    Service(#[from] praetor_api::service::ServiceError),
}

/// Decodes a definition (an HTTP body or a config-file block) after
/// normalising its keys as Consul does ([`praetor_api::keys::canonical`]),
/// so `{"name": …, "ttl": …}`, `{"Name": …, "TTL": …}` and a config file's
/// `deregister_critical_service_after` all decode alike.
///
/// # Errors
/// `Decode` with serde's reason.
pub fn decode<T: DeserializeOwned>(v: serde_json::Value) -> Result<T, DefinitionError> {
    Ok(serde_json::from_value(praetor_api::keys::canonical(v))?)
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
    pub ttl: Option<GoDuration>,
    #[serde(rename = "HTTP")]
    pub http: String,
    #[serde(rename = "TCP")]
    pub tcp: String,
    #[serde(rename = "UDP")]
    pub udp: String,
    #[serde(rename = "GRPC")]
    pub grpc: String,
    /// The program and its arguments; Consul also reads `ScriptArgs`.
    #[serde(alias = "ScriptArgs")]
    pub args: Vec<String>,
    pub alias_service: String,
    pub alias_node: String,
    pub deregister_critical_service_after: Option<GoDuration>,
    pub interval: Option<GoDuration>,
    pub timeout: Option<GoDuration>,
    pub method: String,
    pub header: BTreeMap<String, Vec<String>>,
    pub body: Option<String>,
    #[serde(rename = "TLSSkipVerify")]
    pub tls_skip_verify: bool,
    /// The name for SNI and certificate verification of HTTPS and gRPC
    /// TLS checks, instead of the URL's or target's host.
    #[serde(rename = "TLSServerName")]
    pub tls_server_name: String,
    #[serde(rename = "GRPCUseTLS")]
    pub grpc_use_tls: bool,
    pub disable_redirects: bool,
    pub success_before_passing: u32,
    pub failures_before_warning: u32,
    pub failures_before_critical: u32,
}

/// A duration field of a check as Consul's API decodes it
/// (`CheckType.UnmarshalJSON`): a Go duration string (`"10s"`, `"1m30s"`,
/// `"500ms"`) or a JSON number of nanoseconds, which is how Go's
/// `time.Duration` marshals.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum GoDuration {
    /// As written, parsed by [`praetor_api::duration::parse`].
    Text(String),
    /// Nanoseconds.
    Nanos(f64),
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
    /// Empty for a typical service (`connect-proxy`, `mesh-gateway`, …).
    pub kind: String,
    pub tagged_addresses: BTreeMap<String, ServiceAddress>,
    pub proxy: ServiceProxy,
    pub locality: Option<Locality>,
}

/// A service as the catalog takes it (`Service` names it, not `Name`), as
/// a `/v1/txn` service operation carries it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CatalogServiceBody {
    #[serde(flatten)]
    pub service: ServiceDefinition,
    /// The index a `cas` operation compares.
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

/// The catalog service a txn operation describes, its ID defaulting to its
/// name as in Consul.
///
/// # Errors
/// `MissingNodeOrServiceId` without a node, or without both ID and name.
pub fn catalog_service(
    node: &str,
    b: CatalogServiceBody,
) -> Result<(ServiceDefinition, u64), DefinitionError> {
    let mut svc = b.service;
    if svc.id.is_empty() {
        svc.id.clone_from(&svc.service);
    }
    if node.is_empty() || svc.id.is_empty() {
        return Err(DefinitionError::MissingNodeOrServiceId);
    }
    Ok((svc, b.modify_index))
}

/// The `Type` of each check of a catalog register body (`Check`,
/// `Checks`) that names one, by check ID (the name when there is no ID),
/// as Consul's catalog keeps it. A body that does not decode gives none
/// (the register itself reports why).
pub fn check_types(body: &[u8]) -> BTreeMap<String, String> {
    #[derive(Default, Deserialize)]
    #[serde(rename_all = "PascalCase", default)]
    struct Typed {
        #[serde(rename = "CheckID")]
        check_id: String,
        name: String,
        #[serde(rename = "Type")]
        kind: String,
    }
    #[derive(Default, Deserialize)]
    #[serde(rename_all = "PascalCase", default)]
    struct Body {
        check: Option<Typed>,
        checks: Vec<Typed>,
    }
    let body: Body = serde_json::from_slice(body)
        .ok()
        .and_then(|v| decode(v).ok())
        .unwrap_or_default();
    body.check
        .into_iter()
        .chain(body.checks)
        .filter(|c| !c.kind.is_empty())
        .map(|c| {
            let id = if c.check_id.is_empty() {
                c.name
            } else {
                c.check_id
            };
            (id, c.kind)
        })
        .collect()
}

/// The service and checks a registration body describes.
///
/// # Errors
/// Naming what is wrong: a missing name, a check that is not one of the
/// kinds this agent runs, a bad duration or status, scripts when they are
/// not enabled (`scripts`).
pub fn service_from_body(
    b: ServiceBody,
    scripts: bool,
) -> Result<(ServiceDefinition, Vec<LocalCheck>), DefinitionError> {
    if b.name.is_empty() {
        return Err(DefinitionError::MissingServiceName);
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
    praetor_api::service::validate(&b.kind, b.port, &b.tagged_addresses, &b.proxy)?;
    let svc = ServiceDefinition {
        id,
        service: b.name,
        tags: b.tags,
        address: b.address,
        meta: b.meta,
        port: b.port,
        weights: b.weights,
        enable_tag_override: b.enable_tag_override,
        kind: b.kind,
        tagged_addresses: b.tagged_addresses,
        proxy: b.proxy,
        locality: b.locality,
    };
    Ok((svc, checks))
}

/// The check a check registration body describes.
///
/// # Errors
/// `MissingCheckName`, or as [`service_from_body`].
pub fn check_from_body(b: CheckBody, scripts: bool) -> Result<LocalCheck, DefinitionError> {
    if b.name.is_empty() {
        return Err(DefinitionError::MissingCheckName);
    }
    let id = b.name.clone();
    local_check(b, id.clone(), id, scripts)
}

/// A duration field; absent or empty is `None`.
fn duration(
    field: &'static str,
    v: Option<&GoDuration>,
) -> Result<Option<Duration>, DefinitionError> {
    let bad =
        |value: String, e: praetor_api::duration::DurationError| DefinitionError::BadDuration {
            field,
            value,
            reason: e.to_string(),
        };
    match v {
        None => Ok(None),
        Some(GoDuration::Text(t)) if t.is_empty() => Ok(None),
        Some(GoDuration::Text(t)) => praetor_api::duration::parse(t)
            .map(Some)
            .map_err(|e| bad(t.clone(), e)),
        Some(GoDuration::Nanos(n)) if *n < 0.0 => Err(bad(
            n.to_string(),
            praetor_api::duration::DurationError::Negative,
        )),
        // Go converts the float to int64 nanoseconds, dropping the fraction.
        Some(GoDuration::Nanos(n)) if *n < 9.2e18 => Ok(Some(Duration::from_nanos(*n as u64))),
        Some(GoDuration::Nanos(n)) => Err(bad(
            n.to_string(),
            praetor_api::duration::DurationError::TooLong,
        )),
    }
}

/// Turns a check body into a check this agent runs.
fn local_check(
    b: CheckBody,
    default_id: String,
    default_name: String,
    scripts: bool,
) -> Result<LocalCheck, DefinitionError> {
    let kind = check_kind(&b, scripts)?;
    let id = [b.check_id.as_str(), b.id.as_str()]
        .into_iter()
        .find(|s| !s.is_empty())
        .map_or(default_id, str::to_owned);
    let definition = schedule(&id, kind, &b)?;
    let status = match b.status.as_str() {
        "" => check_status::CRITICAL.to_owned(),
        s @ (check_status::PASSING | check_status::WARNING | check_status::CRITICAL) => {
            s.to_owned()
        }
        other => return Err(DefinitionError::BadStatus(other.to_owned())),
    };
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
        deregister_after: duration(
            "DeregisterCriticalServiceAfter",
            b.deregister_critical_service_after.as_ref(),
        )?,
        definition: Some(definition),
    })
}

/// Which one kind of check the body asks for.
fn check_kind(b: &CheckBody, scripts: bool) -> Result<Kind, DefinitionError> {
    let is_alias = !b.alias_service.is_empty() || !b.alias_node.is_empty();
    let given = [
        b.ttl.is_some(),
        !b.http.is_empty(),
        !b.tcp.is_empty(),
        !b.udp.is_empty(),
        !b.grpc.is_empty(),
        !b.args.is_empty(),
        is_alias,
    ];
    match given.iter().filter(|g| **g).count() {
        0 => return Err(DefinitionError::NoKind),
        1 => {}
        _ => return Err(DefinitionError::SeveralKinds),
    }
    Ok(if b.ttl.is_some() {
        ttl_kind(b)?
    } else if !b.http.is_empty() {
        http_kind(b)
    } else if !b.tcp.is_empty() {
        Kind::Tcp {
            addr: b.tcp.clone(),
        }
    } else if !b.udp.is_empty() {
        Kind::Udp {
            addr: b.udp.clone(),
        }
    } else if !b.grpc.is_empty() {
        grpc_kind(b)
    } else if !b.args.is_empty() {
        script_kind(b, scripts)?
    } else {
        alias_kind(b)
    })
}

/// A TTL check: passive, critical once `TTL` passes without an update.
fn ttl_kind(b: &CheckBody) -> Result<Kind, DefinitionError> {
    match duration("TTL", b.ttl.as_ref())? {
        Some(ttl) if !ttl.is_zero() => Ok(Kind::Ttl { ttl }),
        _ => Err(DefinitionError::ZeroTtl),
    }
}

/// An HTTP(S) check; the method defaults to GET and is upper-cased.
fn http_kind(b: &CheckBody) -> Kind {
    Kind::Http {
        url: b.http.clone(),
        method: if b.method.is_empty() {
            "GET".into()
        } else {
            b.method.to_uppercase()
        },
        header: b.header.clone(),
        body: b.body.clone(),
        tls_skip_verify: b.tls_skip_verify,
        tls_server_name: b.tls_server_name.clone(),
        disable_redirects: b.disable_redirects,
    }
}

/// A gRPC health check on `host:port` or `host:port/service`.
fn grpc_kind(b: &CheckBody) -> Kind {
    Kind::Grpc {
        target: b.grpc.clone(),
        tls: b.grpc_use_tls,
        tls_skip_verify: b.tls_skip_verify,
        tls_server_name: b.tls_server_name.clone(),
    }
}

/// A script check, only where scripts are enabled.
fn script_kind(b: &CheckBody, scripts: bool) -> Result<Kind, DefinitionError> {
    if !scripts {
        return Err(DefinitionError::ScriptsDisabled);
    }
    Ok(Kind::Script {
        args: b.args.clone(),
    })
}

/// An alias of a service on this node (`AliasService`), of a service on
/// another node, or of a whole node (`AliasNode` alone).
fn alias_kind(b: &CheckBody) -> Kind {
    Kind::Alias {
        node: Some(b.alias_node.clone()).filter(|n| !n.is_empty()),
        service_id: b.alias_service.clone(),
    }
}

/// The kind with its interval, timeout and flapping thresholds, validated
/// as `praetor-checks` will run it. TTL and alias checks take no interval.
/// A probed check needs a positive interval; one under Consul's minimum
/// (1s) is raised to it with a warning, as Consul's agent does
/// (`addCheck`). The timeout is taken as given (zero: the kind's default).
fn schedule(id: &str, kind: Kind, b: &CheckBody) -> Result<Definition, DefinitionError> {
    let interval = if kind.is_probed() {
        let interval = duration("Interval", b.interval.as_ref())?
            .filter(|i| !i.is_zero())
            .ok_or(DefinitionError::MissingInterval)?;
        if interval < MIN_INTERVAL {
            tracing::warn!(
                check = %id,
                minimum_interval = %praetor_api::duration::format(MIN_INTERVAL),
                "check has interval below minimum"
            );
            MIN_INTERVAL
        } else {
            interval
        }
    } else {
        Duration::ZERO
    };
    let mut def = Definition::new(id, kind, interval);
    if let Some(timeout) = duration("Timeout", b.timeout.as_ref())? {
        def.timeout = timeout;
    }
    def.success_before_passing = b.success_before_passing;
    def.failures_before_warning = b.failures_before_warning;
    def.failures_before_critical = b.failures_before_critical;
    def.output_max_size = MAX_OUTPUT;
    def.validate().map_err(|e| match e {
        CheckError::InvalidDefinition { reason, .. } => DefinitionError::Invalid(reason),
        other => DefinitionError::Invalid(other.to_string()),
    })?;
    Ok(def)
}

#[cfg(test)]
mod tests;

//! The checks an agent runs itself. A supervisor keeps one runner per check
//! the agent owns, starting and stopping runners as checks are registered,
//! changed and removed. Probed checks (HTTP and HTTPS, TCP, UDP, script,
//! gRPC with or without TLS) run on `praetor-checks`' runners, each on its
//! own task bounded by its timeout, so a hung target never stalls another
//! check; alias checks are evaluated here against the local state or the
//! catalog. Results go into the local state (only when status or output
//! changes), and from there to the catalog through anti-entropy. TTL checks
//! have no runner: their status is set through the API and their expiry is
//! kept by the local state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use praetor_api::catalog::check_status;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::local::LocalState;

/// Largest output kept, in bytes (Consul's `check_output_max_size`).
pub const MAX_OUTPUT: usize = 4096;

/// What a check probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    Http {
        url: String,
        method: String,
        header: BTreeMap<String, Vec<String>>,
        body: Option<String>,
        /// Accept any server certificate (Consul's `TLSSkipVerify`).
        #[serde(default)]
        tls_skip_verify: bool,
        /// Report a redirect as it is instead of following it (Consul's
        /// `DisableRedirects`).
        #[serde(default)]
        disable_redirects: bool,
    },
    Tcp {
        addr: String,
    },
    /// A command run without a shell; exit 0 passing, 1 warning, else
    /// critical (only with `enable_script_checks` or
    /// `enable_local_script_checks`).
    Script {
        args: Vec<String>,
    },
    /// A datagram to `addr`: an answer or silence until the timeout is
    /// passing, an ICMP port-unreachable (a refused receive) critical, as
    /// Consul's UDP check.
    Udp {
        addr: String,
    },
    /// The standard gRPC health protocol (`grpc.health.v1.Health/Check`)
    /// over HTTP/2, plaintext or TLS (`GRPCUseTLS`); `service` may be empty
    /// (the whole server).
    Grpc {
        addr: String,
        service: String,
        #[serde(default)]
        tls: bool,
        #[serde(default)]
        tls_skip_verify: bool,
    },
    /// Mirrors the health of another service of this agent (Consul's alias
    /// check with `AliasService` on the local node).
    Alias {
        service_id: String,
        /// Another node's (`AliasNode`): its health is read from the
        /// catalog through this agent's HTTP API.
        #[serde(default)]
        node: Option<String>,
    },
}

/// A check the agent runs: its target, interval and timeout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub target: Target,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive successes before the status turns passing (Consul's
    /// `SuccessBeforePassing`; 0 and 1 mean at once).
    #[serde(default)]
    pub success_before_passing: u32,
    /// Consecutive failures before it turns warning (`FailuresBeforeWarning`;
    /// defaults to `FailuresBeforeCritical`).
    #[serde(default)]
    pub failures_before_warning: u32,
    /// Consecutive failures before it turns critical (`FailuresBeforeCritical`).
    #[serde(default)]
    pub failures_before_critical: u32,
}

/// The aggregate health of a service (or, with an empty `service_id`, of
/// the whole node) on another node, from the catalog's `/v1/health/node`.
async fn remote_alias(
    http: &reqwest::Client,
    http_addr: std::net::SocketAddr,
    node: &str,
    service_id: &str,
) -> (&'static str, String) {
    let url = format!("http://{http_addr}/v1/health/node/{node}");
    let checks: Vec<serde_json::Value> =
        match http.get(&url).timeout(Duration::from_secs(10)).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(e) => {
                return (
                    check_status::CRITICAL,
                    format!("reading {node}'s health: {e}"),
                )
            }
        };
    if checks.is_empty() {
        return (
            check_status::CRITICAL,
            format!("No checks found for node {node:?}"),
        );
    }
    let statuses: Vec<&str> = checks
        .iter()
        .filter(|c| service_id.is_empty() || c["ServiceID"] == service_id || c["ServiceID"] == "")
        .filter_map(|c| c["Status"].as_str())
        .collect();
    let what = if service_id.is_empty() {
        format!("node {node:?}")
    } else {
        format!("service {service_id:?} on {node:?}")
    };
    if statuses.contains(&check_status::CRITICAL) {
        (
            check_status::CRITICAL,
            format!("Aliased {what} is critical"),
        )
    } else if statuses.contains(&check_status::WARNING) {
        (
            check_status::WARNING,
            format!("Aliased {what} has a warning"),
        )
    } else {
        (check_status::PASSING, "All checks passing.".into())
    }
}

/// The aggregate health of a local service: critical if any of its checks
/// (or the node's) is critical, else warning if any warns, else passing;
/// critical when the service is not registered.
fn alias_status(local: &LocalState, service_id: &str, own: &str) -> (&'static str, String) {
    let owned = local.owned();
    if !owned.services.contains_key(service_id) {
        return (
            check_status::CRITICAL,
            format!("Service {service_id:?} is not registered"),
        );
    }
    let statuses: Vec<&str> = owned
        .checks
        .values()
        .filter(|c| c.id != own && (c.service_id == service_id || c.service_id.is_empty()))
        .map(|c| c.status.as_str())
        .collect();
    if statuses.contains(&check_status::CRITICAL) {
        (
            check_status::CRITICAL,
            format!("Aliased service {service_id:?} is critical"),
        )
    } else if statuses.contains(&check_status::WARNING) {
        (
            check_status::WARNING,
            format!("Aliased service {service_id:?} has a warning"),
        )
    } else {
        (check_status::PASSING, "All checks passing.".into())
    }
}

/// The `praetor-checks` definition of a probed check; `None` for alias
/// checks, which are evaluated here.
pub fn definition(id: &str, probe: &Probe, initial: &str) -> Option<praetor_checks::Definition> {
    use praetor_checks::Kind;
    let kind = match &probe.target {
        Target::Http {
            url,
            method,
            header,
            body,
            tls_skip_verify,
            disable_redirects,
        } => Kind::Http {
            url: url.clone(),
            method: method.clone(),
            header: header.clone(),
            body: body.clone(),
            tls_skip_verify: *tls_skip_verify,
            disable_redirects: *disable_redirects,
        },
        Target::Tcp { addr } => Kind::Tcp { addr: addr.clone() },
        Target::Udp { addr } => Kind::Udp { addr: addr.clone() },
        Target::Script { args } => Kind::Script { args: args.clone() },
        Target::Grpc {
            addr,
            service,
            tls,
            tls_skip_verify,
        } => Kind::Grpc {
            target: if service.is_empty() {
                addr.clone()
            } else {
                format!("{addr}/{service}")
            },
            tls: *tls,
            tls_skip_verify: *tls_skip_verify,
        },
        Target::Alias { .. } => return None,
    };
    let mut def = praetor_checks::Definition::new(id, kind, probe.interval);
    def.timeout = probe.timeout;
    def.initial = initial.parse().unwrap_or(praetor_checks::Status::Critical);
    def.success_before_passing = probe.success_before_passing;
    def.failures_before_warning = probe.failures_before_warning;
    def.failures_before_critical = probe.failures_before_critical;
    def.output_max_size = MAX_OUTPUT;
    Some(def)
}

/// Records a result in the local state when it changed anything.
fn record(local: &LocalState, id: &str, status: &str, output: &str) {
    match local.check_state(id) {
        Some((s, o)) if s != status || o != output => {
            if let Err(e) = local.set_status(id, status, output) {
                tracing::debug!(check = %id, error = %e, "check result not recorded");
            }
        }
        _ => {}
    }
}

/// One probed check: a `praetor-checks` runner whose updates go into the
/// local state, until `stop`.
async fn run_probed(
    local: Arc<LocalState>,
    def: praetor_checks::Definition,
    stop: CancellationToken,
) {
    let id = def.id.0.clone();
    let (tx, mut updates) = tokio::sync::mpsc::channel(4);
    let runner = match praetor_checks::Runner::spawn(def, tx, stop.clone()) {
        Ok(r) => r,
        Err(e) => {
            // Registration validated the definition; what is left (a TLS
            // client that cannot be built) is reported in the output.
            record(&local, &id, check_status::CRITICAL, &e.to_string());
            return;
        }
    };
    loop {
        tokio::select! {
            update = updates.recv() => match update {
                Some(u) => record(&local, &id, u.status.as_str(), &u.output),
                None => break,
            },
            () = stop.cancelled() => break,
        }
    }
    runner.shutdown().await;
}

/// One alias check: re-evaluated every interval (the first run staggered
/// randomly within it, as Consul does).
async fn run_alias(
    local: Arc<LocalState>,
    id: String,
    probe: Probe,
    http_addr: std::net::SocketAddr,
    stop: CancellationToken,
) {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap_or_default();
    let stagger = rand::thread_rng().gen_range(0..=probe.interval.as_millis().min(5_000) as u64);
    let mut wait = Duration::from_millis(stagger);
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
        wait = probe.interval;
        let (status, output) = match &probe.target {
            Target::Alias {
                service_id,
                node: Some(node),
            } => {
                let remote = remote_alias(&http, http_addr, node, service_id);
                tokio::select! {
                    r = remote => r,
                    () = stop.cancelled() => return,
                }
            }
            Target::Alias {
                service_id,
                node: None,
            } => alias_status(&local, service_id, &id),
            _ => return,
        };
        if local.check_state(&id).is_none() {
            return;
        }
        record(&local, &id, status, &output);
    }
}

/// Keeps one runner per probed check: starts runners for new or changed
/// checks, stops those whose check went away.
pub async fn run_supervisor(
    local: Arc<LocalState>,
    http_addr: std::net::SocketAddr,
    tasks: tokio_util::task::TaskTracker,
    stop: CancellationToken,
) {
    let mut changes = local.subscribe();
    let mut running: BTreeMap<String, (Probe, CancellationToken)> = BTreeMap::new();
    loop {
        let wanted: BTreeMap<String, Probe> = local
            .owned()
            .checks
            .into_iter()
            .filter_map(|(id, c)| Some((id, c.probe?)))
            .collect();
        running.retain(|id, (probe, token)| {
            let keep = wanted.get(id) == Some(probe);
            if !keep {
                token.cancel();
            }
            keep
        });
        for (id, probe) in wanted {
            if let std::collections::btree_map::Entry::Vacant(slot) = running.entry(id) {
                let id = slot.key().clone();
                let token = stop.child_token();
                let initial = local.check_state(&id).map(|(s, _)| s).unwrap_or_default();
                match definition(&id, &probe, &initial) {
                    Some(def) => {
                        tasks.spawn(run_probed(local.clone(), def, token.clone()));
                    }
                    None => {
                        tasks.spawn(run_alias(
                            local.clone(),
                            id,
                            probe.clone(),
                            http_addr,
                            token.clone(),
                        ));
                    }
                }
                slot.insert((probe, token));
            }
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            () = stop.cancelled() => return,
        }
    }
}

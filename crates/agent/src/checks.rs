//! The checks an agent runs itself: HTTP and TCP, each on its own task with
//! its interval and timeout, so a hung target never stalls another check.
//! A supervisor keeps one runner per check the agent owns, starting and
//! stopping runners as checks are registered and removed. Results go into
//! the local state (only when status or output changes), and from there to
//! the catalog through anti-entropy.

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
    /// over plaintext HTTP/2; `service` may be empty (the whole server).
    Grpc {
        addr: String,
        service: String,
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

/// Consul's flapping damper: the status a result leads to, given the run of
/// consecutive successes or failures so far; `None` keeps the status. As
/// in Consul, the counters start at their thresholds (the first result
/// counts at once) and a warning result counts as a success.
#[derive(Debug)]
struct Damper {
    successes: u32,
    failures: u32,
}

impl Damper {
    fn new(p: &Probe) -> Self {
        Damper {
            successes: p.success_before_passing,
            failures: p.failures_before_critical.max(p.failures_before_warning),
        }
    }

    fn next(&mut self, p: &Probe, result: &'static str) -> Option<&'static str> {
        if result != check_status::CRITICAL {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            return (self.successes >= p.success_before_passing).then_some(result);
        }
        self.successes = 0;
        self.failures = self.failures.saturating_add(1);
        let critical_after = p.failures_before_critical;
        let warning_after = if p.failures_before_warning == 0 {
            critical_after
        } else {
            p.failures_before_warning
        };
        if self.failures >= critical_after {
            Some(result)
        } else if self.failures >= warning_after {
            Some(check_status::WARNING)
        } else {
            None
        }
    }
}

fn cap(mut s: String) -> String {
    if s.len() > MAX_OUTPUT {
        let mut end = MAX_OUTPUT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Runs the probe once: its status and output, as Consul words them.
pub async fn probe_once(p: &Probe, http: &reqwest::Client) -> (&'static str, String) {
    match &p.target {
        Target::Http {
            url,
            method,
            header,
            body,
        } => {
            let method =
                reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::GET);
            let mut req = http.request(method.clone(), url).timeout(p.timeout);
            for (k, values) in header {
                for v in values {
                    req = req.header(k, v);
                }
            }
            if let Some(b) = body {
                req = req.body(b.clone());
            }
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let text = resp.text().await.unwrap_or_default();
                    let word = if status.is_success() {
                        check_status::PASSING
                    } else if status.as_u16() == 429 {
                        check_status::WARNING
                    } else {
                        check_status::CRITICAL
                    };
                    (
                        word,
                        cap(format!("HTTP {method} {url}: {status} Output: {text}")),
                    )
                }
                Err(e) => {
                    let why = if e.is_timeout() {
                        format!("request timed out after {:?}", p.timeout)
                    } else {
                        e.to_string()
                    };
                    (
                        check_status::CRITICAL,
                        cap(format!("HTTP {method} {url}: {why}")),
                    )
                }
            }
        }
        Target::Script { args } => run_script(args, p.timeout).await,
        Target::Udp { addr } => probe_udp(addr, p.timeout).await,
        Target::Grpc { addr, service } => probe_grpc(http, addr, service, p.timeout).await,
        // Alias checks are evaluated against the local state by the runner.
        Target::Alias { .. } => (check_status::CRITICAL, String::new()),
        Target::Tcp { addr } => {
            match tokio::time::timeout(p.timeout, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(_)) => (
                    check_status::PASSING,
                    format!("TCP connect {addr}: Success"),
                ),
                Ok(Err(e)) => (check_status::CRITICAL, format!("TCP connect {addr}: {e}")),
                Err(_) => (
                    check_status::CRITICAL,
                    format!("TCP connect {addr}: timed out after {:?}", p.timeout),
                ),
            }
        }
    }
}

/// One `grpc.health.v1.Health/Check` call: SERVING is passing, anything
/// else (another status, a gRPC error, no answer) critical.
async fn probe_grpc(
    http: &reqwest::Client,
    addr: &str,
    service: &str,
    timeout: Duration,
) -> (&'static str, String) {
    // HealthCheckRequest { string service = 1; } in a gRPC length-prefixed frame.
    let mut msg = Vec::new();
    if !service.is_empty() {
        msg.push(0x0a);
        msg.push(service.len() as u8);
        msg.extend_from_slice(service.as_bytes());
    }
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    frame.extend_from_slice(&msg);
    let url = format!("http://{addr}/grpc.health.v1.Health/Check");
    let what = if service.is_empty() {
        addr.to_owned()
    } else {
        format!("{addr}/{service}")
    };
    let resp = http
        .post(&url)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .timeout(timeout)
        .body(frame)
        .send()
        .await;
    let resp = match resp {
        Ok(r) => r,
        Err(e) => {
            return (
                check_status::CRITICAL,
                format!("gRPC {what}: {}", chain(&e)),
            )
        }
    };
    if let Some(code) = resp
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .filter(|c| *c != "0")
    {
        let message = resp
            .headers()
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        return (
            check_status::CRITICAL,
            format!("gRPC {what}: status {code} {message}"),
        );
    }
    let body = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return (check_status::CRITICAL, format!("gRPC {what}: {e}")),
    };
    // HealthCheckResponse { ServingStatus status = 1; } — 1 is SERVING.
    let status = body.get(5..).and_then(|m| match m {
        [0x08, v, ..] => Some(*v),
        [] => Some(0),
        _ => None,
    });
    match status {
        Some(1) => (check_status::PASSING, format!("gRPC {what}: SERVING")),
        Some(v) => (
            check_status::CRITICAL,
            format!("gRPC {what}: status {v} (not SERVING)"),
        ),
        None => (
            check_status::CRITICAL,
            format!("gRPC {what}: unreadable answer"),
        ),
    }
}

async fn probe_udp(addr: &str, timeout: Duration) -> (&'static str, String) {
    let socket = match tokio::net::UdpSocket::bind("0.0.0.0:0").await {
        Ok(s) => s,
        Err(e) => return (check_status::CRITICAL, format!("UDP {addr}: {e}")),
    };
    if let Err(e) = socket.connect(addr).await {
        return (check_status::CRITICAL, format!("UDP {addr}: {e}"));
    }
    if let Err(e) = socket.send(b"").await {
        return (check_status::CRITICAL, format!("UDP {addr}: {e}"));
    }
    let mut buf = [0u8; 512];
    match tokio::time::timeout(timeout, socket.recv(&mut buf)).await {
        Ok(Ok(_)) => (
            check_status::PASSING,
            format!("UDP {addr}: response received"),
        ),
        Ok(Err(e)) => (check_status::CRITICAL, format!("UDP {addr}: {e}")),
        Err(_) => (
            check_status::PASSING,
            format!("UDP {addr}: no answer within {timeout:?} (no ICMP error)"),
        ),
    }
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

/// An error with its causes, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// Runs a script check: its exit code decides, its stdout and stderr are
/// the output; on timeout the child is killed and the check is critical.
async fn run_script(args: &[String], timeout: Duration) -> (&'static str, String) {
    let Some((cmd, rest)) = args.split_first() else {
        return (check_status::CRITICAL, "no command".into());
    };
    let child = tokio::process::Command::new(cmd)
        .args(rest)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // Its own process group, so a timeout can stop what it started too.
        .process_group(0)
        .kill_on_drop(true)
        .spawn();
    let child = match child {
        Ok(c) => c,
        Err(e) => {
            return (
                check_status::CRITICAL,
                format!("could not start {cmd}: {e}"),
            )
        }
    };
    let group = child.id();
    match tokio::time::timeout(timeout, child.wait_with_output()).await {
        Err(_) => {
            // The child itself is killed on drop; its group (anything it
            // started) is killed here, by the group id we created.
            if let Some(pgid) = group.and_then(|g| i32::try_from(g).ok()) {
                // SAFETY: kill(2) with a negative pid signals that process
                // group; it has no memory-safety preconditions.
                unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                }
            }
            (
                check_status::CRITICAL,
                format!("Timed out ({timeout:?}) running check"),
            )
        }
        Ok(Err(e)) => (check_status::CRITICAL, format!("running {cmd}: {e}")),
        Ok(Ok(out)) => {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            let status = match out.status.code() {
                Some(0) => check_status::PASSING,
                Some(1) => check_status::WARNING,
                _ => check_status::CRITICAL,
            };
            (status, cap(text))
        }
    }
}

/// One check's runner: probes every interval (the first run staggered
/// randomly within it, as Consul does) and records changes.
async fn run_one(
    local: Arc<LocalState>,
    id: String,
    probe: Probe,
    http_addr: std::net::SocketAddr,
    stop: CancellationToken,
) {
    let http = match &probe.target {
        // gRPC speaks HTTP/2 from the first byte (no TLS, no upgrade).
        Target::Grpc { .. } => reqwest::Client::builder()
            .no_proxy()
            .http2_prior_knowledge()
            .build(),
        _ => reqwest::Client::builder().no_proxy().build(),
    }
    .unwrap_or_default();
    let stagger = rand::thread_rng().gen_range(0..=probe.interval.as_millis().min(5_000) as u64);
    let mut wait = Duration::from_millis(stagger);
    let mut damper = Damper::new(&probe);
    loop {
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
        wait = probe.interval;
        let (result, output) = match &probe.target {
            Target::Alias {
                service_id,
                node: None,
            } => alias_status(&local, service_id, &id),
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
            _ => tokio::select! {
                r = probe_once(&probe, &http) => r,
                () = stop.cancelled() => return,
            },
        };
        let Some(status) = damper.next(&probe, result) else {
            continue;
        };
        let current = local
            .owned()
            .checks
            .get(&id)
            .map(|c| (c.status.clone(), c.output.clone()));
        match current {
            None => return,
            Some((s, o)) if s == status && o == output => {}
            Some(_) => {
                if let Err(e) = local.set_status(&id, status, &output) {
                    tracing::debug!(check = %id, error = %e, "check result not recorded");
                }
            }
        }
    }
}

/// Keeps one runner per probed check: starts runners for new or changed
/// checks, stops those whose check went away.
pub async fn run_supervisor(
    local: Arc<LocalState>,
    http_addr: std::net::SocketAddr,
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
            if !running.contains_key(&id) {
                let token = stop.child_token();
                tokio::spawn(run_one(
                    local.clone(),
                    id.clone(),
                    probe.clone(),
                    http_addr,
                    token.clone(),
                ));
                running.insert(id, (probe, token));
            }
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            () = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(success: u32, warning: u32, critical: u32) -> Probe {
        Probe {
            target: Target::Tcp {
                addr: String::new(),
            },
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            success_before_passing: success,
            failures_before_warning: warning,
            failures_before_critical: critical,
        }
    }

    #[test]
    fn the_damper_follows_consuls_thresholds() {
        let (ok, bad) = (check_status::PASSING, check_status::CRITICAL);
        let p = probe(0, 0, 0);
        let mut d = Damper::new(&p);
        assert_eq!(
            d.next(&p, bad),
            Some(bad),
            "no thresholds: every result at once"
        );
        assert_eq!(d.next(&p, ok), Some(ok));

        let p = probe(2, 1, 3);
        let mut d = Damper::new(&p);
        assert_eq!(d.next(&p, ok), Some(ok), "the first result counts at once");
        assert_eq!(
            d.next(&p, bad),
            Some(check_status::WARNING),
            "first failure: warning"
        );
        assert_eq!(d.next(&p, bad), Some(check_status::WARNING));
        assert_eq!(d.next(&p, bad), Some(bad), "third failure: critical");
        assert_eq!(
            d.next(&p, ok),
            None,
            "one success after failures is not enough"
        );
        assert_eq!(
            d.next(&p, check_status::WARNING),
            Some(check_status::WARNING),
            "a warning counts as a success"
        );

        let p = probe(0, 0, 2);
        let mut d = Damper::new(&p);
        assert_eq!(d.next(&p, ok), Some(ok));
        assert_eq!(
            d.next(&p, bad),
            None,
            "warning defaults to the critical threshold"
        );
        assert_eq!(d.next(&p, bad), Some(bad));
    }

    #[test]
    fn output_is_capped_on_a_char_boundary() {
        let long = "é".repeat(MAX_OUTPUT);
        let capped = cap(long);
        assert!(capped.len() <= MAX_OUTPUT);
        assert!(capped.chars().all(|c| c == 'é'));
    }
}

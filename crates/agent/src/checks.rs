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
}

/// A check the agent runs: its target, interval and timeout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub target: Target,
    pub interval: Duration,
    pub timeout: Duration,
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

/// One check's runner: probes every interval (the first run staggered
/// randomly within it, as Consul does) and records changes.
async fn run_one(local: Arc<LocalState>, id: String, probe: Probe, stop: CancellationToken) {
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
        let (status, output) = tokio::select! {
            r = probe_once(&probe, &http) => r,
            () = stop.cancelled() => return,
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
pub async fn run_supervisor(local: Arc<LocalState>, stop: CancellationToken) {
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

    #[test]
    fn output_is_capped_on_a_char_boundary() {
        let long = "é".repeat(MAX_OUTPUT);
        let capped = cap(long);
        assert!(capped.len() <= MAX_OUTPUT);
        assert!(capped.chars().all(|c| c == 'é'));
    }
}

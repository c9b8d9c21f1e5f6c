//! Failover of a prepared query to other datacenters, as Consul's
//! `queryFailover` does it: when this datacenter has no instance the query
//! keeps, the query (already rendered) is run in other datacenters in
//! order — with `Failover.Targets`, their datacenters as listed; else the
//! `NearestN` other datacenters by estimated round-trip time, then
//! `Failover.Datacenters` not already tried — and the first that answers
//! with instances wins. Every datacenter asked counts in `Failovers`,
//! whether it answered, failed or had nothing; a datacenter no server
//! knows of is skipped without counting, as Consul logs and skips it.
//!
//! THE SEAM: [`Federation`] is how this module reaches other datacenters
//! (which exist, nearest first, and running a query in one of them).
//! [`Servers`] is the agent's: the datacenters its servers' WAN pool
//! knows (`federation::datacenters_by_rtt`'s order) and each query run
//! there as a `QueryRun` read through the federation layer (`read_in`:
//! `Request::CrossDc` to a server of this datacenter, routed over the WAN
//! to the target's servers), so the target's catalog, health and ACLs
//! decide, as Consul's `ExecuteRemote`.

use std::time::Duration;

use futures::future::BoxFuture;
use praetor_api::catalog::ServiceEntry;
use praetor_server::acl::Token;
use praetor_server::read::{QueryOpts, QueryRun};
use praetor_server::Consistency;
use praetor_store::query::{Failover, ServiceQuery};

use crate::backend::Backend;
use crate::http::AppState;

/// What is sent to another datacenter: the rendered service part, and the
/// token to act with there (the query's stored token, else the caller's),
/// as Consul's `ExecuteRemote` carries them, read there with the
/// caller's consistency.
#[derive(Debug, Clone)]
pub struct RemoteQuery {
    pub service: ServiceQuery,
    pub token: Token,
    pub consistency: Consistency,
}

/// Other datacenters, as seen from this one.
pub trait Federation: Send + Sync {
    /// Every datacenter this agent's servers know of, nearest first by
    /// estimated round-trip time (Consul's `GetDatacentersByDistance`);
    /// the one executing in may be among them ([`order`] never tries it).
    ///
    /// # Errors
    /// A one-line reason when no server could say (the execution fails,
    /// as Consul's does).
    fn datacenters_by_rtt(&self) -> BoxFuture<'_, Result<Vec<String>, String>>;

    /// Runs `query` in datacenter `dc` through its servers: the instances
    /// it keeps there, filtered by `query.token`'s ACLs there, in that
    /// datacenter's catalog order (the caller shuffles, sorts and limits).
    ///
    /// # Errors
    /// A one-line reason when `dc` could not answer (no path, no leader,
    /// the token refused): that datacenter is skipped, counted.
    fn execute<'a>(
        &'a self,
        dc: &'a str,
        query: &'a RemoteQuery,
    ) -> BoxFuture<'a, Result<Vec<ServiceEntry>, String>>;
}

/// The agent's federation: the datacenters and the servers of each as
/// this agent's servers know them (a server agent's own WAN pool; a
/// client agent's servers', over RPC).
pub struct Servers<'a> {
    backend: &'a Backend,
    /// `rpc_hold_timeout`: each call's retries across servers, within the
    /// federation layer's bound (`federation::call_bound`).
    hold: Duration,
}

impl<'a> Servers<'a> {
    #[must_use]
    pub fn new(backend: &'a Backend, hold: Duration) -> Servers<'a> {
        Servers { backend, hold }
    }
}

impl Federation for Servers<'_> {
    fn datacenters_by_rtt(&self) -> BoxFuture<'_, Result<Vec<String>, String>> {
        Box::pin(async move {
            self.backend
                .datacenters(self.hold)
                .await
                .map_err(|e| format!("listing the datacenters to fail over to: {e}"))
        })
    }

    fn execute<'a>(
        &'a self,
        dc: &'a str,
        query: &'a RemoteQuery,
    ) -> BoxFuture<'a, Result<Vec<ServiceEntry>, String>> {
        Box::pin(async move {
            let run = QueryRun {
                service: query.service.clone(),
            };
            let opts = QueryOpts {
                index: 0,
                wait: Duration::ZERO,
                consistency: query.consistency,
            };
            // Bounded by the federation layer: the target's servers are
            // tried for the hold, the whole call within `call_bound`.
            self.backend
                .read_in(Some(dc), self.hold, &query.token, run, opts)
                .await
                .map(|r| r.answer)
                .map_err(|e| e.to_string())
        })
    }
}

/// The federation `state`'s agent fails over through.
pub fn federation(state: &AppState) -> Servers<'_> {
    Servers::new(&state.backend, state.config().rpc_hold_timeout)
}

/// Whether `failover` names any datacenter to try at all (Consul's
/// `NearestN` plus the lists' lengths above zero).
#[must_use]
pub fn wanted(failover: &Failover) -> bool {
    failover.nearest_n > 0 || !failover.datacenters.is_empty() || !failover.targets.is_empty()
}

/// The datacenters to try, in order, for `failover`, given the
/// datacenters nearest first (`by_rtt`, which are all that are known) and
/// the one executing (`local`, never tried). Each at most once.
pub fn order(failover: &Failover, by_rtt: &[String], local: &str) -> Vec<String> {
    let known = |dc: &str| dc != local && by_rtt.iter().any(|d| d == dc);
    let mut out: Vec<String> = Vec::new();
    let push = |dc: &str, out: &mut Vec<String>| {
        if known(dc) && !out.iter().any(|d| d == dc) {
            out.push(dc.to_owned());
        }
    };
    if !failover.targets.is_empty() {
        for t in &failover.targets {
            push(&t.datacenter, &mut out);
        }
        return out;
    }
    let nearest = usize::try_from(failover.nearest_n).unwrap_or(usize::MAX);
    for dc in by_rtt.iter().filter(|d| *d != local).take(nearest) {
        push(dc, &mut out);
    }
    for dc in &failover.datacenters {
        push(dc, &mut out);
    }
    out
}

/// What failover found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedOver {
    /// The datacenter that answered with instances, if one did.
    pub datacenter: Option<String>,
    pub nodes: Vec<ServiceEntry>,
    /// How many datacenters were asked.
    pub failovers: u32,
}

/// Asks the datacenters [`order`] lists, one after another, until one
/// answers with instances. A query whose failover names no datacenter
/// asks nobody (not even which datacenters exist).
///
/// # Errors
/// When the datacenters could not be listed.
pub async fn run(
    federation: &dyn Federation,
    failover: &Failover,
    local: &str,
    query: &RemoteQuery,
) -> Result<FailedOver, String> {
    let mut failovers = 0u32;
    if wanted(failover) {
        let by_rtt = federation.datacenters_by_rtt().await?;
        for dc in order(failover, &by_rtt, local) {
            failovers = failovers.saturating_add(1);
            match federation.execute(&dc, query).await {
                Ok(nodes) if !nodes.is_empty() => {
                    return Ok(FailedOver {
                        datacenter: Some(dc),
                        nodes,
                        failovers,
                    })
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(datacenter = %dc, error = %e, "prepared query failover: datacenter failed");
                }
            }
        }
    }
    Ok(FailedOver {
        datacenter: None,
        nodes: Vec::new(),
        failovers,
    })
}

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod servers_tests;
#[cfg(test)]
mod tests;

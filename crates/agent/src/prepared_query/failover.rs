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
//! [`federation`] picks the implementation for an agent; today it is
//! [`LocalOnly`] (no other datacenter is known, so failover is a no-op),
//! until WAN federation gives it datacenters and cross-datacenter reads.

use futures::future::BoxFuture;
use praetor_api::catalog::ServiceEntry;
use praetor_server::acl::Token;
use praetor_store::query::{Failover, ServiceQuery};

use crate::http::AppState;

/// What is sent to another datacenter: the rendered service part, and the
/// token to act with there (the query's stored token, else the caller's),
/// as Consul's `ExecuteRemote` carries them.
#[derive(Debug, Clone)]
pub struct RemoteQuery {
    pub service: ServiceQuery,
    pub token: Token,
}

/// Other datacenters, as seen from this one.
pub trait Federation: Send + Sync {
    /// Every other datacenter this agent's servers know of, nearest first
    /// by estimated round-trip time (Consul's `GetDatacentersByDistance`
    /// without the local one). Unknown distances sort last, by name.
    fn datacenters_by_rtt(&self) -> Vec<String>;

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

/// A datacenter alone: no other is known, none is ever asked.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalOnly;

impl Federation for LocalOnly {
    fn datacenters_by_rtt(&self) -> Vec<String> {
        Vec::new()
    }

    fn execute<'a>(
        &'a self,
        dc: &'a str,
        _: &'a RemoteQuery,
    ) -> BoxFuture<'a, Result<Vec<ServiceEntry>, String>> {
        Box::pin(async move { Err(format!("No path to datacenter {dc:?}")) })
    }
}

/// The federation `state`'s agent fails over through. (WAN federation
/// returns its own implementation here.)
pub fn federation(_state: &AppState) -> Box<dyn Federation + '_> {
    Box::new(LocalOnly)
}

/// The datacenters to try, in order, for `failover`, given the other
/// datacenters nearest first (`by_rtt`, which are all that are known) and
/// this one (`local`, never tried). Each at most once.
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
/// answers with instances.
pub async fn run(
    federation: &dyn Federation,
    failover: &Failover,
    local: &str,
    query: &RemoteQuery,
) -> FailedOver {
    let mut failovers = 0u32;
    for dc in order(failover, &federation.datacenters_by_rtt(), local) {
        failovers = failovers.saturating_add(1);
        match federation.execute(&dc, query).await {
            Ok(nodes) if !nodes.is_empty() => {
                return FailedOver {
                    datacenter: Some(dc),
                    nodes,
                    failovers,
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(datacenter = %dc, error = %e, "prepared query failover: datacenter failed");
            }
        }
    }
    FailedOver {
        datacenter: None,
        nodes: Vec::new(),
        failovers,
    }
}

#[cfg(test)]
pub(crate) mod fake;
#[cfg(test)]
mod tests;

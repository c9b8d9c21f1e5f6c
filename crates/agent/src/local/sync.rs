//! Anti-entropy: the agent pushes what it owns to the catalog, as Consul's
//! agents do. After a local change only the entries marked since the last
//! sync go (Consul's `SyncChanges`), so a sync costs what changed; every
//! `sync_interval(cluster size)` (and at start) a full sync reads this
//! node's services and checks from the catalog, compares them with the
//! local state by ID in one pass, and marks what differs, repairing drift
//! both ways (an entry deleted from the catalog behind the agent's back
//! comes back; one the agent no longer has is removed). The writes go out
//! as `Command::Batch`es of at most [`MAX_OPS`] catalog registrations and
//! deregistrations: one Raft entry per batch, not one per difference.
//! Never changes the local state beyond its sync marks.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use praetor_api::catalog::{
    CheckDefinition, HealthCheck, NodeService, RegisterRequest, ServiceDefinition, SERF_CHECK_ID,
};
use praetor_server::leader::SERVER_SERVICE;
use praetor_server::read::{CatalogNode, NodeChecks};
use praetor_server::{Consistency, QueryOpts, ServerError};
use praetor_store::model::Deregistration;
use praetor_store::{Command, Response};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Entry, Inner, LocalCheck, LocalState};
use crate::backend::Backend;

/// Consul's anti-entropy interval for clusters up to 128 nodes.
const SYNC_EVERY: Duration = Duration::from_secs(60);

/// Most catalog writes in one batch (Consul's transaction limit).
pub const MAX_OPS: usize = 128;

/// The anti-entropy interval for a cluster of `nodes`, scaled as Consul's
/// (`lib.RateScaledInterval`-like): 1 minute up to 128 nodes, then one more
/// minute per doubling, so the servers see a bounded sync rate.
pub fn sync_interval(nodes: usize) -> Duration {
    scaled(SYNC_EVERY, nodes)
}

/// `base` scaled with the pool's size as Consul's `aeScale`: unchanged up
/// to 128 nodes, then one more `base` per doubling.
pub fn scaled(base: Duration, nodes: usize) -> Duration {
    const THRESHOLD: f64 = 128.0;
    if nodes <= 128 {
        return base;
    }
    let scale = ((nodes as f64).log2() - THRESHOLD.log2()).ceil() as u32 + 1;
    base * scale
}
/// Retry pause after a failed sync.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Where this agent's node is in the catalog.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub name: String,
    pub id: String,
    pub address: String,
    pub datacenter: String,
}

/// Anti-entropy: syncs what changed at once after every local change, and
/// in full at start and every `sync_interval(cluster size)`; after a
/// failure the next full sync comes soon.
pub async fn run_anti_entropy(
    local: Arc<LocalState>,
    backend: Arc<Backend>,
    acl: Arc<crate::acl::AgentAcl>,
    node: NodeInfo,
    cluster_size: impl Fn() -> usize + Send + 'static,
    stop: CancellationToken,
) {
    // An ACL refusal is the operator's to fix: warned once per reason (as
    // Consul's "blocked by ACLs"), not at every retry.
    let mut warned: Option<String> = None;
    let mut next_full = Instant::now();
    loop {
        // The agent token of the moment: `PUT /v1/agent/token/agent`
        // applies from the next round.
        let token = acl.agent_token();
        let write = |cmd| backend.write(&token, cmd);
        let full = Instant::now() >= next_full;
        let round = if full {
            match read_node(&backend, &token, &node).await {
                Ok((services, checks)) => {
                    local.mark_differences(&services, &checks);
                    push(&local, &node, write).await
                }
                Err(e) => Err(e),
            }
        } else {
            push(&local, &node, write).await
        };
        match round {
            Ok(_) => {
                warned = None;
                if full {
                    next_full = Instant::now() + sync_interval(cluster_size());
                }
            }
            Err(e) => {
                let reason = e.to_string();
                if e.is_acl() && warned.as_deref() != Some(reason.as_str()) {
                    tracing::warn!(error = %reason, "catalog sync blocked by ACLs: set an agent token that may write this node and its services (acl.tokens.agent)");
                    warned = Some(reason);
                } else {
                    tracing::debug!(error = %e, "anti-entropy sync failed; retrying");
                }
                next_full = Instant::now() + RETRY_AFTER;
            }
        }
        let wake = local
            .next_release()
            .map_or(next_full, |at| at.min(next_full));
        tokio::select! {
            () = local.changed.notified() => {}
            () = tokio::time::sleep_until(wake) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Why an anti-entropy round stopped early (the next round starts over).
#[derive(Debug, thiserror::Error)]
pub(super) enum SyncError {
    /// Reading this node's catalog entry failed.
    #[error("reading the catalog: {0}")]
    Read(#[source] ServerError),
    /// A write failed, or its outcome is unknown.
    #[error("writing the catalog: {0}")]
    Write(#[source] ServerError),
    /// The store refused a write (it changed nothing).
    #[error("the catalog refused a change: {0}")]
    Refused(String),
}

impl SyncError {
    /// Whether the servers refused the agent's token.
    fn is_acl(&self) -> bool {
        matches!(
            self,
            SyncError::Read(ServerError::Acl(_)) | SyncError::Write(ServerError::Acl(_))
        )
    }
}

/// This node's services and checks as the catalog has them.
async fn read_node(
    backend: &Backend,
    token: &praetor_server::acl::Token,
    node: &NodeInfo,
) -> Result<(Vec<NodeService>, Vec<HealthCheck>), SyncError> {
    let opts = QueryOpts {
        index: 0,
        wait: Duration::from_secs(1),
        consistency: Consistency::Default,
    };
    let name = node.name.clone();
    let (_, services) = backend
        .read(token, CatalogNode { name }, opts)
        .await
        .map_err(SyncError::Read)?
        .answer;
    let name = node.name.clone();
    let checks = backend
        .read(token, NodeChecks { name }, opts)
        .await
        .map_err(SyncError::Read)?
        .answer;
    Ok((services, checks))
}

/// Whether the catalog's service `have` is the agent's `want`.
fn service_same(have: &NodeService, want: &ServiceDefinition) -> bool {
    have.service == want.service
        && have.tags == want.tags
        && have.address == want.address
        && have.port == want.port
        && have.meta == want.meta
        && have.enable_tag_override == want.enable_tag_override
        && Some(&have.weights) == want.weights.as_ref().or(Some(&have.weights))
        && have.kind == want.kind
        && have.tagged_addresses == want.tagged_addresses
        && have.proxy == want.proxy
        && have.locality == want.locality
}

/// Whether the catalog's check `have` is the agent's `want`; the output
/// is left out while a new one is `held` (its own timer syncs it).
fn check_same(have: &HealthCheck, want: &LocalCheck, held: bool) -> bool {
    have.status == want.status
        && (held || have.output == want.output)
        && have.name == want.name
        && have.service_id == want.service_id
        && have.notes == want.notes
        && have.kind == want.kind_name()
}

/// One write of a sync and the entries it brings in line, each with the
/// change number it had when planned.
struct Op {
    cmd: Command,
    settles: Vec<(Entry, u64)>,
}

/// The services and checks one registration carries.
#[derive(Default)]
struct Group<'a> {
    /// The service itself changed: it goes with all its checks.
    whole: bool,
    checks: Vec<&'a LocalCheck>,
    settles: Vec<(Entry, u64)>,
}

impl LocalState {
    /// Compares the catalog's view of this node with what the agent owns,
    /// by ID in one pass, and marks every entry that differs (or that the
    /// catalog has and the agent does not) for the next push.
    fn mark_differences(&self, services: &[NodeService], checks: &[HealthCheck]) {
        let mut inner = self.lock();
        let Inner {
            owned,
            held,
            dirty,
            changes,
            ..
        } = &mut *inner;
        // Work: one per entry indexed, looked up or compared, counted
        // where it is done (no loop is nested in another).
        let mut compared = 0;
        let mut mark = |entry: Entry| {
            *changes += 1;
            dirty.insert(entry, *changes);
        };
        let have_services: HashMap<&str, &NodeService> =
            services.iter().map(|s| (s.id.as_str(), s)).collect();
        let have_checks: HashMap<&str, &HealthCheck> =
            checks.iter().map(|c| (c.check_id.as_str(), c)).collect();
        compared += have_services.len() + have_checks.len();
        for s in services {
            compared += 1;
            // The leader keeps a server's `consul` service (Consul's
            // agents leave it alone too).
            if !owned.services.contains_key(&s.id) && s.id != SERVER_SERVICE {
                mark(Entry::Service(s.id.clone()));
            }
        }
        for c in checks {
            compared += 1;
            // A check of a service that goes away goes with it.
            let with_its_service = !c.service_id.is_empty()
                && c.service_id != SERVER_SERVICE
                && !owned.services.contains_key(&c.service_id);
            if c.check_id != SERF_CHECK_ID
                && !owned.checks.contains_key(&c.check_id)
                && !with_its_service
            {
                mark(Entry::Check(c.check_id.clone()));
            }
        }
        for (id, want) in &owned.services {
            compared += 1;
            if !have_services
                .get(id.as_str())
                .is_some_and(|h| service_same(h, want))
            {
                mark(Entry::Service(id.clone()));
            }
        }
        for (id, want) in &owned.checks {
            compared += 1;
            let held = held.contains_key(id);
            if !have_checks
                .get(id.as_str())
                .is_some_and(|h| check_same(h, want, held))
            {
                mark(Entry::Check(id.clone()));
            }
        }
        drop(inner);
        self.count(compared);
    }

    /// The writes that bring the marked entries in line, deregistrations
    /// first: a service with all its checks when the service changed (it
    /// never shows up in the catalog without them), the changed checks of
    /// a service with it (so a service deleted behind the agent's back
    /// comes back with them, as Consul's `syncCheck`), the node's changed
    /// checks in one registration. Releases the held outputs due at `now`.
    fn plan(&self, node: &NodeInfo, now: Instant) -> Vec<Op> {
        let mut inner = self.lock();
        inner.release_due(now);
        let inner = &*inner;
        let mut ops = Vec::new();
        let mut groups: BTreeMap<&str, Group<'_>> = BTreeMap::new();
        let deregister = |service_id: &str, check_id: &str| {
            Command::CatalogDeregister(Deregistration {
                node: node.name.clone(),
                service_id: service_id.to_owned(),
                check_id: check_id.to_owned(),
                ..Default::default()
            })
        };
        for (entry, n) in &inner.dirty {
            let settles = vec![(entry.clone(), *n)];
            match entry {
                Entry::Service(id) => match inner.owned.services.get(id) {
                    None => ops.push(Op {
                        cmd: deregister(id, ""),
                        settles,
                    }),
                    Some(_) => {
                        let g = groups.entry(id).or_default();
                        g.whole = true;
                        g.settles.extend(settles);
                    }
                },
                Entry::Check(id) => match inner.owned.checks.get(id) {
                    None => ops.push(Op {
                        cmd: deregister("", id),
                        settles,
                    }),
                    Some(c) => {
                        let g = groups.entry(&c.service_id).or_default();
                        g.checks.push(c);
                        g.settles.extend(settles);
                    }
                },
            }
        }
        let mut planned = inner.dirty.len();
        for (service_id, mut g) in groups {
            let service = inner.owned.services.get(service_id);
            if g.whole {
                g.checks = inner
                    .by_service
                    .get(service_id)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| inner.owned.checks.get(id))
                    .collect();
            }
            planned += g.checks.len();
            ops.push(Op {
                cmd: register(node, service.cloned(), &g.checks),
                settles: g.settles,
            });
        }
        self.count(planned);
        ops
    }

    /// Clears the marks of `done` entries no change marked again since.
    fn settle(&self, done: &[(Entry, u64)]) {
        let mut inner = self.lock();
        for (entry, n) in done {
            if inner.dirty.get(entry) == Some(n) {
                inner.dirty.remove(entry);
            }
        }
    }

    /// When the next held check output falls due.
    fn next_release(&self) -> Option<Instant> {
        self.lock().next_release()
    }
}

/// A registration of `service` (none: only checks) with `checks`, each
/// with its `Type` (Consul's `ttl`, `http`, …), which the catalog shows in
/// /v1/health and /v1/catalog answers. The node is not updated (the
/// leader keeps it equal to gossip); its address creates it if missing.
fn register(
    node: &NodeInfo,
    service: Option<ServiceDefinition>,
    checks: &[&LocalCheck],
) -> Command {
    let types = checks
        .iter()
        .map(|c| (c.id.clone(), c.kind_name().to_owned()))
        .collect();
    let register = RegisterRequest {
        id: node.id.clone(),
        node: node.name.clone(),
        address: node.address.clone(),
        datacenter: node.datacenter.clone(),
        service,
        checks: checks
            .iter()
            .map(|c| CheckDefinition {
                node: node.name.clone(),
                check_id: c.id.clone(),
                name: c.name.clone(),
                notes: c.notes.clone(),
                status: c.status.clone(),
                output: c.output.clone(),
                service_id: c.service_id.clone(),
            })
            .collect(),
        skip_node_update: true,
        ..Default::default()
    };
    Command::catalog_register(register, types)
}

/// Whether a batch write failed in a way that writes one at a time may
/// not: a server of an earlier release refuses a `Batch` from an agent
/// (and ACLs there allow it only to management tokens); with ACLs, one
/// denied write denies its whole batch, while the others may be allowed.
fn one_at_a_time_may_work(e: &ServerError) -> bool {
    match e {
        ServerError::Remote(reason) => reason.contains("refused a batch command"),
        ServerError::Acl(_) => true,
        _ => false,
    }
}

/// Writes `cmds` (a lone one as itself, more as one `Batch`) and answers
/// each; falls back to one write each when the batch is refused as a
/// batch. Returns the answers and the number of writes.
async fn send<F, Fut>(
    write: &mut F,
    cmds: Vec<Command>,
) -> Result<(Vec<Response>, usize), ServerError>
where
    F: FnMut(Command) -> Fut,
    Fut: Future<Output = Result<(u64, Response), ServerError>>,
{
    let n = cmds.len();
    let cmds = match <[Command; 1]>::try_from(cmds) {
        Ok([one]) => return Ok((vec![write(one).await?.1], 1)),
        Err(cmds) => cmds,
    };
    match write(Command::Batch(cmds.clone())).await {
        Ok((_, Response::Batch(answers))) if answers.len() == n => Ok((answers, 1)),
        Ok((_, other)) => Ok((vec![other; n], 1)),
        Err(e) if one_at_a_time_may_work(&e) => {
            tracing::debug!(error = %e, "a batch of catalog writes was refused; writing them one at a time");
            let mut answers = Vec::with_capacity(n);
            for cmd in cmds {
                answers.push(write(cmd).await?.1);
            }
            Ok((answers, 1 + n))
        }
        Err(e) => Err(e),
    }
}

/// Pushes the marked entries through `write`, at most [`MAX_OPS`] to a
/// write (a lone one as itself), and settles what each write applied.
/// Returns the number of writes.
///
/// # Errors
/// A failed write stops the round; a refused registration does not stop
/// the others, and the first refusal is the round's error (its entry stays
/// marked).
async fn push<F, Fut>(local: &LocalState, node: &NodeInfo, mut write: F) -> Result<usize, SyncError>
where
    F: FnMut(Command) -> Fut,
    Fut: Future<Output = Result<(u64, Response), ServerError>>,
{
    let mut ops = local.plan(node, Instant::now()).into_iter().peekable();
    let mut writes = 0;
    let mut refused = None;
    while ops.peek().is_some() {
        let (cmds, settles): (Vec<Command>, Vec<Vec<(Entry, u64)>>) = ops
            .by_ref()
            .take(MAX_OPS)
            .map(|op| (op.cmd, op.settles))
            .unzip();
        let (answers, sent) = send(&mut write, cmds).await.map_err(SyncError::Write)?;
        writes += sent;
        let mut done = Vec::new();
        for (answer, settles) in answers.into_iter().zip(settles) {
            match answer {
                Response::Refused(reason) => {
                    refused.get_or_insert(reason);
                }
                _ => done.extend(settles),
            }
        }
        local.settle(&done);
    }
    match refused {
        Some(reason) => Err(SyncError::Refused(reason)),
        None => Ok(writes),
    }
}

#[cfg(test)]
pub(super) mod testing {
    //! Anti-entropy's steps for the local state's tests.
    use super::*;

    /// Marks what differs from the catalog's `services` and `checks`.
    pub fn mark_differences(local: &LocalState, services: &[NodeService], checks: &[HealthCheck]) {
        local.mark_differences(services, checks);
    }

    /// Pushes the marked entries through `write`; the number of writes.
    pub async fn push<F, Fut>(
        local: &LocalState,
        node: &NodeInfo,
        write: F,
    ) -> Result<usize, String>
    where
        F: FnMut(Command) -> Fut,
        Fut: Future<Output = Result<(u64, Response), ServerError>>,
    {
        super::push(local, node, write)
            .await
            .map_err(|e| e.to_string())
    }

    /// The number of marked entries.
    pub fn marked(local: &LocalState) -> usize {
        local.lock().dirty.len()
    }
}

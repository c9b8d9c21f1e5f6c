//! How an agent takes part in its cluster, driven by gossip membership:
//! joining (`start_join`, `retry_join`), telling a client agent which
//! servers it may use, bootstrapping Raft once when `bootstrap_expect`
//! servers see each other, and, on the leader, keeping the Raft
//! configuration equal to the alive servers (autopilot) and the catalog's
//! nodes equal to the members (with their `serfHealth` checks).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use praetor_api::catalog::{check_status, SERF_CHECK_ID};
use praetor_gossip::{Gossip, Member, MemberStatus, Role};
use praetor_server::rpc::{Reply, Request};
use praetor_server::Server;
use praetor_store::catalog::NodeHealth;
use praetor_store::Command;
use tokio_util::sync::CancellationToken;

use crate::backend::Remote;
use crate::config::RuntimeConfig;
use crate::http::AppState;

/// How often the leader reconciles even without a gossip event.
const RECONCILE_EVERY: Duration = Duration::from_secs(1);
/// How long a server waits for a peer to say whether it has Raft state.
const PEER_STATUS_TIMEOUT: Duration = Duration::from_secs(2);
/// How long adding a server (catching up as a learner) may take.
const ADD_SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// Joins `addrs` through gossip, retrying every `interval` until one answers,
/// at most `max` times (0: no limit), or until `stop`. Consul's `retry_join`.
pub async fn run_retry_join(
    gossip: Gossip,
    addrs: Vec<String>,
    interval: Duration,
    max: u32,
    stop: CancellationToken,
) {
    if addrs.is_empty() {
        return;
    }
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match gossip.join(&addrs).await {
            Ok(n) => {
                tracing::info!(joined = n, addrs = ?addrs, "join completed");
                return;
            }
            Err(e) => {
                tracing::warn!(attempt, error = %e, "join failed; retrying in {}", praetor_api::duration::format(interval));
            }
        }
        if max > 0 && attempt >= max {
            tracing::error!(attempts = attempt, "retry_join gave up");
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// How often an agent tries to reach members it holds as failed.
const RECONNECT_EVERY: Duration = Duration::from_secs(5);

/// Tries, every few seconds, to join the members this agent holds as failed,
/// as Serf's reconnect does: after a partition heals, each side has marked
/// the other failed and gossip alone would never bring them back together.
pub async fn run_reconnect(gossip: Gossip, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(RECONNECT_EVERY) => {}
            () = stop.cancelled() => return,
        }
        let failed: Vec<String> = gossip
            .members()
            .iter()
            .filter(|m| m.status == MemberStatus::Failed)
            .map(|m| m.addr.to_string())
            .collect();
        if failed.is_empty() {
            continue;
        }
        match gossip.join(&failed).await {
            Ok(n) => tracing::info!(reached = n, "reconnected to failed members"),
            Err(e) => tracing::debug!(error = %e, "failed members still unreachable"),
        }
    }
}

/// The alive servers of datacenter `dc` with their Raft ids and RPC addresses.
fn alive_servers(members: &[Member], dc: &str) -> Vec<(String, u64, SocketAddr)> {
    members
        .iter()
        .filter(|m| m.status == MemberStatus::Alive)
        .filter(|m| m.tags.role == Role::Server && m.tags.datacenter == dc)
        .filter_map(|m| Some((m.name.clone(), m.tags.raft_id?, m.tags.rpc_addr?)))
        .collect()
}

/// Keeps a client agent's server list equal to the alive servers of its
/// datacenter.
pub async fn run_server_list(
    gossip: Gossip,
    remote: Arc<Remote>,
    dc: String,
    stop: CancellationToken,
) {
    let mut events = gossip.subscribe();
    loop {
        let servers = alive_servers(&gossip.members(), &dc);
        remote.set_servers(servers.into_iter().map(|(_, _, addr)| addr).collect());
        tokio::select! {
            _ = events.recv() => {}
            () = tokio::time::sleep(RECONCILE_EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// A server's duties: bootstrap once, then, while leading, reconcile.
pub async fn run_server(
    gossip: Gossip,
    server: Server,
    cfg: Arc<RuntimeConfig>,
    stop: CancellationToken,
) {
    let mut events = gossip.subscribe();
    let mut pilot = Autopilot::new(&cfg);
    let mut may_bootstrap = cfg.bootstrap_expect > 1;
    loop {
        // Each round may wait on Raft (a learner catching up, a write); a
        // shutdown must not wait for it.
        let round = async {
            if may_bootstrap && server.status().members.is_empty() {
                may_bootstrap = maybe_bootstrap(&gossip, &server, &cfg).await;
            }
            if server.is_leader() {
                let members = gossip.members();
                pilot.reconcile(&members, &server).await;
                reconcile_catalog(&members, &server, &cfg.datacenter).await;
            }
        };
        tokio::select! {
            () = round => {}
            () = stop.cancelled() => return,
        }
        tokio::select! {
            _ = events.recv() => {}
            () = tokio::time::sleep(RECONCILE_EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Bootstraps Raft with every server seen when at least `bootstrap_expect`
/// servers of this datacenter are alive and none of them has Raft state yet,
/// as Consul's `maybeBootstrap`. Every one of them does the same with the
/// same list, so there is one cluster. Returns whether to try again later.
async fn maybe_bootstrap(gossip: &Gossip, server: &Server, cfg: &RuntimeConfig) -> bool {
    let members = gossip.members();
    for m in &members {
        let t = &m.tags;
        if m.status == MemberStatus::Alive
            && t.role == Role::Server
            && t.datacenter == cfg.datacenter
            && t.bootstrap_expect != 0
            && t.bootstrap_expect != cfg.bootstrap_expect
        {
            tracing::error!(member = %m.name, theirs = t.bootstrap_expect, ours = cfg.bootstrap_expect, "servers disagree on bootstrap_expect; not bootstrapping");
            return true;
        }
    }
    let servers = alive_servers(&members, &cfg.datacenter);
    if servers.len() < cfg.bootstrap_expect as usize {
        return true;
    }
    let clients = praetor_server::raft::network::Peers::default();
    for (name, id, addr) in &servers {
        if *id == server.id() {
            continue;
        }
        let reply = match clients.client(&addr.to_string()) {
            Ok(c) => c.call(Request::Status, PEER_STATUS_TIMEOUT).await,
            Err(e) => Err(e),
        };
        match reply {
            Ok(Reply::Status(s)) if !s.members.is_empty() => {
                tracing::info!(server = %name, "existing Raft peers reported; not bootstrapping, waiting to be added");
                return false;
            }
            Ok(Reply::Status(_)) => {}
            other => {
                tracing::debug!(server = %name, reply = ?other, "could not ask a server for its Raft state; will retry");
                return true;
            }
        }
    }
    let voters: BTreeMap<u64, String> = servers
        .iter()
        .map(|(_, id, addr)| (*id, addr.to_string()))
        .collect();
    match server.bootstrap(voters).await {
        Ok(()) => {
            let names: Vec<&str> = servers.iter().map(|(n, _, _)| n.as_str()).collect();
            tracing::info!(servers = ?names, "bootstrapped the cluster");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "bootstrap failed; will retry");
            true
        }
    }
}

/// The leader's reconciliation of the Raft configuration with the members.
struct Autopilot {
    cleanup_dead_servers: bool,
    min_quorum: usize,
    dead_server_timeout: Duration,
    datacenter: String,
    /// When each server was first seen failed, by Raft id.
    failed_since: HashMap<u64, Instant>,
}

impl Autopilot {
    fn new(cfg: &RuntimeConfig) -> Self {
        Autopilot {
            cleanup_dead_servers: cfg.autopilot.cleanup_dead_servers,
            min_quorum: cfg.autopilot.min_quorum as usize,
            dead_server_timeout: cfg.autopilot.dead_server_timeout,
            datacenter: cfg.datacenter.clone(),
            failed_since: HashMap::new(),
        }
    }

    /// Adds alive servers missing from the configuration (each catches up as
    /// a learner before it votes), removes servers that left, and removes
    /// servers failed for longer than the dead-server timeout when the
    /// remaining voters keep a working majority.
    async fn reconcile(&mut self, members: &[Member], server: &Server) {
        let status = server.status();
        let config: HashMap<u64, (String, bool)> = status
            .members
            .iter()
            .map(|m| (m.id, (m.addr.clone(), m.voter)))
            .collect();
        let servers: Vec<&Member> = members
            .iter()
            .filter(|m| m.tags.role == Role::Server && m.tags.datacenter == self.datacenter)
            .collect();
        let now = Instant::now();
        self.failed_since.retain(|id, _| {
            servers
                .iter()
                .any(|m| m.tags.raft_id == Some(*id) && m.status == MemberStatus::Failed)
        });
        for m in &servers {
            let (Some(id), Some(addr)) = (m.tags.raft_id, m.tags.rpc_addr) else {
                continue;
            };
            match m.status {
                MemberStatus::Alive | MemberStatus::Leaving => {
                    let present = config.get(&id).is_some_and(|(_, voter)| *voter);
                    if !present && m.status == MemberStatus::Alive {
                        tracing::info!(server = %m.name, id, %addr, "adding server to the raft configuration");
                        match tokio::time::timeout(
                            ADD_SERVER_TIMEOUT,
                            server.add_voter(id, &addr.to_string()),
                        )
                        .await
                        {
                            Ok(Ok(())) => {}
                            Ok(Err(e)) => {
                                tracing::warn!(server = %m.name, error = %e, "could not add server")
                            }
                            Err(_) => tracing::warn!(server = %m.name, "adding server timed out"),
                        }
                    }
                }
                MemberStatus::Left => {
                    if config.contains_key(&id) && id != server.id() {
                        tracing::info!(server = %m.name, id, "removing server that left");
                        if let Err(e) = server.remove_voter(id).await {
                            tracing::warn!(server = %m.name, error = %e, "could not remove server");
                        }
                    }
                }
                MemberStatus::Failed => {
                    let since = *self.failed_since.entry(id).or_insert(now);
                    if self.cleanup_dead_servers
                        && config.contains_key(&id)
                        && id != server.id()
                        && now.duration_since(since) >= self.dead_server_timeout
                        && self.safe_to_remove(&config, members)
                    {
                        tracing::info!(server = %m.name, id, "removing server failed for longer than dead_server_timeout");
                        if let Err(e) = server.remove_voter(id).await {
                            tracing::warn!(server = %m.name, error = %e, "could not remove failed server");
                        }
                    }
                }
            }
        }
        // A server that came back with a new Raft id (its data dir wiped)
        // leaves its old id behind at the same address: remove it.
        for (id, (addr, _)) in &config {
            let known = servers.iter().any(|m| m.tags.raft_id == Some(*id));
            let replaced = servers.iter().any(|m| {
                m.status == MemberStatus::Alive
                    && m.tags.rpc_addr.is_some_and(|a| a.to_string() == *addr)
            });
            if !known && replaced && *id != server.id() {
                tracing::info!(id, %addr, "removing a stale raft id whose address a new server now uses");
                if let Err(e) = server.remove_voter(*id).await {
                    tracing::warn!(id, error = %e, "could not remove stale server");
                }
            }
        }
    }

    /// Removing one voter keeps at least `min_quorum` voters and a majority
    /// of the remaining voters alive.
    fn safe_to_remove(&self, config: &HashMap<u64, (String, bool)>, members: &[Member]) -> bool {
        let voters: Vec<u64> = config
            .iter()
            .filter(|(_, (_, v))| *v)
            .map(|(id, _)| *id)
            .collect();
        let remaining = voters.len().saturating_sub(1);
        let alive = voters
            .iter()
            .filter(|id| {
                members
                    .iter()
                    .any(|m| m.tags.raft_id == Some(**id) && m.status == MemberStatus::Alive)
            })
            .count();
        remaining >= self.min_quorum.max(1) && alive > remaining / 2
    }
}

/// How long a graceful leave may take.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Leaves the cluster gracefully: a server that leads hands its place over
/// first (it removes itself from the Raft configuration, so the others
/// elect a new leader at once); then the gossip pool learns that this node
/// left rather than failed.
pub async fn leave(state: &AppState) {
    if let Some(server) = &state.server {
        if server.is_leader() && server.voters().len() > 1 {
            tracing::info!("leaving: removing this server from the raft configuration");
            if let Err(e) = server.remove_voter(server.id()).await {
                tracing::warn!(error = %e, "could not remove this server from raft before leaving");
            }
        }
    }
    match state.gossip.leave(LEAVE_TIMEOUT).await {
        Ok(()) => tracing::info!("left the cluster"),
        Err(e) => tracing::warn!(error = %e, "graceful leave failed"),
    }
}

/// What the catalog should say of a member: its node and `serfHealth`
/// status, or `None` when it left (and must be deregistered).
fn desired_node(m: &Member) -> Option<NodeHealth> {
    let (status, output) = match m.status {
        MemberStatus::Alive | MemberStatus::Leaving => {
            (check_status::PASSING, "Agent alive and reachable")
        }
        MemberStatus::Failed => (check_status::CRITICAL, "Agent not live or unreachable"),
        MemberStatus::Left => return None,
    };
    Some(NodeHealth {
        node: m.name.clone(),
        id: m.tags.node_id.clone(),
        address: m.addr.ip().to_string(),
        datacenter: m.tags.datacenter.clone(),
        status: status.to_owned(),
        output: output.to_owned(),
    })
}

fn deregister_node(node: &str) -> Command {
    Command::CatalogDeregister(praetor_store::model::Deregistration {
        node: node.to_owned(),
        ..Default::default()
    })
}

/// On the leader: makes the catalog's nodes follow gossip, as Consul's
/// leader does. Alive members are registered with a passing `serfHealth`
/// check, failed ones keep their node with a critical check, members that
/// left are deregistered, and so are nodes with a `serfHealth` check that
/// gossip no longer lists (reaped after `reconnect_timeout`). Only changes
/// are proposed.
async fn reconcile_catalog(members: &[Member], server: &Server, dc: &str) {
    let mut commands = Vec::new();
    {
        let st = server.shared().read();
        let catalog = st.store.catalog();
        for m in members.iter().filter(|m| m.tags.datacenter == dc) {
            let (_, node) = catalog.node(&m.name);
            match desired_node(m) {
                Some(want) => {
                    let (_, checks) = catalog.node_checks(&m.name);
                    let serf = checks.iter().find(|c| c.check_id == SERF_CHECK_ID);
                    let same = node.as_ref().is_some_and(|n| {
                        n.id == want.id
                            && n.address == want.address
                            && n.datacenter == want.datacenter
                    }) && serf
                        .is_some_and(|c| c.status == want.status && c.output == want.output);
                    if !same {
                        commands.push(Command::NodeHealth(want));
                    }
                }
                None if node.is_some() => commands.push(deregister_node(&m.name)),
                None => {}
            }
        }
        let (_, nodes) = catalog.nodes();
        for n in nodes {
            let from_gossip = catalog
                .node_checks(&n.node)
                .1
                .iter()
                .any(|c| c.check_id == SERF_CHECK_ID);
            if from_gossip && !members.iter().any(|m| m.name == n.node) {
                commands.push(deregister_node(&n.node));
            }
        }
    }
    for cmd in commands {
        if let Err(e) = server.write(cmd).await {
            tracing::warn!(error = %e, "could not update the catalog from gossip");
            return;
        }
    }
}

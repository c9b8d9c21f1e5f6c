//! How an agent takes part in its cluster through gossip: joining
//! (`start_join`, `retry_join`), reconnecting to failed members, telling a
//! client agent which servers it may use, and leaving. The leader's duties
//! (bootstrap, autopilot, catalog reconciliation) are the server's
//! (`praetor_server::leader`); this module hands them the gossip pool as
//! their `Membership`.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use praetor_gossip::{Gossip, Member, MemberStatus, Role};
use praetor_server::leader::{
    self, AutopilotConfig, LeaderConfig, MemberChanges, MemberRole, MemberView, Membership,
};
use tokio_util::sync::CancellationToken;

use crate::backend::Remote;
use crate::config::RuntimeConfig;
use crate::http::AppState;

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
                tracing::info!(joined = n, addrs = %addrs.join(", "), "join completed");
                return;
            }
            // Agents of a cluster start together: the first attempt often
            // finds nobody up yet, which is no cause for a warning.
            Err(e) if attempt == 1 => {
                tracing::info!(error = %e, "no agent to join has answered yet; retrying in {}", praetor_api::duration::format(interval));
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
        let members: Vec<MemberView> = gossip.members().iter().map(member_view).collect();
        let servers = leader::alive_servers(&members, &dc);
        remote.set_servers(servers.into_iter().map(|s| s.rpc_addr).collect());
        tokio::select! {
            _ = events.recv() => {}
            () = tokio::time::sleep(leader::RECONCILE_EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// How long a graceful leave may take.
const LEAVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Leaves the cluster gracefully: a server that leads hands its place over
/// first (it removes itself from the Raft configuration, so the others
/// elect a new leader at once); then the gossip pool learns that this node
/// left rather than failed.
pub async fn leave(state: &AppState) {
    if let Some(server) = state.backend.server() {
        server.leave_raft().await;
    }
    // Other datacenters learn it first, as from Consul's servers.
    if let Some(wan) = &state.wan {
        match wan.leave(LEAVE_TIMEOUT).await {
            Ok(()) => tracing::info!("left the WAN pool"),
            Err(e) => tracing::warn!(error = %e, "graceful WAN leave failed"),
        }
    }
    match state.gossip.leave(LEAVE_TIMEOUT).await {
        Ok(()) => tracing::info!("left the cluster"),
        Err(e) => tracing::warn!(error = %e, "graceful leave failed"),
    }
}

/// The gossip pool as the server's leader duties see membership.
#[derive(Clone)]
pub struct GossipMembership(pub Gossip);

impl Membership for GossipMembership {
    fn members(&self) -> Vec<MemberView> {
        self.0.members().iter().map(member_view).collect()
    }

    fn changes(&self) -> MemberChanges {
        // The watch, not the event stream: it never misses the latest state,
        // however long a round takes.
        let list = self.0.watch();
        futures::stream::unfold(list, |mut list| async move {
            list.changed().await.ok()?;
            Some(((), list))
        })
        .boxed()
    }
}

/// A gossip member as the server sees it.
fn member_view(m: &Member) -> MemberView {
    MemberView {
        name: m.name.clone(),
        addr: m.addr.ip(),
        node_id: m.tags.node_id.clone(),
        datacenter: m.tags.datacenter.clone(),
        role: match m.tags.role {
            Role::Server => MemberRole::Server,
            Role::Client => MemberRole::Client,
        },
        status: match m.status {
            MemberStatus::Alive => leader::MemberStatus::Alive,
            MemberStatus::Leaving => leader::MemberStatus::Leaving,
            MemberStatus::Left => leader::MemberStatus::Left,
            MemberStatus::Failed => leader::MemberStatus::Failed,
        },
        raft_id: m.tags.raft_id,
        rpc_addr: m.tags.rpc_addr,
        bootstrap_expect: m.tags.bootstrap_expect,
    }
}

/// What the leader's duties need of the agent's configuration.
pub fn leader_config(cfg: &RuntimeConfig) -> LeaderConfig {
    LeaderConfig {
        datacenter: cfg.datacenter.clone(),
        bootstrap_expect: cfg.bootstrap_expect,
        // Consul's defaults for what the agent's block does not set; a
        // configuration stored through the API wins on the leader.
        autopilot: AutopilotConfig {
            cleanup_dead_servers: cfg.autopilot.cleanup_dead_servers,
            min_quorum: cfg.autopilot.min_quorum,
            ..AutopilotConfig::consul_defaults(cfg.autopilot.dead_server_timeout)
        },
    }
}

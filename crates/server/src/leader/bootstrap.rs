//! Bootstrap with `bootstrap_expect`, as Consul's `maybeBootstrap`: every
//! server of a new cluster waits until it sees that many alive servers of
//! its datacenter, asks each whether it already has Raft state, and, when
//! none has, initializes Raft with that same list, so there is one cluster.
//! Never bootstraps a server that has Raft state, nor with servers that
//! disagree on `bootstrap_expect`.

use std::collections::BTreeMap;

use super::membership::{alive_servers, MemberRole, MemberStatus, MemberView};
use super::PEER_STATUS_TIMEOUT;
use crate::rpc::{Reply, Request};
use crate::Server;

/// Bootstraps Raft with every alive server in `members` when at least
/// `expect` servers of datacenter `dc` are alive and none of them has Raft
/// state yet. Returns whether to try again later: `false` once bootstrapped,
/// or once another server reports Raft state (this one waits to be added).
pub(super) async fn maybe_bootstrap(
    server: &Server,
    members: &[MemberView],
    dc: &str,
    expect: u32,
) -> bool {
    for m in members {
        if m.status == MemberStatus::Alive
            && m.role == MemberRole::Server
            && m.datacenter == dc
            && m.bootstrap_expect != 0
            && m.bootstrap_expect != expect
        {
            tracing::error!(member = %m.name, theirs = m.bootstrap_expect, ours = expect, "servers disagree on bootstrap_expect; not bootstrapping");
            return true;
        }
    }
    let servers = alive_servers(members, dc);
    if servers.len() < expect as usize {
        return true;
    }
    // The server's own connections: they go through its dialer (TLS).
    let clients = server.peers();
    for s in &servers {
        if s.raft_id == server.id() {
            continue;
        }
        let reply = match clients.client(&s.rpc_addr.to_string()) {
            Ok(c) => c.call(Request::Status, PEER_STATUS_TIMEOUT).await,
            Err(e) => Err(e),
        };
        match reply {
            Ok(Reply::Status(st)) if !st.members.is_empty() => {
                tracing::info!(server = %s.name, "existing Raft peers reported; not bootstrapping, waiting to be added");
                return false;
            }
            Ok(Reply::Status(_)) => {}
            other => {
                tracing::debug!(server = %s.name, reply = ?other, "could not ask a server for its Raft state; will retry");
                return true;
            }
        }
    }
    let voters: BTreeMap<u64, String> = servers
        .iter()
        .map(|s| (s.raft_id, s.rpc_addr.to_string()))
        .collect();
    match server.bootstrap(voters).await {
        Ok(()) => {
            let names: Vec<&str> = servers.iter().map(|s| s.name.as_str()).collect();
            tracing::info!(servers = %names.join(", "), "bootstrapped the cluster");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "bootstrap failed; will retry");
            true
        }
    }
}

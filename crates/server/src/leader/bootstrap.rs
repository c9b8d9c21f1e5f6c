//! Bootstrap with `bootstrap_expect`, as Consul's `maybeBootstrap`: every
//! server of a new cluster waits until it sees that many alive servers of
//! its datacenter, asks each whether it already has Raft state, and, when
//! none has, initializes Raft with that same list, so there is one cluster.
//! Never bootstraps a server that has Raft state, nor with servers that
//! disagree on `bootstrap_expect`.
//!
//! The server with the lowest Raft id of that list initializes at once;
//! the others only after `DEFER` with still no Raft state anywhere (it
//! died first). Otherwise every server would initialize at once, and one
//! asked for its vote a moment before its own initialize would be refused
//! by openraft (harmless, but logged as an error on a healthy start).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::membership::{alive_servers, MemberRole, MemberStatus, MemberView};
use super::PEER_STATUS_TIMEOUT;
use crate::rpc::{Reply, Request};
use crate::Server;

/// How long a server other than the lowest-id one waits, with the servers
/// all there and none bootstrapped, before it initializes itself.
const DEFER: Duration = Duration::from_secs(5);

/// Bootstraps Raft with every alive server in `members` when at least
/// `expect` servers of datacenter `dc` are alive and none of them has Raft
/// state yet. Returns whether to try again later: `false` once bootstrapped,
/// or once another server reports Raft state (this one waits to be added).
pub(super) async fn maybe_bootstrap(
    server: &Server,
    members: &[MemberView],
    dc: &str,
    expect: u32,
    ready_since: &mut Option<Instant>,
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
    let since = *ready_since.get_or_insert_with(Instant::now);
    if voters.keys().next() != Some(&server.id()) && since.elapsed() < DEFER {
        tracing::debug!("leaving the bootstrap to the server of the lowest Raft id");
        return true;
    }
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

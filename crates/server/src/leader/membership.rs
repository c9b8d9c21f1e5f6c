//! The membership interface the leader's duties consume: who is in the
//! cluster and in what state, as the server needs to see it. The server
//! defines it and never learns how membership is kept; the agent implements
//! it over its gossip pool (Consul's Serf LAN pool). Nothing here talks to
//! the network or changes membership.

use std::net::{IpAddr, SocketAddr};

/// A stream that yields each time the member list may have changed. Changes
/// that come while nobody polls are not lost: the next poll yields at once
/// (several changes may be folded into one item). It ends when membership
/// stops.
pub type MemberChanges = futures::stream::BoxStream<'static, ()>;

/// What the leader's duties know of cluster membership.
pub trait Membership: Send + Sync + 'static {
    /// Every member this node knows of, itself included; failed and left
    /// members stay listed until they are reaped (as `consul members`).
    fn members(&self) -> Vec<MemberView>;

    /// Wakes the duties when the member list changes, from now on.
    fn changes(&self) -> MemberChanges;
}

/// A shared membership is the membership it shares (the leader duties and
/// the health report read the same one).
impl<T: Membership + ?Sized> Membership for std::sync::Arc<T> {
    fn members(&self) -> Vec<MemberView> {
        (**self).members()
    }

    fn changes(&self) -> MemberChanges {
        (**self).changes()
    }
}

/// Whether a member runs a server (Consul's `role` tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberRole {
    /// A server: it has a Raft id and an RPC address.
    Server,
    /// A client agent.
    Client,
}

/// A member's status, as Serf reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberStatus {
    /// Answering probes.
    Alive,
    /// Announced that it is leaving, and still answering probes.
    Leaving,
    /// Left gracefully (or was forced to leave).
    Left,
    /// Stopped answering probes without leaving.
    Failed,
}

/// One member as the server sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    /// The node name, unique in the pool.
    pub name: String,
    /// The node's address, as the catalog registers it.
    pub addr: IpAddr,
    /// The node's ID (a UUID).
    pub node_id: String,
    /// Its datacenter.
    pub datacenter: String,
    /// Server or client.
    pub role: MemberRole,
    /// Alive, leaving, left or failed.
    pub status: MemberStatus,
    /// A server's Raft id.
    pub raft_id: Option<u64>,
    /// Where a server answers RPC (and Raft).
    pub rpc_addr: Option<SocketAddr>,
    /// The `bootstrap_expect` a server announced (0: none).
    pub bootstrap_expect: u32,
}

/// An alive server of a datacenter, as bootstrap, autopilot and a client
/// agent's server list use it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AliveServer {
    /// Its node name.
    pub name: String,
    /// Its Raft id.
    pub raft_id: u64,
    /// Where it answers RPC.
    pub rpc_addr: SocketAddr,
}

/// The alive servers of datacenter `dc` that announced a Raft id and an
/// RPC address, in the order `members` lists them.
pub fn alive_servers(members: &[MemberView], dc: &str) -> Vec<AliveServer> {
    members
        .iter()
        .filter(|m| m.status == MemberStatus::Alive)
        .filter(|m| m.role == MemberRole::Server && m.datacenter == dc)
        .filter_map(|m| {
            Some(AliveServer {
                name: m.name.clone(),
                raft_id: m.raft_id?,
                rpc_addr: m.rpc_addr?,
            })
        })
        .collect()
}

//! What the rest of Praetor sees of the gossip pool: members, their tags and
//! status, and the events that report changes. Plain data; never performs I/O.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Whether a member runs the server role, as Consul's `role` tag tells
/// (`consul` for servers, `node` for clients).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// A server: votes in Raft and serves RPC on [`Tags::rpc_addr`].
    Server,
    /// A client agent.
    Client,
}

impl Role {
    /// The value of Consul's `role` tag: `consul` for servers, `node` for clients.
    #[must_use]
    pub fn serf_tag(self) -> &'static str {
        match self {
            Role::Server => "consul",
            Role::Client => "node",
        }
    }
}

impl fmt::Display for Role {
    /// `server` or `client`, as the `Type` column of `consul members`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Server => "server",
            Role::Client => "client",
        })
    }
}

/// What a member announces about itself (Serf's tags). Every member learns
/// every other member's tags; keep them small, they travel in UDP packets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tags {
    /// Server or client (Consul's `role` tag).
    pub role: Role,
    /// The datacenter (Consul's `dc` tag).
    pub datacenter: String,
    /// The agent's node ID, a UUID (Consul's `id` tag).
    pub node_id: String,
    /// Servers: where their RPC port (8300) listens (Consul's `port` tag).
    pub rpc_addr: Option<SocketAddr>,
    /// Servers: their Raft id.
    pub raft_id: Option<u64>,
    /// Servers: their `bootstrap_expect` (Consul's `expect` tag; 0 = never
    /// bootstrap alone).
    pub bootstrap_expect: u32,
    /// The version the member runs (Consul's `build` tag), e.g. `0.1.0`.
    pub build: String,
    /// The protocol version (Consul's `vsn` tag), e.g. 2.
    pub protocol: u8,
}

/// A member's status, as Serf reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MemberStatus {
    /// Answering probes.
    Alive,
    /// Announced that it is leaving, and still answering probes.
    Leaving,
    /// Left gracefully (or was forced to leave); kept until the tombstone
    /// timeout reaps it.
    Left,
    /// Stopped answering probes without leaving; kept until the reconnect
    /// timeout reaps it.
    Failed,
}

impl MemberStatus {
    /// Consul's spelling: `alive`, `leaving`, `left`, `failed`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Alive => "alive",
            MemberStatus::Leaving => "leaving",
            MemberStatus::Left => "left",
            MemberStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for MemberStatus {
    /// As `consul members` prints it: `alive`, `leaving`, `left`, `failed`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One member of the pool as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The node name, unique in the pool.
    pub name: String,
    /// Where the member gossips (UDP and TCP).
    pub addr: SocketAddr,
    /// What the member announced about itself.
    pub tags: Tags,
    /// Alive, leaving, left or failed.
    pub status: MemberStatus,
    /// Which run of the member this is: a restarted member (same name) has a
    /// larger generation, and so does one that rejoined after being declared
    /// failed while it was still running.
    pub generation: u64,
}

/// A change in the member list, as Serf's member events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberEvent {
    /// A member appeared, or came back after failing or leaving.
    Join(Member),
    /// A member's tags, address or (between alive and leaving) status changed.
    Update(Member),
    /// A member stopped answering probes without leaving.
    Fail(Member),
    /// A member left gracefully or was forced to leave.
    Leave(Member),
    /// A failed or left member was forgotten after its timeout.
    Reap(Member),
}

impl MemberEvent {
    /// The member the event is about, as it is after the event.
    #[must_use]
    pub fn member(&self) -> &Member {
        match self {
            MemberEvent::Join(m)
            | MemberEvent::Update(m)
            | MemberEvent::Fail(m)
            | MemberEvent::Leave(m)
            | MemberEvent::Reap(m) => m,
        }
    }
}

/// A consistent view of every member, published after each change.
#[derive(Clone, Debug, Default)]
pub struct MemberList {
    /// Grows by one with every change to the list; consumers that must not
    /// miss state compare it instead of relying on events.
    pub version: u64,
    /// Every member, this node included, sorted by name.
    pub members: Arc<[Member]>,
}

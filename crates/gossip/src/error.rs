//! The gossip crate's one error type. Callers match on it: the HTTP layer
//! maps `UnknownMember` and `NotFailed` to 4xx, `Join` to Consul's join error.

use std::net::SocketAddr;

use crate::member::MemberStatus;

/// What went wrong starting the gossip pool or acting on it.
#[derive(Debug, thiserror::Error)]
pub enum GossipError {
    /// The configuration cannot work (a timeout of zero, a probe timeout not
    /// below the probe interval, an empty node name, tags too large, …).
    #[error("invalid gossip configuration: {0}")]
    Config(String),
    /// Listening for gossip failed (UDP or TCP, on the same address).
    #[error("binding the gossip {proto} listener on {addr}")]
    Bind {
        proto: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    /// `join` was given no address.
    #[error("no address to join")]
    NoJoinAddress,
    /// No address given to `join` answered; each with its reason.
    #[error("joining the cluster failed: {}", describe(failures))]
    Join { failures: Vec<JoinFailure> },
    /// `force_leave` named a node this member does not know.
    #[error("no member named {node:?}")]
    UnknownMember { node: String },
    /// `force_leave` named a member that is not failed.
    #[error("member {node:?} is {status}; only failed members can be forced to leave")]
    NotFailed { node: String, status: MemberStatus },
    /// This node left the pool; it cannot join again without a restart.
    #[error("this node has left the gossip pool")]
    Left,
    /// The gossip tasks have stopped (shutdown).
    #[error("gossip has stopped")]
    Stopped,
}

/// One address `join` could not reach, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinFailure {
    /// The address as given to `join`.
    pub addr: String,
    /// Why it failed (resolution, connection, timeout, bad answer).
    pub reason: String,
}

fn describe(failures: &[JoinFailure]) -> String {
    failures
        .iter()
        .map(|f| format!("{}: {}", f.addr, f.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

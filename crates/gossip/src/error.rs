//! The gossip crate's one error type. Callers match on it: the HTTP layer
//! maps `UnknownMember` to 4xx, `Join` to Consul's join error.

use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// This node left the pool; it cannot join again without a restart.
    #[error("this node has left the gossip pool")]
    Left,
    /// The gossip tasks have stopped (shutdown).
    #[error("gossip has stopped")]
    Stopped,
    /// A gossip key that is not base64 of 16, 24 or 32 bytes (the message
    /// says which).
    #[error("{0}")]
    InvalidKey(String),
    /// `use` of a key that is not installed (memberlist's wording).
    #[error("Requested key is not in the keyring")]
    KeyNotInstalled,
    /// `remove` of the primary key (memberlist's wording).
    #[error("Removing the primary key is not allowed")]
    RemovePrimaryKey,
    /// A keyring change while gossip is not encrypted (Serf's wording).
    #[error("No keyring to modify (encryption not enabled)")]
    NoKeyring,
    /// A keyring listing while gossip is not encrypted (Serf's wording).
    #[error("Keyring is empty (encryption not enabled)")]
    KeyringEmpty,
    /// The keyring file cannot be read, parsed or written.
    #[error("keyring file {}: {reason}", path.display())]
    KeyringFile { path: PathBuf, reason: String },
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

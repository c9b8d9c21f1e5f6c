//! Operator shapes: `/v1/operator/raft/configuration`, as Consul's.

use serde::{Deserialize, Serialize};

/// The Raft configuration as the leader (or, with `?stale`, any server) sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RaftConfiguration {
    pub servers: Vec<RaftServer>,
    /// The Raft index of the entry that set this configuration.
    pub index: u64,
}

/// One server in the Raft configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RaftServer {
    /// The node's ID (its UUID when known, else its Raft id).
    #[serde(rename = "ID")]
    pub id: String,
    /// The node's name (empty when not known through gossip).
    pub node: String,
    /// Its RPC address, `ip:port`.
    pub address: String,
    pub leader: bool,
    pub protocol_version: String,
    pub voter: bool,
}

//! Operator shapes: `/v1/operator/raft/configuration` and
//! `/v1/operator/keyring`, as Consul's.

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

/// One gossip pool's answer to a keyring operation
/// (`/v1/operator/keyring`), as Consul's `KeyringResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeyringResponse {
    /// Whether this is the WAN pool (Praetor has only the LAN pool).
    #[serde(rename = "WAN")]
    pub wan: bool,
    pub datacenter: String,
    pub segment: String,
    /// Per node, what went wrong there.
    pub messages: std::collections::BTreeMap<String, String>,
    /// Each installed key and how many nodes hold it.
    pub keys: std::collections::BTreeMap<String, usize>,
    /// Each primary key and how many nodes use it.
    pub primary_keys: std::collections::BTreeMap<String, usize>,
    /// The alive nodes asked.
    pub num_nodes: usize,
    /// The nodes that answered.
    pub num_resp: usize,
    /// The nodes that answered with an error.
    pub num_err: usize,
}

/// The body of `POST`, `PUT` and `DELETE /v1/operator/keyring`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct KeyringRequest {
    /// A base64 gossip key.
    pub key: String,
}

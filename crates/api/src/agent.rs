//! Agent shapes: `/v1/agent/members` and `/v1/agent/self`, as Consul's.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Serf member status codes, as Consul reports them in `Status`.
pub mod member_status {
    pub const NONE: u8 = 0;
    pub const ALIVE: u8 = 1;
    pub const LEAVING: u8 = 2;
    pub const LEFT: u8 = 3;
    pub const FAILED: u8 = 4;

    /// The word `praetor members` prints for a status code.
    pub fn name(code: u8) -> &'static str {
        match code {
            ALIVE => "alive",
            LEAVING => "leaving",
            LEFT => "left",
            FAILED => "failed",
            _ => "none",
        }
    }
}

/// One gossip member as `/v1/agent/members` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Member {
    pub name: String,
    pub addr: String,
    pub port: u16,
    pub tags: BTreeMap<String, String>,
    pub status: u8,
    pub protocol_min: u8,
    pub protocol_max: u8,
    pub protocol_cur: u8,
    pub delegate_min: u8,
    pub delegate_max: u8,
    pub delegate_cur: u8,
}

/// The `Config` section of `/v1/agent/self`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SelfConfig {
    pub datacenter: String,
    pub primary_datacenter: String,
    pub node_name: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub server: bool,
    pub revision: String,
    pub version: String,
}

/// `/v1/agent/self`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentSelf {
    pub config: SelfConfig,
    pub member: Member,
    #[serde(default)]
    pub stats: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
}

//! Catalog shapes, as Consul's `/v1/catalog/*` and `/v1/health/*` return
//! them (the node-level parts; services arrive with the health issue).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Check status words, as Consul's.
pub mod check_status {
    pub const PASSING: &str = "passing";
    pub const WARNING: &str = "warning";
    pub const CRITICAL: &str = "critical";
}

/// The check every member has, kept by the leader from gossip (Consul's).
pub const SERF_CHECK_ID: &str = "serfHealth";
/// Its name, as Consul's.
pub const SERF_CHECK_NAME: &str = "Serf Health Status";

/// A catalog node (`/v1/catalog/nodes`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Node {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub datacenter: String,
    pub tagged_addresses: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A health check (`/v1/health/node/<node>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthCheck {
    pub node: String,
    #[serde(rename = "CheckID")]
    pub check_id: String,
    pub name: String,
    pub status: String,
    pub notes: String,
    pub output: String,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    pub service_name: String,
    pub service_tags: Vec<String>,
    #[serde(rename = "Type")]
    pub kind: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// `/v1/catalog/node/<node>`: the node and its services (none until the
/// service registry arrives).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeServices {
    pub node: Node,
    pub services: BTreeMap<String, serde_json::Value>,
}

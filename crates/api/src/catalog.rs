//! Catalog shapes, as Consul's `/v1/catalog/*` and `/v1/health/*` return
//! them, and the bodies of catalog register and deregister.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use crate::service::{Locality, ServiceAddress, ServiceProxy};

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

/// `/v1/catalog/node/<node>`: the node and its services by ID.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeServices {
    pub node: Node,
    pub services: BTreeMap<String, NodeService>,
}

/// Load-balancing weights of a service instance (Consul's `Weights`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Weights {
    pub passing: u32,
    pub warning: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            passing: 1,
            warning: 1,
        }
    }
}

/// A service instance on a node (`/v1/catalog/node/<node>` Services,
/// `/v1/health/service/<name>` Service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeService {
    /// Empty for a typical service (`connect-proxy`, `mesh-gateway`, …).
    #[serde(default)]
    pub kind: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub service: String,
    pub tags: Vec<String>,
    pub address: String,
    #[serde(default)]
    pub tagged_addresses: BTreeMap<String, ServiceAddress>,
    pub meta: BTreeMap<String, String>,
    pub port: u16,
    pub weights: Weights,
    pub enable_tag_override: bool,
    #[serde(default)]
    pub proxy: ServiceProxy,
    #[serde(default)]
    pub locality: Option<Locality>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// One instance as `/v1/catalog/service/<name>` lists it: node and service
/// fields flattened, as Consul's `CatalogService`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CatalogService {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub datacenter: String,
    pub tagged_addresses: BTreeMap<String, String>,
    pub node_meta: BTreeMap<String, String>,
    #[serde(default)]
    pub service_kind: String,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    pub service_name: String,
    pub service_tags: Vec<String>,
    pub service_address: String,
    #[serde(default)]
    pub service_tagged_addresses: BTreeMap<String, ServiceAddress>,
    pub service_weights: Weights,
    pub service_meta: BTreeMap<String, String>,
    pub service_port: u16,
    pub service_enable_tag_override: bool,
    #[serde(default)]
    pub service_proxy: ServiceProxy,
    #[serde(default)]
    pub service_locality: Option<Locality>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// `/v1/health/service/<name>`: an instance with its node and every check
/// that applies to it (the node's own checks and the service's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceEntry {
    pub node: Node,
    pub service: NodeService,
    pub checks: Vec<HealthCheck>,
}

/// The body of `PUT /v1/catalog/register`, as Consul's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegisterRequest {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub datacenter: String,
    pub tagged_addresses: BTreeMap<String, String>,
    pub node_meta: BTreeMap<String, String>,
    pub service: Option<ServiceDefinition>,
    pub check: Option<CheckDefinition>,
    pub checks: Vec<CheckDefinition>,
    pub skip_node_update: bool,
}

/// A service in a register request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceDefinition {
    #[serde(rename = "ID")]
    pub id: String,
    pub service: String,
    pub tags: Vec<String>,
    pub address: String,
    pub meta: BTreeMap<String, String>,
    pub port: u16,
    pub weights: Option<Weights>,
    pub enable_tag_override: bool,
    /// Empty for a typical service.
    pub kind: String,
    pub tagged_addresses: BTreeMap<String, ServiceAddress>,
    pub proxy: ServiceProxy,
    pub locality: Option<Locality>,
}

/// A check in a register request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CheckDefinition {
    pub node: String,
    #[serde(rename = "CheckID")]
    pub check_id: String,
    pub name: String,
    pub notes: String,
    pub status: String,
    pub output: String,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
}

/// The body of `PUT /v1/catalog/deregister`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeregisterRequest {
    pub node: String,
    pub datacenter: String,
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    #[serde(rename = "CheckID")]
    pub check_id: String,
}

/// One service in `GET /v1/internal/ui/services` (the summary Consul's web
/// UI lists): its tags, the nodes running it, how many instances, and how
/// many of the checks that apply to those instances (their own and their
/// nodes') are passing, warning and critical.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceSummary {
    pub name: String,
    pub datacenter: String,
    pub tags: Vec<String>,
    pub nodes: Vec<String>,
    pub instance_count: u64,
    pub checks_passing: u64,
    pub checks_warning: u64,
    pub checks_critical: u64,
}

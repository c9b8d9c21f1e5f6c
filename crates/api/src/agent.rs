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
    /// The git revision the agent was built from (`unknown` without git).
    pub revision: String,
    /// The Consul version whose API the agent follows
    /// ([`crate::CONSUL_API_VERSION`]): what version-checking Consul
    /// clients read.
    pub version: String,
    /// When the built revision was committed (RFC 3339), as Consul's.
    #[serde(default)]
    pub build_date: String,
    /// Praetor's own version ([`crate::VERSION`]).
    #[serde(default)]
    pub praetor_version: String,
}

/// A node's network coordinate (`Coord` in `/v1/agent/self`): Consul's
/// Vivaldi coordinate (`Vec`, `Error`, `Adjustment`, `Height`).
pub use praetor_coordinate::Coordinate;

/// The gRPC ports of `xDS` in `/v1/agent/self` (-1: not served).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GrpcPorts {
    pub plaintext: i32,
    #[serde(rename = "TLS")]
    pub tls: i32,
}

/// The `xDS` section of `/v1/agent/self`: the proxies the agent can
/// configure and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct XdsSelf {
    pub supported_proxies: BTreeMap<String, Vec<String>>,
    pub port: i32,
    pub ports: GrpcPorts,
}

/// `/v1/agent/self`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentSelf {
    pub config: SelfConfig,
    /// The resolved runtime configuration under Consul's field names, with
    /// secrets shown as `hidden`.
    #[serde(default)]
    pub debug_config: serde_json::Value,
    #[serde(default)]
    pub coord: Option<Coordinate>,
    pub member: Member,
    #[serde(default)]
    pub stats: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    #[serde(rename = "xDS", default, skip_serializing_if = "Option::is_none")]
    pub xds: Option<XdsSelf>,
}

/// `/v1/agent/version`: Consul's build information, plus Praetor's own
/// version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// The git revision built.
    #[serde(rename = "SHA")]
    pub sha: String,
    #[serde(rename = "BuildDate")]
    pub build_date: String,
    /// The Consul version whose API the agent follows.
    #[serde(rename = "HumanVersion")]
    pub human_version: String,
    /// Empty: Praetor is not a FIPS build.
    #[serde(rename = "FIPS")]
    pub fips: String,
    #[serde(rename = "PraetorVersion", default)]
    pub praetor_version: String,
}

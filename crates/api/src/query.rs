//! Consul's prepared-query JSON shapes (`/v1/query`): the definition
//! clients create and read, and the answers of `execute` and `explain`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::ServiceEntry;

/// Consul's `PreparedQueryDefinition` (`POST /v1/query`, `GET /v1/query`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PreparedQueryDefinition {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub session: String,
    pub token: String,
    pub service: ServiceQuery,
    #[serde(rename = "DNS")]
    pub dns: QueryDnsOptions,
    pub template: QueryTemplate,
    pub create_index: u64,
    pub modify_index: u64,
}

/// Consul's `ServiceQuery`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceQuery {
    pub service: String,
    pub failover: QueryFailoverOptions,
    pub only_passing: bool,
    pub near: String,
    pub tags: Vec<String>,
    pub node_meta: BTreeMap<String, String>,
    pub service_meta: BTreeMap<String, String>,
    #[serde(rename = "IgnoreCheckIDs")]
    pub ignore_check_ids: Vec<String>,
    /// Connect-capable instances only: refused (Praetor has no Connect).
    pub connect: bool,
    /// A sameness group: refused (Enterprise).
    pub sameness_group: String,
    /// A cluster peer to query: refused (Praetor has no peering).
    pub peer: String,
}

/// Consul's `QueryFailoverOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueryFailoverOptions {
    pub nearest_n: i64,
    pub datacenters: Vec<String>,
    pub targets: Vec<QueryFailoverTarget>,
}

/// Consul's `QueryFailoverTarget`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueryFailoverTarget {
    pub peer: String,
    pub datacenter: String,
}

/// Consul's `QueryDNSOptions`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueryDnsOptions {
    #[serde(rename = "TTL")]
    pub ttl: String,
}

/// Consul's `QueryTemplateOptions` (`Type` "" for a static query).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct QueryTemplate {
    #[serde(rename = "Type")]
    pub kind: String,
    pub regexp: String,
    pub remove_empty_tags: bool,
}

/// Consul's `PreparedQueryExecuteResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PreparedQueryExecuteResponse {
    pub service: String,
    pub nodes: Vec<ServiceEntry>,
    #[serde(rename = "DNS")]
    pub dns: QueryDnsOptions,
    pub datacenter: String,
    pub failovers: u32,
}

/// Consul's `PreparedQueryExplainResponse`: the query as rendered for the
/// name asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PreparedQueryExplainResponse {
    pub query: PreparedQueryDefinition,
}

/// The answer of `POST /v1/query`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedQuery {
    #[serde(rename = "ID")]
    pub id: String,
}

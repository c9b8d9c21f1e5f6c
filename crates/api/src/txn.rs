//! Transaction shapes: Consul's `PUT /v1/txn` body (a list of operations on
//! KV, nodes, services and checks) and its answer (`Results`, `Errors`).

use serde::{Deserialize, Serialize};

use crate::catalog::{HealthCheck, Node, NodeService};
use crate::KvPair;

/// Most operations in one transaction (current Consul's limit; older
/// releases allowed 64).
pub const MAX_OPS: usize = 128;

/// One operation: exactly one of its fields is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TxnOp {
    #[serde(rename = "KV", skip_serializing_if = "Option::is_none")]
    pub kv: Option<TxnKvOp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<TxnNodeOp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<TxnServiceOp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check: Option<TxnCheckOp>,
}

/// A KV operation; `Value` is base64.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TxnKvOp {
    pub verb: String,
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub flags: u64,
    pub index: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub session: String,
}

/// A node operation (`set`, `cas`, `get`, `delete`, `delete-cas`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TxnNodeOp {
    pub verb: String,
    pub node: serde_json::Value,
}

/// A service operation on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TxnServiceOp {
    pub verb: String,
    pub node: String,
    pub service: serde_json::Value,
}

/// A check operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TxnCheckOp {
    pub verb: String,
    pub check: serde_json::Value,
}

/// One result: the entry an operation read or wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub enum TxnResult {
    #[serde(rename = "KV")]
    Kv(KvPair),
    Node(Node),
    Service(NodeService),
    Check(HealthCheck),
}

/// Why one operation failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TxnError {
    pub op_index: usize,
    pub what: String,
}

/// The answer of `PUT /v1/txn`: `Results` when every operation succeeded
/// (200), `Errors` when any failed and nothing was applied (409).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TxnResponse {
    pub results: Option<Vec<TxnResult>>,
    pub errors: Option<Vec<TxnError>>,
}

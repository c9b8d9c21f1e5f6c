//! Tokens, policies and roles as Consul's HTTP API sends and takes them, in
//! the field order and with the omissions of Consul's Go client (`api`
//! package), so `-format=json` prints what `consul` prints. Data only: no
//! I/O and no formatting here.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A link from a token or role to a policy or role, by ID and/or name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Link {
    #[serde(default, rename = "ID")]
    pub id: String,
    #[serde(default)]
    pub name: String,
}

impl Link {
    /// A link by ID (the agent fills in the name).
    pub fn by_id(id: &str) -> Link {
        Link {
            id: id.to_owned(),
            name: String::new(),
        }
    }

    /// A link by name (the agent resolves it).
    pub fn by_name(name: &str) -> Link {
        Link {
            id: String::new(),
            name: name.to_owned(),
        }
    }
}

/// Consul's service identity: a templated policy for one service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceIdentity {
    #[serde(default)]
    pub service_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datacenters: Vec<String>,
}

/// Consul's node identity: a templated policy for one node in one datacenter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeIdentity {
    #[serde(default)]
    pub node_name: String,
    #[serde(default)]
    pub datacenter: String,
}

fn is_zero_value(v: &Option<Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Number(n)) => n.as_f64() == Some(0.0),
        _ => false,
    }
}

/// A token (`api.ACLToken`). Times are kept as the agent's RFC 3339 text and
/// `Hash` as its base64, so they print back unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Token {
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
    #[serde(default, rename = "AccessorID")]
    pub accessor_id: String,
    #[serde(default, rename = "SecretID")]
    pub secret_id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Link>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Link>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_identities: Vec<ServiceIdentity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_identities: Vec<NodeIdentity>,
    #[serde(default)]
    pub local: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth_method: String,
    /// A duration (`"1h"`, or nanoseconds as Consul's Go client sends it).
    #[serde(
        default,
        rename = "ExpirationTTL",
        skip_serializing_if = "is_zero_value"
    )]
    pub expiration_ttl: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub create_time: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hash: String,
    /// Legacy tokens only.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub rules: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub partition: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth_method_namespace: String,
}

/// One entry of the token list (`api.ACLTokenListEntry`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TokenListEntry {
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
    #[serde(default, rename = "AccessorID")]
    pub accessor_id: String,
    #[serde(default, rename = "SecretID")]
    pub secret_id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Link>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Link>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_identities: Vec<ServiceIdentity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_identities: Vec<NodeIdentity>,
    #[serde(default)]
    pub local: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth_method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
    #[serde(default)]
    pub create_time: String,
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub legacy: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub partition: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub auth_method_namespace: String,
}

impl TokenListEntry {
    /// The entry as a token, for printing: the fields both have.
    pub fn as_token(&self) -> Token {
        Token {
            create_index: self.create_index,
            modify_index: self.modify_index,
            accessor_id: self.accessor_id.clone(),
            secret_id: self.secret_id.clone(),
            description: self.description.clone(),
            policies: self.policies.clone(),
            roles: self.roles.clone(),
            service_identities: self.service_identities.clone(),
            node_identities: self.node_identities.clone(),
            local: self.local,
            auth_method: self.auth_method.clone(),
            expiration_ttl: None,
            expiration_time: self.expiration_time.clone(),
            create_time: self.create_time.clone(),
            hash: self.hash.clone().unwrap_or_default(),
            rules: String::new(),
            namespace: self.namespace.clone(),
            partition: self.partition.clone(),
            auth_method_namespace: self.auth_method_namespace.clone(),
        }
    }
}

/// A policy (`api.ACLPolicy`). `Datacenters` and `Hash` print `null` when
/// absent, as Go prints a nil slice.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    #[serde(default, rename = "ID", skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub rules: String,
    #[serde(default)]
    pub datacenters: Option<Vec<String>>,
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub partition: String,
}

/// One entry of the policy list (`api.ACLPolicyListEntry`): no rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PolicyListEntry {
    #[serde(default, rename = "ID")]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub datacenters: Option<Vec<String>>,
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub partition: String,
}

/// A role (`api.ACLRole`); the list endpoint sends full roles too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    #[serde(default, rename = "ID", skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Link>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_identities: Vec<ServiceIdentity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_identities: Vec<NodeIdentity>,
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub partition: String,
}

//! ACL shapes: Consul's `ACLToken`, `ACLPolicy` and `ACLRole` as the
//! `/v1/acl/*` endpoints take and return them, and the fixed IDs Consul
//! gives its built-in objects. Times are RFC 3339 strings on the wire and
//! milliseconds since the epoch inside Praetor.

use serde::{Deserialize, Serialize};

/// The AccessorID of the built-in anonymous token (used when a request
/// carries no token).
pub const ANONYMOUS_TOKEN_ID: &str = "00000000-0000-0000-0000-000000000002";
/// The SecretID of the anonymous token.
pub const ANONYMOUS_TOKEN_SECRET: &str = "anonymous";
/// The ID of the built-in `global-management` policy.
pub const GLOBAL_MANAGEMENT_POLICY_ID: &str = "00000000-0000-0000-0000-000000000001";
/// The name of the built-in management policy.
pub const GLOBAL_MANAGEMENT_POLICY_NAME: &str = "global-management";

/// A link from a token or role to a policy or role: by ID, or by name on
/// input (the server fills in both on output).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Link {
    #[serde(rename = "ID", default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

/// A service identity: the templated policy of one service.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceIdentity {
    pub service_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datacenters: Vec<String>,
}

/// A node identity: the templated policy of one node in one datacenter.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeIdentity {
    pub node_name: String,
    pub datacenter: String,
}

/// A token as `/v1/acl/token` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclToken {
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    #[serde(rename = "SecretID")]
    pub secret_id: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Link>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<Link>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_identities: Vec<ServiceIdentity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_identities: Vec<NodeIdentity>,
    pub local: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_time: Option<String>,
    pub create_time: String,
    pub hash: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// The body of a token create or update (`PUT /v1/acl/token[/<id>]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TokenRequest {
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    #[serde(rename = "SecretID")]
    pub secret_id: String,
    pub description: String,
    pub policies: Vec<Link>,
    pub roles: Vec<Link>,
    pub service_identities: Vec<ServiceIdentity>,
    pub node_identities: Vec<NodeIdentity>,
    pub local: bool,
    pub expiration_time: Option<String>,
    /// A duration (`"1h"`) from now; only on create.
    #[serde(rename = "ExpirationTTL")]
    pub expiration_ttl: Option<String>,
}

/// A policy as `/v1/acl/policy` returns it (the list leaves out `Rules`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclPolicy {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datacenters: Vec<String>,
    pub hash: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// The body of a policy create or update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PolicyRequest {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub description: String,
    pub rules: String,
    pub datacenters: Vec<String>,
}

/// A role as `/v1/acl/role` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AclRole {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub description: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Link>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_identities: Vec<ServiceIdentity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_identities: Vec<NodeIdentity>,
    pub hash: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// The body of a role create or update.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RoleRequest {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub description: String,
    pub policies: Vec<Link>,
    pub service_identities: Vec<ServiceIdentity>,
    pub node_identities: Vec<NodeIdentity>,
}

/// The body of `PUT /v1/agent/token/<type>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AgentTokenRequest {
    pub token: String,
}

/// Milliseconds since the epoch as RFC 3339 in UTC, as Go prints times
/// (`2026-12-03T13:20:00.123Z`).
pub fn format_time(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX);
    let nanos = u32::try_from((ms % 1000) * 1_000_000).unwrap_or(0);
    match chrono::DateTime::from_timestamp(secs, nanos) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        None => String::new(),
    }
}

/// An RFC 3339 time as milliseconds since the epoch.
///
/// # Errors
/// The reason, when `s` is not an RFC 3339 time at or after the epoch.
pub fn parse_time(s: &str) -> Result<u64, String> {
    let t = chrono::DateTime::parse_from_rfc3339(s.trim())
        .map_err(|e| format!("invalid time {s:?}: {e}"))?;
    u64::try_from(t.timestamp_millis()).map_err(|_| format!("invalid time {s:?}: before 1970"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_go_to_rfc3339_and_back() {
        let ms = 1_796_303_400_123;
        let s = format_time(ms);
        assert_eq!(s, "2026-12-03T13:10:00.123Z");
        assert_eq!(parse_time(&s), Ok(ms));
        assert_eq!(parse_time("2026-12-03T14:10:00.123+01:00"), Ok(ms));
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("1960-01-01T00:00:00Z").is_err());
    }

    #[test]
    fn a_token_has_consuls_field_names_and_leaves_out_empty_links() {
        let t = AclToken {
            accessor_id: "a".into(),
            secret_id: "s".into(),
            policies: vec![Link {
                id: "p".into(),
                name: "n".into(),
            }],
            ..AclToken::default()
        };
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["AccessorID"], "a");
        assert_eq!(v["SecretID"], "s");
        assert_eq!(v["Policies"][0]["ID"], "p");
        assert_eq!(v["Policies"][0]["Name"], "n");
        assert!(v.get("Roles").is_none());
        assert!(v.get("ExpirationTime").is_none());
        let req: TokenRequest =
            serde_json::from_str(r#"{"Policies":[{"Name":"app"}],"ExpirationTTL":"1h"}"#).unwrap();
        assert_eq!(req.policies[0].name, "app");
        assert_eq!(req.expiration_ttl.as_deref(), Some("1h"));
    }
}

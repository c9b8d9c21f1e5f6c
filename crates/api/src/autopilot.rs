//! Consul's operator shapes for autopilot and usage:
//! `/v1/operator/autopilot/configuration`, `/health`, `/state` and
//! `/v1/operator/usage`. Durations are Go duration strings ("200ms",
//! "10s"), read from a string or a number of nanoseconds as Consul's
//! `ReadableDuration`; times are RFC 3339 in UTC.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration in milliseconds, written as Go writes durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Millis(pub u64);

impl Serialize for Millis {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::duration::format(std::time::Duration::from_millis(
            self.0,
        )))
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Nanos(f64),
        }
        match Raw::deserialize(d)? {
            Raw::Text(t) => crate::duration::parse(&t)
                .map(|d| Millis(d.as_millis() as u64))
                .map_err(|e| serde::de::Error::custom(format!("{t:?}: {e}"))),
            Raw::Nanos(n) if n >= 0.0 && n.is_finite() => Ok(Millis((n / 1e6) as u64)),
            Raw::Nanos(n) => Err(serde::de::Error::custom(format!(
                "{n}: a negative duration"
            ))),
        }
    }
}

/// The cluster's autopilot configuration (Consul's
/// `AutopilotConfiguration`). A field missing from a `PUT` body is its
/// zero value, as in Consul.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AutopilotConfiguration {
    pub cleanup_dead_servers: bool,
    pub last_contact_threshold: Millis,
    pub max_trailing_logs: u64,
    pub min_quorum: u64,
    pub server_stabilization_time: Millis,
    pub redundancy_zone_tag: String,
    pub disable_upgrade_migration: bool,
    pub upgrade_version_tag: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// One server's health (Consul's `ServerHealth`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServerHealth {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub address: String,
    pub serf_status: String,
    pub version: String,
    pub leader: bool,
    pub last_contact: Millis,
    pub last_term: u64,
    pub last_index: u64,
    pub healthy: bool,
    pub voter: bool,
    /// RFC 3339.
    pub stable_since: String,
}

/// `/v1/operator/autopilot/health` (Consul's `OperatorHealthReply`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct OperatorHealthReply {
    pub healthy: bool,
    pub failure_tolerance: u64,
    pub servers: Vec<ServerHealth>,
}

/// One server in `/v1/operator/autopilot/state` (Consul's
/// `AutopilotServer`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AutopilotServer {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub address: String,
    pub node_status: String,
    pub version: String,
    pub last_contact: Millis,
    pub last_term: u64,
    pub last_index: u64,
    pub healthy: bool,
    /// RFC 3339.
    pub stable_since: String,
    pub read_replica: bool,
    /// `leader`, `voter` or `non-voter`.
    pub status: String,
    pub meta: BTreeMap<String, String>,
    /// `voter` (Praetor has no read replicas or zones).
    pub node_type: String,
}

/// `/v1/operator/autopilot/state` (Consul's `AutopilotState`, 1.9+).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AutopilotState {
    pub healthy: bool,
    pub failure_tolerance: u64,
    pub optimistic_failure_tolerance: u64,
    pub servers: BTreeMap<String, AutopilotServer>,
    pub leader: String,
    pub voters: Vec<String>,
}

/// One datacenter's counts in `/v1/operator/usage`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ServiceUsage {
    pub services: u64,
    pub service_instances: u64,
    /// By kind: `connect-native`, `connect-proxy`, `ingress-gateway`,
    /// `mesh-gateway`, `terminating-gateway` (all 0: Praetor has no mesh).
    pub connect_service_instances: BTreeMap<String, u64>,
    pub billable_service_instances: u64,
    pub nodes: u64,
}

/// `/v1/operator/usage`: counts by datacenter, with the query's meta in
/// the body as Consul writes it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UsageResponse {
    pub usage: BTreeMap<String, ServiceUsage>,
    pub index: u64,
    pub last_contact: u64,
    pub known_leader: bool,
    pub consistency_level: String,
    pub not_modified: bool,
    pub backend: u64,
    #[serde(rename = "ResultsFilteredByACLs")]
    pub results_filtered_by_acls: bool,
}

/// The body of `POST /v1/operator/raft/transfer-leader`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TransferLeaderResponse {
    pub success: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_strings_or_nanoseconds_and_write_as_go_does() {
        let c: AutopilotConfiguration = serde_json::from_str(
            r#"{"LastContactThreshold": "1s", "ServerStabilizationTime": 5000000000}"#,
        )
        .unwrap();
        assert_eq!(c.last_contact_threshold, Millis(1000));
        assert_eq!(c.server_stabilization_time, Millis(5000));
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["LastContactThreshold"], "1s");
        assert_eq!(json["ServerStabilizationTime"], "5s");
        assert!(serde_json::from_str::<AutopilotConfiguration>(
            r#"{"LastContactThreshold": "soon"}"#
        )
        .is_err());
    }
}

//! User events: `/v1/event/fire/<name>` and `/v1/event/list`, as Consul's.

use serde::{Deserialize, Serialize};

/// One user event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UserEvent {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    /// Base64 of the payload, `null` when empty (Consul's shape).
    pub payload: Option<String>,
    pub node_filter: String,
    pub service_filter: String,
    pub tag_filter: String,
    pub version: u32,
    /// The event's logical time: the Raft index it was fired at.
    #[serde(rename = "LTime")]
    pub ltime: u64,
}

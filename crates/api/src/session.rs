//! Session shapes: Consul's `SessionEntry` as `/v1/session/*` returns it,
//! and the constants Consul's client libraries put on lock and semaphore keys.

use serde::{Deserialize, Serialize};

/// `Behavior` of a session: what happens to its locks when it is invalidated.
pub mod behavior {
    /// The locks are released; the keys stay (Consul's default).
    pub const RELEASE: &str = "release";
    /// The locked keys are deleted.
    pub const DELETE: &str = "delete";
}

/// Shortest `TTL` a session may have (Consul's `session_ttl_min`).
pub const TTL_MIN_SECS: u64 = 10;
/// Longest `TTL` a session may have (Consul: 24 hours).
pub const TTL_MAX_SECS: u64 = 86_400;
/// Default `LockDelay` (Consul: 15 s).
pub const DEFAULT_LOCK_DELAY_MS: u64 = 15_000;
/// Longest `LockDelay` (Consul: 60 s).
pub const MAX_LOCK_DELAY_MS: u64 = 60_000;

/// The `Flags` Consul's `api.Lock` puts on a lock key.
pub const LOCK_FLAG_VALUE: u64 = 0x2ddc_cbc0_58a5_0c18;
/// The `Flags` Consul's `api.Semaphore` puts on its `.lock` and contender keys.
pub const SEMAPHORE_FLAG_VALUE: u64 = 0xe0f6_9a2b_aa41_4de0;

/// A service check a session depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceCheck {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(default)]
    pub namespace: String,
}

/// One session as Consul's `/v1/session/info/<id>` returns it. `LockDelay`
/// is in nanoseconds; `NodeChecks` and `ServiceChecks` are `null` when empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionEntry {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub node: String,
    pub node_checks: Option<Vec<String>>,
    pub service_checks: Option<Vec<ServiceCheck>>,
    pub lock_delay: u64,
    pub behavior: String,
    #[serde(rename = "TTL")]
    pub ttl: String,
    pub create_index: u64,
    pub modify_index: u64,
}

impl SessionEntry {
    /// The IDs of every check the session depends on, node checks first.
    pub fn check_ids(&self) -> impl Iterator<Item = &str> {
        self.node_checks
            .iter()
            .flatten()
            .map(String::as_str)
            .chain(self.service_checks.iter().flatten().map(|c| c.id.as_str()))
    }

    /// The lock-delay in milliseconds.
    pub fn lock_delay_ms(&self) -> u64 {
        self.lock_delay / 1_000_000
    }
}

/// The answer of `PUT /v1/session/create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionCreated {
    #[serde(rename = "ID")]
    pub id: String,
}

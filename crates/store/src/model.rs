//! The records the store keeps (catalog nodes, service instances, checks,
//! sessions, user events) and the bodies the log's commands carry (catalog
//! register and deregister), as the store's own types.
//!
//! They are written to the Raft log and to snapshots as postcard, which has
//! no field names and no tags: a record is its fields in order. So these
//! types have plain derives and nothing else — no `rename`, `default`,
//! `skip_serializing_if` or `flatten`, which are for the JSON API's types
//! (`praetor_api`) and would silently change the bytes here. The API types
//! convert to and from these at the store's boundary (`From` both ways);
//! the field order of each matches the API type it came from, which is
//! what format 4 snapshots and existing logs hold.
//!
//! Changing a type here changes the durable format: the golden tests in
//! `tests/store/format.rs` fail and say what to do. Never performs I/O.

use std::collections::BTreeMap;

use praetor_api::catalog as api;
use praetor_api::event::UserEvent;
use praetor_api::session::{ServiceCheck, SessionEntry};
use serde::{Deserialize, Serialize};

/// A catalog node (Consul's `structs.Node`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRecord {
    /// The node's ID (a UUID), empty when unknown.
    pub id: String,
    pub node: String,
    pub address: String,
    pub datacenter: String,
    pub tagged_addresses: BTreeMap<String, String>,
    pub meta: BTreeMap<String, String>,
    pub create_index: u64,
    pub modify_index: u64,
}

/// Load-balancing weights of a service instance (Consul's `Weights`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub passing: u32,
    pub warning: u32,
}

impl Default for Weights {
    /// Consul's default: 1 and 1.
    fn default() -> Self {
        Weights {
            passing: 1,
            warning: 1,
        }
    }
}

/// A service instance on a node (Consul's `structs.NodeService`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRecord {
    pub id: String,
    pub service: String,
    pub tags: Vec<String>,
    pub address: String,
    pub meta: BTreeMap<String, String>,
    pub port: u16,
    pub weights: Weights,
    pub enable_tag_override: bool,
    pub create_index: u64,
    pub modify_index: u64,
    /// Kind, tagged addresses, proxy and locality (snapshot format 8).
    pub extra: ServiceExtra,
}

/// What a service instance carries besides its basics (Consul's `Kind`,
/// `TaggedAddresses`, `Proxy` and `Locality`): kept and returned as given.
/// A register carries it beside its `Registration`
/// (`Command::CatalogRegisterTyped`, `TxnOp::CatalogTyped`), which older
/// log entries hold without it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceExtra {
    /// Empty for a typical service.
    pub kind: String,
    pub tagged_addresses: BTreeMap<String, ServiceAddressRecord>,
    /// The `Proxy` block's JSON text; empty when none.
    pub proxy: String,
    pub locality: Option<LocalityRecord>,
}

/// One of a service's tagged addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceAddressRecord {
    pub address: String,
    pub port: u16,
}

/// Where a service instance runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalityRecord {
    pub region: String,
    pub zone: String,
}

impl ServiceExtra {
    /// The extras of a service definition (the request's shape).
    pub fn of(s: &api::ServiceDefinition) -> ServiceExtra {
        ServiceExtra {
            kind: s.kind.clone(),
            tagged_addresses: s
                .tagged_addresses
                .iter()
                .map(|(k, a)| (k.clone(), a.clone().into()))
                .collect(),
            proxy: s.proxy.as_text().to_owned(),
            locality: s.locality.clone().map(Into::into),
        }
    }

    /// The tagged addresses in the API's shape.
    pub fn api_tagged(&self) -> BTreeMap<String, api::ServiceAddress> {
        self.tagged_addresses
            .iter()
            .map(|(k, a)| (k.clone(), a.clone().into()))
            .collect()
    }

    /// Checks them as Consul does (`praetor_api::service::validate`).
    ///
    /// # Errors
    /// The reason, in Consul's words.
    pub fn validate(&self, port: u16) -> Result<(), String> {
        praetor_api::service::validate(
            &self.kind,
            port,
            &self.api_tagged(),
            &api::ServiceProxy::from_text(self.proxy.clone()),
        )
        .map_err(|e| e.to_string())
    }
}

impl From<api::ServiceAddress> for ServiceAddressRecord {
    fn from(a: api::ServiceAddress) -> Self {
        let api::ServiceAddress { address, port } = a;
        ServiceAddressRecord { address, port }
    }
}

impl From<ServiceAddressRecord> for api::ServiceAddress {
    fn from(a: ServiceAddressRecord) -> Self {
        let ServiceAddressRecord { address, port } = a;
        api::ServiceAddress { address, port }
    }
}

impl From<api::Locality> for LocalityRecord {
    fn from(l: api::Locality) -> Self {
        let api::Locality { region, zone } = l;
        LocalityRecord { region, zone }
    }
}

impl From<LocalityRecord> for api::Locality {
    fn from(l: LocalityRecord) -> Self {
        let LocalityRecord { region, zone } = l;
        api::Locality { region, zone }
    }
}

/// A node or service check (Consul's `structs.HealthCheck`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRecord {
    pub node: String,
    pub check_id: String,
    pub name: String,
    pub status: String,
    pub notes: String,
    pub output: String,
    /// Empty for a node-level check.
    pub service_id: String,
    pub service_name: String,
    pub service_tags: Vec<String>,
    /// The check's type (`ttl`, `http`, …); empty when unknown.
    pub kind: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A catalog register (Consul's `structs.RegisterRequest`): a node, and
/// optionally a service and checks on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    pub id: String,
    pub node: String,
    pub address: String,
    pub datacenter: String,
    pub tagged_addresses: BTreeMap<String, String>,
    pub node_meta: BTreeMap<String, String>,
    pub service: Option<ServiceRegistration>,
    pub check: Option<CheckRegistration>,
    pub checks: Vec<CheckRegistration>,
    /// Leave an existing node as it is.
    pub skip_node_update: bool,
}

/// The service of a register.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceRegistration {
    /// Empty: the service name.
    pub id: String,
    pub service: String,
    pub tags: Vec<String>,
    pub address: String,
    pub meta: BTreeMap<String, String>,
    pub port: u16,
    /// `None`: Consul's default weights.
    pub weights: Option<Weights>,
    pub enable_tag_override: bool,
}

/// A check of a register.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckRegistration {
    pub node: String,
    /// Empty: the name.
    pub check_id: String,
    pub name: String,
    pub notes: String,
    /// Empty: critical.
    pub status: String,
    pub output: String,
    /// Empty for a node-level check.
    pub service_id: String,
}

/// A catalog deregister (Consul's `structs.DeregisterRequest`): a check
/// when `check_id` is set, else a service when `service_id` is, else the
/// whole node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deregistration {
    pub node: String,
    pub datacenter: String,
    pub service_id: String,
    pub check_id: String,
}

/// A user event (Consul's `UserEvent`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: String,
    pub name: String,
    /// Base64 of the payload; `None` when empty.
    pub payload: Option<String>,
    pub node_filter: String,
    pub service_filter: String,
    pub tag_filter: String,
    pub version: u32,
    /// The Raft index it was fired at.
    pub ltime: u64,
}

/// A service check a session depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionServiceCheck {
    pub id: String,
    pub namespace: String,
}

/// A session (Consul's `structs.Session`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub id: String,
    pub name: String,
    pub node: String,
    pub node_checks: Option<Vec<String>>,
    pub service_checks: Option<Vec<SessionServiceCheck>>,
    /// In nanoseconds, as Consul's.
    pub lock_delay: u64,
    /// `release` or `delete` (`praetor_api::session::behavior`).
    pub behavior: String,
    /// As written (`30s`); empty for none.
    pub ttl: String,
    pub create_index: u64,
    pub modify_index: u64,
}

impl SessionRecord {
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

// ---------------------------------------------------------------------
// Conversions at the boundary: each field moved by name, so a field added
// to one side and not the other does not compile.

impl From<api::Node> for NodeRecord {
    fn from(n: api::Node) -> Self {
        let api::Node {
            id,
            node,
            address,
            datacenter,
            tagged_addresses,
            meta,
            create_index,
            modify_index,
        } = n;
        NodeRecord {
            id,
            node,
            address,
            datacenter,
            tagged_addresses,
            meta,
            create_index,
            modify_index,
        }
    }
}

impl From<NodeRecord> for api::Node {
    fn from(n: NodeRecord) -> Self {
        let NodeRecord {
            id,
            node,
            address,
            datacenter,
            tagged_addresses,
            meta,
            create_index,
            modify_index,
        } = n;
        api::Node {
            id,
            node,
            address,
            datacenter,
            tagged_addresses,
            meta,
            create_index,
            modify_index,
        }
    }
}

impl From<api::Weights> for Weights {
    fn from(w: api::Weights) -> Self {
        let api::Weights { passing, warning } = w;
        Weights { passing, warning }
    }
}

impl From<Weights> for api::Weights {
    fn from(w: Weights) -> Self {
        let Weights { passing, warning } = w;
        api::Weights { passing, warning }
    }
}

impl From<api::NodeService> for ServiceRecord {
    fn from(s: api::NodeService) -> Self {
        let api::NodeService {
            kind,
            id,
            service,
            tags,
            address,
            tagged_addresses,
            meta,
            port,
            weights,
            enable_tag_override,
            proxy,
            locality,
            create_index,
            modify_index,
        } = s;
        ServiceRecord {
            id,
            service,
            tags,
            address,
            meta,
            port,
            weights: weights.into(),
            enable_tag_override,
            create_index,
            modify_index,
            extra: ServiceExtra {
                kind,
                tagged_addresses: tagged_addresses
                    .into_iter()
                    .map(|(k, a)| (k, a.into()))
                    .collect(),
                proxy: proxy.as_text().to_owned(),
                locality: locality.map(Into::into),
            },
        }
    }
}

impl From<ServiceRecord> for api::NodeService {
    fn from(s: ServiceRecord) -> Self {
        let ServiceRecord {
            id,
            service,
            tags,
            address,
            meta,
            port,
            weights,
            enable_tag_override,
            create_index,
            modify_index,
            extra,
        } = s;
        let tagged_addresses = extra.api_tagged();
        let ServiceExtra {
            kind,
            tagged_addresses: _,
            proxy,
            locality,
        } = extra;
        api::NodeService {
            kind,
            id,
            service,
            tags,
            address,
            tagged_addresses,
            meta,
            port,
            weights: weights.into(),
            enable_tag_override,
            proxy: api::ServiceProxy::from_text(proxy),
            locality: locality.map(Into::into),
            create_index,
            modify_index,
        }
    }
}

impl From<api::HealthCheck> for CheckRecord {
    fn from(c: api::HealthCheck) -> Self {
        let api::HealthCheck {
            node,
            check_id,
            name,
            status,
            notes,
            output,
            service_id,
            service_name,
            service_tags,
            kind,
            create_index,
            modify_index,
        } = c;
        CheckRecord {
            node,
            check_id,
            name,
            status,
            notes,
            output,
            service_id,
            service_name,
            service_tags,
            kind,
            create_index,
            modify_index,
        }
    }
}

impl From<CheckRecord> for api::HealthCheck {
    fn from(c: CheckRecord) -> Self {
        let CheckRecord {
            node,
            check_id,
            name,
            status,
            notes,
            output,
            service_id,
            service_name,
            service_tags,
            kind,
            create_index,
            modify_index,
        } = c;
        api::HealthCheck {
            node,
            check_id,
            name,
            status,
            notes,
            output,
            service_id,
            service_name,
            service_tags,
            kind,
            create_index,
            modify_index,
        }
    }
}

impl From<api::RegisterRequest> for Registration {
    fn from(r: api::RegisterRequest) -> Self {
        let api::RegisterRequest {
            id,
            node,
            address,
            datacenter,
            tagged_addresses,
            node_meta,
            service,
            check,
            checks,
            skip_node_update,
        } = r;
        Registration {
            id,
            node,
            address,
            datacenter,
            tagged_addresses,
            node_meta,
            service: service.map(Into::into),
            check: check.map(Into::into),
            checks: checks.into_iter().map(Into::into).collect(),
            skip_node_update,
        }
    }
}

impl From<Registration> for api::RegisterRequest {
    fn from(r: Registration) -> Self {
        let Registration {
            id,
            node,
            address,
            datacenter,
            tagged_addresses,
            node_meta,
            service,
            check,
            checks,
            skip_node_update,
        } = r;
        api::RegisterRequest {
            id,
            node,
            address,
            datacenter,
            tagged_addresses,
            node_meta,
            service: service.map(Into::into),
            check: check.map(Into::into),
            checks: checks.into_iter().map(Into::into).collect(),
            skip_node_update,
        }
    }
}

impl From<api::ServiceDefinition> for ServiceRegistration {
    fn from(s: api::ServiceDefinition) -> Self {
        let api::ServiceDefinition {
            id,
            service,
            tags,
            address,
            meta,
            port,
            weights,
            enable_tag_override,
            // These travel beside the registration (`ServiceExtra::of`):
            // older log entries hold registrations without them.
            kind: _,
            tagged_addresses: _,
            proxy: _,
            locality: _,
        } = s;
        ServiceRegistration {
            id,
            service,
            tags,
            address,
            meta,
            port,
            weights: weights.map(Into::into),
            enable_tag_override,
        }
    }
}

impl From<ServiceRegistration> for api::ServiceDefinition {
    fn from(s: ServiceRegistration) -> Self {
        let ServiceRegistration {
            id,
            service,
            tags,
            address,
            meta,
            port,
            weights,
            enable_tag_override,
        } = s;
        api::ServiceDefinition {
            id,
            service,
            tags,
            address,
            meta,
            port,
            weights: weights.map(Into::into),
            enable_tag_override,
            ..Default::default()
        }
    }
}

impl From<api::CheckDefinition> for CheckRegistration {
    fn from(c: api::CheckDefinition) -> Self {
        let api::CheckDefinition {
            node,
            check_id,
            name,
            notes,
            status,
            output,
            service_id,
        } = c;
        CheckRegistration {
            node,
            check_id,
            name,
            notes,
            status,
            output,
            service_id,
        }
    }
}

impl From<CheckRegistration> for api::CheckDefinition {
    fn from(c: CheckRegistration) -> Self {
        let CheckRegistration {
            node,
            check_id,
            name,
            notes,
            status,
            output,
            service_id,
        } = c;
        api::CheckDefinition {
            node,
            check_id,
            name,
            notes,
            status,
            output,
            service_id,
        }
    }
}

impl From<api::DeregisterRequest> for Deregistration {
    fn from(r: api::DeregisterRequest) -> Self {
        let api::DeregisterRequest {
            node,
            datacenter,
            service_id,
            check_id,
        } = r;
        Deregistration {
            node,
            datacenter,
            service_id,
            check_id,
        }
    }
}

impl From<Deregistration> for api::DeregisterRequest {
    fn from(r: Deregistration) -> Self {
        let Deregistration {
            node,
            datacenter,
            service_id,
            check_id,
        } = r;
        api::DeregisterRequest {
            node,
            datacenter,
            service_id,
            check_id,
        }
    }
}

impl From<UserEvent> for EventRecord {
    fn from(e: UserEvent) -> Self {
        let UserEvent {
            id,
            name,
            payload,
            node_filter,
            service_filter,
            tag_filter,
            version,
            ltime,
        } = e;
        EventRecord {
            id,
            name,
            payload,
            node_filter,
            service_filter,
            tag_filter,
            version,
            ltime,
        }
    }
}

impl From<EventRecord> for UserEvent {
    fn from(e: EventRecord) -> Self {
        let EventRecord {
            id,
            name,
            payload,
            node_filter,
            service_filter,
            tag_filter,
            version,
            ltime,
        } = e;
        UserEvent {
            id,
            name,
            payload,
            node_filter,
            service_filter,
            tag_filter,
            version,
            ltime,
        }
    }
}

impl From<ServiceCheck> for SessionServiceCheck {
    fn from(c: ServiceCheck) -> Self {
        let ServiceCheck { id, namespace } = c;
        SessionServiceCheck { id, namespace }
    }
}

impl From<SessionServiceCheck> for ServiceCheck {
    fn from(c: SessionServiceCheck) -> Self {
        let SessionServiceCheck { id, namespace } = c;
        ServiceCheck { id, namespace }
    }
}

impl From<SessionEntry> for SessionRecord {
    fn from(s: SessionEntry) -> Self {
        let SessionEntry {
            id,
            name,
            node,
            node_checks,
            service_checks,
            lock_delay,
            behavior,
            ttl,
            create_index,
            modify_index,
        } = s;
        SessionRecord {
            id,
            name,
            node,
            node_checks,
            service_checks: service_checks.map(|l| l.into_iter().map(Into::into).collect()),
            lock_delay,
            behavior,
            ttl,
            create_index,
            modify_index,
        }
    }
}

impl From<SessionRecord> for SessionEntry {
    fn from(s: SessionRecord) -> Self {
        let SessionRecord {
            id,
            name,
            node,
            node_checks,
            service_checks,
            lock_delay,
            behavior,
            ttl,
            create_index,
            modify_index,
        } = s;
        SessionEntry {
            id,
            name,
            node,
            node_checks,
            service_checks: service_checks.map(|l| l.into_iter().map(Into::into).collect()),
            lock_delay,
            behavior,
            ttl,
            create_index,
            modify_index,
        }
    }
}

//! The boundary between the engine and the world: the `Source` trait a
//! caller implements to answer [`Dependency`] requests, and the records it
//! answers with (Consul's shapes: KV pairs, health entries, catalog nodes and
//! services). Also the conversion of those records into the template values
//! consul-template exposes (`.Key`, `.Value`, `.Node`, `.Address`, `.Port`,
//! `.ServiceMeta`, `.Status`, ...). Never performs I/O itself.

use std::collections::BTreeMap;

use crate::dependency::Dependency;
use crate::value::Value;

/// The answer to one dependency.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The data is here.
    Ready(Data),
    /// Not fetched yet: the render goes on with empty values and is
    /// reported incomplete, as consul-template's first pass is.
    Pending,
}

/// Data for a dependency; the variant must match the dependency's kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// For [`Dependency::Key`]: the value, or `None` when the key does not exist.
    Key(Option<String>),
    /// For [`Dependency::KeyList`]: Consul's entries under the prefix, as
    /// `?recurse` returns them (full keys; the engine derives `.Key`).
    KeyList(Vec<KvEntry>),
    /// For [`Dependency::Service`]: Consul's health entries (the engine
    /// aggregates `.Status`, applies the filters and sorts).
    Service(Vec<HealthEntry>),
    /// For [`Dependency::CatalogServices`]: service names and their tags.
    CatalogServices(BTreeMap<String, Vec<String>>),
    /// For [`Dependency::Node`]: the node, or `None` when it does not exist.
    Node(Option<CatalogNode>),
    /// For [`Dependency::Nodes`]: every node, in Consul's order.
    Nodes(Vec<NodeInfo>),
    /// For [`Dependency::Datacenters`]: the datacenter names.
    Datacenters(Vec<String>),
    /// For [`Dependency::Env`]: the variable's value, `None` when unset.
    Env(Option<String>),
    /// For [`Dependency::File`]: the file's contents.
    File(String),
}

/// A source failed to answer (the render fails with this reason, as
/// consul-template's does for an unreadable `file`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Where data functions get their data. The caller implements it: with
/// blocking queries against the agent for Consul data, the process
/// environment for `env`, the disk for `file`; tests implement it with maps.
pub trait Source {
    /// Answers `dep` now: with data, or [`Lookup::Pending`] while it has none.
    ///
    /// # Errors
    /// A reason the render must fail (it is reported with the template's
    /// position, as a function error).
    fn lookup(&mut self, dep: &Dependency) -> Result<Lookup, SourceError>;
}

/// One KV entry as Consul's KV API returns it (value decoded).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvEntry {
    /// The full key.
    pub key: String,
    /// The value as text.
    pub value: String,
    /// `CreateIndex`.
    pub create_index: u64,
    /// `ModifyIndex`.
    pub modify_index: u64,
    /// `LockIndex`.
    pub lock_index: u64,
    /// `Flags`.
    pub flags: u64,
    /// `Session`.
    pub session: String,
}

/// A check in a health entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    /// `Node`.
    pub node: String,
    /// `CheckID`.
    pub check_id: String,
    /// `Name`.
    pub name: String,
    /// `Status`: passing, warning, critical or maintenance.
    pub status: String,
    /// `Notes`.
    pub notes: String,
    /// `Output`.
    pub output: String,
    /// `ServiceID`.
    pub service_id: String,
    /// `ServiceName`.
    pub service_name: String,
    /// `ServiceTags`.
    pub service_tags: Vec<String>,
    /// `Type`.
    pub check_type: String,
}

/// A tagged address of a service (`ServiceTaggedAddresses`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceAddress {
    /// `Address`.
    pub address: String,
    /// `Port`.
    pub port: i64,
}

/// One entry of `GET /v1/health/service/<name>`: a node, a service instance
/// on it, and their checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HealthEntry {
    /// `Node.Node`.
    pub node: String,
    /// `Node.ID`.
    pub node_id: String,
    /// `Node.Address`.
    pub node_address: String,
    /// `Node.TaggedAddresses`.
    pub node_tagged_addresses: BTreeMap<String, String>,
    /// `Node.Meta`.
    pub node_meta: BTreeMap<String, String>,
    /// `Service.ID`.
    pub service_id: String,
    /// `Service.Service`.
    pub service_name: String,
    /// `Service.Address` (empty: the node's address is used).
    pub service_address: String,
    /// `Service.Port`.
    pub service_port: i64,
    /// `Service.Tags`.
    pub service_tags: Vec<String>,
    /// `Service.Meta`.
    pub service_meta: BTreeMap<String, String>,
    /// `Service.TaggedAddresses`.
    pub service_tagged_addresses: BTreeMap<String, ServiceAddress>,
    /// `Service.Weights.Passing`.
    pub weight_passing: i64,
    /// `Service.Weights.Warning`.
    pub weight_warning: i64,
    /// `Checks`.
    pub checks: Vec<Check>,
}

/// A catalog node (`nodes`, and the `.Node` of `node`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeInfo {
    /// `ID`.
    pub id: String,
    /// `Node`.
    pub node: String,
    /// `Address`.
    pub address: String,
    /// `Datacenter`.
    pub datacenter: String,
    /// `TaggedAddresses`.
    pub tagged_addresses: BTreeMap<String, String>,
    /// `Meta`.
    pub meta: BTreeMap<String, String>,
}

/// A service registered on a node (`.Services` of `node`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeService {
    /// `ID`.
    pub id: String,
    /// `Service`.
    pub service: String,
    /// `Tags`.
    pub tags: Vec<String>,
    /// `Meta`.
    pub meta: BTreeMap<String, String>,
    /// `Port`.
    pub port: i64,
    /// `Address`.
    pub address: String,
    /// `EnableTagOverride`.
    pub enable_tag_override: bool,
}

/// `GET /v1/catalog/node/<name>`: the node and its services.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogNode {
    /// The node.
    pub node: NodeInfo,
    /// Its services, in any order (the engine sorts them).
    pub services: Vec<NodeService>,
}

/// Consul's `HealthChecks.AggregatedStatus`: maintenance beats critical
/// beats warning beats passing; an unknown status yields "".
pub fn aggregated_status(checks: &[Check]) -> String {
    let (mut passing, mut warning, mut critical, mut maintenance) = (false, false, false, false);
    for c in checks {
        if c.check_id == "_node_maintenance" || c.check_id.starts_with("_service_maintenance:") {
            maintenance = true;
            continue;
        }
        match c.status.as_str() {
            "passing" => passing = true,
            "warning" => warning = true,
            "critical" => critical = true,
            _ => return String::new(),
        }
    }
    let _ = passing;
    if maintenance {
        "maintenance"
    } else if critical {
        "critical"
    } else if warning {
        "warning"
    } else {
        "passing"
    }
    .to_string()
}

fn sorted(tags: &[String]) -> Value {
    let mut t = tags.to_vec();
    t.sort();
    Value::list(t.into_iter().map(Value::String).collect())
}

fn strings(tags: &[String]) -> Value {
    Value::list(tags.iter().cloned().map(Value::String).collect())
}

/// consul-template's `*dep.KeyPair` for an entry under `prefix`.
pub(crate) fn key_pair(e: &KvEntry, prefix: &str) -> Value {
    let key = e.key.strip_prefix(prefix).unwrap_or(&e.key);
    let key = key.trim_start_matches('/');
    Value::record(
        "*dep.KeyPair",
        vec![
            ("Path", Value::str(e.key.clone())),
            ("Key", Value::str(key)),
            ("Value", Value::str(e.value.clone())),
            ("CreateIndex", Value::Int(e.create_index as i64)),
            ("ModifyIndex", Value::Int(e.modify_index as i64)),
            ("LockIndex", Value::Int(e.lock_index as i64)),
            ("Flags", Value::Int(e.flags as i64)),
            ("Session", Value::str(e.session.clone())),
        ],
    )
}

fn check(c: &Check) -> Value {
    Value::record(
        "*api.HealthCheck",
        vec![
            ("Node", Value::str(c.node.clone())),
            ("CheckID", Value::str(c.check_id.clone())),
            ("Name", Value::str(c.name.clone())),
            ("Status", Value::str(c.status.clone())),
            ("Notes", Value::str(c.notes.clone())),
            ("Output", Value::str(c.output.clone())),
            ("ServiceID", Value::str(c.service_id.clone())),
            ("ServiceName", Value::str(c.service_name.clone())),
            ("ServiceTags", strings(&c.service_tags)),
            ("Type", Value::str(c.check_type.clone())),
        ],
    )
}

/// consul-template's `*dep.HealthService` for an entry with its status.
pub(crate) fn health_service(e: &HealthEntry, status: &str) -> Value {
    let address = if e.service_address.is_empty() {
        &e.node_address
    } else {
        &e.service_address
    };
    let tagged = Value::Map(std::rc::Rc::new(crate::value::Map {
        entries: e
            .service_tagged_addresses
            .iter()
            .map(|(k, a)| {
                (
                    k.clone(),
                    Value::record(
                        "api.ServiceAddress",
                        vec![
                            ("Address", Value::str(a.address.clone())),
                            ("Port", Value::Int(a.port)),
                        ],
                    ),
                )
            })
            .collect(),
        zero: Value::record(
            "api.ServiceAddress",
            vec![("Address", Value::str("")), ("Port", Value::Int(0))],
        ),
    }));
    Value::record(
        "*dep.HealthService",
        vec![
            ("Node", Value::str(e.node.clone())),
            ("NodeID", Value::str(e.node_id.clone())),
            ("NodeAddress", Value::str(e.node_address.clone())),
            (
                "NodeTaggedAddresses",
                Value::string_map(&e.node_tagged_addresses),
            ),
            ("NodeMeta", Value::string_map(&e.node_meta)),
            ("ServiceMeta", Value::string_map(&e.service_meta)),
            ("Address", Value::str(address.clone())),
            ("ServiceTaggedAddresses", tagged),
            ("ID", Value::str(e.service_id.clone())),
            ("Name", Value::str(e.service_name.clone())),
            ("Tags", sorted(&e.service_tags)),
            ("Checks", Value::list(e.checks.iter().map(check).collect())),
            ("Status", Value::str(status)),
            ("Port", Value::Int(e.service_port)),
            (
                "Weights",
                Value::record(
                    "api.AgentWeights",
                    vec![
                        ("Passing", Value::Int(e.weight_passing)),
                        ("Warning", Value::Int(e.weight_warning)),
                    ],
                ),
            ),
        ],
    )
}

/// consul-template's `*dep.Node`.
pub(crate) fn node_info(n: &NodeInfo) -> Value {
    Value::record(
        "*dep.Node",
        vec![
            ("ID", Value::str(n.id.clone())),
            ("Node", Value::str(n.node.clone())),
            ("Address", Value::str(n.address.clone())),
            ("Datacenter", Value::str(n.datacenter.clone())),
            ("TaggedAddresses", Value::string_map(&n.tagged_addresses)),
            ("Meta", Value::string_map(&n.meta)),
        ],
    )
}

/// consul-template's `*dep.CatalogNode` (services sorted by name, then ID).
pub(crate) fn catalog_node(n: &CatalogNode) -> Value {
    let mut services: Vec<&NodeService> = n.services.iter().collect();
    services.sort_by(|a, b| (&a.service, &a.id).cmp(&(&b.service, &b.id)));
    let services = services
        .into_iter()
        .map(|s| {
            Value::record(
                "*dep.CatalogNodeService",
                vec![
                    ("ID", Value::str(s.id.clone())),
                    ("Service", Value::str(s.service.clone())),
                    ("Tags", sorted(&s.tags)),
                    ("Meta", Value::string_map(&s.meta)),
                    ("Port", Value::Int(s.port)),
                    ("Address", Value::str(s.address.clone())),
                    ("EnableTagOverride", Value::Bool(s.enable_tag_override)),
                ],
            )
        })
        .collect();
    Value::record(
        "*dep.CatalogNode",
        vec![
            ("Node", node_info(&n.node)),
            ("Services", Value::list(services)),
        ],
    )
}

/// consul-template's `*dep.CatalogSnippet`.
pub(crate) fn catalog_snippet(name: &str, tags: &[String]) -> Value {
    Value::record(
        "*dep.CatalogSnippet",
        vec![("Name", Value::str(name)), ("Tags", sorted(tags))],
    )
}

//! The catalog: nodes, their service instances and their checks (node
//! checks such as `serfHealth`, and service checks), with Consul's register
//! and deregister semantics and Consul's indexes: a write that changes
//! nothing keeps every index, so blocking queries do not wake for it; a
//! change to one service only moves that service's index.

use std::collections::BTreeMap;

use praetor_api::catalog::{
    check_status, CatalogService, HealthCheck, Node, NodeService, ServiceEntry, ServiceSummary,
    SERF_CHECK_ID, SERF_CHECK_NAME,
};
use serde::{Deserialize, Serialize};

use crate::model::{
    CheckRecord, CheckRegistration, Deregistration, NodeRecord, Registration, ServiceExtra,
    ServiceRecord,
};

type Key = (String, String);

/// Nodes by name, services by (node, service id), checks by (node, check id).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    nodes: BTreeMap<String, NodeRecord>,
    services: BTreeMap<Key, ServiceRecord>,
    checks: BTreeMap<Key, CheckRecord>,
    /// The last index that changed any node.
    nodes_index: u64,
    /// The last index that changed any service instance.
    services_index: u64,
    /// The last index that changed any check.
    checks_index: u64,
    /// The last index that changed a node-level check (it affects the
    /// health of every service on its node).
    node_checks_index: u64,
    /// By service name: the last index that changed one of its instances or
    /// one of their checks.
    service_index: BTreeMap<String, u64>,
    /// By service name: its instances' keys. Derived: never encoded (a
    /// skipped field is no bytes in postcard), rebuilt by
    /// [`Catalog::reindex`] after a decode, kept as services change.
    #[serde(skip)]
    by_name: BTreeMap<String, std::collections::BTreeSet<Key>>,
}

/// A service record as snapshot formats 2 to 7 wrote it: before its
/// kind, tagged addresses, proxy and locality. Frozen.
#[derive(Deserialize)]
struct ServiceRecordV7 {
    id: String,
    service: String,
    tags: Vec<String>,
    address: String,
    meta: BTreeMap<String, String>,
    port: u16,
    weights: crate::model::Weights,
    enable_tag_override: bool,
    create_index: u64,
    modify_index: u64,
}

/// The catalog as snapshot formats 2 to 7 wrote it (its services as
/// [`ServiceRecordV7`]). Frozen.
#[derive(Deserialize)]
pub(crate) struct CatalogV7 {
    nodes: BTreeMap<String, NodeRecord>,
    services: BTreeMap<Key, ServiceRecordV7>,
    checks: BTreeMap<Key, CheckRecord>,
    nodes_index: u64,
    services_index: u64,
    checks_index: u64,
    node_checks_index: u64,
    service_index: BTreeMap<String, u64>,
}

impl CatalogV7 {
    /// Today's catalog: every service without extras.
    pub(crate) fn upgrade(self) -> Catalog {
        let services = self
            .services
            .into_iter()
            .map(|(k, s)| {
                let ServiceRecordV7 {
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
                } = s;
                let record = ServiceRecord {
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
                    extra: ServiceExtra::default(),
                };
                (k, record)
            })
            .collect();
        Catalog {
            nodes: self.nodes,
            services,
            checks: self.checks,
            nodes_index: self.nodes_index,
            services_index: self.services_index,
            checks_index: self.checks_index,
            node_checks_index: self.node_checks_index,
            service_index: self.service_index,
            by_name: BTreeMap::new(),
        }
    }
}

fn range<'a, V>(
    map: &'a BTreeMap<Key, V>,
    node: &'a str,
) -> impl Iterator<Item = (&'a Key, &'a V)> + 'a {
    map.range((node.to_owned(), String::new())..)
        .take_while(move |((n, _), _)| n == node)
}

impl Catalog {
    /// Every node, by name, and the nodes table's index.
    pub fn nodes(&self) -> (u64, Vec<Node>) {
        (
            self.nodes_index.max(1),
            self.nodes.values().cloned().map(Into::into).collect(),
        )
    }

    /// One node with its services by ID, and the index of both tables.
    pub fn node(&self, name: &str) -> (u64, Option<Node>) {
        (
            self.nodes_index.max(1),
            self.nodes.get(name).cloned().map(Into::into),
        )
    }

    /// Whether node `name` is in the catalog.
    pub fn has_node(&self, name: &str) -> bool {
        self.nodes.contains_key(name)
    }

    /// One service instance of a node.
    pub fn service(&self, node: &str, id: &str) -> Option<NodeService> {
        self.services
            .get(&(node.to_owned(), id.to_owned()))
            .cloned()
            .map(Into::into)
    }

    /// One check of a node.
    pub fn check(&self, node: &str, id: &str) -> Option<HealthCheck> {
        self.checks
            .get(&(node.to_owned(), id.to_owned()))
            .cloned()
            .map(Into::into)
    }

    /// The checks of node `name`, as stored.
    pub(crate) fn checks_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a CheckRecord> {
        range(&self.checks, name).map(|(_, c)| c)
    }

    /// A node's service instances and the index of nodes and services.
    pub fn node_services(&self, name: &str) -> (u64, Vec<NodeService>) {
        let list = range(&self.services, name)
            .map(|(_, s)| s.clone().into())
            .collect();
        (self.nodes_index.max(self.services_index).max(1), list)
    }

    /// A node's checks and the checks table's index.
    pub fn node_checks(&self, name: &str) -> (u64, Vec<HealthCheck>) {
        let list = range(&self.checks, name)
            .map(|(_, c)| c.clone().into())
            .collect();
        (self.checks_index.max(1), list)
    }

    /// Every service name with the union of its instances' tags, and the
    /// services table's index (`/v1/catalog/services`).
    pub fn services(&self) -> (u64, BTreeMap<String, Vec<String>>) {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for s in self.services.values() {
            let tags = out.entry(s.service.clone()).or_default();
            for t in &s.tags {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
        }
        for tags in out.values_mut() {
            tags.sort();
        }
        (self.services_index.max(1), out)
    }

    /// The index a read about service `name` reports and blocks on: the
    /// last change to one of its instances or their checks, to a node that
    /// hosts one, or to a node-level check there (a failed `serfHealth`
    /// makes the instances unhealthy). Changes elsewhere do not move it.
    fn service_read_index(&self, name: &str) -> u64 {
        let mut index = self.service_index.get(name).copied().unwrap_or(0);
        for ((node, _), _) in self.services.iter().filter(|(_, s)| s.service == name) {
            if let Some(n) = self.nodes.get(node) {
                index = index.max(n.modify_index);
            }
            for (_, c) in range(&self.checks, node).filter(|(_, c)| c.service_id.is_empty()) {
                index = index.max(c.modify_index);
            }
        }
        index.max(1)
    }

    /// The instances of service `name` (with `tag`, when given), flattened
    /// with their nodes (`/v1/catalog/service/<name>`).
    pub fn service_nodes(&self, name: &str, tag: Option<&str>) -> (u64, Vec<CatalogService>) {
        let list = self
            .instances(name, tag)
            .filter_map(|((node, _), s)| {
                let n = self.nodes.get(node)?;
                Some(CatalogService {
                    id: n.id.clone(),
                    node: n.node.clone(),
                    address: n.address.clone(),
                    datacenter: n.datacenter.clone(),
                    tagged_addresses: n.tagged_addresses.clone(),
                    node_meta: n.meta.clone(),
                    service_id: s.id.clone(),
                    service_name: s.service.clone(),
                    service_tags: s.tags.clone(),
                    service_address: s.address.clone(),
                    service_weights: s.weights.clone().into(),
                    service_meta: s.meta.clone(),
                    service_port: s.port,
                    service_enable_tag_override: s.enable_tag_override,
                    service_kind: s.extra.kind.clone(),
                    service_tagged_addresses: s.extra.api_tagged(),
                    service_proxy: praetor_api::service::ServiceProxy::from_text(
                        s.extra.proxy.clone(),
                    ),
                    service_locality: s.extra.locality.clone().map(Into::into),
                    create_index: s.create_index,
                    modify_index: s.modify_index,
                })
            })
            .collect();
        (self.service_read_index(name), list)
    }

    /// Every instance of every service, flattened with its node as
    /// [`Catalog::service_nodes`] lists them, at the index
    /// `/v1/catalog/services` reports: what Consul evaluates that
    /// endpoint's `?filter=` against before it lists names and tags.
    pub fn service_instances(&self) -> (u64, Vec<CatalogService>) {
        let names: std::collections::BTreeSet<&str> =
            self.services.values().map(|s| s.service.as_str()).collect();
        let list = names
            .into_iter()
            .flat_map(|name| self.service_nodes(name, None).1)
            .collect();
        (self.services_index.max(1), list)
    }

    fn instances<'a>(
        &'a self,
        name: &'a str,
        tag: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a Key, &'a ServiceRecord)> + 'a {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|k| self.services.get_key_value(k))
            .filter(move |(_, s)| tag.is_none_or(|t| has_tag(&s.tags, t)))
    }

    /// Rebuilds the derived index of instances by service name (after a
    /// decode, where it is not carried).
    pub(crate) fn reindex(&mut self) {
        self.by_name.clear();
        for (k, s) in &self.services {
            self.by_name
                .entry(s.service.clone())
                .or_default()
                .insert(k.clone());
        }
    }

    /// Whether the index by name equals one rebuilt from the services.
    #[cfg(test)]
    pub(crate) fn index_matches_a_rebuild(&self) -> bool {
        let mut rebuilt = self.clone();
        rebuilt.reindex();
        rebuilt.by_name == self.by_name
    }

    /// Puts `record` at `key`, keeping the index by name.
    fn put_service(&mut self, key: Key, record: ServiceRecord) {
        self.by_name
            .entry(record.service.clone())
            .or_default()
            .insert(key.clone());
        if let Some(old) = self.services.insert(key.clone(), record) {
            if self
                .services
                .get(&key)
                .is_some_and(|s| s.service != old.service)
            {
                self.unindex(&old.service, &key);
            }
        }
    }

    /// Removes the service at `key`, keeping the index by name.
    fn take_service(&mut self, key: &Key) -> Option<ServiceRecord> {
        let s = self.services.remove(key)?;
        self.unindex(&s.service, key);
        Some(s)
    }

    fn unindex(&mut self, name: &str, key: &Key) {
        if let Some(keys) = self.by_name.get_mut(name) {
            keys.remove(key);
            if keys.is_empty() {
                self.by_name.remove(name);
            }
        }
    }

    /// The checks that apply to an instance: its node's own checks and its own.
    fn instance_checks(&self, node: &str, service_id: &str) -> Vec<HealthCheck> {
        range(&self.checks, node)
            .map(|(_, c)| c)
            .filter(|c| c.service_id.is_empty() || c.service_id == service_id)
            .map(|c| c.clone().into())
            .collect()
    }

    /// `/v1/health/service/<name>`: each instance with its node and checks;
    /// with `passing_only`, only instances whose every check passes (a
    /// failed `serfHealth` on the node makes all its instances unhealthy).
    pub fn health_service(
        &self,
        name: &str,
        tag: Option<&str>,
        passing_only: bool,
    ) -> (u64, Vec<ServiceEntry>) {
        let list = self
            .instances(name, tag)
            .filter_map(|((node, _), s)| {
                let checks = self.instance_checks(node, &s.id);
                if passing_only && checks.iter().any(|c| c.status != check_status::PASSING) {
                    return None;
                }
                Some(ServiceEntry {
                    node: self.nodes.get(node)?.clone().into(),
                    service: s.clone().into(),
                    checks,
                })
            })
            .collect();
        (
            self.service_read_index(name).max(self.node_checks_index),
            list,
        )
    }

    /// `/v1/health/checks/<service>`: every check of the service's instances.
    pub fn service_checks(&self, name: &str) -> (u64, Vec<HealthCheck>) {
        let list = self
            .checks
            .values()
            .filter(|c| c.service_name == name)
            .map(|c| c.clone().into())
            .collect();
        (self.service_read_index(name), list)
    }

    /// `/v1/health/state/<state>`: every check in `state` (`any`: all).
    pub fn checks_in_state(&self, state: &str) -> (u64, Vec<HealthCheck>) {
        let list = self
            .checks
            .values()
            .filter(|c| state == "any" || c.status == state)
            .map(|c| c.clone().into())
            .collect();
        (self.checks_index.max(1), list)
    }

    /// Every service with its instance and check counts, by name
    /// (`/v1/internal/ui/services`); each instance counts its own checks and
    /// its node's. The index is the last change to any node, instance or
    /// check.
    pub fn service_summaries(&self) -> (u64, Vec<ServiceSummary>) {
        let mut out: BTreeMap<&str, ServiceSummary> = BTreeMap::new();
        for ((node, _), s) in &self.services {
            let sum = out.entry(&s.service).or_insert_with(|| ServiceSummary {
                name: s.service.clone(),
                datacenter: String::new(),
                tags: Vec::new(),
                nodes: Vec::new(),
                instance_count: 0,
                checks_passing: 0,
                checks_warning: 0,
                checks_critical: 0,
            });
            sum.instance_count += 1;
            for t in &s.tags {
                if !sum.tags.contains(t) {
                    sum.tags.push(t.clone());
                }
            }
            if !sum.nodes.contains(node) {
                sum.nodes.push(node.clone());
            }
            for (_, c) in range(&self.checks, node)
                .filter(|(_, c)| c.service_id.is_empty() || c.service_id == s.id)
            {
                match c.status.as_str() {
                    check_status::PASSING => sum.checks_passing += 1,
                    check_status::WARNING => sum.checks_warning += 1,
                    _ => sum.checks_critical += 1,
                }
            }
        }
        let list = out
            .into_values()
            .map(|mut s| {
                s.tags.sort();
                s.nodes.sort();
                s
            })
            .collect();
        let index = self
            .nodes_index
            .max(self.services_index)
            .max(self.checks_index);
        (index.max(1), list)
    }

    fn touch_service(&mut self, name: &str, index: u64) {
        self.service_index.insert(name.to_owned(), index);
    }

    /// Applies Consul's catalog register: upserts the node (unless
    /// `SkipNodeUpdate` and it exists), then the service, then the checks.
    /// A check naming a service the node does not have refuses the whole
    /// request, with nothing changed. Returns whether anything changed.
    ///
    /// # Errors
    /// A one-line reason when the request is invalid.
    pub(crate) fn register(&mut self, index: u64, r: &Registration) -> Result<bool, String> {
        self.register_typed(index, r, &BTreeMap::new(), &ServiceExtra::default())
    }

    /// [`Catalog::register`], setting the `Type` of each check whose ID
    /// `types` names (a check not named keeps the type it had), and the
    /// service's kind, tagged addresses, proxy and locality to `extra`
    /// (a register replaces the whole service, as Consul's).
    ///
    /// # Errors
    /// As `register`, and when `extra` is invalid for the service.
    pub(crate) fn register_typed(
        &mut self,
        index: u64,
        r: &Registration,
        types: &BTreeMap<String, String>,
        extra: &ServiceExtra,
    ) -> Result<bool, String> {
        if r.node.is_empty() {
            return Err("Must provide node".into());
        }
        if r.address.is_empty() && !self.nodes.contains_key(&r.node) {
            return Err("Must provide address if SkipNodeUpdate is not set".into());
        }
        let service_id = r.service.as_ref().map(|s| {
            if s.id.is_empty() {
                s.service.clone()
            } else {
                s.id.clone()
            }
        });
        if let Some(s) = &r.service {
            if s.service.is_empty() {
                return Err("Must provide service name with ID".into());
            }
            extra.validate(s.port)?;
        }
        let checks: Vec<&CheckRegistration> = r.check.iter().chain(&r.checks).collect();
        for c in &checks {
            if c.check_id.is_empty() && c.name.is_empty() {
                return Err("Must provide a CheckID or Name for each check".into());
            }
            if !c.service_id.is_empty()
                && service_id.as_deref() != Some(c.service_id.as_str())
                && !self
                    .services
                    .contains_key(&(r.node.clone(), c.service_id.clone()))
            {
                return Err(format!(
                    "Unknown service ID {:?} for check {:?}",
                    c.service_id, c.check_id
                ));
            }
            if !c.status.is_empty()
                && ![
                    check_status::PASSING,
                    check_status::WARNING,
                    check_status::CRITICAL,
                ]
                .contains(&c.status.as_str())
            {
                return Err(format!("Invalid check status {:?}", c.status));
            }
        }
        let mut changed = false;
        if !(r.skip_node_update && self.nodes.contains_key(&r.node)) {
            changed |= self.upsert_node(index, r);
        }
        if let (Some(s), Some(id)) = (&r.service, service_id) {
            let current = self.services.get(&(r.node.clone(), id.clone()));
            let mut want = ServiceRecord {
                id: id.clone(),
                service: s.service.clone(),
                tags: s.tags.clone(),
                address: s.address.clone(),
                meta: s.meta.clone(),
                port: s.port,
                weights: s.weights.clone().unwrap_or_default(),
                enable_tag_override: s.enable_tag_override,
                create_index: current.map_or(index, |c| c.create_index),
                modify_index: current.map_or(index, |c| c.modify_index),
                extra: extra.clone(),
            };
            if current != Some(&want) {
                if let Some(old) = current.map(|c| c.service.clone()) {
                    self.touch_service(&old, index);
                }
                want.modify_index = index;
                self.put_service((r.node.clone(), id), want);
                self.services_index = index;
                self.touch_service(&s.service, index);
                changed = true;
            }
        }
        for c in checks {
            changed |= self.upsert_check(index, &r.node, c, types);
        }
        Ok(changed)
    }

    fn upsert_node(&mut self, index: u64, r: &Registration) -> bool {
        let current = self.nodes.get(&r.node);
        let mut tagged = r.tagged_addresses.clone();
        if tagged.is_empty() {
            if let Some(c) = current {
                tagged = c.tagged_addresses.clone();
            }
        }
        let mut want = NodeRecord {
            id: if r.id.is_empty() {
                current.map(|c| c.id.clone()).unwrap_or_default()
            } else {
                r.id.clone()
            },
            node: r.node.clone(),
            address: if r.address.is_empty() {
                current.map(|c| c.address.clone()).unwrap_or_default()
            } else {
                r.address.clone()
            },
            datacenter: if r.datacenter.is_empty() {
                current.map(|c| c.datacenter.clone()).unwrap_or_default()
            } else {
                r.datacenter.clone()
            },
            tagged_addresses: tagged,
            meta: r.node_meta.clone(),
            create_index: current.map_or(index, |c| c.create_index),
            modify_index: current.map_or(index, |c| c.modify_index),
        };
        if current == Some(&want) {
            return false;
        }
        want.modify_index = index;
        self.nodes.insert(r.node.clone(), want);
        self.nodes_index = index;
        true
    }

    fn upsert_check(
        &mut self,
        index: u64,
        node: &str,
        c: &CheckRegistration,
        types: &BTreeMap<String, String>,
    ) -> bool {
        let id = if c.check_id.is_empty() {
            c.name.clone()
        } else {
            c.check_id.clone()
        };
        let kind = types.get(&id).cloned();
        let key = (node.to_owned(), id.clone());
        let current = self.checks.get(&key);
        let service = (!c.service_id.is_empty())
            .then(|| self.services.get(&(node.to_owned(), c.service_id.clone())))
            .flatten();
        let mut want = CheckRecord {
            node: node.to_owned(),
            check_id: id,
            name: if c.name.is_empty() {
                c.check_id.clone()
            } else {
                c.name.clone()
            },
            status: if c.status.is_empty() {
                check_status::CRITICAL.to_owned()
            } else {
                c.status.clone()
            },
            notes: c.notes.clone(),
            output: c.output.clone(),
            service_id: c.service_id.clone(),
            service_name: service.map(|s| s.service.clone()).unwrap_or_default(),
            service_tags: service.map(|s| s.tags.clone()).unwrap_or_default(),
            kind: kind.unwrap_or_else(|| current.map(|c| c.kind.clone()).unwrap_or_default()),
            create_index: current.map_or(index, |c| c.create_index),
            modify_index: current.map_or(index, |c| c.modify_index),
        };
        if current == Some(&want) {
            return false;
        }
        want.modify_index = index;
        let name = want.service_name.clone();
        let node_level = want.service_id.is_empty();
        self.checks.insert(key, want);
        self.checks_index = index;
        if node_level {
            self.node_checks_index = index;
        } else {
            self.touch_service(&name, index);
        }
        true
    }

    /// Upserts `node` with its `serfHealth` check (the leader's view of
    /// gossip). Returns whether anything changed.
    pub(crate) fn node_health(&mut self, index: u64, node: &NodeHealth) -> bool {
        let mut tagged = BTreeMap::new();
        for k in ["lan", "lan_ipv4", "wan", "wan_ipv4"] {
            tagged.insert(k.to_owned(), node.address.clone());
        }
        let current_meta = self
            .nodes
            .get(&node.node)
            .map(|n| n.meta.clone())
            .unwrap_or_default();
        let request = Registration {
            id: node.id.clone(),
            node: node.node.clone(),
            address: node.address.clone(),
            datacenter: node.datacenter.clone(),
            tagged_addresses: tagged,
            node_meta: current_meta,
            check: Some(CheckRegistration {
                node: node.node.clone(),
                check_id: SERF_CHECK_ID.to_owned(),
                name: SERF_CHECK_NAME.to_owned(),
                status: node.status.clone(),
                output: node.output.clone(),
                ..CheckRegistration::default()
            }),
            ..Registration::default()
        };
        self.register(index, &request).unwrap_or(false)
    }

    /// Consul's catalog deregister: a check, a service (with its checks),
    /// or the whole node (with its services and checks). Returns whether
    /// anything existed to remove.
    pub(crate) fn deregister(&mut self, index: u64, r: &Deregistration) -> bool {
        let node = r.node.clone();
        if !r.check_id.is_empty() {
            return self.remove_checks(index, &node, |id, _| *id == r.check_id);
        }
        if !r.service_id.is_empty() {
            let Some(s) = self.take_service(&(node.clone(), r.service_id.clone())) else {
                return false;
            };
            self.services_index = index;
            self.touch_service(&s.service, index);
            self.remove_checks(index, &node, |_, c| c.service_id == r.service_id);
            return true;
        }
        if self.nodes.remove(&node).is_none() {
            return false;
        }
        self.nodes_index = index;
        let gone: Vec<Key> = range(&self.services, &node)
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            if let Some(s) = self.take_service(&k) {
                self.services_index = index;
                self.touch_service(&s.service, index);
            }
        }
        self.remove_checks(index, &node, |_, _| true);
        true
    }

    /// Removes the checks of `node` that `gone` picks (by check ID and
    /// record): only that node's checks are visited.
    fn remove_checks(
        &mut self,
        index: u64,
        node: &str,
        mut gone: impl FnMut(&str, &CheckRecord) -> bool,
    ) -> bool {
        let doomed: Vec<Key> = range(&self.checks, node)
            .filter(|((_, id), c)| gone(id, c))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &doomed {
            if let Some(c) = self.checks.remove(k) {
                self.checks_index = index;
                if c.service_id.is_empty() {
                    self.node_checks_index = index;
                    let names: Vec<String> = range(&self.services, &c.node)
                        .map(|(_, s)| s.service.clone())
                        .collect();
                    for name in names {
                        self.touch_service(&name, index);
                    }
                } else {
                    self.touch_service(&c.service_name, index);
                }
            }
        }
        !doomed.is_empty()
    }
}

/// What a transaction's catalog writes can change, saved before the first
/// of them so that a failed transaction can put it back: the named nodes'
/// records with their services and checks, the tables' indexes, and the
/// per-name index of every service name those records or the transaction
/// carry. (A copy of the whole catalog per transaction made loading, and
/// replaying the log of, a large catalog quadratic.)
#[derive(Debug)]
pub(crate) struct CatalogUndo {
    nodes: Vec<(String, Option<NodeRecord>)>,
    services: Vec<(Key, ServiceRecord)>,
    checks: Vec<(Key, CheckRecord)>,
    indexes: [u64; 4],
    service_index: Vec<(String, Option<u64>)>,
}

impl Catalog {
    /// Saves what writes to `nodes` can change; `names` are the service
    /// names the writes register.
    pub(crate) fn save<'a>(
        &self,
        nodes: impl IntoIterator<Item = &'a str>,
        names: impl IntoIterator<Item = &'a str>,
    ) -> CatalogUndo {
        let nodes: std::collections::BTreeSet<&str> = nodes.into_iter().collect();
        let mut names: std::collections::BTreeSet<String> =
            names.into_iter().map(str::to_owned).collect();
        let mut undo = CatalogUndo {
            nodes: Vec::new(),
            services: Vec::new(),
            checks: Vec::new(),
            indexes: [
                self.nodes_index,
                self.services_index,
                self.checks_index,
                self.node_checks_index,
            ],
            service_index: Vec::new(),
        };
        for node in nodes {
            undo.nodes
                .push((node.to_owned(), self.nodes.get(node).cloned()));
            for (k, s) in range(&self.services, node) {
                names.insert(s.service.clone());
                undo.services.push((k.clone(), s.clone()));
            }
            for (k, c) in range(&self.checks, node) {
                if !c.service_name.is_empty() {
                    names.insert(c.service_name.clone());
                }
                undo.checks.push((k.clone(), c.clone()));
            }
        }
        undo.service_index = names
            .into_iter()
            .map(|n| {
                let i = self.service_index.get(&n).copied();
                (n, i)
            })
            .collect();
        undo
    }

    /// Puts back what `undo` saved.
    pub(crate) fn restore(&mut self, undo: CatalogUndo) {
        for (node, record) in undo.nodes {
            let services: Vec<Key> = range(&self.services, &node)
                .map(|(k, _)| k.clone())
                .collect();
            for k in services {
                self.take_service(&k);
            }
            let checks: Vec<Key> = range(&self.checks, &node).map(|(k, _)| k.clone()).collect();
            for k in checks {
                self.checks.remove(&k);
            }
            match record {
                Some(r) => {
                    self.nodes.insert(node, r);
                }
                None => {
                    self.nodes.remove(&node);
                }
            }
        }
        for (k, s) in undo.services {
            self.put_service(k, s);
        }
        for (k, c) in undo.checks {
            self.checks.insert(k, c);
        }
        [
            self.nodes_index,
            self.services_index,
            self.checks_index,
            self.node_checks_index,
        ] = undo.indexes;
        for (name, index) in undo.service_index {
            match index {
                Some(i) => {
                    self.service_index.insert(name, i);
                }
                None => {
                    self.service_index.remove(&name);
                }
            }
        }
    }
}

/// Read access for the derived indexes and the topics of a write
/// (`topics.rs`).
impl Catalog {
    /// The raw indexes of the nodes, services, checks and node-level checks
    /// tables (0: never changed).
    pub fn table_indexes(&self) -> TableIndexes {
        TableIndexes {
            nodes: self.nodes_index,
            services: self.services_index,
            checks: self.checks_index,
            node_checks: self.node_checks_index,
        }
    }

    /// The last index that changed an instance of service `name` or one of
    /// their own checks, as the catalog keeps it (without node changes).
    pub(crate) fn service_touch_index(&self, name: &str) -> Option<u64> {
        self.service_index.get(name).copied()
    }

    /// Every service name's touch index.
    pub(crate) fn service_touch_indexes(&self) -> impl Iterator<Item = (&String, &u64)> {
        self.service_index.iter()
    }

    /// Every service instance with its node's name.
    pub(crate) fn all_services(&self) -> impl Iterator<Item = (&str, &ServiceRecord)> {
        self.services.iter().map(|((n, _), s)| (n.as_str(), s))
    }

    /// The service instances on node `name`.
    pub(crate) fn services_on<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a ServiceRecord> + 'a {
        range(&self.services, name).map(|(_, s)| s)
    }

    /// Node `name`'s record.
    pub(crate) fn node_record(&self, name: &str) -> Option<&NodeRecord> {
        self.nodes.get(name)
    }
}

/// The raw indexes of the catalog's tables (0: never changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableIndexes {
    pub nodes: u64,
    pub services: u64,
    pub checks: u64,
    /// The last change to a node-level check (such as `serfHealth`).
    pub node_checks: u64,
}

/// A node as gossip sees it, with its `serfHealth` status and output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeHealth {
    pub node: String,
    /// The node's ID (a UUID).
    pub id: String,
    pub address: String,
    pub datacenter: String,
    /// `passing` or `critical`.
    pub status: String,
    pub output: String,
}

/// Whether `tags` holds `tag`, compared as Consul compares `?tag=` (and DNS
/// tag lookups): case-insensitively.
pub fn has_tag(tags: &[String], tag: &str) -> bool {
    let want = tag.to_lowercase();
    tags.iter().any(|t| t == tag || t.to_lowercase() == want)
}

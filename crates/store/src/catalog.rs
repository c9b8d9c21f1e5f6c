//! The catalog's node level: nodes and their node checks (today the
//! `serfHealth` check the leader keeps from gossip), with Consul's indexes:
//! a write that changes nothing keeps every index, so blocking queries do
//! not wake for it.

use std::collections::BTreeMap;

use praetor_api::catalog::{HealthCheck, Node, SERF_CHECK_ID, SERF_CHECK_NAME};
use serde::{Deserialize, Serialize};

/// Nodes by name and their checks by (node, check id).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    nodes: BTreeMap<String, Node>,
    checks: BTreeMap<(String, String), HealthCheck>,
    /// The last index that changed any node.
    nodes_index: u64,
    /// The last index that changed any check.
    checks_index: u64,
}

impl Catalog {
    /// Every node, by name, and the nodes table's index.
    pub fn nodes(&self) -> (u64, Vec<Node>) {
        (
            self.nodes_index.max(1),
            self.nodes.values().cloned().collect(),
        )
    }

    /// One node and the nodes table's index.
    pub fn node(&self, name: &str) -> (u64, Option<Node>) {
        (self.nodes_index.max(1), self.nodes.get(name).cloned())
    }

    /// A node's checks and the checks table's index.
    pub fn node_checks(&self, name: &str) -> (u64, Vec<HealthCheck>) {
        let list = self
            .checks
            .range((name.to_owned(), String::new())..)
            .take_while(|((n, _), _)| n == name)
            .map(|(_, c)| c.clone())
            .collect();
        (self.checks_index.max(1), list)
    }

    /// Upserts `node` with its `serfHealth` check in `status`. Returns
    /// whether anything changed.
    pub(crate) fn node_health(&mut self, index: u64, node: &NodeHealth) -> bool {
        let mut changed = false;
        let current = self.nodes.get(&node.node);
        let same_node = current.is_some_and(|n| {
            n.id == node.id && n.address == node.address && n.datacenter == node.datacenter
        });
        if !same_node {
            let create_index = current.map_or(index, |n| n.create_index);
            let mut tagged = BTreeMap::new();
            tagged.insert("lan".to_owned(), node.address.clone());
            tagged.insert("lan_ipv4".to_owned(), node.address.clone());
            tagged.insert("wan".to_owned(), node.address.clone());
            tagged.insert("wan_ipv4".to_owned(), node.address.clone());
            self.nodes.insert(
                node.node.clone(),
                Node {
                    id: node.id.clone(),
                    node: node.node.clone(),
                    address: node.address.clone(),
                    datacenter: node.datacenter.clone(),
                    tagged_addresses: tagged,
                    meta: BTreeMap::new(),
                    create_index,
                    modify_index: index,
                },
            );
            self.nodes_index = index;
            changed = true;
        }
        let key = (node.node.clone(), SERF_CHECK_ID.to_owned());
        let check = self.checks.get(&key);
        if check.is_none_or(|c| c.status != node.status || c.output != node.output) {
            let create_index = check.map_or(index, |c| c.create_index);
            self.checks.insert(
                key,
                HealthCheck {
                    node: node.node.clone(),
                    check_id: SERF_CHECK_ID.to_owned(),
                    name: SERF_CHECK_NAME.to_owned(),
                    status: node.status.clone(),
                    notes: String::new(),
                    output: node.output.clone(),
                    service_id: String::new(),
                    service_name: String::new(),
                    service_tags: Vec::new(),
                    kind: String::new(),
                    create_index,
                    modify_index: index,
                },
            );
            self.checks_index = index;
            changed = true;
        }
        changed
    }

    /// Removes a node and its checks. Returns whether it existed.
    pub(crate) fn deregister_node(&mut self, index: u64, name: &str) -> bool {
        if self.nodes.remove(name).is_none() {
            return false;
        }
        self.nodes_index = index;
        let before = self.checks.len();
        self.checks.retain(|(n, _), _| n != name);
        if self.checks.len() != before {
            self.checks_index = index;
        }
        true
    }
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

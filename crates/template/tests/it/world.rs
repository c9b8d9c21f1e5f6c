//! A fake Consul for tests: KV, services with health, nodes, environment
//! and files, answering the engine's dependencies the way the CLI's source
//! will answer them from the agent's HTTP API.

use std::collections::BTreeMap;

use praetor_template::{
    CatalogNode, Check, Data, Dependency, HealthEntry, KvEntry, Lookup, NodeInfo, NodeService,
    Source, SourceError,
};

/// The data a render sees; `None` fields answer `Pending`.
#[derive(Debug, Default, Clone)]
pub struct World {
    pub kv: BTreeMap<String, String>,
    /// Service instances by service name.
    pub services: Vec<HealthEntry>,
    /// Nodes by datacenter ("" is the local one).
    pub nodes: BTreeMap<String, Vec<NodeInfo>>,
    pub agent_node: String,
    pub datacenters: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub files: BTreeMap<String, String>,
    /// Dependencies that answer `Pending` regardless of data.
    pub pending: Vec<Dependency>,
    /// Every lookup made, in order.
    pub asked: Vec<Dependency>,
}

impl World {
    pub fn key(mut self, k: &str, v: &str) -> Self {
        self.kv.insert(k.to_string(), v.to_string());
        self
    }

    pub fn instance(
        mut self,
        service: &str,
        node: &str,
        address: &str,
        port: i64,
        tags: &[&str],
        status: &str,
    ) -> Self {
        self.services.push(HealthEntry {
            node: node.to_string(),
            node_address: address.to_string(),
            service_id: format!("{service}-{node}"),
            service_name: service.to_string(),
            service_port: port,
            service_tags: tags.iter().map(|t| t.to_string()).collect(),
            checks: vec![Check {
                node: node.to_string(),
                check_id: "serfHealth".into(),
                name: "Serf Health Status".into(),
                status: status.to_string(),
                ..Check::default()
            }],
            ..HealthEntry::default()
        });
        self
    }

    pub fn node(mut self, dc: &str, name: &str, address: &str) -> Self {
        self.nodes
            .entry(dc.to_string())
            .or_default()
            .push(NodeInfo {
                node: name.to_string(),
                address: address.to_string(),
                datacenter: if dc.is_empty() {
                    "dc1".into()
                } else {
                    dc.to_string()
                },
                ..NodeInfo::default()
            });
        self
    }
}

impl Source for World {
    fn lookup(&mut self, dep: &Dependency) -> Result<Lookup, SourceError> {
        self.asked.push(dep.clone());
        if self.pending.contains(dep) {
            return Ok(Lookup::Pending);
        }
        let data = match dep {
            Dependency::Key { key, .. } => Data::Key(self.kv.get(key).cloned()),
            Dependency::KeyList { prefix, .. } => Data::KeyList(
                self.kv
                    .iter()
                    .filter(|(k, _)| k.starts_with(prefix.as_str()))
                    .map(|(k, v)| KvEntry {
                        key: k.clone(),
                        value: v.clone(),
                        ..KvEntry::default()
                    })
                    .collect(),
            ),
            Dependency::Service { name, tag, .. } => Data::Service(
                self.services
                    .iter()
                    .filter(|e| &e.service_name == name)
                    .filter(|e| tag.as_ref().is_none_or(|t| e.service_tags.contains(t)))
                    .cloned()
                    .collect(),
            ),
            Dependency::CatalogServices { .. } => {
                let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for e in &self.services {
                    let tags = m.entry(e.service_name.clone()).or_default();
                    for t in &e.service_tags {
                        if !tags.contains(t) {
                            tags.push(t.clone());
                        }
                    }
                }
                Data::CatalogServices(m)
            }
            Dependency::Node { name, dc, .. } => {
                let name = name.clone().unwrap_or_else(|| self.agent_node.clone());
                let dc = dc.clone().unwrap_or_default();
                let node = self
                    .nodes
                    .get(&dc)
                    .and_then(|ns| ns.iter().find(|n| n.node == name))
                    .cloned();
                Data::Node(node.map(|node| {
                    CatalogNode {
                        services: self
                            .services
                            .iter()
                            .filter(|e| e.node == node.node)
                            .map(|e| NodeService {
                                id: e.service_id.clone(),
                                service: e.service_name.clone(),
                                tags: e.service_tags.clone(),
                                port: e.service_port,
                                ..NodeService::default()
                            })
                            .collect(),
                        node,
                    }
                }))
            }
            Dependency::Nodes { dc, .. } => Data::Nodes(
                self.nodes
                    .get(dc.as_deref().unwrap_or(""))
                    .cloned()
                    .unwrap_or_default(),
            ),
            Dependency::Datacenters { .. } => Data::Datacenters(self.datacenters.clone()),
            Dependency::Env(name) => Data::Env(self.env.get(name).cloned()),
            Dependency::File(path) => match self.files.get(path) {
                Some(s) => Data::File(s.clone()),
                None => {
                    return Err(SourceError(format!(
                        "open {path}: no such file or directory"
                    )))
                }
            },
        };
        Ok(Lookup::Ready(data))
    }
}

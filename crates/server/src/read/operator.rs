//! Reads behind Consul's operator endpoints: the stored autopilot
//! configuration (`/v1/operator/autopilot/configuration`) and the
//! catalog's usage counts (`/v1/operator/usage`). Both need
//! `operator:read`, as in Consul. Pure, as every read.

use praetor_acl::{Access, Global};
use praetor_store::autopilot::AutopilotConfig;
use praetor_store::{Interest, Store, Table};
use serde::{Deserialize, Serialize};

use super::{Read, WireAnswer};
use crate::acl::{AclError, Authz, Guarded};

/// The autopilot configuration stored by `PUT
/// /v1/operator/autopilot/configuration`; `None` until one is written
/// (the servers then act on their agent configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AutopilotConfiguration;

impl Read for AutopilotConfiguration {
    type Answer = Option<AutopilotConfig>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let a = store.autopilot();
        (a.index(), a.config().cloned())
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Autopilot)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.autopilot().index())
    }

    from_wire!(AutopilotConfiguration);
}

/// What the catalog holds, counted as Consul's `/v1/operator/usage`
/// counts it for one datacenter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageCounts {
    /// Distinct service names.
    pub services: u64,
    /// Service instances.
    pub service_instances: u64,
    /// Instances that are billable in Consul's terms: all but the
    /// servers' own `consul` service.
    pub billable_service_instances: u64,
    /// Catalog nodes.
    pub nodes: u64,
}

/// The catalog's usage counts (`/v1/operator/usage`). Its index is the
/// last change to any node, instance or check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage;

impl Read for Usage {
    type Answer = UsageCounts;

    fn eval(&self, store: &Store) -> (u64, UsageCounts) {
        let catalog = store.catalog();
        let (summary_index, summaries) = catalog.service_summaries();
        let (nodes_index, nodes) = catalog.nodes();
        let service_instances: u64 = summaries.iter().map(|s| s.instance_count).sum();
        let consul: u64 = summaries
            .iter()
            .filter(|s| s.name == "consul")
            .map(|s| s.instance_count)
            .sum();
        (
            summary_index.max(nodes_index),
            UsageCounts {
                services: summaries.len() as u64,
                service_instances,
                billable_service_instances: service_instances - consul,
                nodes: nodes.len() as u64,
            },
        )
    }

    from_wire!(Usage);
}

impl Guarded for AutopilotConfiguration {
    fn authorize(&self, a: &Authz, _: &Store) -> Result<(), AclError> {
        a.require_global(Global::Operator, Access::Read)
    }

    fn filter(&self, _: &Authz, _: &mut Self::Answer) -> bool {
        false
    }
}

impl Guarded for Usage {
    fn authorize(&self, a: &Authz, _: &Store) -> Result<(), AclError> {
        a.require_global(Global::Operator, Access::Read)
    }

    fn filter(&self, _: &Authz, _: &mut Self::Answer) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use praetor_api::catalog::{RegisterRequest, ServiceDefinition};
    use praetor_store::Command;

    fn register(node: &str, service: &str, id: &str) -> Command {
        Command::CatalogRegister(
            RegisterRequest {
                node: node.into(),
                address: "10.0.0.1".into(),
                service: Some(ServiceDefinition {
                    id: id.into(),
                    service: service.into(),
                    ..Default::default()
                }),
                ..Default::default()
            }
            .into(),
        )
    }

    #[test]
    fn usage_counts_names_instances_and_nodes_and_bills_all_but_consul() {
        let mut store = Store::default();
        for (i, cmd) in [
            register("n1", "web", "web-1"),
            register("n2", "web", "web-2"),
            register("n2", "db", "db"),
            register("n1", "consul", "consul"),
        ]
        .iter()
        .enumerate()
        {
            assert!(store.apply(i as u64 + 1, cmd).ok());
        }
        let (index, counts) = Usage.eval(&store);
        assert_eq!(index, 4);
        assert_eq!(
            counts,
            UsageCounts {
                services: 3,
                service_instances: 4,
                billable_service_instances: 3,
                nodes: 2,
            }
        );
    }

    #[test]
    fn the_autopilot_configuration_reads_none_until_written() {
        let mut store = Store::default();
        assert_eq!(AutopilotConfiguration.eval(&store), (1, None));
        let config = AutopilotConfig {
            min_quorum: 3,
            ..AutopilotConfig::default()
        };
        assert!(store
            .apply(
                7,
                &Command::AutopilotSetConfig {
                    config: config.clone(),
                    cas: None
                }
            )
            .ok());
        let (index, read) = AutopilotConfiguration.eval(&store);
        assert_eq!(index, 7);
        assert_eq!(read.map(|c| (c.min_quorum, c.create_index)), Some((3, 7)));
    }
}

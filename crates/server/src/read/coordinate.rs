//! Reads of the nodes' network coordinates (Consul's `/v1/coordinate/nodes`
//! and `/v1/coordinate/node/<node>`), blocking on the coordinates table.
//! A list keeps the nodes the token may read (`node:read`); one node's
//! read needs `node:read` on it, as Consul's `Coordinate.Node`. Pure.

use praetor_acl::{Access, Resource};
use praetor_store::coordinate::NodeCoordinate;
use praetor_store::{Interest, Store, Table};
use serde::{Deserialize, Serialize};

use super::{Read, WireAnswer};
use crate::acl::{AclError, Authz, Guarded};

/// Every node's coordinates, by node then segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoordinateNodes;

impl Read for CoordinateNodes {
    type Answer = Vec<NodeCoordinate>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let c = store.coordinates();
        (c.index(), c.list())
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Coordinates)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.coordinates().index())
    }

    from_wire!(CoordinateNodes);
}

/// One node's coordinates, one per segment (empty when it has none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoordinateNode {
    pub node: String,
}

impl Read for CoordinateNode {
    type Answer = Vec<NodeCoordinate>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let c = store.coordinates();
        (c.index(), c.of_node(&self.node))
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Coordinates)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.coordinates().index())
    }

    from_wire!(CoordinateNode);
}

impl Guarded for CoordinateNodes {
    fn authorize(&self, _: &Authz, _: &Store) -> Result<(), AclError> {
        Ok(())
    }

    fn filter(&self, a: &Authz, answer: &mut Self::Answer) -> bool {
        let before = answer.len();
        answer.retain(|c| a.allows(Resource::Node, &c.node, Access::Read));
        answer.len() != before
    }
}

impl Guarded for CoordinateNode {
    fn authorize(&self, a: &Authz, _: &Store) -> Result<(), AclError> {
        a.require(Resource::Node, &self.node, Access::Read)
    }

    fn filter(&self, _: &Authz, _: &mut Self::Answer) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use praetor_store::catalog::NodeHealth;
    use praetor_store::coordinate::{CoordRecord, Float};
    use praetor_store::Command;

    use super::*;

    fn store() -> Store {
        let mut store = Store::default();
        for (i, n) in [(1, "a"), (2, "b")] {
            store.apply(
                i,
                &Command::NodeHealth(NodeHealth {
                    node: n.into(),
                    id: String::new(),
                    address: "10.0.0.1".into(),
                    datacenter: "dc1".into(),
                    status: "passing".into(),
                    output: String::new(),
                }),
            );
        }
        let coord = CoordRecord {
            vec: vec![Float(0.001); 8],
            error: Float(0.5),
            adjustment: Float(0.0),
            height: Float(0.0001),
        };
        store.apply(
            3,
            &Command::CoordinateBatchUpdate(vec![
                NodeCoordinate {
                    node: "a".into(),
                    segment: String::new(),
                    coord: coord.clone(),
                },
                NodeCoordinate {
                    node: "b".into(),
                    segment: String::new(),
                    coord,
                },
            ]),
        );
        store
    }

    #[test]
    fn reads_answer_at_the_coordinates_index() {
        let store = store();
        let (index, all) = CoordinateNodes.eval(&store);
        assert_eq!(index, 3);
        assert_eq!(CoordinateNodes.index(&store), Some(3));
        assert_eq!(all.len(), 2);
        let (index, one) = CoordinateNode { node: "b".into() }.eval(&store);
        assert_eq!((index, one.len(), one[0].node.as_str()), (3, 1, "b"));
        assert!(CoordinateNode {
            node: "nope".into()
        }
        .eval(&store)
        .1
        .is_empty());
    }
}

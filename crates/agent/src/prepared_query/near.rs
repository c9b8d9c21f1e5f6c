//! Sorting a prepared query's instances by estimated round-trip time from
//! a node (`Service.Near`, `?near=`), as Consul sorts with network
//! coordinates: nearest first, instances whose node has no coordinate
//! last, in the order they came (shuffled); when the `near` node has no
//! coordinate, the shuffled order is the answer, as Consul's. The
//! distances are `crate::coordinate::near`'s, as for `?near=` on catalog
//! and health reads.

use praetor_api::catalog::ServiceEntry;
use praetor_store::coordinate::NodeCoordinate;

/// Sorts `nodes` (stably) by estimated round-trip time from node `near`,
/// with the nodes' coordinates `coords`.
pub fn sort_by_rtt(near: &str, coords: &[NodeCoordinate], nodes: &mut [ServiceEntry]) {
    crate::coordinate::near::sort_by_distance(nodes, |e| e.node.node.as_str(), near, coords);
}

//! Sorting a prepared query's instances by estimated round-trip time from
//! a node (`Service.Near`, `?near=`), as Consul sorts with network
//! coordinates: nearest first, instances whose node has no coordinate
//! last, in the order they came (shuffled).
//!
//! THE HOOK: network coordinates (issue 19, item 3) fill in
//! [`sort_by_rtt`]. Until an agent knows coordinates no distance is known,
//! so every instance is "without a coordinate" and the shuffled order is
//! the answer, which is what Consul answers for nodes without coordinates.

use praetor_api::catalog::ServiceEntry;

use crate::http::AppState;

/// Sorts `nodes` (stably) by estimated round-trip time from node `near`.
pub fn sort_by_rtt(_state: &AppState, _near: &str, _nodes: &mut [ServiceEntry]) {}

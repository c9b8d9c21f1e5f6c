//! `?near=<node>` on catalog and health reads: the answer sorted by the
//! estimated round-trip time from that node (`_agent`: this agent's node),
//! as Consul sorts it. Nodes without a coordinate go last, in the order
//! the answer had them; when the `near` node has no coordinate, the answer
//! keeps its order.

use praetor_coordinate::Coordinate;
use praetor_store::coordinate::NodeCoordinate;

/// The value of `?near=` that names this agent's own node.
pub const AGENT: &str = "_agent";

/// The node `?near=` names (`near`: the parameter's value, if given):
/// `agent_node` for `_agent`; `None` when it is absent or empty.
pub fn near_node(near: Option<&str>, agent_node: &str) -> Option<String> {
    match near {
        None | Some("") => None,
        Some(AGENT) => Some(agent_node.to_owned()),
        Some(node) => Some(node.to_owned()),
    }
}

/// Sorts `items` by the estimated round-trip time from `from` to each
/// item's node (`node_of`), with `coords` the known coordinates (default
/// segment). Stable: items at the same distance, and items whose node has
/// no coordinate (last), keep their order.
pub fn sort_by_distance<T>(
    items: &mut [T],
    node_of: impl Fn(&T) -> &str,
    from: &str,
    coords: &[NodeCoordinate],
) {
    let lookup = |node: &str| -> Option<Coordinate> {
        coords
            .iter()
            .find(|c| c.node == node && c.segment.is_empty())
            .map(|c| super::to_coordinate(&c.coord))
    };
    let Some(origin) = lookup(from) else {
        return;
    };
    let by_node: std::collections::HashMap<&str, Coordinate> = coords
        .iter()
        .filter(|c| c.segment.is_empty())
        .map(|c| (c.node.as_str(), super::to_coordinate(&c.coord)))
        .collect();
    let distance = |item: &T| -> f64 {
        let node = node_of(item);
        // A node is no distance from itself: Vivaldi's estimate of it is
        // twice its height (plus adjustments), which can put a neighbour
        // with a smaller height first.
        if node == from {
            return 0.0;
        }
        by_node
            .get(node)
            .and_then(|c| origin.distance_seconds(c))
            .unwrap_or(f64::INFINITY)
    };
    items.sort_by(|a, b| distance(a).total_cmp(&distance(b)));
}

#[cfg(test)]
mod tests {
    use praetor_store::coordinate::{CoordRecord, Float};
    use proptest::prelude::*;

    use super::*;

    fn at(node: &str, x: f64) -> NodeCoordinate {
        let mut vec = vec![Float(0.0); 8];
        vec[0] = Float(x);
        NodeCoordinate {
            node: node.into(),
            segment: String::new(),
            coord: CoordRecord {
                vec,
                error: Float(0.1),
                adjustment: Float(0.0),
                height: Float(0.0),
            },
        }
    }

    #[test]
    fn near_names_a_node_or_this_agent() {
        assert_eq!(near_node(None, "me"), None);
        assert_eq!(near_node(Some(""), "me"), None);
        assert_eq!(near_node(Some("_agent"), "me"), Some("me".into()));
        assert_eq!(near_node(Some("n2"), "me"), Some("n2".into()));
    }

    #[test]
    fn sorts_by_distance_with_unknown_nodes_last() {
        let coords = [at("a", 0.0), at("b", 0.030), at("c", 0.010), at("d", 0.020)];
        let mut items = vec!["x", "b", "a", "y", "d", "c"];
        sort_by_distance(&mut items, |s| s, "a", &coords);
        assert_eq!(items, ["a", "c", "d", "b", "x", "y"]);
        let mut items = vec!["x", "b", "a", "c"];
        sort_by_distance(&mut items, |s| s, "b", &coords);
        assert_eq!(items, ["b", "c", "a", "x"]);
    }

    #[test]
    fn the_near_node_itself_comes_first_whatever_its_height() {
        let mut tall = at("me", 0.0);
        tall.coord.height = Float(0.005);
        let coords = [tall, at("next", 0.001), at("far", 0.002)];
        // Vivaldi's own estimate: 10 ms from "me" to itself, 6 ms to "next".
        let mut items = vec!["far", "next", "me"];
        sort_by_distance(&mut items, |s| s, "me", &coords);
        assert_eq!(items, ["me", "next", "far"]);
    }

    #[test]
    fn without_a_coordinate_for_the_near_node_the_order_stays() {
        let coords = [at("a", 0.0), at("b", 0.030)];
        let mut items = vec!["b", "a", "z"];
        sort_by_distance(&mut items, |s| s, "z", &coords);
        assert_eq!(items, ["b", "a", "z"]);
    }

    proptest! {
        /// The answer is a permutation of the items: distances never
        /// decrease, and items without a coordinate come last in their
        /// original order.
        #[test]
        fn sorting_is_an_ordered_permutation(
            placed in proptest::collection::vec(-1.0f64..1.0, 1..12),
            items in proptest::collection::vec(0usize..16, 0..24),
        ) {
            let coords: Vec<NodeCoordinate> = placed
                .iter()
                .enumerate()
                .map(|(i, x)| at(&format!("n{i}"), *x))
                .collect();
            let names: Vec<String> = items.iter().map(|i| format!("n{i}")).collect();
            let mut sorted = names.clone();
            sort_by_distance(&mut sorted, |s| s.as_str(), "n0", &coords);
            let mut a = names.clone();
            let mut b = sorted.clone();
            a.sort();
            b.sort();
            prop_assert_eq!(a, b);
            let origin = super::super::to_coordinate(&coords[0].coord);
            let dist = |n: &String| {
                if n == "n0" {
                    return 0.0;
                }
                coords
                    .iter()
                    .find(|c| &c.node == n)
                    .map(|c| origin.distance_seconds(&super::super::to_coordinate(&c.coord)).unwrap())
                    .unwrap_or(f64::INFINITY)
            };
            for pair in sorted.windows(2) {
                prop_assert!(dist(&pair[0]) <= dist(&pair[1]));
            }
            let unknown: Vec<&String> = names.iter().filter(|n| dist(n).is_infinite()).collect();
            let tail: Vec<&String> = sorted.iter().filter(|n| dist(n).is_infinite()).collect();
            prop_assert_eq!(unknown, tail);
        }
    }
}

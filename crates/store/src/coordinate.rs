//! The network coordinates of the catalog's nodes, as Consul keeps them in
//! its state store (`coordinates`, keyed by node and network segment): one
//! Vivaldi coordinate per node and segment, written by
//! `Command::CoordinateBatchUpdate` (the leader's batch of the updates
//! agents sent, `PUT /v1/coordinate/update`) and removed with its node.
//!
//! As Consul's, an update for a node the catalog does not hold is skipped
//! (a coordinate never creates a node), and so is one that is not finite.
//! Records travel in the Raft log and in snapshots as postcard: plain
//! derives only. Never performs I/O and never reads a clock.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The most dimensions a stored coordinate may have (Consul's are 8).
pub const MAX_DIMENSIONS: usize = 64;

/// A float compared by its bits, so records holding it are `Eq` (the log's
/// commands are compared in tests and goldens). Encoded as an `f64`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Float(pub f64);

impl PartialEq for Float {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Float {}

/// One coordinate: Consul's `Vec`, `Error`, `Adjustment`, `Height`
/// (seconds).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CoordRecord {
    pub vec: Vec<Float>,
    pub error: Float,
    pub adjustment: Float,
    pub height: Float,
}

impl CoordRecord {
    /// Every component finite and at most `MAX_DIMENSIONS` of them.
    pub fn is_storable(&self) -> bool {
        self.vec.len() <= MAX_DIMENSIONS
            && self
                .vec
                .iter()
                .chain([&self.error, &self.adjustment, &self.height])
                .all(|f| f.0.is_finite())
    }
}

/// A node's coordinate in one segment (`""`: the default segment, the only
/// one Praetor has).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeCoordinate {
    pub node: String,
    pub segment: String,
    pub coord: CoordRecord,
}

/// Every node's coordinates, with the index of the last change.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Coordinates {
    by_node: BTreeMap<(String, String), CoordRecord>,
    index: u64,
}

impl Coordinates {
    /// The index a read of coordinates reports: the last change, never
    /// below 1.
    pub fn index(&self) -> u64 {
        self.index.max(1)
    }

    /// The raw index of the last change (0: none), for change detection.
    pub(crate) fn raw_index(&self) -> u64 {
        self.index
    }

    /// Writes the updates whose node `exists` and whose coordinate is
    /// storable, at `index`; returns whether anything changed.
    pub(crate) fn update(
        &mut self,
        index: u64,
        updates: &[NodeCoordinate],
        exists: impl Fn(&str) -> bool,
    ) -> bool {
        let mut changed = false;
        for u in updates {
            if !exists(&u.node) || !u.coord.is_storable() {
                continue;
            }
            let key = (u.node.clone(), u.segment.clone());
            if self.by_node.get(&key) != Some(&u.coord) {
                self.by_node.insert(key, u.coord.clone());
                changed = true;
            }
        }
        if changed {
            self.index = index;
        }
        changed
    }

    /// Removes every segment's coordinate of `node` at `index`; returns
    /// whether there was one.
    pub(crate) fn remove_node(&mut self, index: u64, node: &str) -> bool {
        let keys: Vec<(String, String)> = self
            .by_node
            .range((node.to_owned(), String::new())..)
            .take_while(|((n, _), _)| n == node)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            self.by_node.remove(k);
        }
        if !keys.is_empty() {
            self.index = index;
        }
        !keys.is_empty()
    }

    /// Every coordinate, by node then segment.
    pub fn list(&self) -> Vec<NodeCoordinate> {
        self.by_node
            .iter()
            .map(|((node, segment), coord)| NodeCoordinate {
                node: node.clone(),
                segment: segment.clone(),
                coord: coord.clone(),
            })
            .collect()
    }

    /// `node`'s coordinates, one per segment.
    pub fn of_node(&self, node: &str) -> Vec<NodeCoordinate> {
        self.by_node
            .range((node.to_owned(), String::new())..)
            .take_while(|((n, _), _)| n == node)
            .map(|((node, segment), coord)| NodeCoordinate {
                node: node.clone(),
                segment: segment.clone(),
                coord: coord.clone(),
            })
            .collect()
    }

    /// How many coordinates are stored.
    pub fn len(&self) -> usize {
        self.by_node.len()
    }

    /// No coordinate is stored.
    pub fn is_empty(&self) -> bool {
        self.by_node.is_empty()
    }
}

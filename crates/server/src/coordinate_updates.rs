//! The leader's batching of coordinate updates, as Consul's
//! `Coordinate.Update` endpoint does it: every agent sends its coordinate
//! every few seconds, far too often for one log entry each, so the leader
//! keeps the latest update per node and segment and proposes them
//! together, one `Command::CoordinateBatchUpdate` every
//! [`UPDATE_PERIOD`], at most [`MAX_PER_FLUSH`] per entry (the rest wait
//! for the next round; newer updates of a node replace older ones).
//!
//! An update is answered as soon as it is queued, as Consul's is: a
//! coordinate is soft state that its agent sends again, so an update lost
//! with a leader change costs one period. A server that does not lead
//! drops what it queued.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use praetor_store::coordinate::{CoordRecord, NodeCoordinate};
use praetor_store::Command;
use tokio_util::sync::CancellationToken;

use crate::Server;

/// How often the leader proposes the queued updates (Consul's
/// `coordinate_update_period`).
pub const UPDATE_PERIOD: Duration = Duration::from_secs(5);
/// Most updates in one log entry (Consul's batch size × max batches).
pub const MAX_PER_FLUSH: usize = 640;
/// Most nodes with a queued update; updates of other nodes beyond it are
/// dropped until the next flush (their agents send them again).
pub const MAX_QUEUED: usize = 65_536;

/// The updates waiting for the next flush, latest per node and segment.
#[derive(Debug, Default)]
pub struct CoordinateQueue {
    pending: Mutex<BTreeMap<(String, String), CoordRecord>>,
}

impl CoordinateQueue {
    /// Queues `updates`; returns how many were dropped because the queue
    /// is full.
    pub fn queue(&self, updates: &[NodeCoordinate]) -> usize {
        let mut pending = lock(&self.pending);
        let mut dropped = 0;
        for u in updates {
            let key = (u.node.clone(), u.segment.clone());
            if pending.len() >= MAX_QUEUED && !pending.contains_key(&key) {
                dropped += 1;
                continue;
            }
            pending.insert(key, u.coord.clone());
        }
        dropped
    }

    /// Takes up to `max` queued updates (the rest stay queued).
    pub fn take(&self, max: usize) -> Vec<NodeCoordinate> {
        let mut pending = lock(&self.pending);
        let mut out = Vec::with_capacity(max.min(pending.len()));
        while out.len() < max {
            let Some(((node, segment), coord)) = pending.pop_first() else {
                break;
            };
            out.push(NodeCoordinate {
                node,
                segment,
                coord,
            });
        }
        out
    }

    /// Drops everything queued.
    pub fn clear(&self) {
        lock(&self.pending).clear();
    }

    /// How many updates are queued.
    pub fn len(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Every [`UPDATE_PERIOD`]: on the leader, proposes what is queued as one
/// `CoordinateBatchUpdate`; elsewhere, drops it. Ends with `stop`.
pub(crate) async fn run_coordinate_flush(server: Server, stop: CancellationToken) {
    let mut tick = tokio::time::interval(UPDATE_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let queue = server.coordinate_queue();
        if queue.is_empty() {
            continue;
        }
        if !server.is_leader() {
            queue.clear();
            continue;
        }
        let batch = queue.take(MAX_PER_FLUSH);
        let count = batch.len();
        match server
            .write_local(Command::CoordinateBatchUpdate(batch))
            .await
        {
            Ok(_) => tracing::debug!(count, "applied coordinate updates"),
            Err(error) => tracing::warn!(%error, count, "proposing coordinate updates"),
        }
    }
}

#[cfg(test)]
mod tests {
    use praetor_store::coordinate::Float;

    use super::*;

    fn update(node: &str, x: f64) -> NodeCoordinate {
        NodeCoordinate {
            node: node.into(),
            segment: String::new(),
            coord: CoordRecord {
                vec: vec![Float(x)],
                ..CoordRecord::default()
            },
        }
    }

    #[test]
    fn the_latest_update_per_node_waits_and_batches_are_bounded() {
        let q = CoordinateQueue::default();
        assert_eq!(q.queue(&[update("a", 1.0), update("b", 2.0)]), 0);
        assert_eq!(q.queue(&[update("a", 3.0)]), 0);
        assert_eq!(q.len(), 2);
        let first = q.take(1);
        assert_eq!(first, vec![update("a", 3.0)]);
        assert_eq!(q.take(10), vec![update("b", 2.0)]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_full_queue_drops_new_nodes_but_takes_newer_updates() {
        let q = CoordinateQueue::default();
        let many: Vec<NodeCoordinate> = (0..MAX_QUEUED)
            .map(|i| update(&format!("n{i}"), 0.0))
            .collect();
        assert_eq!(q.queue(&many), 0);
        assert_eq!(q.queue(&[update("extra", 1.0), update("n7", 5.0)]), 1);
        assert_eq!(q.len(), MAX_QUEUED);
        let all = q.take(MAX_QUEUED);
        assert!(all.contains(&update("n7", 5.0)));
        assert!(!all.iter().any(|u| u.node == "extra"));
    }
}

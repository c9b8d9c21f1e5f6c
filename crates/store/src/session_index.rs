//! Derived indexes for sessions and locks: the sessions of each node, the
//! sessions that name each (node, check), the keys each session holds, and
//! the lock-delays by the time they end.
//! They let a catalog write find the sessions it may invalidate, and an
//! invalidated session find its keys, at a cost that follows the change
//! instead of the number of sessions or keys.
//!
//! These indexes are derived state: they are never encoded (a snapshot
//! holds `Tables` without them, so the snapshot format does not change),
//! they are rebuilt from the tables whenever the tables are decoded, and
//! they are kept in step by the only code that changes the tables they
//! follow (`Sessions::create`/`remove`/`delay_key`/`prune_delays`, the KV
//! table's entry writes).
//! Never performs I/O.

use std::collections::{BTreeMap, BTreeSet};

use praetor_api::catalog::check_status;

use crate::catalog::Catalog;
use crate::model::SessionRecord;
use crate::session::LockDelay;

/// The sessions of each node and of each check they name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SessionIndex {
    /// Node → the IDs of its sessions.
    by_node: BTreeMap<String, BTreeSet<String>>,
    /// (node, check ID) → the IDs of the sessions that name the check,
    /// as a node check or as a service check.
    by_check: BTreeMap<(String, String), BTreeSet<String>>,
}

impl SessionIndex {
    /// The index of `sessions`, built from scratch.
    pub(crate) fn rebuild<'a>(sessions: impl IntoIterator<Item = &'a SessionRecord>) -> Self {
        let mut index = SessionIndex::default();
        for s in sessions {
            index.insert(s);
        }
        index
    }

    /// Records session `s`.
    pub(crate) fn insert(&mut self, s: &SessionRecord) {
        self.by_node
            .entry(s.node.clone())
            .or_default()
            .insert(s.id.clone());
        for check in s.check_ids() {
            self.by_check
                .entry((s.node.clone(), check.to_owned()))
                .or_default()
                .insert(s.id.clone());
        }
    }

    /// Forgets session `s` (as it was recorded).
    pub(crate) fn remove(&mut self, s: &SessionRecord) {
        if let Some(ids) = self.by_node.get_mut(&s.node) {
            ids.remove(&s.id);
            if ids.is_empty() {
                self.by_node.remove(&s.node);
            }
        }
        for check in s.check_ids() {
            let key = (s.node.clone(), check.to_owned());
            if let Some(ids) = self.by_check.get_mut(&key) {
                ids.remove(&s.id);
                if ids.is_empty() {
                    self.by_check.remove(&key);
                }
            }
        }
    }

    /// The IDs of the sessions of `node`, in ID order.
    pub(crate) fn of_node<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a String> + 'a {
        self.by_node.get(node).into_iter().flatten()
    }

    /// The IDs of the sessions of `node` the catalog no longer supports
    /// (the node is gone, or a check they name is gone or critical), in ID
    /// order. Looks at the checks the node's sessions name, once each, and
    /// at no other node's sessions.
    pub(crate) fn unsupported(&self, node: &str, catalog: &Catalog) -> BTreeSet<String> {
        if !catalog.has_node(node) {
            return self.of_node(node).cloned().collect();
        }
        let mut out = BTreeSet::new();
        let named = self
            .by_check
            .range((node.to_owned(), String::new())..)
            .take_while(|((n, _), _)| n == node);
        for ((_, check), ids) in named {
            let healthy = catalog
                .check(node, check)
                .is_some_and(|c| c.status != check_status::CRITICAL);
            if !healthy {
                out.extend(ids.iter().cloned());
            }
        }
        out
    }
}

/// The keys each session holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HeldKeys {
    /// Session ID → the keys whose entry names it, in key order.
    by_session: BTreeMap<String, BTreeSet<String>>,
}

impl HeldKeys {
    /// The index of `entries` (key, holding session), built from scratch.
    pub(crate) fn rebuild<'a>(
        entries: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
    ) -> Self {
        let mut index = HeldKeys::default();
        for (key, session) in entries {
            index.update(key, None, session);
        }
        index
    }

    /// Records that `key`, held by `old` (if any), is now held by `new`.
    pub(crate) fn update(&mut self, key: &str, old: Option<&str>, new: Option<&str>) {
        if old == new {
            return;
        }
        if let Some(old) = old {
            if let Some(keys) = self.by_session.get_mut(old) {
                keys.remove(key);
                if keys.is_empty() {
                    self.by_session.remove(old);
                }
            }
        }
        if let Some(new) = new {
            self.by_session
                .entry(new.to_owned())
                .or_default()
                .insert(key.to_owned());
        }
    }

    /// The keys `session` holds, in key order.
    pub(crate) fn of(&self, session: &str) -> Vec<String> {
        self.by_session
            .get(session)
            .map(|keys| keys.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// The lock-delays by the leader time they end, so the ones that are over
/// are found without looking at the others.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct DelayEnds {
    /// (end, key) of each lock-delay that ends (`LockDelay::end_ms`).
    by_end: BTreeSet<(u64, String)>,
}

impl DelayEnds {
    /// The index of `delays`, built from scratch.
    pub(crate) fn rebuild(delays: &BTreeMap<String, LockDelay>) -> Self {
        let mut index = DelayEnds::default();
        for (key, delay) in delays {
            index.insert(key, delay);
        }
        index
    }

    /// Records `delay` on `key`.
    pub(crate) fn insert(&mut self, key: &str, delay: &LockDelay) {
        if let Some(end) = delay.end_ms() {
            self.by_end.insert((end, key.to_owned()));
        }
    }

    /// Forgets `delay` on `key` (as it was recorded).
    pub(crate) fn remove(&mut self, key: &str, delay: &LockDelay) {
        if let Some(end) = delay.end_ms() {
            self.by_end.remove(&(end, key.to_owned()));
        }
    }

    /// Forgets and returns the keys whose delay ends at or before `now_ms`.
    pub(crate) fn take_due(&mut self, now_ms: u64) -> Vec<String> {
        let mut due = Vec::new();
        while let Some((end, _)) = self.by_end.first() {
            if *end > now_ms {
                break;
            }
            if let Some((_, key)) = self.by_end.pop_first() {
                due.push(key);
            }
        }
        due
    }
}

/// Test-only instruments: a switch that makes the store find sessions and
/// held keys by scanning, as it did before these indexes (the oracle the
/// indexes are compared with), and a count of the sessions a catalog write
/// looked at.
#[cfg(test)]
pub(crate) mod oracle {
    use std::cell::Cell;

    thread_local! {
        static SCAN: Cell<bool> = const { Cell::new(false) };
        static VISITED: Cell<u64> = const { Cell::new(0) };
    }

    /// Whether this thread's store scans instead of using the indexes.
    pub(crate) fn scanning() -> bool {
        SCAN.with(Cell::get)
    }

    /// Makes this thread's store scan (`true`) or use the indexes.
    pub(crate) fn set_scanning(on: bool) {
        SCAN.with(|s| s.set(on));
    }

    /// Counts `n` sessions looked at by a catalog write's invalidation.
    pub(crate) fn visit(n: usize) {
        VISITED.with(|v| v.set(v.get() + n as u64));
    }

    /// The sessions looked at since the last call, and restarts the count.
    pub(crate) fn take_visited() -> u64 {
        VISITED.with(|v| v.replace(0))
    }
}

#[cfg(test)]
mod tests;

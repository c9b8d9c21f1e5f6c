//! The bounded history of KV changes, each with the value it replaced. A
//! watcher resuming at index N gets every change from N on, or is told that
//! N is older than what is kept (`Compacted`), never a silent gap.

use std::collections::VecDeque;

use praetor_api::{WatchEvent, WatchOp};
use serde::{Deserialize, Serialize};

use crate::kv::Entry;

/// One change to one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub index: u64,
    pub key: String,
    /// The entry after the change; `None` for a delete.
    pub entry: Option<Entry>,
    /// The entry before the change; `None` when the key did not exist.
    pub prev: Option<Entry>,
}

impl Change {
    /// The wire form of this change.
    pub fn to_event(&self) -> WatchEvent {
        let prev = self.prev.as_ref().map(|e| e.to_pair(&self.key));
        match &self.entry {
            Some(e) => WatchEvent {
                op: WatchOp::Set,
                key: self.key.clone(),
                flags: e.flags,
                value: praetor_api::kv::encode_value(&e.value),
                create_index: e.create_index,
                modify_index: e.modify_index,
                lock_index: e.lock_index,
                prev,
            },
            None => WatchEvent {
                op: WatchOp::Delete,
                key: self.key.clone(),
                flags: 0,
                value: None,
                create_index: self.prev.as_ref().map_or(0, |p| p.create_index),
                modify_index: self.index,
                lock_index: 0,
                prev,
            },
        }
    }
}

/// Why a history read could not be answered in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    #[error("index {requested} is older than the oldest change kept ({oldest})")]
    Compacted { requested: u64, oldest: u64 },
}

/// The last `limit` changes, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct History {
    changes: VecDeque<Change>,
    limit: usize,
    /// Every change at an index at or above this one is kept.
    complete_from: u64,
}

impl History {
    /// An empty history keeping `limit` changes (at least one).
    pub fn new(limit: usize) -> Self {
        History {
            changes: VecDeque::new(),
            limit: limit.max(1),
            complete_from: 0,
        }
    }

    /// An empty history complete from `from` on (after a restore).
    pub(crate) fn restarted(limit: usize, from: u64) -> Self {
        History {
            complete_from: from,
            ..History::new(limit)
        }
    }

    /// How many changes are kept at most.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Appends a change; returns the changes that fell out.
    pub(crate) fn push(&mut self, change: Change) -> Vec<Change> {
        self.changes.push_back(change);
        self.trim()
    }

    pub(crate) fn set_limit(&mut self, limit: usize) -> Vec<Change> {
        self.limit = limit.max(1);
        self.trim()
    }

    fn trim(&mut self) -> Vec<Change> {
        let mut evicted = Vec::new();
        while self.changes.len() > self.limit {
            if let Some(old) = self.changes.pop_front() {
                self.complete_from = self.complete_from.max(old.index.saturating_add(1));
                evicted.push(old);
            }
        }
        evicted
    }

    /// Makes history records share value buffers with each other and with
    /// the live table again (a decoded snapshot has a copy per record).
    pub(crate) fn relink(&mut self, live: &crate::kv::KvTable) {
        use std::collections::HashMap;
        let mut last: HashMap<String, Entry> = HashMap::new();
        for c in self.changes.iter_mut() {
            if let (Some(p), Some(seen)) = (c.prev.as_mut(), last.get(&c.key)) {
                if p.modify_index == seen.modify_index && p.value == seen.value {
                    p.value = seen.value.clone();
                }
            }
            if let Some(e) = c.entry.as_mut() {
                if let Some(l) = live
                    .get(&c.key)
                    .filter(|l| l.modify_index == e.modify_index && l.value == e.value)
                {
                    e.value = l.value.clone();
                }
                last.insert(c.key.clone(), e.clone());
            } else {
                last.remove(&c.key);
            }
        }
    }

    /// The oldest index from which every change is still kept.
    pub fn oldest_index(&self) -> u64 {
        self.complete_from
    }

    /// Number of changes kept.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// `true` when no change is kept.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Every kept change at index `from` or later whose key starts with
    /// `prefix`, oldest first, at most `max` of them.
    ///
    /// # Errors
    /// `Compacted` when changes at or after `from` have been dropped.
    pub fn since(&self, prefix: &str, from: u64, max: usize) -> Result<Vec<&Change>, HistoryError> {
        if from < self.complete_from {
            return Err(HistoryError::Compacted {
                requested: from,
                oldest: self.complete_from,
            });
        }
        let start = self.changes.partition_point(|c| c.index < from);
        Ok(self
            .changes
            .range(start..)
            .filter(|c| c.key.starts_with(prefix))
            .take(max)
            .collect())
    }

    /// The kept changes of exactly `key`, newest first, at most `max`.
    pub fn of_key(&self, key: &str, max: usize) -> Vec<&Change> {
        self.changes
            .iter()
            .rev()
            .filter(|c| c.key == key)
            .take(max)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 12 (found by fuzzing a snapshot): a change at the largest
    /// index, as a crafted snapshot can hold, falls out of the history
    /// without overflowing `complete_from`.
    #[test]
    fn issue_12_a_change_at_the_last_index_is_trimmed_without_overflow() {
        let mut h = History::new(1);
        for index in [u64::MAX, 1] {
            h.push(Change {
                index,
                key: "a".into(),
                entry: None,
                prev: None,
            });
        }
        assert_eq!(h.oldest_index(), u64::MAX);
        assert_eq!(h.set_limit(1).len(), 0);
    }
}

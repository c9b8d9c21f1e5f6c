//! The KV table: entries, tombstones of deleted keys, and the last index that
//! touched any key under a prefix (what a blocking query waits on).
//! Never performs I/O and never reads a clock.

use bytes::Bytes;
use praetor_api::KvPair;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::ops::Bound;

use crate::history::Change;
use crate::session_index::HeldKeys;

/// One stored key. The value is shared (not copied) between the command
/// that wrote it, the live entry and the history records that mention it
/// (encoded by `crate::value` as the `Arc<[u8]>` it replaced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(with = "crate::value")]
    pub value: Bytes,
    pub flags: u64,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
    pub session: Option<String>,
}

impl Entry {
    /// The wire form of this entry under `key`.
    pub fn to_pair(&self, key: &str) -> KvPair {
        let mut pair = KvPair::new(
            key,
            &self.value,
            self.flags,
            self.create_index,
            self.modify_index,
            self.lock_index,
        );
        pair.session = self.session.clone();
        pair
    }
}

/// What a transaction changed in the KV table, to put back if it fails.
#[derive(Debug, Default)]
pub(crate) struct Undo {
    saved: Vec<(String, Option<Entry>, Option<u64>)>,
    seen: std::collections::HashSet<String>,
    table_index: Option<u64>,
}

/// The KV table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "KvTableWire")]
pub struct KvTable {
    entries: BTreeMap<String, Entry>,
    /// Index of the delete of each key deleted since its delete left the history.
    tombstones: BTreeMap<String, u64>,
    /// The highest index of a tombstone that was reaped: indexes of queries
    /// never go below it, so they do not go backwards when a tombstone goes.
    reaped_index: u64,
    /// The last index that changed the table at all.
    table_index: u64,
    /// The keys each session holds: derived from `entries` (kept by
    /// `insert_entry` and `remove_entry`, the only writers of `entries`),
    /// never encoded, rebuilt on decode (`KvTableWire`).
    #[serde(skip)]
    held: HeldKeys,
}

/// The encoded fields of `KvTable`, in its order: what a snapshot holds.
/// Decoding goes through it so the derived index is rebuilt.
#[derive(Deserialize)]
struct KvTableWire {
    entries: BTreeMap<String, Entry>,
    tombstones: BTreeMap<String, u64>,
    reaped_index: u64,
    table_index: u64,
}

impl From<KvTableWire> for KvTable {
    fn from(w: KvTableWire) -> Self {
        let held = HeldKeys::rebuild(
            w.entries
                .iter()
                .map(|(k, e)| (k.as_str(), e.session.as_deref())),
        );
        KvTable {
            entries: w.entries,
            tombstones: w.tombstones,
            reaped_index: w.reaped_index,
            table_index: w.table_index,
            held,
        }
    }
}

/// Iterates the `(key, value)` pairs of `map` whose key starts with `prefix`.
fn range_prefix<'a, V>(
    map: &'a BTreeMap<String, V>,
    prefix: &'a str,
) -> impl Iterator<Item = (&'a String, &'a V)> + 'a {
    map.range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
        .take_while(move |(k, _)| k.starts_with(prefix))
}

impl KvTable {
    /// The entry at `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub fn list<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Entry)> + 'a {
        range_prefix(&self.entries, prefix)
    }

    /// Keys under `prefix`; with a separator, keys that have it after the prefix
    /// are cut just after its first occurrence and listed once, as Consul's
    /// `?keys&separator=`.
    pub fn keys(&self, prefix: &str, separator: Option<&str>) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (key, _) in self.list(prefix) {
            let cut = match separator.filter(|s| !s.is_empty()) {
                Some(sep) => match key[prefix.len()..].find(sep) {
                    Some(pos) => &key[..prefix.len() + pos + sep.len()],
                    None => key.as_str(),
                },
                None => key.as_str(),
            };
            if out.last().map(String::as_str) != Some(cut) {
                out.push(cut.to_owned());
            }
        }
        out
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// `true` when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The index a read of exactly `key` reports and blocks on: the last change
    /// to that key (its write or its delete), never below 1.
    pub fn key_index(&self, key: &str) -> u64 {
        let own = match self.entries.get(key) {
            Some(e) => e.modify_index,
            None => self.tombstones.get(key).copied().unwrap_or(0),
        };
        own.max(self.reaped_index).max(1)
    }

    /// The index a read of everything under `prefix` reports and blocks on:
    /// the last write or delete of any key under it, never below 1.
    pub fn prefix_index(&self, prefix: &str) -> u64 {
        if prefix.is_empty() {
            return self.table_index.max(1);
        }
        let live = self
            .list(prefix)
            .map(|(_, e)| e.modify_index)
            .max()
            .unwrap_or(0);
        let dead = range_prefix(&self.tombstones, prefix)
            .map(|(_, i)| *i)
            .max()
            .unwrap_or(0);
        live.max(dead).max(self.reaped_index).max(1)
    }

    /// The last index that changed any key.
    pub fn table_index(&self) -> u64 {
        self.table_index.max(1)
    }

    pub(crate) fn set(
        &mut self,
        index: u64,
        key: &str,
        value: &Bytes,
        flags: u64,
        cas: Option<u64>,
    ) -> Option<Vec<Change>> {
        let prev = self.entries.get(key).cloned();
        if let Some(cas) = cas {
            let current = prev.as_ref().map_or(0, |e| e.modify_index);
            if current != cas {
                return None;
            }
        }
        let entry = Entry {
            value: value.clone(),
            flags,
            create_index: prev.as_ref().map_or(index, |e| e.create_index),
            modify_index: index,
            lock_index: prev.as_ref().map_or(0, |e| e.lock_index),
            session: prev.as_ref().and_then(|e| e.session.clone()),
        };
        self.insert_entry(key, entry.clone());
        self.tombstones.remove(key);
        self.table_index = index;
        Some(vec![Change {
            index,
            key: key.to_owned(),
            entry: Some(entry),
            prev,
        }])
    }

    pub(crate) fn delete(
        &mut self,
        index: u64,
        key: &str,
        cas: Option<u64>,
    ) -> Option<Vec<Change>> {
        if let Some(cas) = cas {
            let current = self.entries.get(key).map_or(0, |e| e.modify_index);
            // Consul: a cas delete of a missing key with cas=0 succeeds.
            if current != cas && !(cas == 0 && current == 0) {
                return None;
            }
        }
        match self.remove_entry(key) {
            Some(prev) => {
                self.tombstones.insert(key.to_owned(), index);
                self.table_index = index;
                Some(vec![Change {
                    index,
                    key: key.to_owned(),
                    entry: None,
                    prev: Some(prev),
                }])
            }
            None => Some(Vec::new()),
        }
    }

    pub(crate) fn delete_tree(&mut self, index: u64, prefix: &str) -> Vec<Change> {
        let keys: Vec<String> = self.list(prefix).map(|(k, _)| k.clone()).collect();
        let mut changes = Vec::with_capacity(keys.len());
        for key in keys {
            if let Some(prev) = self.remove_entry(&key) {
                self.tombstones.insert(key.clone(), index);
                changes.push(Change {
                    index,
                    key,
                    entry: None,
                    prev: Some(prev),
                });
            }
        }
        if !changes.is_empty() {
            self.table_index = index;
        }
        changes
    }

    /// Acquires `key` for `session` and writes the value, as Consul's
    /// `?acquire=`: a key held by another session is refused (`None`); a
    /// key already held by `session` keeps its LockIndex, otherwise the
    /// LockIndex grows by one. Whether the session exists and whether a
    /// lock-delay applies is the caller's to check.
    pub(crate) fn lock(
        &mut self,
        index: u64,
        key: &str,
        value: &Bytes,
        flags: u64,
        session: &str,
    ) -> Option<Vec<Change>> {
        let prev = self.entries.get(key).cloned();
        let lock_index = match prev.as_ref() {
            Some(e) if e.session.as_deref() == Some(session) => e.lock_index,
            Some(e) if e.session.is_some() => return None,
            Some(e) => e.lock_index + 1,
            None => 1,
        };
        Some(self.put(index, key, prev, value, flags, lock_index, Some(session)))
    }

    /// Releases `key` held by `session` and writes the value, as Consul's
    /// `?release=`; `None` when `session` does not hold it.
    pub(crate) fn unlock(
        &mut self,
        index: u64,
        key: &str,
        value: &Bytes,
        flags: u64,
        session: &str,
    ) -> Option<Vec<Change>> {
        let prev = self.entries.get(key).cloned()?;
        if prev.session.as_deref() != Some(session) {
            return None;
        }
        let lock_index = prev.lock_index;
        Some(self.put(index, key, Some(prev), value, flags, lock_index, None))
    }

    /// Clears the lock on `key` and keeps its value (an invalidated
    /// session with `Behavior` release).
    pub(crate) fn release(&mut self, index: u64, key: &str) -> Vec<Change> {
        let Some(prev) = self.entries.get(key).cloned() else {
            return Vec::new();
        };
        let (value, flags, lock_index) = (prev.value.clone(), prev.flags, prev.lock_index);
        self.put(index, key, Some(prev), &value, flags, lock_index, None)
    }

    /// The keys `session` holds, in key order (through the index).
    pub fn held_by(&self, session: &str) -> Vec<String> {
        self.held.of(session)
    }

    /// The keys `session` holds, found by scanning every key: the test
    /// oracle for `held_by`.
    #[cfg(test)]
    pub(crate) fn held_by_scan(&self, session: &str) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(_, e)| e.session.as_deref() == Some(session))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Whether the held-keys index equals one rebuilt from scratch.
    #[cfg(test)]
    pub(crate) fn held_is_consistent(&self) -> bool {
        let rebuilt = HeldKeys::rebuild(
            self.entries
                .iter()
                .map(|(k, e)| (k.as_str(), e.session.as_deref())),
        );
        self.held == rebuilt
    }

    /// Writes `entry` at `key`, keeping the held-keys index in step: with
    /// `remove_entry`, the only writer of `entries`.
    fn insert_entry(&mut self, key: &str, entry: Entry) -> Option<Entry> {
        let new = entry.session.clone();
        let prev = self.entries.insert(key.to_owned(), entry);
        let old = prev.as_ref().and_then(|e| e.session.as_deref());
        self.held.update(key, old, new.as_deref());
        prev
    }

    /// Removes the entry at `key`, keeping the held-keys index in step.
    fn remove_entry(&mut self, key: &str) -> Option<Entry> {
        let prev = self.entries.remove(key)?;
        self.held.update(key, prev.session.as_deref(), None);
        Some(prev)
    }

    #[allow(clippy::too_many_arguments)]
    fn put(
        &mut self,
        index: u64,
        key: &str,
        prev: Option<Entry>,
        value: &Bytes,
        flags: u64,
        lock_index: u64,
        session: Option<&str>,
    ) -> Vec<Change> {
        let entry = Entry {
            value: value.clone(),
            flags,
            create_index: prev.as_ref().map_or(index, |e| e.create_index),
            modify_index: index,
            lock_index,
            session: session.map(str::to_owned),
        };
        self.insert_entry(key, entry.clone());
        self.tombstones.remove(key);
        self.table_index = index;
        vec![Change {
            index,
            key: key.to_owned(),
            entry: Some(entry),
            prev,
        }]
    }

    /// Remembers how `key` is now, so `rollback` can put it back.
    pub(crate) fn save(&self, undo: &mut Undo, key: &str) {
        if undo.table_index.is_none() {
            undo.table_index = Some(self.table_index);
        }
        if undo.seen.insert(key.to_owned()) {
            undo.saved.push((
                key.to_owned(),
                self.entries.get(key).cloned(),
                self.tombstones.get(key).copied(),
            ));
        }
    }

    /// Remembers every key under `prefix` (before a delete-tree).
    pub(crate) fn save_prefix(&self, undo: &mut Undo, prefix: &str) {
        let keys: Vec<String> = self.list(prefix).map(|(k, _)| k.clone()).collect();
        for k in keys {
            self.save(undo, &k);
        }
        if undo.table_index.is_none() {
            undo.table_index = Some(self.table_index);
        }
    }

    /// Puts back every key saved in `undo` (a failed transaction).
    pub(crate) fn rollback(&mut self, undo: Undo) {
        for (key, entry, tomb) in undo.saved.into_iter().rev() {
            match entry {
                Some(e) => self.insert_entry(&key, e),
                None => self.remove_entry(&key),
            };
            match tomb {
                Some(i) => self.tombstones.insert(key, i),
                None => self.tombstones.remove(&key),
            };
        }
        if let Some(i) = undo.table_index {
            self.table_index = i;
        }
    }

    // Read access for the derived prefix indexes (`topics.rs`).

    /// The live entries, by key.
    pub(crate) fn entries(&self) -> &BTreeMap<String, Entry> {
        &self.entries
    }

    /// The tombstones (index of each kept delete), by key.
    pub(crate) fn tombstones(&self) -> &BTreeMap<String, u64> {
        &self.tombstones
    }

    /// The highest index of a reaped tombstone.
    pub(crate) fn reaped_index(&self) -> u64 {
        self.reaped_index
    }

    /// The last index that changed any key (0: none).
    pub(crate) fn raw_table_index(&self) -> u64 {
        self.table_index
    }

    /// Whether `key` is live or has a tombstone.
    pub(crate) fn holds(&self, key: &str) -> bool {
        self.entries.contains_key(key) || self.tombstones.contains_key(key)
    }

    /// Whether any live key or tombstone starts with `prefix`.
    pub(crate) fn any_under(&self, prefix: &str) -> bool {
        self.list(prefix).next().is_some()
            || range_prefix(&self.tombstones, prefix).next().is_some()
    }

    /// Drops the tombstones of deletes that left the history.
    pub(crate) fn reap(&mut self, evicted: &[Change]) {
        for change in evicted.iter().filter(|c| c.entry.is_none()) {
            if self.tombstones.get(&change.key) == Some(&change.index) {
                self.tombstones.remove(&change.key);
                self.reaped_index = self.reaped_index.max(change.index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(t: &mut KvTable, i: u64, k: &str) {
        t.set(i, k, &Bytes::from_static(b"v"), 0, None).unwrap();
    }

    #[test]
    fn keys_with_separator_collapse_folders() {
        let mut t = KvTable::default();
        for (i, k) in ["a/b", "a/c/d", "a/c/e", "a/f/", "b"].iter().enumerate() {
            set(&mut t, i as u64 + 1, k);
        }
        assert_eq!(t.keys("a/", Some("/")), vec!["a/b", "a/c/", "a/f/"]);
        assert_eq!(t.keys("", Some("/")), vec!["a/", "b"]);
        assert_eq!(t.keys("a/", None), vec!["a/b", "a/c/d", "a/c/e", "a/f/"]);
    }

    #[test]
    fn prefix_index_moves_on_delete_under_prefix_only() {
        let mut t = KvTable::default();
        set(&mut t, 5, "app/a");
        set(&mut t, 6, "other/x");
        assert_eq!(t.prefix_index("app/"), 5);
        t.delete(7, "app/a", None).unwrap();
        assert_eq!(t.prefix_index("app/"), 7);
        assert_eq!(t.prefix_index("other/"), 6);
        assert_eq!(t.key_index("app/a"), 7);
        assert_eq!(t.key_index("never"), 1);
    }

    #[test]
    fn cas_put_with_stale_index_changes_nothing() {
        let mut t = KvTable::default();
        assert!(t
            .set(3, "k", &Bytes::from_static(b"1"), 0, Some(0))
            .is_some());
        assert!(t
            .set(4, "k", &Bytes::from_static(b"2"), 0, Some(0))
            .is_none());
        assert!(t
            .set(5, "k", &Bytes::from_static(b"2"), 0, Some(2))
            .is_none());
        assert_eq!(&*t.get("k").unwrap().value, b"1");
        assert!(t
            .set(6, "k", &Bytes::from_static(b"3"), 0, Some(3))
            .is_some());
        let e = t.get("k").unwrap();
        assert_eq!(
            (e.create_index, e.modify_index, &*e.value),
            (3, 6, &b"3"[..])
        );
    }

    #[test]
    fn cas_delete_needs_current_index() {
        let mut t = KvTable::default();
        set(&mut t, 3, "k");
        assert!(t.delete(4, "k", Some(2)).is_none());
        assert!(t.get("k").is_some());
        assert!(t.delete(5, "k", Some(3)).is_some());
        assert!(t.get("k").is_none());
    }
}

//! The sessions table: Consul's sessions with their node and checks, the
//! index of the last change, and the lock-delays left behind by invalidated
//! sessions. Validity is a function of the catalog (the session's node and
//! checks exist and none is critical), checked inside `apply`, so every
//! server invalidates the same sessions at the same index. TTL expiry is
//! decided by the leader and arrives as a command. Never reads a clock: the
//! lock-delay deadlines are in the leader's time stamped on each log entry.

use std::collections::BTreeMap;

use praetor_api::catalog::check_status;
use praetor_api::session::SessionEntry;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;

/// One stored session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub entry: SessionEntry,
    /// The index of its creation or last renewal: the leader restarts its
    /// TTL timer when this moves, and an expiry proposed before a renewal
    /// is ignored.
    pub renewed: u64,
}

/// Every session, by ID.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sessions {
    by_id: BTreeMap<String, Session>,
    /// The last index that created or destroyed a session.
    table_index: u64,
    /// Key → leader time (ms since the epoch) before which it may not be
    /// acquired, set when a session holding it was invalidated.
    lock_delays: BTreeMap<String, u64>,
}

impl Sessions {
    /// Every session, by ID, and the table's index.
    pub fn list(&self) -> (u64, Vec<SessionEntry>) {
        (
            self.table_index.max(1),
            self.by_id.values().map(|s| s.entry.clone()).collect(),
        )
    }

    /// The sessions of `node`, and the table's index.
    pub fn of_node(&self, node: &str) -> (u64, Vec<SessionEntry>) {
        (
            self.table_index.max(1),
            self.by_id
                .values()
                .filter(|s| s.entry.node == node)
                .map(|s| s.entry.clone())
                .collect(),
        )
    }

    /// One session, if it exists.
    pub fn get(&self, id: &str) -> Option<&Session> {
        self.by_id.get(id)
    }

    /// Every stored session, for the leader's TTL timers.
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.by_id.values()
    }

    /// The table's index.
    pub fn table_index(&self) -> u64 {
        self.table_index.max(1)
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// `true` when there is no session.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The leader time (ms) before which `key` may not be acquired, if a
    /// lock-delay is pending on it.
    pub fn lock_delay(&self, key: &str) -> Option<u64> {
        self.lock_delays.get(key).copied()
    }

    /// Creates a session as Consul's state store does: its node must exist
    /// and each of its checks must exist on that node and not be critical.
    ///
    /// # Errors
    /// A one-line reason; nothing changed.
    pub(crate) fn create(
        &mut self,
        index: u64,
        entry: &SessionEntry,
        catalog: &Catalog,
    ) -> Result<(), String> {
        if entry.id.is_empty() {
            return Err("Missing session ID".into());
        }
        if self.by_id.contains_key(&entry.id) {
            return Err(format!("Session {:?} already exists", entry.id));
        }
        if catalog.node(&entry.node).1.is_none() {
            return Err(format!(
                "Missing node registration: node {:?} is not in the catalog",
                entry.node
            ));
        }
        let (_, checks) = catalog.node_checks(&entry.node);
        for id in entry.check_ids() {
            match checks.iter().find(|c| c.check_id == id) {
                None => return Err(format!("Missing check '{id}' registration")),
                Some(c) if c.status == check_status::CRITICAL => {
                    return Err(format!("Check '{id}' is in critical state"))
                }
                Some(_) => {}
            }
        }
        let mut entry = entry.clone();
        entry.create_index = index;
        entry.modify_index = index;
        self.by_id.insert(
            entry.id.clone(),
            Session {
                entry,
                renewed: index,
            },
        );
        self.table_index = index;
        Ok(())
    }

    /// Records a renewal; `false` when the session does not exist.
    pub(crate) fn renew(&mut self, index: u64, id: &str) -> bool {
        match self.by_id.get_mut(id) {
            Some(s) => {
                s.renewed = index;
                true
            }
            None => false,
        }
    }

    /// Removes a session and returns it.
    pub(crate) fn remove(&mut self, index: u64, id: &str) -> Option<Session> {
        let s = self.by_id.remove(id)?;
        self.table_index = index;
        Some(s)
    }

    /// The IDs of the sessions the catalog no longer supports: their node is
    /// gone, or one of their checks is gone or critical.
    pub(crate) fn invalid(&self, catalog: &Catalog) -> Vec<String> {
        self.by_id
            .values()
            .filter(|s| !supported(&s.entry, catalog))
            .map(|s| s.entry.id.clone())
            .collect()
    }

    /// Forbids acquiring `key` before `until_ms` (leader time).
    pub(crate) fn delay_key(&mut self, key: &str, until_ms: u64) {
        self.lock_delays.insert(key.to_owned(), until_ms);
    }

    /// Drops the lock-delays that ended before `now_ms`.
    pub(crate) fn prune_delays(&mut self, now_ms: u64) {
        self.lock_delays.retain(|_, until| *until > now_ms);
    }
}

fn supported(s: &SessionEntry, catalog: &Catalog) -> bool {
    if catalog.node(&s.node).1.is_none() {
        return false;
    }
    let mut ids = s.check_ids().peekable();
    if ids.peek().is_none() {
        return true;
    }
    let (_, checks) = catalog.node_checks(&s.node);
    ids.all(|id| {
        checks
            .iter()
            .any(|c| c.check_id == id && c.status != check_status::CRITICAL)
    })
}

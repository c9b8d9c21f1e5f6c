//! The sessions table: Consul's sessions with their node and checks, the
//! index of the last change, and the lock-delays left behind by invalidated
//! sessions. Validity is a function of the catalog (the session's node and
//! checks exist and none is critical), checked inside `apply`, so every
//! server invalidates the same sessions at the same index. TTL expiry is
//! decided by the leader and arrives as a command. Never reads a clock: a
//! lock-delay is a window in the leader's time stamped on log entries
//! (`LockDelay`), and all its arithmetic saturates.

use std::collections::{BTreeMap, BTreeSet};

use praetor_api::catalog::check_status;
use praetor_api::session::SessionEntry;
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::model::SessionRecord;
use crate::session_index::{DelayEnds, SessionIndex};

/// Consul's `MaxLockDelay`: the longest lock-delay a session may leave,
/// in ms. The HTTP API clamps to it; the store clamps again, so a session
/// that arrives by another path cannot hold keys for longer.
pub const MAX_LOCK_DELAY_MS: u64 = 60_000;

/// The lock-delay an invalidated session left on a key: an acquire is
/// refused while its entry's stamp is within `delay_ms` of `at_ms`, the
/// stamp of the entry that invalidated the session, in either direction.
///
/// Measuring from both sides bounds the delay whatever the leaders' clocks
/// do: an acquire stamped more than `delay_ms` away from the invalidation
/// is never refused, so a clock that jumps ahead and comes back cannot
/// stretch a delay, and one that lags by up to `delay_ms` stretches it to
/// at most 2 × `delay_ms` of real time. A clock that goes back by more than
/// the delay shortens it (Consul's in-memory lock-delay is lost on a leader
/// change altogether).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockDelay {
    /// The leader's time (ms since the epoch) stamped on the invalidating entry.
    pub at_ms: u64,
    /// The session's lock-delay, in ms (at most `MAX_LOCK_DELAY_MS`).
    pub delay_ms: u64,
}

impl LockDelay {
    /// The leader time from which an acquire is allowed again, on a clock
    /// that only moves forward.
    pub fn until_ms(&self) -> u64 {
        self.at_ms.saturating_add(self.delay_ms)
    }

    /// `true` when an acquire stamped `now_ms` must be refused.
    pub fn blocks(&self, now_ms: u64) -> bool {
        now_ms.abs_diff(self.at_ms) < self.delay_ms
    }

    /// The leader time at which the delay is over and can be forgotten
    /// (`ended` from then on); `None` when that is past `u64::MAX`, so it
    /// never is.
    pub(crate) fn end_ms(&self) -> Option<u64> {
        self.at_ms.checked_add(self.delay_ms)
    }

    /// `true` when `now_ms` is past the window's end, so the delay is over
    /// on a clock that moves forward and can be forgotten.
    #[cfg(test)]
    fn ended(&self, now_ms: u64) -> bool {
        now_ms
            .checked_sub(self.at_ms)
            .is_some_and(|elapsed| elapsed >= self.delay_ms)
    }
}

/// One stored session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub entry: SessionRecord,
    /// The index of its creation or last renewal: the leader restarts its
    /// TTL timer when this moves, and an expiry proposed before a renewal
    /// is ignored.
    pub renewed: u64,
}

/// Every session, by ID.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "SessionsWire")]
pub struct Sessions {
    by_id: BTreeMap<String, Session>,
    /// The last index that created or destroyed a session.
    table_index: u64,
    /// Key → the lock-delay left on it when a session holding it was
    /// invalidated; forgotten once an acquire or an invalidation is stamped
    /// past its end.
    lock_delays: BTreeMap<String, LockDelay>,
    /// The sessions by node and by check: derived from `by_id`, never
    /// encoded, rebuilt on decode (`SessionsWire`).
    #[serde(skip)]
    index: SessionIndex,
    /// The lock-delays by the time they end: derived from `lock_delays`,
    /// never encoded, rebuilt on decode.
    #[serde(skip)]
    delay_ends: DelayEnds,
}

/// The encoded fields of `Sessions`, in its order: what a snapshot holds.
/// Decoding goes through it so the derived index is rebuilt.
#[derive(Deserialize)]
struct SessionsWire {
    by_id: BTreeMap<String, Session>,
    table_index: u64,
    lock_delays: BTreeMap<String, LockDelay>,
}

impl From<SessionsWire> for Sessions {
    fn from(w: SessionsWire) -> Self {
        Sessions::with_index(w.by_id, w.table_index, w.lock_delays)
    }
}

/// The sessions table as snapshot format 3 held it: each lock-delay as the
/// leader time it ends at, on a clock that never went back.
#[derive(Deserialize)]
pub(crate) struct SessionsV3 {
    by_id: BTreeMap<String, Session>,
    table_index: u64,
    lock_delays: BTreeMap<String, u64>,
}

impl SessionsV3 {
    /// The same sessions, with each lock-delay still pending at `clock_ms`
    /// (the format-3 store clock) as a window around `clock_ms` that ends
    /// when the old deadline did, at most `MAX_LOCK_DELAY_MS` away.
    pub(crate) fn upgrade(self, clock_ms: u64) -> Sessions {
        let lock_delays = self
            .lock_delays
            .into_iter()
            .filter(|(_, until)| *until > clock_ms)
            .map(|(key, until)| {
                let delay = LockDelay {
                    at_ms: clock_ms,
                    delay_ms: (until - clock_ms).min(MAX_LOCK_DELAY_MS),
                };
                (key, delay)
            })
            .collect();
        Sessions::with_index(self.by_id, self.table_index, lock_delays)
    }
}

impl Sessions {
    /// The table of these fields, with its index built from scratch.
    fn with_index(
        by_id: BTreeMap<String, Session>,
        table_index: u64,
        lock_delays: BTreeMap<String, LockDelay>,
    ) -> Self {
        let index = SessionIndex::rebuild(by_id.values().map(|s| &s.entry));
        let delay_ends = DelayEnds::rebuild(&lock_delays);
        Sessions {
            by_id,
            table_index,
            lock_delays,
            index,
            delay_ends,
        }
    }

    /// Every session, by ID, and the table's index.
    pub fn list(&self) -> (u64, Vec<SessionEntry>) {
        (
            self.table_index.max(1),
            self.by_id
                .values()
                .map(|s| s.entry.clone().into())
                .collect(),
        )
    }

    /// The sessions of `node`, and the table's index.
    pub fn of_node(&self, node: &str) -> (u64, Vec<SessionEntry>) {
        (
            self.table_index.max(1),
            self.index
                .of_node(node)
                .filter_map(|id| self.by_id.get(id))
                .map(|s| s.entry.clone().into())
                .collect(),
        )
    }

    /// One session, if it exists.
    pub fn get(&self, id: &str) -> Option<&Session> {
        self.by_id.get(id)
    }

    /// One session as the API shows it (`/v1/session/info/<id>`).
    pub fn info(&self, id: &str) -> Option<SessionEntry> {
        self.by_id.get(id).map(|s| s.entry.clone().into())
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

    /// The lock-delay left on `key`, if one is still recorded.
    pub fn lock_delay(&self, key: &str) -> Option<LockDelay> {
        self.lock_delays.get(key).copied()
    }

    /// Number of lock-delays recorded.
    pub fn lock_delays(&self) -> usize {
        self.lock_delays.len()
    }

    /// Creates a session as Consul's state store does: its node must exist
    /// and each of its checks must exist on that node and not be critical.
    ///
    /// # Errors
    /// A one-line reason; nothing changed.
    pub(crate) fn create(
        &mut self,
        index: u64,
        entry: &SessionRecord,
        catalog: &Catalog,
    ) -> Result<(), String> {
        if entry.id.is_empty() {
            return Err("Missing session ID".into());
        }
        if self.by_id.contains_key(&entry.id) {
            return Err(format!("Session {:?} already exists", entry.id));
        }
        if !catalog.has_node(&entry.node) {
            return Err(format!(
                "Missing node registration: node {:?} is not in the catalog",
                entry.node
            ));
        }
        for id in entry.check_ids() {
            match catalog.checks_of(&entry.node).find(|c| c.check_id == id) {
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
        self.index.insert(&entry);
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
        self.index.remove(&s.entry);
        self.table_index = index;
        Some(s)
    }

    /// The IDs of the sessions of `node` the catalog no longer supports:
    /// the node is gone, or one of their checks is gone or critical; in ID
    /// order. Found through the index: other nodes' sessions are not looked at.
    pub(crate) fn unsupported_on(&self, node: &str, catalog: &Catalog) -> BTreeSet<String> {
        self.index.unsupported(node, catalog)
    }

    /// The IDs of every session the catalog no longer supports, found by
    /// scanning every session: the test oracle for `unsupported_on`.
    #[cfg(test)]
    pub(crate) fn invalid_by_scan(&self, catalog: &Catalog) -> Vec<String> {
        self.by_id
            .values()
            .filter(|s| !supported(&s.entry, catalog))
            .map(|s| s.entry.id.clone())
            .collect()
    }

    /// Whether the derived index equals one rebuilt from scratch.
    #[cfg(test)]
    pub(crate) fn index_is_consistent(&self) -> bool {
        self.index == SessionIndex::rebuild(self.by_id.values().map(|s| &s.entry))
            && self.delay_ends == DelayEnds::rebuild(&self.lock_delays)
    }

    /// Leaves a lock-delay of `delay_ms` (clamped to `MAX_LOCK_DELAY_MS`)
    /// on `key`, measured from `at_ms` (leader time); 0 leaves none.
    pub(crate) fn delay_key(&mut self, key: &str, at_ms: u64, delay_ms: u64) {
        let delay_ms = delay_ms.min(MAX_LOCK_DELAY_MS);
        if delay_ms > 0 {
            let delay = LockDelay { at_ms, delay_ms };
            if let Some(old) = self.lock_delays.insert(key.to_owned(), delay) {
                self.delay_ends.remove(key, &old);
            }
            self.delay_ends.insert(key, &delay);
        }
    }

    /// Forgets the lock-delays that are over at `now_ms`, found by the
    /// time they end: the cost follows the delays forgotten, not those kept.
    pub(crate) fn prune_delays(&mut self, now_ms: u64) {
        #[cfg(test)]
        if crate::session_index::oracle::scanning() {
            self.lock_delays.retain(|_, d| !d.ended(now_ms));
            self.delay_ends = DelayEnds::rebuild(&self.lock_delays);
            return;
        }
        for key in self.delay_ends.take_due(now_ms) {
            self.lock_delays.remove(&key);
        }
    }
}

#[cfg(test)]
fn supported(s: &SessionRecord, catalog: &Catalog) -> bool {
    if !catalog.has_node(&s.node) {
        return false;
    }
    s.check_ids().all(|id| {
        catalog
            .checks_of(&s.node)
            .any(|c| c.check_id == id && c.status != check_status::CRITICAL)
    })
}

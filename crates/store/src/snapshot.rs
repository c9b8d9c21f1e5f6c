//! Snapshot encoding of the whole store, history included, so a watcher can
//! resume across a snapshot install or a restart.

use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

/// Version 4: lock-delays are windows around the invalidating entry's
/// stamp (`session::LockDelay`) instead of deadlines on a clock that never
/// went back (version 3).
const FORMAT_VERSION: u32 = 4;

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    version: u32,
    store: T,
}

impl Store {
    /// Encodes the whole store.
    ///
    /// # Errors
    /// Only if serialization fails, which a well-formed store never does.
    pub fn encode_snapshot(&self) -> Result<Vec<u8>, StoreError> {
        postcard::to_stdvec(&Envelope {
            version: FORMAT_VERSION,
            store: self,
        })
        .map_err(StoreError::SnapshotEncode)
    }

    /// Encodes the replicated tables without the history (what a snapshot
    /// restore takes; the history restarts at the restore). Decodes with
    /// `decode_snapshot` into a store with an empty history.
    ///
    /// # Errors
    /// As `encode_snapshot`.
    pub fn encode_state(&self) -> Result<Vec<u8>, StoreError> {
        // The same fields in the same order as `Store`, so the encoding is
        // the same as a store whose history is empty.
        #[derive(Serialize)]
        struct View<'a> {
            kv: &'a crate::kv::KvTable,
            catalog: &'a crate::catalog::Catalog,
            events: &'a crate::events::Events,
            history: &'a crate::History,
            last_index: u64,
            restored_at: u64,
            sessions: &'a crate::session::Sessions,
            clock_ms: u64,
        }
        let empty = crate::History::new(self.history.limit());
        postcard::to_stdvec(&Envelope {
            version: FORMAT_VERSION,
            store: View {
                kv: &self.kv,
                catalog: &self.catalog,
                events: &self.events,
                history: &empty,
                last_index: self.last_index,
                restored_at: self.restored_at,
                sessions: &self.sessions,
                clock_ms: self.clock_ms,
            },
        })
        .map_err(StoreError::SnapshotEncode)
    }

    /// Decodes a store written by `encode_snapshot`.
    ///
    /// # Errors
    /// When the bytes are not a snapshot of this format.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<Store, StoreError> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        /// Version 2: the same tables before sessions and the leader's
        /// clock were added (at the end), so a data dir written by an
        /// earlier build still loads.
        #[derive(Deserialize)]
        struct StoreV2 {
            kv: crate::kv::KvTable,
            catalog: crate::catalog::Catalog,
            events: crate::events::Events,
            history: crate::History,
            last_index: u64,
            restored_at: u64,
        }
        /// Version 3: lock-delays as deadlines (`session::SessionsV3`).
        #[derive(Deserialize)]
        struct StoreV3 {
            kv: crate::kv::KvTable,
            catalog: crate::catalog::Catalog,
            events: crate::events::Events,
            history: crate::History,
            last_index: u64,
            restored_at: u64,
            sessions: crate::session::SessionsV3,
            clock_ms: u64,
        }
        let v: Version = postcard::from_bytes(bytes).map_err(StoreError::SnapshotDecode)?;
        let mut store = match v.version {
            FORMAT_VERSION => {
                let env: Envelope<Store> =
                    postcard::from_bytes(bytes).map_err(StoreError::SnapshotDecode)?;
                env.store
            }
            3 => {
                let env: Envelope<StoreV3> =
                    postcard::from_bytes(bytes).map_err(StoreError::SnapshotDecode)?;
                let old = env.store;
                Store {
                    kv: old.kv,
                    catalog: old.catalog,
                    events: old.events,
                    history: old.history,
                    last_index: old.last_index,
                    restored_at: old.restored_at,
                    sessions: old.sessions.upgrade(old.clock_ms),
                    clock_ms: old.clock_ms,
                }
            }
            2 => {
                let env: Envelope<StoreV2> =
                    postcard::from_bytes(bytes).map_err(StoreError::SnapshotDecode)?;
                let old = env.store;
                Store {
                    kv: old.kv,
                    catalog: old.catalog,
                    events: old.events,
                    history: old.history,
                    last_index: old.last_index,
                    restored_at: old.restored_at,
                    sessions: crate::session::Sessions::default(),
                    clock_ms: 0,
                }
            }
            found => {
                return Err(StoreError::SnapshotVersion {
                    found,
                    expected: FORMAT_VERSION,
                })
            }
        };
        let Store { kv, history, .. } = &mut store;
        history.relink(kv);
        Ok(store)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::LockDelay;
    use std::collections::BTreeMap;

    /// A version-3 snapshot (lock-delays as deadlines) loads with each
    /// pending delay as a window ending at its old deadline, at most
    /// `MAX_LOCK_DELAY_MS` long; delays already over are dropped.
    #[test]
    fn a_version_3_snapshot_loads_with_its_pending_lock_delays() {
        #[derive(Serialize)]
        struct SessionsV3 {
            by_id: BTreeMap<String, crate::session::Session>,
            table_index: u64,
            lock_delays: BTreeMap<String, u64>,
        }
        #[derive(Serialize)]
        struct V3<'a> {
            kv: &'a crate::kv::KvTable,
            catalog: &'a crate::catalog::Catalog,
            events: &'a crate::events::Events,
            history: &'a crate::History,
            last_index: u64,
            restored_at: u64,
            sessions: SessionsV3,
            clock_ms: u64,
        }
        let store = Store::default();
        let clock = 1_000_000;
        let bytes = postcard::to_stdvec(&Envelope {
            version: 3,
            store: V3 {
                kv: &store.kv,
                catalog: &store.catalog,
                events: &store.events,
                history: &store.history,
                last_index: 9,
                restored_at: 0,
                sessions: SessionsV3 {
                    by_id: BTreeMap::new(),
                    table_index: 5,
                    lock_delays: BTreeMap::from([
                        ("pending".to_owned(), clock + 5_000),
                        ("over".to_owned(), clock),
                        ("a-day-ahead".to_owned(), clock + 86_400_000),
                    ]),
                },
                clock_ms: clock,
            },
        })
        .unwrap();
        let back = Store::decode_snapshot(&bytes).unwrap();
        assert_eq!((back.last_index, back.clock_ms), (9, clock));
        assert_eq!(
            back.sessions.lock_delay("pending"),
            Some(LockDelay {
                at_ms: clock,
                delay_ms: 5_000
            })
        );
        assert_eq!(back.sessions.lock_delay("over"), None);
        assert_eq!(
            back.sessions.lock_delay("a-day-ahead").map(|d| d.delay_ms),
            Some(crate::session::MAX_LOCK_DELAY_MS)
        );
        assert_eq!(back.sessions.table_index(), 5);
    }

    /// A version-2 snapshot (written before sessions existed) still loads,
    /// with no sessions.
    #[test]
    fn a_version_2_snapshot_still_loads() {
        #[derive(Serialize)]
        struct V2<'a> {
            kv: &'a crate::kv::KvTable,
            catalog: &'a crate::catalog::Catalog,
            events: &'a crate::events::Events,
            history: &'a crate::History,
            last_index: u64,
            restored_at: u64,
        }
        let mut store = Store::default();
        store.apply(
            7,
            &crate::Command::KvSet {
                key: "a/b".into(),
                value: b"v".to_vec(),
                flags: 3,
                cas: None,
            },
        );
        let bytes = postcard::to_stdvec(&Envelope {
            version: 2,
            store: V2 {
                kv: &store.kv,
                catalog: &store.catalog,
                events: &store.events,
                history: &store.history,
                last_index: store.last_index,
                restored_at: store.restored_at,
            },
        })
        .unwrap();
        let back = Store::decode_snapshot(&bytes).unwrap();
        assert_eq!(back.last_index, 7);
        assert_eq!(back.kv.get("a/b").map(|e| e.flags), Some(3));
        assert!(matches!(
            Store::decode_snapshot(
                &postcard::to_stdvec(&Envelope {
                    version: 1,
                    store: 0u8
                })
                .unwrap()
            ),
            Err(StoreError::SnapshotVersion { found: 1, .. })
        ));
    }
}

//! Snapshot encoding of the whole store, history included, so a watcher can
//! resume across a snapshot install or a restart; and decoding of every
//! format an earlier release wrote (2 to 8), upgraded to today's.
//!
//! A snapshot is postcard bytes of `Snapshot`: the format version, then the
//! store's own `Tables` struct, then the history, then a restore being
//! received in pieces (`restore.rs`). The store holds exactly those, so the
//! encoding cannot drift from the store: there is no second list of fields
//! to keep in step. Never performs I/O.

use serde::{Deserialize, Serialize};

use crate::restore::Staging;
use crate::{History, Store, StoreError, Tables};

/// Version 9: the store's `Tables` (with the prepared queries and the
/// nodes' network coordinates), its history, then the restore being
/// staged. Version 8 was the tables without the prepared queries and the
/// coordinates (`TablesV8`) and no staging (`SnapshotV8`);
/// version 7 had service records before their kind, tagged addresses,
/// proxy and locality (`catalog::CatalogV7`); version 6 no autopilot
/// configuration either, version 5 no ACL tables either; version 4 had
/// the history between the events and the indexes.
const FORMAT_VERSION: u32 = 9;

/// The encoding of a snapshot, for writing (`Snapshot<&Tables, &History,
/// &Staging>`) and for reading (`Snapshot<Tables, History, Staging>`)
/// alike: one definition, so both sides always agree.
#[derive(Serialize, Deserialize)]
struct Snapshot<T, H, R> {
    version: u32,
    tables: T,
    history: H,
    restore: R,
}

/// Formats 5 to 8: the version, the tables, the history.
#[derive(Deserialize)]
struct SnapshotV8<T> {
    #[allow(dead_code)]
    version: u32,
    tables: T,
    history: History,
}

/// How formats 2 to 4 began: the version, then the store's fields.
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
        self.encode_snapshot_to(Vec::new())
    }

    /// Encodes the replicated tables without the history (what a snapshot
    /// restore takes; the history restarts at the restore). Decodes with
    /// `decode_snapshot` into a store with an empty history.
    ///
    /// # Errors
    /// As `encode_snapshot`.
    pub fn encode_state(&self) -> Result<Vec<u8>, StoreError> {
        self.encode_state_to(Vec::new())
    }

    /// Encodes what `encode_state` does into `writer` (as
    /// `encode_snapshot_to`): the state `GET /v1/snapshot` saves, streamed.
    /// Leaves out the history and any restore being staged.
    ///
    /// # Errors
    /// As `encode_snapshot_to`.
    pub fn encode_state_to<W: std::io::Write>(&self, writer: W) -> Result<W, StoreError> {
        encode_to(
            &self.tables,
            &History::new(self.history.limit()),
            &Staging::default(),
            writer,
        )
    }

    /// Encodes the whole store into `writer`, the same bytes as
    /// `encode_snapshot`, without building them in one buffer (a snapshot
    /// of a million keys is hundreds of megabytes). Gives the writer back;
    /// the caller flushes it.
    ///
    /// # Errors
    /// When `writer` fails (postcard reports it as an encoding error).
    pub fn encode_snapshot_to<W: std::io::Write>(&self, writer: W) -> Result<W, StoreError> {
        encode_to(&self.tables, &self.history, &self.restore, writer)
    }

    /// Decodes a store written by `encode_snapshot`, or by an earlier
    /// release in format 2 to 8.
    ///
    /// # Errors
    /// When the bytes are not a snapshot of one of these formats.
    pub fn decode_snapshot(bytes: &[u8]) -> Result<Store, StoreError> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let v: Version = postcard::from_bytes(bytes).map_err(StoreError::SnapshotDecode)?;
        let mut store = match v.version {
            FORMAT_VERSION => {
                let s: Snapshot<Tables, History, Staging> =
                    postcard::from_bytes(bytes).map_err(StoreError::SnapshotDecode)?;
                Store {
                    tables: s.tables,
                    history: s.history,
                    derived: Default::default(),
                    restore: s.restore,
                }
            }
            8 => decode_tables::<TablesV8>(bytes, TablesV8::upgrade)?,
            7 => decode_tables::<TablesV7>(bytes, TablesV7::upgrade)?,
            6 => decode_tables::<TablesV6>(bytes, TablesV6::upgrade)?,
            5 => decode_tables::<TablesV5>(bytes, TablesV5::upgrade)?,
            4 => decode_old::<StoreV4>(bytes)?.upgrade(),
            3 => decode_old::<StoreV3>(bytes)?.upgrade(),
            2 => decode_old::<StoreV2>(bytes)?.upgrade(),
            found => {
                return Err(StoreError::SnapshotVersion {
                    found,
                    expected: FORMAT_VERSION,
                })
            }
        };
        let Store {
            tables,
            history,
            derived,
            restore: _,
        } = &mut store;
        history.relink(&tables.kv);
        tables.acl.relink();
        tables.catalog.reindex();
        *derived = crate::topics::Derived::rebuild(tables);
        Ok(store)
    }
}

/// Writes a snapshot of today's format into `writer`.
fn encode_to<W: std::io::Write>(
    tables: &Tables,
    history: &History,
    restore: &Staging,
    writer: W,
) -> Result<W, StoreError> {
    postcard::to_io(
        &Snapshot {
            version: FORMAT_VERSION,
            tables,
            history,
            restore,
        },
        writer,
    )
    .map_err(StoreError::SnapshotEncode)
}

/// A snapshot of formats 5 to 8 whose tables decode as `T`, brought to
/// today's tables by `upgrade` (its derived indexes are rebuilt by the
/// caller; no restore was staged in these formats).
fn decode_tables<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    upgrade: impl FnOnce(T) -> Tables,
) -> Result<Store, StoreError> {
    let s: SnapshotV8<T> = postcard::from_bytes(bytes).map_err(StoreError::SnapshotDecode)?;
    Ok(Store {
        tables: upgrade(s.tables),
        history: s.history,
        derived: Default::default(),
        restore: Default::default(),
    })
}

fn decode_old<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    let env: Envelope<T> = postcard::from_bytes(bytes).map_err(StoreError::SnapshotDecode)?;
    Ok(env.store)
}

/// Version 8, frozen: `Tables` before the prepared queries and the nodes'
/// coordinates.
#[derive(Deserialize)]
struct TablesV8 {
    kv: crate::kv::KvTable,
    catalog: crate::catalog::Catalog,
    events: crate::events::Events,
    sessions: crate::session::Sessions,
    last_index: u64,
    restored_at: u64,
    clock_ms: u64,
    acl: crate::acl::AclTables,
    autopilot: crate::autopilot::Autopilot,
}

impl TablesV8 {
    fn upgrade(self) -> Tables {
        Tables {
            kv: self.kv,
            catalog: self.catalog,
            events: self.events,
            sessions: self.sessions,
            last_index: self.last_index,
            restored_at: self.restored_at,
            clock_ms: self.clock_ms,
            acl: self.acl,
            autopilot: self.autopilot,
            queries: crate::query::PreparedQueries::default(),
            coordinates: crate::coordinate::Coordinates::default(),
        }
    }
}

/// Version 7, frozen: `Tables` before services kept their extras.
#[derive(Deserialize)]
struct TablesV7 {
    kv: crate::kv::KvTable,
    catalog: crate::catalog::CatalogV7,
    events: crate::events::Events,
    sessions: crate::session::Sessions,
    last_index: u64,
    restored_at: u64,
    clock_ms: u64,
    acl: crate::acl::AclTables,
    autopilot: crate::autopilot::Autopilot,
}

impl TablesV7 {
    fn upgrade(self) -> Tables {
        TablesV8 {
            kv: self.kv,
            catalog: self.catalog.upgrade(),
            events: self.events,
            sessions: self.sessions,
            last_index: self.last_index,
            restored_at: self.restored_at,
            clock_ms: self.clock_ms,
            acl: self.acl,
            autopilot: self.autopilot,
        }
        .upgrade()
    }
}

/// Version 6, frozen: `Tables` before the autopilot configuration.
#[derive(Deserialize)]
struct TablesV6 {
    kv: crate::kv::KvTable,
    catalog: crate::catalog::CatalogV7,
    events: crate::events::Events,
    sessions: crate::session::Sessions,
    last_index: u64,
    restored_at: u64,
    clock_ms: u64,
    acl: crate::acl::AclTables,
}

impl TablesV6 {
    fn upgrade(self) -> Tables {
        TablesV7 {
            kv: self.kv,
            catalog: self.catalog,
            events: self.events,
            sessions: self.sessions,
            last_index: self.last_index,
            restored_at: self.restored_at,
            clock_ms: self.clock_ms,
            acl: self.acl,
            autopilot: crate::autopilot::Autopilot::default(),
        }
        .upgrade()
    }
}

/// Version 5, frozen: `Tables` before the ACL tables.
#[derive(Deserialize)]
struct TablesV5 {
    kv: crate::kv::KvTable,
    catalog: crate::catalog::CatalogV7,
    events: crate::events::Events,
    sessions: crate::session::Sessions,
    last_index: u64,
    restored_at: u64,
    clock_ms: u64,
}

impl TablesV5 {
    fn upgrade(self) -> Tables {
        TablesV6 {
            kv: self.kv,
            catalog: self.catalog,
            events: self.events,
            sessions: self.sessions,
            last_index: self.last_index,
            restored_at: self.restored_at,
            clock_ms: self.clock_ms,
            acl: crate::acl::AclTables::default(),
        }
        .upgrade()
    }
}

/// Version 4, frozen: the store's fields in the order `Store` had them.
#[derive(Deserialize)]
struct StoreV4 {
    kv: crate::kv::KvTable,
    catalog: crate::catalog::CatalogV7,
    events: crate::events::Events,
    history: History,
    last_index: u64,
    restored_at: u64,
    sessions: crate::session::Sessions,
    clock_ms: u64,
}

impl StoreV4 {
    fn upgrade(self) -> Store {
        Store {
            tables: TablesV5 {
                kv: self.kv,
                catalog: self.catalog,
                events: self.events,
                sessions: self.sessions,
                last_index: self.last_index,
                restored_at: self.restored_at,
                clock_ms: self.clock_ms,
            }
            .upgrade(),
            history: self.history,
            derived: Default::default(),
            restore: Default::default(),
        }
    }
}

/// Version 3: lock-delays as deadlines (`session::SessionsV3`).
#[derive(Deserialize)]
struct StoreV3 {
    kv: crate::kv::KvTable,
    catalog: crate::catalog::CatalogV7,
    events: crate::events::Events,
    history: History,
    last_index: u64,
    restored_at: u64,
    sessions: crate::session::SessionsV3,
    clock_ms: u64,
}

impl StoreV3 {
    fn upgrade(self) -> Store {
        StoreV4 {
            kv: self.kv,
            catalog: self.catalog,
            events: self.events,
            history: self.history,
            last_index: self.last_index,
            restored_at: self.restored_at,
            sessions: self.sessions.upgrade(self.clock_ms),
            clock_ms: self.clock_ms,
        }
        .upgrade()
    }
}

/// Version 2: the same tables before sessions and the leader's clock were
/// added (at the end), so a data dir written by an earlier build still loads.
#[derive(Deserialize)]
struct StoreV2 {
    kv: crate::kv::KvTable,
    catalog: crate::catalog::CatalogV7,
    events: crate::events::Events,
    history: History,
    last_index: u64,
    restored_at: u64,
}

impl StoreV2 {
    fn upgrade(self) -> Store {
        StoreV4 {
            kv: self.kv,
            catalog: self.catalog,
            events: self.events,
            history: self.history,
            last_index: self.last_index,
            restored_at: self.restored_at,
            sessions: crate::session::Sessions::default(),
            clock_ms: 0,
        }
        .upgrade()
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
                kv: &store.tables.kv,
                catalog: &store.tables.catalog,
                events: &store.tables.events,
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
        assert_eq!((back.tables.last_index, back.tables.clock_ms), (9, clock));
        assert_eq!(
            back.tables.sessions.lock_delay("pending"),
            Some(LockDelay {
                at_ms: clock,
                delay_ms: 5_000
            })
        );
        assert_eq!(back.tables.sessions.lock_delay("over"), None);
        assert_eq!(
            back.tables
                .sessions
                .lock_delay("a-day-ahead")
                .map(|d| d.delay_ms),
            Some(crate::session::MAX_LOCK_DELAY_MS)
        );
        assert_eq!(back.tables.sessions.table_index(), 5);
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
                value: b"v".to_vec().into(),
                flags: 3,
                cas: None,
            },
        );
        let bytes = postcard::to_stdvec(&Envelope {
            version: 2,
            store: V2 {
                kv: &store.tables.kv,
                catalog: &store.tables.catalog,
                events: &store.tables.events,
                history: &store.history,
                last_index: store.tables.last_index,
                restored_at: store.tables.restored_at,
            },
        })
        .unwrap();
        let back = Store::decode_snapshot(&bytes).unwrap();
        assert_eq!(back.tables.last_index, 7);
        assert_eq!(back.tables.kv.get("a/b").map(|e| e.flags), Some(3));
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

    /// Encoding into a writer gives exactly the bytes of `encode_snapshot`
    /// (the format, pinned by the golden files, does not depend on how it
    /// is written).
    #[test]
    fn a_snapshot_encoded_into_a_writer_is_byte_for_byte_the_buffered_one() {
        let mut store = Store::default();
        for i in 0..50u64 {
            store.apply(
                i + 1,
                &crate::Command::KvSet {
                    key: format!("k/{i}"),
                    value: vec![i as u8; 40].into(),
                    flags: i,
                    cas: None,
                },
            );
        }
        let streamed = store.encode_snapshot_to(Vec::new()).unwrap();
        assert_eq!(streamed, store.encode_snapshot().unwrap());
        let back = Store::decode_snapshot(&streamed).unwrap();
        assert_eq!(back.encode_snapshot().unwrap(), streamed);
    }
}

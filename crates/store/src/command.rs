//! The commands in the Raft log and their effect on the store. Time-based
//! decisions are made before a command is proposed; `apply` only follows.

use std::cell::Cell;

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize};

use crate::history::Change;
use crate::Store;

/// How deeply commands may nest (`Timed` and `Batch` hold commands). The
/// leader's proposer nests two deep (`Timed { Batch [..] }`); decoding
/// anything deeper fails instead of recursing until the stack overflows.
pub const MAX_NESTING: u32 = 8;

thread_local! {
    /// How many `Command`s the current thread is decoding inside one another.
    static NESTING: Cell<u32> = const { Cell::new(0) };
}

/// Decodes the commands inside a `Timed` or `Batch`, one level deeper,
/// refusing to go past `MAX_NESTING`.
fn nested<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Level;
    impl Drop for Level {
        fn drop(&mut self) {
            NESTING.with(|n| n.set(n.get().saturating_sub(1)));
        }
    }
    let depth = NESTING.with(|n| {
        let depth = n.get().saturating_add(1);
        n.set(depth);
        depth
    });
    let _level = Level;
    if depth > MAX_NESTING {
        return Err(serde::de::Error::custom(format!(
            "commands nested more than {MAX_NESTING} deep"
        )));
    }
    T::deserialize(d)
}

impl Command {
    /// The command of the catalog register `request` whose checks have
    /// the `Type`s `types` gives by check ID: `CatalogRegisterTyped`, or
    /// `CatalogRegister` when there are no types and its service (if any)
    /// has no kind, tagged addresses, proxy or locality.
    pub fn catalog_register(
        request: praetor_api::catalog::RegisterRequest,
        types: std::collections::BTreeMap<String, String>,
    ) -> Command {
        let service = request
            .service
            .as_ref()
            .map(crate::model::ServiceExtra::of)
            .unwrap_or_default();
        let register = request.into();
        if types.is_empty() && service == crate::model::ServiceExtra::default() {
            Command::CatalogRegister(register)
        } else {
            Command::CatalogRegisterTyped {
                register,
                types,
                service,
            }
        }
    }
}

/// A change to the store, as it travels in the Raft log.
// A register request is large, but a command lives only between its
// request and the log; boxing it would change every caller for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Sets a key. With `cas`, only if the key's ModifyIndex equals it
    /// (0: only if the key does not exist), as Consul's `?cas=`.
    KvSet {
        key: String,
        #[serde(with = "crate::value")]
        value: Bytes,
        flags: u64,
        cas: Option<u64>,
    },
    /// Deletes a key. With `cas`, only if its ModifyIndex equals it.
    KvDelete { key: String, cas: Option<u64> },
    /// Deletes every key that starts with `prefix`.
    KvDeleteTree { prefix: String },
    /// Upserts a catalog node with its `serfHealth` check (the leader keeps
    /// these equal to gossip). Answers `false` when nothing changed.
    NodeHealth(crate::catalog::NodeHealth),
    /// Consul's catalog register (node, service, checks). An invalid
    /// request changes nothing and answers `Refused` with the reason.
    CatalogRegister(crate::model::Registration),
    /// Consul's catalog deregister of a check, a service (with its checks)
    /// or a node (with everything on it). Answers `false` when there was
    /// nothing to remove.
    CatalogDeregister(crate::model::Deregistration),
    /// Fires a user event (kept among the last `events::KEPT`).
    EventFire(crate::model::EventRecord),
    /// Replaces the replicated tables with those of an encoded store
    /// (`Store::encode_snapshot`; `PUT /v1/snapshot`). The history restarts
    /// at this index: watchers from before it must resync. Bytes that do not
    /// decode change nothing (answer `false`).
    Restore(Vec<u8>),
    /// Several independent commands proposed together in one log entry (the
    /// server batches concurrent writes to share one fsync). Each is applied
    /// in order at the entry's index and answered on its own; a failed check
    /// in one does not affect the others.
    Batch(#[serde(deserialize_with = "nested")] Vec<Command>),
    /// Creates a session (its ID chosen by the proposer). Its node must be
    /// in the catalog and its checks there and not critical, else `Refused`.
    SessionCreate(Box<crate::model::SessionRecord>),
    /// Destroys a session (`PUT /v1/session/destroy`): its locks are
    /// released or its keys deleted, by its `Behavior`, and its held keys
    /// get its lock-delay. `false` when it did not exist.
    SessionDestroy { id: String },
    /// Renews a session (the leader restarts its TTL timer). `false` when
    /// it does not exist.
    SessionRenew { id: String },
    /// Expires a session whose TTL ran out on the leader: as a destroy,
    /// unless it was renewed after `renewed` (the renewal wins; `false`).
    SessionExpire { id: String, renewed: u64 },
    /// Acquires a key for a session and writes it (`?acquire=`). `false`
    /// when another session holds it or a lock-delay is pending on it;
    /// `Refused` when the session does not exist.
    KvLock {
        key: String,
        #[serde(with = "crate::value")]
        value: Bytes,
        flags: u64,
        session: String,
    },
    /// Releases a key held by a session and writes it (`?release=`).
    /// `false` when the session does not hold it.
    KvUnlock {
        key: String,
        #[serde(with = "crate::value")]
        value: Bytes,
        flags: u64,
        session: String,
    },
    /// A transaction (`PUT /v1/txn`): every operation applies, or none
    /// does. Answers `Response::Txn`.
    Txn(Vec<crate::txn::TxnOp>),
    /// A command with the leader's wall-clock time (ms since the epoch)
    /// when it proposed it. The leader stamps every log entry so: the
    /// store's clock (`Store::clock_ms`) is the latest stamp, which is
    /// what lock-delays are measured in. Answers as `cmd`.
    Timed {
        at_ms: u64,
        #[serde(deserialize_with = "nested")]
        cmd: Box<Command>,
    },
    /// A change to the ACL tables (`acl::AclCommand`): `Refused` with
    /// Consul's reason when invalid.
    Acl(crate::acl::AclCommand),
    /// Writes the autopilot configuration (`PUT
    /// /v1/operator/autopilot/configuration`). With `cas`, only if the
    /// stored configuration's ModifyIndex equals it (0: none stored);
    /// otherwise answers `false` and changes nothing, as Consul's `?cas=`.
    AutopilotSetConfig {
        config: crate::autopilot::AutopilotConfig,
        cas: Option<u64>,
    },
    /// Consul's catalog register whose checks carry their `Type` (`ttl`,
    /// `http`, `tcp`, …), by check ID (a check not named keeps the type it
    /// had), and whose service carries its kind, tagged addresses, proxy
    /// and locality. A variant of its own, last, because `Registration` is
    /// written in existing logs without them.
    CatalogRegisterTyped {
        register: crate::model::Registration,
        types: std::collections::BTreeMap<String, String>,
        service: crate::model::ServiceExtra,
    },
    /// Piece `seq` (from 0) of snapshot restore `id` (`restore.rs`): a
    /// state too large for one entry travels as several. Piece 0 begins
    /// the restore and drops any other being staged. `Refused` with the
    /// reason when out of order, too large, or no longer staged.
    RestoreChunk {
        id: u64,
        seq: u32,
        #[serde(with = "crate::value")]
        data: Bytes,
    },
    /// Ends snapshot restore `id`: when its pieces are `size` bytes with
    /// CRC-32 `crc32` and decode, the tables become that state and the
    /// history restarts at this index (as `Restore`); otherwise `Refused`
    /// with the reason and nothing changes. The restore is unstaged either
    /// way.
    RestoreCommit { id: u64, size: u64, crc32: u32 },
    /// Drops snapshot restore `id` (its upload failed); `false` when it
    /// was not the one staged.
    RestoreAbort { id: u64 },
    /// A change to the prepared queries (`query::QueryCommand`):
    /// `Refused` with Consul's reason when invalid.
    PreparedQuery(crate::query::QueryCommand),
    /// The leader's batch of the coordinate updates agents sent (`PUT
    /// /v1/coordinate/update`), as Consul's `CoordinateBatchUpdate`:
    /// updates for nodes the catalog does not hold, or that are not
    /// finite, are skipped. Answers whether anything changed. Last, as
    /// every variant added after the log format was fixed.
    CoordinateBatchUpdate(Vec<crate::coordinate::NodeCoordinate>),
}

impl Command {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Command::KvSet { .. } => "kv_set",
            Command::KvDelete { .. } => "kv_delete",
            Command::KvDeleteTree { .. } => "kv_delete_tree",
            Command::Restore(_) => "restore",
            Command::NodeHealth(_) => "node_health",
            Command::CatalogRegister(_) => "catalog_register",
            Command::CatalogRegisterTyped { .. } => "catalog_register_typed",
            Command::CatalogDeregister(_) => "catalog_deregister",
            Command::EventFire(_) => "event_fire",
            Command::Batch(_) => "batch",
            Command::SessionCreate(_) => "session_create",
            Command::SessionDestroy { .. } => "session_destroy",
            Command::SessionRenew { .. } => "session_renew",
            Command::SessionExpire { .. } => "session_expire",
            Command::KvLock { .. } => "kv_lock",
            Command::KvUnlock { .. } => "kv_unlock",
            Command::Txn(_) => "txn",
            Command::Timed { cmd, .. } => cmd.kind(),
            Command::Acl(c) => c.kind(),
            Command::AutopilotSetConfig { .. } => "autopilot_set_config",
            Command::RestoreChunk { .. } => "restore_chunk",
            Command::RestoreCommit { .. } => "restore_commit",
            Command::RestoreAbort { .. } => "restore_abort",
            Command::PreparedQuery(c) => c.kind(),
            Command::CoordinateBatchUpdate(_) => "coordinate_batch_update",
        }
    }
}

/// What applying a command answered.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Response {
    /// The command ran; `false` means a check (cas) did not hold and nothing changed.
    Applied(bool),
    /// The entry was at or below the last applied index and was skipped.
    #[default]
    Ignored,
    /// The answers of a `Command::Batch`, in order.
    Batch(Vec<Response>),
    /// The command was invalid and changed nothing; the reason.
    Refused(String),
    /// The answer of a `Command::Txn`.
    Txn(crate::txn::TxnOutcome),
}

impl Response {
    /// `true` when the command took effect.
    pub fn ok(&self) -> bool {
        matches!(self, Response::Applied(true))
    }
}

pub(crate) fn apply(store: &mut Store, index: u64, cmd: &Command) -> Response {
    let changes = match cmd {
        Command::Batch(cmds) => {
            return Response::Batch(cmds.iter().map(|c| apply(store, index, c)).collect())
        }
        Command::Timed { at_ms, cmd } => {
            // The latest stamp, not the largest: one leader's clock that
            // jumped ahead must not stay the store's time.
            store.tables.clock_ms = *at_ms;
            return apply(store, index, cmd);
        }
        Command::SessionCreate(entry) => {
            return match store
                .tables
                .sessions
                .create(index, entry, &store.tables.catalog)
            {
                Ok(()) => Response::Applied(true),
                Err(reason) => Response::Refused(reason),
            }
        }
        Command::SessionDestroy { id } => return Response::Applied(invalidate(store, index, id)),
        Command::SessionRenew { id } => {
            return Response::Applied(store.tables.sessions.renew(index, id))
        }
        Command::SessionExpire { id, renewed } => {
            let current = store.tables.sessions.get(id).map(|s| s.renewed);
            if current != Some(*renewed) {
                return Response::Applied(false);
            }
            return Response::Applied(invalidate(store, index, id));
        }
        Command::KvLock {
            key,
            value,
            flags,
            session,
        } => match may_acquire(store, key, session) {
            Err(Refusal::NoSession(why)) => return Response::Refused(why),
            Err(Refusal::Delayed(_)) => None,
            Ok(()) => store.tables.kv.lock(index, key, value, *flags, session),
        },
        Command::KvUnlock {
            key,
            value,
            flags,
            session,
        } => store.tables.kv.unlock(index, key, value, *flags, session),
        Command::Txn(ops) => return Response::Txn(crate::txn::apply(store, index, ops)),
        Command::Acl(c) => {
            return match store.tables.acl.apply(index, c) {
                Ok(changed) => Response::Applied(changed),
                Err(reason) => Response::Refused(reason),
            }
        }
        Command::AutopilotSetConfig { config, cas } => {
            return Response::Applied(store.tables.autopilot.set(index, config, *cas))
        }
        Command::PreparedQuery(c) => {
            let sessions = &store.tables.sessions;
            return match store
                .tables
                .queries
                .apply(index, c, |id| sessions.get(id).is_some())
            {
                Ok(changed) => Response::Applied(changed),
                Err(reason) => Response::Refused(reason),
            };
        }
        Command::CoordinateBatchUpdate(updates) => {
            let catalog = &store.tables.catalog;
            return Response::Applied(
                store
                    .tables
                    .coordinates
                    .update(index, updates, |n| catalog.has_node(n)),
            );
        }
        Command::KvSet {
            key,
            value,
            flags,
            cas,
        } => store.tables.kv.set(index, key, value, *flags, *cas),
        Command::KvDelete { key, cas } => store.tables.kv.delete(index, key, *cas),
        Command::KvDeleteTree { prefix } => Some(store.tables.kv.delete_tree(index, prefix)),
        Command::NodeHealth(n) => {
            let changed = store.tables.catalog.node_health(index, n);
            sweep_sessions(store, index, [n.node.as_str()]);
            return Response::Applied(changed);
        }
        Command::CatalogRegister(r) => {
            let answer = match store.tables.catalog.register(index, r) {
                Ok(changed) => Response::Applied(changed),
                Err(reason) => Response::Refused(reason),
            };
            sweep_sessions(store, index, [r.node.as_str()]);
            return answer;
        }
        Command::CatalogRegisterTyped {
            register,
            types,
            service,
        } => {
            let answer = match store
                .tables
                .catalog
                .register_typed(index, register, types, service)
            {
                Ok(changed) => Response::Applied(changed),
                Err(reason) => Response::Refused(reason),
            };
            sweep_sessions(store, index, [register.node.as_str()]);
            return answer;
        }
        Command::EventFire(e) => {
            store.tables.events.fire(index, e.clone());
            return Response::Applied(true);
        }
        Command::CatalogDeregister(r) => {
            let changed = store.tables.catalog.deregister(index, r);
            sweep_coordinates(store, index, [r.node.as_str()]);
            sweep_sessions(store, index, [r.node.as_str()]);
            return Response::Applied(changed);
        }
        Command::RestoreChunk { id, seq, data } => {
            return match store.restore.chunk(*id, *seq, data) {
                Ok(()) => Response::Applied(true),
                Err(reason) => Response::Refused(reason),
            }
        }
        Command::RestoreCommit { id, size, crc32 } => {
            return match store.commit_restore(index, *id, *size, *crc32) {
                Ok(()) => Response::Applied(true),
                Err(reason) => Response::Refused(reason),
            }
        }
        Command::RestoreAbort { id } => return Response::Applied(store.restore.abort(*id)),
        Command::Restore(bytes) => {
            return match Store::decode_snapshot(bytes) {
                Ok(restored) => {
                    drop(store.restore_from(index, restored));
                    Response::Applied(true)
                }
                Err(_) => Response::Applied(false),
            };
        }
    };
    match changes {
        Some(changes) => {
            record(store, changes);
            Response::Applied(true)
        }
        None => Response::Applied(false),
    }
}

/// Why a key may not be acquired now.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The session does not exist (an error, as in Consul).
    NoSession(String),
    /// A lock-delay is pending (until this leader time, in ms, on a clock
    /// that moves forward): the acquire answers `false`, as Consul's.
    Delayed(u64),
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoSession(why) => f.write_str(why),
            Refusal::Delayed(until) => write!(f, "lock-delay in effect until {until} ms"),
        }
    }
}

/// Whether `session` may acquire `key` now: the session must exist and
/// no lock-delay on the key may block the store's clock (the leader's time
/// stamped on this entry; see `session::LockDelay`).
pub(crate) fn may_acquire(store: &mut Store, key: &str, session: &str) -> Result<(), Refusal> {
    if store.tables.sessions.get(session).is_none() {
        return Err(Refusal::NoSession(format!(
            "invalid session {session:?}: it does not exist"
        )));
    }
    store.tables.sessions.prune_delays(store.tables.clock_ms);
    match store.tables.sessions.lock_delay(key) {
        Some(delay) if delay.blocks(store.tables.clock_ms) => {
            Err(Refusal::Delayed(delay.until_ms()))
        }
        _ => Ok(()),
    }
}

/// Destroys session `id`: each key it holds is released (Behavior
/// `release`) or deleted (`delete`) and gets the session's lock-delay,
/// measured from the store's clock (this entry's stamp). Returns whether
/// it existed.
pub(crate) fn invalidate(store: &mut Store, index: u64, id: &str) -> bool {
    let Some(session) = store.tables.sessions.remove(index, id) else {
        return false;
    };
    if !store.tables.queries.is_empty() {
        store.tables.queries.session_invalidated(index, id);
    }
    store.tables.sessions.prune_delays(store.tables.clock_ms);
    let delete = session.entry.behavior == praetor_api::session::behavior::DELETE;
    let delay = session.entry.lock_delay_ms();
    let mut changes = Vec::new();
    #[cfg(test)]
    let held = if crate::session_index::oracle::scanning() {
        store.tables.kv.held_by_scan(id)
    } else {
        store.tables.kv.held_by(id)
    };
    #[cfg(not(test))]
    let held = store.tables.kv.held_by(id);
    for key in held {
        if delete {
            changes.extend(
                store
                    .tables
                    .kv
                    .delete(index, &key, None)
                    .unwrap_or_default(),
            );
        } else {
            changes.extend(store.tables.kv.release(index, &key));
        }
        store
            .tables
            .sessions
            .delay_key(&key, store.tables.clock_ms, delay);
    }
    record(store, changes);
    true
}

/// Invalidates the sessions the catalog no longer supports (their node
/// gone, or one of their checks gone or critical) after a catalog change
/// to `nodes`, in ID order. Only those nodes' sessions can have lost their
/// support (every session was supported after the previous write), so
/// they are found through the sessions' index and no other is looked at.
pub(crate) fn sweep_sessions<'a>(
    store: &mut Store,
    index: u64,
    nodes: impl IntoIterator<Item = &'a str>,
) {
    if store.tables.sessions.is_empty() {
        return;
    }
    #[cfg(test)]
    if crate::session_index::oracle::scanning() {
        crate::session_index::oracle::visit(store.tables.sessions.len());
        for id in store.tables.sessions.invalid_by_scan(&store.tables.catalog) {
            invalidate(store, index, &id);
        }
        return;
    }
    let mut doomed = std::collections::BTreeSet::new();
    for node in nodes {
        doomed.extend(
            store
                .tables
                .sessions
                .unsupported_on(node, &store.tables.catalog),
        );
    }
    #[cfg(test)]
    crate::session_index::oracle::visit(doomed.len());
    for id in doomed {
        invalidate(store, index, &id);
    }
}

/// Removes the coordinates of those of `nodes` that the catalog no longer
/// holds (a deregistered node takes its coordinates with it, as Consul's).
pub(crate) fn sweep_coordinates<'a>(
    store: &mut Store,
    index: u64,
    nodes: impl IntoIterator<Item = &'a str>,
) {
    for node in nodes {
        if !store.tables.catalog.has_node(node) {
            store.tables.coordinates.remove_node(index, node);
        }
    }
}

pub(crate) fn record(store: &mut Store, changes: Vec<Change>) {
    for change in changes {
        store.derived.kv_changed(&change.key, change.index);
        let evicted = store.history.push(change);
        store.tables.kv.reap(&evicted);
        store.derived.kv_reaped(&store.tables.kv, &evicted);
    }
}

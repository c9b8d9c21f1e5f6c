//! The commands in the Raft log and their effect on the store. Time-based
//! decisions are made before a command is proposed; `apply` only follows.

use serde::{Deserialize, Serialize};

use crate::history::Change;
use crate::Store;

/// A change to the store, as it travels in the Raft log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Sets a key. With `cas`, only if the key's ModifyIndex equals it
    /// (0: only if the key does not exist), as Consul's `?cas=`.
    KvSet {
        key: String,
        value: Vec<u8>,
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
    CatalogRegister(praetor_api::catalog::RegisterRequest),
    /// Consul's catalog deregister of a check, a service (with its checks)
    /// or a node (with everything on it). Answers `false` when there was
    /// nothing to remove.
    CatalogDeregister(praetor_api::catalog::DeregisterRequest),
    /// Fires a user event (kept among the last `events::KEPT`).
    EventFire(praetor_api::event::UserEvent),
    /// Replaces the replicated tables with those of an encoded store
    /// (`Store::encode_snapshot`; `PUT /v1/snapshot`). The history restarts
    /// at this index: watchers from before it must resync. Bytes that do not
    /// decode change nothing (answer `false`).
    Restore(Vec<u8>),
    /// Several independent commands proposed together in one log entry (the
    /// server batches concurrent writes to share one fsync). Each is applied
    /// in order at the entry's index and answered on its own; a failed check
    /// in one does not affect the others.
    Batch(Vec<Command>),
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
            Command::CatalogDeregister(_) => "catalog_deregister",
            Command::EventFire(_) => "event_fire",
            Command::Batch(_) => "batch",
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
        Command::KvSet {
            key,
            value,
            flags,
            cas,
        } => store.kv.set(index, key, value, *flags, *cas),
        Command::KvDelete { key, cas } => store.kv.delete(index, key, *cas),
        Command::KvDeleteTree { prefix } => Some(store.kv.delete_tree(index, prefix)),
        Command::NodeHealth(n) => return Response::Applied(store.catalog.node_health(index, n)),
        Command::CatalogRegister(r) => {
            return match store.catalog.register(index, r) {
                Ok(changed) => Response::Applied(changed),
                Err(reason) => Response::Refused(reason),
            }
        }
        Command::EventFire(e) => {
            store.events.fire(index, e.clone());
            return Response::Applied(true);
        }
        Command::CatalogDeregister(r) => {
            return Response::Applied(store.catalog.deregister(index, r))
        }
        Command::Restore(bytes) => {
            return match Store::decode_snapshot(bytes) {
                Ok(restored) => {
                    store.restore_from(index, restored);
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

fn record(store: &mut Store, changes: Vec<Change>) {
    for change in changes {
        let evicted = store.history.push(change);
        store.kv.reap(&evicted);
    }
}

//! openraft wiring: the type configuration, the log store (redb, or memory in
//! dev mode), the state machine adapter around the pure store, and the network.
//! This layer only translates: it decodes entries and calls `Store::apply`.

pub mod log_store;
pub mod network;
pub mod snapshot_dir;
#[cfg(test)]
mod snapshot_tests;
pub mod state_machine;

use praetor_store::{Command, Response};

openraft::declare_raft_types!(
    /// Praetor's Raft types: log entries carry store `Command`s.
    pub TypeConfig:
        D = Command,
        R = Response,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = snapshot_dir::SnapshotData,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft handle of this server.
pub type Raft = openraft::Raft<TypeConfig>;
/// One log entry.
pub type Entry = openraft::Entry<TypeConfig>;
/// A log id (term, node, index).
pub type LogId = openraft::LogId<u64>;
/// Storage errors as openraft wants them.
pub type StorageError = openraft::StorageError<u64>;

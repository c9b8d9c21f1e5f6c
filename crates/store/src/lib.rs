//! Praetor's state machine: the tables, the commands that change them, the
//! history of KV changes, and snapshot encoding.
//!
//! The store is pure: `Store::apply(index, command)` is the only way it
//! changes, it never performs I/O, never reads a clock and never spawns a
//! task, so the same commands always give the same state.

pub mod acl;
pub mod autopilot;
pub mod catalog;
pub mod command;
pub mod coordinate;
pub mod error;
pub mod events;
pub mod history;
pub mod kv;
pub mod model;
pub mod query;
pub mod restore;
pub mod session;
mod session_index;
pub mod snapshot;
pub mod topics;
pub mod txn;
pub mod value;

pub use command::{Command, Response};
pub use error::StoreError;
pub use history::{Change, History, HistoryError};
pub use kv::Entry;
pub use topics::{Interest, Table, Touched};

use serde::{Deserialize, Serialize};

/// Default number of KV changes kept in the history.
pub const DEFAULT_HISTORY_LIMIT: usize = 100_000;

/// The replicated tables with the indexes and the clock that go with them:
/// everything a snapshot holds besides the history. Snapshots encode this
/// struct as it is (`snapshot.rs`), so its fields, in this order, are the
/// snapshot format: change them only with a new format version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Tables {
    pub(crate) kv: kv::KvTable,
    pub(crate) catalog: catalog::Catalog,
    pub(crate) events: events::Events,
    pub(crate) sessions: session::Sessions,
    /// The index of the last command applied.
    pub(crate) last_index: u64,
    /// The index of the last snapshot restore (0: none): blocking queries
    /// open across it return, as Consul's do, since indexes may go back.
    pub(crate) restored_at: u64,
    /// The leader's wall-clock time (ms since the epoch) stamped on the
    /// latest entry (`Command::Timed`): the store's only notion of time,
    /// used for lock-delays. It follows the leaders' clocks, back as well
    /// as forward, so one clock that jumped ahead is not kept.
    pub(crate) clock_ms: u64,
    /// Tokens, policies and roles (format 6).
    pub(crate) acl: acl::AclTables,
    /// The autopilot configuration (format 7).
    pub(crate) autopilot: autopilot::Autopilot,
    /// Prepared queries (format 9).
    pub(crate) queries: query::PreparedQueries,
    /// The nodes' network coordinates (format 9).
    pub(crate) coordinates: coordinate::Coordinates,
}

/// The whole replicated state: the tables and the history of KV changes.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) tables: Tables,
    pub(crate) history: History,
    /// Indexes derived from the tables and the topics touched since they
    /// were last taken (`topics.rs`): never encoded, rebuilt on decode.
    pub(crate) derived: topics::Derived,
    /// A snapshot restore arriving in pieces (`restore.rs`): encoded in
    /// Raft snapshots, never in the state `GET /v1/snapshot` saves.
    pub(crate) restore: restore::Staging,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(DEFAULT_HISTORY_LIMIT)
    }
}

impl Store {
    /// An empty store that keeps the last `history_limit` KV changes.
    pub fn new(history_limit: usize) -> Self {
        Store {
            tables: Tables {
                kv: kv::KvTable::default(),
                catalog: catalog::Catalog::default(),
                events: events::Events::default(),
                sessions: session::Sessions::default(),
                last_index: 0,
                restored_at: 0,
                clock_ms: 0,
                acl: acl::AclTables::default(),
                autopilot: autopilot::Autopilot::default(),
                queries: query::PreparedQueries::default(),
                coordinates: coordinate::Coordinates::default(),
            },
            history: History::new(history_limit),
            derived: topics::Derived::default(),
            restore: restore::Staging::default(),
        }
    }

    /// Applies `cmd`, committed at Raft index `index`. Indexes must grow;
    /// an index at or below the last applied one is ignored (the entry was
    /// already in a snapshot), which keeps replays idempotent.
    pub fn apply(&mut self, index: u64, cmd: &Command) -> Response {
        if index <= self.tables.last_index {
            return Response::Ignored;
        }
        self.tables.last_index = index;
        let mark = topics::Mark::before(self, cmd);
        let answer = command::apply(self, index, cmd);
        mark.after(self, index);
        answer
    }

    /// Records that Raft index `index` was used by an entry that is not a
    /// command (a leader's blank entry, a membership change).
    pub fn advance(&mut self, index: u64) {
        self.tables.last_index = self.tables.last_index.max(index);
    }

    /// The index of the last applied entry: the store's clock.
    pub fn last_index(&self) -> u64 {
        self.tables.last_index
    }

    /// The KV table, for reads.
    pub fn kv(&self) -> &kv::KvTable {
        &self.tables.kv
    }

    /// The recent user events, for reads.
    pub fn events(&self) -> &events::Events {
        &self.tables.events
    }

    /// The catalog's nodes and node checks, for reads.
    pub fn catalog(&self) -> &catalog::Catalog {
        &self.tables.catalog
    }

    /// The sessions, for reads and the leader's TTL timers.
    pub fn sessions(&self) -> &session::Sessions {
        &self.tables.sessions
    }

    /// The ACL tables, for reads and token resolution.
    pub fn acl(&self) -> &acl::AclTables {
        &self.tables.acl
    }

    /// The stored autopilot configuration, for reads and the leader's
    /// autopilot.
    pub fn autopilot(&self) -> &autopilot::Autopilot {
        &self.tables.autopilot
    }

    /// The prepared queries, for reads and their execution.
    pub fn queries(&self) -> &query::PreparedQueries {
        &self.tables.queries
    }

    /// The nodes' network coordinates, for reads.
    pub fn coordinates(&self) -> &coordinate::Coordinates {
        &self.tables.coordinates
    }

    /// The leader's time (ms since the epoch) stamped on the latest entry.
    pub fn clock_ms(&self) -> u64 {
        self.tables.clock_ms
    }

    /// The history of KV changes, for watches and the history API.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The index of the last snapshot restore (0: none).
    pub fn restored_at(&self) -> u64 {
        self.tables.restored_at
    }

    /// Takes the replicated tables of `restored` at `index`; the history
    /// restarts empty, complete only from the next index.
    pub(crate) fn restore_from(&mut self, index: u64, mut restored: Store) -> Store {
        use std::mem::swap;
        swap(&mut self.tables.kv, &mut restored.tables.kv);
        swap(&mut self.tables.catalog, &mut restored.tables.catalog);
        swap(&mut self.tables.events, &mut restored.tables.events);
        swap(&mut self.tables.sessions, &mut restored.tables.sessions);
        swap(&mut self.tables.acl, &mut restored.tables.acl);
        swap(&mut self.tables.autopilot, &mut restored.tables.autopilot);
        swap(&mut self.tables.queries, &mut restored.tables.queries);
        swap(
            &mut self.tables.coordinates,
            &mut restored.tables.coordinates,
        );
        self.history = History::restarted(self.history.limit(), index + 1);
        self.tables.restored_at = index;
        self.derived = topics::Derived::rebuild(&self.tables);
        // What the store held: the caller drops it.
        restored
    }

    /// Changes how many KV changes are kept from now on (a config setting, not
    /// replicated state: each server may keep more or less).
    pub fn set_history_limit(&mut self, limit: usize) {
        let evicted = self.history.set_limit(limit);
        self.tables.kv.reap(&evicted);
        self.derived.kv_reaped(&self.tables.kv, &evicted);
    }

    /// The topics that the commands applied since the last call touched
    /// (what a server's blocking queries must look at again).
    pub fn take_touched(&mut self) -> Touched {
        self.derived.take()
    }

    /// The index a read about service `name` reports and blocks on
    /// (`/v1/catalog/service/<name>`, `/v1/health/checks/<name>`): the
    /// last change to one of its instances or their checks, to a node that
    /// hosts one, or to a node-level check there; never below 1. Kept as
    /// commands apply, so finding it costs no scan.
    pub fn service_index(&self, name: &str) -> u64 {
        self.derived.service_index(name)
    }

    /// The index a read of everything under `prefix` reports and blocks on,
    /// as `KvTable::prefix_index` computes it, without scanning the prefix.
    pub fn kv_prefix_index(&self, prefix: &str) -> u64 {
        self.derived.kv_prefix_index(&self.tables.kv, prefix)
    }

    /// The last index that changed `table` (0: never).
    pub fn table_index(&self, table: Table) -> u64 {
        let t = &self.tables;
        let c = t.catalog.table_indexes();
        match table {
            Table::Kv => t.kv.raw_table_index(),
            Table::Nodes => c.nodes,
            Table::Services => c.services,
            Table::Checks => c.checks,
            Table::Sessions => t.sessions.table_index(),
            Table::Acl => t.acl.index(),
            Table::Events => t.events.index(),
            Table::Autopilot => t.autopilot.index(),
            Table::Queries => t.queries.index(),
            Table::Coordinates => t.coordinates.index(),
        }
    }
}

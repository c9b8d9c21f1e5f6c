//! What each applied command touched (its topics: tables, service names,
//! nodes, KV keys), and the indexes derived from the tables that let a
//! blocking query learn its answer's index without building the answer or
//! scanning: the last index of each service name (its instances, their
//! checks, the nodes hosting them and those nodes' own checks), and the
//! last index under each KV directory prefix.
//!
//! All of it is derived state: kept up to date as commands apply, rebuilt
//! from the tables after a decode or a restore, never encoded in a
//! snapshot. Never performs I/O and never reads a clock.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use crate::history::Change;
use crate::kv::KvTable;
use crate::{Command, Store, Tables};

/// A table a read can depend on as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Kv,
    Nodes,
    Services,
    Checks,
    Sessions,
    Acl,
    Events,
    Autopilot,
    Queries,
    Coordinates,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 10] = [
        Table::Kv,
        Table::Nodes,
        Table::Services,
        Table::Checks,
        Table::Sessions,
        Table::Acl,
        Table::Events,
        Table::Autopilot,
        Table::Queries,
        Table::Coordinates,
    ];
}

/// What a read's answer depends on: a blocking query waits for a write
/// that touched one of its interests.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Interest {
    /// Any change at all (reads of the whole store).
    Everything,
    /// Any change to a table.
    Table(Table),
    /// A service name: its instances, their checks, the nodes that host
    /// them and those nodes' own checks.
    Service(String),
    /// A node: its record, its service instances and its checks.
    Node(String),
    /// Exactly one KV key.
    KvKey(String),
    /// Every KV key that starts with the prefix.
    KvPrefix(String),
}

/// How many touched names one `Touched` keeps before it gives up on
/// naming them and says "everything" (a bound on memory when nobody takes
/// them, and on the work of one huge write's wake-up).
pub const MAX_NAMED: usize = 65_536;

/// The topics that applied commands touched since they were last taken
/// (`Store::take_touched`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    /// Everything may have changed (a snapshot restore, or too many names).
    pub everything: bool,
    pub tables: BTreeSet<Table>,
    pub services: BTreeSet<String>,
    pub nodes: BTreeSet<String>,
    pub keys: BTreeSet<String>,
}

impl Touched {
    /// `true` when nothing was touched.
    pub fn is_empty(&self) -> bool {
        !self.everything
            && self.tables.is_empty()
            && self.services.is_empty()
            && self.nodes.is_empty()
            && self.keys.is_empty()
    }

    /// Whether a read with `interest` must look again.
    pub fn hits(&self, interest: &Interest) -> bool {
        if self.everything {
            return true;
        }
        match interest {
            Interest::Everything => !self.is_empty(),
            Interest::Table(t) => self.tables.contains(t),
            Interest::Service(s) => self.services.contains(s),
            Interest::Node(n) => self.nodes.contains(n),
            Interest::KvKey(k) => self.keys.contains(k),
            Interest::KvPrefix(p) => self
                .keys
                .range::<str, _>((Bound::Included(p.as_str()), Bound::Unbounded))
                .next()
                .is_some_and(|k| k.starts_with(p.as_str())),
        }
    }

    fn named(&self) -> usize {
        self.services.len() + self.nodes.len() + self.keys.len()
    }

    /// Gives up naming when too many names are kept.
    fn bound(&mut self) {
        if self.named() > MAX_NAMED {
            *self = Touched {
                everything: true,
                ..Touched::default()
            };
        }
    }
}

/// The indexes derived from the tables, and the topics touched since they
/// were last taken.
#[derive(Debug, Clone, Default)]
pub(crate) struct Derived {
    /// By service name: the index a read about the service reports (see
    /// `service_index`).
    services: HashMap<String, u64>,
    /// By directory prefix (every prefix of a live or deleted key that ends
    /// in `/`): the highest index written under it since it was created. A
    /// directory leaves when its last key's tombstone is reaped; a reaped
    /// tombstone's index may linger in a maximum, but never above the KV
    /// table's reaped index, which every prefix's index includes anyway.
    dirs: HashMap<String, u64>,
    pending: Touched,
}

/// The directory prefixes of `key`: each prefix that ends in `/`.
fn dirs_of(key: &str) -> impl Iterator<Item = &str> {
    key.match_indices('/').map(move |(j, _)| &key[..=j])
}

/// The index of a node's own state that its services' reads include: its
/// record and its node-level checks.
fn node_level_index(tables: &Tables, node: &str) -> u64 {
    let c = &tables.catalog;
    let record = c.node_record(node).map_or(0, |n| n.modify_index);
    c.checks_of(node)
        .filter(|k| k.service_id.is_empty())
        .map(|k| k.modify_index)
        .fold(record, u64::max)
}

impl Derived {
    /// Builds the derived indexes from the tables alone.
    pub(crate) fn rebuild(tables: &Tables) -> Derived {
        let c = &tables.catalog;
        let mut services: HashMap<String, u64> = c
            .service_touch_indexes()
            .map(|(n, i)| (n.clone(), *i))
            .collect();
        let mut node_level: HashMap<&str, u64> = HashMap::new();
        for (node, s) in c.all_services() {
            let n = *node_level
                .entry(node)
                .or_insert_with(|| node_level_index(tables, node));
            let e = services.entry(s.service.clone()).or_insert(0);
            *e = (*e).max(n);
        }
        let mut d = Derived {
            services,
            dirs: HashMap::new(),
            pending: Touched::default(),
        };
        let kv = &tables.kv;
        let live = kv.entries().iter().map(|(k, e)| (k, e.modify_index));
        let dead = kv.tombstones().iter().map(|(k, i)| (k, *i));
        for (key, index) in live.chain(dead) {
            d.raise_dirs(key, index);
        }
        d
    }

    fn raise_dirs(&mut self, key: &str, index: u64) {
        for dir in dirs_of(key) {
            match self.dirs.get_mut(dir) {
                Some(i) => *i = (*i).max(index),
                None => {
                    self.dirs.insert(dir.to_owned(), index);
                }
            }
        }
    }

    /// Notes a KV change of `key` at `index` (a write or a delete).
    pub(crate) fn kv_changed(&mut self, key: &str, index: u64) {
        self.raise_dirs(key, index);
        self.pending.tables.insert(Table::Kv);
        if !self.pending.everything {
            self.pending.keys.insert(key.to_owned());
            self.pending.bound();
        }
    }

    /// Drops the directories left empty by tombstones `kv` reaped.
    pub(crate) fn kv_reaped(&mut self, kv: &KvTable, evicted: &[Change]) {
        for c in evicted.iter().filter(|c| c.entry.is_none()) {
            if kv.holds(&c.key) {
                continue;
            }
            for dir in dirs_of(&c.key) {
                if !kv.any_under(dir) {
                    self.dirs.remove(dir);
                }
            }
        }
    }

    /// The index a read under `prefix` reports: equal to
    /// `KvTable::prefix_index`, found without scanning the prefix: a
    /// directory prefix (ending in `/`) is one lookup; any other prefix
    /// visits only the entries directly in its directory that match it,
    /// taking each sub-directory's maximum whole.
    pub(crate) fn kv_prefix_index(&self, kv: &KvTable, prefix: &str) -> u64 {
        if prefix.is_empty() {
            return kv.table_index();
        }
        let own = if prefix.ends_with('/') {
            self.dirs.get(prefix).copied().unwrap_or(0)
        } else {
            let live = self.children_max(kv.entries(), prefix, |e| e.modify_index);
            let dead = self.children_max(kv.tombstones(), prefix, |i| *i);
            live.max(dead)
        };
        own.max(kv.reaped_index()).max(1)
    }

    /// The highest index among the keys of `map` that start with `prefix`
    /// (which does not end in `/`), taking a sub-directory's maximum from
    /// `dirs` and skipping its keys.
    fn children_max<V>(
        &self,
        map: &std::collections::BTreeMap<String, V>,
        prefix: &str,
        index: impl Fn(&V) -> u64,
    ) -> u64 {
        let mut best = 0;
        let mut from: Bound<String> = Bound::Included(prefix.to_owned());
        loop {
            let next = map
                .range::<String, _>((from.as_ref(), Bound::Unbounded))
                .next();
            let Some((key, v)) = next.filter(|(k, _)| k.starts_with(prefix)) else {
                return best;
            };
            match key[prefix.len()..].find('/') {
                Some(j) => {
                    let dir = &key[..prefix.len() + j + 1];
                    best = best.max(self.dirs.get(dir).copied().unwrap_or(0));
                    // Every key under `dir` sorts below `dir` with its
                    // final '/' turned into '0', the next character.
                    let mut after = dir[..dir.len() - 1].to_owned();
                    after.push('0');
                    from = Bound::Included(after);
                }
                None => {
                    best = best.max(index(v));
                    from = Bound::Excluded(key.clone());
                }
            }
        }
    }

    /// The index a read about service `name` reports.
    pub(crate) fn service_index(&self, name: &str) -> u64 {
        self.services.get(name).copied().unwrap_or(0).max(1)
    }

    /// Takes the topics touched since the last take.
    pub(crate) fn take(&mut self) -> Touched {
        std::mem::take(&mut self.pending)
    }

    fn touch_service(&mut self, name: &str, index: u64) {
        self.services.insert(name.to_owned(), index);
        if !self.pending.everything {
            self.pending.services.insert(name.to_owned());
        }
    }
}

/// A node's catalog entries before a command, to tell what it changed.
#[derive(Debug)]
struct NodeMark {
    node: String,
    existed: bool,
    services: Vec<(String, String)>,
    checks: Vec<String>,
    /// The service names the node's checks carry (a check keeps the name
    /// its service had when the check was written).
    check_services: BTreeSet<String>,
}

impl NodeMark {
    fn of(tables: &Tables, node: &str) -> NodeMark {
        let c = &tables.catalog;
        NodeMark {
            node: node.to_owned(),
            existed: c.node_record(node).is_some(),
            services: c
                .services_on(node)
                .map(|s| (s.id.clone(), s.service.clone()))
                .collect(),
            checks: c.checks_of(node).map(|k| k.check_id.clone()).collect(),
            check_services: c
                .checks_of(node)
                .filter(|k| !k.service_name.is_empty())
                .map(|k| k.service_name.clone())
                .collect(),
        }
    }
}

/// The raw indexes of every table, to tell which a command changed.
fn table_marks(t: &Tables) -> [u64; 10] {
    let c = t.catalog.table_indexes();
    [
        t.kv.raw_table_index(),
        c.nodes,
        c.services,
        c.checks,
        t.sessions.table_index(),
        t.acl.index(),
        t.events.index(),
        t.autopilot.index(),
        t.queries.index(),
        t.coordinates.raw_index(),
    ]
}

/// What the store looked like before a command, where the command can
/// change it: taken by `Mark::before`, compared by `Mark::after`.
#[derive(Debug)]
pub(crate) struct Mark {
    tables: [u64; 10],
    nodes: Vec<NodeMark>,
    /// Service names the command registers.
    names: BTreeSet<String>,
    /// Tables the command names whatever its outcome.
    named: BTreeSet<Table>,
    restore: bool,
}

/// Collects the catalog nodes and service names `cmd` may change, and the
/// tables it names. Every variant is listed, so a new one must say here
/// what it touches.
fn scope(
    cmd: &Command,
    nodes: &mut BTreeSet<String>,
    names: &mut BTreeSet<String>,
    named: &mut BTreeSet<Table>,
) -> bool {
    let mut register = |r: &crate::model::Registration, nodes: &mut BTreeSet<String>| {
        nodes.insert(r.node.clone());
        if let Some(s) = &r.service {
            names.insert(s.service.clone());
        }
    };
    match cmd {
        Command::KvSet { .. }
        | Command::KvDelete { .. }
        | Command::KvDeleteTree { .. }
        | Command::KvLock { .. }
        | Command::KvUnlock { .. } => {}
        Command::NodeHealth(n) => {
            nodes.insert(n.node.clone());
        }
        Command::CatalogRegister(r) | Command::CatalogRegisterTyped { register: r, .. } => {
            register(r, nodes)
        }
        Command::CatalogDeregister(d) => {
            nodes.insert(d.node.clone());
        }
        Command::EventFire(_) => {
            named.insert(Table::Events);
        }
        Command::Restore(_) | Command::RestoreCommit { .. } => return true,
        // Staged pieces change nothing a read can see.
        Command::RestoreChunk { .. } | Command::RestoreAbort { .. } => {}
        Command::Batch(cmds) => {
            let mut restore = false;
            for c in cmds {
                restore |= scope(c, nodes, names, named);
            }
            return restore;
        }
        Command::Timed { cmd, .. } => return scope(cmd, nodes, names, named),
        Command::SessionCreate(_)
        | Command::SessionDestroy { .. }
        | Command::SessionRenew { .. }
        | Command::SessionExpire { .. } => {
            named.insert(Table::Sessions);
        }
        Command::Txn(ops) => {
            for op in ops.iter().filter_map(crate::txn::TxnOp::catalog_op) {
                nodes.insert(op.node.clone());
                register(&op.register, nodes);
            }
        }
        Command::Acl(_) => {
            named.insert(Table::Acl);
        }
        Command::AutopilotSetConfig { .. } => {
            named.insert(Table::Autopilot);
        }
        Command::PreparedQuery(_) => {
            named.insert(Table::Queries);
        }
        Command::CoordinateBatchUpdate(_) => {}
    }
    false
}

impl Mark {
    /// Notes what `cmd` can change, before it applies.
    pub(crate) fn before(store: &Store, cmd: &Command) -> Mark {
        let (mut nodes, mut names, mut named) = Default::default();
        let restore = scope(cmd, &mut nodes, &mut names, &mut named);
        Mark {
            tables: table_marks(&store.tables),
            nodes: nodes
                .iter()
                .map(|n| NodeMark::of(&store.tables, n))
                .collect(),
            names,
            named,
            restore,
        }
    }

    /// Records what the command applied at `index` touched and brings the
    /// derived indexes up to date.
    pub(crate) fn after(self, store: &mut Store, index: u64) {
        let Store {
            tables, derived, ..
        } = store;
        if self.restore && tables.restored_at == index {
            // `restore_from` rebuilt the derived indexes.
            derived.pending = Touched {
                everything: true,
                ..Touched::default()
            };
            return;
        }
        let now = table_marks(tables);
        for (t, (was, is)) in Table::ALL.iter().zip(self.tables.iter().zip(now)) {
            if *was != is {
                derived.pending.tables.insert(*t);
            }
        }
        derived.pending.tables.extend(self.named);
        let c = &tables.catalog;
        for mark in &self.nodes {
            let node = mark.node.as_str();
            let record = c.node_record(node);
            let node_level = node_level_index(tables, node) == index;
            let changed = node_level
                || mark.existed != record.is_some()
                || c.services_on(node).any(|s| s.modify_index == index)
                || c.services_on(node)
                    .map(|s| &s.id)
                    .ne(mark.services.iter().map(|(id, _)| id))
                || c.checks_of(node).any(|k| k.modify_index == index)
                || c.checks_of(node)
                    .map(|k| &k.check_id)
                    .ne(mark.checks.iter());
            if changed && !derived.pending.everything {
                derived.pending.nodes.insert(node.to_owned());
            }
            let mut candidates: BTreeSet<&str> =
                mark.services.iter().map(|(_, n)| n.as_str()).collect();
            candidates.extend(c.services_on(node).map(|s| s.service.as_str()));
            candidates.extend(mark.check_services.iter().map(String::as_str));
            candidates.extend(
                c.checks_of(node)
                    .map(|k| k.service_name.as_str())
                    .filter(|n| !n.is_empty()),
            );
            candidates.extend(self.names.iter().map(String::as_str));
            for name in candidates {
                let on_node = c.services_on(node).any(|s| s.service == name);
                if (node_level && on_node) || c.service_touch_index(name) == Some(index) {
                    derived.touch_service(name, index);
                } else if changed && !on_node && !derived.pending.everything {
                    // A name only a check still carries (its service was
                    // renamed since): its checks' list may have changed
                    // though the catalog keeps its index, so look again.
                    derived.pending.services.insert(name.to_owned());
                }
            }
        }
        derived.pending.bound();
    }
}

#[cfg(test)]
mod tests;

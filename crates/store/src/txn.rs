//! Transactions (`PUT /v1/txn`): up to 128 operations on KV, nodes,
//! services and checks applied as one command at one index. Operations run
//! in order, each seeing the ones before it; if any fails, everything is put
//! back (KV keys from an undo record, the catalog from a copy taken before
//! the first catalog write) and the answer lists every failure, as Consul's.
//! Never performs I/O and never reads a clock.

use bytes::Bytes;
use praetor_api::catalog::{HealthCheck, Node, NodeService};
use serde::{Deserialize, Serialize};

use crate::history::Change;
use crate::kv::{Entry, Undo};
use crate::model::{Deregistration, Registration};
use crate::Store;

/// A KV verb, as Consul names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum KvVerb {
    Set,
    Cas,
    Lock,
    Unlock,
    Get,
    GetTree,
    CheckIndex,
    CheckSession,
    CheckNotExists,
    Delete,
    DeleteTree,
    DeleteCas,
    /// The key's entry, or an empty one when it does not exist (Consul
    /// 1.14's `get-or-empty`). Last, as it came last: a verb's position is
    /// its tag in the Raft log.
    GetOrEmpty,
}

impl KvVerb {
    /// The verb named `s` (`set`, `get-tree`, …).
    pub fn parse(s: &str) -> Option<KvVerb> {
        Some(match s {
            "set" => KvVerb::Set,
            "cas" => KvVerb::Cas,
            "lock" => KvVerb::Lock,
            "unlock" => KvVerb::Unlock,
            "get" => KvVerb::Get,
            "get-tree" => KvVerb::GetTree,
            "check-index" => KvVerb::CheckIndex,
            "check-session" => KvVerb::CheckSession,
            "check-not-exists" => KvVerb::CheckNotExists,
            "delete" => KvVerb::Delete,
            "delete-tree" => KvVerb::DeleteTree,
            "delete-cas" => KvVerb::DeleteCas,
            "get-or-empty" => KvVerb::GetOrEmpty,
            _ => return None,
        })
    }

    /// `true` for the verbs that only read.
    pub fn reads_only(self) -> bool {
        matches!(
            self,
            KvVerb::Get
                | KvVerb::GetOrEmpty
                | KvVerb::GetTree
                | KvVerb::CheckIndex
                | KvVerb::CheckSession
                | KvVerb::CheckNotExists
        )
    }
}

/// A node, service or check verb, as Consul names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CatalogVerb {
    Set,
    Cas,
    Get,
    Delete,
    DeleteCas,
}

impl CatalogVerb {
    /// The verb named `s`.
    pub fn parse(s: &str) -> Option<CatalogVerb> {
        Some(match s {
            "set" => CatalogVerb::Set,
            "cas" => CatalogVerb::Cas,
            "get" => CatalogVerb::Get,
            "delete" => CatalogVerb::Delete,
            "delete-cas" => CatalogVerb::DeleteCas,
            _ => return None,
        })
    }
}

/// One KV operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvOp {
    pub verb: KvVerb,
    pub key: String,
    #[serde(with = "crate::value")]
    pub value: Bytes,
    pub flags: u64,
    /// The ModifyIndex a `cas`, `check-index` or `delete-cas` expects.
    pub index: u64,
    /// The session of a `lock`, `unlock` or `check-session`.
    pub session: String,
}

/// What a catalog operation is about: a node, a service of a node or a
/// check of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CatalogTarget {
    Node,
    Service,
    Check,
}

/// One node, service or check operation. `register` carries what `set` and
/// `cas` write (a node alone, or a service or check with
/// `SkipNodeUpdate`); `index` is the ModifyIndex `cas` and `delete-cas`
/// expect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogOp {
    pub target: CatalogTarget,
    pub verb: CatalogVerb,
    pub node: String,
    /// The service or check ID (empty for a node).
    pub id: String,
    pub register: Registration,
    pub index: u64,
}

/// What a catalog operation carries beside its `Registration`: the
/// service's kind, tagged addresses, proxy and locality, and the check's
/// `Type`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogExtra {
    pub service: crate::model::ServiceExtra,
    /// Empty: the check keeps the type it had.
    pub check_type: String,
}

/// One operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnOp {
    Kv(KvOp),
    Catalog(Box<CatalogOp>),
    /// A catalog operation with what its registration does not carry. A
    /// variant of its own, last: older log entries hold `Catalog`.
    CatalogTyped(Box<CatalogOp>, Box<CatalogExtra>),
}

impl TxnOp {
    /// A catalog operation: `CatalogTyped` when `extra` has anything.
    pub fn catalog(op: CatalogOp, extra: CatalogExtra) -> TxnOp {
        if extra == CatalogExtra::default() {
            TxnOp::Catalog(Box::new(op))
        } else {
            TxnOp::CatalogTyped(Box::new(op), Box::new(extra))
        }
    }

    /// The catalog operation, if this is one.
    pub fn catalog_op(&self) -> Option<&CatalogOp> {
        match self {
            TxnOp::Kv(_) => None,
            TxnOp::Catalog(op) | TxnOp::CatalogTyped(op, _) => Some(op),
        }
    }

    /// `true` when the operation only reads.
    pub fn reads_only(&self) -> bool {
        match self {
            TxnOp::Kv(op) => op.verb.reads_only(),
            TxnOp::Catalog(op) | TxnOp::CatalogTyped(op, _) => op.verb == CatalogVerb::Get,
        }
    }
}

/// One result of a successful transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnResult {
    /// A key and its entry (its value blank unless the operation read it).
    Kv(String, Entry),
    Node(Node),
    Service(NodeService),
    Check(HealthCheck),
}

/// What a transaction answered: results when it applied, or every failed
/// operation (index, reason) when nothing was applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnOutcome {
    pub results: Vec<TxnResult>,
    pub errors: Vec<(usize, String)>,
}

impl TxnOutcome {
    /// `true` when every operation succeeded.
    pub fn ok(&self) -> bool {
        self.errors.is_empty()
    }
}

fn blank(key: &str, e: &Entry) -> TxnResult {
    TxnResult::Kv(
        key.to_owned(),
        Entry {
            value: Bytes::new(),
            ..e.clone()
        },
    )
}

fn missing(key: &str) -> String {
    format!("key {key:?} doesn't exist")
}

/// A read-only KV operation against `store`; `None` for a write.
fn kv_read(store: &Store, op: &KvOp) -> Option<Result<Vec<TxnResult>, String>> {
    let kv = store.kv();
    let key = op.key.as_str();
    Some(match op.verb {
        KvVerb::Get => kv
            .get(key)
            .map(|e| vec![TxnResult::Kv(key.to_owned(), e.clone())])
            .ok_or_else(|| missing(key)),
        // As Consul: a missing key answers the operation's own key, flags,
        // index and session with no value, and does not fail the txn.
        KvVerb::GetOrEmpty => Ok(vec![TxnResult::Kv(
            key.to_owned(),
            kv.get(key).cloned().unwrap_or_else(|| Entry {
                value: Bytes::new(),
                flags: op.flags,
                create_index: 0,
                modify_index: op.index,
                lock_index: 0,
                session: (!op.session.is_empty()).then(|| op.session.clone()),
            }),
        )]),
        KvVerb::GetTree => Ok(kv
            .list(key)
            .map(|(k, e)| TxnResult::Kv(k.clone(), e.clone()))
            .collect()),
        KvVerb::CheckIndex => match kv.get(key) {
            None => Err(missing(key)),
            Some(e) if e.modify_index != op.index => Err(format!(
                "current modify index {} of key {key:?} != {}",
                e.modify_index, op.index
            )),
            Some(e) => Ok(vec![blank(key, e)]),
        },
        KvVerb::CheckSession => match kv.get(key) {
            None => Err(missing(key)),
            Some(e) if e.session.as_deref() != Some(op.session.as_str()) => Err(format!(
                "failed session check for key {key:?}, current session {:?} != {:?}",
                e.session.as_deref().unwrap_or(""),
                op.session
            )),
            Some(e) => Ok(vec![blank(key, e)]),
        },
        KvVerb::CheckNotExists => match kv.get(key) {
            Some(_) => Err(format!("key {key:?} exists")),
            None => Ok(Vec::new()),
        },
        _ => return None,
    })
}

/// The result of a write: the key's entry now, value blanked.
fn written(store: &Store, key: &str) -> Vec<TxnResult> {
    store
        .kv()
        .get(key)
        .map(|e| vec![blank(key, e)])
        .unwrap_or_default()
}

fn kv_write(
    store: &mut Store,
    index: u64,
    op: &KvOp,
    undo: &mut Undo,
    changes: &mut Vec<Change>,
) -> Result<Vec<TxnResult>, String> {
    let key = op.key.as_str();
    let done = |c: Option<Vec<Change>>, changes: &mut Vec<Change>, why: String| match c {
        Some(c) => {
            changes.extend(c);
            Ok(())
        }
        None => Err(why),
    };
    match op.verb {
        KvVerb::Set | KvVerb::Cas => {
            store.tables.kv.save(undo, key);
            let cas = (op.verb == KvVerb::Cas).then_some(op.index);
            let c = store.tables.kv.set(index, key, &op.value, op.flags, cas);
            done(
                c,
                changes,
                format!("failed to set key {key:?}, index is stale"),
            )?;
            Ok(written(store, key))
        }
        KvVerb::Lock => {
            crate::command::may_acquire(store, key, &op.session)
                .map_err(|why| format!("failed to lock key {key:?}: {why}"))?;
            store.tables.kv.save(undo, key);
            let c = store
                .tables
                .kv
                .lock(index, key, &op.value, op.flags, &op.session);
            done(
                c,
                changes,
                format!("failed to lock key {key:?}, lock is already held"),
            )?;
            Ok(written(store, key))
        }
        KvVerb::Unlock => {
            store.tables.kv.save(undo, key);
            let c = store
                .tables
                .kv
                .unlock(index, key, &op.value, op.flags, &op.session);
            let why = format!(
                "failed to unlock key {key:?}, lock isn't held, or is held by another session"
            );
            done(c, changes, why)?;
            Ok(written(store, key))
        }
        KvVerb::Delete | KvVerb::DeleteCas => {
            store.tables.kv.save(undo, key);
            let cas = (op.verb == KvVerb::DeleteCas).then_some(op.index);
            let c = store.tables.kv.delete(index, key, cas);
            done(
                c,
                changes,
                format!("failed to delete key {key:?}, index is stale"),
            )?;
            Ok(Vec::new())
        }
        KvVerb::DeleteTree => {
            store.tables.kv.save_prefix(undo, key);
            changes.extend(store.tables.kv.delete_tree(index, key));
            Ok(Vec::new())
        }
        KvVerb::Get
        | KvVerb::GetOrEmpty
        | KvVerb::GetTree
        | KvVerb::CheckIndex
        | KvVerb::CheckSession
        | KvVerb::CheckNotExists => kv_read(store, op).unwrap_or(Ok(Vec::new())),
    }
}

fn what(op: &CatalogOp) -> String {
    match op.target {
        CatalogTarget::Node => format!("node {:?}", op.node),
        CatalogTarget::Service => format!("service {:?} on node {:?}", op.id, op.node),
        CatalogTarget::Check => format!("check {:?} on node {:?}", op.id, op.node),
    }
}

/// The current result of a catalog operation's target, if it exists.
fn catalog_get(store: &Store, op: &CatalogOp) -> Option<TxnResult> {
    let c = store.catalog();
    match op.target {
        CatalogTarget::Node => c.node(&op.node).1.map(TxnResult::Node),
        CatalogTarget::Service => c.service(&op.node, &op.id).map(TxnResult::Service),
        CatalogTarget::Check => c.check(&op.node, &op.id).map(TxnResult::Check),
    }
}

fn modify_index(r: &TxnResult) -> u64 {
    match r {
        TxnResult::Kv(_, e) => e.modify_index,
        TxnResult::Node(n) => n.modify_index,
        TxnResult::Service(s) => s.modify_index,
        TxnResult::Check(c) => c.modify_index,
    }
}

fn catalog_op(
    store: &mut Store,
    index: u64,
    op: &CatalogOp,
    extra: &CatalogExtra,
) -> Result<Vec<TxnResult>, String> {
    let current = catalog_get(store, op);
    match op.verb {
        CatalogVerb::Get => current
            .map(|r| vec![r])
            .ok_or_else(|| format!("{} doesn't exist", what(op))),
        CatalogVerb::Set | CatalogVerb::Cas => {
            if op.verb == CatalogVerb::Cas && current.as_ref().map_or(0, modify_index) != op.index {
                return Err(format!("failed to set {}, index is stale", what(op)));
            }
            if op.target != CatalogTarget::Node && !store.catalog().has_node(&op.node) {
                return Err(format!("node {:?} doesn't exist", op.node));
            }
            let mut types = std::collections::BTreeMap::new();
            if op.target == CatalogTarget::Check && !extra.check_type.is_empty() {
                types.insert(op.id.clone(), extra.check_type.clone());
            }
            store
                .tables
                .catalog
                .register_typed(index, &op.register, &types, &extra.service)?;
            Ok(catalog_get(store, op).into_iter().collect())
        }
        CatalogVerb::Delete | CatalogVerb::DeleteCas => {
            if op.verb == CatalogVerb::DeleteCas
                && current.as_ref().map_or(0, modify_index) != op.index
            {
                return Err(format!("failed to delete {}, index is stale", what(op)));
            }
            let mut r = Deregistration {
                node: op.node.clone(),
                ..Deregistration::default()
            };
            match op.target {
                CatalogTarget::Node => {}
                CatalogTarget::Service => r.service_id = op.id.clone(),
                CatalogTarget::Check => r.check_id = op.id.clone(),
            }
            store.tables.catalog.deregister(index, &r);
            Ok(Vec::new())
        }
    }
}

/// Keeps what the transaction's catalog writes can change (the nodes its
/// operations name), as it was before the first of them, to put back if
/// the transaction fails.
fn save_catalog(
    store: &Store,
    ops: &[TxnOp],
    op: &CatalogOp,
    saved: &mut Option<crate::catalog::CatalogUndo>,
) {
    if op.verb != CatalogVerb::Get && saved.is_none() {
        let catalog_ops = || ops.iter().filter_map(TxnOp::catalog_op);
        let nodes = catalog_ops().flat_map(|o| [o.node.as_str(), o.register.node.as_str()]);
        let names =
            catalog_ops().filter_map(|o| o.register.service.as_ref().map(|s| s.service.as_str()));
        *saved = Some(store.tables.catalog.save(nodes, names));
    }
}

/// Applies `ops` at `index`, all or nothing.
pub(crate) fn apply(store: &mut Store, index: u64, ops: &[TxnOp]) -> TxnOutcome {
    let mut undo = Undo::default();
    let mut changes = Vec::new();
    let mut saved_catalog = None;
    let mut out = TxnOutcome::default();
    for (i, op) in ops.iter().enumerate() {
        let r = match op {
            TxnOp::Kv(op) => kv_write(store, index, op, &mut undo, &mut changes),
            TxnOp::Catalog(op) => {
                save_catalog(store, ops, op, &mut saved_catalog);
                catalog_op(store, index, op, &CatalogExtra::default())
            }
            TxnOp::CatalogTyped(op, extra) => {
                save_catalog(store, ops, op, &mut saved_catalog);
                catalog_op(store, index, op, extra)
            }
        };
        match r {
            Ok(results) => out.results.extend(results),
            Err(why) => out.errors.push((i, why)),
        }
    }
    if !out.ok() {
        store.tables.kv.rollback(undo);
        if let Some(c) = saved_catalog {
            store.tables.catalog.restore(c);
        }
        out.results.clear();
        return out;
    }
    crate::command::record(store, changes);
    if saved_catalog.is_some() {
        let nodes = ops.iter().filter_map(|op| match op {
            TxnOp::Catalog(op) if op.verb != CatalogVerb::Get => Some(op),
            _ => None,
        });
        let nodes: Vec<String> = nodes
            .flat_map(|op| [op.node.clone(), op.register.node.clone()])
            .collect();
        crate::command::sweep_coordinates(store, index, nodes.iter().map(String::as_str));
        crate::command::sweep_sessions(store, index, nodes.iter().map(String::as_str));
    }
    out
}

/// Answers a read-only transaction (every operation reads) from `store`.
pub fn read(store: &Store, ops: &[TxnOp]) -> TxnOutcome {
    let mut out = TxnOutcome::default();
    for (i, op) in ops.iter().enumerate() {
        let r = match op {
            TxnOp::Kv(op) => {
                kv_read(store, op).unwrap_or_else(|| Err("not a read-only operation".to_owned()))
            }
            TxnOp::Catalog(op) | TxnOp::CatalogTyped(op, _) if op.verb == CatalogVerb::Get => {
                catalog_get(store, op)
                    .map(|r| vec![r])
                    .ok_or_else(|| format!("{} doesn't exist", what(op)))
            }
            TxnOp::Catalog(_) | TxnOp::CatalogTyped(..) => {
                Err("not a read-only operation".to_owned())
            }
        };
        match r {
            Ok(results) => out.results.extend(results),
            Err(why) => out.errors.push((i, why)),
        }
    }
    if !out.ok() {
        out.results.clear();
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::model::{CheckRegistration, Registration, ServiceRegistration};
    use crate::Command;

    const NODES: [&str; 3] = ["n1", "n2", "n3"];
    const IDS: [&str; 3] = ["a", "b", "c"];
    const NAMES: [&str; 3] = ["web", "db", "cache"];

    /// One catalog write of a transaction: a node, a service (possibly
    /// renamed), a service check, a node-level check, or a delete of any.
    fn arb_op() -> impl Strategy<Value = TxnOp> {
        (
            0..6u8,
            prop::sample::select(&NODES[..]),
            prop::sample::select(&IDS[..]),
            prop::sample::select(&NAMES[..]),
        )
            .prop_map(|(kind, node, id, name)| {
                let mut register = Registration {
                    node: node.into(),
                    address: "10.0.0.1".into(),
                    skip_node_update: kind != 0,
                    ..Registration::default()
                };
                let (target, verb, id) = match kind {
                    0 => (CatalogTarget::Node, CatalogVerb::Set, String::new()),
                    1 => {
                        register.service = Some(ServiceRegistration {
                            id: id.into(),
                            service: name.into(),
                            ..ServiceRegistration::default()
                        });
                        (CatalogTarget::Service, CatalogVerb::Set, id.to_owned())
                    }
                    2 | 3 => {
                        register.check = Some(CheckRegistration {
                            node: node.into(),
                            check_id: format!("chk-{id}-{kind}"),
                            status: "passing".into(),
                            service_id: if kind == 2 { id.into() } else { String::new() },
                            ..CheckRegistration::default()
                        });
                        (
                            CatalogTarget::Check,
                            CatalogVerb::Set,
                            format!("chk-{id}-{kind}"),
                        )
                    }
                    4 => (CatalogTarget::Service, CatalogVerb::Delete, id.to_owned()),
                    _ => (CatalogTarget::Node, CatalogVerb::Delete, String::new()),
                };
                TxnOp::Catalog(Box::new(CatalogOp {
                    target,
                    verb,
                    node: node.into(),
                    id,
                    register,
                    index: 0,
                }))
            })
    }

    fn catalog_bytes(store: &Store) -> Vec<u8> {
        postcard::to_stdvec(&store.tables.catalog).unwrap()
    }

    proptest! {
        /// Issue 17: a failed transaction puts back exactly the catalog it
        /// found (records, indexes, per-name indexes and the index by
        /// name), now that it saves only the nodes it names instead of a
        /// copy of the whole catalog.
        #[test]
        fn a_failed_transaction_leaves_the_catalog_as_it_found_it(
            before in prop::collection::vec(prop::collection::vec(arb_op(), 1..5), 0..12),
            failing in prop::collection::vec(arb_op(), 1..8),
        ) {
            let mut store = Store::default();
            let mut index = 0;
            for ops in before {
                index += 1;
                store.apply(index, &Command::Txn(ops));
            }
            let saved = catalog_bytes(&store);
            let mut ops = failing;
            // A get of a node that is never registered fails the whole transaction.
            ops.push(TxnOp::Catalog(Box::new(CatalogOp {
                target: CatalogTarget::Node,
                verb: CatalogVerb::Get,
                node: "missing".into(),
                id: String::new(),
                register: Registration::default(),
                index: 0,
            })));
            let out = apply(&mut store, index + 1, &ops);
            prop_assert!(!out.ok());
            prop_assert!(catalog_bytes(&store) == saved, "the catalog changed");
            prop_assert!(store.tables.catalog.index_matches_a_rebuild());
        }
    }
}

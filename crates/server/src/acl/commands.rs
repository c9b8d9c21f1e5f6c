//! What each write needs, as Consul checks it: KV writes `key:write` (a
//! recursive delete write on the whole prefix), catalog registrations
//! `node:write` and `service:write`, sessions `session:write` on their
//! node, events `event:write`, transactions every operation's permission
//! (nothing is applied when one is denied), ACL changes `acl:write`, and a
//! snapshot restore management. Bootstrap needs nothing: it works once.

use praetor_acl::{Access, Global, Resource};
use praetor_store::model::Registration;
use praetor_store::txn::{CatalogOp, CatalogTarget, CatalogVerb, KvVerb, TxnOp};
use praetor_store::{Command, Store};

use super::{AclError, Authz};

/// Whether `authz` may apply `cmd` to `store` as it is now.
///
/// # Errors
/// `Denied` with the first permission missing.
pub fn authorize_command(authz: &Authz, store: &Store, cmd: &Command) -> Result<(), AclError> {
    use Access::Write;
    match cmd {
        Command::KvSet { key, .. }
        | Command::KvDelete { key, .. }
        | Command::KvLock { key, .. }
        | Command::KvUnlock { key, .. } => authz.require(Resource::Key, key, Write),
        Command::KvDeleteTree { prefix } => authz.require_key_write_prefix(prefix),
        Command::CatalogRegister(r) | Command::CatalogRegisterTyped { register: r, .. } => {
            register(authz, store, r)
        }
        Command::CatalogDeregister(d) => {
            if !d.check_id.is_empty() {
                match store.catalog().check(&d.node, &d.check_id) {
                    Some(c) if !c.service_name.is_empty() => {
                        authz.require(Resource::Service, &c.service_name, Write)
                    }
                    _ => authz.require(Resource::Node, &d.node, Write),
                }
            } else if !d.service_id.is_empty() {
                match store.catalog().service(&d.node, &d.service_id) {
                    Some(s) => authz.require(Resource::Service, &s.service, Write),
                    None => authz.require(Resource::Node, &d.node, Write),
                }
            } else {
                authz.require(Resource::Node, &d.node, Write)
            }
        }
        Command::EventFire(e) => authz.require(Resource::Event, &e.name, Write),
        Command::SessionCreate(s) => authz.require(Resource::Session, &s.node, Write),
        Command::SessionDestroy { id } | Command::SessionRenew { id } => {
            match store.sessions().get(id) {
                Some(s) => authz.require(Resource::Session, &s.entry.node, Write),
                // An unknown session changes nothing; the answer says so.
                None => Ok(()),
            }
        }
        Command::Txn(ops) => ops.iter().try_for_each(|op| txn_op(authz, store, op)),
        Command::Acl(praetor_store::acl::AclCommand::Bootstrap { .. }) => Ok(()),
        Command::Acl(_) => authz.require_global(Global::Acl, Write),
        Command::AutopilotSetConfig { .. } => authz.require_global(Global::Operator, Write),
        Command::PreparedQuery(c) => prepared_query(authz, store, c),
        // Consul's `Coordinate.Update`: `node:write` on each node.
        Command::CoordinateBatchUpdate(updates) => updates
            .iter()
            .try_for_each(|u| authz.require(Resource::Node, &u.node, Write)),
        // An agent's anti-entropy: each write as if it came alone.
        Command::Batch(cmds) if cmds.iter().all(crate::rpc::is_catalog_write) => cmds
            .iter()
            .try_for_each(|c| authorize_command(authz, store, c)),
        // The leader's own commands and a restore replace or stamp state
        // wholesale: management only.
        Command::Restore(_)
        | Command::RestoreChunk { .. }
        | Command::RestoreCommit { .. }
        | Command::RestoreAbort { .. }
        | Command::NodeHealth(_)
        | Command::SessionExpire { .. }
        | Command::Batch(_)
        | Command::Timed { .. } => authz.require_global(Global::Acl, Write),
    }
}

/// A prepared-query write, as Consul's `PreparedQuery.Apply` checks it:
/// `query:write` on the name of the query written and of the query it
/// replaces or deletes, when they have one (or are templates); a static
/// query without a name needs nothing (only its ID reaches it).
fn prepared_query(
    authz: &Authz,
    store: &Store,
    c: &praetor_store::query::QueryCommand,
) -> Result<(), AclError> {
    use praetor_store::query::QueryCommand;
    let (new, id) = match c {
        QueryCommand::Create(q) => (Some(q), None),
        QueryCommand::Update(q) => (Some(q), Some(q.id.as_str())),
        QueryCommand::Delete { id } => (None, Some(id.as_str())),
    };
    let old = id.and_then(|id| store.queries().get(id));
    for q in new.into_iter().chain(old) {
        if let Some(name) = q.acl_prefix() {
            authz.require(Resource::Query, name, Access::Write)?;
        }
    }
    Ok(())
}

/// A catalog registration: `node:write` unless it only adds to a node that
/// exists (`SkipNodeUpdate`), `service:write` on its service, and on each
/// check the permission of what it checks.
fn register(authz: &Authz, store: &Store, r: &Registration) -> Result<(), AclError> {
    use Access::Write;
    if !(r.skip_node_update && store.catalog().has_node(&r.node)) {
        authz.require(Resource::Node, &r.node, Write)?;
    }
    if let Some(s) = &r.service {
        authz.require(Resource::Service, &s.service, Write)?;
    }
    for c in r.check.iter().chain(&r.checks) {
        if c.service_id.is_empty() {
            authz.require(Resource::Node, &r.node, Write)?;
        } else {
            let service = r
                .service
                .as_ref()
                .filter(|s| s.id == c.service_id)
                .map(|s| s.service.clone())
                .or_else(|| {
                    store
                        .catalog()
                        .service(&r.node, &c.service_id)
                        .map(|s| s.service)
                });
            match service {
                Some(name) => authz.require(Resource::Service, &name, Write)?,
                None => authz.require(Resource::Node, &r.node, Write)?,
            }
        }
    }
    Ok(())
}

pub(super) fn txn_op(authz: &Authz, store: &Store, op: &TxnOp) -> Result<(), AclError> {
    match op {
        TxnOp::Kv(kv) => match kv.verb {
            KvVerb::Get
            | KvVerb::GetOrEmpty
            | KvVerb::CheckIndex
            | KvVerb::CheckSession
            | KvVerb::CheckNotExists => authz.require(Resource::Key, &kv.key, Access::Read),
            KvVerb::GetTree => {
                authz.require_key_list(&kv.key)?;
                authz.require(Resource::Key, &kv.key, Access::Read)
            }
            KvVerb::DeleteTree => authz.require_key_write_prefix(&kv.key),
            KvVerb::Set
            | KvVerb::Cas
            | KvVerb::Lock
            | KvVerb::Unlock
            | KvVerb::Delete
            | KvVerb::DeleteCas => authz.require(Resource::Key, &kv.key, Access::Write),
        },
        TxnOp::Catalog(c) | TxnOp::CatalogTyped(c, _) => catalog_op(authz, store, c),
    }
}

fn catalog_op(authz: &Authz, store: &Store, op: &CatalogOp) -> Result<(), AclError> {
    let access = if op.verb == CatalogVerb::Get {
        Access::Read
    } else {
        Access::Write
    };
    match op.target {
        CatalogTarget::Node => authz.require(Resource::Node, &op.node, access),
        CatalogTarget::Service => {
            let name = op
                .register
                .service
                .as_ref()
                .map(|s| s.service.clone())
                .or_else(|| store.catalog().service(&op.node, &op.id).map(|s| s.service));
            match name {
                Some(name) => authz.require(Resource::Service, &name, access),
                None => authz.require(Resource::Node, &op.node, access),
            }
        }
        CatalogTarget::Check => {
            let service = op
                .register
                .check
                .as_ref()
                .map(|c| c.service_id.clone())
                .filter(|id| !id.is_empty())
                .and_then(|id| store.catalog().service(&op.node, &id))
                .map(|s| s.service)
                .or_else(|| {
                    store
                        .catalog()
                        .check(&op.node, &op.id)
                        .map(|c| c.service_name)
                        .filter(|n| !n.is_empty())
                });
            match service {
                Some(name) => authz.require(Resource::Service, &name, access),
                None => authz.require(Resource::Node, &op.node, access),
            }
        }
    }
}

//! What each read needs and what of its answer a token may see, as Consul
//! decides it: a read of one object needs read on it (403 otherwise); a
//! list keeps only what the token may read, and says when it left
//! something out (`X-Consul-Results-Filtered-By-ACLs`). Checked on every
//! evaluation of a blocking query, so a wake-up never leaks what the token
//! cannot see.

use praetor_acl::{Access, Global, Resource};
use praetor_api::catalog::HealthCheck;
use praetor_api::session::SessionEntry;
use praetor_store::txn::TxnResult;
use praetor_store::Store;

use super::{AclError, Authz};
use crate::read::*;

/// A read's ACL rules: what it needs before it is evaluated, and what of
/// its answer the token may see.
pub trait Guarded: Read {
    /// Whether `authz` may make this read at all.
    ///
    /// # Errors
    /// `Denied` with the missing permission.
    fn authorize(&self, authz: &Authz, store: &Store) -> Result<(), AclError>;

    /// Removes from `answer` what `authz` may not read; `true` when
    /// something was removed.
    fn filter(&self, authz: &Authz, answer: &mut Self::Answer) -> bool;
}

/// Keeps the items `keep` allows; `true` when one was dropped.
fn retain<T>(items: &mut Vec<T>, keep: impl Fn(&T) -> bool) -> bool {
    let before = items.len();
    items.retain(|i| keep(i));
    items.len() != before
}

fn node_ok(a: &Authz, node: &str) -> bool {
    a.allows(Resource::Node, node, Access::Read)
}

fn service_ok(a: &Authz, service: &str) -> bool {
    a.allows(Resource::Service, service, Access::Read)
}

fn key_ok(a: &Authz, key: &str) -> bool {
    a.allows(Resource::Key, key, Access::Read)
}

/// A check is readable with read on its service (service checks) or its
/// node (node checks), and on its node in both cases.
fn check_ok(a: &Authz, c: &HealthCheck) -> bool {
    node_ok(a, &c.node) && (c.service_name.is_empty() || service_ok(a, &c.service_name))
}

fn session_ok(a: &Authz, s: &SessionEntry) -> bool {
    a.allows(Resource::Session, &s.node, Access::Read)
}

/// A read with no permission of its own whose answer is filtered.
macro_rules! filtered {
    ($read:ty, |$a:ident, $answer:ident| $body:expr) => {
        impl Guarded for $read {
            fn authorize(&self, _: &Authz, _: &Store) -> Result<(), AclError> {
                Ok(())
            }

            fn filter(&self, $a: &Authz, $answer: &mut Self::Answer) -> bool {
                $body
            }
        }
    };
}

impl Guarded for KvGet {
    fn authorize(&self, a: &Authz, _: &Store) -> Result<(), AclError> {
        a.require(Resource::Key, &self.key, Access::Read)
    }

    fn filter(&self, _: &Authz, _: &mut Self::Answer) -> bool {
        false
    }
}

impl Guarded for KvList {
    fn authorize(&self, a: &Authz, _: &Store) -> Result<(), AclError> {
        a.require_key_list(&self.prefix)
    }

    fn filter(&self, a: &Authz, answer: &mut Self::Answer) -> bool {
        retain(answer, |(k, _)| key_ok(a, k))
    }
}

impl Guarded for KvKeys {
    fn authorize(&self, a: &Authz, _: &Store) -> Result<(), AclError> {
        a.require_key_list(&self.prefix)
    }

    fn filter(&self, a: &Authz, answer: &mut Self::Answer) -> bool {
        retain(answer, |k| key_ok(a, k))
    }
}

impl Guarded for KvHistory {
    fn authorize(&self, a: &Authz, _: &Store) -> Result<(), AclError> {
        a.require(Resource::Key, &self.key, Access::Read)
    }

    fn filter(&self, _: &Authz, _: &mut Self::Answer) -> bool {
        false
    }
}

impl Guarded for KvChanges {
    fn authorize(&self, a: &Authz, _: &Store) -> Result<(), AclError> {
        a.require_key_list(&self.prefix)
    }

    fn filter(&self, a: &Authz, answer: &mut Self::Answer) -> bool {
        match answer {
            ChangesSince::Changes { changes, .. } => retain(changes, |c| key_ok(a, &c.key)),
            ChangesSince::Compacted { .. } => false,
        }
    }
}

filtered!(CatalogNodes, |a, answer| retain(answer, |n| node_ok(
    a, &n.node
)));

impl Guarded for CatalogNode {
    fn authorize(&self, _: &Authz, _: &Store) -> Result<(), AclError> {
        Ok(())
    }

    fn filter(&self, a: &Authz, (node, services): &mut Self::Answer) -> bool {
        if !node_ok(a, &self.name) {
            let hidden = node.is_some() || !services.is_empty();
            *node = None;
            services.clear();
            return hidden;
        }
        retain(services, |s| service_ok(a, &s.service))
    }
}

impl Guarded for CatalogServices {
    fn authorize(&self, _: &Authz, _: &Store) -> Result<(), AclError> {
        Ok(())
    }

    fn filter(&self, a: &Authz, answer: &mut Self::Answer) -> bool {
        let before = answer.len();
        answer.retain(|name, _| service_ok(a, name));
        answer.len() != before
    }
}

// As `CatalogServices`, whose answer this one's becomes: by service name.
filtered!(ServiceInstances, |a, answer| retain(
    answer,
    |s| service_ok(a, &s.service_name)
));

filtered!(ServiceNodes, |a, answer| retain(answer, |s| {
    node_ok(a, &s.node) && service_ok(a, &s.service_name)
}));

filtered!(HealthService, |a, answer| {
    let mut hidden = retain(answer, |e| {
        node_ok(a, &e.node.node) && service_ok(a, &e.service.service)
    });
    for e in answer.iter_mut() {
        hidden |= retain(&mut e.checks, |c| check_ok(a, c));
    }
    hidden
});

filtered!(ServiceChecks, |a, answer| retain(answer, |c| check_ok(
    a, c
)));
filtered!(ChecksInState, |a, answer| retain(answer, |c| check_ok(
    a, c
)));
filtered!(NodeChecks, |a, answer| retain(answer, |c| check_ok(a, c)));
filtered!(Events, |a, answer| retain(answer, |e| {
    a.allows(Resource::Event, &e.name, Access::Read)
}));
filtered!(ServiceSummaries, |a, answer| retain(answer, |s| {
    service_ok(a, &s.name)
}));
filtered!(Sessions, |a, answer| retain(answer, |s| session_ok(a, s)));
filtered!(NodeSessions, |a, answer| retain(answer, |s| session_ok(
    a, s
)));

impl Guarded for SessionInfo {
    fn authorize(&self, _: &Authz, _: &Store) -> Result<(), AclError> {
        Ok(())
    }

    fn filter(&self, a: &Authz, answer: &mut Self::Answer) -> bool {
        if answer.as_ref().is_some_and(|s| !session_ok(a, s)) {
            *answer = None;
            return true;
        }
        false
    }
}

impl Guarded for Snapshot {
    fn authorize(&self, a: &Authz, _: &Store) -> Result<(), AclError> {
        a.require_global(Global::Acl, Access::Write)
    }

    fn filter(&self, _: &Authz, _: &mut Self::Answer) -> bool {
        false
    }
}

impl Guarded for TxnRead {
    fn authorize(&self, a: &Authz, store: &Store) -> Result<(), AclError> {
        self.ops
            .iter()
            .try_for_each(|op| super::commands::txn_op(a, store, op))
    }

    fn filter(&self, a: &Authz, answer: &mut Self::Answer) -> bool {
        retain(&mut answer.results, |r| match r {
            TxnResult::Kv(k, _) => key_ok(a, k),
            TxnResult::Node(n) => node_ok(a, &n.node),
            TxnResult::Service(s) => service_ok(a, &s.service),
            TxnResult::Check(c) => check_ok(a, c),
        })
    }
}

/// ACL reads need `acl:read`; a token reading itself needs nothing but
/// its secret.
impl Guarded for AclTokenRead {
    fn authorize(&self, a: &Authz, _: &Store) -> Result<(), AclError> {
        match self {
            AclTokenRead::BySecret(_) => Ok(()),
            AclTokenRead::ByAccessor(_) => a.require_global(Global::Acl, Access::Read),
        }
    }

    fn filter(&self, a: &Authz, answer: &mut Self::Answer) -> bool {
        if let (AclTokenRead::ByAccessor(_), Some(t)) = (self, answer.as_mut()) {
            hide_secret(a, t);
        }
        false
    }
}

/// Consul shows a SecretID only to a token that may write ACLs.
fn hide_secret(a: &Authz, t: &mut AclTokenAnswer) {
    if !a.is_management() && a.accessor().is_some() {
        t.token.secret_id = "<hidden>".into();
    }
}

impl Guarded for AclTokenList {
    fn authorize(&self, a: &Authz, _: &Store) -> Result<(), AclError> {
        a.require_global(Global::Acl, Access::Read)
    }

    fn filter(&self, a: &Authz, answer: &mut Self::Answer) -> bool {
        answer.iter_mut().for_each(|t| hide_secret(a, t));
        false
    }
}

macro_rules! acl_read {
    ($($read:ty),*) => {$(
        impl Guarded for $read {
            fn authorize(&self, a: &Authz, _: &Store) -> Result<(), AclError> {
                a.require_global(Global::Acl, Access::Read)
            }

            fn filter(&self, _: &Authz, _: &mut Self::Answer) -> bool {
                false
            }
        }
    )*};
}

acl_read!(AclPolicyRead, AclPolicyList, AclRoleRead, AclRoleList);

/// Resolving a token (a client agent checking its own endpoints) needs
/// nothing but the secret itself.
impl Guarded for AclResolve {
    fn authorize(&self, _: &Authz, _: &Store) -> Result<(), AclError> {
        Ok(())
    }

    fn filter(&self, _: &Authz, _: &mut Self::Answer) -> bool {
        false
    }
}

//! Reads behind Consul's prepared-query endpoints (`/v1/query`): the
//! stored queries (listed, one by ID, or the one that answers a name), and
//! running a query's service part against the catalog, as Consul's
//! `PreparedQuery.Execute` selects instances. Rendering a template's
//! interpolations, failing over to other datacenters, shuffling and the
//! limit happen in the agent (`praetor-agent`'s `prepared_query`); these
//! reads stay pure.
//!
//! ACLs as Consul's: a query with a name (or a template) is read with
//! `query:read` on its name, one without a name only by a management
//! token; tokens stored in queries are shown as `<hidden>` to all but
//! management tokens. Executing needs no `query` rule: the instances are
//! filtered with the acting token's `service:read` and `node:read` (the
//! query's stored token when it has one, chosen by the caller).

use praetor_acl::{Access, Resource};
use praetor_api::catalog::ServiceEntry;
use praetor_store::query::{PreparedQuery, ServiceQuery};
use praetor_store::{Interest, Store, Table};
use serde::{Deserialize, Serialize};

use super::{Read, WireAnswer};
use crate::acl::{AclError, Authz, Guarded};

pub use praetor_store::query::REDACTED_TOKEN;

/// Whether `a` may read `q` (Consul's `filterPreparedQueries`).
fn readable(a: &Authz, q: &PreparedQuery) -> bool {
    a.is_management()
        || q.acl_prefix()
            .is_some_and(|name| a.allows(Resource::Query, name, Access::Read))
}

/// `q` for `a`: its token hidden unless `a` manages ACLs.
fn redact(a: &Authz, q: &mut PreparedQuery) {
    if !a.is_management() && !q.token.is_empty() {
        q.token = REDACTED_TOKEN.to_owned();
    }
}

/// A read of one query by a token that may not read it.
fn denied(a: &Authz, q: &PreparedQuery) -> AclError {
    AclError::Denied(
        praetor_acl::Denied::new(
            a.accessor(),
            Resource::Query,
            Access::Read,
            q.acl_prefix().unwrap_or(&q.id),
        )
        .to_string(),
    )
}

/// Every prepared query (`GET /v1/query`), in ID order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryList;

impl Read for QueryList {
    type Answer = Vec<PreparedQuery>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let q = store.queries();
        (q.index(), q.list().cloned().collect())
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Queries)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.queries().index())
    }

    from_wire!(QueryList);
}

/// One prepared query by ID (`GET /v1/query/<id>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryGet {
    pub id: String,
}

impl Read for QueryGet {
    // Boxed: a query is large next to the other wire answers (the same
    // bytes on the wire).
    type Answer = Option<Box<PreparedQuery>>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let q = store.queries();
        (q.index(), q.get(&self.id).cloned().map(Box::new))
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Queries)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.queries().index())
    }

    from_wire!(QueryGet);
}

/// The stored query that answers an ID or a name (`/v1/query/<id-or-name>/
/// execute` and `/explain`, `<name>.query.consul`): `PreparedQueries::
/// resolve`, unrendered. For `explain`, the caller must be able to read
/// it and its token is redacted; for execution neither (Consul checks no
/// `query` rule to execute), and the stored token goes to the agent that
/// runs the query, which acts with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryResolve {
    pub name: String,
    pub explain: bool,
}

impl Read for QueryResolve {
    type Answer = Option<Box<PreparedQuery>>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let q = store.queries();
        (q.index(), q.resolve(&self.name).cloned().map(Box::new))
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Queries)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.queries().index())
    }

    from_wire!(QueryResolve);
}

/// A query's service part run against this datacenter's catalog: the
/// instances of `service.service` that the query keeps (health, tags,
/// metadata), in catalog order. Its index is the service's health index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryRun {
    pub service: ServiceQuery,
}

impl Read for QueryRun {
    type Answer = Vec<ServiceEntry>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let (index, mut entries) =
            store
                .catalog()
                .health_service(&self.service.service, None, false);
        entries.retain(|e| keeps(&self.service, e));
        (index, entries)
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Service(self.service.service.clone())]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        let node_checks = store.catalog().table_indexes().node_checks;
        Some(store.service_index(&self.service.service).max(node_checks))
    }

    from_wire!(QueryRun);
}

/// Whether query `q` keeps instance `e`, as Consul's execute filters:
/// a critical check (not ignored) drops it, a warning too with
/// `OnlyPassing`; every tag must be there and every `!tag` absent
/// (compared case-insensitively); every node and service metadata pair
/// must be there.
pub fn keeps(q: &ServiceQuery, e: &ServiceEntry) -> bool {
    let healthy = e
        .checks
        .iter()
        .filter(|c| !q.ignore_check_ids.contains(&c.check_id))
        .all(|c| match c.status.as_str() {
            "passing" => true,
            "warning" => !q.only_passing,
            _ => false,
        });
    let has_tag = |want: &str| e.service.tags.iter().any(|t| t.eq_ignore_ascii_case(want));
    let tags = q.tags.iter().all(|t| match t.strip_prefix('!') {
        Some(not) => !has_tag(not),
        None => has_tag(t),
    });
    let node_meta = q
        .node_meta
        .iter()
        .all(|(k, v)| e.node.meta.get(k) == Some(v));
    let service_meta = q
        .service_meta
        .iter()
        .all(|(k, v)| e.service.meta.get(k) == Some(v));
    healthy && tags && node_meta && service_meta
}

impl Guarded for QueryList {
    fn authorize(&self, _: &Authz, _: &Store) -> Result<(), AclError> {
        Ok(())
    }

    fn filter(&self, a: &Authz, answer: &mut Self::Answer) -> bool {
        let before = answer.len();
        answer.retain(|q| readable(a, q));
        answer.iter_mut().for_each(|q| redact(a, q));
        answer.len() != before
    }
}

impl Guarded for QueryGet {
    fn authorize(&self, a: &Authz, store: &Store) -> Result<(), AclError> {
        match store.queries().get(&self.id) {
            Some(q) if !readable(a, q) => Err(denied(a, q)),
            _ => Ok(()),
        }
    }

    fn filter(&self, a: &Authz, answer: &mut Self::Answer) -> bool {
        if let Some(q) = answer {
            if !readable(a, q) {
                *answer = None;
                return true;
            }
            redact(a, q);
        }
        false
    }
}

impl Guarded for QueryResolve {
    fn authorize(&self, a: &Authz, store: &Store) -> Result<(), AclError> {
        match store.queries().resolve(&self.name) {
            Some(q) if self.explain && !readable(a, q) => Err(denied(a, q)),
            _ => Ok(()),
        }
    }

    fn filter(&self, a: &Authz, answer: &mut Self::Answer) -> bool {
        if !self.explain {
            return false;
        }
        if let Some(q) = answer {
            if !readable(a, q) {
                *answer = None;
                return true;
            }
            redact(a, q);
        }
        false
    }
}

impl Guarded for QueryRun {
    fn authorize(&self, _: &Authz, _: &Store) -> Result<(), AclError> {
        Ok(())
    }

    fn filter(&self, a: &Authz, answer: &mut Self::Answer) -> bool {
        let before = answer.len();
        answer.retain(|e| {
            a.allows(Resource::Node, &e.node.node, Access::Read)
                && a.allows(Resource::Service, &e.service.service, Access::Read)
        });
        answer.len() != before
    }
}

#[cfg(test)]
mod tests;

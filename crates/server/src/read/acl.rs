//! Reads of the ACL tables (`/v1/acl/*`) and the resolution of a token for
//! a client agent's own checks. Links to deleted policies and roles are
//! left out of answers, as in Consul. Every answer's index is the ACL
//! tables' last change.

use praetor_store::acl::{Policy, Role, Token};
use praetor_store::{Interest, Store, Table};
use serde::{Deserialize, Serialize};

use super::{Read, WireAnswer};
use crate::acl::Resolved;

/// A token with the names of the policies and roles it links to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclTokenAnswer {
    pub token: Token,
    /// (ID, name) of each linked policy that exists.
    pub policies: Vec<(String, String)>,
    /// (ID, name) of each linked role that exists.
    pub roles: Vec<(String, String)>,
}

/// A role with the names of the policies it links to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclRoleAnswer {
    pub role: Role,
    /// (ID, name) of each linked policy that exists.
    pub policies: Vec<(String, String)>,
}

fn policy_links(store: &Store, ids: &[String]) -> Vec<(String, String)> {
    ids.iter()
        .filter_map(|id| store.acl().policy(id))
        .map(|p| (p.id.clone(), p.name.clone()))
        .collect()
}

fn token_answer(store: &Store, t: &Token) -> AclTokenAnswer {
    AclTokenAnswer {
        token: t.clone(),
        policies: policy_links(store, &t.policies),
        roles: t
            .roles
            .iter()
            .filter_map(|id| store.acl().role(id))
            .map(|r| (r.id.clone(), r.name.clone()))
            .collect(),
    }
}

fn role_answer(store: &Store, r: &Role) -> AclRoleAnswer {
    AclRoleAnswer {
        role: r.clone(),
        policies: policy_links(store, &r.policies),
    }
}

/// One token (`GET /v1/acl/token/<accessor>`, or `/self` by its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AclTokenRead {
    ByAccessor(String),
    BySecret(String),
}

impl Read for AclTokenRead {
    type Answer = Option<AclTokenAnswer>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let t = match self {
            AclTokenRead::ByAccessor(id) => store.acl().token(id),
            AclTokenRead::BySecret(s) => store.acl().token_by_secret(s),
        };
        (store.acl().index(), t.map(|t| token_answer(store, t)))
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Acl)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.acl().index())
    }

    from_wire!(AclTokenRead);
}

/// Every token, or those linking a policy or role (`?policy=`, `?role=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclTokenList {
    pub policy: Option<String>,
    pub role: Option<String>,
}

impl Read for AclTokenList {
    type Answer = Vec<AclTokenAnswer>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let list = store
            .acl()
            .tokens()
            .filter(|t| self.policy.as_ref().is_none_or(|p| t.policies.contains(p)))
            .filter(|t| self.role.as_ref().is_none_or(|r| t.roles.contains(r)))
            .map(|t| token_answer(store, t))
            .collect();
        (store.acl().index(), list)
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Acl)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.acl().index())
    }

    from_wire!(AclTokenList);
}

/// One policy, by ID or by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AclPolicyRead {
    ById(String),
    ByName(String),
}

impl Read for AclPolicyRead {
    type Answer = Option<Policy>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let p = match self {
            AclPolicyRead::ById(id) => store.acl().policy(id),
            AclPolicyRead::ByName(n) => store.acl().policy_by_name(n),
        };
        (store.acl().index(), p.cloned())
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Acl)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.acl().index())
    }

    from_wire!(AclPolicyRead);
}

/// Every policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclPolicyList;

impl Read for AclPolicyList {
    type Answer = Vec<Policy>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        (
            store.acl().index(),
            store.acl().policies().cloned().collect(),
        )
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Acl)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.acl().index())
    }

    from_wire!(AclPolicyList);
}

/// One role, by ID or by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AclRoleRead {
    ById(String),
    ByName(String),
}

impl Read for AclRoleRead {
    type Answer = Option<AclRoleAnswer>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let r = match self {
            AclRoleRead::ById(id) => store.acl().role(id),
            AclRoleRead::ByName(n) => store.acl().role_by_name(n),
        };
        (store.acl().index(), r.map(|r| role_answer(store, r)))
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Acl)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.acl().index())
    }

    from_wire!(AclRoleRead);
}

/// Every role, or those linking a policy (`?policy=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclRoleList {
    pub policy: Option<String>,
}

impl Read for AclRoleList {
    type Answer = Vec<AclRoleAnswer>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let list = store
            .acl()
            .roles()
            .filter(|r| self.policy.as_ref().is_none_or(|p| r.policies.contains(p)))
            .map(|r| role_answer(store, r))
            .collect();
        (store.acl().index(), list)
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Acl)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.acl().index())
    }

    from_wire!(AclRoleList);
}

/// What a token is made of, for a client agent checking its own endpoints
/// (`None`: no such token). Expiry is the agent's to check, from
/// `Resolved::expires_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclResolve {
    pub secret: Option<String>,
    pub datacenter: String,
}

impl Read for AclResolve {
    type Answer = Option<Resolved>;

    fn eval(&self, store: &Store) -> (u64, Self::Answer) {
        let r =
            crate::acl::resolve_secret(store.acl(), self.secret.as_deref(), &self.datacenter, 0);
        (store.acl().index(), r)
    }

    fn interests(&self) -> Vec<Interest> {
        vec![Interest::Table(Table::Acl)]
    }

    fn index(&self, store: &Store) -> Option<u64> {
        Some(store.acl().index())
    }

    from_wire!(AclResolve);
}

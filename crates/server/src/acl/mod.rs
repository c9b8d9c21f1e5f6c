//! ACL enforcement on the server: a request's token is resolved against
//! the replicated ACL tables into an [`Authz`], and every write
//! (`commands`) and read (`reads`) is checked with it where it is
//! evaluated — on the leader for writes and default reads, on the answering
//! server for stale ones — so a client agent's word is never taken for
//! what a token may do. Client agents send the caller's token with each
//! request ([`Token`]).
//!
//! Resolution follows Consul: no token is the anonymous token; an unknown
//! or expired token is "ACL not found"; a token's policies, its roles'
//! policies and its service and node identities are merged over
//! `acl.default_policy`. Compiled authorizers are cached by secret and
//! dropped whenever any ACL table changes.

mod commands;
mod reads;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use praetor_acl::{Access, Authorizer, Denied, Global, Policy, Resource};
use praetor_store::acl::{AclTables, GLOBAL_MANAGEMENT_ID};
use praetor_store::Store;
use serde::{Deserialize, Serialize};

pub use commands::authorize_command;
pub use reads::Guarded;

/// How many compiled authorizers a server keeps.
const CACHE_LIMIT: usize = 4096;

/// The ACL settings a server enforces (`acl { … }` in the agent config).
#[derive(Debug, Clone, Default)]
pub struct AclConfig {
    /// `acl.enabled`: without it every request is allowed.
    pub enabled: bool,
    /// `acl.default_policy = "allow"`: what no rule decides is allowed.
    pub default_allow: bool,
    /// `acl.enable_key_list_policy`: recursive KV reads need `list`.
    pub key_list_policy: bool,
    /// `acl.tokens.initial_management`: a management token the leader
    /// creates with this SecretID when it does not exist.
    pub initial_management: Option<String>,
    /// This server's datacenter (identities and policies may name others).
    pub datacenter: String,
}

/// The SecretID a request carries (`X-Consul-Token`, `Authorization:
/// Bearer`, `?token=`), or none: the anonymous token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Token(Option<String>);

impl Token {
    /// The token with this secret; an empty one is no token.
    pub fn new(secret: impl Into<String>) -> Token {
        let s = secret.into();
        Token((!s.is_empty()).then_some(s))
    }

    /// No token: the anonymous token.
    pub fn anonymous() -> Token {
        Token(None)
    }

    /// The secret, if any.
    pub fn secret(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

/// Why an ACL check failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum AclError {
    /// The token does not exist or has expired (Consul's wording; 403).
    #[error("ACL not found")]
    NotFound,
    /// The token lacks a permission: Consul's "Permission denied: …" (403).
    #[error("{0}")]
    Denied(String),
    /// An ACL endpoint on an agent without ACLs (Consul's wording; 401).
    #[error("ACL support disabled")]
    Disabled,
    /// An ACL object that is not valid (rules that do not parse; 400).
    #[error("{0}")]
    Invalid(String),
}

impl From<Denied> for AclError {
    fn from(d: Denied) -> Self {
        AclError::Denied(d.to_string())
    }
}

/// What one resolved token may do.
#[derive(Debug, Clone)]
pub struct Authz {
    /// `None` with ACLs disabled (everything allowed).
    accessor: Option<String>,
    authorizer: Authorizer,
    /// When the token expires (ms since the epoch).
    expires_ms: Option<u64>,
    key_list_policy: bool,
}

impl Authz {
    /// Everything allowed: ACLs disabled, or the server's own work.
    pub fn allow_all() -> Authz {
        Authz {
            accessor: None,
            authorizer: Authorizer::allow_all(),
            expires_ms: None,
            key_list_policy: false,
        }
    }

    /// The one shared allow-all authorizer (ACLs disabled: no allocation
    /// per request).
    pub fn shared_allow_all() -> Arc<Authz> {
        static ALL: std::sync::LazyLock<Arc<Authz>> =
            std::sync::LazyLock::new(|| Arc::new(Authz::allow_all()));
        ALL.clone()
    }

    /// The AccessorID of the token, when ACLs are enabled.
    pub fn accessor(&self) -> Option<&str> {
        self.accessor.as_deref()
    }

    /// Whether `access` on `name` is allowed.
    pub fn allows(&self, resource: Resource, name: &str, access: Access) -> bool {
        self.authorizer.allows(resource, name, access)
    }

    /// `access` on `name`, or Consul's "Permission denied".
    ///
    /// # Errors
    /// `Denied` naming the permission and the object.
    pub fn require(&self, resource: Resource, name: &str, access: Access) -> Result<(), AclError> {
        if self.allows(resource, name, access) {
            Ok(())
        } else {
            Err(Denied::new(self.accessor(), resource, access, name).into())
        }
    }

    /// `access` on a resource without names (`operator`, `acl`, …).
    ///
    /// # Errors
    /// `Denied` naming the permission.
    pub fn require_global(&self, global: Global, access: Access) -> Result<(), AclError> {
        if self.authorizer.allows_global(global, access) {
            Ok(())
        } else {
            Err(Denied::global(self.accessor(), global, access).into())
        }
    }

    /// Write on every key under `prefix` (`DELETE ?recurse`).
    ///
    /// # Errors
    /// `Denied` naming `key:write` on the prefix.
    pub fn require_key_write_prefix(&self, prefix: &str) -> Result<(), AclError> {
        if self.authorizer.allows_key_write_prefix(prefix) {
            Ok(())
        } else {
            Err(Denied::new(self.accessor(), Resource::Key, Access::Write, prefix).into())
        }
    }

    /// A recursive KV read of `prefix`: with `acl.enable_key_list_policy`
    /// it needs `list` on the prefix; without, each key is filtered.
    ///
    /// # Errors
    /// `Denied` naming `key:list`.
    pub fn require_key_list(&self, prefix: &str) -> Result<(), AclError> {
        if self.key_list_policy {
            self.require(Resource::Key, prefix, Access::List)
        } else {
            Ok(())
        }
    }

    /// Whether the token may manage ACLs (`acl = "write"`).
    pub fn is_management(&self) -> bool {
        self.authorizer.allows_global(Global::Acl, Access::Write)
    }

    /// When the token expires (ms since the epoch), if it does.
    pub fn expires_ms(&self) -> Option<u64> {
        self.expires_ms
    }

    fn expired(&self, now_ms: u64) -> bool {
        self.expires_ms.is_some_and(|at| at <= now_ms)
    }

    /// Whether the token has expired by the wall clock now.
    pub fn expired_now(&self) -> bool {
        self.expired(now_ms())
    }
}

/// A token resolved to what makes up its permissions: what a client agent
/// receives to check its own endpoints (`AclResolve`), and what a server
/// compiles for its checks.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Resolved {
    pub accessor_id: String,
    pub description: String,
    pub expires_ms: Option<u64>,
    /// The rules of every policy of the token and of its roles.
    pub rules: Vec<String>,
    /// Whether one of them is `global-management`.
    pub management: bool,
    /// Service identities' service names (in this datacenter).
    pub services: Vec<String>,
    /// Node identities' node names (in this datacenter).
    pub nodes: Vec<String>,
}

impl Resolved {
    /// The authorizer of these permissions over the default policy.
    pub fn compile(&self, default_allow: bool, key_list_policy: bool) -> Authz {
        let mut policies = Vec::with_capacity(self.rules.len() + 1);
        if self.management {
            policies.push(Policy::global_management());
        }
        for rules in &self.rules {
            match Policy::parse(rules) {
                Ok(p) => policies.push(p),
                // Rules are checked before they are stored; a stored one
                // that does not parse (an older build's) grants nothing.
                Err(e) => {
                    tracing::warn!(accessor = %self.accessor_id, error = %e, "ignoring a policy whose rules do not parse")
                }
            }
        }
        policies.extend(self.services.iter().map(|s| Policy::service_identity(s)));
        policies.extend(self.nodes.iter().map(|n| Policy::node_identity(n)));
        Authz {
            accessor: Some(self.accessor_id.clone()),
            authorizer: Authorizer::new(policies.iter(), default_allow),
            expires_ms: self.expires_ms,
            key_list_policy,
        }
    }
}

/// Looks `secret` up in `tables`: `None` when no such token exists or it
/// expired at `now_ms`. The anonymous token resolves before the leader has
/// created it (to no policies).
pub fn resolve_secret(
    tables: &AclTables,
    secret: Option<&str>,
    datacenter: &str,
    now_ms: u64,
) -> Option<Resolved> {
    let secret = secret.unwrap_or(praetor_acl::ANONYMOUS_TOKEN_SECRET);
    let Some(token) = tables.token_by_secret(secret) else {
        return (secret == praetor_acl::ANONYMOUS_TOKEN_SECRET).then(|| Resolved {
            accessor_id: praetor_acl::ANONYMOUS_TOKEN_ID.into(),
            description: "Anonymous Token".into(),
            ..Resolved::default()
        });
    };
    if token.expiration_ms.is_some_and(|at| at <= now_ms) {
        return None;
    }
    let in_dc = |dcs: &[String]| dcs.is_empty() || dcs.iter().any(|d| d == datacenter);
    let mut r = Resolved {
        accessor_id: token.accessor_id.clone(),
        description: token.description.clone(),
        expires_ms: token.expiration_ms,
        ..Resolved::default()
    };
    let add_policy = |id: &str, r: &mut Resolved| {
        if id == GLOBAL_MANAGEMENT_ID {
            r.management = true;
        } else if let Some(p) = tables.policy(id) {
            if in_dc(&p.datacenters) {
                r.rules.push(p.rules.clone());
            }
        }
    };
    for id in &token.policies {
        add_policy(id, &mut r);
    }
    let identities = |services: &[praetor_store::acl::ServiceIdentity],
                      nodes: &[praetor_store::acl::NodeIdentity],
                      r: &mut Resolved| {
        for s in services.iter().filter(|s| in_dc(&s.datacenters)) {
            r.services.push(s.service_name.clone());
        }
        for n in nodes.iter().filter(|n| n.datacenter == datacenter) {
            r.nodes.push(n.node_name.clone());
        }
    };
    identities(&token.service_identities, &token.node_identities, &mut r);
    for role in token.roles.iter().filter_map(|id| tables.role(id)) {
        for id in &role.policies {
            add_policy(id, &mut r);
        }
        identities(&role.service_identities, &role.node_identities, &mut r);
    }
    Some(r)
}

/// A token's authorizer and the ACL tables' index it was compiled at.
type Compiled = (u64, Arc<Authz>);

/// A server's ACL state: its settings and its cache of compiled tokens.
#[derive(Debug, Default)]
pub struct Acl {
    config: AclConfig,
    /// secret → (the ACL tables' index it was compiled at, the authorizer).
    cache: RwLock<HashMap<Token, Compiled>>,
}

impl Acl {
    /// The ACL state of a server with these settings.
    pub fn new(config: AclConfig) -> Acl {
        Acl {
            config,
            cache: RwLock::default(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &AclConfig {
        &self.config
    }

    /// What `token` may do, against `store`'s ACL tables now.
    ///
    /// # Errors
    /// `NotFound` for an unknown or expired token.
    pub fn authorize(&self, store: &Store, token: &Token) -> Result<Arc<Authz>, AclError> {
        if !self.config.enabled {
            return Ok(Authz::shared_allow_all());
        }
        let now = now_ms();
        let tables = store.acl();
        // Nearly every request is a hit: readers do not wait on each other.
        if let Some((at, authz)) = self
            .cache
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(token)
        {
            if *at == tables.index() && !authz.expired(now) {
                return Ok(authz.clone());
            }
        }
        let resolved = resolve_secret(tables, token.secret(), &self.config.datacenter, now)
            .ok_or(AclError::NotFound)?;
        let authz =
            Arc::new(resolved.compile(self.config.default_allow, self.config.key_list_policy));
        let mut cache = self.cache.write().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_LIMIT {
            cache.clear();
        }
        cache.insert(token.clone(), (tables.index(), authz.clone()));
        Ok(authz)
    }
}

/// A record's `Hash`: a digest of the fields that make it up, which
/// changes whenever they do (Consul's clients compare it, never decode it).
pub fn record_hash(parts: &[&str]) -> String {
    use base64::Engine as _;
    use std::hash::{Hash, Hasher};
    let mut out = Vec::with_capacity(16);
    for seed in [0u8, 1] {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut h);
        parts.hash(&mut h);
        out.extend_from_slice(&h.finish().to_be_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// The wall clock in ms since the epoch (token expiry).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

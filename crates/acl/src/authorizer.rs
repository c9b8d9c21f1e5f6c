//! The decision for one request: a token's policies merged into lookup
//! tables, over the default policy (Consul's policy authorizer chained to its
//! static authorizer).
//! Owns precedence: an exact rule beats prefix rules, the longest prefix
//! wins, no rule means the default. Never parses rule text, never performs
//! I/O or reads a clock.

use std::collections::{BTreeMap, HashMap};

use crate::access::{Access, Global, Resource};
use crate::error::Denied;
use crate::policy::Policy;

/// The rules for one resource, indexed for lookups.
#[derive(Clone, Debug, Default)]
struct Table {
    exact: HashMap<String, Access>,
    prefix: HashMap<String, Access>,
    /// The distinct lengths of the prefix rules, longest first: a lookup
    /// tries only these cut points of the name.
    prefix_lens: Vec<usize>,
    /// Every rule by name, for "rules under a prefix" (KeyWritePrefix).
    by_name: BTreeMap<String, Leaf>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Leaf {
    exact: Option<Access>,
    prefix: Option<Access>,
}

impl Table {
    fn insert(&mut self, name: &str, prefix: bool, access: Access) {
        let leaf = self.by_name.entry(name.to_owned()).or_default();
        if prefix {
            leaf.prefix = Some(access);
            self.prefix.insert(name.to_owned(), access);
            if let Err(i) = self.prefix_lens.binary_search_by(|l| name.len().cmp(l)) {
                self.prefix_lens.insert(i, name.len());
            }
        } else {
            leaf.exact = Some(access);
            self.exact.insert(name.to_owned(), access);
        }
    }

    /// The longest prefix rule that `name` starts with (`name` itself included).
    fn longest_prefix(&self, name: &str) -> Option<Access> {
        self.prefix_lens
            .iter()
            .filter_map(|&len| name.get(..len))
            .find_map(|cut| self.prefix.get(cut).copied())
    }

    /// Consul's `getPolicy`: the exact rule, else the longest prefix rule.
    fn lookup(&self, name: &str) -> Option<Access> {
        self.exact
            .get(name)
            .copied()
            .or_else(|| self.longest_prefix(name))
    }

    /// Every rule whose name starts with `prefix`.
    fn under<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a Leaf> + 'a {
        self.by_name
            .range::<str, _>((
                std::ops::Bound::Included(prefix),
                std::ops::Bound::Unbounded,
            ))
            .take_while(move |(name, _)| name.starts_with(prefix))
            .map(|(_, leaf)| leaf)
    }
}

/// What a token may do: its policies merged (Consul's policy merger: for the
/// same segment `deny` wins, otherwise the higher level) over the default
/// policy. Build one per token (and rebuild when its policies change); every
/// check is a few hash lookups.
#[derive(Clone, Debug)]
pub struct Authorizer {
    tables: [Table; 7],
    globals: [Option<Access>; 5],
    default_allow: bool,
    manage_all: bool,
    /// Who the decisions are for, named in [`Denied`] errors.
    accessor: Option<String>,
}

impl Authorizer {
    /// Merges `policies` over `default_allow` (`acl.default_policy =
    /// "allow"`), which decides whatever no rule matches, except `acl`: as in
    /// Consul, a default of allow never grants ACL reads, ACL writes or
    /// snapshots (management).
    pub fn new<'a>(
        policies: impl IntoIterator<Item = &'a Policy>,
        default_allow: bool,
    ) -> Authorizer {
        let mut merged = Policy::default();
        for p in policies {
            merged.merge(p);
        }
        let mut tables: [Table; 7] = Default::default();
        for rule in merged.rules() {
            tables[rule.resource.index()].insert(rule.name, rule.prefix, rule.access);
        }
        let mut globals = [None; 5];
        for g in Global::ALL {
            globals[g.index()] = merged.global(g);
        }
        Authorizer {
            tables,
            globals,
            default_allow,
            manage_all: false,
            accessor: None,
        }
    }

    /// The same authorizer, naming the token it decides for in the
    /// [`Denied`] errors of the `require*` methods (its AccessorID, or
    /// [`ANONYMOUS_TOKEN_ID`](crate::ANONYMOUS_TOKEN_ID)). Without one they
    /// say "provided token", as Consul does when the accessor is unknown.
    pub fn with_accessor(mut self, accessor_id: &str) -> Authorizer {
        self.accessor = Some(accessor_id.to_owned());
        self
    }

    /// The AccessorID set with [`Authorizer::with_accessor`].
    pub fn accessor(&self) -> Option<&str> {
        self.accessor.as_deref()
    }

    /// [`Authorizer::allows`], or Consul's "Permission denied" for it
    /// (`ToAllowAuthorizer().KeyReadAllowed(...)` and friends).
    ///
    /// # Errors
    ///
    /// [`Denied`] naming the accessor, `resource:access` and `name`.
    pub fn require(&self, resource: Resource, name: &str, access: Access) -> Result<(), Denied> {
        if self.allows(resource, name, access) {
            Ok(())
        } else {
            Err(Denied::new(self.accessor(), resource, access, name))
        }
    }

    /// [`Authorizer::allows_key_write_prefix`], or Consul's denial of
    /// `key:write` on `prefix`.
    ///
    /// # Errors
    ///
    /// [`Denied`] naming the accessor, `key:write` and `prefix`.
    pub fn require_key_write_prefix(&self, prefix: &str) -> Result<(), Denied> {
        if self.allows_key_write_prefix(prefix) {
            Ok(())
        } else {
            Err(Denied::new(
                self.accessor(),
                Resource::Key,
                Access::Write,
                prefix,
            ))
        }
    }

    /// [`Authorizer::allows_global`], or Consul's denial of `global:access`.
    ///
    /// # Errors
    ///
    /// [`Denied`] naming the accessor and `global:access`.
    pub fn require_global(&self, global: Global, access: Access) -> Result<(), Denied> {
        if self.allows_global(global, access) {
            Ok(())
        } else {
            Err(Denied::global(self.accessor(), global, access))
        }
    }

    /// Allows everything, management included: the authorizer when ACLs are
    /// disabled (Consul's `ManageAll`).
    pub fn allow_all() -> Authorizer {
        Authorizer {
            manage_all: true,
            ..Authorizer::new([], true)
        }
    }

    /// Denies everything (Consul's `DenyAll`).
    pub fn deny_all() -> Authorizer {
        Authorizer::new([], false)
    }

    /// Whether `access` on `name` of `resource` is allowed: the exact rule
    /// for `name` if there is one, else the longest prefix rule `name` starts
    /// with, else the default. A `write` rule grants read, list and write; a
    /// `list` rule read and list; a `read` rule read; `deny` nothing.
    ///
    /// `Access::List` on keys is Consul's `key:list`, which Consul checks
    /// only with `acl.enable_key_list_policy`; the caller decides whether to
    /// ask for it. Asking for `Access::Deny` is never granted.
    pub fn allows(&self, resource: Resource, name: &str, access: Access) -> bool {
        if access == Access::Deny {
            return false;
        }
        if self.manage_all {
            return true;
        }
        match self.tables[resource.index()].lookup(name) {
            Some(rule) => rule.grants(access),
            None => self.default_allow,
        }
    }

    /// The rule that decides `name` of `resource` (exact, else longest
    /// prefix), or `None` when the default decides.
    pub fn rule_for(&self, resource: Resource, name: &str) -> Option<Access> {
        self.tables[resource.index()].lookup(name)
    }

    /// Consul's `KeyWritePrefix`, which guards deleting a whole tree
    /// (`DELETE ?recurse`): allowed when the longest prefix rule covering
    /// `prefix` grants write (or, without one, the default allows) and no
    /// rule, exact or prefix, for a name under `prefix` grants less than write.
    pub fn allows_key_write_prefix(&self, prefix: &str) -> bool {
        if self.manage_all {
            return true;
        }
        let table = &self.tables[Resource::Key.index()];
        let base = table.longest_prefix(prefix);
        if matches!(base, Some(a) if a != Access::Write) {
            return false;
        }
        let restricted = table.under(prefix).any(|leaf| {
            matches!(leaf.exact, Some(a) if a != Access::Write)
                || matches!(leaf.prefix, Some(a) if a != Access::Write)
        });
        if restricted {
            return false;
        }
        match base {
            Some(_) => true,
            None => self.default_allow,
        }
    }

    /// Whether `access` on a global resource is allowed. `mesh` and
    /// `peering` fall back to the `operator` rule when they have none, as in
    /// Consul; `acl` without a rule is denied whatever the default (Consul's
    /// static authorizers grant management only to `ManageAll`).
    pub fn allows_global(&self, global: Global, access: Access) -> bool {
        if access == Access::Deny {
            return false;
        }
        if self.manage_all {
            return true;
        }
        let rule = self.globals[global.index()].or(match global {
            Global::Mesh | Global::Peering => self.globals[Global::Operator.index()],
            _ => None,
        });
        match rule {
            Some(rule) => rule.grants(access),
            None => global != Global::Acl && self.default_allow,
        }
    }

    /// Whether this is management (`acl = "write"`): ACL writes, snapshots.
    pub fn is_management(&self) -> bool {
        self.allows_global(Global::Acl, Access::Write)
    }

    /// Whether `access` is allowed on at least one name of `resource`
    /// (Consul's `anyAllowed`, e.g. `ServiceWriteAny`): some rule grants it,
    /// or no catch-all rule forbids it and the default allows it.
    pub fn allows_any(&self, resource: Resource, access: Access) -> bool {
        if access == Access::Deny {
            return false;
        }
        if self.manage_all {
            return true;
        }
        let table = &self.tables[resource.index()];
        let granted = table.by_name.values().any(|l| {
            l.exact.is_some_and(|a| a.grants(access)) || l.prefix.is_some_and(|a| a.grants(access))
        });
        if granted {
            return true;
        }
        match table.prefix.get("") {
            Some(_) => false,
            None => self.default_allow,
        }
    }

    /// Whether `access` is allowed on every name of `resource` (Consul's
    /// `allAllowed`, e.g. `NodeReadAll`): no rule grants less, and a
    /// catch-all `""` prefix rule grants it or, without one, the default allows.
    pub fn allows_all(&self, resource: Resource, access: Access) -> bool {
        if access == Access::Deny {
            return false;
        }
        if self.manage_all {
            return true;
        }
        let table = &self.tables[resource.index()];
        let refused = table.by_name.values().any(|l| {
            l.exact.is_some_and(|a| !a.grants(access))
                || l.prefix.is_some_and(|a| !a.grants(access))
        });
        if refused {
            return false;
        }
        match table.prefix.get("") {
            Some(_) => true,
            None => self.default_allow,
        }
    }

    /// The default policy this authorizer falls back to.
    pub fn default_allow(&self) -> bool {
        self.default_allow || self.manage_all
    }
}

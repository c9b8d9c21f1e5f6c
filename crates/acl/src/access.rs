//! The vocabulary of a rule: permission levels, the resources named by a
//! segment, and the global resources with a single level.
//! Owns the level arithmetic Consul defines (which level wins a merge, which
//! level grants which request); never looks at rule text or at a request.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A permission level in a rule, as Consul spells it (`deny`, `read`, `list`,
/// `write`). In a request it is the permission asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Explicitly forbids the resource; beats every other level in a merge.
    Deny,
    /// Grants reads.
    Read,
    /// Grants reads and listing (Consul accepts it on keys only).
    List,
    /// Grants reads, listing and writes.
    Write,
}

impl Access {
    /// Every level, weakest precedence first.
    pub const ALL: [Access; 4] = [Access::Read, Access::List, Access::Write, Access::Deny];

    /// The level's name as written in rules and in Consul's error messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            Access::Deny => "deny",
            Access::Read => "read",
            Access::List => "list",
            Access::Write => "write",
        }
    }

    /// Parses a level as Consul does (`AccessLevelFromString`): case-insensitive.
    pub fn from_name(name: &str) -> Option<Access> {
        Access::ALL
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(name))
    }

    /// Rank in Consul's `takesPrecedenceOver`: deny, then write, then list,
    /// then read.
    const fn precedence(self) -> u8 {
        match self {
            Access::Read => 0,
            Access::List => 1,
            Access::Write => 2,
            Access::Deny => 3,
        }
    }

    /// The level that wins when two rules for the same segment meet (two
    /// policies of one token, or one name written twice in one policy):
    /// `deny` wins, otherwise the more permissive level (Consul's policy merger).
    pub fn merge(self, other: Access) -> Access {
        if other.precedence() > self.precedence() {
            other
        } else {
            self
        }
    }

    /// Whether a rule at this level grants a request for `wanted` (Consul's
    /// `enforce`): `write` grants read, list and write; `list` grants read and
    /// list; `read` grants read; `deny` grants nothing. Asking for `Deny`
    /// asks for nothing that can be granted, so it is never granted.
    pub const fn grants(self, wanted: Access) -> bool {
        match (self, wanted) {
            (_, Access::Deny) | (Access::Deny, _) => false,
            (Access::Write, _) => true,
            (Access::List, Access::Read | Access::List) => true,
            (Access::Read, Access::Read) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resource whose rules name a segment: exactly (`key "a"`) or by prefix
/// (`key_prefix "a"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    /// KV entries, named by key.
    Key,
    /// Catalog services, named by service name.
    Service,
    /// Catalog nodes, named by node name.
    Node,
    /// Sessions, named by the node they are tied to.
    Session,
    /// Agent endpoints, named by the agent's node name.
    Agent,
    /// User events, named by event name.
    Event,
    /// Prepared queries, named by query name.
    Query,
}

impl Resource {
    /// Every segment resource.
    pub const ALL: [Resource; 7] = [
        Resource::Key,
        Resource::Service,
        Resource::Node,
        Resource::Session,
        Resource::Agent,
        Resource::Event,
        Resource::Query,
    ];

    /// The resource's name: the exact-rule keyword and the first half of a
    /// Consul permission (`key:read`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Resource::Key => "key",
            Resource::Service => "service",
            Resource::Node => "node",
            Resource::Session => "session",
            Resource::Agent => "agent",
            Resource::Event => "event",
            Resource::Query => "query",
        }
    }

    /// The prefix-rule keyword (`key_prefix`).
    pub const fn prefix_keyword(self) -> &'static str {
        match self {
            Resource::Key => "key_prefix",
            Resource::Service => "service_prefix",
            Resource::Node => "node_prefix",
            Resource::Session => "session_prefix",
            Resource::Agent => "agent_prefix",
            Resource::Event => "event_prefix",
            Resource::Query => "query_prefix",
        }
    }

    /// The keyword of an exact (`prefix == false`) or prefix rule.
    pub const fn keyword(self, prefix: bool) -> &'static str {
        if prefix {
            self.prefix_keyword()
        } else {
            self.as_str()
        }
    }

    /// Whether rules for this resource may say `list` (Consul: keys only).
    pub const fn accepts_list(self) -> bool {
        matches!(self, Resource::Key)
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A resource with one level and no name (`operator = "read"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Global {
    /// The ACL system itself; `write` is management. A default policy of
    /// `allow` never grants it (Consul's static authorizer).
    Acl,
    /// Operator endpoints (Raft, autopilot, ...).
    Operator,
    /// The gossip keyring.
    Keyring,
    /// Mesh configuration; without a `mesh` rule, Consul uses the `operator` rule.
    Mesh,
    /// Cluster peering; without a `peering` rule, Consul uses the `operator` rule.
    Peering,
}

impl Global {
    /// Every global resource.
    pub const ALL: [Global; 5] = [
        Global::Acl,
        Global::Operator,
        Global::Keyring,
        Global::Mesh,
        Global::Peering,
    ];

    /// The resource's keyword in rules and permissions.
    pub const fn as_str(self) -> &'static str {
        match self {
            Global::Acl => "acl",
            Global::Operator => "operator",
            Global::Keyring => "keyring",
            Global::Mesh => "mesh",
            Global::Peering => "peering",
        }
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Global {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_prefers_deny_then_the_most_permissive_level() {
        use Access::*;
        assert_eq!(Read.merge(Write), Write);
        assert_eq!(Write.merge(Read), Write);
        assert_eq!(List.merge(Read), List);
        assert_eq!(Write.merge(List), Write);
        assert_eq!(Write.merge(Deny), Deny);
        assert_eq!(Deny.merge(Write), Deny);
        assert_eq!(Read.merge(Read), Read);
    }

    #[test]
    fn grants_follows_consul_enforce() {
        use Access::*;
        let table = [
            (Write, [true, true, true]),
            (List, [true, true, false]),
            (Read, [true, false, false]),
            (Deny, [false, false, false]),
        ];
        for (rule, want) in table {
            assert_eq!(rule.grants(Read), want[0], "{rule} grants read");
            assert_eq!(rule.grants(List), want[1], "{rule} grants list");
            assert_eq!(rule.grants(Write), want[2], "{rule} grants write");
            assert!(!rule.grants(Deny));
        }
    }

    #[test]
    fn levels_parse_case_insensitively_like_consul() {
        assert_eq!(Access::from_name("READ"), Some(Access::Read));
        assert_eq!(Access::from_name("Write"), Some(Access::Write));
        assert_eq!(Access::from_name("reed"), None);
        assert_eq!(Access::from_name(""), None);
    }
}

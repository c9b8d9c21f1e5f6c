//! A parsed policy: the rules of one ACL policy, with rules for the same
//! segment already merged. Also the policies Consul synthesises (service and
//! node identities) and the built-in global-management policy.
//! Never decides a request (that is `authorizer`) and never reads text (that
//! is `parse`).

use std::collections::BTreeMap;

use crate::access::{Access, Global, Resource};
use crate::error::RuleError;

/// The rule text of Consul's built-in `global-management` policy
/// (`structs.ACLPolicyGlobalManagementRules`), as the policy API shows it.
/// Kept byte for byte because clients and the policy endpoint compare it.
pub const GLOBAL_MANAGEMENT_RULES: &str = "
acl = \"write\"
agent_prefix \"\" {
\tpolicy = \"write\"
}
event_prefix \"\" {
\tpolicy = \"write\"
}
key_prefix \"\" {
\tpolicy = \"write\"
}
keyring = \"write\"
node_prefix \"\" {
\tpolicy = \"write\"
}
operator = \"write\"
mesh = \"write\"
peering = \"write\"
query_prefix \"\" {
\tpolicy = \"write\"
}
service_prefix \"\" {
\tpolicy = \"write\"
\tintentions = \"write\"
}
session_prefix \"\" {
\tpolicy = \"write\"
}";

/// The rule text of Consul's built-in `builtin/global-read-only` policy
/// (`structs.ACLPolicyGlobalReadOnlyRules`, in recent Consul versions): read on
/// every resource and prefix "".
pub const GLOBAL_READ_ONLY_RULES: &str = "
acl = \"read\"
agent_prefix \"\" {
\tpolicy = \"read\"
}
event_prefix \"\" {
\tpolicy = \"read\"
}
key_prefix \"\" {
\tpolicy = \"read\"
}
keyring = \"read\"
node_prefix \"\" {
\tpolicy = \"read\"
}
operator = \"read\"
mesh = \"read\"
peering = \"read\"
query_prefix \"\" {
\tpolicy = \"read\"
}
service_prefix \"\" {
\tpolicy = \"read\"
\tintentions = \"read\"
}
session_prefix \"\" {
\tpolicy = \"read\"
}";

/// One rule of a policy, as [`Policy::rules`] lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule<'a> {
    /// The resource the rule is about.
    pub resource: Resource,
    /// The segment: the exact name, or the prefix when `prefix` is true.
    pub name: &'a str,
    /// Whether this is a `*_prefix` rule.
    pub prefix: bool,
    /// The level the rule grants (after merging duplicates).
    pub access: Access,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct RuleKey {
    pub(crate) resource: Resource,
    pub(crate) prefix: bool,
    pub(crate) name: String,
}

/// The rules of one ACL policy (Consul's `acl.Policy`), parsed and merged:
/// two rules for the same segment in one policy combine as Consul's policy
/// merger combines them (`deny` wins, otherwise the more permissive level).
///
/// Two policies are equal when they hold the same rules, whatever the syntax
/// (HCL or JSON) and order they were written in.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Policy {
    pub(crate) rules: BTreeMap<RuleKey, Access>,
    pub(crate) globals: BTreeMap<Global, Access>,
}

impl Policy {
    /// Parses Consul rules in HCL or JSON: JSON when the text starts with `{`
    /// after whitespace (as Consul's HCL decoder decides), else HCL as
    /// Consul's HCL1 reads it (several rules on one line, optional commas,
    /// `${` kept as text, resource and attribute names case-insensitive).
    /// Empty text is an empty policy. A service rule's `intentions` level is
    /// checked and otherwise ignored (Praetor has no service mesh).
    /// Rules for the same segment are merged ([`Access::merge`]); a global
    /// (`operator = ...`) or a `policy` given twice is refused, as Consul
    /// refuses duplicate arguments.
    ///
    /// # Errors
    ///
    /// [`RuleError`] with the line and reason when the text does not parse,
    /// names an unknown resource, lacks or repeats a `policy`, gives a level
    /// the resource does not accept (`list` is for keys only), is over
    /// [`MAX_RULES_BYTES`](crate::MAX_RULES_BYTES) bytes or holds more than
    /// [`MAX_RULES`](crate::MAX_RULES) rules.
    pub fn parse(rules: &str) -> Result<Policy, RuleError> {
        crate::parse::parse(rules)
    }

    /// Consul's synthetic policy for a service identity: `service "<name>"`
    /// and `service "<name>-sidecar-proxy"` write, `service_prefix ""` and
    /// `node_prefix ""` read (`aclPolicyTemplateServiceIdentity`).
    pub fn service_identity(name: &str) -> Policy {
        let mut p = Policy::default();
        p.add_rule(Resource::Service, name, false, Access::Write);
        p.add_rule(
            Resource::Service,
            &format!("{name}-sidecar-proxy"),
            false,
            Access::Write,
        );
        p.add_rule(Resource::Service, "", true, Access::Read);
        p.add_rule(Resource::Node, "", true, Access::Read);
        p
    }

    /// The rule text of Consul's synthetic policy for a service identity,
    /// for showing it (the policy itself is [`Policy::service_identity`]).
    pub fn service_identity_rules(name: &str) -> String {
        format!(
            "\nservice {n} {{\n\tpolicy = \"write\"\n}}\nservice {s} {{\n\tpolicy = \"write\"\n}}\nservice_prefix \"\" {{\n\tpolicy = \"read\"\n}}\nnode_prefix \"\" {{\n\tpolicy = \"read\"\n}}",
            n = hcl_quote(name),
            s = hcl_quote(&format!("{name}-sidecar-proxy")),
        )
    }

    /// Consul's synthetic policy for a node identity: `node "<name>"` write
    /// and `service_prefix ""` read (`aclPolicyTemplateNodeIdentity`).
    pub fn node_identity(name: &str) -> Policy {
        let mut p = Policy::default();
        p.add_rule(Resource::Node, name, false, Access::Write);
        p.add_rule(Resource::Service, "", true, Access::Read);
        p
    }

    /// The rule text of Consul's synthetic policy for a node identity.
    pub fn node_identity_rules(name: &str) -> String {
        format!(
            "\nnode {} {{\n\tpolicy = \"write\"\n}}\nservice_prefix \"\" {{\n\tpolicy = \"read\"\n}}",
            hcl_quote(name)
        )
    }

    /// The rules of Consul's built-in `global-management` policy
    /// ([`GLOBAL_MANAGEMENT_RULES`]): write on every resource and prefix "".
    pub fn global_management() -> Policy {
        let mut p = Policy::default();
        for g in Global::ALL {
            p.set_global(g, Access::Write);
        }
        for r in Resource::ALL {
            p.add_rule(r, "", true, Access::Write);
        }
        p
    }

    /// The rules of Consul's built-in `builtin/global-read-only` policy
    /// ([`GLOBAL_READ_ONLY_RULES`]): read on every resource and prefix "".
    pub fn global_read_only() -> Policy {
        let mut p = Policy::default();
        for g in Global::ALL {
            p.set_global(g, Access::Read);
        }
        for r in Resource::ALL {
            p.add_rule(r, "", true, Access::Read);
        }
        p
    }

    /// Adds one rule, merging it with a rule already present for the same
    /// segment as Consul's policy merger does.
    pub fn add_rule(&mut self, resource: Resource, name: &str, prefix: bool, access: Access) {
        let key = RuleKey {
            resource,
            prefix,
            name: name.to_owned(),
        };
        self.rules
            .entry(key)
            .and_modify(|a| *a = a.merge(access))
            .or_insert(access);
    }

    /// Sets a global rule, merging it with one already present.
    pub fn set_global(&mut self, global: Global, access: Access) {
        self.globals
            .entry(global)
            .and_modify(|a| *a = a.merge(access))
            .or_insert(access);
    }

    /// Merges every rule of `other` into this policy (Consul's `MergePolicies`).
    pub fn merge(&mut self, other: &Policy) {
        for (k, a) in &other.rules {
            self.rules
                .entry(k.clone())
                .and_modify(|x| *x = x.merge(*a))
                .or_insert(*a);
        }
        for (g, a) in &other.globals {
            self.set_global(*g, *a);
        }
    }

    /// The segment rules, ordered by resource, exact before prefix, then name.
    pub fn rules(&self) -> impl Iterator<Item = Rule<'_>> + '_ {
        self.rules.iter().map(|(k, a)| Rule {
            resource: k.resource,
            name: &k.name,
            prefix: k.prefix,
            access: *a,
        })
    }

    /// The rule for one exact (`prefix == false`) or prefix segment, if any.
    pub fn rule(&self, resource: Resource, name: &str, prefix: bool) -> Option<Access> {
        self.rules
            .get(&RuleKey {
                resource,
                prefix,
                name: name.to_owned(),
            })
            .copied()
    }

    /// The level of a global rule, if the policy has one.
    pub fn global(&self, global: Global) -> Option<Access> {
        self.globals.get(&global).copied()
    }

    /// The number of rules (segment rules and global rules).
    pub fn len(&self) -> usize {
        self.rules.len() + self.globals.len()
    }

    /// Whether the policy has no rule at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `s` as an HCL1 quoted string: `"` and `\` escaped, control characters as
/// `\n`, `\t`, `\uXXXX` (HCL1 keeps `${` as text).
pub(crate) fn hcl_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

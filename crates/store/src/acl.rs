//! The ACL tables: tokens, policies and roles, and whether the cluster has
//! been bootstrapped. The store keeps them and applies their commands; it
//! never parses rules and never decides a request (the server does, from
//! these records). Links between records are by ID; a link to a record
//! that was deleted is left out when read, as in Consul.
//!
//! IDs, secrets, creation times and hashes are chosen by the proposer: a
//! command carries whole records, so applying one needs no clock and no
//! randomness.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

/// The AccessorID of the built-in anonymous token.
pub const ANONYMOUS_TOKEN_ID: &str = praetor_api::acl::ANONYMOUS_TOKEN_ID;
/// The ID of the built-in `global-management` policy.
pub const GLOBAL_MANAGEMENT_ID: &str = praetor_api::acl::GLOBAL_MANAGEMENT_POLICY_ID;

/// A service identity on a token or role.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServiceIdentity {
    pub service_name: String,
    pub datacenters: Vec<String>,
}

/// A node identity on a token or role.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NodeIdentity {
    pub node_name: String,
    pub datacenter: String,
}

/// A token as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Token {
    pub accessor_id: String,
    pub secret_id: String,
    pub description: String,
    /// Policy IDs.
    pub policies: Vec<String>,
    /// Role IDs.
    pub roles: Vec<String>,
    pub service_identities: Vec<ServiceIdentity>,
    pub node_identities: Vec<NodeIdentity>,
    pub local: bool,
    /// When the token stops working (ms since the epoch), if ever.
    pub expiration_ms: Option<u64>,
    pub create_ms: u64,
    pub hash: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A policy as stored: its rules as the user wrote them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Policy {
    pub id: String,
    pub name: String,
    pub description: String,
    pub rules: String,
    pub datacenters: Vec<String>,
    pub hash: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A role as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Policy IDs.
    pub policies: Vec<String>,
    pub service_identities: Vec<ServiceIdentity>,
    pub node_identities: Vec<NodeIdentity>,
    pub hash: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// A change to the ACL tables.
// `Init` carries three records; a command lives only between its request
// and the log, so boxing them would change every caller for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AclCommand {
    /// Creates (`create`) or updates a token. Its policies and roles must
    /// exist; a new token's accessor and secret must be unused; an update
    /// keeps the secret and creation of the token it replaces.
    TokenSet { token: Token, create: bool },
    /// Deletes a token (not the anonymous one).
    TokenDelete { accessor_id: String },
    /// Creates or updates a policy; names are unique.
    PolicySet { policy: Policy, create: bool },
    /// Deletes a policy (not `global-management`).
    PolicyDelete { id: String },
    /// Creates or updates a role; names are unique.
    RoleSet { role: Role, create: bool },
    /// Deletes a role.
    RoleDelete { id: String },
    /// `PUT /v1/acl/bootstrap`: creates the first management token, once.
    Bootstrap { token: Token },
    /// The leader's start-up: creates the built-in policy and anonymous
    /// token when missing and, with `acl.tokens.initial_management`, that
    /// management token (which counts as the bootstrap).
    Init {
        anonymous: Token,
        management_policy: Policy,
        initial_management: Option<Token>,
    },
}

impl AclCommand {
    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            AclCommand::TokenSet { .. } => "acl_token_set",
            AclCommand::TokenDelete { .. } => "acl_token_delete",
            AclCommand::PolicySet { .. } => "acl_policy_set",
            AclCommand::PolicyDelete { .. } => "acl_policy_delete",
            AclCommand::RoleSet { .. } => "acl_role_set",
            AclCommand::RoleDelete { .. } => "acl_role_delete",
            AclCommand::Bootstrap { .. } => "acl_bootstrap",
            AclCommand::Init { .. } => "acl_init",
        }
    }
}

/// The ACL tables.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AclTables {
    tokens: BTreeMap<String, Token>,
    policies: BTreeMap<String, Policy>,
    roles: BTreeMap<String, Role>,
    /// The index of the bootstrap (0: not bootstrapped).
    bootstrapped: u64,
    /// The index of the last change to any ACL table.
    index: u64,
    /// SecretID → AccessorID, rebuilt on decode.
    #[serde(skip)]
    secrets: HashMap<String, String>,
}

impl AclTables {
    /// The token with this AccessorID.
    pub fn token(&self, accessor_id: &str) -> Option<&Token> {
        self.tokens.get(accessor_id)
    }

    /// The token with this SecretID.
    pub fn token_by_secret(&self, secret: &str) -> Option<&Token> {
        self.tokens.get(self.secrets.get(secret)?)
    }

    /// Every token, by AccessorID.
    pub fn tokens(&self) -> impl Iterator<Item = &Token> {
        self.tokens.values()
    }

    /// The policy with this ID.
    pub fn policy(&self, id: &str) -> Option<&Policy> {
        self.policies.get(id)
    }

    /// The policy with this name.
    pub fn policy_by_name(&self, name: &str) -> Option<&Policy> {
        self.policies.values().find(|p| p.name == name)
    }

    /// Every policy, by ID.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies.values()
    }

    /// The role with this ID.
    pub fn role(&self, id: &str) -> Option<&Role> {
        self.roles.get(id)
    }

    /// The role with this name.
    pub fn role_by_name(&self, name: &str) -> Option<&Role> {
        self.roles.values().find(|r| r.name == name)
    }

    /// Every role, by ID.
    pub fn roles(&self) -> impl Iterator<Item = &Role> {
        self.roles.values()
    }

    /// The index of the bootstrap, 0 when not bootstrapped.
    pub fn bootstrapped(&self) -> u64 {
        self.bootstrapped
    }

    /// The index of the last change to any ACL table (0: none yet).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Rebuilds the secret index after decoding.
    pub(crate) fn relink(&mut self) {
        self.secrets = self
            .tokens
            .values()
            .map(|t| (t.secret_id.clone(), t.accessor_id.clone()))
            .collect();
    }

    /// Applies `cmd` at `index`: `Ok(true)` when something changed, the
    /// reason when the command is refused (nothing changed).
    pub(crate) fn apply(&mut self, index: u64, cmd: &AclCommand) -> Result<bool, String> {
        let changed = match cmd {
            AclCommand::TokenSet { token, create } => self.set_token(index, token, *create)?,
            AclCommand::TokenDelete { accessor_id } => {
                if accessor_id == ANONYMOUS_TOKEN_ID {
                    return Err("Deletion of the builtin anonymous token is not permitted".into());
                }
                match self.tokens.remove(accessor_id) {
                    Some(t) => {
                        self.secrets.remove(&t.secret_id);
                        true
                    }
                    None => false,
                }
            }
            AclCommand::PolicySet { policy, create } => self.set_policy(index, policy, *create)?,
            AclCommand::PolicyDelete { id } => {
                if id == GLOBAL_MANAGEMENT_ID {
                    return Err(
                        "Deletion of the builtin global-management policy is not permitted".into(),
                    );
                }
                self.policies.remove(id).is_some()
            }
            AclCommand::RoleSet { role, create } => self.set_role(index, role, *create)?,
            AclCommand::RoleDelete { id } => self.roles.remove(id).is_some(),
            AclCommand::Bootstrap { token } => {
                if self.bootstrapped != 0 {
                    return Err(format!(
                        "ACL bootstrap no longer allowed (reset index: {})",
                        self.bootstrapped
                    ));
                }
                self.set_token(index, token, true)?;
                self.bootstrapped = index;
                true
            }
            AclCommand::Init {
                anonymous,
                management_policy,
                initial_management,
            } => {
                let mut changed = false;
                if !self.policies.contains_key(&management_policy.id) {
                    self.insert_policy(index, management_policy.clone());
                    changed = true;
                }
                if !self.tokens.contains_key(&anonymous.accessor_id) {
                    self.insert_token(index, anonymous.clone());
                    changed = true;
                }
                if let Some(t) = initial_management {
                    if !self.secrets.contains_key(&t.secret_id)
                        && !self.tokens.contains_key(&t.accessor_id)
                    {
                        self.insert_token(index, t.clone());
                        if self.bootstrapped == 0 {
                            self.bootstrapped = index;
                        }
                        changed = true;
                    }
                }
                changed
            }
        };
        if changed {
            self.index = index;
        }
        Ok(changed)
    }

    fn set_token(&mut self, index: u64, token: &Token, create: bool) -> Result<bool, String> {
        // The built-in policy may be linked before the leader has written
        // it (a bootstrap racing the leader's start-up).
        for p in token.policies.iter().filter(|p| *p != GLOBAL_MANAGEMENT_ID) {
            if !self.policies.contains_key(p) {
                return Err(format!("cannot find policy {p}"));
            }
        }
        for r in &token.roles {
            if !self.roles.contains_key(r) {
                return Err(format!("cannot find role {r}"));
            }
        }
        let mut token = token.clone();
        match (self.tokens.get(&token.accessor_id), create) {
            (Some(_), true) => {
                return Err(format!(
                    "Invalid Token: AccessorID is already in use: {}",
                    token.accessor_id
                ))
            }
            (None, true) => {
                if self.secrets.contains_key(&token.secret_id) {
                    return Err("Invalid Token: SecretID is already in use".into());
                }
            }
            (None, false) => {
                return Err(format!(
                    "Cannot find token {:?}: it does not exist",
                    token.accessor_id
                ))
            }
            (Some(old), false) => {
                token.secret_id = old.secret_id.clone();
                token.create_ms = old.create_ms;
                token.create_index = old.create_index;
                token.local = old.local;
                token.expiration_ms = old.expiration_ms;
            }
        }
        self.insert_token(index, token);
        Ok(true)
    }

    fn insert_token(&mut self, index: u64, mut token: Token) {
        if token.create_index == 0 {
            token.create_index = index;
        }
        token.modify_index = index;
        self.secrets
            .insert(token.secret_id.clone(), token.accessor_id.clone());
        self.tokens.insert(token.accessor_id.clone(), token);
    }

    fn set_policy(&mut self, index: u64, policy: &Policy, create: bool) -> Result<bool, String> {
        if let Some(other) = self.policy_by_name(&policy.name) {
            if other.id != policy.id {
                return Err(format!(
                    "Invalid Policy: A Policy with Name {:?} already exists",
                    policy.name
                ));
            }
        }
        let mut policy = policy.clone();
        match (self.policies.get(&policy.id), create) {
            (Some(_), true) => {
                return Err(format!("Invalid Policy: ID {} already exists", policy.id))
            }
            (None, false) => {
                return Err(format!(
                    "Cannot find policy {:?}: it does not exist",
                    policy.id
                ))
            }
            (Some(old), false) => {
                if old.id == GLOBAL_MANAGEMENT_ID
                    && (old.rules != policy.rules || old.datacenters != policy.datacenters)
                {
                    return Err("Changing the Rules for the builtin global-management policy is not permitted".into());
                }
                policy.create_index = old.create_index;
            }
            (None, true) => {}
        }
        self.insert_policy(index, policy);
        Ok(true)
    }

    fn insert_policy(&mut self, index: u64, mut policy: Policy) {
        if policy.create_index == 0 {
            policy.create_index = index;
        }
        policy.modify_index = index;
        self.policies.insert(policy.id.clone(), policy);
    }

    fn set_role(&mut self, index: u64, role: &Role, create: bool) -> Result<bool, String> {
        if let Some(other) = self.role_by_name(&role.name) {
            if other.id != role.id {
                return Err(format!(
                    "Invalid Role: A Role with Name {:?} already exists",
                    role.name
                ));
            }
        }
        for p in &role.policies {
            if !self.policies.contains_key(p) {
                return Err(format!("cannot find policy {p}"));
            }
        }
        let mut role = role.clone();
        match (self.roles.get(&role.id), create) {
            (Some(_), true) => return Err(format!("Invalid Role: ID {} already exists", role.id)),
            (None, false) => {
                return Err(format!("Cannot find role {:?}: it does not exist", role.id))
            }
            (Some(old), false) => role.create_index = old.create_index,
            (None, true) => role.create_index = index,
        }
        role.modify_index = index;
        self.roles.insert(role.id.clone(), role);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(accessor: &str, secret: &str, policies: &[&str]) -> Token {
        Token {
            accessor_id: accessor.into(),
            secret_id: secret.into(),
            policies: policies.iter().map(|p| (*p).to_owned()).collect(),
            ..Token::default()
        }
    }

    fn policy(id: &str, name: &str) -> Policy {
        Policy {
            id: id.into(),
            name: name.into(),
            rules: "key_prefix \"\" { policy = \"read\" }".into(),
            ..Policy::default()
        }
    }

    #[test]
    fn bootstrap_happens_once_and_then_names_its_index() {
        let mut t = AclTables::default();
        let boot = AclCommand::Bootstrap {
            token: token("a1", "s1", &[]),
        };
        assert_eq!(t.apply(5, &boot), Ok(true));
        assert_eq!(t.bootstrapped(), 5);
        assert_eq!(
            t.apply(6, &boot),
            Err("ACL bootstrap no longer allowed (reset index: 5)".into())
        );
        assert_eq!(t.token_by_secret("s1").map(|t| t.create_index), Some(5));
    }

    #[test]
    fn tokens_need_their_policies_and_unique_secrets() {
        let mut t = AclTables::default();
        let set = |tok| AclCommand::TokenSet {
            token: tok,
            create: true,
        };
        assert!(t.apply(2, &set(token("a", "s", &["p"]))).is_err());
        t.apply(
            3,
            &AclCommand::PolicySet {
                policy: policy("p", "app"),
                create: true,
            },
        )
        .unwrap();
        assert_eq!(t.apply(4, &set(token("a", "s", &["p"]))), Ok(true));
        assert!(
            t.apply(5, &set(token("b", "s", &[]))).is_err(),
            "secret reused"
        );
        assert!(
            t.apply(5, &set(token("a", "x", &[]))).is_err(),
            "accessor reused"
        );
        // An update keeps the secret and the creation index.
        let upd = AclCommand::TokenSet {
            token: Token {
                description: "new".into(),
                ..token("a", "other", &[])
            },
            create: false,
        };
        assert_eq!(t.apply(6, &upd), Ok(true));
        let a = t.token("a").unwrap();
        assert_eq!(
            (a.secret_id.as_str(), a.create_index, a.modify_index),
            ("s", 4, 6)
        );
        assert_eq!(t.index(), 6);
        assert_eq!(
            t.apply(
                7,
                &AclCommand::TokenDelete {
                    accessor_id: "a".into()
                }
            ),
            Ok(true)
        );
        assert!(t.token_by_secret("s").is_none());
    }

    #[test]
    fn builtins_cannot_be_deleted_and_policy_names_are_unique() {
        let mut t = AclTables::default();
        let init = AclCommand::Init {
            anonymous: token(ANONYMOUS_TOKEN_ID, "anonymous", &[]),
            management_policy: policy(GLOBAL_MANAGEMENT_ID, "global-management"),
            initial_management: Some(token("m", "root", &[GLOBAL_MANAGEMENT_ID])),
        };
        assert_eq!(t.apply(1, &init), Ok(true));
        assert_eq!(t.apply(2, &init), Ok(false), "init is idempotent");
        assert_eq!(
            t.bootstrapped(),
            1,
            "an initial management token bootstraps"
        );
        assert!(t
            .apply(
                3,
                &AclCommand::TokenDelete {
                    accessor_id: ANONYMOUS_TOKEN_ID.into()
                }
            )
            .is_err());
        assert!(t
            .apply(
                3,
                &AclCommand::PolicyDelete {
                    id: GLOBAL_MANAGEMENT_ID.into()
                }
            )
            .is_err());
        let dup = AclCommand::PolicySet {
            policy: policy("other", "global-management"),
            create: true,
        };
        assert!(t.apply(3, &dup).unwrap_err().contains("already exists"));
        assert_eq!(t.index(), 1, "refusals change nothing");
    }
}

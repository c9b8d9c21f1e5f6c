//! Consul's ACL rule language and authorizer, as a pure library.
//!
//! Owns: parsing policy rules (HCL1 or JSON, as Consul accepts them) into a
//! [`Policy`]; the policies Consul synthesises for service and node
//! identities and its built-in `global-management` policy; merging a
//! token's policies into an [`Authorizer`] that answers "may this token do
//! X on Y" with Consul's precedence (exact beats prefix, the longest prefix
//! wins, `deny` wins a merge, the default decides the rest); and Consul's
//! wording for a refusal ([`Denied`]) and for a bad rule ([`RuleError`]);
//! which names Consul accepts for identities, policies and roles.
//!
//! Never performs I/O, reads a clock or runs async code: tokens, their
//! expiry and where policies are stored belong to the store and the server.
//!
//! ```
//! use praetor_acl::{Access, Authorizer, Policy, Resource};
//!
//! let app = Policy::parse(r#"key_prefix "config/app/" { policy = "read" }"#).unwrap();
//! let authz = Authorizer::new([&app], false);
//! assert!(authz.allows(Resource::Key, "config/app/db", Access::Read));
//! assert!(!authz.allows(Resource::Key, "config/app/db", Access::Write));
//! assert!(!authz.allows(Resource::Key, "config/other", Access::Read));
//! ```

#![warn(missing_docs)]

mod access;
mod authorizer;
mod error;
mod parse;
mod policy;
mod validation;

pub use access::{Access, Global, Resource};
pub use authorizer::Authorizer;
pub use error::{Denied, RuleError};
pub use policy::{Policy, Rule, GLOBAL_MANAGEMENT_RULES, GLOBAL_READ_ONLY_RULES};
pub use validation::{
    is_valid_node_identity_name, is_valid_policy_name, is_valid_role_name,
    is_valid_service_identity_name, NODE_IDENTITY_NAME_MAX_LEN, POLICY_NAME_MAX_LEN,
    RESERVED_BUILTIN_PREFIX, ROLE_NAME_MAX_LEN, SERVICE_IDENTITY_NAME_MAX_LEN,
};

/// The AccessorID of Consul's anonymous token, used when a request carries none.
pub const ANONYMOUS_TOKEN_ID: &str = "00000000-0000-0000-0000-000000000002";

/// The SecretID of Consul's anonymous token.
pub const ANONYMOUS_TOKEN_SECRET: &str = "anonymous";

/// The ID of Consul's built-in `global-management` policy.
pub const GLOBAL_MANAGEMENT_POLICY_ID: &str = "00000000-0000-0000-0000-000000000001";

/// The name of Consul's built-in `global-management` policy.
pub const GLOBAL_MANAGEMENT_POLICY_NAME: &str = "global-management";

/// The description of Consul's built-in `global-management` policy.
pub const GLOBAL_MANAGEMENT_POLICY_DESCRIPTION: &str =
    "Builtin Policy that grants unlimited access";

/// The ID of Consul's built-in `builtin/global-read-only` policy (recent
/// Consul versions; a policy ID, unrelated to the anonymous token's AccessorID).
pub const GLOBAL_READ_ONLY_POLICY_ID: &str = "00000000-0000-0000-0000-000000000002";

/// The name of Consul's built-in global read-only policy.
pub const GLOBAL_READ_ONLY_POLICY_NAME: &str = "builtin/global-read-only";

/// The description of Consul's built-in global read-only policy.
pub const GLOBAL_READ_ONLY_POLICY_DESCRIPTION: &str =
    "Builtin Policy that grants unlimited read-only access to all components";

/// The longest rule text [`Policy::parse`] accepts, in bytes (128 KiB).
pub const MAX_RULES_BYTES: usize = 128 * 1024;

/// The most rules one rule text may hold.
pub const MAX_RULES: usize = 10_000;

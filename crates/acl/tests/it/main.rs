//! praetor-acl's integration tests: the rule engine against Consul's
//! documented behaviour, through the public API only.

mod denied;
mod identities;
mod parse;
mod precedence;
mod props;

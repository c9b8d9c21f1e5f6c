//! Consul's documented precedence, for every resource kind: an exact rule
//! beats prefix rules, the longest prefix wins, `deny` wins a merge of equal
//! segments, otherwise the more permissive level; no rule means the default.

use praetor_acl::{Access, Authorizer, Policy, Resource};

fn policy(rules: &str) -> Policy {
    match Policy::parse(rules) {
        Ok(p) => p,
        Err(e) => panic!("{rules:?} should parse: {e}"),
    }
}

#[test]
fn smoke_exact_beats_prefix_for_keys() {
    let p = policy(
        r#"
key_prefix "" { policy = "read" }
key_prefix "foo/" { policy = "write" }
key "foo/bar" { policy = "deny" }
"#,
    );
    let a = Authorizer::new([&p], false);
    assert!(a.allows(Resource::Key, "anything", Access::Read));
    assert!(!a.allows(Resource::Key, "anything", Access::Write));
    assert!(a.allows(Resource::Key, "foo/baz", Access::Write));
    assert!(!a.allows(Resource::Key, "foo/bar", Access::Read));
    assert!(a.allows(Resource::Key, "foo/bar/x", Access::Write));
}

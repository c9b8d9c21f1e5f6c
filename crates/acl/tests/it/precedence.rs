//! Consul's documented precedence, for every resource kind: an exact rule
//! beats prefix rules, the longest prefix wins, `deny` wins a merge of equal
//! segments, otherwise the more permissive level; no rule means the default
//! (developer.hashicorp.com/consul/docs/security/acl/acl-rules; Consul's
//! acl/policy_authorizer.go `getPolicy`, acl/policy_merger.go).

use praetor_acl::{Access, Authorizer, Global, Policy, Resource};

pub(crate) fn policy(rules: &str) -> Policy {
    match Policy::parse(rules) {
        Ok(p) => p,
        Err(e) => panic!("{rules:?} should parse: {e}"),
    }
}

/// `(name, may read, may write)` against `authz` for `resource`.
fn check(authz: &Authorizer, resource: Resource, cases: &[(&str, bool, bool)], what: &str) {
    for &(name, read, write) in cases {
        assert_eq!(
            authz.allows(resource, name, Access::Read),
            read,
            "{what}: {resource}:read on {name:?}"
        );
        assert_eq!(
            authz.allows(resource, name, Access::Write),
            write,
            "{what}: {resource}:write on {name:?}"
        );
    }
}

#[test]
fn exact_beats_prefix_and_longest_prefix_wins_for_every_resource() {
    for r in Resource::ALL {
        let (kw, kwp) = (r.as_str(), r.prefix_keyword());
        let p = policy(&format!(
            r#"
{kwp} "" {{ policy = "read" }}
{kwp} "foo" {{ policy = "write" }}
{kwp} "foo/private" {{ policy = "deny" }}
{kw} "foo/private/open" {{ policy = "write" }}
{kw} "foo/exact" {{ policy = "read" }}
"#
        ));
        for default_allow in [false, true] {
            let a = Authorizer::new([&p], default_allow);
            check(
                &a,
                r,
                &[
                    // the empty prefix covers everything else
                    ("other", true, false),
                    ("fo", true, false),
                    ("", true, false),
                    // a prefix covers the name equal to it and all below
                    ("foo", true, true),
                    ("foo/x", true, true),
                    ("foobar", true, true),
                    // the longer prefix wins over the shorter
                    ("foo/private", false, false),
                    ("foo/private/x", false, false),
                    // an exact rule beats a longer prefix rule, for that name only
                    ("foo/private/open", true, true),
                    ("foo/private/open/x", false, false),
                    // an exact rule beats a more permissive prefix rule
                    ("foo/exact", true, false),
                    ("foo/exact/x", true, true),
                ],
                &format!("default_allow={default_allow}"),
            );
        }
    }
}

#[test]
fn no_matching_rule_falls_to_the_default_for_every_resource() {
    for r in Resource::ALL {
        let p = policy(&format!(
            r#"{} "locked" {{ policy = "deny" }}"#,
            r.prefix_keyword()
        ));
        let allow = Authorizer::new([&p], true);
        check(
            &allow,
            r,
            &[
                ("open", true, true),
                ("lock", true, true),
                ("locked/x", false, false),
            ],
            "default allow",
        );
        let deny = Authorizer::new([&p], false);
        check(
            &deny,
            r,
            &[("open", false, false), ("locked", false, false)],
            "default deny",
        );
        let none = Authorizer::new([], false);
        check(
            &none,
            r,
            &[("open", false, false)],
            "no policy, default deny",
        );
        check(
            &Authorizer::deny_all(),
            r,
            &[("x", false, false)],
            "deny_all",
        );
        check(
            &Authorizer::allow_all(),
            r,
            &[("x", true, true)],
            "allow_all",
        );
    }
}

#[test]
fn an_exact_rule_does_not_cover_longer_names() {
    for r in Resource::ALL {
        let p = policy(&format!(r#"{} "web" {{ policy = "write" }}"#, r.as_str()));
        let a = Authorizer::new([&p], false);
        check(
            &a,
            r,
            &[
                ("web", true, true),
                ("web2", false, false),
                ("we", false, false),
            ],
            "exact only",
        );
    }
}

#[test]
fn merged_policies_deny_wins_else_the_most_permissive_for_every_resource() {
    for r in Resource::ALL {
        let (kw, kwp) = (r.as_str(), r.prefix_keyword());
        let read = policy(&format!(r#"{kw} "x" {{ policy = "read" }}"#));
        let write = policy(&format!(r#"{kw} "x" {{ policy = "write" }}"#));
        let deny = policy(&format!(r#"{kw} "x" {{ policy = "deny" }}"#));
        for (policies, expect, what) in [
            (vec![&read, &write], (true, true), "read + write = write"),
            (vec![&write, &read], (true, true), "write + read = write"),
            (vec![&write, &deny], (false, false), "write + deny = deny"),
            (vec![&deny, &write], (false, false), "deny + write = deny"),
            (
                vec![&read, &deny, &write],
                (false, false),
                "deny among three",
            ),
        ] {
            let a = Authorizer::new(policies, true);
            check(&a, r, &[("x", expect.0, expect.1)], what);
        }

        // Merging is per segment: an exact rule from one policy still beats a
        // prefix rule from another, whichever is more permissive.
        let broad = policy(&format!(r#"{kwp} "a" {{ policy = "write" }}"#));
        let narrow = policy(&format!(r#"{kw} "a/b" {{ policy = "read" }}"#));
        let a = Authorizer::new([&broad, &narrow], false);
        check(
            &a,
            r,
            &[("a/b", true, false), ("a/c", true, true)],
            "exact across policies",
        );

        // A longer prefix denied in one policy beats a shorter write in another.
        let all = policy(&format!(r#"{kwp} "" {{ policy = "write" }}"#));
        let fence = policy(&format!(r#"{kwp} "secret/" {{ policy = "deny" }}"#));
        let a = Authorizer::new([&all, &fence], false);
        check(
            &a,
            r,
            &[("secret/x", false, false), ("public", true, true)],
            "longest prefix across policies",
        );
    }
}

#[test]
fn the_same_segment_twice_in_one_policy_is_merged_like_two_policies() {
    for r in Resource::ALL {
        let kw = r.as_str();
        let p = policy(&format!(
            "{kw} \"x\" {{\n  policy = \"write\"\n}}\n{kw} \"x\" {{\n  policy = \"read\"\n}}\n{kw} \"y\" {{\n  policy = \"write\"\n}}\n{kw} \"y\" {{\n  policy = \"deny\"\n}}\n"
        ));
        let a = Authorizer::new([&p], false);
        check(
            &a,
            r,
            &[("x", true, true), ("y", false, false)],
            "duplicates",
        );
        assert_eq!(p.rule(r, "x", false), Some(Access::Write));
        assert_eq!(p.rule(r, "y", false), Some(Access::Deny));
    }
}

#[test]
fn consul_docs_key_example_decides_as_documented() {
    // The example from Consul's ACL rules reference.
    let p = policy(
        r#"
# These control access to the key/value store.
key_prefix "" {
  policy = "read"
}
key_prefix "foo/" {
  policy = "write"
}
key_prefix "foo/private/" {
  policy = "deny"
}
# Or for exact key matches
key "foo/bar/secret" {
  policy = "deny"
}

# This controls access to cluster-wide Consul operator information.
operator = "read"
"#,
    );
    let a = Authorizer::new([&p], false);
    check(
        &a,
        Resource::Key,
        &[
            ("bar", true, false),
            ("foo/bar", true, true),
            ("foo/private/x", false, false),
            ("foo/bar/secret", false, false),
            ("foo/bar/secret2", true, true),
        ],
        "docs example",
    );
    assert!(a.allows_global(Global::Operator, Access::Read));
    assert!(!a.allows_global(Global::Operator, Access::Write));
}

#[test]
fn key_list_is_granted_by_list_and_write_only() {
    let p = policy(
        r#"
key_prefix "l/" { policy = "list" }
key_prefix "r/" { policy = "read" }
key_prefix "w/" { policy = "write" }
key "d" { policy = "deny" }
"#,
    );
    let a = Authorizer::new([&p], true);
    let k = Resource::Key;
    assert!(a.allows(k, "l/x", Access::List));
    assert!(a.allows(k, "l/x", Access::Read));
    assert!(!a.allows(k, "l/x", Access::Write));
    assert!(!a.allows(k, "r/x", Access::List));
    assert!(a.allows(k, "r/x", Access::Read));
    assert!(a.allows(k, "w/x", Access::List));
    assert!(!a.allows(k, "d", Access::List));
    // the default decides list where no rule matches
    assert!(a.allows(k, "other", Access::List));
    assert!(!Authorizer::new([&p], false).allows(k, "other", Access::List));
    // asking for deny is never granted
    assert!(!a.allows(k, "w/x", Access::Deny));
}

#[test]
fn global_rules_decide_their_resource_and_mesh_and_peering_fall_back_to_operator() {
    let p = policy("operator = \"write\"\nkeyring = \"read\"\n");
    let a = Authorizer::new([&p], false);
    assert!(a.allows_global(Global::Operator, Access::Write));
    assert!(a.allows_global(Global::Keyring, Access::Read));
    assert!(!a.allows_global(Global::Keyring, Access::Write));
    // no mesh / peering rule: the operator rule decides
    assert!(a.allows_global(Global::Mesh, Access::Write));
    assert!(a.allows_global(Global::Peering, Access::Write));
    assert!(!a.allows_global(Global::Acl, Access::Read));
    assert!(!a.is_management());

    let p = policy("operator = \"write\"\nmesh = \"read\"\npeering = \"deny\"\n");
    let a = Authorizer::new([&p], true);
    assert!(a.allows_global(Global::Mesh, Access::Read));
    assert!(!a.allows_global(Global::Mesh, Access::Write));
    assert!(!a.allows_global(Global::Peering, Access::Read));

    // operator deny also closes mesh without a mesh rule, whatever the default
    let p = policy("operator = \"deny\"");
    let a = Authorizer::new([&p], true);
    assert!(!a.allows_global(Global::Mesh, Access::Read));
    assert!(a.allows_global(Global::Keyring, Access::Write));
}

#[test]
fn default_allow_never_grants_acl_or_management() {
    let a = Authorizer::new([], true);
    assert!(!a.allows_global(Global::Acl, Access::Read));
    assert!(!a.allows_global(Global::Acl, Access::Write));
    assert!(!a.is_management());
    assert!(a.allows_global(Global::Operator, Access::Write));
    assert!(a.allows_global(Global::Keyring, Access::Write));

    let reader = policy("acl = \"read\"");
    let a = Authorizer::new([&reader], true);
    assert!(a.allows_global(Global::Acl, Access::Read));
    assert!(!a.is_management());

    let admin = policy("acl = \"write\"");
    assert!(Authorizer::new([&admin], false).is_management());
    assert!(!Authorizer::new([&admin, &policy("acl = \"deny\"")], false).is_management());
    assert!(Authorizer::allow_all().is_management());
    assert!(!Authorizer::deny_all().is_management());
}

#[test]
fn key_write_prefix_needs_write_on_the_prefix_and_nothing_less_below_it() {
    let k = |rules: &str, default_allow: bool| Authorizer::new([&policy(rules)], default_allow);

    let a = k(r#"key_prefix "" { policy = "write" }"#, false);
    assert!(a.allows_key_write_prefix(""));
    assert!(a.allows_key_write_prefix("any/thing"));

    let a = k(
        "key_prefix \"\" {\n policy = \"write\"\n}\nkey \"foo/bar\" {\n policy = \"read\"\n}\n",
        false,
    );
    assert!(!a.allows_key_write_prefix("foo/"), "a read key below");
    assert!(!a.allows_key_write_prefix(""), "a read key below the root");
    assert!(a.allows_key_write_prefix("bar/"));
    assert!(
        !a.allows_key_write_prefix("foo/bar"),
        "the exact rule at the prefix itself"
    );
    assert!(a.allows_key_write_prefix("foo/bar/"));

    let a = k(r#"key_prefix "foo/" { policy = "write" }"#, false);
    assert!(a.allows_key_write_prefix("foo/"));
    assert!(a.allows_key_write_prefix("foo/sub/"));
    assert!(
        !a.allows_key_write_prefix(""),
        "no rule covers the root: default deny"
    );
    assert!(
        !a.allows_key_write_prefix("fo"),
        "no rule covers fo: default deny"
    );
    let a = k(r#"key_prefix "foo/" { policy = "write" }"#, true);
    assert!(
        a.allows_key_write_prefix(""),
        "default allow and nothing below refuses"
    );

    let a = k(r#"key_prefix "foo/" { policy = "read" }"#, true);
    assert!(!a.allows_key_write_prefix("foo/x"));
    assert!(!a.allows_key_write_prefix(""));
    assert!(a.allows_key_write_prefix("bar"));

    let a = k(r#"key_prefix "foo/" { policy = "list" }"#, true);
    assert!(!a.allows_key_write_prefix("foo/"));

    assert!(Authorizer::allow_all().allows_key_write_prefix(""));
    assert!(!Authorizer::deny_all().allows_key_write_prefix("x"));
}

#[test]
fn any_and_all_follow_consul_any_allowed_and_all_allowed() {
    let s = Resource::Service;
    let a = Authorizer::new([&policy(r#"service "web" { policy = "write" }"#)], false);
    assert!(a.allows_any(s, Access::Write));
    assert!(!a.allows_all(s, Access::Read));

    let a = Authorizer::new([&policy(r#"service_prefix "" { policy = "read" }"#)], false);
    assert!(!a.allows_any(s, Access::Write));
    assert!(a.allows_all(s, Access::Read));

    let a = Authorizer::new(
        [&policy(
            "service_prefix \"\" {\n policy = \"read\"\n}\nservice \"db\" {\n policy = \"deny\"\n}\n",
        )],
        true,
    );
    assert!(!a.allows_all(s, Access::Read), "one name is denied");
    assert!(a.allows_any(s, Access::Read));
    assert!(
        !a.allows_any(s, Access::Write),
        "the catch-all forbids writes"
    );

    let none = Authorizer::new([], true);
    assert!(none.allows_all(s, Access::Write));
    assert!(none.allows_any(s, Access::Write));
    let none = Authorizer::new([], false);
    assert!(!none.allows_all(s, Access::Read));
    assert!(!none.allows_any(s, Access::Read));
}

#[test]
fn consuls_prefer_exact_matches_scenario_for_every_resource() {
    // The scenario of Consul's TestPolicyAuthorizer "Prefer Exact Matches":
    // exact foo write, exact football deny, prefix foot read, prefix fo read.
    for r in Resource::ALL {
        let (kw, kwp) = (r.as_str(), r.prefix_keyword());
        let p = policy(&format!(
            "{kw} \"foo\" {{ policy = \"write\" }}\n{kw} \"football\" {{ policy = \"deny\" }}\n\
             {kwp} \"foot\" {{ policy = \"read\" }}\n{kwp} \"fo\" {{ policy = \"read\" }}\n"
        ));
        let a = Authorizer::new([&p], true);
        check(
            &a,
            r,
            &[
                ("fo", true, false),
                ("for", true, false),
                ("foo", true, true),
                ("foot", true, false),
                ("foot2", true, false),
                ("food", true, false),
                ("football", false, false),
            ],
            "prefer exact matches",
        );
        assert!(a.allows_any(r, Access::Write), "{r}: write on foo");
    }
}

//! Consul's templated policies: service identities, node identities and the
//! built-in global-management policy (agent/structs/acl_ce.go,
//! agent/structs/acl.go).

use praetor_acl::{Access, Authorizer, Global, Policy, Resource};

use crate::precedence::policy;

#[test]
fn service_identity_writes_its_service_and_sidecar_and_reads_the_catalog() {
    let p = Policy::service_identity("web");
    assert_eq!(p, policy(&Policy::service_identity_rules("web")));
    assert_eq!(p.len(), 4);
    let a = Authorizer::new([&p], false);
    let s = Resource::Service;
    assert!(a.allows(s, "web", Access::Write));
    assert!(a.allows(s, "web-sidecar-proxy", Access::Write));
    assert!(!a.allows(s, "web2", Access::Write), "exact, not a prefix");
    assert!(!a.allows(s, "db", Access::Write));
    assert!(a.allows(s, "db", Access::Read));
    assert!(a.allows(Resource::Node, "any-node", Access::Read));
    assert!(!a.allows(Resource::Node, "any-node", Access::Write));
    assert!(!a.allows(Resource::Key, "k", Access::Read));
    assert!(!a.is_management());
}

#[test]
fn service_identity_rules_read_like_consuls_template() {
    assert_eq!(
        Policy::service_identity_rules("web"),
        "\nservice \"web\" {\n\tpolicy = \"write\"\n}\nservice \"web-sidecar-proxy\" {\n\tpolicy = \"write\"\n}\nservice_prefix \"\" {\n\tpolicy = \"read\"\n}\nnode_prefix \"\" {\n\tpolicy = \"read\"\n}"
    );
    assert_eq!(
        Policy::node_identity_rules("n1"),
        "\nnode \"n1\" {\n\tpolicy = \"write\"\n}\nservice_prefix \"\" {\n\tpolicy = \"read\"\n}"
    );
}

#[test]
fn node_identity_writes_its_node_and_reads_services() {
    let p = Policy::node_identity("n1");
    assert_eq!(p, policy(&Policy::node_identity_rules("n1")));
    let a = Authorizer::new([&p], false);
    assert!(a.allows(Resource::Node, "n1", Access::Write));
    assert!(!a.allows(Resource::Node, "n2", Access::Read));
    assert!(a.allows(Resource::Service, "web", Access::Read));
    assert!(!a.allows(Resource::Service, "web", Access::Write));
}

#[test]
fn identities_merge_with_other_policies() {
    let deny_db = policy(r#"service "db" { policy = "deny" }"#);
    let a = Authorizer::new([&Policy::service_identity("web"), &deny_db], true);
    assert!(!a.allows(Resource::Service, "db", Access::Read));
    assert!(a.allows(Resource::Service, "web", Access::Write));
}

#[test]
fn global_management_allows_everything_whatever_the_default() {
    let gm = Policy::global_management();
    for default_allow in [false, true] {
        let a = Authorizer::new([&gm], default_allow);
        assert!(a.is_management());
        for g in Global::ALL {
            for access in [Access::Read, Access::Write] {
                assert!(a.allows_global(g, access), "{g}:{access}");
            }
        }
        for r in Resource::ALL {
            for name in ["", "x", "a/b/c", "é"] {
                for access in [Access::Read, Access::Write, Access::List] {
                    assert!(a.allows(r, name, access), "{r}:{access} on {name:?}");
                }
            }
            assert!(a.allows_all(r, Access::Write));
        }
        assert!(a.allows_key_write_prefix(""));
    }
}

#[test]
fn global_read_only_reads_everything_and_writes_nothing() {
    let ro = Policy::global_read_only();
    assert_eq!(policy(praetor_acl::GLOBAL_READ_ONLY_RULES), ro);
    let a = Authorizer::new([&ro], true);
    assert!(!a.is_management());
    for g in Global::ALL {
        assert!(a.allows_global(g, Access::Read), "{g}:read");
        assert!(!a.allows_global(g, Access::Write), "{g}:write");
    }
    for r in Resource::ALL {
        assert!(a.allows(r, "x", Access::Read));
        assert!(!a.allows(r, "x", Access::Write));
        assert!(!a.allows(r, "x", Access::List));
    }
    assert!(!a.allows_key_write_prefix(""));
}

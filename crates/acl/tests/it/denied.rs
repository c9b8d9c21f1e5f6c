//! Consul's "Permission denied" wording (acl/errors.go,
//! acl/errors_test.go), for each kind of caller.

use praetor_acl::{Access, Denied, Global, Resource, ANONYMOUS_TOKEN_ID};

#[test]
fn a_known_token_is_named_by_accessor() {
    let d = Denied::new(Some("abc"), Resource::Key, Access::Read, "foo");
    assert_eq!(
        d.to_string(),
        "Permission denied: token with AccessorID 'abc' lacks permission 'key:read' on \"foo\""
    );
    let d = Denied::global(Some("abc"), Global::Operator, Access::Write);
    assert_eq!(
        d.to_string(),
        "Permission denied: token with AccessorID 'abc' lacks permission 'operator:write'"
    );
}

#[test]
fn the_anonymous_token_gets_consuls_trailing_sentence() {
    let d = Denied::new(Some(ANONYMOUS_TOKEN_ID), Resource::Key, Access::Read, "foo");
    assert!(d.is_anonymous());
    assert_eq!(
        d.to_string(),
        "Permission denied: anonymous token lacks permission 'key:read' on \"foo\". The anonymous token is used implicitly when a request does not specify a token."
    );
    let d = Denied::global(Some(ANONYMOUS_TOKEN_ID), Global::Acl, Access::Read);
    assert_eq!(
        d.to_string(),
        "Permission denied: anonymous token lacks permission 'acl:read'. The anonymous token is used implicitly when a request does not specify a token."
    );
}

#[test]
fn an_unknown_accessor_is_the_provided_token() {
    let d = Denied::new(None, Resource::Service, Access::Write, "web");
    assert!(!d.is_anonymous());
    assert_eq!(
        d.to_string(),
        "Permission denied: provided token lacks permission 'service:write' on \"web\""
    );
    let d = Denied {
        accessor: None,
        permission: "acl:write".into(),
        on: None,
    };
    assert_eq!(
        d.to_string(),
        "Permission denied: provided token lacks permission 'acl:write'"
    );
}

#[test]
fn every_resource_and_global_names_its_permission_like_consul() {
    let names: Vec<String> = Resource::ALL
        .iter()
        .map(|r| Denied::new(None, *r, Access::List, "").permission)
        .chain(
            Global::ALL
                .iter()
                .map(|g| Denied::global(None, *g, Access::Read).permission),
        )
        .collect();
    assert_eq!(
        names,
        [
            "key:list",
            "service:list",
            "node:list",
            "session:list",
            "agent:list",
            "event:list",
            "query:list",
            "acl:read",
            "operator:read",
            "keyring:read",
            "mesh:read",
            "peering:read"
        ]
    );
}

#[test]
fn require_names_the_authorizers_accessor_in_consuls_words() {
    use praetor_acl::{Authorizer, Policy};
    let p = match Policy::parse(r#"key_prefix "config/app/" { policy = "read" }"#) {
        Ok(p) => p,
        Err(e) => panic!("{e}"),
    };
    let a = Authorizer::new([&p], false).with_accessor("abc");
    assert_eq!(a.accessor(), Some("abc"));
    assert_eq!(
        a.require(Resource::Key, "config/app/db", Access::Read),
        Ok(())
    );
    let e = a.require(Resource::Key, "config/app/db", Access::Write);
    assert_eq!(
        e.map_err(|d| d.to_string()),
        Err("Permission denied: token with AccessorID 'abc' lacks permission 'key:write' on \"config/app/db\"".into())
    );
    let e = a.require_key_write_prefix("config/");
    assert_eq!(
        e.map_err(|d| d.to_string()),
        Err("Permission denied: token with AccessorID 'abc' lacks permission 'key:write' on \"config/\"".into())
    );
    let anon = Authorizer::new([], false).with_accessor(ANONYMOUS_TOKEN_ID);
    let e = anon.require_global(Global::Acl, Access::Write);
    assert_eq!(
        e.map_err(|d| d.to_string()),
        Err("Permission denied: anonymous token lacks permission 'acl:write'. The anonymous token is used implicitly when a request does not specify a token.".into())
    );
    let unknown = Authorizer::deny_all();
    assert_eq!(
        unknown
            .require_global(Global::Operator, Access::Read)
            .map_err(|d| d.to_string()),
        Err("Permission denied: provided token lacks permission 'operator:read'".into())
    );
    assert_eq!(
        Authorizer::allow_all().require_global(Global::Acl, Access::Write),
        Ok(())
    );
}

#[test]
fn authorizer_can_be_shared_across_threads() {
    fn shared<T: Send + Sync + Clone + std::fmt::Debug>() {}
    shared::<praetor_acl::Authorizer>();
    shared::<praetor_acl::Policy>();
    shared::<Denied>();
}

//! ACL rules: any text parses into a policy or fails with one line; what
//! parses builds an authorizer that answers without panicking, and whose
//! exact rules decide their own names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use praetor_acl::{Access, Authorizer, Global, Policy, Resource};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Policy::parse(text) {
        Err(e) => assert!(!e.to_string().contains('\n'), "one line: {e}"),
        Ok(policy) => {
            let authz = Authorizer::new([&policy], false);
            for rule in policy.rules() {
                if !rule.prefix {
                    for want in [Access::Read, Access::List, Access::Write] {
                        assert_eq!(
                            authz.allows(rule.resource, rule.name, want),
                            rule.access.grants(want)
                        );
                    }
                }
                authz.allows_key_write_prefix(rule.name);
            }
            for r in Resource::ALL {
                authz.allows(r, "", Access::Read);
                authz.allows_any(r, Access::Write);
                authz.allows_all(r, Access::Read);
            }
            for g in Global::ALL {
                authz.allows_global(g, Access::Write);
            }
        }
    }
});

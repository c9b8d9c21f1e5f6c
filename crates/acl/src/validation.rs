//! Which names Consul accepts for identities, policies and roles
//! (Consul's acl/validation.go). Owns only the character rules; the
//! endpoints decide what to say and do with a bad name.

/// The longest service identity name Consul accepts.
pub const SERVICE_IDENTITY_NAME_MAX_LEN: usize = 256;
/// The longest node identity name Consul accepts.
pub const NODE_IDENTITY_NAME_MAX_LEN: usize = 256;
/// The longest policy name Consul accepts.
pub const POLICY_NAME_MAX_LEN: usize = 128;
/// The longest role name Consul accepts.
pub const ROLE_NAME_MAX_LEN: usize = 256;
/// The name prefix Consul reserves for its built-in policies.
pub const RESERVED_BUILTIN_PREFIX: &str = "builtin/";

/// `[a-z0-9]([a-z0-9-_]*[a-z0-9])?`, 1 to `max` bytes.
fn lower_dns_like(name: &str, max: usize) -> bool {
    let b = name.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty()
        && b.len() <= max
        && b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter().all(|c| edge(c) || *c == b'-' || *c == b'_')
}

fn word_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'-' || c == b'_'
}

/// Whether `name` may be a service identity's ServiceName: lowercase
/// letters, digits, `-` and `_`, starting and ending with a letter or digit,
/// at most 256 bytes (Consul's `IsValidServiceIdentityName`). Consul refuses
/// others with `Service identity "<name>" has an invalid name. Only
/// lowercase alphanumeric characters, '-' and '_' are allowed`.
pub fn is_valid_service_identity_name(name: &str) -> bool {
    lower_dns_like(name, SERVICE_IDENTITY_NAME_MAX_LEN)
}

/// Whether `name` may be a node identity's NodeName (same rule as a
/// service identity; Consul's `IsValidNodeIdentityName`).
pub fn is_valid_node_identity_name(name: &str) -> bool {
    lower_dns_like(name, NODE_IDENTITY_NAME_MAX_LEN)
}

/// Whether `name` may name a policy: letters, digits, `-`, `_` and at most
/// one inner `/`, 1 to 128 bytes, not starting with `/` or `builtin/`
/// (Consul's `IsValidPolicyName`).
pub fn is_valid_policy_name(name: &str) -> bool {
    if name.is_empty() || name.len() > POLICY_NAME_MAX_LEN {
        return false;
    }
    if name.starts_with('/') || name.starts_with(RESERVED_BUILTIN_PREFIX) {
        return false;
    }
    let (head, tail) = match name.split_once('/') {
        Some((h, t)) => (h, t),
        None => (name, ""),
    };
    !head.is_empty() && head.bytes().all(word_char) && tail.bytes().all(word_char)
}

/// Whether `name` may name a role: letters, digits, `-` and `_`, 1 to 256
/// bytes (Consul's `IsValidRoleName`).
pub fn is_valid_role_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= ROLE_NAME_MAX_LEN && name.bytes().all(word_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_names_follow_consuls_pattern() {
        for ok in ["web", "a", "web-1", "web_api", "0", "a-b_c9"] {
            assert!(is_valid_service_identity_name(ok), "{ok}");
            assert!(is_valid_node_identity_name(ok), "{ok}");
        }
        for bad in [
            "", "Web", "-web", "web-", "_a", "a_", "a.b", "a/b", "é", "a b",
        ] {
            assert!(!is_valid_service_identity_name(bad), "{bad:?}");
            assert!(!is_valid_node_identity_name(bad), "{bad:?}");
        }
        assert!(is_valid_service_identity_name(&"a".repeat(256)));
        assert!(!is_valid_service_identity_name(&"a".repeat(257)));
    }

    #[test]
    fn policy_and_role_names_follow_consuls_pattern() {
        for ok in ["app", "App-1_x", "team/app", "a/"] {
            assert!(is_valid_policy_name(ok), "{ok}");
        }
        for bad in ["", "/app", "builtin/x", "a/b/c", "a b", "a.b", "é"] {
            assert!(!is_valid_policy_name(bad), "{bad:?}");
        }
        assert!(is_valid_policy_name(&"a".repeat(128)));
        assert!(!is_valid_policy_name(&"a".repeat(129)));
        assert!(is_valid_role_name("Role-1_x"));
        assert!(!is_valid_role_name("team/role"));
        assert!(!is_valid_role_name(""));
        assert!(!is_valid_role_name(&"r".repeat(257)));
    }
}

//! A single server with ACLs enforced (default deny) and a management
//! token, for the integration tests that check tokens (declared with
//! `#[path]` by the test files that need it, so the others do not carry
//! it unused).

use praetor_server::Server;
use praetor_store::acl::{AclCommand, Policy, Token};
use praetor_store::Command;

use crate::common::Started;

/// Server `1`, bootstrapped, with ACLs enabled in datacenter `dc1`.
pub async fn start() -> Started {
    crate::common::start(1, true, |cfg| {
        cfg.acl = praetor_server::acl::AclConfig {
            enabled: true,
            datacenter: "dc1".into(),
            ..praetor_server::acl::AclConfig::default()
        };
    })
    .await
}

/// Writes what the leader's ACL start-up writes (a leader duty, not run
/// by these servers): the anonymous token and the global-management
/// policy.
pub async fn init(server: &Server) {
    let init = AclCommand::Init {
        anonymous: Token {
            accessor_id: "00000000-0000-0000-0000-000000000002".into(),
            secret_id: praetor_acl::ANONYMOUS_TOKEN_SECRET.into(),
            ..Token::default()
        },
        management_policy: Policy {
            id: praetor_acl::GLOBAL_MANAGEMENT_POLICY_ID.into(),
            name: "global-management".into(),
            rules: praetor_acl::GLOBAL_MANAGEMENT_RULES.trim().to_owned(),
            ..Policy::default()
        },
        initial_management: None,
    };
    let (_, r) = server.write(Command::Acl(init)).await.unwrap();
    assert!(r.ok(), "{r:?}");
}

/// Creates a global-management token with `accessor` and `secret`,
/// expiring at `expiration_ms` (Unix ms) when given.
pub async fn management_token(
    server: &Server,
    accessor: &str,
    secret: &str,
    expiration_ms: Option<u64>,
) {
    let token = Token {
        accessor_id: accessor.into(),
        secret_id: secret.into(),
        policies: vec![praetor_acl::GLOBAL_MANAGEMENT_POLICY_ID.into()],
        expiration_ms,
        ..Token::default()
    };
    let (_, r) = server
        .write(Command::Acl(AclCommand::TokenSet {
            token,
            create: true,
        }))
        .await
        .unwrap();
    assert!(r.ok(), "{r:?}");
}

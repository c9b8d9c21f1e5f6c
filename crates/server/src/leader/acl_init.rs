//! The ACL system's start on a new leader, as Consul's leader does it:
//! the built-in `global-management` policy and the anonymous token are
//! created when missing, and so is the `acl.tokens.initial_management`
//! token (which counts as the bootstrap). Idempotent: a leader that finds
//! them all proposes nothing.

use praetor_store::acl::{AclCommand, Policy, Token, ANONYMOUS_TOKEN_ID, GLOBAL_MANAGEMENT_ID};
use praetor_store::Command;

use crate::acl::{now_ms, record_hash};
use crate::Server;

/// Proposes the ACL start-up on this leader when something is missing.
pub(super) async fn ensure(server: &Server) {
    let cfg = server.acl.config();
    if !cfg.enabled {
        return;
    }
    let initial = cfg.initial_management.clone();
    let missing = {
        let st = server.shared.read();
        let t = st.store.acl();
        t.policy(GLOBAL_MANAGEMENT_ID).is_none()
            || t.token(ANONYMOUS_TOKEN_ID).is_none()
            || initial
                .as_deref()
                .is_some_and(|s| t.token_by_secret(s).is_none())
    };
    if !missing {
        return;
    }
    let now = now_ms();
    let management_policy = Policy {
        id: GLOBAL_MANAGEMENT_ID.into(),
        name: praetor_api::acl::GLOBAL_MANAGEMENT_POLICY_NAME.into(),
        description: "Builtin Policy that grants unlimited access".into(),
        rules: praetor_acl::GLOBAL_MANAGEMENT_RULES.trim().to_owned(),
        hash: record_hash(&[GLOBAL_MANAGEMENT_ID, praetor_acl::GLOBAL_MANAGEMENT_RULES]),
        ..Policy::default()
    };
    let anonymous = Token {
        accessor_id: ANONYMOUS_TOKEN_ID.into(),
        secret_id: praetor_acl::ANONYMOUS_TOKEN_SECRET.into(),
        description: "Anonymous Token".into(),
        create_ms: now,
        hash: record_hash(&[ANONYMOUS_TOKEN_ID]),
        ..Token::default()
    };
    let initial_management = initial.map(|secret| {
        let accessor = uuid::Uuid::new_v4().to_string();
        Token {
            hash: record_hash(&[&accessor, GLOBAL_MANAGEMENT_ID]),
            accessor_id: accessor,
            secret_id: secret,
            description: "Initial Management Token".into(),
            policies: vec![GLOBAL_MANAGEMENT_ID.into()],
            create_ms: now,
            ..Token::default()
        }
    });
    let cmd = Command::Acl(AclCommand::Init {
        anonymous,
        management_policy,
        initial_management,
    });
    match server.write_local(cmd).await {
        Ok((index, _)) => tracing::info!(index, "ACL system initialized"),
        Err(e) => tracing::warn!(error = %e, "could not initialize the ACL system; will retry"),
    }
}

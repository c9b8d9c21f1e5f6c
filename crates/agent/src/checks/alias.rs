//! What an alias check sees of the instance it aliases: this agent's own
//! services and checks for a local alias, the servers' catalog for another
//! node (Consul's `CheckAlias.runLocal` and `runQuery`). The verdict and its
//! wording are `praetor-checks`' (`processChecks`); this module only
//! gathers the input. The remote read goes to the backend, never to the
//! agent's own HTTP API.

use std::sync::Arc;
use std::time::Duration;

use praetor_checks::{AliasView, AliasedCheck, Status};
use praetor_server::read::{CatalogNode, NodeChecks};
use praetor_server::{Consistency, QueryOpts, ServerError};
use tokio_util::sync::CancellationToken;

use super::CheckRunners;
use crate::backend::Backend;
use crate::local::{LocalState, Owned};

/// Longest wait of one blocking read of the aliased node (Consul's
/// `MaxQueryTime` for alias checks).
const BLOCK_FOR: Duration = Duration::from_secs(60);
/// Failed reads in a row before the next one backs off (Consul's
/// `checkAliasBackoffMin`).
const BACKOFF_AFTER: u32 = 3;
/// Longest pause between failed reads (`checkAliasBackoffMaxWait`).
const BACKOFF_MAX: Duration = Duration::from_secs(60);

/// A local alias's view: whether `service_id` is registered with this
/// agent, and this agent's checks, the alias check `own` excepted (a
/// node-level alias would otherwise follow itself).
pub fn local_view(owned: &Owned, service_id: &str, own: &str) -> AliasView {
    AliasView {
        service_exists: owned.services.contains_key(service_id),
        checks: owned
            .checks
            .values()
            .filter(|c| c.id != own)
            .map(|c| AliasedCheck {
                name: c.name.clone(),
                service_id: c.service_id.clone(),
                status: c.status.parse().unwrap_or(Status::Critical),
                output: c.output.clone(),
            })
            .collect(),
    }
}

/// [`local_view`] read from the local state through its index: only the
/// checks an alias of `service_id` weighs (the node's own and that
/// service's), never a walk of every check.
pub fn local_view_of(local: &LocalState, service_id: &str, own: &str) -> AliasView {
    let (service_exists, checks) = local.checks_of(service_id, &["", service_id]);
    AliasView {
        service_exists,
        checks: checks
            .into_iter()
            .filter(|c| c.id != own)
            .map(|c| AliasedCheck {
                status: c.status.parse().unwrap_or(Status::Critical),
                name: c.name,
                service_id: c.service_id,
                output: c.output,
            })
            .collect(),
    }
}

/// The aliased node's checks and whether `service_id` is registered on it,
/// read from the servers (stale reads are fine, as in Consul), blocking
/// until the node's checks change past `index`. Returns the index to block
/// on next. The one place an alias check reads the servers.
///
/// # Errors
/// When no server answers.
pub async fn read_node(
    backend: &Backend,
    token: &praetor_server::acl::Token,
    node: &str,
    service_id: &str,
    index: u64,
) -> Result<(u64, AliasView), ServerError> {
    let opts = |index| QueryOpts {
        index,
        wait: BLOCK_FOR,
        consistency: Consistency::Stale,
    };
    let name = node.to_owned();
    let read = backend
        .read(token, NodeChecks { name: name.clone() }, opts(index))
        .await?;
    let checks = read.answer;
    let service_exists = !service_id.is_empty()
        && backend
            .read(token, CatalogNode { name }, opts(0))
            .await?
            .answer
            .1
            .iter()
            .any(|s| s.id == service_id);
    let checks = checks
        .into_iter()
        .map(|c| AliasedCheck {
            status: c.status.parse().unwrap_or(Status::Critical),
            name: c.name,
            service_id: c.service_id,
            output: c.output,
        })
        .collect();
    Ok((
        read.index,
        AliasView {
            service_exists,
            checks,
        },
    ))
}

/// A remote alias check's reader: blocking reads of the aliased node, each
/// answer fed to the check's runner, until `stop`. After a failed read the
/// next is retried at once, then with a backoff doubling from 1 s up to a
/// minute; from the second failure in a row the check is critical with the
/// reason, as Consul's.
pub async fn run_remote(
    runners: Arc<CheckRunners>,
    backend: Arc<Backend>,
    acl: Arc<crate::acl::AgentAcl>,
    id: String,
    node: String,
    service_id: String,
    stop: CancellationToken,
) {
    let mut index = 0;
    let mut failures = 0u32;
    loop {
        if failures > BACKOFF_AFTER {
            let shift = (failures - BACKOFF_AFTER).min(6);
            let pause = (Duration::from_secs(1) * (1 << shift)).min(BACKOFF_MAX);
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = stop.cancelled() => return,
            }
        }
        let token = acl.agent_token();
        let read = tokio::select! {
            read = read_node(&backend, &token, &node, &service_id, index) => read,
            () = stop.cancelled() => return,
        };
        match read {
            Ok((at, view)) => {
                failures = 0;
                // Always block on the next read, even on an index of 0.
                index = at.max(1);
                runners.alias_input(&id, Ok(view));
            }
            Err(e) => {
                failures += 1;
                tracing::debug!(check = %id, %node, error = %e, "reading the aliased node failed");
                if failures > 1 {
                    runners.alias_input(&id, Err(e.to_string()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local::LocalCheck;
    use praetor_api::catalog::ServiceDefinition;

    fn check(id: &str, service_id: &str, status: &str) -> LocalCheck {
        LocalCheck {
            id: id.into(),
            name: id.into(),
            service_id: service_id.into(),
            notes: String::new(),
            status: status.into(),
            output: format!("{id} output"),
            deregister_after: None,
            definition: None,
        }
    }

    #[test]
    fn a_local_view_holds_the_agents_checks_but_the_alias_itself() {
        let mut owned = Owned::default();
        owned.services.insert(
            "dns1".into(),
            ServiceDefinition {
                id: "dns1".into(),
                service: "dns".into(),
                ..Default::default()
            },
        );
        for c in [
            check("dns-ttl", "dns1", "critical"),
            check("node-alias", "", "critical"),
        ] {
            owned.checks.insert(c.id.clone(), c);
        }
        let view = local_view(&owned, "dns1", "node-alias");
        assert!(view.service_exists);
        assert_eq!(view.checks.len(), 1);
        assert_eq!(view.checks[0].name, "dns-ttl");
        assert_eq!(view.checks[0].status, Status::Critical);
        assert!(!local_view(&owned, "gone1", "x").service_exists);
    }
}

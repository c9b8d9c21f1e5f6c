//! Catalog reconciliation, on the leader: the catalog's nodes follow
//! membership, as Consul's leader's `reconcileMember` does. Alive (and
//! leaving) members are registered with a passing `serfHealth` check,
//! failed ones keep their node with a critical one, members that left are
//! deregistered, and so are nodes with a `serfHealth` check that membership
//! no longer lists (reaped). Every server's node also carries the `consul`
//! service (port: its RPC port), so `/v1/catalog/service/consul` and
//! `consul.service.consul` list the servers, as in Consul. Only changes are
//! proposed, through the log; the store is only read here.

use praetor_api::catalog::{check_status, SERF_CHECK_ID};
use std::collections::BTreeMap;

use praetor_store::catalog::NodeHealth;
use praetor_store::model::{Registration, ServiceRegistration};
use praetor_store::Command;

use super::membership::{MemberRole, MemberStatus, MemberView};
use crate::Server;

/// `serfHealth`'s output while the member is alive (Consul's wording).
const ALIVE_OUTPUT: &str = "Agent alive and reachable";
/// `serfHealth`'s output once the member failed (Consul's wording).
const FAILED_OUTPUT: &str = "Agent not live or unreachable";

/// What the catalog should say of a member: its node and `serfHealth`
/// status, or `None` when it left (and must be deregistered).
fn desired_node(m: &MemberView) -> Option<NodeHealth> {
    let (status, output) = match m.status {
        MemberStatus::Alive | MemberStatus::Leaving => (check_status::PASSING, ALIVE_OUTPUT),
        MemberStatus::Failed => (check_status::CRITICAL, FAILED_OUTPUT),
        MemberStatus::Left => return None,
    };
    Some(NodeHealth {
        node: m.name.clone(),
        id: m.node_id.clone(),
        address: m.addr.to_string(),
        datacenter: m.datacenter.clone(),
        status: status.to_owned(),
        output: output.to_owned(),
    })
}

/// The ID and name of the service every server's node carries (Consul's
/// `structs.ConsulServiceID`); agents' anti-entropy leaves it alone.
pub const SERVER_SERVICE: &str = "consul";

/// The `consul` service a server member should carry, or `None` for a
/// client, a server that announced no RPC address, or one that left.
/// A failed server keeps its service: its critical `serfHealth` check
/// takes it out of health answers, as in Consul.
fn desired_server_service(m: &MemberView) -> Option<ServiceRegistration> {
    if m.role != MemberRole::Server || m.status == MemberStatus::Left {
        return None;
    }
    let port = m.rpc_addr?.port();
    // What Consul's leader puts in the service's Meta that is true here.
    let meta: BTreeMap<String, String> = [
        ("non_voter", "false"),
        ("read_replica", "false"),
        ("raft_version", "3"),
        ("serf_protocol_current", "2"),
        ("serf_protocol_min", "1"),
        ("serf_protocol_max", "5"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    Some(ServiceRegistration {
        id: SERVER_SERVICE.to_owned(),
        service: SERVER_SERVICE.to_owned(),
        port,
        meta,
        ..Default::default()
    })
}

/// The command that registers `want` on member `m`'s node, leaving the
/// node itself as it is.
fn register_server_service(m: &MemberView, want: ServiceRegistration) -> Command {
    Command::CatalogRegister(Registration {
        id: m.node_id.clone(),
        node: m.name.clone(),
        address: m.addr.to_string(),
        datacenter: m.datacenter.clone(),
        service: Some(want),
        skip_node_update: true,
        ..Default::default()
    })
}

/// The command that removes `node` and everything registered on it.
fn deregister_node(node: &str) -> Command {
    Command::CatalogDeregister(praetor_store::model::Deregistration {
        node: node.to_owned(),
        ..Default::default()
    })
}

/// The commands that make the catalog's nodes of datacenter `dc` follow
/// `members`, as this server's store has them now.
fn catalog_changes(members: &[MemberView], server: &Server, dc: &str) -> Vec<Command> {
    let mut commands = Vec::new();
    let st = server.shared().read();
    let catalog = st.store.catalog();
    for m in members.iter().filter(|m| m.datacenter == dc) {
        let (_, node) = catalog.node(&m.name);
        match desired_node(m) {
            Some(want) => {
                let (_, checks) = catalog.node_checks(&m.name);
                let serf = checks.iter().find(|c| c.check_id == SERF_CHECK_ID);
                let same = node.as_ref().is_some_and(|n| {
                    n.id == want.id && n.address == want.address && n.datacenter == want.datacenter
                }) && serf
                    .is_some_and(|c| c.status == want.status && c.output == want.output);
                if !same {
                    commands.push(Command::NodeHealth(want));
                }
                if let Some(service) = desired_server_service(m) {
                    let have = catalog.service(&m.name, SERVER_SERVICE);
                    let same = have.is_some_and(|h| {
                        h.service == service.service
                            && h.port == service.port
                            && h.meta == service.meta
                            && h.address == service.address
                    });
                    if !same {
                        commands.push(register_server_service(m, service));
                    }
                }
            }
            None if node.is_some() => commands.push(deregister_node(&m.name)),
            None => {}
        }
    }
    let (_, nodes) = catalog.nodes();
    for n in nodes {
        let from_gossip = catalog
            .node_checks(&n.node)
            .1
            .iter()
            .any(|c| c.check_id == SERF_CHECK_ID);
        if from_gossip && !members.iter().any(|m| m.name == n.node) {
            commands.push(deregister_node(&n.node));
        }
    }
    commands
}

/// Proposes the changes that make the catalog follow `members`, stopping
/// at the first write that fails (the next round tries again).
pub(super) async fn reconcile_catalog(members: &[MemberView], server: &Server, dc: &str) {
    for cmd in catalog_changes(members, server, dc) {
        if let Err(e) = server.write(cmd).await {
            tracing::warn!(error = %e, "could not update the catalog from gossip");
            return;
        }
    }
}

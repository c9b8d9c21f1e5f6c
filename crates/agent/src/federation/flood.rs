//! Consul's flood join: a server joins, over the WAN, every server of its
//! own datacenter that its LAN pool lists alive, at that server's LAN
//! address and this pool's WAN port, so the WAN pool holds all of a
//! datacenter's servers (and their WAN coordinates, which
//! `/v1/coordinate/datacenters` lists) without a `retry_join_wan` naming
//! them. Bounded: one join round at a time, each address tried again at
//! most every [`RETRY`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use praetor_gossip::{Gossip, Member, MemberStatus, Role};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::wan_name;

/// How soon the same server is tried again after a join attempt.
const RETRY: Duration = Duration::from_secs(30);
/// How often the lists are compared when nothing changes (a failed
/// attempt's retry comes due).
const TICK: Duration = Duration::from_secs(5);

/// The WAN addresses of the servers of datacenter `dc` that the LAN pool
/// (`lan`) lists alive, other than `own` (its LAN name), and that the WAN
/// pool (`wan`) does not list alive: `<LAN ip>:<port>`.
#[must_use]
pub fn missing(
    own: &str,
    dc: &str,
    lan: &[Member],
    wan: &[Member],
    port: u16,
) -> Vec<(String, SocketAddr)> {
    lan.iter()
        .filter(|m| {
            m.name != own
                && m.tags.role == Role::Server
                && m.tags.datacenter == dc
                && m.status == MemberStatus::Alive
        })
        .filter(|m| {
            let name = wan_name(&m.name, dc);
            !wan.iter()
                .any(|w| w.name == name && matches!(w.status, MemberStatus::Alive))
        })
        .map(|m| (m.name.clone(), SocketAddr::new(m.addr.ip(), port)))
        .collect()
}

/// Runs the flood join of this server (`lan`'s local member) into `wan`
/// until `stop`. `port` is the WAN port of this datacenter's servers
/// (this one's `ports.serf_wan`); 0 turns the flood off.
pub async fn run_flood_join(
    lan: Gossip,
    wan: Gossip,
    dc: String,
    port: u16,
    stop: CancellationToken,
) {
    if port == 0 {
        return;
    }
    let own = lan.local().name;
    let mut changes = lan.watch();
    let mut tried: HashMap<SocketAddr, Instant> = HashMap::new();
    loop {
        let now = Instant::now();
        tried.retain(|_, at| now.saturating_duration_since(*at) < RETRY);
        let due: Vec<(String, SocketAddr)> =
            missing(&own, &dc, &lan.members(), &wan.members(), port)
                .into_iter()
                .filter(|(_, addr)| !tried.contains_key(addr))
                .collect();
        if !due.is_empty() {
            let addrs: Vec<String> = due.iter().map(|(_, a)| a.to_string()).collect();
            for (_, addr) in &due {
                tried.insert(*addr, now);
            }
            tokio::select! {
                () = stop.cancelled() => return,
                joined = wan.join(&addrs) => match joined {
                    Ok(n) => tracing::debug!(joined = n, ?addrs, "flood join of this datacenter's servers into the WAN pool"),
                    Err(error) => tracing::debug!(%error, ?addrs, "flood join failed; retried later"),
                },
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(TICK) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use praetor_gossip::Tags;

    use super::*;

    fn member(name: &str, ip: &str, dc: &str, role: Role, status: MemberStatus) -> Member {
        Member {
            name: name.into(),
            addr: format!("{ip}:8301").parse().unwrap(),
            tags: Tags {
                role,
                datacenter: dc.into(),
                node_id: String::new(),
                rpc_addr: None,
                raft_id: None,
                bootstrap_expect: 0,
                build: String::new(),
                protocol: 2,
            },
            status,
            generation: 1,
        }
    }

    #[test]
    fn the_alive_servers_of_this_datacenter_missing_from_the_wan_pool_are_joined() {
        use MemberStatus::{Alive, Failed};
        let lan = [
            member("s1", "10.0.0.1", "dc1", Role::Server, Alive),
            member("s2", "10.0.0.2", "dc1", Role::Server, Alive),
            member("s3", "10.0.0.3", "dc1", Role::Server, Alive),
            member("s4", "10.0.0.4", "dc1", Role::Server, Failed),
            member("c1", "10.0.0.5", "dc1", Role::Client, Alive),
            member("x1", "10.0.0.6", "dc9", Role::Server, Alive),
        ];
        let wan = [
            member("s1.dc1", "10.0.0.1", "dc1", Role::Server, Alive),
            member("s2.dc1", "10.0.0.2", "dc1", Role::Server, Alive),
            member("s3.dc1", "10.0.0.3", "dc1", Role::Server, Failed),
        ];
        // s3 is failed in the WAN pool but alive on the LAN: joined again;
        // s2 is in already; s4 is down, c1 no server, x1 of another dc.
        assert_eq!(
            missing("s1", "dc1", &lan, &wan, 8302),
            [("s3".to_owned(), "10.0.0.3:8302".parse().unwrap())]
        );
        assert_eq!(missing("s1", "dc1", &lan, &wan[..1], 9302).len(), 2);
        assert!(missing("s1", "dc1", &lan[..1], &[], 8302).is_empty());
    }
}

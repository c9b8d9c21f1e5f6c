//! Starting members on loopback and waiting for conditions with a deadline.

use std::net::SocketAddr;
use std::time::Duration;

use praetor_gossip::{Gossip, GossipConfig, Member, MemberStatus, Role, Tags};
use tokio_util::sync::CancellationToken;

/// How long any wait in these tests may take before it fails.
pub const WAIT: Duration = Duration::from_secs(15);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "praetor_gossip=info".into()),
        )
        .with_test_writer()
        .try_init();
}

pub fn tags(name: &str, role: Role, build: &str) -> Tags {
    let n: u64 = name
        .trim_start_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .unwrap_or(0);
    Tags {
        role,
        datacenter: "dc1".into(),
        node_id: format!("00000000-0000-4000-8000-{n:012}"),
        rpc_addr: (role == Role::Server).then(|| SocketAddr::from(([127, 0, 0, 1], 8300))),
        raft_id: (role == Role::Server).then_some(n),
        bootstrap_expect: if role == Role::Server { 3 } else { 0 },
        build: build.into(),
        protocol: 2,
    }
}

/// One member under test.
pub struct Node {
    pub name: String,
    pub addr: SocketAddr,
    pub gossip: Gossip,
    pub stop: CancellationToken,
}

impl Node {
    /// Starts `name` on `127.77.<net>.<host>:8301` with LAN defaults, then
    /// lets `tune` change the configuration.
    pub async fn start(
        net: u8,
        host: u8,
        tags: Tags,
        tune: impl FnOnce(&mut GossipConfig),
    ) -> Node {
        let name = format!("n{host}");
        let addr = SocketAddr::from(([127, 77, net, host], 8301));
        let mut cfg = GossipConfig::new(name.clone(), addr, tags);
        tune(&mut cfg);
        let stop = CancellationToken::new();
        let gossip = Gossip::start(cfg, stop.clone())
            .await
            .unwrap_or_else(|e| panic!("starting {name} on {addr}: {e}"));
        Node {
            name,
            addr,
            gossip,
            stop,
        }
    }

    /// Stops every task without leaving (a crash, as the others see it) and
    /// waits until they have ended, so the address is free again.
    pub async fn kill(&self) {
        self.stop.cancel();
        tokio::time::timeout(WAIT, self.gossip.wait())
            .await
            .unwrap_or_else(|_| panic!("{}: gossip tasks outlived their stop", self.name));
    }

    pub fn member(&self, name: &str) -> Option<Member> {
        self.gossip.members().into_iter().find(|m| m.name == name)
    }

    pub fn status_of(&self, name: &str) -> Option<MemberStatus> {
        self.member(name).map(|m| m.status)
    }
}

/// Stops every node and checks that its tasks end.
pub async fn shutdown(nodes: &[&Node]) {
    for node in nodes {
        node.kill().await;
    }
}

/// Polls `check` until it returns `Ok`, failing after `limit` with `what`
/// and the last state `check` reported.
pub async fn wait_for(what: &str, limit: Duration, check: impl FnMut() -> Result<(), String>) {
    praetor_testwait::wait_until(limit, what, check)
        .await
        .unwrap();
}

/// `Ok` when every node in `observers` lists `name` with `status`.
pub fn everyone_sees(observers: &[&Node], name: &str, status: MemberStatus) -> Result<(), String> {
    for node in observers {
        let seen = node.status_of(name);
        if seen != Some(status) {
            return Err(format!("{} sees {name} as {seen:?}", node.name));
        }
    }
    Ok(())
}

/// A short description of what `node` sees, for failure messages.
pub fn describe(node: &Node) -> String {
    let members: Vec<String> = node
        .gossip
        .members()
        .iter()
        .map(|m| format!("{}={}", m.name, m.status))
        .collect();
    format!("{}: [{}]", node.name, members.join(", "))
}

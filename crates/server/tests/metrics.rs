//! The server's metrics in a three-server cluster, each server recording
//! into its own recorder (as each agent in one process does): the leader
//! counts its election, commits and the RPC calls forwarded to it, and both
//! sides sample `consul.raft.leader.lastContact`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use praetor_server::{rpc, Server, ServerConfig, ServerMetrics};
use praetor_store::Command;
use tokio_util::sync::CancellationToken;

struct Node {
    server: Server,
    stop: CancellationToken,
    addr: String,
    seen: Seen,
}

/// Everything a node's recorder saw so far: per metric (name and labels),
/// the number of values and their sum (counters: one value, the total).
#[derive(Default)]
struct Seen {
    snapshotter: Option<Snapshotter>,
    totals: BTreeMap<String, (u64, f64)>,
}

impl Seen {
    /// Takes what was recorded since the last call (snapshots drain).
    fn update(&mut self) -> &BTreeMap<String, (u64, f64)> {
        if let Some(s) = &self.snapshotter {
            for (key, _, _, value) in s.snapshot().into_vec() {
                let key = key.key();
                let mut name = key.name().to_owned();
                for l in key.labels() {
                    name.push_str(&format!(",{}={}", l.key(), l.value()));
                }
                let slot = self.totals.entry(name).or_default();
                match value {
                    DebugValue::Counter(n) => {
                        slot.0 += n;
                        slot.1 += n as f64;
                    }
                    DebugValue::Histogram(vs) => {
                        slot.0 += vs.len() as u64;
                        slot.1 += vs.iter().map(|v| v.into_inner()).sum::<f64>();
                    }
                    DebugValue::Gauge(v) => *slot = (1, v.into_inner()),
                }
            }
        }
        &self.totals
    }

    fn count(&mut self, name: &str) -> u64 {
        self.update().get(name).map_or(0, |t| t.0)
    }
}

async fn node(id: u64, bootstrap: bool) -> Node {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let stop = CancellationToken::new();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let server = Server::start(ServerConfig {
        node_id: id,
        rpc_addr: addr.clone(),
        data_dir: None,
        snapshot_threshold: 1000,
        trailing_logs: 100,
        history_limit: 1000,
        bootstrap,
        leader_wait: Duration::from_secs(5),
        apply_timeout: praetor_server::APPLY_TIMEOUT,
        stop: stop.clone(),
        metrics: ServerMetrics::new(&recorder),
        acl: praetor_server::acl::AclConfig::default(),
    })
    .await
    .unwrap();
    tokio::spawn(rpc::serve(listener, Arc::new(server.clone()), stop.clone()));
    Node {
        server,
        stop,
        addr,
        seen: Seen {
            snapshotter: Some(snapshotter),
            ..Seen::default()
        },
    }
}

/// Waits (at most 10 s) until `n`'s recorder has seen `name` at least `at_least` times.
async fn wait_seen(n: &mut Node, name: &str, at_least: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let count = n.seen.count(name);
        if count >= at_least {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "server {}: {name} seen {count} times within 10s, wanted {at_least}; saw {:?}",
            n.server.id(),
            n.seen.update().keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_server_reports_raft_and_rpc_metrics_under_consuls_names() {
    let mut a = node(1, true).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !a.server.is_leader() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a leader within 10s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_seen(&mut a, "consul.raft.state.leader", 1).await;
    let mut b = node(2, false).await;
    let mut c = node(3, false).await;
    a.server.add_voter(2, &b.addr).await.unwrap();
    a.server.add_voter(3, &c.addr).await.unwrap();

    // A write on a follower is forwarded to the leader over RPC.
    let cmd = Command::KvSet {
        key: "m".into(),
        value: b"1".to_vec().into(),
        flags: 0,
        cas: None,
    };
    b.server.write(cmd).await.unwrap();
    wait_seen(&mut a, "consul.rpc.request", 1).await;
    wait_seen(&mut a, "consul.rpc.server.call,method=Write", 1).await;
    wait_seen(&mut a, "consul.raft.apply", 1).await;
    wait_seen(&mut a, "consul.raft.commitTime", 1).await;
    for n in [&mut a, &mut b, &mut c] {
        wait_seen(n, "consul.raft.fsm.apply", 1).await;
    }
    // Replication reaches the followers, and lastContact is sampled on
    // both sides: per follower on the leader, the leader's on followers.
    for n in [&mut b, &mut c] {
        wait_seen(n, "consul.raft.rpc.appendEntries", 1).await;
        wait_seen(n, "consul.raft.leader.lastContact", 1).await;
    }
    wait_seen(&mut a, "consul.raft.leader.lastContact", 2).await;
    // Each recorder saw only its own server: no election on the followers.
    assert_eq!(b.seen.count("consul.raft.state.leader"), 0);
    assert_eq!(c.seen.count("consul.raft.state.leader"), 0);
    // Commit times are milliseconds, and plausible ones.
    let (n, sum) = a.seen.update()["consul.raft.commitTime"];
    assert!(sum / (n as f64) < 5_000.0, "{n} commits took {sum} ms");

    for n in [&a, &b, &c] {
        n.stop.cancel();
        n.server.shutdown().await;
    }
}

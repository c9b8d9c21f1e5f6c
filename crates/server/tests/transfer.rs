//! Leadership transfer (`Server::transfer_leader`, Raft's TimeoutNow) on
//! three servers in one process over real RPC on loopback: leadership
//! moves to the server named, from the leader or through a follower, and
//! every write acknowledged before, during and after the transfer is on
//! every server.

use std::time::Duration;

use praetor_server::Server;
use tokio_util::sync::CancellationToken;
use tracing::info;

mod common;

use common::set;

struct Node {
    server: Server,
    stop: CancellationToken,
    addr: String,
}

async fn node(id: u64, bootstrap: bool) -> Node {
    let common::Started { server, stop, addr } = common::start(id, bootstrap, |cfg| {
        cfg.leader_wait = Duration::from_secs(7);
    })
    .await;
    Node { server, stop, addr }
}

async fn wait_until(what: &str, mut f: impl FnMut() -> Result<(), String>) {
    praetor_testwait::wait_until(Duration::from_secs(15), what, &mut f)
        .await
        .unwrap();
}

fn has(s: &Server, k: &str) -> bool {
    s.shared().read().store.kv().get(k).is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_moves_to_the_server_named_and_keeps_every_acknowledged_write() {
    let a = node(1, true).await;
    wait_until("a leader", || {
        praetor_testwait::check(a.server.is_leader(), || "no leader yet".into())
    })
    .await;
    let b = node(2, false).await;
    let c = node(3, false).await;
    a.server.add_voter(2, &b.addr).await.unwrap();
    a.server.add_voter(3, &c.addr).await.unwrap();
    let nodes = [&a, &b, &c];

    info!("--- writes acknowledged before the transfer");
    let mut acked = Vec::new();
    for i in 0..20 {
        let key = format!("before/{i}");
        let (_, r) = a.server.write(set(&key, "v")).await.unwrap();
        assert!(r.ok());
        acked.push(key);
    }

    info!("--- transfer to server 3 while a follower keeps writing");
    let writer = {
        let b = b.server.clone();
        tokio::spawn(async move {
            let mut done = Vec::new();
            for i in 0..40 {
                let key = format!("during/{i}");
                if let Ok((_, r)) = b.write(set(&key, "v")).await {
                    if r.ok() {
                        done.push(key);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            done
        })
    };
    let new = a.server.transfer_leader(Some(3)).await.unwrap();
    assert_eq!(new, 3);
    wait_until("server 3 to lead with its lease", || {
        praetor_testwait::check(c.server.is_leader(), || {
            format!("leaders seen: {:?}", nodes.map(|n| n.server.leader()))
        })
    })
    .await;
    acked.extend(writer.await.unwrap());

    info!("--- writes acknowledged after the transfer");
    for i in 0..20 {
        let key = format!("after/{i}");
        let (_, r) = a.server.write(set(&key, "v")).await.unwrap();
        assert!(r.ok());
        acked.push(key);
    }

    info!("--- back to any other server, asked through a follower");
    let back = b.server.transfer_leader(None).await.unwrap();
    assert_ne!(back, 3);
    let (_, r) = c.server.write(set("last", "v")).await.unwrap();
    assert!(r.ok());
    acked.push("last".into());

    for n in nodes {
        let s = n.server.clone();
        let keys = acked.clone();
        wait_until("every acknowledged write on every server", move || {
            let missing: Vec<&String> = keys.iter().filter(|k| !has(&s, k)).collect();
            praetor_testwait::check(missing.is_empty(), || format!("missing {missing:?}"))
        })
        .await;
    }

    info!("--- a transfer to a server outside the configuration is refused");
    let leader = nodes
        .into_iter()
        .find(|n| n.server.is_leader())
        .expect("a leader");
    assert!(leader.server.transfer_leader(Some(99)).await.is_err());
    assert!(leader
        .server
        .transfer_leader(Some(leader.server.id()))
        .await
        .is_err());

    for n in [a, b, c] {
        n.stop.cancel();
        n.server.shutdown().await;
    }
}

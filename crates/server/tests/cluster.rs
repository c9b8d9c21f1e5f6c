//! Servers in one process, talking Raft over real RPC on loopback: a
//! three-server cluster replicates, forwards writes to the leader, and
//! survives the loss of its leader.

use std::time::Duration;

use praetor_server::read::KvGet;
use praetor_server::{Consistency, QueryOpts, Server};
use tokio_util::sync::CancellationToken;

#[path = "common/acl.rs"]
mod acl_setup;
mod common;

use common::set;

struct Node {
    server: Server,
    stop: CancellationToken,
    addr: String,
}

async fn node(id: u64, bootstrap: bool) -> Node {
    node_waiting(id, bootstrap, Duration::from_secs(5)).await
}

async fn node_waiting(id: u64, bootstrap: bool, leader_wait: Duration) -> Node {
    let common::Started { server, stop, addr } = common::start(id, bootstrap, |cfg| {
        cfg.snapshot_threshold = 100;
        cfg.trailing_logs = 20;
        cfg.leader_wait = leader_wait;
        cfg.apply_timeout = leader_wait;
    })
    .await;
    Node { server, stop, addr }
}

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    praetor_testwait::wait_until(Duration::from_secs(10), what, || {
        praetor_testwait::check(f(), || "not yet".into())
    })
    .await
    .unwrap();
}

fn value(s: &Server, k: &str) -> Option<Vec<u8>> {
    s.shared()
        .read()
        .store
        .kv()
        .get(k)
        .map(|e| e.value.to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_servers_replicate_forward_and_survive_the_leaders_loss() {
    let a = node(1, true).await;
    wait_until("a leader", || a.server.is_leader()).await;
    // Writes made before the others join reach them too (log or snapshot).
    for i in 0..150 {
        a.server
            .write(set(&format!("early/{i}"), "x"))
            .await
            .unwrap();
    }
    let b = node(2, false).await;
    let c = node(3, false).await;
    a.server.add_voter(2, &b.addr).await.unwrap();
    a.server.add_voter(3, &c.addr).await.unwrap();
    assert_eq!(a.server.voters().len(), 3);

    // A write on a follower is forwarded to the leader and reaches everyone.
    let (idx, resp) = b.server.write(set("from/b", "1")).await.unwrap();
    assert!(resp.ok());
    for n in [&a, &b, &c] {
        let s = n.server.clone();
        wait_until("the write on every server", move || {
            value(&s, "from/b").is_some()
        })
        .await;
        assert_eq!(value(&n.server, "early/149").as_deref(), Some(&b"x"[..]));
        assert!(n.server.shared().read().store.last_index() >= idx);
    }
    // A default read on a follower is refused (it must go to the leader); stale works.
    assert!(b.server.read_access(Consistency::Default).await.is_err());
    assert!(
        b.server
            .read_access(Consistency::Stale)
            .await
            .unwrap()
            .known_leader
    );
    assert!(a.server.read_access(Consistency::Consistent).await.is_ok());

    // Queries on a follower: default and consistent ones are answered by the
    // leader over RPC, and a blocking one wakes on a write made elsewhere.
    let get = |k: &str| KvGet { key: k.into() };
    let opts = |index, consistency| QueryOpts {
        index,
        wait: Duration::from_secs(10),
        consistency,
    };
    for mode in [
        Consistency::Default,
        Consistency::Consistent,
        Consistency::Stale,
    ] {
        let r = c
            .server
            .read(
                &praetor_server::acl::Token::anonymous(),
                &get("from/b"),
                opts(0, mode),
            )
            .await
            .unwrap();
        assert!(r.answer.is_some(), "{mode:?}: {r:?}");
        assert!(r.meta.known_leader);
    }
    let before = c
        .server
        .read(
            &praetor_server::acl::Token::anonymous(),
            &get("blocking/k"),
            opts(0, Consistency::Default),
        )
        .await
        .unwrap();
    let waiter = {
        let c = c.server.clone();
        let q = get("blocking/k");
        tokio::spawn(async move {
            c.read(
                &praetor_server::acl::Token::anonymous(),
                &q,
                opts(before.index, Consistency::Default),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !waiter.is_finished(),
        "the blocking query returned before its key changed"
    );
    b.server.write(set("elsewhere", "1")).await.unwrap();
    let (written, _) = b.server.write(set("blocking/k", "v")).await.unwrap();
    let woke = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(woke.index, written, "woke on its own key's write: {woke:?}");
    // X-Consul-LastContact: 0 on the leader, the time since the last
    // heartbeat on a follower (heartbeats every 100 ms here).
    assert_eq!(
        a.server
            .read_access(Consistency::Stale)
            .await
            .unwrap()
            .last_contact_ms,
        0
    );
    let contact = c
        .server
        .read_access(Consistency::Stale)
        .await
        .unwrap()
        .last_contact_ms;
    assert!(
        contact < 2_000,
        "a follower heard from the leader {contact} ms ago"
    );
    let status = c.server.status();
    assert_eq!(status.members.iter().filter(|m| m.voter).count(), 3);
    assert_eq!(status.leader_addr(), Some(a.addr.as_str()));

    // The leader goes away: the other two elect a new one and keep writing.
    a.stop.cancel();
    a.server.shutdown().await;
    let (b2, c2) = (b.server.clone(), c.server.clone());
    wait_until("a new leader", move || b2.is_leader() || c2.is_leader()).await;
    let (_, resp) = c.server.write(set("after/failover", "1")).await.unwrap();
    assert!(resp.ok());
    let b2 = b.server.clone();
    wait_until("the post-failover write on b", move || {
        value(&b2, "after/failover").is_some()
    })
    .await;

    // Removing a server leaves a working two-server configuration.
    let leader = if b.server.is_leader() { &b } else { &c };
    leader.server.remove_voter(1).await.unwrap();
    assert_eq!(leader.server.voters().len(), 2);
    for n in [b, c] {
        n.stop.cancel();
        n.server.shutdown().await;
    }
}

/// Stops a node's RPC listener and its Raft: to the others it is gone.
async fn kill(n: &Node) {
    n.stop.cancel();
    n.server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_loses_its_quorum_reports_unknown_outcomes_then_steps_back() {
    let wait = Duration::from_millis(1500);
    let a = node_waiting(1, true, wait).await;
    wait_until("a leader", || a.server.is_leader()).await;
    let b = node_waiting(2, false, wait).await;
    let c = node_waiting(3, false, wait).await;
    a.server.add_voter(2, &b.addr).await.unwrap();
    a.server.add_voter(3, &c.addr).await.unwrap();
    a.server.write(set("k", "before")).await.unwrap();
    assert!(a.server.read_meta().known_leader);

    // A default-consistency blocking query waits on the leader.
    let index = a.server.shared().read().store.last_index();
    let blocked = {
        let s = a.server.clone();
        tokio::spawn(async move {
            let opts = QueryOpts {
                index,
                wait: Duration::from_secs(60),
                consistency: Consistency::Default,
            };
            s.read(
                &praetor_server::acl::Token::anonymous(),
                &KvGet { key: "k".into() },
                opts,
            )
            .await
        })
    };
    let s = a.server.clone();
    wait_until("the blocking query to wait on the leader", move || {
        s.open_blocking_queries() == 1
    })
    .await;

    // Both followers vanish; the leader's lease still holds for a moment,
    // so the write is proposed, and it can never commit.
    kill(&b).await;
    kill(&c).await;
    let r = a.server.write(set("k", "proposed")).await;
    match &r {
        Err(e @ praetor_server::ServerError::OutcomeUnknown(_)) => {
            assert!(
                e.to_string().contains("may or may not have been applied"),
                "{e}"
            );
        }
        other => panic!("a proposed write that never commits must be outcome-unknown: {other:?}"),
    }

    // Past the lease the leader no longer claims to lead: it names no
    // leader, serves no default read, and proposes nothing (so a refused
    // write is a plain "No cluster leader", safe to retry).
    let s = a.server.clone();
    wait_until("the cut-off leader to stop naming itself", move || {
        s.leader().is_none()
    })
    .await;
    assert!(!a.server.is_leader());
    assert!(a.server.status().leader.is_none());
    let meta = a.server.read_meta();
    assert!(!meta.known_leader, "{meta:?}");
    assert!(meta.last_contact_ms >= 500, "{meta:?}");
    let read = a.server.read_access(Consistency::Default).await;
    assert!(
        matches!(read, Err(praetor_server::ServerError::NoLeader)),
        "{read:?}"
    );
    let r = a.server.write(set("k", "refused")).await;
    assert!(
        matches!(r, Err(praetor_server::ServerError::NoLeader)),
        "{r:?}"
    );
    // The blocking query did not sit out its 60 s on the deposed leader's
    // frozen store: it ended with the lease and found no leader to go to.
    let ended = tokio::time::timeout(Duration::from_secs(10), blocked)
        .await
        .expect("a blocking query on a deposed leader ends")
        .unwrap();
    assert!(
        matches!(ended, Err(praetor_server::ServerError::NoLeader)),
        "{ended:?}"
    );
    kill(&a).await;
}

/// A write one server forwards to another (`Request::Propose`) is proposed
/// only by the server it reaches: a follower answers `NotLeader` with the
/// leader it knows, proposes nothing and does not forward it on, so a
/// write crosses at most one hop between servers. The leader proposes it;
/// a client agent's `Request::Write` to a follower is still forwarded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_write_that_reaches_a_follower_is_refused_not_forwarded_again() {
    use praetor_server::acl::Token;
    use praetor_server::rpc::{Reply, Request, RpcClient, WireError};

    let a = node(1, true).await;
    wait_until("a leader", || a.server.is_leader()).await;
    let b = node(2, false).await;
    a.server.add_voter(2, &b.addr).await.unwrap();
    let b2 = b.server.clone();
    wait_until("the follower to know its leader", move || {
        b2.leader() == Some(1)
    })
    .await;
    let to_a = RpcClient::new(a.addr.parse().unwrap());
    let to_b = RpcClient::new(b.addr.parse().unwrap());
    async fn call(client: &RpcClient, req: Request) -> Reply {
        client.call(req, Duration::from_secs(10)).await.unwrap()
    }

    // Forwarded to a follower: refused with the leader's id.
    let reply = call(
        &to_b,
        Request::Propose(set("hop/follower", "x"), Token::anonymous()),
    )
    .await;
    assert!(
        matches!(reply, Reply::Write(Err(WireError::NotLeader(Some(1))))),
        "a follower answered a forwarded write with {reply:?}"
    );
    // Nothing was proposed: a later write reaches both, the refused one neither.
    let (marker, _) = a.server.write(set("marker", "1")).await.unwrap();
    let b2 = b.server.clone();
    wait_until("the marker on the follower", move || {
        b2.shared().read().store.last_index() >= marker
    })
    .await;
    for s in [&a.server, &b.server] {
        assert_eq!(
            value(s, "hop/follower"),
            None,
            "the refused write was applied"
        );
    }

    // Forwarded to the leader: proposed there.
    let reply = call(
        &to_a,
        Request::Propose(set("hop/leader", "x"), Token::anonymous()),
    )
    .await;
    assert!(
        matches!(&reply, Reply::Write(Ok((_, r))) if r.ok()),
        "the leader answered a forwarded write with {reply:?}"
    );
    assert_eq!(value(&a.server, "hop/leader").as_deref(), Some(&b"x"[..]));

    // A client agent's write to the follower: forwarded once, applied.
    let reply = call(
        &to_b,
        Request::Write(set("from/client", "y"), Token::anonymous()),
    )
    .await;
    assert!(
        matches!(&reply, Reply::Write(Ok((_, r))) if r.ok()),
        "a follower answered a client agent's write with {reply:?}"
    );
    assert_eq!(value(&a.server, "from/client").as_deref(), Some(&b"y"[..]));

    for n in [b, a] {
        kill(&n).await;
    }
}

/// A write forwarded as `Request::Propose` is checked on the leader
/// against the token it carries, as a direct write is: the anonymous
/// token (no policy, default deny) is refused and nothing is written; a
/// management token's write is proposed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forwarded_write_is_checked_against_its_token_on_the_leader() {
    use praetor_server::acl::Token;
    use praetor_server::rpc::{Reply, Request, RpcClient, WireError};

    let started = acl_setup::start().await;
    let server = started.server.clone();
    let s = server.clone();
    wait_until("a leader", move || s.is_leader()).await;
    acl_setup::init(&server).await;
    acl_setup::management_token(
        &server,
        "6a1253d2-1785-24fd-91c2-f8e78c745512",
        "root-secret",
        None,
    )
    .await;

    let rpc = RpcClient::new(started.addr.parse().unwrap());
    let reply = rpc
        .call(
            Request::Propose(set("p/anonymous", "x"), Token::anonymous()),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(
        matches!(reply, Reply::Write(Err(WireError::Acl(_)))),
        "the anonymous token's forwarded write was answered {reply:?}"
    );
    assert_eq!(value(&server, "p/anonymous"), None);

    let reply = rpc
        .call(
            Request::Propose(set("p/root", "x"), Token::new("root-secret")),
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    assert!(
        matches!(&reply, Reply::Write(Ok((_, r))) if r.ok()),
        "the management token's forwarded write was answered {reply:?}"
    );
    assert_eq!(value(&server, "p/root").as_deref(), Some(&b"x"[..]));
    started.stop.cancel();
}

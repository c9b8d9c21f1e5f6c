//! Graceful leave and force-leave.

use std::time::Duration;

use praetor_gossip::{GossipError, MemberEvent, MemberStatus, Role};
use tracing::info;

use crate::support::{everyone_sees, init_tracing, shutdown, tags, wait_for, Node, WAIT};

async fn three(net: u8) -> (Node, Node, Node) {
    let a = Node::start(net, 1, tags("n1", Role::Server, "0.1.0"), |_| {}).await;
    let b = Node::start(net, 2, tags("n2", Role::Client, "0.1.0"), |_| {}).await;
    let c = Node::start(net, 3, tags("n3", Role::Client, "0.1.0"), |_| {}).await;
    for node in [&b, &c] {
        node.gossip.join(&[a.addr.to_string()]).await.unwrap();
    }
    for name in ["n1", "n2", "n3"] {
        wait_for("all three alive everywhere", WAIT, || {
            everyone_sees(&[&a, &b, &c], name, MemberStatus::Alive)
        })
        .await;
    }
    (a, b, c)
}

#[tokio::test]
async fn a_member_that_leaves_is_left_not_failed() {
    init_tracing();
    let (a, b, c) = three(20).await;
    let mut events = a.gossip.subscribe();

    info!("--- n3 leaves gracefully");
    tokio::time::timeout(WAIT, c.gossip.leave(Duration::from_secs(5)))
        .await
        .expect("leave is bounded by its timeout")
        .unwrap();
    assert_eq!(c.gossip.local().status, MemberStatus::Left);
    wait_for("n3 left on n1 and n2", WAIT, || {
        everyone_sees(&[&a, &b], "n3", MemberStatus::Left)
    })
    .await;

    info!("--- it stays left once its tasks stop");
    c.kill().await;
    // Longer than failure detection takes: a dead left member is still left.
    let settle = tokio::time::Instant::now() + Duration::from_secs(6);
    wait_for("n3 to stay left", WAIT, || {
        everyone_sees(&[&a, &b], "n3", MemberStatus::Left)?;
        if tokio::time::Instant::now() < settle {
            Err("still watching".into())
        } else {
            Ok(())
        }
    })
    .await;
    while let Ok(event) = events.try_recv() {
        assert!(
            !matches!(event, MemberEvent::Fail(ref m) if m.name == "n3"),
            "n3 was reported failed: {event:?}"
        );
    }
    assert!(matches!(
        c.gossip.join(&[a.addr.to_string()]).await,
        Err(GossipError::Left | GossipError::Stopped)
    ));
    shutdown(&[&a, &b]).await;
}

#[tokio::test]
async fn force_leave_moves_a_failed_member_to_left() {
    init_tracing();
    let (a, b, c) = three(21).await;
    assert!(matches!(
        a.gossip.force_leave("nobody", false).await,
        Err(GossipError::UnknownMember { .. })
    ));

    info!("--- n3 crashes, then n1 forces it out");
    c.kill().await;
    wait_for("n3 failed", WAIT, || {
        everyone_sees(&[&a, &b], "n3", MemberStatus::Failed)
    })
    .await;
    a.gossip.force_leave("n3", false).await.unwrap();
    assert_eq!(a.status_of("n3"), Some(MemberStatus::Left));
    wait_for("n3 left on n2 too", WAIT, || {
        everyone_sees(&[&b], "n3", MemberStatus::Left)
    })
    .await;
    a.gossip
        .force_leave("n3", false)
        .await
        .expect("forcing a left member again is fine");
    shutdown(&[&a, &b]).await;
}

#[tokio::test]
async fn force_leave_of_an_alive_member_makes_it_leaving_until_it_refutes() {
    init_tracing();
    let (a, b, c) = three(22).await;
    let mut events = a.gossip.subscribe();

    info!("--- n1 forces alive n2 to leave: leaving, as in Serf");
    a.gossip.force_leave("n2", false).await.unwrap();
    let leaving = tokio::time::timeout(WAIT, async {
        loop {
            match events.recv().await {
                Ok(MemberEvent::Update(m)) if m.name == "n2" => break m.status,
                Ok(_) => {}
                Err(e) => panic!("events ended: {e}"),
            }
        }
    })
    .await
    .expect("an update for n2");
    assert_eq!(leaving, MemberStatus::Leaving);

    info!("--- n2 is alive and says so: alive again everywhere");
    wait_for("n2 alive again", WAIT, || {
        everyone_sees(&[&a, &b, &c], "n2", MemberStatus::Alive)
    })
    .await;
    shutdown(&[&a, &b, &c]).await;
}

#[tokio::test]
async fn force_leave_with_prune_forgets_a_failed_member_everywhere() {
    init_tracing();
    let (a, b, c) = three(23).await;

    info!("--- n3 crashes; n1 prunes it");
    c.kill().await;
    wait_for("n3 failed", WAIT, || {
        everyone_sees(&[&a, &b], "n3", MemberStatus::Failed)
    })
    .await;
    a.gossip.force_leave("n3", true).await.unwrap();
    assert_eq!(a.status_of("n3"), None, "pruned at once where it was asked");
    wait_for("n3 gone from n2's list", WAIT, || match b.status_of("n3") {
        None => Ok(()),
        Some(s) => Err(format!("n2 still lists n3 as {s}")),
    })
    .await;

    info!("--- an alive member is not pruned");
    a.gossip.force_leave("n2", true).await.unwrap();
    wait_for("n2 alive", WAIT, || {
        everyone_sees(&[&a, &b], "n2", MemberStatus::Alive)
    })
    .await;
    shutdown(&[&a, &b]).await;
}

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
        a.gossip.force_leave("nobody").await,
        Err(GossipError::UnknownMember { .. })
    ));
    assert!(matches!(
        a.gossip.force_leave("n2").await,
        Err(GossipError::NotFailed {
            status: MemberStatus::Alive,
            ..
        })
    ));

    info!("--- n3 crashes, then n1 forces it out");
    c.kill().await;
    wait_for("n3 failed", WAIT, || {
        everyone_sees(&[&a, &b], "n3", MemberStatus::Failed)
    })
    .await;
    a.gossip.force_leave("n3").await.unwrap();
    assert_eq!(a.status_of("n3"), Some(MemberStatus::Left));
    wait_for("n3 left on n2 too", WAIT, || {
        everyone_sees(&[&b], "n3", MemberStatus::Left)
    })
    .await;
    a.gossip
        .force_leave("n3")
        .await
        .expect("forcing a left member again is fine");
    shutdown(&[&a, &b]).await;
}

//! Members that stop without leaving: failure, reaping, restart.

use std::time::Duration;

use praetor_gossip::{MemberEvent, MemberStatus, Role};
use tracing::info;

use crate::support::{everyone_sees, init_tracing, shutdown, tags, wait_for, Node, WAIT};

async fn three(
    net: u8,
    tune: impl Fn(&mut praetor_gossip::GossipConfig) + Copy,
) -> (Node, Node, Node) {
    let a = Node::start(net, 1, tags("n1", Role::Server, "0.1.0"), tune).await;
    let b = Node::start(net, 2, tags("n2", Role::Server, "0.1.0"), tune).await;
    let c = Node::start(net, 3, tags("n3", Role::Client, "0.1.0"), tune).await;
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
async fn a_stopped_member_is_marked_failed_on_every_other_member() {
    init_tracing();
    let (a, b, c) = three(10, |_| {}).await;
    let mut events = a.gossip.subscribe();

    info!("--- n3 stops without leaving");
    c.kill().await;
    wait_for("n3 failed on n1 and n2", WAIT, || {
        everyone_sees(&[&a, &b], "n3", MemberStatus::Failed)
    })
    .await;
    let failed = a.member("n3").unwrap();
    assert_eq!(
        failed.tags.role,
        Role::Client,
        "a failed member keeps its tags"
    );
    let mut saw_fail = false;
    while let Ok(event) = events.try_recv() {
        saw_fail |= matches!(event, MemberEvent::Fail(ref m) if m.name == "n3");
    }
    assert!(saw_fail, "n1 reported the failure as an event");
    assert_eq!(a.status_of("n2"), Some(MemberStatus::Alive));
    shutdown(&[&a, &b]).await;
}

#[tokio::test]
async fn failed_members_are_reaped_after_the_reconnect_timeout() {
    init_tracing();
    let (a, b, c) = three(11, |cfg| cfg.reconnect_timeout = Duration::from_secs(2)).await;
    let mut events = a.gossip.subscribe();
    c.kill().await;
    wait_for("n3 failed", WAIT, || {
        everyone_sees(&[&a, &b], "n3", MemberStatus::Failed)
    })
    .await;
    info!("--- n3 is listed failed, then forgotten");
    wait_for("n3 reaped on n1 and n2", WAIT, || {
        for node in [&a, &b] {
            if let Some(m) = node.member("n3") {
                return Err(format!("{} still lists n3 as {}", node.name, m.status));
            }
        }
        Ok(())
    })
    .await;
    let mut reaped = false;
    while let Ok(event) = events.try_recv() {
        reaped |= matches!(event, MemberEvent::Reap(ref m) if m.name == "n3" && m.status == MemberStatus::Failed);
    }
    assert!(reaped, "n1 reported the reap as an event");
    assert_eq!(a.gossip.members().len(), 2);
    shutdown(&[&a, &b]).await;
}

#[tokio::test]
async fn a_restarted_member_is_alive_again_with_its_new_tags() {
    init_tracing();
    let (a, b, c) = three(12, |_| {}).await;
    let first = a.member("n3").unwrap();

    info!("--- n3 crashes and is marked failed");
    c.kill().await;
    wait_for("n3 failed", WAIT, || {
        everyone_sees(&[&a, &b], "n3", MemberStatus::Failed)
    })
    .await;

    info!("--- n3 restarts on the same address with new tags and joins n2");
    let c = Node::start(12, 3, tags("n3", Role::Client, "0.2.0"), |_| {}).await;
    c.gossip.join(&[b.addr.to_string()]).await.unwrap();
    wait_for("n3 alive again with build 0.2.0", WAIT, || {
        for node in [&a, &b] {
            match node.member("n3") {
                Some(m) if m.status == MemberStatus::Alive && m.tags.build == "0.2.0" => {}
                other => return Err(format!("{} sees {other:?}", node.name)),
            }
        }
        Ok(())
    })
    .await;
    assert!(a.member("n3").unwrap().generation > first.generation);
    wait_for("n3 sees everyone", WAIT, || {
        everyone_sees(&[&c], "n1", MemberStatus::Alive)
    })
    .await;
    shutdown(&[&a, &b, &c]).await;
}

#[tokio::test]
async fn a_member_restarted_quickly_at_a_new_address_replaces_its_old_self() {
    init_tracing();
    let (a, b, c) = three(13, |_| {}).await;
    info!("--- n3 stops and comes back at once from another address");
    c.kill().await;
    let moved = Node::start(13, 3, tags("n3", Role::Client, "0.3.0"), |cfg| {
        cfg.bind = ([127, 77, 13, 33], 8301).into();
        cfg.advertise = cfg.bind;
    })
    .await;
    moved.gossip.join(&[a.addr.to_string()]).await.unwrap();
    wait_for("n3 alive at its new address", WAIT, || {
        for node in [&a, &b] {
            match node.member("n3") {
                Some(m)
                    if m.status == MemberStatus::Alive
                        && m.addr == moved.gossip.local().addr
                        && m.tags.build == "0.3.0" => {}
                other => return Err(format!("{} sees {other:?}", node.name)),
            }
        }
        Ok(())
    })
    .await;
    assert_eq!(a.gossip.members().len(), 3, "one member per name");
    shutdown(&[&a, &b, &moved]).await;
}

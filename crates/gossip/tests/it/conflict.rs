//! A second node under a name already in use (another node ID) is refused,
//! and the first keeps its place.

use praetor_gossip::{GossipError, MemberStatus, Role};
use tracing::info;

use crate::support::{everyone_sees, init_tracing, shutdown, tags, wait_for, Node, WAIT};

#[tokio::test]
async fn a_second_node_under_a_name_in_use_is_refused_and_the_first_stays() {
    init_tracing();
    let a = Node::start(24, 1, tags("n1", Role::Server, "0.1.0"), |_| {}).await;
    let b = Node::start(24, 2, tags("n2", Role::Client, "0.1.0"), |_| {}).await;
    b.gossip.join(&[a.addr.to_string()]).await.unwrap();
    for name in ["n1", "n2"] {
        wait_for("n1 and n2 alive on both", WAIT, || {
            everyone_sees(&[&a, &b], name, MemberStatus::Alive)
        })
        .await;
    }

    info!("--- a node with n2's name and another node ID joins through n1, then n2");
    // Named n2, with the node ID `tags` gives n9.
    let dup = Node::start(24, 9, tags("n9", Role::Client, "0.1.0"), |cfg| {
        cfg.node_name = "n2".into();
    })
    .await;
    for target in [&a, &b] {
        let refused = dup.gossip.join(&[target.addr.to_string()]).await;
        let Err(GossipError::Join { failures }) = &refused else {
            panic!("the duplicate joined through {}: {refused:?}", target.name);
        };
        assert!(
            failures[0].reason.contains(&format!(
                "Node name n2 is reserved by node {} with name n2 (127.77.24.2)",
                tags("n2", Role::Client, "0.1.0").node_id
            )),
            "{failures:?}"
        );
    }

    info!("--- n2 is still the n2 everyone lists");
    let listed = a.member("n2").expect("n2 listed on n1");
    assert_eq!(listed.addr, b.addr);
    assert_eq!(listed.status, MemberStatus::Alive);
    assert!(
        dup.gossip.members().iter().all(|m| m.addr == dup.addr),
        "the duplicate learned no member"
    );
    shutdown(&[&a, &b, &dup]).await;
}

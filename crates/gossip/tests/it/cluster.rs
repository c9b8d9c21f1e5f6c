//! Joining, tags and join errors.

use std::time::Duration;

use praetor_gossip::{GossipError, MemberEvent, MemberStatus, Role};
use tracing::info;

use crate::support::{describe, init_tracing, shutdown, tags, wait_for, Node, WAIT};

#[tokio::test]
async fn members_joining_through_one_seed_see_each_other_with_their_tags() {
    init_tracing();
    info!("--- start a seed server and three more members");
    let seed = Node::start(1, 1, tags("n1", Role::Server, "0.1.0"), |_| {}).await;
    let mut events = seed.gossip.subscribe();
    let mut list = seed.gossip.watch();
    let first_version = list.borrow_and_update().version;
    let mut nodes = vec![seed];
    for host in 2..=5 {
        let role = if host == 2 {
            Role::Server
        } else {
            Role::Client
        };
        nodes.push(Node::start(1, host, tags(&format!("n{host}"), role, "0.1.0"), |_| {}).await);
    }

    info!("--- everyone joins through the seed");
    let seed_addr = nodes[0].addr.to_string();
    for node in &nodes[1..] {
        let joined = node
            .gossip
            .join(std::slice::from_ref(&seed_addr))
            .await
            .unwrap();
        assert_eq!(joined, 1);
    }

    info!("--- every member sees all five alive, with the tags each announced");
    let expected: Vec<_> = nodes
        .iter()
        .map(|n| (n.name.clone(), n.addr, n.gossip.local().tags))
        .collect();
    wait_for("every member to see every other alive", WAIT, || {
        for node in &nodes {
            let members = node.gossip.members();
            let alive: Vec<_> = members
                .iter()
                .filter(|m| m.status == MemberStatus::Alive)
                .map(|m| (m.name.clone(), m.addr, m.tags.clone()))
                .collect();
            if alive != expected {
                return Err(describe(node));
            }
        }
        Ok(())
    })
    .await;
    assert_eq!(
        nodes[1].member("n1").unwrap().tags.rpc_addr,
        Some(([127, 0, 0, 1], 8300).into())
    );
    assert_eq!(nodes[1].member("n3").unwrap().tags.role, Role::Client);

    info!("--- the seed reported a join event for each");
    let mut joined = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let MemberEvent::Join(m) = event {
            joined.push(m.name);
        }
    }
    joined.sort();
    assert_eq!(joined, ["n2", "n3", "n4", "n5"]);
    assert!(list.has_changed().unwrap());
    let latest = list.borrow_and_update().clone();
    assert!(latest.version > first_version);
    assert_eq!(latest.members.len(), 5);

    let refs: Vec<&Node> = nodes.iter().collect();
    shutdown(&refs).await;
}

#[tokio::test]
async fn new_tags_reach_every_member_without_a_failure() {
    init_tracing();
    let a = Node::start(2, 1, tags("n1", Role::Server, "0.1.0"), |_| {}).await;
    let b = Node::start(2, 2, tags("n2", Role::Client, "0.1.0"), |_| {}).await;
    let c = Node::start(2, 3, tags("n3", Role::Client, "0.1.0"), |_| {}).await;
    for node in [&b, &c] {
        node.gossip.join(&[a.addr.to_string()]).await.unwrap();
    }
    wait_for("all alive", WAIT, || {
        crate::support::everyone_sees(&[&a, &b, &c], "n3", MemberStatus::Alive)
    })
    .await;
    let mut events = b.gossip.subscribe();

    info!("--- n1 announces new tags");
    let mut new_tags = a.gossip.local().tags;
    new_tags.build = "0.2.0".into();
    new_tags.bootstrap_expect = 5;
    a.gossip.set_tags(new_tags.clone());
    wait_for("the new tags everywhere", WAIT, || {
        for node in [&a, &b, &c] {
            let seen = node.member("n1").map(|m| m.tags);
            if seen.as_ref() != Some(&new_tags) {
                return Err(format!("{} sees {seen:?}", node.name));
            }
        }
        Ok(())
    })
    .await;
    while let Ok(event) = events.try_recv() {
        assert!(
            matches!(event, MemberEvent::Update(ref m) if m.name == "n1" && m.status == MemberStatus::Alive),
            "{event:?}"
        );
    }
    shutdown(&[&a, &b, &c]).await;
}

#[tokio::test]
async fn joining_where_nobody_listens_fails_naming_the_address() {
    init_tracing();
    let a = Node::start(3, 1, tags("n1", Role::Client, "0.1.0"), |cfg| {
        cfg.io_timeout = Duration::from_secs(2);
    })
    .await;
    let nobody = "127.77.3.9:8301".to_string();
    let failed = tokio::time::timeout(WAIT, a.gossip.join(std::slice::from_ref(&nobody)))
        .await
        .expect("a join must give up within its timeout");
    let error = failed.unwrap_err();
    assert!(
        matches!(&error, GossipError::Join { failures } if failures.len() == 1 && failures[0].addr == nobody),
        "{error:?}"
    );
    assert!(error.to_string().contains(&nobody), "{error}");

    info!("--- one dead and one live address: the join succeeds with one");
    let b = Node::start(3, 2, tags("n2", Role::Client, "0.1.0"), |_| {}).await;
    // The default port applies to a bare address.
    let joined = a.gossip.join(&[nobody, "127.77.3.2".into()]).await.unwrap();
    assert_eq!(joined, 1);
    assert!(matches!(
        a.gossip.join(&[]).await,
        Err(GossipError::NoJoinAddress)
    ));
    shutdown(&[&a, &b]).await;
}

#[tokio::test]
async fn binding_a_busy_address_fails_naming_it() {
    init_tracing();
    let a = Node::start(4, 1, tags("n1", Role::Client, "0.1.0"), |_| {}).await;
    let cfg = praetor_gossip::GossipConfig::new("other", a.addr, tags("n2", Role::Client, "0.1.0"));
    let error = praetor_gossip::Gossip::start(cfg, tokio_util::sync::CancellationToken::new())
        .await
        .err()
        .expect("the address is taken");
    assert!(matches!(error, GossipError::Bind { addr, .. } if addr == a.addr));
    assert!(error.to_string().contains("127.77.4.1:8301"), "{error}");
    shutdown(&[&a]).await;
}

#[tokio::test]
async fn a_stray_tcp_client_is_turned_away_and_gossip_goes_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    init_tracing();
    let a = Node::start(5, 1, tags("n1", Role::Client, "0.1.0"), |_| {}).await;
    let b = Node::start(5, 2, tags("n2", Role::Client, "0.1.0"), |_| {}).await;
    info!("--- something that is not a member talks to the push/pull port");
    let mut stray = tokio::net::TcpStream::connect(a.addr).await.unwrap();
    stray
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, stray.read_to_end(&mut answer))
        .await
        .expect("the connection is closed, not left hanging");
    assert!(read.is_err() || answer.is_empty(), "answered {answer:?}");

    info!("--- a frame announcing a huge state is refused too");
    let mut huge = tokio::net::TcpStream::connect(a.addr).await.unwrap();
    huge.write_all(b"PRG1\xff\xff\xff\xff").await.unwrap();
    let read = tokio::time::timeout(WAIT, huge.read_to_end(&mut answer))
        .await
        .expect("the connection is closed, not left hanging");
    assert!(read.is_err() || answer.is_empty(), "answered {answer:?}");

    b.gossip.join(&[a.addr.to_string()]).await.unwrap();
    wait_for("n2 alive on n1", WAIT, || {
        crate::support::everyone_sees(&[&a], "n2", MemberStatus::Alive)
    })
    .await;
    shutdown(&[&a, &b]).await;
}

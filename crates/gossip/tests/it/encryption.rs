//! Gossip encryption: who can join, what is dropped, rolling enablement, and
//! a key rotation across a running pool.

use std::path::Path;
use std::time::Duration;

use praetor_gossip::{
    setup_keyring, EncryptionConfig, GossipError, KeyOp, Keyring, MemberEvent, MemberStatus, Role,
};
use tokio::sync::broadcast;
use tracing::info;

use crate::support::{describe, everyone_sees, init_tracing, shutdown, tags, wait_for, Node, WAIT};

const K1: &str = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";
const K2: &str = "5Cm8A0jZoaFXX3GWyvD47g==";
const OTHER: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn encrypted(keys: &[&str]) -> EncryptionConfig {
    EncryptionConfig::new(Keyring::new(keys).unwrap())
}

async fn start(net: u8, host: u8, enc: Option<EncryptionConfig>) -> Node {
    Node::start(
        net,
        host,
        tags(&format!("n{host}"), Role::Client, "0.1.0"),
        |cfg| {
            cfg.encryption = enc;
        },
    )
    .await
}

async fn join(node: &Node, seed: &Node) -> Result<usize, GossipError> {
    node.gossip.join(&[seed.addr.to_string()]).await
}

fn names(node: &Node) -> Vec<String> {
    node.gossip.members().into_iter().map(|m| m.name).collect()
}

/// Every event `rx` holds, without waiting.
fn drain(rx: &mut broadcast::Receiver<MemberEvent>) -> Vec<MemberEvent> {
    let mut events = Vec::new();
    while let Ok(event) = rx.try_recv() {
        events.push(event);
    }
    events
}

#[tokio::test]
async fn members_sharing_a_key_see_each_other_and_one_with_another_key_is_kept_out() {
    init_tracing();
    info!("--- three members with one key join through the first");
    let a = start(40, 1, Some(encrypted(&[K1]))).await;
    let b = start(40, 2, Some(encrypted(&[K1]))).await;
    let c = start(40, 3, Some(encrypted(&[K1]))).await;
    let mut events = a.gossip.subscribe();
    join(&b, &a).await.unwrap();
    join(&c, &a).await.unwrap();
    let pool = [&a, &b, &c];
    wait_for("every member to see the other two alive", WAIT, || {
        for name in ["n1", "n2", "n3"] {
            everyone_sees(&pool, name, MemberStatus::Alive)?;
        }
        Ok(())
    })
    .await;
    assert!(a.gossip.encrypted());

    info!("--- a member with another key cannot join, and says why");
    let intruder = start(40, 4, Some(encrypted(&[OTHER]))).await;
    let err = join(&intruder, &a).await.unwrap_err().to_string();
    assert!(err.contains("encryption"), "{err}");
    assert!(err.contains("No installed keys could decrypt"), "{err}");

    info!("--- nor can a plain-text member");
    let plain = start(40, 5, None).await;
    let err = join(&plain, &a).await.unwrap_err().to_string();
    assert!(err.contains("encryption"), "{err}");

    info!("--- nor can one with a key join a plain-text member");
    let err = join(&intruder, &plain).await.unwrap_err().to_string();
    assert!(err.contains("encryption"), "{err}");

    info!("--- the refused exchanges were counted as drops");
    wait_for("the seed to count the refused exchanges", WAIT, || {
        if a.gossip.undecryptable() >= 2 {
            Ok(())
        } else {
            Err(format!("{} drops", a.gossip.undecryptable()))
        }
    })
    .await;

    info!("--- neither is ever listed");
    for node in &pool {
        assert_eq!(names(node), ["n1", "n2", "n3"], "{}", describe(node));
    }
    assert_eq!(names(&intruder), ["n4"]);
    for event in drain(&mut events) {
        let name = &event.member().name;
        assert!(name == "n2" || name == "n3", "unexpected event {event:?}");
    }

    shutdown(&[&a, &b, &c, &intruder, &plain]).await;
}

#[tokio::test]
async fn plain_text_and_garbage_packets_change_nothing() {
    init_tracing();
    info!("--- a plain-text pair gossips, then its second member dies");
    let p = start(41, 1, None).await;
    let q = start(41, 2, None).await;
    join(&q, &p).await.unwrap();
    wait_for("the plain pair to see each other", WAIT, || {
        everyone_sees(&[&p, &q], "n2", MemberStatus::Alive)?;
        everyone_sees(&[&p, &q], "n1", MemberStatus::Alive)
    })
    .await;
    let q_addr = q.addr;
    q.kill().await;

    info!("--- an encrypted pair takes over the dead member's address");
    let e = Node::start(41, 3, tags("n3", Role::Client, "0.1.0"), |cfg| {
        cfg.bind = q_addr;
        cfg.advertise = q_addr;
        cfg.encryption = Some(encrypted(&[K1]));
    })
    .await;
    let f = start(41, 4, Some(encrypted(&[K1]))).await;
    let mut events = e.gossip.subscribe();
    f.gossip.join(&[q_addr.to_string()]).await.unwrap();
    wait_for("the encrypted pair to see each other", WAIT, || {
        everyone_sees(&[&e, &f], "n3", MemberStatus::Alive)?;
        everyone_sees(&[&e, &f], "n4", MemberStatus::Alive)
    })
    .await;

    info!("--- the plain member's real foca packets reach it and are dropped");
    wait_for("the plain member's packets to be dropped", WAIT, || {
        let dropped = e.gossip.undecryptable();
        if dropped >= 2 {
            Ok(())
        } else {
            Err(format!("{dropped} dropped"))
        }
    })
    .await;

    info!("--- garbage and forged sealed packets are dropped too");
    let before = e.gossip.undecryptable();
    let raw = tokio::net::UdpSocket::bind("127.77.41.9:0").await.unwrap();
    let mut forged = vec![1u8];
    forged.extend_from_slice(&[0x5a; 80]);
    for packet in [&b"garbage"[..], &forged[..], &[1u8; 5][..], &[][..]] {
        raw.send_to(packet, q_addr).await.unwrap();
    }
    wait_for("the four packets to be dropped", WAIT, || {
        let dropped = e.gossip.undecryptable() - before;
        if dropped >= 4 {
            Ok(())
        } else {
            Err(format!("{dropped} of 4 dropped"))
        }
    })
    .await;

    info!("--- the encrypted pair never listed the plain member");
    for node in [&e, &f] {
        assert_eq!(names(node), ["n3", "n4"], "{}", describe(node));
    }
    for event in drain(&mut events) {
        assert_eq!(event.member().name, "n4", "unexpected event {event:?}");
    }
    shutdown(&[&p, &e, &f]).await;
}

#[tokio::test]
async fn with_verify_incoming_off_plain_text_members_are_accepted() {
    init_tracing();
    info!("--- a member turning encryption on (both checks off) and a plain one");
    let mut rolling = encrypted(&[K1]);
    rolling.verify_incoming = false;
    rolling.verify_outgoing = false;
    let a = start(42, 1, Some(rolling)).await;
    let plain = start(42, 2, None).await;
    join(&plain, &a).await.unwrap();

    info!("--- a member that already sends encrypted but still accepts plain text");
    let mut half = encrypted(&[K1]);
    half.verify_incoming = false;
    let c = start(42, 3, Some(half)).await;
    join(&c, &a).await.unwrap();
    wait_for(
        "the rolling member and the others to see each other",
        WAIT,
        || {
            everyone_sees(&[&a, &plain], "n1", MemberStatus::Alive)?;
            everyone_sees(&[&a, &plain], "n2", MemberStatus::Alive)?;
            everyone_sees(&[&a, &c], "n3", MemberStatus::Alive)
        },
    )
    .await;
    assert_eq!(a.gossip.undecryptable(), 0);

    info!("--- a strict member refuses the plain one");
    let strict = start(42, 4, Some(encrypted(&[K1]))).await;
    let err = join(&plain, &strict).await.unwrap_err().to_string();
    assert!(err.contains("encrypt_verify_incoming"), "{err}");

    shutdown(&[&a, &plain, &c, &strict]).await;
}

fn keyring_file(dir: &Path, node: &str) -> std::path::PathBuf {
    dir.join(node).join(praetor_gossip::KEYRING_FILE)
}

fn file_keys(path: &Path) -> Vec<String> {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test]
async fn a_key_rotation_across_three_running_members_fails_no_one_and_is_persisted() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    info!("--- three members start from encrypt = K1, each with a keyring file");
    let mut nodes = Vec::new();
    for host in 1..=3u8 {
        let file = keyring_file(dir.path(), &format!("n{host}"));
        let setup = setup_keyring(Some(K1), Some(&file)).unwrap();
        let mut enc = EncryptionConfig::new(setup.keyring.unwrap());
        enc.keyring_file = setup.file;
        nodes.push(start(43, host, Some(enc)).await);
    }
    join(&nodes[1], &nodes[0]).await.unwrap();
    join(&nodes[2], &nodes[0]).await.unwrap();
    let refs: Vec<&Node> = nodes.iter().collect();
    wait_for("every member to see the others alive", WAIT, || {
        for name in ["n1", "n2", "n3"] {
            everyone_sees(&refs, name, MemberStatus::Alive)?;
        }
        Ok(())
    })
    .await;
    let mut events: Vec<_> = nodes.iter().map(|n| n.gossip.subscribe()).collect();
    let op_timeout = Duration::from_secs(5);

    info!("--- refusals change nothing anywhere");
    let err = nodes[0]
        .gossip
        .key_operation(KeyOp::Use(K2.into()), op_timeout)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Requested key is not in the keyring");
    let err = nodes[0]
        .gossip
        .key_operation(KeyOp::Remove(K1.into()), op_timeout)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Removing the primary key is not allowed");
    let err = nodes[0]
        .gossip
        .key_operation(KeyOp::Install("c2hvcnQ=".into()), op_timeout)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("16, 24 or 32 bytes"), "{err}");

    info!("--- list: one key on three members");
    let list = nodes[0]
        .gossip
        .key_operation(KeyOp::List, op_timeout)
        .await
        .unwrap();
    assert_eq!((list.num_nodes, list.num_resp, list.num_err), (3, 3, 0));
    assert_eq!(list.keys.get(K1), Some(&3));
    assert_eq!(list.primary_keys.get(K1), Some(&3));
    assert_eq!(list.error(), None);

    info!("--- install K2 from n1");
    let installed = nodes[0]
        .gossip
        .key_operation(KeyOp::Install(K2.into()), op_timeout)
        .await
        .unwrap();
    assert_eq!(installed.error(), None, "{installed:?}");
    assert_eq!(installed.keys.get(K2), Some(&3));
    assert_eq!(installed.primary_keys.get(K1), Some(&3));
    for (i, node) in nodes.iter().enumerate() {
        let path = keyring_file(dir.path(), &format!("n{}", i + 1));
        assert_eq!(file_keys(&path), [K1, K2]);
        assert_eq!(node.gossip.keyring().unwrap().keys(), [K1, K2]);
    }

    info!("--- use K2 from n2");
    let used = nodes[1]
        .gossip
        .key_operation(KeyOp::Use(K2.into()), op_timeout)
        .await
        .unwrap();
    assert_eq!(used.error(), None, "{used:?}");
    assert_eq!(used.primary_keys.get(K2), Some(&3));

    info!("--- remove K1 from n3");
    let removed = nodes[2]
        .gossip
        .key_operation(KeyOp::Remove(K1.into()), op_timeout)
        .await
        .unwrap();
    assert_eq!(removed.error(), None, "{removed:?}");
    assert_eq!(removed.keys.len(), 1);
    assert_eq!(removed.keys.get(K2), Some(&3));
    for i in 1..=3 {
        let path = keyring_file(dir.path(), &format!("n{i}"));
        assert_eq!(file_keys(&path), [K2]);
    }
    for node in &nodes {
        assert_eq!(node.gossip.undecryptable(), 0, "{}", node.name);
    }

    info!("--- a newcomer with K2 only joins; one with K1 only is refused");
    let newcomer = start(43, 4, Some(encrypted(&[K2]))).await;
    join(&newcomer, &nodes[2]).await.unwrap();
    let mut all: Vec<&Node> = nodes.iter().collect();
    all.push(&newcomer);
    wait_for("everyone to see the newcomer alive", WAIT, || {
        everyone_sees(&all, "n4", MemberStatus::Alive)
    })
    .await;
    let stale = start(43, 5, Some(encrypted(&[K1]))).await;
    let err = join(&stale, &nodes[0]).await.unwrap_err().to_string();
    assert!(err.contains("encryption"), "{err}");

    info!("--- through a full suspicion period after the rotation, no member fails");
    let quiet = tokio::time::timeout(Duration::from_secs(6), async {
        loop {
            for rx in &mut events {
                for event in drain(rx) {
                    if matches!(event, MemberEvent::Fail(_) | MemberEvent::Leave(_)) {
                        return event;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert!(quiet.is_err(), "a member was marked down: {quiet:?}");
    for node in &nodes {
        for name in ["n1", "n2", "n3", "n4"] {
            assert_eq!(
                node.status_of(name),
                Some(MemberStatus::Alive),
                "{}",
                describe(node)
            );
        }
    }

    info!("--- n1 restarts from its keyring file; the file wins over encrypt = K1");
    nodes[0].kill().await;
    let file = keyring_file(dir.path(), "n1");
    let setup = setup_keyring(Some(K1), Some(&file)).unwrap();
    assert!(setup.warning.is_some());
    let ring = setup.keyring.unwrap();
    assert_eq!(ring.keys(), [K2]);
    let mut enc = EncryptionConfig::new(ring);
    enc.keyring_file = setup.file;
    let restarted = start(43, 1, Some(enc)).await;
    join(&restarted, &nodes[1]).await.unwrap();
    let back = [&restarted, &nodes[1], &nodes[2]];
    wait_for("the restarted member to be alive everywhere", WAIT, || {
        everyone_sees(&back, "n1", MemberStatus::Alive)
    })
    .await;

    shutdown(&[&restarted, &nodes[1], &nodes[2], &newcomer, &stale]).await;
}

#[tokio::test]
async fn keyring_operations_without_encryption_are_refused_with_serfs_wording() {
    init_tracing();
    let a = start(44, 1, None).await;
    let timeout = Duration::from_secs(2);
    let err = a
        .gossip
        .key_operation(KeyOp::List, timeout)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Keyring is empty (encryption not enabled)");
    let err = a
        .gossip
        .key_operation(KeyOp::Install(K2.into()), timeout)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "No keyring to modify (encryption not enabled)"
    );
    assert!(a.gossip.keyring().is_none());
    shutdown(&[&a]).await;
}

#[tokio::test]
async fn a_member_that_refuses_an_operation_is_counted_and_named() {
    init_tracing();
    info!("--- n1 and n2 seal with K1, n3 with K2; all three hold both keys");
    let a = start(45, 1, Some(encrypted(&[K1, K2]))).await;
    let b = start(45, 2, Some(encrypted(&[K1, K2]))).await;
    let c = start(45, 3, Some(encrypted(&[K2, K1]))).await;
    join(&b, &a).await.unwrap();
    join(&c, &a).await.unwrap();
    let pool = [&a, &b, &c];
    wait_for("every member to see the others alive", WAIT, || {
        for name in ["n1", "n2", "n3"] {
            everyone_sees(&pool, name, MemberStatus::Alive)?;
        }
        Ok(())
    })
    .await;
    let list = a
        .gossip
        .key_operation(KeyOp::List, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(list.primary_keys.get(K1), Some(&2));
    assert_eq!(list.primary_keys.get(K2), Some(&1));

    info!("--- removing K2 from n1: n3, whose primary it is, refuses");
    let removed = a
        .gossip
        .key_operation(KeyOp::Remove(K2.into()), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        (removed.num_nodes, removed.num_resp, removed.num_err),
        (3, 3, 1)
    );
    assert_eq!(
        removed.messages.get("n3").map(String::as_str),
        Some("Removing the primary key is not allowed")
    );
    assert_eq!(removed.error().unwrap(), "1/3 nodes reported failure");
    assert_eq!(c.gossip.keyring().unwrap().keys(), [K2, K1]);
    assert_eq!(b.gossip.keyring().unwrap().keys(), [K1]);

    shutdown(&[&a, &b, &c]).await;
}

//! Network coordinates from gossip: members measure round trips to each
//! other and learn each other's coordinates, in plain text and encrypted.

use std::time::Duration;

use praetor_gossip::{EncryptionConfig, Keyring, Role};

use crate::support::{init_tracing, shutdown, tags, wait_for, Node, WAIT};

async fn start(net: u8, host: u8, encryption: Option<EncryptionConfig>) -> Node {
    Node::start(
        net,
        host,
        tags(&format!("n{host}"), Role::Client, "0.1.0"),
        |cfg| {
            cfg.probe_interval = Duration::from_millis(200);
            cfg.probe_timeout = Duration::from_millis(100);
            cfg.encryption = encryption;
        },
    )
    .await
}

async fn members_learn_coordinates(net: u8, encryption: Option<EncryptionConfig>) {
    init_tracing();
    let a = start(net, 1, encryption.clone()).await;
    let b = start(net, 2, encryption.clone()).await;
    let c = start(net, 3, encryption).await;
    let initial = a.gossip.coordinate();
    assert_eq!(initial.vec, vec![0.0; 8]);
    assert_eq!(initial.error, 1.5);
    b.gossip.join(&[a.addr.to_string()]).await.unwrap();
    c.gossip.join(&[a.addr.to_string()]).await.unwrap();
    let nodes = [&a, &b, &c];
    wait_for("every member knows the others' coordinates", WAIT, || {
        for node in nodes {
            let peers = node.gossip.peer_coordinates();
            let others: Vec<&str> = nodes
                .iter()
                .map(|n| n.name.as_str())
                .filter(|n| *n != node.name)
                .collect();
            if !others.iter().all(|o| peers.contains_key(*o)) {
                return Err(format!("{} knows {:?}", node.name, peers.keys()));
            }
            // Its own coordinate moved from the origin with the samples.
            let own = node.gossip.coordinate();
            if own.error >= 1.5 {
                return Err(format!("{} has taken no sample yet: {own:?}", node.name));
            }
        }
        Ok(())
    })
    .await;
    // Loopback round trips are well under 100 ms, and the estimate of
    // each pair is symmetric.
    for x in nodes {
        for y in nodes {
            let (cx, cy) = (x.gossip.coordinate(), y.gossip.coordinate());
            let d = cx.distance_seconds(&cy).expect("comparable coordinates");
            assert!(d.is_finite() && d < 0.1, "{} to {}: {d} s", x.name, y.name);
        }
    }
    shutdown(&nodes).await;
}

#[tokio::test]
async fn members_measure_round_trips_and_learn_each_others_coordinates() {
    members_learn_coordinates(60, None).await;
}

#[tokio::test]
async fn coordinate_pings_travel_sealed_under_encryption() {
    let keyring = Keyring::new(&["pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="]).unwrap();
    members_learn_coordinates(61, Some(EncryptionConfig::new(keyring))).await;
}

#[tokio::test]
async fn a_member_with_coordinates_off_sends_no_pings_but_answers_them() {
    init_tracing();
    let a = start(62, 1, None).await;
    let b = Node::start(62, 2, tags("n2", Role::Client, "0.1.0"), |cfg| {
        cfg.probe_interval = Duration::from_millis(200);
        cfg.probe_timeout = Duration::from_millis(100);
        cfg.coordinates = false;
    })
    .await;
    b.gossip.join(&[a.addr.to_string()]).await.unwrap();
    wait_for("a samples b", WAIT, || {
        let own = a.gossip.coordinate();
        if own.error < 1.5 && a.gossip.peer_coordinates().contains_key("n2") {
            Ok(())
        } else {
            Err(format!("{own:?}"))
        }
    })
    .await;
    // b never measured anything: it is still at the origin.
    let own = b.gossip.coordinate();
    assert_eq!(own.error, 1.5, "{own:?}");
    assert_eq!(own.vec, vec![0.0; 8]);
    shutdown(&[&a, &b]).await;
}

/// The test delay of coordinate packets (`coordinate_delay`), set on one
/// member for another datacenter, lengthens the round trips both sides
/// measure to it, and only those: the estimates to the delayed member
/// grow well beyond loopback's, the others stay short.
#[tokio::test]
async fn a_test_delay_to_a_datacenter_lengthens_the_estimates_to_it() {
    init_tracing();
    let delay = Duration::from_millis(100);
    let tune = |far: bool| {
        move |cfg: &mut praetor_gossip::GossipConfig| {
            cfg.probe_interval = Duration::from_millis(200);
            cfg.probe_timeout = Duration::from_millis(100);
            if far {
                cfg.tags.datacenter = "far".into();
                cfg.coordinate_delay = [("dc1".to_owned(), delay)].into();
            }
        }
    };
    let a = Node::start(63, 1, tags("n1", Role::Server, "0.1.0"), tune(false)).await;
    let b = Node::start(63, 2, tags("n2", Role::Server, "0.1.0"), tune(false)).await;
    let far = Node::start(63, 3, tags("n3", Role::Server, "0.1.0"), tune(true)).await;
    b.gossip.join(&[a.addr.to_string()]).await.unwrap();
    far.gossip.join(&[a.addr.to_string()]).await.unwrap();
    let nodes = [&a, &b, &far];
    // Three members find their places slowly when the machine is busy
    // (every probe's round trip is noisier): a longer wait than the others.
    wait_for(
        "the far member looks far, the others near",
        3 * WAIT,
        || {
            let d = |x: &Node, y: &Node| {
                x.gossip
                    .coordinate()
                    .distance_seconds(&y.gossip.coordinate())
                    .unwrap_or(f64::INFINITY)
            };
            let (a_far, b_far, a_b) = (d(&a, &far), d(&b, &far), d(&a, &b));
            // Far: both estimates past half the delay; near: under a third of
            // either (loopback's own round trip is well under a millisecond).
            if a_far > 0.05 && b_far > 0.05 && a_b < a_far.min(b_far) / 3.0 {
                Ok(())
            } else {
                Err(format!("a-far {a_far} s, b-far {b_far} s, a-b {a_b} s"))
            }
        },
    )
    .await;
    shutdown(&nodes).await;
}

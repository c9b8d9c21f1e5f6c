use praetor_store::query::FailoverTarget;

use super::fake::{entry, Fake};
use super::*;

fn query() -> RemoteQuery {
    RemoteQuery {
        service: ServiceQuery {
            service: "web".into(),
            ..Default::default()
        },
        token: Token::anonymous(),
        consistency: Consistency::Default,
    }
}

fn failover(nearest_n: u32, dcs: &[&str], targets: &[&str]) -> Failover {
    Failover {
        nearest_n,
        datacenters: dcs.iter().map(|d| d.to_string()).collect(),
        targets: targets
            .iter()
            .map(|d| FailoverTarget {
                peer: String::new(),
                datacenter: d.to_string(),
            })
            .collect(),
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn nearest_first_then_the_listed_ones_each_once_never_local_or_unknown() {
    let by_rtt = names(&["dc3", "dc2", "dc4", "dc5"]);
    assert_eq!(
        order(
            &failover(2, &["dc5", "dc2", "dc1", "nowhere"], &[]),
            &by_rtt,
            "dc1"
        ),
        names(&["dc3", "dc2", "dc5"])
    );
    assert_eq!(
        order(&failover(0, &["dc4"], &[]), &by_rtt, "dc1"),
        names(&["dc4"])
    );
    assert_eq!(order(&failover(9, &[], &[]), &by_rtt, "dc1"), by_rtt);
    assert_eq!(
        order(
            &failover(0, &[], &["dc5", "dc1", "dc3", "dc5"]),
            &by_rtt,
            "dc1"
        ),
        names(&["dc5", "dc3"]),
        "targets replace both lists"
    );
    assert!(order(&failover(3, &["dc2"], &[]), &[], "dc1").is_empty());
}

#[tokio::test]
async fn the_first_datacenter_with_instances_answers_and_every_one_asked_counts() {
    let fake = Fake::new(&[
        ("dc2", Ok(0)),
        ("dc3", Err("no leader")),
        ("dc4", Ok(2)),
        ("dc5", Ok(1)),
    ]);
    let got = run(&fake, &failover(4, &[], &[]), "dc1", &query())
        .await
        .unwrap();
    assert_eq!(fake.asked(), names(&["dc2", "dc3", "dc4"]));
    assert_eq!(got.datacenter.as_deref(), Some("dc4"));
    assert_eq!(got.failovers, 3);
    assert_eq!(got.nodes, vec![entry("dc4", 0), entry("dc4", 1)]);
}

#[tokio::test]
async fn with_nothing_anywhere_every_datacenter_is_asked_once_and_none_answers() {
    let fake = Fake::new(&[("dc2", Ok(0)), ("dc3", Err("down"))]);
    let got = run(&fake, &failover(1, &["dc3", "dc2"], &[]), "dc1", &query())
        .await
        .unwrap();
    assert_eq!(fake.asked(), names(&["dc2", "dc3"]));
    assert_eq!((got.datacenter, got.failovers), (None, 2));
    assert!(got.nodes.is_empty());
}

#[tokio::test]
async fn a_query_without_failover_asks_nobody_not_even_which_datacenters_exist() {
    let fake = Fake::new(&[("dc2", Ok(1))]).listing_fails();
    let got = run(&fake, &failover(0, &[], &[]), "dc1", &query())
        .await
        .unwrap();
    assert_eq!((got.datacenter, got.failovers), (None, 0));
    assert!(fake.asked().is_empty());
    let err = run(&fake, &failover(1, &[], &[]), "dc1", &query())
        .await
        .expect_err("the list is needed now");
    assert!(err.contains("no server"), "{err}");
}

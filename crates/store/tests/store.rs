//! Store behaviour: commands in, state, indexes and history out.

#[path = "store/clock.rs"]
mod clock;
#[path = "store/coordinates.rs"]
mod coordinates;
#[path = "store/format.rs"]
mod format;
#[path = "store/restore.rs"]
mod restore;
#[path = "store/sessions.rs"]
mod sessions;
#[path = "store/values.rs"]
mod values;

use praetor_store::{Command, HistoryError, Response, Store};
use proptest::prelude::*;

fn set(key: &str, value: &str) -> Command {
    Command::KvSet {
        key: key.into(),
        value: value.as_bytes().to_vec().into(),
        flags: 0,
        cas: None,
    }
}

#[test]
fn apply_sets_indexes_from_the_raft_index() {
    let mut s = Store::default();
    assert_eq!(s.apply(10, &set("a", "1")), Response::Applied(true));
    assert_eq!(s.apply(11, &set("a", "2")), Response::Applied(true));
    let e = s.kv().get("a").unwrap();
    assert_eq!((e.create_index, e.modify_index), (10, 11));
    assert_eq!(s.last_index(), 11);
}

#[test]
fn replayed_index_is_ignored() {
    let mut s = Store::default();
    s.apply(5, &set("a", "1"));
    assert_eq!(s.apply(5, &set("a", "2")), Response::Ignored);
    assert_eq!(&*s.kv().get("a").unwrap().value, b"1");
}

#[test]
fn history_carries_previous_values() {
    let mut s = Store::default();
    s.apply(1, &set("a", "1"));
    s.apply(2, &set("a", "2"));
    s.apply(
        3,
        &Command::KvDelete {
            key: "a".into(),
            cas: None,
        },
    );
    let changes = s.history().since("", 1, 100).unwrap();
    assert_eq!(changes.len(), 3);
    assert!(changes[0].prev.is_none());
    assert_eq!(&*changes[1].prev.as_ref().unwrap().value, b"1");
    assert!(changes[2].entry.is_none());
    assert_eq!(&*changes[2].prev.as_ref().unwrap().value, b"2");
}

#[test]
fn history_past_its_limit_answers_compacted() {
    let mut s = Store::new(3);
    for i in 1..=5 {
        s.apply(i, &set(&format!("k{i}"), "v"));
    }
    assert_eq!(
        s.history().since("", 2, 100),
        Err(HistoryError::Compacted {
            requested: 2,
            oldest: 3
        })
    );
    assert_eq!(s.history().since("", 3, 100).unwrap().len(), 3);
}

#[test]
fn delete_tree_removes_only_the_prefix() {
    let mut s = Store::default();
    s.apply(1, &set("app/a", "1"));
    s.apply(2, &set("app/b/c", "1"));
    s.apply(3, &set("apple", "1"));
    s.apply(
        4,
        &Command::KvDeleteTree {
            prefix: "app/".into(),
        },
    );
    assert_eq!(s.kv().keys("", None), vec!["apple"]);
    assert_eq!(s.kv().prefix_index("app/"), 4);
    assert_eq!(s.kv().prefix_index("apple"), 3);
}

#[test]
fn snapshot_round_trip_keeps_state_and_history() {
    let mut s = Store::new(10);
    s.apply(1, &set("a", "1"));
    s.apply(2, &set("b", "2"));
    s.apply(
        3,
        &Command::KvDelete {
            key: "a".into(),
            cas: None,
        },
    );
    let bytes = s.encode_snapshot().unwrap();
    let r = Store::decode_snapshot(&bytes).unwrap();
    assert_eq!(r.last_index(), 3);
    assert_eq!(r.kv().keys("", None), vec!["b"]);
    assert_eq!(r.kv().key_index("a"), 3);
    assert_eq!(r.history().since("", 1, 10).unwrap().len(), 3);
}

#[test]
fn restore_replaces_the_tables_keeps_the_clock_and_restarts_the_history() {
    let mut old = Store::new(10);
    old.apply(1, &set("keep", "old"));
    old.apply(2, &set("gone-later", "x"));
    let saved = old.encode_state().unwrap();
    assert!(Store::decode_snapshot(&saved).unwrap().history().is_empty());

    let mut s = Store::new(10);
    for (i, k) in ["a", "b", "keep"].iter().enumerate() {
        s.apply(i as u64 + 1, &set(k, "new"));
    }
    s.apply(10, &set("keep", "newer"));
    assert!(s.apply(11, &Command::Restore(saved)).ok());
    assert_eq!(s.last_index(), 11, "the Raft index keeps growing");
    assert_eq!(s.restored_at(), 11);
    assert_eq!(s.kv().keys("", None), vec!["gone-later", "keep"]);
    let keep = s.kv().get("keep").unwrap();
    assert_eq!(
        (&*keep.value, keep.modify_index),
        (&b"old"[..], 1),
        "entries keep their saved indexes"
    );
    assert!(
        s.history().since("", 5, 10).is_err(),
        "watchers from before the restore must resync"
    );
    s.apply(12, &set("after", "1"));
    assert_eq!(s.history().since("", 12, 10).unwrap().len(), 1);

    // Bytes that are not a snapshot change nothing.
    assert!(!s.apply(13, &Command::Restore(b"garbage".to_vec())).ok());
    assert_eq!(s.kv().keys("", None), vec!["after", "gone-later", "keep"]);
    assert_eq!(s.restored_at(), 11);
}

#[test]
fn snapshot_decode_rejects_garbage() {
    assert!(Store::decode_snapshot(b"not a snapshot").is_err());
}

#[derive(Debug, Clone)]
enum Op {
    Set(u8, u8),
    Del(u8),
    DelTree(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u8..6, any::<u8>()).prop_map(|(k, v)| Op::Set(k, v)),
        (0u8..6).prop_map(Op::Del),
        (0u8..3).prop_map(Op::DelTree),
    ]
}

fn key(k: u8) -> String {
    format!("p{}/k{}", k % 3, k)
}

/// One change in the watcher model: (index, key, new value, previous value).
type ModelChange = (u64, String, Option<Vec<u8>>, Option<Vec<u8>>);

proptest! {
    /// A watcher resuming at N sees exactly the changes at N and after, each
    /// with its previous value, or is told the history is compacted.
    #[test]
    fn watcher_resuming_at_n_sees_every_later_change(ops in proptest::collection::vec(op(), 1..60), limit in 1usize..40, from in 1u64..70) {
        let mut s = Store::new(limit);
        // The model: every change ever made.
        let mut model: Vec<ModelChange> = Vec::new();
        let mut state = std::collections::BTreeMap::<String, Vec<u8>>::new();
        for (i, op) in ops.iter().enumerate() {
            let index = i as u64 + 1;
            match op {
                Op::Set(k, v) => {
                    let k = key(*k);
                    s.apply(index, &Command::KvSet { key: k.clone(), value: vec![*v].into(), flags: 0, cas: None });
                    model.push((index, k.clone(), Some(vec![*v]), state.insert(k, vec![*v])));
                }
                Op::Del(k) => {
                    let k = key(*k);
                    s.apply(index, &Command::KvDelete { key: k.clone(), cas: None });
                    if let Some(prev) = state.remove(&k) { model.push((index, k, None, Some(prev))); }
                }
                Op::DelTree(p) => {
                    let prefix = format!("p{p}/");
                    s.apply(index, &Command::KvDeleteTree { prefix: prefix.clone() });
                    let keys: Vec<String> = state.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
                    for k in keys { let prev = state.remove(&k); model.push((index, k, None, prev)); }
                }
            }
        }
        match s.history().since("", from, usize::MAX) {
            Ok(got) => {
                let want: Vec<_> = model.iter().filter(|c| c.0 >= from).collect();
                prop_assert_eq!(got.len(), want.len());
                for (g, w) in got.iter().zip(want) {
                    prop_assert_eq!(g.index, w.0);
                    prop_assert_eq!(&g.key, &w.1);
                    prop_assert_eq!(g.entry.as_ref().map(|e| e.value.to_vec()), w.2.clone());
                    prop_assert_eq!(g.prev.as_ref().map(|e| e.value.to_vec()), w.3.clone());
                }
            }
            Err(HistoryError::Compacted { oldest, .. }) => {
                prop_assert!(from < oldest);
                // Everything from `oldest` on is still there.
                prop_assert!(s.history().since("", oldest, usize::MAX).is_ok());
            }
        }
    }
}

#[test]
fn batch_applies_each_command_at_the_entry_index_and_answers_each() {
    let mut s = Store::default();
    let r = s.apply(
        7,
        &Command::Batch(vec![
            set("a", "1"),
            Command::KvSet {
                key: "a".into(),
                value: b"2".to_vec().into(),
                flags: 0,
                cas: Some(0),
            },
            set("b", "1"),
        ]),
    );
    assert_eq!(
        r,
        Response::Batch(vec![
            Response::Applied(true),
            Response::Applied(false),
            Response::Applied(true)
        ])
    );
    assert_eq!(&*s.kv().get("a").unwrap().value, b"1");
    assert_eq!(s.kv().get("b").unwrap().modify_index, 7);
    assert_eq!(s.history().since("", 7, 10).unwrap().len(), 2);
}

fn health(node: &str, status: &str) -> Command {
    Command::NodeHealth(praetor_store::catalog::NodeHealth {
        node: node.into(),
        id: format!("id-{node}"),
        address: "10.0.0.1".into(),
        datacenter: "dc1".into(),
        status: status.into(),
        output: format!("output {status}"),
    })
}

#[test]
fn node_health_upserts_only_on_change_and_deregister_cascades() {
    let mut s = Store::new(10);
    assert!(s.apply(1, &health("n1", "passing")).ok());
    assert!(s.apply(2, &health("n2", "passing")).ok());
    assert!(
        !s.apply(3, &health("n1", "passing")).ok(),
        "an unchanged node is a no-op"
    );
    assert_eq!(s.catalog().nodes().0, 2, "and keeps the index");
    assert_eq!(s.catalog().node_checks("n1").0, 2);

    assert!(s.apply(4, &health("n1", "critical")).ok());
    let (index, checks) = s.catalog().node_checks("n1");
    assert_eq!((index, checks.len()), (4, 1));
    assert_eq!(
        (
            checks[0].status.as_str(),
            checks[0].create_index,
            checks[0].modify_index
        ),
        ("critical", 1, 4)
    );
    assert_eq!(s.catalog().nodes().0, 2, "the node itself did not change");

    assert!(s
        .apply(
            5,
            &Command::CatalogDeregister(
                praetor_api::catalog::DeregisterRequest {
                    node: "n1".into(),
                    ..Default::default()
                }
                .into()
            )
        )
        .ok());
    assert!(!s
        .apply(
            6,
            &Command::CatalogDeregister(
                praetor_api::catalog::DeregisterRequest {
                    node: "n1".into(),
                    ..Default::default()
                }
                .into()
            )
        )
        .ok());
    assert!(s.catalog().node("n1").1.is_none());
    assert!(s.catalog().node_checks("n1").1.is_empty());
    let (index, nodes) = s.catalog().nodes();
    assert_eq!((index, nodes.len()), (5, 1));

    let copy = Store::decode_snapshot(&s.encode_snapshot().unwrap()).unwrap();
    assert_eq!(copy.catalog().nodes(), s.catalog().nodes());
    assert_eq!(
        copy.catalog().node_checks("n2"),
        s.catalog().node_checks("n2")
    );
}

fn register(
    node: &str,
    service: Option<(&str, &str, &[&str])>,
    checks: &[(&str, &str, &str)],
) -> Command {
    use praetor_api::catalog::{CheckDefinition, RegisterRequest, ServiceDefinition};
    Command::CatalogRegister(
        RegisterRequest {
            node: node.into(),
            address: "10.0.0.9".into(),
            datacenter: "dc1".into(),
            service: service.map(|(id, name, tags)| ServiceDefinition {
                id: id.into(),
                service: name.into(),
                tags: tags.iter().map(|t| (*t).to_owned()).collect(),
                port: 80,
                ..Default::default()
            }),
            checks: checks
                .iter()
                .map(|(id, service_id, status)| CheckDefinition {
                    check_id: (*id).into(),
                    service_id: (*service_id).into(),
                    status: (*status).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
        .into(),
    )
}

#[test]
fn catalog_register_follows_consul_and_indexes_stay_per_service() {
    let mut s = Store::new(10);
    assert!(s
        .apply(
            1,
            &register(
                "n1",
                Some(("web1", "web", &["v1"])),
                &[("web1-http", "web1", "passing")]
            )
        )
        .ok());
    assert!(s
        .apply(2, &register("n1", Some(("db1", "db", &[])), &[]))
        .ok());
    assert!(s
        .apply(3, &register("n2", Some(("web2", "web", &["v2"])), &[]))
        .ok());
    // A re-register that changes nothing keeps every index.
    assert!(!s
        .apply(
            4,
            &register(
                "n1",
                Some(("web1", "web", &["v1"])),
                &[("web1-http", "web1", "passing")]
            )
        )
        .ok());
    assert_eq!(s.catalog().service_nodes("web", None).0, 3);
    // A check for an unknown service refuses the whole request.
    let refused = s.apply(
        5,
        &register("n3", Some(("x", "x", &[])), &[("c", "nope", "passing")]),
    );
    assert!(
        matches!(refused, praetor_store::Response::Refused(ref r) if r.contains("nope")),
        "{refused:?}"
    );
    assert!(
        s.catalog().node("n3").1.is_none(),
        "nothing of it was applied"
    );

    // Changing db does not move web's index.
    assert!(s
        .apply(6, &register("n1", Some(("db1", "db", &["primary"])), &[]))
        .ok());
    assert_eq!(s.catalog().service_nodes("web", None).0, 3);
    assert_eq!(s.catalog().service_nodes("db", None).0, 6);
    let (_, services) = s.catalog().services();
    assert_eq!(services["web"], vec!["v1", "v2"]);
    assert_eq!(s.catalog().service_nodes("web", Some("v2")).1.len(), 1);

    // Health: the node's serfHealth going critical makes its services unhealthy.
    assert!(s.apply(7, &health("n1", "passing")).ok());
    assert_eq!(s.catalog().health_service("web", None, true).1.len(), 2);
    assert!(s.apply(8, &health("n1", "critical")).ok());
    let (index, healthy) = s.catalog().health_service("web", None, true);
    assert_eq!(index, 8, "a node check change wakes service health readers");
    assert_eq!(
        healthy
            .iter()
            .map(|e| e.node.node.as_str())
            .collect::<Vec<_>>(),
        vec!["n2"]
    );
    assert_eq!(s.catalog().health_service("web", None, false).1.len(), 2);
    assert_eq!(s.catalog().checks_in_state("critical").1.len(), 1);
    assert_eq!(s.catalog().service_checks("web").1.len(), 1);

    // Deregistering a service takes its checks; a node takes everything.
    let dereg = |node: &str, service: &str| {
        Command::CatalogDeregister(
            praetor_api::catalog::DeregisterRequest {
                node: node.into(),
                service_id: service.into(),
                ..Default::default()
            }
            .into(),
        )
    };
    assert!(s.apply(9, &dereg("n1", "web1")).ok());
    assert!(s.catalog().service_checks("web").1.is_empty());
    assert_eq!(
        s.catalog().service_nodes("web", None),
        (9, s.catalog().service_nodes("web", None).1)
    );
    assert!(s.apply(10, &dereg("n1", "")).ok());
    assert!(s.catalog().node_services("n1").1.is_empty());
    assert_eq!(s.catalog().service_nodes("db", None).0, 10);
    assert!(s.catalog().service_nodes("db", None).1.is_empty());

    let copy = Store::decode_snapshot(&s.encode_snapshot().unwrap()).unwrap();
    assert_eq!(
        copy.catalog().health_service("web", None, false),
        s.catalog().health_service("web", None, false)
    );
}

#[test]
fn a_check_keeps_the_type_a_typed_register_gave_it_through_updates_and_snapshots() {
    let mut s = Store::new(10);
    let plain = register(
        "n1",
        Some(("web1", "web", &[])),
        &[("web-ttl", "web1", "passing")],
    );
    let Command::CatalogRegister(r) = plain.clone() else {
        unreachable!("register builds a CatalogRegister")
    };
    let typed = Command::catalog_register(
        r.into(),
        std::collections::BTreeMap::from([("web-ttl".to_owned(), "ttl".to_owned())]),
    );
    assert!(matches!(typed, Command::CatalogRegisterTyped { .. }));
    assert!(s.apply(1, &typed).ok());
    let kind = |s: &Store| s.catalog().check("n1", "web-ttl").map(|c| c.kind);
    assert_eq!(kind(&s).as_deref(), Some("ttl"));

    // A register without types (an older agent, a catalog register without
    // `Type`) keeps the type the check has.
    let critical = register(
        "n1",
        Some(("web1", "web", &[])),
        &[("web-ttl", "web1", "critical")],
    );
    assert!(s.apply(2, &critical).ok());
    assert_eq!(kind(&s).as_deref(), Some("ttl"));
    assert_eq!(
        s.catalog()
            .check("n1", "web-ttl")
            .map(|c| c.status)
            .as_deref(),
        Some("critical")
    );

    let copy = Store::decode_snapshot(&s.encode_snapshot().unwrap()).unwrap();
    assert_eq!(kind(&copy).as_deref(), Some("ttl"));
}

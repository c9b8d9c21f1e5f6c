use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;
use crate::catalog::NodeHealth;
use crate::model::{CheckRegistration, Deregistration, Registration, ServiceRegistration};

fn set(key: &str) -> Command {
    Command::KvSet {
        key: key.into(),
        value: b"v".to_vec().into(),
        flags: 0,
        cas: None,
    }
}

fn delete(key: &str) -> Command {
    Command::KvDelete {
        key: key.into(),
        cas: None,
    }
}

fn register(node: &str, id: &str, name: &str, tag: &str) -> Command {
    Command::CatalogRegister(Registration {
        node: node.into(),
        address: "10.0.0.1".into(),
        service: Some(ServiceRegistration {
            id: id.into(),
            service: name.into(),
            tags: vec![tag.into()],
            ..ServiceRegistration::default()
        }),
        ..Registration::default()
    })
}

fn check(node: &str, id: &str, service_id: &str, status: &str) -> Command {
    Command::CatalogRegister(Registration {
        node: node.into(),
        address: "10.0.0.1".into(),
        check: Some(CheckRegistration {
            check_id: id.into(),
            service_id: service_id.into(),
            status: status.into(),
            ..CheckRegistration::default()
        }),
        ..Registration::default()
    })
}

fn health(node: &str, status: &str) -> Command {
    Command::NodeHealth(NodeHealth {
        node: node.into(),
        id: String::new(),
        address: "10.0.0.2".into(),
        datacenter: "dc1".into(),
        status: status.into(),
        output: String::new(),
    })
}

fn deregister(node: &str, service_id: &str, check_id: &str) -> Command {
    Command::CatalogDeregister(Deregistration {
        node: node.into(),
        service_id: service_id.into(),
        check_id: check_id.into(),
        ..Deregistration::default()
    })
}

#[test]
fn a_write_to_one_service_touches_that_service_and_its_node_only() {
    let mut s = Store::default();
    s.apply(1, &register("n1", "a1", "a", "x"));
    s.apply(2, &register("n2", "b1", "b", "x"));
    s.take_touched();
    s.apply(3, &register("n1", "a1", "a", "y"));
    let t = s.take_touched();
    assert!(t.hits(&Interest::Service("a".into())));
    assert!(!t.hits(&Interest::Service("b".into())));
    assert!(t.hits(&Interest::Node("n1".into())));
    assert!(!t.hits(&Interest::Node("n2".into())));
    assert!(t.hits(&Interest::Table(Table::Services)));
    assert!(!t.hits(&Interest::Table(Table::Kv)));
    assert_eq!(s.service_index("a"), 3);
    assert_eq!(s.service_index("b"), 2);
}

#[test]
fn a_node_level_check_touches_every_service_on_its_node() {
    let mut s = Store::default();
    s.apply(1, &register("n1", "a1", "a", "x"));
    s.apply(2, &register("n1", "b1", "b", "x"));
    s.apply(3, &register("n2", "c1", "c", "x"));
    s.take_touched();
    s.apply(4, &health("n1", "critical"));
    let t = s.take_touched();
    assert_eq!(t.services, BTreeSet::from(["a".to_owned(), "b".to_owned()]));
    assert_eq!((s.service_index("a"), s.service_index("c")), (4, 3));
    // The same health again changes nothing and touches nothing.
    s.apply(5, &health("n1", "critical"));
    assert!(s.take_touched().is_empty());
}

#[test]
fn a_key_write_touches_the_key_and_every_prefix_above_it() {
    let mut s = Store::default();
    s.apply(1, &set("app/web/port"));
    s.apply(2, &set("other"));
    let t = s.take_touched();
    s.apply(3, &delete("app/web/port"));
    let t2 = s.take_touched();
    assert!(t.hits(&Interest::KvKey("other".into())));
    for p in ["", "a", "app/", "app/we", "app/web/port"] {
        assert!(t2.hits(&Interest::KvPrefix(p.into())), "{p}");
    }
    assert!(!t2.hits(&Interest::KvPrefix("other".into())));
    assert!(!t2.hits(&Interest::KvKey("other".into())));
    // Deletes move the prefix index, as Consul's tombstones do.
    assert_eq!(s.kv_prefix_index("app/"), 3);
    assert_eq!(s.kv_prefix_index("app/we"), 3);
    assert_eq!(s.kv_prefix_index("oth"), 2);
    assert_eq!(s.kv_prefix_index("nothing/"), 1);
}

#[test]
fn reaped_tombstones_take_their_empty_directories_with_them() {
    let mut s = Store::new(2);
    s.apply(1, &set("gone/a/b"));
    s.apply(2, &delete("gone/a/b"));
    s.apply(3, &set("kept/x"));
    s.apply(4, &set("kept/y"));
    assert!(!s.derived.dirs.contains_key("gone/"));
    assert!(!s.derived.dirs.contains_key("gone/a/"));
    assert_eq!(s.kv_prefix_index("gone/"), s.kv().prefix_index("gone/"));
}

#[test]
fn a_restore_touches_everything_and_rebuilds_the_indexes() {
    let mut s = Store::default();
    s.apply(1, &register("n1", "a1", "a", "x"));
    s.apply(2, &set("k/1"));
    let bytes = s.encode_state().unwrap();
    s.apply(3, &register("n1", "a1", "a", "z"));
    s.take_touched();
    s.apply(4, &Command::Restore(bytes));
    assert!(s.take_touched().everything);
    assert_eq!(s.service_index("a"), 1);
    assert_eq!(s.kv_prefix_index("k/"), 2);
}

#[test]
fn untaken_topics_are_bounded() {
    let mut s = Store::default();
    for i in 0..(MAX_NAMED as u64 + 10) {
        s.derived.kv_changed(&format!("k{i}"), i + 1);
    }
    let t = s.take_touched();
    assert!(t.everything && t.keys.is_empty());
}

// ---- the property: incremental equals rebuilt, and no change is missed.

const KEYS: [&str; 8] = ["a", "a/b", "a/b/c", "a/bc", "ab", "a/", "b/x/y", "a//d"];
const NODES: [&str; 3] = ["n0", "n1", "n2"];
const NAMES: [&str; 3] = ["s0", "s1", "s2"];
const IDS: [&str; 3] = ["i0", "i1", "i2"];

fn one() -> impl Strategy<Value = Command> {
    let key = prop::sample::select(&KEYS[..]);
    let node = || prop::sample::select(&NODES[..]);
    let id = || prop::sample::select(&IDS[..]);
    let status = prop::sample::select(&["passing", "critical"][..]);
    prop_oneof![
        key.clone().prop_map(set),
        key.clone().prop_map(delete),
        prop::sample::select(&["a", "a/", "b", ""][..])
            .prop_map(|p| Command::KvDeleteTree { prefix: p.into() }),
        (node(), id(), prop::sample::select(&NAMES[..]), 0..2u8).prop_map(|(n, i, s, t)| register(
            n,
            i,
            s,
            &t.to_string()
        )),
        (node(), id(), status.clone()).prop_map(|(n, i, st)| check(n, &format!("c{i}"), i, st)),
        (node(), status.clone()).prop_map(|(n, st)| check(n, "nodecheck", "", st)),
        (node(), status).prop_map(|(n, st)| health(n, st)),
        (node(), id()).prop_map(|(n, i)| deregister(n, i, "")),
        (node(), id()).prop_map(|(n, i)| deregister(n, "", &format!("c{i}"))),
        node().prop_map(|n| deregister(n, "", "")),
    ]
}

/// A register whose only change may be what travels beside the
/// registration (the service's kind; a check's type): directly, or as a
/// transaction's catalog operation.
fn typed() -> impl Strategy<Value = Command> {
    (
        prop::sample::select(&NODES[..]),
        prop::sample::select(&IDS[..]),
        prop::sample::select(&NAMES[..]),
        prop::sample::select(&["", "mesh-gateway"][..]),
        any::<bool>(),
    )
        .prop_map(|(node, id, name, kind, in_txn)| {
            let Command::CatalogRegister(mut register) = register(node, id, name, "0") else {
                unreachable!("register builds a CatalogRegister")
            };
            let service = crate::model::ServiceExtra {
                kind: kind.into(),
                ..Default::default()
            };
            if in_txn {
                register.skip_node_update = true;
                Command::Txn(vec![crate::txn::TxnOp::CatalogTyped(
                    Box::new(crate::txn::CatalogOp {
                        target: crate::txn::CatalogTarget::Service,
                        verb: crate::txn::CatalogVerb::Set,
                        node: node.into(),
                        id: id.into(),
                        register,
                        index: 0,
                    }),
                    Box::new(crate::txn::CatalogExtra {
                        service,
                        check_type: String::new(),
                    }),
                )])
            } else {
                Command::CatalogRegisterTyped {
                    register,
                    types: std::collections::BTreeMap::new(),
                    service,
                }
            }
        })
}

/// A session on a node held by its node check, a prepared query (bound to
/// that session or not) and its deletion: queries change by their own
/// commands and when a catalog change invalidates their session.
fn session_or_query() -> impl Strategy<Value = Command> {
    let node = || prop::sample::select(&NODES[..]);
    prop_oneof![
        // A passing node check, a session it holds and a query bound to
        // the session, at once (apart, they rarely meet).
        (node(), 0..3u8).prop_map(|(n, q)| {
            Command::Batch(vec![
                check(n, "nodecheck", "", "passing"),
                Command::SessionCreate(Box::new(crate::model::SessionRecord {
                    id: format!("sess-{n}"),
                    name: String::new(),
                    node: n.into(),
                    node_checks: Some(vec!["nodecheck".into()]),
                    service_checks: None,
                    lock_delay: 0,
                    behavior: "release".into(),
                    ttl: String::new(),
                    create_index: 0,
                    modify_index: 0,
                })),
                Command::PreparedQuery(crate::query::QueryCommand::Create(
                    crate::query::PreparedQuery {
                        id: format!("0000000{q}-0000-4000-8000-000000000000"),
                        name: format!("q{q}"),
                        session: format!("sess-{n}"),
                        ..Default::default()
                    },
                )),
            ])
        }),
        (0..3u8, prop::option::of(node())).prop_map(|(q, n)| {
            Command::PreparedQuery(crate::query::QueryCommand::Create(
                crate::query::PreparedQuery {
                    id: format!("0000000{q}-0000-4000-8000-000000000000"),
                    name: format!("q{q}"),
                    session: n.map(|n| format!("sess-{n}")).unwrap_or_default(),
                    ..Default::default()
                },
            ))
        }),
        (0..3u8).prop_map(
            |q| Command::PreparedQuery(crate::query::QueryCommand::Delete {
                id: format!("0000000{q}-0000-4000-8000-000000000000"),
            })
        ),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        4 => one(),
        1 => session_or_query(),
        1 => typed(),
        1 => prop::collection::vec(one(), 1..4).prop_map(Command::Batch),
    ]
}

/// Every read the property watches: what it depends on, and what must not
/// change unseen (a service read's index, which moves whenever its answer
/// can; a node read's answer, as its index is its table's; a KV read's
/// answer and index, after `#`).
fn reads(s: &Store) -> Vec<(Interest, String)> {
    let c = s.catalog();
    let kv = s.kv();
    let mut out = Vec::new();
    for name in NAMES {
        let (i, _) = c.service_nodes(name, None);
        let (j, _) = c.service_checks(name);
        // A health read's index is this one or the global node-level
        // checks' index, which moves without waking it (as the table index
        // of a Consul node read does).
        out.push((Interest::Service(name.into()), format!("{i} {j}")));
    }
    for node in NODES {
        let (_, services) = c.node_services(node);
        let (_, checks) = c.node_checks(node);
        let body = format!("{:?}{services:?}{checks:?}", c.node(node).1);
        out.push((Interest::Node(node.into()), body));
    }
    for key in KEYS {
        let body = format!("{:?}#{}", kv.get(key), kv.key_index(key));
        out.push((Interest::KvKey(key.into()), body));
        for end in 0..=key.len() {
            let p = &key[..end];
            let list: Vec<_> = kv.list(p).collect();
            let body = format!("{list:?}#{}", kv.prefix_index(p));
            out.push((Interest::KvPrefix(p.into()), body));
        }
    }
    out.push((Interest::Table(Table::Nodes), format!("{:?}", c.nodes())));
    out.push((
        Interest::Table(Table::Services),
        format!("{:?}", c.services()),
    ));
    out.push((
        Interest::Table(Table::Checks),
        format!("{:?}", c.checks_in_state("any")),
    ));
    out.push((
        Interest::Table(Table::Sessions),
        format!("{:?}", s.sessions().list()),
    ));
    out.push((
        Interest::Table(Table::Queries),
        format!("{:?}", s.queries()),
    ));
    out
}

fn check_derived(s: &Store) -> Result<(), TestCaseError> {
    // The catalog's instances by name: as a rebuild, and as a scan.
    prop_assert!(s.tables.catalog.index_matches_a_rebuild());
    for name in NAMES {
        let (_, listed) = s.catalog().service_nodes(name, None);
        let listed: Vec<(String, String)> =
            listed.into_iter().map(|c| (c.node, c.service_id)).collect();
        let scanned: Vec<(String, String)> = s
            .catalog()
            .all_services()
            .filter(|(node, svc)| svc.service == name && s.catalog().has_node(node))
            .map(|(node, svc)| (node.to_owned(), svc.id.clone()))
            .collect();
        prop_assert_eq!(listed, scanned, "instances of {}", name);
    }
    let rebuilt = Derived::rebuild(&s.tables);
    prop_assert_eq!(&s.derived.services, &rebuilt.services);
    let dirs: BTreeSet<&String> = s.derived.dirs.keys().collect();
    let want: BTreeSet<&String> = rebuilt.dirs.keys().collect();
    prop_assert_eq!(dirs, want);
    for name in NAMES {
        prop_assert_eq!(
            s.service_index(name),
            s.catalog().service_nodes(name, None).0
        );
    }
    for key in KEYS {
        for end in 0..=key.len() {
            let p = &key[..end];
            prop_assert_eq!(
                s.kv_prefix_index(p),
                s.kv().prefix_index(p),
                "prefix {:?}",
                p
            );
            prop_assert_eq!(
                rebuilt.kv_prefix_index(s.kv(), p),
                s.kv().prefix_index(p),
                "rebuilt prefix {:?}",
                p
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn derived_indexes_equal_a_rebuild_and_every_change_is_touched(
        cmds in prop::collection::vec(command(), 1..40),
        limit in 1usize..12,
    ) {
        let mut s = Store::new(limit);
        for (i, cmd) in cmds.iter().enumerate() {
            let before = reads(&s);
            s.apply(i as u64 + 1, cmd);
            let touched = s.take_touched();
            let reaped = s.kv().reaped_index();
            for ((interest, was), (_, is)) in before.iter().zip(reads(&s)) {
                // A KV index that rose to the reaped index moved with a
                // reap, which may happen anywhere (as Consul's tombstone
                // index): it wakes no one.
                let same = match (was.rsplit_once('#'), is.rsplit_once('#')) {
                    (Some((b1, _)), Some((b2, i2))) => b1 == b2 && (was == &is || i2 == reaped.to_string()),
                    _ => *was == is,
                };
                prop_assert!(
                    same || touched.hits(interest),
                    "{:?} changed but {:?} touched only {:?}", interest, cmd, touched
                );
            }
            check_derived(&s)?;
        }
        let decoded = Store::decode_snapshot(&s.encode_snapshot().unwrap()).unwrap();
        prop_assert_eq!(&decoded.derived.services, &s.derived.services);
        check_derived(&decoded)?;
    }
}

//! Sessions, locks and transactions: commands in, sessions, keys, lock
//! indexes and answers out.

use praetor_api::catalog::{CheckDefinition, RegisterRequest};
use praetor_api::session::SessionEntry;
use praetor_store::catalog::NodeHealth;
use praetor_store::session::LockDelay;
use praetor_store::txn::{CatalogOp, CatalogTarget, CatalogVerb, KvOp, KvVerb, TxnOp};
use praetor_store::{Command, Response, Store};

fn node_health(status: &str) -> Command {
    Command::NodeHealth(NodeHealth {
        node: "n1".into(),
        id: "id-n1".into(),
        address: "10.0.0.1".into(),
        datacenter: "dc1".into(),
        status: status.into(),
        output: String::new(),
    })
}

fn check(id: &str, status: &str) -> Command {
    Command::CatalogRegister(
        RegisterRequest {
            node: "n1".into(),
            skip_node_update: true,
            check: Some(CheckDefinition {
                check_id: id.into(),
                name: id.into(),
                status: status.into(),
                ..CheckDefinition::default()
            }),
            ..RegisterRequest::default()
        }
        .into(),
    )
}

pub(crate) fn session(id: &str, behavior: &str, checks: &[&str], delay_ms: u64) -> SessionEntry {
    SessionEntry {
        id: id.into(),
        name: String::new(),
        node: "n1".into(),
        node_checks: Some(checks.iter().map(|c| (*c).to_owned()).collect()),
        service_checks: None,
        lock_delay: delay_ms * 1_000_000,
        behavior: behavior.into(),
        ttl: "10s".into(),
        create_index: 0,
        modify_index: 0,
    }
}

pub(crate) fn at(ms: u64, cmd: Command) -> Command {
    Command::Timed {
        at_ms: ms,
        cmd: Box::new(cmd),
    }
}

pub(crate) fn acquire(key: &str, s: &str) -> Command {
    Command::KvLock {
        key: key.into(),
        value: b"v".to_vec().into(),
        flags: 7,
        session: s.into(),
    }
}

/// A store with node n1 (serfHealth passing) and a passing check "app".
pub(crate) fn store_with_node() -> Store {
    let mut st = Store::default();
    assert!(st.apply(1, &node_health("passing")).ok());
    assert!(st.apply(2, &check("app", "passing")).ok());
    st
}

#[test]
fn a_session_needs_its_node_and_healthy_checks() {
    let mut st = Store::default();
    let r = st.apply(
        1,
        &Command::SessionCreate(Box::new(session("s1", "release", &[], 0).into())),
    );
    assert!(matches!(r, Response::Refused(why) if why.contains("Missing node")));
    let mut st = store_with_node();
    let r = st.apply(
        3,
        &Command::SessionCreate(Box::new(session("s1", "release", &["nope"], 0).into())),
    );
    assert!(matches!(r, Response::Refused(why) if why.contains("Missing check 'nope'")));
    st.apply(4, &check("bad", "critical"));
    let r = st.apply(
        5,
        &Command::SessionCreate(Box::new(session("s1", "release", &["bad"], 0).into())),
    );
    assert!(matches!(r, Response::Refused(why) if why.contains("critical")));
    assert!(st.sessions().is_empty(), "a refused create changes nothing");
    let r = st.apply(
        6,
        &Command::SessionCreate(Box::new(
            session("s1", "release", &["serfHealth", "app"], 0).into(),
        )),
    );
    assert!(r.ok());
    let s = &st.sessions().get("s1").unwrap().entry;
    assert_eq!((s.create_index, s.modify_index), (6, 6));
    assert_eq!(st.sessions().list().0, 6);
    assert_eq!(st.sessions().of_node("n1").1.len(), 1);
    assert!(st.sessions().of_node("n2").1.is_empty());
}

#[test]
fn acquire_release_and_lock_index_follow_consul() {
    let mut st = store_with_node();
    st.apply(
        3,
        &Command::SessionCreate(Box::new(session("a", "release", &[], 0).into())),
    );
    st.apply(
        4,
        &Command::SessionCreate(Box::new(session("b", "release", &[], 0).into())),
    );
    assert!(st.apply(5, &acquire("k", "a")).ok());
    let e = st.kv().get("k").unwrap();
    assert_eq!(
        (e.lock_index, e.session.as_deref(), e.flags),
        (1, Some("a"), 7)
    );
    assert!(
        !st.apply(6, &acquire("k", "b")).ok(),
        "held by another session"
    );
    assert!(
        st.apply(7, &acquire("k", "a")).ok(),
        "the holder may acquire again"
    );
    assert_eq!(
        st.kv().get("k").unwrap().lock_index,
        1,
        "re-acquire keeps LockIndex"
    );
    let release = |s: &str| Command::KvUnlock {
        key: "k".into(),
        value: b"after".to_vec().into(),
        flags: 0,
        session: s.into(),
    };
    assert!(!st.apply(8, &release("b")).ok(), "only the holder releases");
    assert!(st.apply(9, &release("a")).ok());
    let e = st.kv().get("k").unwrap();
    assert_eq!(
        (e.lock_index, e.session.as_deref(), &*e.value),
        (1, None, &b"after"[..])
    );
    assert!(st.apply(10, &acquire("k", "b")).ok());
    assert_eq!(st.kv().get("k").unwrap().lock_index, 2);
    let r = st.apply(11, &acquire("k2", "nope"));
    assert!(matches!(r, Response::Refused(why) if why.contains("invalid session")));
}

#[test]
fn ttl_expiry_invalidates_unless_renewed_since() {
    let mut st = store_with_node();
    st.apply(
        3,
        &Command::SessionCreate(Box::new(session("s", "release", &[], 0).into())),
    );
    st.apply(4, &acquire("k", "s"));
    assert!(st.apply(5, &Command::SessionRenew { id: "s".into() }).ok());
    assert_eq!(st.sessions().get("s").unwrap().renewed, 5);
    assert!(!st.apply(6, &Command::SessionRenew { id: "x".into() }).ok());
    let stale = Command::SessionExpire {
        id: "s".into(),
        renewed: 3,
    };
    assert!(
        !st.apply(7, &stale).ok(),
        "a renewal after the timer started wins"
    );
    assert!(st.sessions().get("s").is_some());
    let due = Command::SessionExpire {
        id: "s".into(),
        renewed: 5,
    };
    assert!(st.apply(8, &due).ok());
    assert!(st.sessions().get("s").is_none());
    let e = st.kv().get("k").unwrap();
    assert_eq!((e.session.as_deref(), e.modify_index), (None, 8));
}

#[test]
fn a_critical_check_invalidates_its_sessions_only() {
    let mut st = store_with_node();
    st.apply(3, &check("other", "passing"));
    st.apply(
        4,
        &Command::SessionCreate(Box::new(session("on-app", "release", &["app"], 0).into())),
    );
    st.apply(
        5,
        &Command::SessionCreate(Box::new(
            session("on-other", "release", &["other"], 0).into(),
        )),
    );
    st.apply(6, &acquire("k", "on-app"));
    st.apply(7, &check("app", "warning"));
    assert!(
        st.sessions().get("on-app").is_some(),
        "warning is not critical"
    );
    st.apply(8, &check("app", "critical"));
    assert!(st.sessions().get("on-app").is_none());
    assert!(st.sessions().get("on-other").is_some());
    assert_eq!(st.kv().get("k").unwrap().session, None);
    assert_eq!(
        st.sessions().list().0,
        8,
        "the invalidation moved the index"
    );
}

#[test]
fn a_failed_serf_health_or_a_deregistered_node_invalidates() {
    let mut st = store_with_node();
    st.apply(
        3,
        &Command::SessionCreate(Box::new(session("s", "release", &["serfHealth"], 0).into())),
    );
    st.apply(4, &acquire("k", "s"));
    st.apply(5, &node_health("critical"));
    assert!(st.sessions().get("s").is_none());
    assert_eq!(st.kv().get("k").unwrap().session, None);
    st.apply(6, &node_health("passing"));
    st.apply(
        7,
        &Command::SessionCreate(Box::new(session("t", "release", &[], 0).into())),
    );
    st.apply(
        8,
        &Command::CatalogDeregister(
            praetor_api::catalog::DeregisterRequest {
                node: "n1".into(),
                ..Default::default()
            }
            .into(),
        ),
    );
    assert!(st.sessions().get("t").is_none(), "no node, no session");
}

#[test]
fn behavior_delete_deletes_the_held_keys_release_keeps_them() {
    let mut st = store_with_node();
    st.apply(
        3,
        &Command::SessionCreate(Box::new(session("del", "delete", &[], 0).into())),
    );
    st.apply(
        4,
        &Command::SessionCreate(Box::new(session("rel", "release", &[], 0).into())),
    );
    st.apply(5, &acquire("a", "del"));
    st.apply(6, &acquire("b", "rel"));
    st.apply(7, &Command::SessionDestroy { id: "del".into() });
    st.apply(8, &Command::SessionDestroy { id: "rel".into() });
    assert!(st.kv().get("a").is_none());
    let b = st.kv().get("b").unwrap();
    assert_eq!((b.session.as_deref(), &*b.value), (None, &b"v"[..]));
    let h = st.history().of_key("a", 1);
    assert!(
        h[0].entry.is_none(),
        "the delete is in the history for watchers"
    );
}

#[test]
fn lock_delay_holds_for_its_duration_in_leader_time() {
    let mut st = store_with_node();
    st.apply(
        3,
        &at(
            1_000,
            Command::SessionCreate(Box::new(session("a", "release", &[], 5_000).into())),
        ),
    );
    st.apply(
        4,
        &at(
            1_000,
            Command::SessionCreate(Box::new(session("b", "release", &[], 0).into())),
        ),
    );
    assert!(st.apply(5, &at(1_100, acquire("k", "a"))).ok());
    st.apply(6, &at(2_000, Command::SessionDestroy { id: "a".into() }));
    assert_eq!(
        st.sessions().lock_delay("k"),
        Some(LockDelay {
            at_ms: 2_000,
            delay_ms: 5_000
        })
    );
    assert!(
        !st.apply(7, &at(6_999, acquire("k", "b"))).ok(),
        "within the delay"
    );
    assert!(
        !st.apply(8, &at(3_000, acquire("k", "b"))).ok(),
        "a stamp that went back is still within the delay"
    );
    assert_eq!(st.clock_ms(), 3_000, "the clock is the latest stamp");
    assert!(st.apply(9, &at(7_000, acquire("k", "b"))).ok(), "after it");
    // A release by the holder leaves no lock-delay.
    st.apply(
        10,
        &at(
            7_100,
            Command::KvUnlock {
                key: "k".into(),
                value: Vec::new().into(),
                flags: 0,
                session: "b".into(),
            },
        ),
    );
    st.apply(
        11,
        &at(
            7_200,
            Command::SessionCreate(Box::new(session("c", "release", &[], 0).into())),
        ),
    );
    assert!(st.apply(12, &at(7_200, acquire("k", "c"))).ok());
}

fn kv(verb: KvVerb, key: &str, value: &str, index: u64, session: &str) -> TxnOp {
    TxnOp::Kv(KvOp {
        verb,
        key: key.into(),
        value: value.as_bytes().to_vec().into(),
        flags: 0,
        index,
        session: session.into(),
    })
}

fn txn(st: &mut Store, index: u64, ops: Vec<TxnOp>) -> praetor_store::txn::TxnOutcome {
    match st.apply(index, &Command::Txn(ops)) {
        Response::Txn(o) => o,
        other => panic!("not a txn answer: {other:?}"),
    }
}

#[test]
fn a_failing_operation_leaves_nothing_applied() {
    let mut st = store_with_node();
    st.apply(
        3,
        &Command::KvSet {
            key: "x".into(),
            value: b"old".to_vec().into(),
            flags: 0,
            cas: None,
        },
    );
    let history = st.history().len();
    let o = txn(
        &mut st,
        4,
        vec![
            kv(KvVerb::Set, "new", "1", 0, ""),
            kv(KvVerb::Delete, "x", "", 0, ""),
            kv(KvVerb::CheckIndex, "new", "", 99, ""),
            kv(KvVerb::DeleteTree, "", "", 0, ""),
            TxnOp::Catalog(Box::new(CatalogOp {
                target: CatalogTarget::Node,
                verb: CatalogVerb::Delete,
                node: "n1".into(),
                id: String::new(),
                register: RegisterRequest::default().into(),
                index: 0,
            })),
        ],
    );
    assert!(o.results.is_empty());
    assert_eq!(o.errors.len(), 1);
    assert_eq!(o.errors[0].0, 2);
    assert!(o.errors[0].1.contains("modify index"), "{o:?}");
    assert!(st.kv().get("new").is_none());
    assert_eq!(&*st.kv().get("x").unwrap().value, b"old");
    assert_eq!(
        st.kv().key_index("new"),
        1,
        "no tombstone or index left behind"
    );
    assert_eq!(st.kv().table_index(), 3);
    assert_eq!(st.history().len(), history, "nothing reached the history");
    assert!(
        st.catalog().node("n1").1.is_some(),
        "the catalog was put back"
    );
}

#[test]
fn every_kv_verb_does_what_consul_documents() {
    let mut st = store_with_node();
    st.apply(
        3,
        &Command::SessionCreate(Box::new(session("s", "release", &[], 0).into())),
    );
    let o = txn(
        &mut st,
        4,
        vec![
            kv(KvVerb::Set, "a/1", "one", 0, ""),
            kv(KvVerb::Cas, "a/2", "two", 0, ""),
            kv(KvVerb::CheckNotExists, "a/3", "", 0, ""),
            kv(KvVerb::Lock, "a/l", "held", 0, "s"),
            kv(KvVerb::Get, "a/1", "", 0, ""),
        ],
    );
    assert!(o.ok(), "{o:?}");
    assert_eq!(o.results.len(), 4, "check-not-exists has no result");
    match &o.results[3] {
        praetor_store::txn::TxnResult::Kv(k, e) => {
            assert_eq!((k.as_str(), &*e.value), ("a/1", &b"one"[..]))
        }
        other => panic!("{other:?}"),
    }
    match &o.results[0] {
        praetor_store::txn::TxnResult::Kv(_, e) => {
            assert!(e.value.is_empty(), "writes answer without the value")
        }
        other => panic!("{other:?}"),
    }
    let o = txn(
        &mut st,
        5,
        vec![
            kv(KvVerb::CheckIndex, "a/1", "", 4, ""),
            kv(KvVerb::CheckSession, "a/l", "", 0, "s"),
            kv(KvVerb::GetTree, "a/", "", 0, ""),
            kv(KvVerb::Cas, "a/1", "uno", 4, ""),
            kv(KvVerb::Unlock, "a/l", "free", 0, "s"),
            kv(KvVerb::DeleteCas, "a/2", "", 4, ""),
        ],
    );
    assert!(o.ok(), "{o:?}");
    assert_eq!(o.results.len(), 2 + 3 + 2);
    assert_eq!(&*st.kv().get("a/1").unwrap().value, b"uno");
    assert_eq!(st.kv().get("a/l").unwrap().session, None);
    assert!(st.kv().get("a/2").is_none());
    let o = txn(
        &mut st,
        6,
        vec![
            kv(KvVerb::Delete, "a/1", "", 0, ""),
            kv(KvVerb::DeleteTree, "a/", "", 0, ""),
        ],
    );
    assert!(o.ok() && o.results.is_empty());
    assert_eq!(st.kv().len(), 0);
    // Each failing verb says why, by operation index.
    st.apply(
        7,
        &Command::SessionCreate(Box::new(session("t", "release", &[], 0).into())),
    );
    txn(&mut st, 8, vec![kv(KvVerb::Lock, "l", "", 0, "s")]);
    let o = txn(
        &mut st,
        9,
        vec![
            kv(KvVerb::Cas, "l", "", 1, ""),
            kv(KvVerb::Lock, "l", "", 0, "t"),
            kv(KvVerb::Unlock, "l", "", 0, "t"),
            kv(KvVerb::Get, "missing", "", 0, ""),
            kv(KvVerb::CheckSession, "l", "", 0, "t"),
            kv(KvVerb::CheckNotExists, "l", "", 0, ""),
            kv(KvVerb::DeleteCas, "l", "", 1, ""),
            kv(KvVerb::Lock, "m", "", 0, "gone"),
        ],
    );
    let failed: Vec<usize> = o.errors.iter().map(|(i, _)| *i).collect();
    assert_eq!(failed, vec![0, 1, 2, 3, 4, 5, 6, 7], "{o:?}");
    assert_eq!(st.kv().get("l").unwrap().session.as_deref(), Some("s"));
}

#[test]
fn catalog_verbs_set_get_cas_and_delete() {
    let mut st = store_with_node();
    let op = |target, verb, id: &str, register: RegisterRequest, index| {
        TxnOp::Catalog(Box::new(CatalogOp {
            target,
            verb,
            node: "n1".into(),
            id: id.into(),
            register: register.into(),
            index,
        }))
    };
    let svc = RegisterRequest {
        node: "n1".into(),
        skip_node_update: true,
        service: Some(praetor_api::catalog::ServiceDefinition {
            id: "web1".into(),
            service: "web".into(),
            port: 80,
            ..Default::default()
        }),
        ..Default::default()
    };
    let o = txn(
        &mut st,
        3,
        vec![
            op(
                CatalogTarget::Service,
                CatalogVerb::Set,
                "web1",
                svc.clone(),
                0,
            ),
            op(
                CatalogTarget::Node,
                CatalogVerb::Get,
                "",
                RegisterRequest::default(),
                0,
            ),
            op(
                CatalogTarget::Check,
                CatalogVerb::Get,
                "app",
                RegisterRequest::default(),
                0,
            ),
        ],
    );
    assert!(o.ok(), "{o:?}");
    assert_eq!(st.catalog().service("n1", "web1").unwrap().port, 80);
    let o = txn(
        &mut st,
        4,
        vec![op(
            CatalogTarget::Service,
            CatalogVerb::Cas,
            "web1",
            svc.clone(),
            1,
        )],
    );
    assert!(o.errors[0].1.contains("stale"), "{o:?}");
    let o = txn(
        &mut st,
        5,
        vec![op(
            CatalogTarget::Service,
            CatalogVerb::DeleteCas,
            "web1",
            RegisterRequest::default(),
            3,
        )],
    );
    assert!(o.ok(), "{o:?}");
    assert!(st.catalog().service("n1", "web1").is_none());
    // Deleting a check through a txn invalidates the sessions on it.
    st.apply(
        6,
        &Command::SessionCreate(Box::new(session("s", "release", &["app"], 0).into())),
    );
    let o = txn(
        &mut st,
        7,
        vec![op(
            CatalogTarget::Check,
            CatalogVerb::Delete,
            "app",
            RegisterRequest::default(),
            0,
        )],
    );
    assert!(o.ok());
    assert!(st.sessions().get("s").is_none());
}

#[test]
fn sessions_and_lock_delays_survive_a_snapshot() {
    let mut st = store_with_node();
    st.apply(
        3,
        &at(
            10,
            Command::SessionCreate(Box::new(session("s", "release", &[], 1_000).into())),
        ),
    );
    st.apply(
        4,
        &at(
            10,
            Command::SessionCreate(Box::new(session("d", "release", &[], 1_000).into())),
        ),
    );
    st.apply(5, &at(10, acquire("k", "d")));
    st.apply(6, &at(20, Command::SessionDestroy { id: "d".into() }));
    let back = Store::decode_snapshot(&st.encode_snapshot().unwrap()).unwrap();
    assert!(back.sessions().get("s").is_some());
    assert_eq!(
        back.sessions().lock_delay("k"),
        Some(LockDelay {
            at_ms: 20,
            delay_ms: 1_000
        })
    );
    assert_eq!(back.clock_ms(), 20);
}

/// A prepared query bound to a session is deleted when the session is
/// invalidated (here by its check going critical), and the queries'
/// table is among the topics that write touched; one bound to a session
/// that does not exist is refused.
#[test]
fn a_session_bound_prepared_query_goes_with_its_session() {
    use praetor_store::query::{PreparedQuery, QueryCommand};
    use praetor_store::Table;
    let query = |n: u8, session: &str| {
        Command::PreparedQuery(QueryCommand::Create(PreparedQuery {
            id: format!("0000000{n}-0000-4000-8000-000000000000"),
            name: format!("q{n}"),
            session: session.into(),
            ..PreparedQuery::default()
        }))
    };
    let mut st = store_with_node();
    assert!(st
        .apply(
            3,
            &Command::SessionCreate(Box::new(session("s", "release", &["app"], 0).into()))
        )
        .ok());
    assert!(
        matches!(st.apply(4, &query(1, "missing")), Response::Refused(r) if r.contains("invalid session"))
    );
    assert!(st.apply(5, &query(1, "s")).ok());
    assert!(st.apply(6, &query(2, "")).ok());
    st.take_touched();
    st.apply(7, &check("app", "critical"));
    assert!(st.sessions().get("s").is_none());
    let left: Vec<_> = st.queries().list().map(|q| q.name.clone()).collect();
    assert_eq!(left, ["q2"]);
    assert_eq!(st.queries().index(), 7);
    assert!(st.take_touched().tables.contains(&Table::Queries));
}

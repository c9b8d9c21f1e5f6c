//! The derived indexes against the scans they replace: after any sequence
//! of commands the indexes equal a rebuild from scratch, and a store that
//! uses them ends in the same state, with the same answers, as one that
//! scans (`oracle`); and a catalog write looks only at its own node's
//! sessions.

use praetor_api::catalog::{
    CheckDefinition, DeregisterRequest, RegisterRequest, ServiceDefinition,
};
use praetor_api::session::{ServiceCheck, SessionEntry};
use proptest::prelude::*;

use super::oracle;
use crate::catalog::NodeHealth;
use crate::txn::{CatalogOp, CatalogTarget, CatalogVerb, KvOp, KvVerb, TxnOp};
use crate::{Command, Response, Store};

const NODES: [&str; 3] = ["n0", "n1", "n2"];
const CHECKS: [&str; 3] = ["c0", "c1", "serfHealth"];
const SESSIONS: [&str; 5] = ["s0", "s1", "s2", "s3", "s4"];
const KEYS: [&str; 6] = ["a/0", "a/1", "a/2", "b/0", "b/1", "c"];
/// Passing twice as often as the others, so sessions find healthy checks.
const STATUSES: [&str; 4] = ["passing", "passing", "warning", "critical"];

/// One step of a generated run.
#[derive(Debug, Clone)]
enum Step {
    /// Apply this command.
    Apply(Box<Command>),
    /// Expire a session at the index it was last renewed at (if it exists).
    Expire(usize),
    /// Replace the store by a decode of its own snapshot.
    RoundTrip,
    /// Apply a `Restore` of the store's own state.
    RestoreSelf,
}

fn register(node: &str, service: bool, checks: Vec<(String, String, String)>) -> RegisterRequest {
    RegisterRequest {
        node: node.into(),
        address: "10.0.0.1".into(),
        datacenter: "dc1".into(),
        service: service.then(|| ServiceDefinition {
            id: "web".into(),
            service: "web".into(),
            port: 80,
            ..ServiceDefinition::default()
        }),
        checks: checks
            .into_iter()
            .map(|(check_id, service_id, status)| CheckDefinition {
                check_id,
                name: String::new(),
                service_id,
                status,
                ..CheckDefinition::default()
            })
            .collect(),
        ..RegisterRequest::default()
    }
}

fn deregister(node: &str, service: bool, check: Option<&str>) -> DeregisterRequest {
    DeregisterRequest {
        node: node.into(),
        service_id: if service { "web".into() } else { String::new() },
        check_id: check.unwrap_or_default().into(),
        ..DeregisterRequest::default()
    }
}

fn pick<T: Clone + std::fmt::Debug + 'static>(of: &'static [T]) -> impl Strategy<Value = T> {
    (0..of.len()).prop_map(move |i| of[i].clone())
}

fn node_check() -> impl Strategy<Value = (String, String, String)> {
    (pick(&CHECKS), pick(&STATUSES)).prop_map(|(c, s)| (c.to_owned(), String::new(), s.to_owned()))
}

fn service_check() -> impl Strategy<Value = (String, String, String)> {
    pick(&STATUSES).prop_map(|s| ("svc".to_owned(), "web".to_owned(), s.to_owned()))
}

fn catalog_command() -> impl Strategy<Value = Command> {
    let health = pick(&["passing", "passing", "critical"][..]);
    let checks = proptest::collection::vec(prop_oneof![node_check(), service_check()], 0..3);
    let gone = proptest::option::of(pick(&["c0", "c1", "svc", "serfHealth"][..]));
    prop_oneof![
        3 => (pick(&NODES), health).prop_map(|(n, s)| {
            Command::NodeHealth(NodeHealth {
                node: n.into(),
                id: format!("id-{n}"),
                address: "10.0.0.1".into(),
                datacenter: "dc1".into(),
                status: s.into(),
                output: String::new(),
            })
        }),
        3 => (pick(&NODES), any::<bool>(), checks).prop_map(|(n, service, checks)| {
            Command::CatalogRegister(register(n, service, checks).into())
        }),
        1 => (pick(&NODES), any::<bool>(), gone).prop_map(|(n, service, check)| {
            Command::CatalogDeregister(deregister(n, service, check).into())
        }),
    ]
}

fn session_entry(
    id: &str,
    node: &str,
    node_checks: Option<Vec<String>>,
    service_check: bool,
    delete: bool,
    delay_ms: u64,
) -> SessionEntry {
    SessionEntry {
        id: id.into(),
        name: String::new(),
        node: node.into(),
        node_checks,
        service_checks: service_check.then(|| {
            vec![ServiceCheck {
                id: "svc".into(),
                namespace: String::new(),
            }]
        }),
        lock_delay: delay_ms * 1_000_000,
        behavior: if delete { "delete" } else { "release" }.into(),
        ttl: String::new(),
        create_index: 0,
        modify_index: 0,
    }
}

fn session_command() -> impl Strategy<Value = Command> {
    let checks = proptest::option::weighted(
        0.5,
        proptest::collection::vec(pick(&CHECKS).prop_map(str::to_owned), 0..3),
    );
    let create = (
        pick(&SESSIONS),
        // Mostly on one node, so one write often invalidates several.
        pick(&["n0", "n0", "n0", "n1", "n2"][..]),
        checks,
        proptest::bool::weighted(0.2),
        any::<bool>(),
        pick(&[0u64, 20, 50][..]),
    );
    prop_oneof![
        4 => create.prop_map(|(id, node, checks, service, delete, delay)| {
            Command::SessionCreate(Box::new(
                session_entry(id, node, checks, service, delete, delay).into(),
            ))
        }),
        1 => pick(&SESSIONS).prop_map(|id| Command::SessionDestroy { id: id.into() }),
        1 => pick(&SESSIONS).prop_map(|id| Command::SessionRenew { id: id.into() }),
    ]
}

fn kv_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (pick(&KEYS), pick(&SESSIONS)).prop_map(|(k, s)| Command::KvLock {
            key: k.into(),
            value: b"held".to_vec().into(),
            flags: 0,
            session: s.into(),
        }),
        (pick(&KEYS), pick(&SESSIONS)).prop_map(|(k, s)| Command::KvUnlock {
            key: k.into(),
            value: b"free".to_vec().into(),
            flags: 0,
            session: s.into(),
        }),
        pick(&KEYS).prop_map(|k| Command::KvSet {
            key: k.into(),
            value: b"set".to_vec().into(),
            flags: 0,
            cas: None,
        }),
        pick(&KEYS).prop_map(|k| Command::KvDelete {
            key: k.into(),
            cas: None
        }),
        pick(&["a/", "b/", ""][..]).prop_map(|p| Command::KvDeleteTree { prefix: p.into() }),
    ]
}

fn kv_op(verb: KvVerb, key: &str, session: &str) -> TxnOp {
    TxnOp::Kv(KvOp {
        verb,
        key: key.into(),
        value: b"txn".to_vec().into(),
        flags: 0,
        index: 0,
        session: session.into(),
    })
}

fn txn_op() -> impl Strategy<Value = TxnOp> {
    prop_oneof![
        (pick(&KEYS), pick(&SESSIONS)).prop_map(|(k, s)| kv_op(KvVerb::Lock, k, s)),
        (pick(&KEYS), pick(&SESSIONS)).prop_map(|(k, s)| kv_op(KvVerb::Unlock, k, s)),
        pick(&KEYS).prop_map(|k| kv_op(KvVerb::Delete, k, "")),
        pick(&KEYS).prop_map(|k| kv_op(KvVerb::Set, k, "")),
        (pick(&NODES), node_check()).prop_map(|(n, c)| {
            TxnOp::Catalog(Box::new(CatalogOp {
                target: CatalogTarget::Check,
                verb: CatalogVerb::Set,
                node: n.into(),
                id: c.0.clone(),
                register: RegisterRequest {
                    skip_node_update: true,
                    ..register(n, false, vec![c])
                }
                .into(),
                index: 0,
            }))
        }),
        (pick(&NODES), pick(&["c0", "c1", "serfHealth"][..])).prop_map(|(n, c)| {
            TxnOp::Catalog(Box::new(CatalogOp {
                target: CatalogTarget::Check,
                verb: CatalogVerb::Delete,
                node: n.into(),
                id: c.into(),
                register: RegisterRequest::default().into(),
                index: 0,
            }))
        }),
        pick(&NODES).prop_map(|n| {
            TxnOp::Catalog(Box::new(CatalogOp {
                target: CatalogTarget::Node,
                verb: CatalogVerb::Delete,
                node: n.into(),
                id: String::new(),
                register: RegisterRequest::default().into(),
                index: 0,
            }))
        }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => catalog_command().prop_map(|c| Step::Apply(Box::new(c))),
        4 => session_command().prop_map(|c| Step::Apply(Box::new(c))),
        5 => kv_command().prop_map(|c| Step::Apply(Box::new(c))),
        1 => proptest::collection::vec(txn_op(), 1..4)
            .prop_map(|ops| Step::Apply(Box::new(Command::Txn(ops)))),
        1 => (0..SESSIONS.len()).prop_map(Step::Expire),
        1 => Just(Step::RoundTrip),
        1 => Just(Step::RestoreSelf),
    ]
}

/// Turns the oracle's scanning on for as long as it lives, and off again
/// even when a failed assertion unwinds (proptest reruns on this thread).
struct Scanning;

impl Scanning {
    fn on() -> Self {
        oracle::set_scanning(true);
        Scanning
    }
}

impl Drop for Scanning {
    fn drop(&mut self) {
        oracle::set_scanning(false);
    }
}

/// Runs `step` at `index` on `store`, stamped with leader time `at_ms`,
/// and says what it answered.
fn run(store: &mut Store, index: u64, at_ms: u64, step: &Step) -> Response {
    let timed = |cmd: Command| Command::Timed {
        at_ms,
        cmd: Box::new(cmd),
    };
    match step {
        Step::Apply(cmd) => store.apply(index, &timed((**cmd).clone())),
        Step::Expire(i) => {
            let id = SESSIONS[*i];
            let renewed = store.sessions().get(id).map_or(0, |s| s.renewed);
            let cmd = Command::SessionExpire {
                id: id.into(),
                renewed,
            };
            store.apply(index, &timed(cmd))
        }
        Step::RoundTrip => {
            let bytes = store.encode_snapshot().expect("a store encodes");
            *store = Store::decode_snapshot(&bytes).expect("its own snapshot decodes");
            store.advance(index);
            Response::Applied(true)
        }
        Step::RestoreSelf => {
            let bytes = store.encode_state().expect("a store encodes");
            store.apply(index, &timed(Command::Restore(bytes)))
        }
    }
}

/// Every derived index of `store` equals a rebuild from scratch, and
/// answers as the scans it replaced do.
fn assert_indexes_match_scans(store: &Store) -> Result<(), TestCaseError> {
    prop_assert!(store.sessions().index_is_consistent());
    prop_assert!(store.kv().held_is_consistent());
    let unsupported = store.sessions().invalid_by_scan(store.catalog());
    prop_assert!(
        unsupported.is_empty(),
        "sessions left unsupported: {unsupported:?}"
    );
    for id in SESSIONS {
        prop_assert_eq!(store.kv().held_by(id), store.kv().held_by_scan(id));
    }
    for node in NODES {
        let by_scan: Vec<SessionEntry> = store
            .sessions()
            .iter()
            .filter(|s| s.entry.node == node)
            .map(|s| s.entry.clone().into())
            .collect();
        prop_assert_eq!(store.sessions().of_node(node).1, by_scan);
    }
    Ok(())
}

/// Every node registered with its service and every check passing: where
/// each run starts, so sessions can be created from the first step.
fn healthy_nodes() -> Vec<Step> {
    NODES
        .iter()
        .map(|n| {
            let checks = ["c0", "c1", "serfHealth"]
                .map(|c| (c.to_owned(), String::new(), "passing".to_owned()))
                .into_iter()
                .chain([("svc".to_owned(), "web".to_owned(), "passing".to_owned())])
                .collect();
            Step::Apply(Box::new(Command::CatalogRegister(
                register(n, true, checks).into(),
            )))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn indexes_equal_a_rebuild_and_the_store_answers_as_the_scanning_one(
        steps in proptest::collection::vec(step(), 1..80),
        // How far behind the steady clock each step's leader stamp is: a
        // leader's clock that lags or jumps back (lock-delays must be
        // forgotten by the index exactly when the scan forgets them).
        lags in proptest::collection::vec(pick(&[0u64, 0, 0, 40, 900][..]), 80),
    ) {
        let mut indexed = Store::new(50);
        let mut scanning = Store::new(50);
        let setup = healthy_nodes();
        for (i, step) in setup.iter().chain(&steps).enumerate() {
            let index = i as u64 + 1;
            let at_ms = 1_000 + index * 10 - lags.get(i).copied().unwrap_or(0);
            let answer = run(&mut indexed, index, at_ms, step);
            let expected = {
                let _scan = Scanning::on();
                run(&mut scanning, index, at_ms, step)
            };
            prop_assert_eq!(&answer, &expected, "step {} {:?}", i, step);
            assert_indexes_match_scans(&indexed)?;
            prop_assert_eq!(
                indexed.encode_snapshot().expect("encodes"),
                scanning.encode_snapshot().expect("encodes"),
                "state after step {} {:?}", i, step
            );
        }
    }
}

fn health(node: &str, status: &str) -> Command {
    Command::NodeHealth(NodeHealth {
        node: node.into(),
        id: format!("id-{node}"),
        address: "10.0.0.1".into(),
        datacenter: "dc1".into(),
        status: status.into(),
        output: String::new(),
    })
}

fn check(node: &str, id: &str, status: &str) -> Command {
    Command::CatalogRegister(
        register(node, false, vec![(id.into(), String::new(), status.into())]).into(),
    )
}

fn create(id: &str, node: &str, checks: &[&str]) -> Command {
    let checks = Some(checks.iter().map(|c| (*c).to_owned()).collect());
    Command::SessionCreate(Box::new(
        session_entry(id, node, checks, false, false, 0).into(),
    ))
}

/// A store with 1 000 sessions on node `busy`, each holding a key, and one
/// session on node `quiet` that names its check `q`.
fn store_with_a_busy_node() -> (Store, u64) {
    let mut st = Store::default();
    let mut index = 0;
    let mut apply = |st: &mut Store, cmd: Command| {
        index += 1;
        let r = st.apply(index, &cmd);
        assert!(r.ok(), "{cmd:?}: {r:?}");
    };
    apply(&mut st, health("busy", "passing"));
    apply(&mut st, health("quiet", "passing"));
    apply(&mut st, check("quiet", "q", "passing"));
    for i in 0..1_000 {
        let id = format!("busy-{i:04}");
        apply(&mut st, create(&id, "busy", &["serfHealth"]));
        apply(
            &mut st,
            Command::KvLock {
                key: format!("lock/{i:04}"),
                value: Vec::new().into(),
                flags: 0,
                session: id,
            },
        );
    }
    apply(&mut st, create("quiet-1", "quiet", &["q"]));
    (st, index)
}

#[test]
fn a_catalog_write_to_another_node_looks_at_none_of_the_busy_nodes_sessions() {
    let (mut st, mut index) = store_with_a_busy_node();
    oracle::take_visited();
    let mut apply = |st: &mut Store, cmd: Command| {
        index += 1;
        st.apply(index, &cmd)
    };

    apply(&mut st, check("quiet", "other", "critical"));
    assert_eq!(oracle::take_visited(), 0, "a check no session names");
    apply(&mut st, health("elsewhere", "passing"));
    assert_eq!(oracle::take_visited(), 0, "a node without sessions");
    let txn = Command::Txn(vec![TxnOp::Catalog(Box::new(CatalogOp {
        target: CatalogTarget::Node,
        verb: CatalogVerb::Delete,
        node: "elsewhere".into(),
        id: String::new(),
        register: RegisterRequest::default().into(),
        index: 0,
    }))]);
    apply(&mut st, txn);
    assert_eq!(oracle::take_visited(), 0, "a transaction on another node");
    assert!(!st.catalog().has_node("elsewhere"));
    apply(&mut st, check("quiet", "q", "critical"));
    assert_eq!(
        oracle::take_visited(),
        1,
        "only the session that names the check"
    );
    assert!(st.sessions().get("quiet-1").is_none());
    apply(
        &mut st,
        Command::CatalogDeregister(deregister("quiet", false, None).into()),
    );
    assert_eq!(oracle::take_visited(), 0);
    assert_eq!(st.sessions().len(), 1_000, "the busy node's sessions stay");

    // The scanning oracle looks at every session for the same write: the
    // count above is what the index saves.
    let _scan = Scanning::on();
    apply(&mut st, health("elsewhere", "critical"));
    assert_eq!(oracle::take_visited(), 1_000);
}

#[test]
fn invalidating_a_node_finds_its_sessions_and_their_keys_through_the_indexes() {
    let (mut st, index) = store_with_a_busy_node();
    oracle::take_visited();
    assert!(st.apply(index + 1, &health("busy", "critical")).ok());
    assert_eq!(oracle::take_visited(), 1_000);
    assert_eq!(st.sessions().len(), 1, "only quiet-1 is left");
    assert!(
        st.kv().list("lock/").all(|(_, e)| e.session.is_none()),
        "every key of the busy node's sessions was released"
    );
    assert!(st.kv().held_by("busy-0000").is_empty());
    assert!(st.kv().held_is_consistent());
    assert!(st.sessions().index_is_consistent());
}

#[test]
fn decoded_and_restored_stores_rebuild_the_indexes() {
    let (st, index) = store_with_a_busy_node();
    let bytes = st.encode_snapshot().expect("encodes");
    let decoded = Store::decode_snapshot(&bytes).expect("decodes");
    assert!(decoded.sessions().index_is_consistent());
    assert!(decoded.kv().held_is_consistent());
    assert_eq!(decoded.kv().held_by("busy-0007"), vec!["lock/0007"]);
    assert_eq!(decoded.sessions().of_node("busy").1.len(), 1_000);

    let mut restored = Store::default();
    let state = st.encode_state().expect("encodes");
    assert!(restored.apply(index, &Command::Restore(state)).ok());
    assert!(restored.sessions().index_is_consistent());
    assert!(restored.kv().held_is_consistent());
    assert_eq!(restored.kv().held_by("busy-0999"), vec!["lock/0999"]);
    assert_eq!(restored.sessions().of_node("quiet").1.len(), 1);
}

fn timed(at_ms: u64, cmd: Command) -> Command {
    Command::Timed {
        at_ms,
        cmd: Box::new(cmd),
    }
}

fn lock(key: &str, session: &str) -> Command {
    Command::KvLock {
        key: key.into(),
        value: Vec::new().into(),
        flags: 0,
        session: session.into(),
    }
}

fn create_with_delay(id: &str, delay_ms: u64) -> Command {
    Command::SessionCreate(Box::new(
        session_entry(id, "n0", None, false, false, delay_ms).into(),
    ))
}

#[test]
fn a_lock_delay_is_forgotten_exactly_when_it_ends() {
    let mut st = Store::default();
    let cmds = [
        timed(900, health("n0", "passing")),
        timed(900, create_with_delay("a", 50)),
        timed(900, create_with_delay("b", 0)),
        timed(900, lock("k", "a")),
        timed(1_000, Command::SessionDestroy { id: "a".into() }),
    ];
    for (i, cmd) in cmds.iter().enumerate() {
        assert!(st.apply(i as u64 + 1, cmd).ok(), "{cmd:?}");
    }
    assert_eq!(st.sessions().lock_delays(), 1);
    assert!(st.apply(6, &timed(1_049, lock("other", "b"))).ok());
    assert_eq!(st.sessions().lock_delays(), 1, "49 ms into a 50 ms delay");
    assert!(st.apply(7, &timed(1_050, lock("other", "b"))).ok());
    assert_eq!(st.sessions().lock_delays(), 0, "over at 50 ms");
    assert!(st.sessions().index_is_consistent());
}

#[test]
fn a_new_delay_on_a_key_replaces_the_old_one_in_the_index() {
    let mut st = Store::default();
    let cmds = [
        timed(900, health("n0", "passing")),
        timed(900, create_with_delay("a", 50)),
        timed(900, create_with_delay("b", 5)),
        timed(900, create_with_delay("c", 0)),
        timed(900, lock("k", "a")),
        timed(1_000, Command::SessionDestroy { id: "a".into() }),
        // A leader whose clock is 900 ms behind: outside the delay's
        // window, so b acquires k, and its own delay replaces a's.
        timed(100, lock("k", "b")),
        timed(100, Command::SessionDestroy { id: "b".into() }),
    ];
    for (i, cmd) in cmds.iter().enumerate() {
        assert!(st.apply(i as u64 + 1, cmd).ok(), "{cmd:?}");
    }
    let delay = st.sessions().lock_delay("k").expect("b's delay");
    assert_eq!((delay.at_ms, delay.delay_ms), (100, 5));
    assert!(st.sessions().index_is_consistent());
    assert!(st.apply(9, &timed(105, lock("other", "c"))).ok());
    assert_eq!(st.sessions().lock_delays(), 0, "b's delay is over at 105");
    assert!(st.sessions().index_is_consistent());
}

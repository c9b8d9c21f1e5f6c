use praetor_store::{Command, Store};

use super::*;

fn meta() -> ReadMeta {
    ReadMeta {
        known_leader: true,
        last_contact_ms: 0,
    }
}

fn wire(answer: WireAnswer) -> Answered<WireAnswer> {
    Answered {
        meta: meta(),
        index: 7,
        answer,
        filtered: false,
    }
}

fn store_with(key: &str, value: &[u8]) -> Store {
    let mut store = Store::new(100);
    store.apply(
        1,
        &Command::KvSet {
            key: key.into(),
            value: value.to_vec().into(),
            flags: 0,
            cas: None,
        },
    );
    store
}

/// One of every read, for the wire tests.
fn every_read() -> Vec<WireRead> {
    vec![
        KvGet { key: "k".into() }.into(),
        KvList {
            prefix: "p/".into(),
        }
        .into(),
        KvKeys {
            prefix: "p/".into(),
            separator: Some("/".into()),
        }
        .into(),
        CatalogNodes.into(),
        CatalogNode { name: "n1".into() }.into(),
        CatalogServices.into(),
        ServiceNodes {
            name: "web".into(),
            tag: Some("v1".into()),
        }
        .into(),
        HealthService {
            name: "web".into(),
            tag: None,
            passing: true,
        }
        .into(),
        ServiceChecks { name: "web".into() }.into(),
        ChecksInState {
            state: "any".into(),
        }
        .into(),
        NodeChecks { name: "n1".into() }.into(),
        Events {
            name: Some("deploy".into()),
        }
        .into(),
        Snapshot.into(),
        KvChanges {
            prefix: "p/".into(),
            from: 3,
            max: 10,
        }
        .into(),
        KvHistory {
            key: "k".into(),
            max: 5,
        }
        .into(),
        ServiceSummaries.into(),
        Sessions.into(),
        SessionInfo { id: "s".into() }.into(),
        NodeSessions { node: "n1".into() }.into(),
        TxnRead { ops: Vec::new() }.into(),
    ]
}

#[test]
fn an_answer_to_another_read_is_an_unexpected_answer_error() {
    let asked = KvGet { key: "k".into() };
    let got = answer_of(&asked, wire(WireAnswer::CatalogNodes(Vec::new())));
    match got {
        Err(ServerError::UnexpectedAnswer { asked, got }) => {
            assert_eq!((asked, got), ("KvGet", "CatalogNodes"));
        }
        other => panic!("a mismatched answer was taken: {other:?}"),
    }
}

#[test]
fn reads_with_the_same_answer_type_still_tell_their_answers_apart() {
    // Three reads answer `Vec<HealthCheck>`; the wire variant says which.
    let got = answer_of(
        &NodeChecks { name: "n1".into() },
        wire(WireAnswer::ServiceChecks(Vec::new())),
    );
    assert!(
        matches!(got, Err(ServerError::UnexpectedAnswer { .. })),
        "{got:?}"
    );
}

#[test]
fn the_read_own_answer_comes_back_typed_with_its_meta_and_index() {
    let store = store_with("k", b"v");
    let asked = KvGet { key: "k".into() };
    let (index, answer) = WireRead::from(asked.clone()).eval(&store);
    let got = answer_of(
        &asked,
        Answered {
            meta: meta(),
            index,
            answer,
            filtered: false,
        },
    )
    .expect("its own answer");
    assert_eq!(got.index, 1);
    assert_eq!(got.meta, meta());
    assert_eq!(got.answer.map(|e| e.value.to_vec()), Some(b"v".to_vec()));
}

#[test]
fn a_wire_read_evaluates_as_the_typed_read_it_carries() {
    let store = store_with("p/a", b"1");
    for read in every_read() {
        let (index, answer) = read.eval(&store);
        assert_eq!(answer.kind(), read.kind(), "{read:?}");
        // Evaluating twice gives the same answer: eval is pure.
        assert_eq!(read.eval(&store), (index, answer));
    }
    let typed = KvList {
        prefix: "p/".into(),
    };
    let (index, answer) = typed.eval(&store);
    assert_eq!(
        WireRead::from(typed).eval(&store),
        (index, WireAnswer::KvList(answer))
    );
}

#[test]
fn every_read_and_its_answer_survive_the_rpc_encoding() {
    let store = store_with("p/a", b"1");
    for read in every_read() {
        let opts = QueryOpts {
            index: 3,
            wait: Duration::from_secs(2),
            consistency: Consistency::Stale,
        };
        let req = crate::rpc::Request::Query(read.clone(), opts, crate::acl::Token::new("s"));
        let bytes = postcard::to_stdvec(&req).expect("encode");
        match postcard::from_bytes(&bytes).expect("decode") {
            crate::rpc::Request::Query(back, o, t) => {
                assert_eq!(
                    (back, o, t),
                    (read.clone(), opts, crate::acl::Token::new("s"))
                );
            }
            other => panic!("decoded as {other:?}"),
        }
        let (index, answer) = read.eval(&store);
        let reply = crate::rpc::Reply::Query(Ok(Answered {
            meta: meta(),
            index,
            answer: answer.clone(),
            filtered: false,
        }));
        let bytes = postcard::to_stdvec(&reply).expect("encode");
        match postcard::from_bytes(&bytes).expect("decode") {
            crate::rpc::Reply::Query(Ok(back)) => assert_eq!(back.answer, answer),
            other => panic!("decoded as {other:?}"),
        }
    }
}

#[test]
fn kv_changes_never_cut_between_two_changes_of_one_index() {
    let mut store = Store::new(100);
    let set = |key: &str| Command::KvSet {
        key: key.into(),
        value: b"v".to_vec().into(),
        flags: 0,
        cas: None,
    };
    store.apply(1, &set("p/a"));
    store.apply(2, &Command::Txn(Vec::new()));
    store.apply(3, &Command::Batch(vec![set("p/b"), set("p/c")]));
    store.apply(4, &set("p/d"));
    let read = KvChanges {
        prefix: "p/".into(),
        from: 1,
        max: 2,
    };
    let (index, answer) = read.eval(&store);
    let ChangesSince::Changes { changes, next, .. } = answer else {
        panic!("compacted: {answer:?}");
    };
    let indexes: Vec<u64> = changes.iter().map(|c| c.index).collect();
    assert!(indexes.ends_with(&[3, 3]), "{indexes:?}");
    assert_eq!((index, next), (3, 4));
}

/// A store with services on two nodes, node-level and service checks, a
/// user event and KV keys written and deleted.
fn busy_store() -> Store {
    use praetor_store::model::{CheckRegistration, EventRecord, Registration, ServiceRegistration};
    let mut store = Store::new(4);
    let register = |node: &str, name: &str, check: Option<CheckRegistration>| {
        Command::CatalogRegister(Registration {
            node: node.into(),
            address: "10.0.0.1".into(),
            service: Some(ServiceRegistration {
                id: name.into(),
                service: name.into(),
                tags: vec!["v1".into()],
                ..ServiceRegistration::default()
            }),
            check,
            ..Registration::default()
        })
    };
    let set = |key: &str| Command::KvSet {
        key: key.into(),
        value: b"v".to_vec().into(),
        flags: 0,
        cas: None,
    };
    let node_check = CheckRegistration {
        check_id: "serfHealth".into(),
        status: "critical".into(),
        ..CheckRegistration::default()
    };
    let service_check = CheckRegistration {
        check_id: "c".into(),
        service_id: "db".into(),
        status: "passing".into(),
        ..CheckRegistration::default()
    };
    let cmds = vec![
        register("n1", "web", None),
        register("n2", "db", Some(service_check)),
        set("p/a"),
        set("p/b/c"),
        Command::KvDelete {
            key: "p/a".into(),
            cas: None,
        },
        register("n1", "api", Some(node_check)),
        Command::EventFire(EventRecord {
            id: "e1".into(),
            name: "deploy".into(),
            payload: None,
            node_filter: String::new(),
            service_filter: String::new(),
            tag_filter: String::new(),
            version: 1,
            ltime: 0,
        }),
        set("q"),
        set("k"),
    ];
    for (i, cmd) in cmds.iter().enumerate() {
        store.apply(i as u64 + 10, cmd);
    }
    store
}

#[test]
fn the_index_a_read_tells_without_its_answer_is_the_index_of_its_answer() {
    let store = busy_store();
    let mut reads = every_read();
    for name in ["web", "db", "api", "none"] {
        reads.push(
            HealthService {
                name: name.into(),
                tag: None,
                passing: false,
            }
            .into(),
        );
        reads.push(
            ServiceNodes {
                name: name.into(),
                tag: None,
            }
            .into(),
        );
    }
    for prefix in ["", "p", "p/", "p/a", "p/b", "q", "x/"] {
        reads.push(
            KvList {
                prefix: prefix.into(),
            }
            .into(),
        );
    }
    for read in reads {
        if let Some(index) = read.index(&store) {
            assert_eq!(index, read.eval(&store).0, "{read:?}");
        }
    }
}

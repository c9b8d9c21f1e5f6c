//! KV values are shared bytes (`bytes::Bytes`) from the command to the
//! store and its history: applying a command shares its value's buffer
//! instead of copying it, and the encoding of a value is the one the Raft
//! log and snapshots always had (`Vec<u8>` in commands, `Arc<[u8]>` in
//! entries), so existing logs and snapshots read the same.

use std::sync::Arc;

use bytes::Bytes;
use praetor_store::txn::{KvOp, KvVerb, TxnOp};
use praetor_store::{Command, Entry, Store};

use crate::sessions::{at, session, store_with_node};

/// A value of `len` bytes in a buffer of its own.
fn value(len: usize) -> Bytes {
    Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>())
}

/// Whether `a` and `b` are views of the same memory (not equal copies).
fn same_buffer(a: &[u8], b: &[u8]) -> bool {
    a.as_ptr() == b.as_ptr() && a.len() == b.len()
}

/// The lengths around postcard's varint boundaries (1, 2 and 3 bytes).
const LENGTHS: [usize; 8] = [0, 1, 127, 128, 255, 16_383, 16_384, 70_000];

/// `kv::Entry` as it was before, with an `Arc<[u8]>` value.
#[derive(serde::Serialize, serde::Deserialize)]
struct OldEntry {
    value: Arc<[u8]>,
    flags: u64,
    create_index: u64,
    modify_index: u64,
    lock_index: u64,
    session: Option<String>,
}

/// `txn::KvOp` as it was before, with a `Vec<u8>` value.
#[derive(serde::Serialize)]
struct OldKvOp {
    verb: KvVerb,
    key: String,
    value: Vec<u8>,
    flags: u64,
    index: u64,
    session: String,
}

#[test]
fn entries_and_txn_ops_encode_as_they_did_with_arc_and_vec_values() {
    for len in LENGTHS {
        let v = value(len);
        let entry = Entry {
            value: v.clone(),
            flags: 1,
            create_index: 2,
            modify_index: 3,
            lock_index: 4,
            session: Some("s".into()),
        };
        let old = OldEntry {
            value: Arc::from(&v[..]),
            flags: 1,
            create_index: 2,
            modify_index: 3,
            lock_index: 4,
            session: Some("s".into()),
        };
        let bytes = postcard::to_stdvec(&entry).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&old).unwrap(), "len {len}");
        assert_eq!(postcard::from_bytes::<Entry>(&bytes).unwrap(), entry);
        let json = serde_json::to_string(&entry).unwrap();
        assert_eq!(json, serde_json::to_string(&old).unwrap(), "len {len}");
        assert_eq!(serde_json::from_str::<Entry>(&json).unwrap(), entry);

        let op = KvOp {
            verb: KvVerb::Cas,
            key: "k".into(),
            value: v.clone(),
            flags: 1,
            index: 2,
            session: "s".into(),
        };
        let old = OldKvOp {
            verb: KvVerb::Cas,
            key: "k".into(),
            value: v.to_vec(),
            flags: 1,
            index: 2,
            session: "s".into(),
        };
        let bytes = postcard::to_stdvec(&op).unwrap();
        assert_eq!(bytes, postcard::to_stdvec(&old).unwrap(), "len {len}");
        assert_eq!(postcard::from_bytes::<KvOp>(&bytes).unwrap(), op);
        let json = serde_json::to_string(&op).unwrap();
        assert_eq!(json, serde_json::to_string(&old).unwrap(), "len {len}");
        assert_eq!(serde_json::from_str::<KvOp>(&json).unwrap(), op);
    }
}

/// The `Command` as it was before values were `Bytes`: the same variants
/// in the same order up to the last KV one, with `Vec<u8>` values.
#[derive(serde::Serialize)]
#[allow(dead_code)]
enum OldCommand {
    KvSet {
        key: String,
        value: Vec<u8>,
        flags: u64,
        cas: Option<u64>,
    },
    KvDelete,
    KvDeleteTree,
    NodeHealth,
    CatalogRegister,
    CatalogDeregister,
    EventFire,
    Restore,
    Batch,
    SessionCreate,
    SessionDestroy,
    SessionRenew,
    SessionExpire,
    KvLock {
        key: String,
        value: Vec<u8>,
        flags: u64,
        session: String,
    },
    KvUnlock {
        key: String,
        value: Vec<u8>,
        flags: u64,
        session: String,
    },
}

#[test]
fn kv_commands_encode_as_they_did_with_vec_values() {
    for len in LENGTHS {
        let v = value(len);
        let pairs = [
            (
                Command::KvSet {
                    key: "k".into(),
                    value: v.clone(),
                    flags: 3,
                    cas: Some(9),
                },
                OldCommand::KvSet {
                    key: "k".into(),
                    value: v.to_vec(),
                    flags: 3,
                    cas: Some(9),
                },
            ),
            (
                Command::KvLock {
                    key: "k".into(),
                    value: v.clone(),
                    flags: 3,
                    session: "s".into(),
                },
                OldCommand::KvLock {
                    key: "k".into(),
                    value: v.to_vec(),
                    flags: 3,
                    session: "s".into(),
                },
            ),
            (
                Command::KvUnlock {
                    key: "k".into(),
                    value: v.clone(),
                    flags: 3,
                    session: "s".into(),
                },
                OldCommand::KvUnlock {
                    key: "k".into(),
                    value: v.to_vec(),
                    flags: 3,
                    session: "s".into(),
                },
            ),
        ];
        for (new, old) in pairs {
            let bytes = postcard::to_stdvec(&new).unwrap();
            assert_eq!(bytes, postcard::to_stdvec(&old).unwrap(), "{}", new.kind());
            assert_eq!(postcard::from_bytes::<Command>(&bytes).unwrap(), new);
        }
    }
}

#[test]
fn a_set_value_is_shared_by_the_command_the_entry_and_the_history() {
    let mut st = Store::default();
    let first = value(1000);
    let cmd = Command::KvSet {
        key: "k".into(),
        value: first.clone(),
        flags: 0,
        cas: None,
    };
    assert!(st.apply(1, &cmd).ok());
    let stored = &st.kv().get("k").unwrap().value;
    assert!(same_buffer(stored, &first), "the entry copied the value");
    let change = st.history().of_key("k", 1)[0];
    assert!(same_buffer(&change.entry.as_ref().unwrap().value, &first));

    // Overwritten, the old value stays shared as the change's previous one.
    let second = value(10);
    let cmd = Command::KvSet {
        key: "k".into(),
        value: second.clone(),
        flags: 0,
        cas: None,
    };
    assert!(st.apply(2, &cmd).ok());
    let change = st.history().of_key("k", 1)[0];
    assert!(same_buffer(&change.prev.as_ref().unwrap().value, &first));
    assert!(same_buffer(&change.entry.as_ref().unwrap().value, &second));
    assert!(same_buffer(&st.kv().get("k").unwrap().value, &second));
}

#[test]
fn lock_unlock_and_txn_values_are_shared_with_their_commands() {
    let mut st = store_with_node();
    let create = Command::SessionCreate(Box::new(session("s", "release", &[], 0).into()));
    assert!(st.apply(3, &at(1, create)).ok());

    let locked = value(64);
    let lock = Command::KvLock {
        key: "l".into(),
        value: locked.clone(),
        flags: 0,
        session: "s".into(),
    };
    assert!(st.apply(4, &at(2, lock)).ok());
    assert!(same_buffer(&st.kv().get("l").unwrap().value, &locked));

    let unlocked = value(65);
    let unlock = Command::KvUnlock {
        key: "l".into(),
        value: unlocked.clone(),
        flags: 0,
        session: "s".into(),
    };
    assert!(st.apply(5, &at(3, unlock)).ok());
    assert!(same_buffer(&st.kv().get("l").unwrap().value, &unlocked));

    let in_txn = value(66);
    let txn = Command::Txn(vec![TxnOp::Kv(KvOp {
        verb: KvVerb::Set,
        key: "t".into(),
        value: in_txn.clone(),
        flags: 0,
        index: 0,
        session: String::new(),
    })]);
    assert!(matches!(
        st.apply(6, &at(4, txn)),
        praetor_store::Response::Txn(ref o) if o.ok()
    ));
    assert!(same_buffer(&st.kv().get("t").unwrap().value, &in_txn));
}

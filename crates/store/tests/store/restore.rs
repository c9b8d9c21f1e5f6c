//! A snapshot restore in pieces (`Command::RestoreChunk` … `RestoreCommit`):
//! the pieces join into the state a `Restore` of the whole would give,
//! out-of-order or damaged pieces are refused and change nothing, and a
//! restore being staged survives a Raft snapshot of the store.

use praetor_store::{Command, Response, Store};

use super::set;

fn piece(id: u64, seq: u32, data: &[u8]) -> Command {
    Command::RestoreChunk {
        id,
        seq,
        data: data.to_vec().into(),
    }
}

fn commit(id: u64, state: &[u8]) -> Command {
    Command::RestoreCommit {
        id,
        size: state.len() as u64,
        crc32: crc32(state),
    }
}

/// CRC-32 (IEEE), bit by bit: the test's own, not the store's.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A store whose state is a few hundred bytes, saved.
fn saved_state() -> Vec<u8> {
    let mut old = Store::new(10);
    for i in 0..20 {
        old.apply(
            i + 1,
            &set(&format!("saved/{i:02}"), "value of some length"),
        );
    }
    old.encode_state().unwrap()
}

fn refused(r: Response) -> String {
    match r {
        Response::Refused(why) => why,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn pieces_then_a_commit_restore_what_one_restore_of_the_whole_does() {
    let state = saved_state();
    let mut whole = Store::new(10);
    whole.apply(1, &set("before", "x"));
    let mut pieces = whole.clone();

    assert!(whole.apply(2, &Command::Restore(state.clone())).ok());

    let mut index = 2;
    for (seq, part) in state.chunks(37).enumerate() {
        assert!(pieces.apply(index, &piece(9, seq as u32, part)).ok());
        index += 1;
        // Staged pieces change nothing a reader sees.
        assert_eq!(pieces.kv().keys("", None), vec!["before"]);
    }
    assert_eq!(pieces.restore_staged_bytes(), state.len() as u64);
    assert!(pieces.apply(index, &commit(9, &state)).ok());
    assert_eq!(pieces.restore_staged_bytes(), 0);
    assert_eq!(pieces.kv().keys("", None), whole.kv().keys("", None));
    assert_eq!(pieces.restored_at(), index);
    assert_eq!(
        format!("{:?}", pieces.kv().list("").collect::<Vec<_>>()),
        format!("{:?}", whole.kv().list("").collect::<Vec<_>>()),
        "the same entries, with the indexes they were saved with"
    );
}

#[test]
fn out_of_order_damaged_or_superseded_pieces_are_refused_and_change_nothing() {
    let state = saved_state();
    let (a, b) = state.split_at(100);
    let mut s = Store::new(10);
    s.apply(1, &set("live", "1"));

    // A piece that does not begin a restore has nothing to join.
    assert!(refused(s.apply(2, &piece(1, 1, a))).contains("no snapshot restore"));
    // A gap.
    assert!(s.apply(3, &piece(1, 0, a)).ok());
    assert!(refused(s.apply(4, &piece(1, 2, b))).contains("piece 2 arrived where piece 1"));
    // A commit whose size or checksum does not match unstages it.
    assert!(s.apply(5, &piece(1, 1, b)).ok());
    let mut wrong = commit(1, &state);
    if let Command::RestoreCommit { crc32, .. } = &mut wrong {
        *crc32 ^= 1;
    }
    assert!(refused(s.apply(6, &wrong)).contains("checksum"));
    assert_eq!(s.restore_staged_bytes(), 0);
    assert!(refused(s.apply(7, &commit(1, &state))).contains("no snapshot restore"));
    // Pieces that are not a state: the commit is refused with the reason.
    assert!(s.apply(8, &piece(2, 0, b"not a state")).ok());
    assert!(refused(s.apply(9, &commit(2, b"not a state"))).contains("cannot be read"));
    // A second restore drops the first.
    assert!(s.apply(10, &piece(3, 0, a)).ok());
    assert!(s.apply(11, &piece(4, 0, a)).ok());
    assert!(refused(s.apply(12, &piece(3, 1, b))).contains("another snapshot restore"));
    // An abort frees it; the wrong ID aborts nothing.
    assert!(!s.apply(13, &Command::RestoreAbort { id: 3 }).ok());
    assert!(s.apply(14, &Command::RestoreAbort { id: 4 }).ok());
    assert_eq!(s.restore_staged_bytes(), 0);
    // Too large a piece.
    let huge = vec![0u8; praetor_store::restore::MAX_CHUNK + 1];
    assert!(refused(s.apply(15, &piece(5, 0, &huge))).contains("at most"));

    assert_eq!(s.kv().keys("", None), vec!["live"], "nothing was restored");
    assert_eq!(s.restored_at(), 0);
}

#[test]
fn a_restore_being_staged_survives_a_snapshot_and_is_never_in_the_saved_state() {
    let state = saved_state();
    let (a, b) = state.split_at(150);
    let mut s = Store::new(10);
    s.apply(1, &set("live", "1"));
    assert!(s.apply(2, &piece(8, 0, a)).ok());

    let saved = s.encode_state().unwrap();
    assert_eq!(
        Store::decode_snapshot(&saved)
            .unwrap()
            .restore_staged_bytes(),
        0,
        "GET /v1/snapshot never carries a staged restore"
    );

    // A server restarting from a Raft snapshot taken between two pieces.
    let mut restarted = Store::decode_snapshot(&s.encode_snapshot().unwrap()).unwrap();
    assert_eq!(restarted.restore_staged_bytes(), a.len() as u64);
    assert!(restarted.apply(3, &piece(8, 1, b)).ok());
    assert!(restarted.apply(4, &commit(8, &state)).ok());
    assert_eq!(restarted.kv().len(), 20);
}

/// A commit decoded ahead of its apply (`staged_restore`, `decode`,
/// `apply_prepared`: what a server does off the store's lock) answers and
/// leaves the store exactly as its plain apply does, whether the commit
/// succeeds, is refused, or the restore staged changed after the decode.
#[test]
fn a_commit_decoded_ahead_answers_and_changes_what_its_apply_does() {
    let state = saved_state();
    let mut garbage = b"not a state".to_vec();
    garbage.resize(state.len(), 7);
    // (pieces staged, what happens between the decode and the commit, the commit)
    type Between = fn(&mut Store, u64);
    let nothing: Between = |_, _| {};
    let another: Between = |s, i| assert!(s.apply(i, &piece(10, 0, b"x")).ok());
    let abort: Between = |s, i| assert!(s.apply(i, &Command::RestoreAbort { id: 9 }).ok());
    let more: Between = |s, i| assert!(s.apply(i, &piece(9, 2, b"y")).ok());
    let mut wrong_crc = commit(9, &state);
    if let Command::RestoreCommit { crc32, .. } = &mut wrong_crc {
        *crc32 ^= 1;
    }
    let cases: Vec<(&[u8], Between, Command)> = vec![
        (&state, nothing, commit(9, &state)),
        (&state, nothing, wrong_crc),
        (&state, nothing, commit(9, &state[1..])),
        (&garbage, nothing, commit(9, &garbage)),
        (&state, another, commit(9, &state)),
        (&state, abort, commit(9, &state)),
        (&state, more, commit(9, &state)),
        (&state, nothing, commit(8, &state)),
    ];
    for (n, (staged, between, cmd)) in cases.into_iter().enumerate() {
        let mut store = Store::new(10);
        store.apply(1, &set("before", "x"));
        let half = staged.len() / 2;
        assert!(store.apply(2, &piece(9, 0, &staged[..half])).ok());
        assert!(store.apply(3, &piece(9, 1, &staged[half..])).ok());
        let prepared = store.staged_restore(9).map(|p| {
            let Command::RestoreCommit { size, crc32, .. } = cmd else {
                unreachable!()
            };
            p.decode(size, crc32)
        });
        between(&mut store, 4);
        let mut plain = store.clone();
        let expected = plain.apply(5, &cmd);
        let (answer, old) = match prepared {
            Some(p) => store.apply_prepared(5, &cmd, p),
            None => (store.apply(5, &cmd), None),
        };
        assert_eq!(format!("{answer:?}"), format!("{expected:?}"), "case {n}");
        assert_eq!(old.is_some(), answer.ok() && n == 0, "case {n}");
        assert_eq!(
            store.encode_state().unwrap(),
            plain.encode_state().unwrap(),
            "case {n}"
        );
        assert_eq!(
            store.restore_staged_bytes(),
            plain.restore_staged_bytes(),
            "case {n}"
        );
        assert_eq!(
            (store.last_index(), store.restored_at()),
            (plain.last_index(), plain.restored_at()),
            "case {n}"
        );
        // The next write lands the same on both.
        assert_eq!(
            format!("{:?}", store.apply(6, &set("after", "y"))),
            format!("{:?}", plain.apply(6, &set("after", "y")))
        );
        assert_eq!(
            store.encode_state().unwrap(),
            plain.encode_state().unwrap(),
            "case {n}"
        );
    }
}

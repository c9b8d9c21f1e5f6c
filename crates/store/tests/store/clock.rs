//! The store's clock (the leaders' stamps on `Command::Timed`) and the
//! lock-delays measured in it: a leader clock that jumps, or a stamp at
//! the end of the range, neither stretches a delay past its bound nor
//! turns delays off, and no arithmetic on stamps overflows.

use praetor_store::session::{LockDelay, MAX_LOCK_DELAY_MS};
use praetor_store::{Command, Store};
use proptest::prelude::*;

use crate::sessions::{acquire, at, session, store_with_node};

const DAY_MS: u64 = 86_400_000;
/// A plausible "now" (2026) in ms since the epoch.
const NOW: u64 = 1_780_000_000_000;

fn create(index: u64, stamp: u64, id: &str, delay_ms: u64) -> (u64, Command) {
    (
        index,
        at(
            stamp,
            Command::SessionCreate(Box::new(session(id, "release", &[], delay_ms).into())),
        ),
    )
}

fn destroy(id: &str) -> Command {
    Command::SessionDestroy { id: id.into() }
}

/// Applies `cmds` in order and returns whether the last one took effect.
fn run(st: &mut Store, cmds: &[(u64, Command)]) -> bool {
    cmds.iter()
        .map(|(i, c)| st.apply(*i, c).ok())
        .last()
        .unwrap_or(false)
}

#[test]
fn a_leader_clock_a_day_ahead_does_not_stretch_later_lock_delays() {
    let mut st = store_with_node();
    run(
        &mut st,
        &[
            create(3, NOW, "holder", 15_000),
            create(4, NOW, "next", 0),
            (5, at(NOW, acquire("k", "holder"))),
            // One leader's clock steps a day ahead, and it invalidates the holder.
            (6, at(NOW + DAY_MS, destroy("holder"))),
        ],
    );
    assert_eq!(st.clock_ms(), NOW + DAY_MS);
    // The next leader's clock is right: its stamps are not a day behind
    // the store's clock, and the delay stamped a day ahead does not block.
    assert!(
        st.apply(7, &at(NOW + 100, acquire("k", "next"))).ok(),
        "an acquire with a normal stamp is not held for a day"
    );
    assert_eq!(st.clock_ms(), NOW + 100, "the clock came back");

    // A holder invalidated after the jump gets its full delay, no more.
    run(
        &mut st,
        &[
            create(8, NOW + 200, "third", 0),
            (
                9,
                at(
                    NOW + 300,
                    Command::KvUnlock {
                        key: "k".into(),
                        value: Vec::new().into(),
                        flags: 0,
                        session: "next".into(),
                    },
                ),
            ),
            create(10, NOW + 300, "fourth", 15_000),
            (11, at(NOW + 400, acquire("k", "fourth"))),
            (12, at(NOW + 1_000, destroy("fourth"))),
        ],
    );
    assert!(
        !st.apply(13, &at(NOW + 1_000 + 14_999, acquire("k", "third")))
            .ok(),
        "within the delay"
    );
    assert!(
        st.apply(14, &at(NOW + 1_000 + 15_000, acquire("k", "third")))
            .ok(),
        "the delay ends on time"
    );
}

#[test]
fn a_lagging_leader_stretches_a_delay_to_at_most_twice_its_length() {
    let mut st = store_with_node();
    run(
        &mut st,
        &[
            create(3, NOW, "holder", 10_000),
            create(4, NOW, "next", 0),
            (5, at(NOW, acquire("k", "holder"))),
            (6, at(NOW, destroy("holder"))),
        ],
    );
    // The next leader's clock is 9.9 s behind: it waits for its own clock
    // to pass the window, about 2 × the delay of real time.
    let lag = 9_900;
    assert!(!st.apply(7, &at(NOW - lag, acquire("k", "next"))).ok());
    assert!(!st
        .apply(8, &at(NOW - lag + 19_899, acquire("k", "next")))
        .ok());
    assert!(st
        .apply(9, &at(NOW - lag + 19_900, acquire("k", "next")))
        .ok());
}

#[test]
fn a_timed_stamp_of_u64_max_neither_panics_nor_disables_lock_delays() {
    let mut st = store_with_node();
    run(
        &mut st,
        &[
            create(3, NOW, "a", 15_000),
            create(4, NOW, "b", 15_000),
            create(5, NOW, "c", 0),
            (6, at(NOW, acquire("x", "a"))),
            (7, at(NOW, acquire("y", "b"))),
        ],
    );
    // A forged stamp at the end of the range invalidates a holder.
    assert!(st.apply(8, &at(u64::MAX, destroy("a"))).ok());
    assert_eq!(
        st.sessions().lock_delay("x"),
        Some(LockDelay {
            at_ms: u64::MAX,
            delay_ms: 15_000
        })
    );
    assert_eq!(
        st.sessions().lock_delay("x").map(|d| d.until_ms()),
        Some(u64::MAX)
    );
    // It blocks acquires stamped near it, and only those.
    assert!(!st.apply(9, &at(u64::MAX, acquire("x", "c"))).ok());
    assert!(st.apply(10, &at(NOW + 10, acquire("x", "c"))).ok());
    // Lock-delays still work at normal stamps afterwards.
    assert!(st.apply(11, &at(NOW + 20, destroy("b"))).ok());
    assert!(
        !st.apply(12, &at(NOW + 30, acquire("y", "c"))).ok(),
        "the delay after the forged stamp holds"
    );
    assert!(st.apply(13, &at(NOW + 20 + 15_000, acquire("y", "c"))).ok());
    // And stamps at 0 are no trouble either.
    assert!(!st
        .apply(14, &at(0, Command::SessionDestroy { id: "gone".into() }))
        .ok());
    assert_eq!(st.clock_ms(), 0);
}

#[test]
fn a_lock_delay_is_clamped_to_consuls_maximum() {
    let mut st = store_with_node();
    run(
        &mut st,
        &[
            // u64::MAX ns: a forged session that would hold keys for ages.
            (
                3,
                at(
                    NOW,
                    Command::SessionCreate(Box::new(
                        ({
                            let mut s = session("a", "release", &[], 0);
                            s.lock_delay = u64::MAX;
                            s
                        })
                        .into(),
                    )),
                ),
            ),
            create(4, NOW, "b", 0),
            (5, at(NOW, acquire("k", "a"))),
            (6, at(NOW, destroy("a"))),
        ],
    );
    assert_eq!(
        st.sessions().lock_delay("k").map(|d| d.delay_ms),
        Some(MAX_LOCK_DELAY_MS)
    );
    assert!(!st
        .apply(7, &at(NOW + MAX_LOCK_DELAY_MS - 1, acquire("k", "b")))
        .ok());
    assert!(st
        .apply(8, &at(NOW + MAX_LOCK_DELAY_MS, acquire("k", "b")))
        .ok());
}

#[test]
fn delays_that_are_over_are_forgotten() {
    let mut st = store_with_node();
    let mut index = 3;
    for i in 0..50 {
        let id = format!("s{i}");
        let key = format!("k{i}");
        run(
            &mut st,
            &[
                create(index, NOW + i, &id, 1_000),
                (index + 1, at(NOW + i, acquire(&key, &id))),
                (index + 2, at(NOW + i, destroy(&id))),
            ],
        );
        index += 3;
    }
    assert_eq!(st.sessions().lock_delays(), 50);
    run(&mut st, &[create(index, NOW + 2_000, "late", 1_000)]);
    assert!(st
        .apply(index + 1, &at(NOW + 2_000, acquire("k0", "late")))
        .ok());
    assert_eq!(st.sessions().lock_delays(), 0);
}

/// The bytes of `depth` commands nested in one another (`Timed` in
/// `Timed`), as postcard encodes them.
fn nested_bytes(depth: usize) -> Vec<u8> {
    let leaf = Command::KvDeleteTree {
        prefix: String::new(),
    };
    let leaf_bytes = postcard::to_stdvec(&leaf).unwrap();
    let one = postcard::to_stdvec(&at(0, leaf)).unwrap();
    let prefix = &one[..one.len() - leaf_bytes.len()];
    let mut bytes = prefix.repeat(depth);
    bytes.extend_from_slice(&leaf_bytes);
    bytes
}

#[test]
fn deeply_nested_commands_fail_to_decode_instead_of_overflowing_the_stack() {
    let ok: Command = postcard::from_bytes(&nested_bytes(2)).unwrap();
    assert_eq!(ok.kind(), "kv_delete_tree");
    assert!(postcard::from_bytes::<Command>(&nested_bytes(
        praetor_store::command::MAX_NESTING as usize
    ))
    .is_ok());
    let err = postcard::from_bytes::<Command>(&nested_bytes(
        praetor_store::command::MAX_NESTING as usize + 1,
    ));
    assert!(err.is_err(), "{err:?}");
    // A megabyte of nesting: an error, not an aborted process.
    assert!(postcard::from_bytes::<Command>(&nested_bytes(500_000)).is_err());
    // The guard unwinds: a normal command decodes afterwards.
    assert!(postcard::from_bytes::<Command>(&nested_bytes(1)).is_ok());
    // Batches nest the same way.
    let mut batch = Command::KvDeleteTree {
        prefix: String::new(),
    };
    for _ in 0..20 {
        batch = Command::Batch(vec![batch]);
    }
    let bytes = postcard::to_stdvec(&batch).unwrap();
    assert!(postcard::from_bytes::<Command>(&bytes).is_err());
}

/// Stamps anywhere in the range, with the ends and the present likely.
fn stamp() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        Just(u64::MAX),
        Just(u64::MAX - 1),
        (NOW - DAY_MS)..(NOW + DAY_MS),
        any::<u64>(),
    ]
}

proptest! {
    /// Whatever stamps came before (any values, in any order), an acquire
    /// right after an invalidation stamped `s` with delay `d` (clamped to
    /// 60 s) is refused exactly when its stamp is within `d` of `s`, and
    /// nothing panics.
    #[test]
    fn an_acquire_is_refused_only_within_the_delay_of_the_invalidation(
        history in proptest::collection::vec(stamp(), 0..8),
        s in stamp(),
        t in stamp(),
        delay_ns in prop_oneof![Just(0u64), Just(u64::MAX), 0u64..120_000_000_000],
    ) {
        let mut st = store_with_node();
        let mut index = 3;
        for h in &history {
            st.apply(index, &at(*h, Command::KvSet {
                key: "other".into(), value: Vec::new().into(), flags: 0, cas: None,
            }));
            index += 1;
        }
        let mut holder = session("holder", "release", &[], 0);
        holder.lock_delay = delay_ns;
        st.apply(index, &at(s, Command::SessionCreate(Box::new(holder.into()))));
        st.apply(index + 1, &at(s, Command::SessionCreate(Box::new(session("next", "release", &[], 0).into()))));
        prop_assert!(st.apply(index + 2, &at(s, acquire("k", "holder"))).ok());
        prop_assert!(st.apply(index + 3, &at(s, destroy("holder"))).ok());
        let d = (delay_ns / 1_000_000).min(MAX_LOCK_DELAY_MS);
        let refused = !st.apply(index + 4, &at(t, acquire("k", "next"))).ok();
        prop_assert_eq!(refused, t.abs_diff(s) < d, "s={} t={} d={}", s, t, d);
    }

    /// `LockDelay`'s arithmetic saturates: no stamp or delay overflows.
    #[test]
    fn lock_delay_arithmetic_saturates(at_ms in stamp(), delay_ms in any::<u64>(), now in stamp()) {
        let d = LockDelay { at_ms, delay_ms };
        prop_assert!(d.until_ms() >= at_ms);
        let exact = u128::from(at_ms) + u128::from(delay_ms);
        prop_assert_eq!(u128::from(d.until_ms()), exact.min(u128::from(u64::MAX)));
        prop_assert_eq!(d.blocks(now), now.abs_diff(at_ms) < delay_ms);
    }
}

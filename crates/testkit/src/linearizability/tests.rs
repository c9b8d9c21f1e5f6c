use proptest::prelude::*;

use std::collections::HashMap;

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn op(id: u64, call: Call, outcome: Outcome, from: u64, to: u64) -> Op {
    Op {
        id,
        key: "k".into(),
        call,
        outcome,
        invoke: ms(from),
        complete: ms(to),
        label: format!("op {id}"),
    }
}

fn write(id: u64, v: &str, outcome: Outcome, from: u64, to: u64) -> Op {
    op(id, Call::Write { value: v.into() }, outcome, from, to)
}

fn read(id: u64, v: Option<&str>, from: u64, to: u64) -> Op {
    op(
        id,
        Call::Read,
        Outcome::Read(v.map(str::to_owned)),
        from,
        to,
    )
}

fn cas(id: u64, expect: Option<&str>, new: &str, outcome: Outcome, from: u64, to: u64) -> Op {
    let call = Call::Cas {
        expect: expect.map(str::to_owned),
        new: new.into(),
    };
    op(id, call, outcome, from, to)
}

fn verdict(ops: &[Op]) -> Verdict {
    let report = check(ops, Limits::default());
    assert_eq!(report.keys.len(), 1, "{report:?}");
    report.keys[0].verdict.clone()
}

fn counterexample(ops: &[Op]) -> Counterexample {
    match verdict(ops) {
        Verdict::NotLinearizable(c) => *c,
        other => panic!("expected a counterexample, got {other:?}"),
    }
}

#[test]
fn an_empty_history_is_linearizable() {
    assert!(check(&[], Limits::default()).all_linearizable());
}

#[test]
fn a_read_before_any_write_sees_the_key_absent() {
    let h = [read(1, None, 0, 1), write(2, "a", Outcome::Written, 2, 3)];
    assert_eq!(verdict(&h), Verdict::Linearizable);
    let h = [
        read(1, Some("a"), 0, 1),
        write(2, "a", Outcome::Written, 2, 3),
    ];
    assert!(matches!(verdict(&h), Verdict::NotLinearizable(_)));
}

#[test]
fn sequential_writes_and_reads_are_linearizable() {
    let h = [
        write(1, "a", Outcome::Written, 0, 10),
        read(2, Some("a"), 11, 20),
        write(3, "b", Outcome::Written, 21, 30),
        read(4, Some("b"), 31, 40),
    ];
    assert_eq!(verdict(&h), Verdict::Linearizable);
}

#[test]
fn a_read_concurrent_with_a_write_may_see_either_value() {
    for seen in ["a", "b"] {
        let h = [
            write(1, "a", Outcome::Written, 0, 10),
            write(2, "b", Outcome::Written, 20, 40),
            read(3, Some(seen), 25, 35),
        ];
        assert_eq!(verdict(&h), Verdict::Linearizable, "read {seen}");
    }
}

#[test]
fn a_stale_read_after_a_completed_write_is_rejected_and_named() {
    let h = [
        write(1, "a", Outcome::Written, 0, 10),
        write(2, "b", Outcome::Written, 20, 30),
        read(3, Some("a"), 40, 50),
    ];
    let c = counterexample(&h);
    assert_eq!(c.stuck, 3, "{c:?}");
    assert_eq!(c.value.as_deref(), Some("b"), "{c:?}");
    assert_eq!(c.prefix, vec![1, 2]);
    let report = check(&h, Limits::default());
    let text = report.keys[0].explain(&h);
    assert!(
        text.contains("NOT linearizable") && text.contains("#3") && text.contains("proven stale"),
        "{text}"
    );
    let stale = stale_reads(&h);
    assert_eq!(
        stale,
        vec![StaleRead {
            read: 3,
            writer: Some(1),
            newer: 2
        }]
    );
}

#[test]
fn reads_that_go_back_in_time_are_rejected() {
    // Two concurrent writes; a later read sees b, a read after that sees a.
    let h = [
        write(1, "a", Outcome::Written, 0, 50),
        write(2, "b", Outcome::Written, 0, 50),
        read(3, Some("b"), 60, 70),
        read(4, Some("a"), 80, 90),
    ];
    assert!(matches!(verdict(&h), Verdict::NotLinearizable(_)));
    // Overlapping reads may disagree that way while the writes run.
    let h = [
        write(1, "a", Outcome::Written, 0, 50),
        write(2, "b", Outcome::Written, 0, 50),
        read(3, Some("b"), 10, 20),
        read(4, Some("a"), 30, 40),
    ];
    assert_eq!(verdict(&h), Verdict::Linearizable);
}

#[test]
fn an_unknown_write_may_have_been_applied_late() {
    // The client gave up at 20; a read long after sees the value.
    let h = [
        write(1, "a", Outcome::Written, 0, 10),
        write(2, "b", Outcome::Unknown, 11, 20),
        read(3, Some("a"), 30, 40),
        read(4, Some("b"), 1000, 1010),
    ];
    assert_eq!(verdict(&h), Verdict::Linearizable);
}

#[test]
fn an_unknown_write_may_never_have_been_applied() {
    let h = [
        write(1, "a", Outcome::Written, 0, 10),
        write(2, "b", Outcome::Unknown, 11, 20),
        read(3, Some("a"), 1000, 1010),
    ];
    assert_eq!(verdict(&h), Verdict::Linearizable);
}

#[test]
fn an_unknown_write_once_seen_cannot_be_unapplied() {
    let h = [
        write(1, "a", Outcome::Written, 0, 10),
        write(2, "b", Outcome::Unknown, 11, 20),
        read(3, Some("b"), 30, 40),
        read(4, Some("a"), 50, 60),
    ];
    assert!(matches!(verdict(&h), Verdict::NotLinearizable(_)));
}

#[test]
fn an_unknown_write_cannot_take_effect_before_it_was_sent() {
    let h = [
        write(1, "a", Outcome::Written, 0, 10),
        read(2, Some("b"), 20, 30),
        write(3, "b", Outcome::Unknown, 40, 50),
    ];
    assert!(matches!(verdict(&h), Verdict::NotLinearizable(_)));
}

#[test]
fn a_failed_write_must_not_be_seen() {
    let h = [
        write(1, "a", Outcome::Written, 0, 10),
        write(2, "b", Outcome::Failed, 11, 20),
        read(3, Some("b"), 30, 40),
    ];
    let c = counterexample(&h);
    assert_eq!(c.stuck, 3);
}

#[test]
fn unknown_reads_constrain_nothing() {
    let h = [
        write(1, "a", Outcome::Written, 0, 10),
        op(2, Call::Read, Outcome::Unknown, 20, 30),
    ];
    let report = check(&h, Limits::default());
    assert!(report.all_linearizable());
    assert_eq!(report.keys[0].dropped, 1);
}

#[test]
fn a_cas_swaps_only_from_the_expected_value() {
    let ok = [
        write(1, "a", Outcome::Written, 0, 10),
        cas(2, Some("a"), "b", Outcome::Swapped(true), 20, 30),
        read(3, Some("b"), 40, 50),
    ];
    assert_eq!(verdict(&ok), Verdict::Linearizable);
    let wrong = [
        write(1, "a", Outcome::Written, 0, 10),
        cas(2, Some("x"), "b", Outcome::Swapped(true), 20, 30),
    ];
    assert!(matches!(verdict(&wrong), Verdict::NotLinearizable(_)));
    let on_absent = [cas(1, None, "a", Outcome::Swapped(true), 0, 10)];
    assert_eq!(verdict(&on_absent), Verdict::Linearizable);
}

#[test]
fn a_cas_reported_false_while_the_register_held_its_value_is_rejected() {
    let h = [
        write(1, "a", Outcome::Written, 0, 10),
        cas(2, Some("a"), "b", Outcome::Swapped(false), 20, 30),
        read(3, Some("a"), 40, 50),
    ];
    let c = counterexample(&h);
    assert!(
        c.candidates
            .iter()
            .any(|(id, why)| *id == 2 && why.contains("did not swap")),
        "{c:?}"
    );
}

#[test]
fn a_cas_reported_false_but_applied_is_rejected() {
    // The misreported CAS: "false", yet its value shows up.
    let h = [
        write(1, "a", Outcome::Written, 0, 10),
        cas(2, Some("a"), "b", Outcome::Swapped(false), 20, 30),
        read(3, Some("b"), 40, 50),
    ];
    assert!(matches!(verdict(&h), Verdict::NotLinearizable(_)));
}

#[test]
fn a_failed_cas_is_explained_by_a_concurrent_unknown_write() {
    // Nothing read c, but the unknown write of c may be why the CAS from a
    // did not swap; it must not be left out.
    let h = [
        write(1, "a", Outcome::Written, 0, 10),
        write(2, "c", Outcome::Unknown, 15, 25),
        cas(3, Some("a"), "b", Outcome::Swapped(false), 20, 30),
        write(4, "d", Outcome::Written, 40, 50),
        read(5, Some("d"), 60, 70),
    ];
    let report = check(&h, Limits::default());
    assert!(report.all_linearizable(), "{report:?}");
    assert_eq!(report.keys[0].dropped, 0);
}

#[test]
fn an_unknown_cas_applies_only_from_its_expected_value() {
    let applied = [
        write(1, "a", Outcome::Written, 0, 10),
        cas(2, Some("a"), "b", Outcome::Unknown, 20, 30),
        read(3, Some("b"), 100, 110),
    ];
    assert_eq!(verdict(&applied), Verdict::Linearizable);
    let impossible = [
        write(1, "a", Outcome::Written, 0, 10),
        cas(2, Some("x"), "b", Outcome::Unknown, 20, 30),
        read(3, Some("b"), 100, 110),
    ];
    assert!(matches!(verdict(&impossible), Verdict::NotLinearizable(_)));
}

#[test]
fn a_write_applied_twice_is_rejected() {
    // A retried write applied again after another write: its value comes
    // back.
    let h = [
        write(1, "a", Outcome::Written, 0, 10),
        write(2, "b", Outcome::Written, 20, 30),
        read(3, Some("b"), 40, 50),
        read(4, Some("a"), 60, 70),
    ];
    assert!(matches!(verdict(&h), Verdict::NotLinearizable(_)));
}

#[test]
fn keys_are_checked_separately() {
    let mut h = vec![
        write(1, "a", Outcome::Written, 0, 10),
        read(2, Some("a"), 20, 30),
    ];
    let mut other = write(3, "x", Outcome::Written, 0, 10);
    other.key = "j".into();
    h.push(other);
    let mut stale = read(4, None, 20, 30);
    stale.key = "j".into();
    h.push(stale);
    let report = check(&h, Limits::default());
    assert_eq!(report.keys.len(), 2);
    assert_eq!(report.keys[0].key, "j");
    assert!(matches!(
        report.keys[0].verdict,
        Verdict::NotLinearizable(_)
    ));
    assert_eq!(report.keys[1].verdict, Verdict::Linearizable);
    assert_eq!(report.failures().count(), 1);
}

#[test]
fn an_outcome_that_does_not_fit_its_call_is_malformed() {
    let h = [op(1, Call::Read, Outcome::Written, 0, 1)];
    assert!(matches!(verdict(&h), Verdict::Malformed { op: 1, .. }));
    let h = [write(1, "a", Outcome::Written, 10, 5)];
    assert!(matches!(verdict(&h), Verdict::Malformed { op: 1, .. }));
}

#[test]
fn a_search_without_budget_gives_up_instead_of_hanging() {
    // Many concurrent unknown writes, all observed, and a read no order
    // explains: the search must explore many subsets.
    let mut h = Vec::new();
    for i in 0..40u64 {
        h.push(write(i, &format!("v{i}"), Outcome::Unknown, 0, 1));
        h.push(read(100 + i, Some(&format!("v{i}")), 10 + i, 10 + i));
    }
    h.push(read(999, Some("nobody"), 200, 201));
    let limits = Limits {
        budget: Duration::ZERO,
        max_states: 1_000_000,
    };
    let report = check(&h, limits);
    assert!(
        matches!(report.keys[0].verdict, Verdict::GaveUp { .. }),
        "{report:?}"
    );
    let limits = Limits {
        budget: Duration::from_secs(60),
        max_states: 10,
    };
    let report = check(&h, limits);
    match &report.keys[0].verdict {
        Verdict::GaveUp { why, .. } => assert!(why.contains("cache limit"), "{why}"),
        Verdict::NotLinearizable(_) => {} // found before the cache filled
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_large_linearizable_history_is_checked_quickly() {
    // 20 000 operations by 8 overlapping clients of a sequential register.
    let h = sequential_history(20_000, 8, 7);
    let started = Instant::now();
    let report = check(&h, Limits::default());
    assert!(report.all_linearizable(), "{:?}", report.keys[0].verdict);
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn one_stale_read_in_a_large_history_is_found_quickly() {
    // 5 000 operations by 8 overlapping clients, then a read of the first
    // value written, long after: every order must be refuted.
    let mut h = sequential_history(5_000, 8, 11);
    let first = h
        .iter()
        .find_map(|o| match &o.call {
            Call::Write { value } => Some(value.clone()),
            _ => None,
        })
        .unwrap();
    h.push(read(99_999, Some(&first), 10_000_000, 10_000_001));
    let started = Instant::now();
    let report = check(&h, Limits::default());
    let c = match &report.keys[0].verdict {
        Verdict::NotLinearizable(c) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!(c.stuck, 99_999);
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// A deterministic history of a sequential register: op `i` takes effect at
/// `10 * i` ms, its call and return drawn around that point, so the history
/// is linearizable by construction. `procs` bounds how far intervals reach.
fn sequential_history(n: u64, procs: u64, seed: u64) -> Vec<Op> {
    let mut rng = seed;
    let mut next = move |m: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m.max(1)
    };
    let mut value: Option<String> = None;
    let mut h = Vec::new();
    for i in 0..n {
        let at = 10 * i + 1000;
        let from = at - next(10 * procs);
        let to = at + next(10 * procs);
        let o = match next(3) {
            0 => read(i, value.as_deref(), from, to),
            1 => {
                let v = format!("v{i}");
                value = Some(v.clone());
                write(i, &v, Outcome::Written, from, to)
            }
            _ => {
                let swapped = next(2) == 0;
                let expect = if swapped {
                    value.clone()
                } else {
                    Some("zz".into())
                };
                let new = format!("v{i}");
                if swapped {
                    value = Some(new.clone());
                }
                cas(
                    i,
                    expect.as_deref(),
                    &new,
                    Outcome::Swapped(swapped),
                    from,
                    to,
                )
            }
        };
        h.push(o);
    }
    h
}

/// One operation of a generated sequential run.
#[derive(Debug, Clone)]
enum Gen {
    Read,
    Write,
    /// Expect the current value (true) or an old one.
    Cas(bool),
}

#[derive(Debug, Clone)]
struct Drawn {
    kind: Gen,
    /// How far before its point the call is (ms).
    before: u64,
    /// How far after its point the return is (ms).
    after: u64,
    /// 0: completed; 1: unknown and applied; 2: unknown and not applied;
    /// 3: failed (writes only; not applied).
    fate: u8,
}

fn drawn() -> impl Strategy<Value = Drawn> {
    (
        prop_oneof![
            Just(Gen::Read),
            Just(Gen::Write),
            any::<bool>().prop_map(Gen::Cas)
        ],
        0u64..60,
        0u64..60,
        prop_oneof![6 => Just(0u8), 1 => Just(1u8), 1 => Just(2u8), 1 => Just(3u8)],
    )
        .prop_map(|(kind, before, after, fate)| Drawn {
            kind,
            before,
            after,
            fate,
        })
}

/// Runs the drawn operations against a sequential register, each taking
/// effect at its own point (`20 * i` ms), and records what a client would
/// have seen, with intervals around the points.
fn record(drawn: &[Drawn]) -> Vec<Op> {
    let mut value: Option<String> = None;
    let mut written: Vec<String> = Vec::new();
    let mut h = Vec::new();
    for (i, d) in drawn.iter().enumerate() {
        let id = i as u64;
        let at = 20 * id + 100;
        let (from, to) = (at - d.before, at + d.after);
        let new = format!("v{i}");
        let o = match d.kind {
            Gen::Read => {
                if d.fate == 0 {
                    read(id, value.as_deref(), from, to)
                } else {
                    op(id, Call::Read, Outcome::Unknown, from, to)
                }
            }
            Gen::Write => {
                let outcome = match d.fate {
                    0 => Outcome::Written,
                    1 | 2 => Outcome::Unknown,
                    _ => Outcome::Failed,
                };
                if d.fate <= 1 {
                    value = Some(new.clone());
                    written.push(new.clone());
                }
                write(id, &new, outcome, from, to)
            }
            Gen::Cas(current) => {
                let expect = if current || written.is_empty() {
                    value.clone()
                } else {
                    written.first().cloned()
                };
                let swaps = expect == value;
                let outcome = match d.fate {
                    0 => Outcome::Swapped(swaps),
                    1 | 2 => Outcome::Unknown,
                    _ => Outcome::Failed,
                };
                if swaps && d.fate <= 1 {
                    value = Some(new.clone());
                    written.push(new.clone());
                }
                cas(id, expect.as_deref(), &new, outcome, from, to)
            }
        };
        h.push(o);
    }
    h
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn histories_of_a_sequential_register_are_always_accepted(
        drawn in prop::collection::vec(drawn(), 0..120)
    ) {
        let h = record(&drawn);
        let report = check(&h, Limits::default());
        let k = report.keys.first();
        prop_assert!(
            report.all_linearizable(),
            "{}",
            k.map(|k| k.explain(&h)).unwrap_or_default()
        );
    }

    #[test]
    fn a_read_of_a_value_nobody_wrote_is_always_rejected(
        drawn in prop::collection::vec(drawn(), 1..80),
        at in 0usize..80,
    ) {
        let mut h = record(&drawn);
        let at = at % h.len();
        h[at] = read(h[at].id, Some("never written"), 20 * at as u64 + 90, 20 * at as u64 + 110);
        let report = check(&h, Limits::default());
        prop_assert!(
            matches!(report.keys[0].verdict, Verdict::NotLinearizable(_)),
            "{:?}",
            report.keys[0].verdict
        );
    }
}

/// Whether some order of the completed operations and of a subset of the
/// unknown ones, consistent with real time, explains every answer: the
/// definition, by brute force, for small histories.
fn brute_force(ops: &[Op]) -> bool {
    let kept: Vec<&Op> = ops
        .iter()
        .filter(|o| {
            o.outcome != Outcome::Failed && !(o.call == Call::Read && o.outcome == Outcome::Unknown)
        })
        .collect();
    let unknown: Vec<usize> = (0..kept.len())
        .filter(|i| kept[*i].outcome == Outcome::Unknown)
        .collect();
    for mask in 0u32..(1 << unknown.len()) {
        let chosen: Vec<&Op> = kept
            .iter()
            .enumerate()
            .filter(|(i, o)| {
                o.outcome != Outcome::Unknown
                    || unknown
                        .iter()
                        .position(|u| u == i)
                        .is_some_and(|p| mask & (1 << p) != 0)
            })
            .map(|(_, o)| *o)
            .collect();
        if permutations_explain(&chosen, &mut Vec::new(), &mut vec![false; chosen.len()]) {
            return true;
        }
    }
    false
}

fn permutations_explain(ops: &[&Op], order: &mut Vec<usize>, used: &mut Vec<bool>) -> bool {
    if order.len() == ops.len() {
        return sequentially_valid(ops, order);
    }
    for i in 0..ops.len() {
        if used[i] {
            continue;
        }
        // Real time: `i` may come now only if no op left out completed
        // before `i` was invoked.
        let blocked = (0..ops.len()).any(|j| {
            !used[j]
                && j != i
                && ops[j].outcome != Outcome::Unknown
                && ops[j].complete < ops[i].invoke
        });
        if blocked {
            continue;
        }
        used[i] = true;
        order.push(i);
        if permutations_explain(ops, order, used) {
            return true;
        }
        order.pop();
        used[i] = false;
    }
    false
}

fn sequentially_valid(ops: &[&Op], order: &[usize]) -> bool {
    let mut state: Option<String> = None;
    for &i in order {
        let o = ops[i];
        match (&o.call, &o.outcome) {
            (Call::Read, Outcome::Read(v)) if *v != state => return false,
            (Call::Read, _) => {}
            (Call::Write { value }, _) => state = Some(value.clone()),
            (Call::Cas { expect, new }, Outcome::Swapped(true) | Outcome::Unknown) => {
                if *expect != state {
                    return false;
                }
                state = Some(new.clone());
            }
            (Call::Cas { expect, .. }, _) => {
                if *expect == state {
                    return false;
                }
            }
        }
    }
    true
}

fn small_op() -> impl Strategy<Value = (u8, u8, u8, u8, u64, u64)> {
    (0u8..3, 0u8..4, 0u8..4, 0u8..5, 0u64..20, 0u64..8)
}

fn small_history(drawn: &[(u8, u8, u8, u8, u64, u64)]) -> Vec<Op> {
    let value = |n: u8| match n {
        0 => None,
        n => Some(["a", "b", "c"][usize::from(n - 1)].to_owned()),
    };
    drawn
        .iter()
        .enumerate()
        .map(|(i, &(kind, v1, v2, fate, from, len))| {
            let (call, outcome) = match kind {
                0 => (
                    Call::Read,
                    if fate == 4 {
                        Outcome::Unknown
                    } else {
                        Outcome::Read(value(v1))
                    },
                ),
                1 => (
                    Call::Write {
                        value: value(v1.max(1)).unwrap_or_default(),
                    },
                    match fate {
                        0..=2 => Outcome::Written,
                        3 => Outcome::Failed,
                        _ => Outcome::Unknown,
                    },
                ),
                _ => (
                    Call::Cas {
                        expect: value(v1),
                        new: value(v2.max(1)).unwrap_or_default(),
                    },
                    match fate {
                        0 | 1 => Outcome::Swapped(true),
                        2 => Outcome::Swapped(false),
                        3 => Outcome::Failed,
                        _ => Outcome::Unknown,
                    },
                ),
            };
            op(i as u64, call, outcome, from, from + len)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    /// The search (with its pruning of unobserved unknown writes) agrees
    /// with the definition on every small history, values repeated or not.
    #[test]
    fn the_search_agrees_with_brute_force_on_small_histories(
        drawn in prop::collection::vec(small_op(), 0..7)
    ) {
        let h = small_history(&drawn);
        let expected = brute_force(&h);
        let report = check(&h, Limits::default());
        prop_assert_eq!(
            report.all_linearizable(),
            expected,
            "{}",
            report.keys.first().map(|k| k.explain(&h)).unwrap_or_default()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Hints, right or wrong, change how soon the search concludes, never
    /// what it concludes.
    #[test]
    fn hints_never_change_the_verdict(
        drawn in prop::collection::vec(small_op(), 0..7),
        hints in prop::collection::vec(0u64..10, 7),
    ) {
        let h = small_history(&drawn);
        let hints: HashMap<u64, u64> = h
            .iter()
            .zip(&hints)
            .filter(|(_, x)| **x < 8)
            .map(|(o, x)| (o.id, *x))
            .collect();
        let plain = check(&h, Limits::default()).all_linearizable();
        let guided = check_guided(&h, &hints, Limits::default()).all_linearizable();
        prop_assert_eq!(plain, guided);
        prop_assert_eq!(plain, brute_force(&h));
    }
}

#[test]
fn a_batch_queued_through_a_fault_and_applied_at_the_heal_is_accepted_with_hints() {
    // Writes queued by a cut-off server through a whole fault, applied in
    // one batch at the heal, while the other side wrote and read: the
    // hints place the queued writes where the servers applied them.
    let mut h = Vec::new();
    let mut hints = HashMap::new();
    let mut id = 0;
    let queued = 14u64;
    for q in 0..queued {
        // Sent during the fault, acknowledged at the heal (t = 10 000).
        h.push(write(
            id,
            &format!("q{q}"),
            Outcome::Written,
            100 + q,
            10_000,
        ));
        hints.insert(id, 1_000_000 + q);
        id += 1;
    }
    for i in 0..300u64 {
        let t = 200 + 30 * i;
        h.push(write(id, &format!("m{i}"), Outcome::Written, t, t + 5));
        hints.insert(id, 2 * i);
        id += 1;
        h.push(read(id, Some(&format!("m{i}")), t + 10, t + 15));
        hints.insert(id, 2 * i + 1);
        id += 1;
    }
    h.push(read(id, Some(&format!("q{}", queued - 1)), 10_001, 10_002));
    hints.insert(id, 2_000_000);
    let limits = Limits {
        budget: Duration::from_secs(30),
        max_states: 5_000_000,
    };
    let started = Instant::now();
    let report = check_guided(&h, &hints, limits);
    assert!(report.all_linearizable(), "{:?}", report.keys[0].verdict);
    assert!(started.elapsed() < Duration::from_secs(10));
}

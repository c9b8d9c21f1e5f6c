//! The search over one key's history: Wing & Gong's walk over call and
//! return events with Lowe's cache, the reductions the parent module
//! describes, and the account of a dead end. Pure and bounded.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::{show, stale_in_key, Call, Counterexample, KeyResult, Op, Outcome, Verdict};

/// What the search does with one operation.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Read(u32),
    Write(u32),
    /// A CAS that swapped.
    Swapped {
        expect: u32,
        new: u32,
    },
    /// A CAS that did not swap.
    NotSwapped {
        expect: u32,
    },
    /// A write or CAS of unknown outcome: applied (when it can be) or never.
    Maybe {
        expect: Option<u32>,
        new: u32,
    },
}

/// `0` is "absent", [`UNREAD`] every value nothing observed; the others
/// are numbered from 1 as they are met.
#[derive(Default)]
struct Values {
    ids: HashMap<String, u32>,
    names: Vec<String>,
    /// The values some read returned or some CAS expected.
    observed: HashSet<String>,
}

/// The one state standing for every value that no read returned and no CAS
/// expected. Such values are interchangeable for every later operation
/// (no read can match them, no CAS expects them, a CAS that did not swap
/// only needs "not what I expected"), so merging them loses no
/// linearization and lets the cache merge configurations.
const UNREAD: u32 = u32::MAX;

impl Values {
    fn id(&mut self, v: Option<&str>) -> u32 {
        let Some(v) = v else { return 0 };
        if !self.observed.contains(v) {
            return UNREAD;
        }
        if let Some(id) = self.ids.get(v) {
            return *id;
        }
        self.names.push(v.to_owned());
        let id = u32::try_from(self.names.len()).unwrap_or(u32::MAX - 1);
        self.ids.insert(v.to_owned(), id);
        id
    }

    fn name(&self, id: u32) -> Option<String> {
        match id {
            0 => None,
            UNREAD => Some("(a value nothing read)".into()),
            n => self.names.get(n as usize - 1).cloned(),
        }
    }

    fn show(&self, id: u32) -> String {
        match id {
            UNREAD => "a value nothing read".into(),
            _ => show(self.name(id).as_deref()),
        }
    }
}

/// The register's next value after `kind`, or why `kind` cannot happen now.
fn step(state: u32, kind: Kind, values: &Values) -> Result<u32, String> {
    let holds = || format!("the register holds {}", values.show(state));
    match kind {
        Kind::Read(v) if v == state => Ok(state),
        Kind::Read(v) => Err(format!("it read {} but {}", values.show(v), holds())),
        Kind::Write(v) => Ok(v),
        Kind::Swapped { expect, new } if expect == state => Ok(new),
        Kind::Swapped { expect, .. } => Err(format!(
            "it swapped from {} but {}",
            values.show(expect),
            holds()
        )),
        Kind::NotSwapped { expect } if expect != state => Ok(state),
        Kind::NotSwapped { expect } => Err(format!(
            "it did not swap, but the register holds {}, the value it expected",
            values.show(expect)
        )),
        Kind::Maybe { expect: None, new } => Ok(new),
        Kind::Maybe {
            expect: Some(e),
            new,
        } if e == state => Ok(new),
        Kind::Maybe {
            expect: Some(e), ..
        } => Err(format!(
            "it could only apply from {} but {} (left unapplied)",
            values.show(e),
            holds()
        )),
    }
}

/// One operation as searched.
struct Searched {
    id: u64,
    kind: Kind,
    /// Completed (must be linearized) rather than of unknown outcome.
    definite: bool,
    invoke: Duration,
    complete: Duration,
    /// For an unknown write of a value nothing read: its rank among those
    /// by invocation. They are interchangeable, and one sent earlier can
    /// stand wherever one sent later stands, so the search only ever
    /// applies the earliest one not applied yet.
    unread_rank: Option<usize>,
    /// The value it writes if applied (for reports).
    writes: Option<String>,
    /// Where the hints place it (`u64::MAX`: nowhere).
    hint: u64,
}

/// The operations of one key to search, with the values interned.
fn prepare(ops: &[&Op], values: &mut Values) -> Result<(Vec<Searched>, usize), Verdict> {
    for op in ops {
        if let Some(why) = op.mismatch() {
            return Err(Verdict::Malformed {
                op: op.id,
                why: why.into(),
            });
        }
        if op.outcome != Outcome::Unknown && op.complete < op.invoke {
            return Err(Verdict::Malformed {
                op: op.id,
                why: "it completed before it was invoked".into(),
            });
        }
    }
    let observed: HashSet<&str> = ops
        .iter()
        .filter_map(|op| match (&op.call, &op.outcome) {
            (Call::Read, Outcome::Read(Some(v))) => Some(v.as_str()),
            (
                Call::Cas {
                    expect: Some(e), ..
                },
                Outcome::Swapped(_) | Outcome::Unknown,
            ) => Some(e.as_str()),
            _ => None,
        })
        .collect();
    values.observed = observed.iter().map(|v| (*v).to_owned()).collect();
    let last_failed_cas = ops
        .iter()
        .filter(|op| op.outcome == Outcome::Swapped(false))
        .map(|op| op.complete)
        .max();
    let mut out = Vec::new();
    let mut dropped = 0;
    for op in ops {
        let kind = match (&op.call, &op.outcome) {
            (_, Outcome::Failed) | (Call::Read, Outcome::Unknown) => None,
            (Call::Read, Outcome::Read(v)) => Some(Kind::Read(values.id(v.as_deref()))),
            (Call::Write { value }, Outcome::Written) => Some(Kind::Write(values.id(Some(value)))),
            (Call::Cas { expect, new }, Outcome::Swapped(true)) => Some(Kind::Swapped {
                expect: values.id(expect.as_deref()),
                new: values.id(Some(new)),
            }),
            (Call::Cas { expect, .. }, Outcome::Swapped(false)) => Some(Kind::NotSwapped {
                expect: values.id(expect.as_deref()),
            }),
            (Call::Write { value: new }, Outcome::Unknown)
            | (Call::Cas { new, .. }, Outcome::Unknown) => {
                let unobserved = !observed.contains(new.as_str());
                let no_failed_cas_after = last_failed_cas.is_none_or(|t| t < op.invoke);
                if unobserved && no_failed_cas_after {
                    None
                } else {
                    let expect = match &op.call {
                        Call::Cas { expect, .. } => Some(values.id(expect.as_deref())),
                        _ => None,
                    };
                    Some(Kind::Maybe {
                        expect,
                        new: values.id(Some(new)),
                    })
                }
            }
            _ => None,
        };
        match kind {
            Some(kind) => out.push(Searched {
                id: op.id,
                kind,
                definite: op.outcome != Outcome::Unknown,
                invoke: op.invoke,
                complete: op.complete,
                unread_rank: None,
                hint: u64::MAX,
                writes: match &op.call {
                    Call::Write { value } | Call::Cas { new: value, .. } => Some(value.clone()),
                    Call::Read => None,
                },
            }),
            None => dropped += 1,
        }
    }
    let mut unread: Vec<&mut Searched> = out
        .iter_mut()
        .filter(|o| {
            matches!(
                o.kind,
                Kind::Maybe {
                    expect: None,
                    new: UNREAD
                }
            )
        })
        .collect();
    unread.sort_by_key(|o| (o.invoke, o.id));
    for (rank, o) in unread.into_iter().enumerate() {
        o.unread_rank = Some(rank);
    }
    Ok((out, dropped))
}

const NIL: usize = usize::MAX;
const HEAD: usize = 0;

/// The events as a doubly linked list (node 0 is the head), so that an
/// operation's call and return can be lifted out and put back in O(1).
struct Events {
    next: Vec<usize>,
    prev: Vec<usize>,
    /// For each node: the operation (index into the searched ops).
    op: Vec<usize>,
    /// For a call node: its return node (NIL for unknown outcomes); for a
    /// return node: NIL.
    ret: Vec<usize>,
    is_call: Vec<bool>,
}

impl Events {
    fn new(ops: &[Searched]) -> Events {
        // (time, 0 for a call / 1 for a return, op): at equal times calls
        // first, which counts the two operations as concurrent.
        let mut evs: Vec<(Duration, u8, usize)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            evs.push((op.invoke, 0, i));
            if op.definite {
                evs.push((op.complete, 1, i));
            }
        }
        evs.sort();
        let n = evs.len() + 1;
        let mut e = Events {
            next: (1..=n).map(|i| if i == n { NIL } else { i }).collect(),
            prev: (0..n).map(|i| i.wrapping_sub(1)).collect(),
            op: vec![NIL; n],
            ret: vec![NIL; n],
            is_call: vec![false; n],
        };
        e.prev[HEAD] = NIL;
        let mut call_node = vec![NIL; ops.len()];
        for (pos, (_, kind, i)) in evs.into_iter().enumerate() {
            let node = pos + 1;
            e.op[node] = i;
            if kind == 0 {
                e.is_call[node] = true;
                call_node[i] = node;
            } else {
                e.ret[call_node[i]] = node;
            }
        }
        e
    }

    fn unlink(&mut self, n: usize) {
        let (p, x) = (self.prev[n], self.next[n]);
        self.next[p] = x;
        if x != NIL {
            self.prev[x] = p;
        }
    }

    fn relink(&mut self, n: usize) {
        let (p, x) = (self.prev[n], self.next[n]);
        self.next[p] = n;
        if x != NIL {
            self.prev[x] = n;
        }
    }

    /// Takes a call and its return out of the list.
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        if self.ret[call] != NIL {
            self.unlink(self.ret[call]);
        }
    }

    /// Undoes the last [`lift`](Self::lift) (lifts are undone in reverse).
    fn unlift(&mut self, call: usize) {
        if self.ret[call] != NIL {
            self.relink(self.ret[call]);
        }
        self.relink(call);
    }
}

/// A fixed pseudo-random 128-bit key per operation (splitmix64).
fn zobrist(i: usize) -> u128 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let i = i as u64;
    (u128::from(mix(i.wrapping_mul(2))) << 64) | u128::from(mix(i.wrapping_mul(2) + 1))
}

/// Whether `kind` leaves the register as it is whenever it can happen
/// (a read, a CAS that did not swap).
fn keeps_state(kind: Kind) -> bool {
    matches!(kind, Kind::Read(_) | Kind::NotSwapped { .. })
}

/// The search's position: what is linearized, in what order, and the
/// register's value after it.
struct Search<'a> {
    ops: &'a [Searched],
    ev: Events,
    keys: Vec<u128>,
    cache: HashSet<(u128, u32)>,
    /// Completed operations not linearized yet.
    remaining: usize,
    linearized: u128,
    state: u32,
    /// (call node, state before it, how it was chosen).
    stack: Vec<(usize, u32, Choice)>,
    /// How many unknown writes of unread values are applied: always the
    /// earliest ones (see `Searched::unread_rank`).
    unread_applied: usize,
}

/// How a step was chosen, which says what to try after it is undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    /// The only step worth trying at its point: undo the one before too.
    Forced,
    /// The hints' first pick: then scan every candidate at that point.
    Guided,
    /// Found by the scan: the scan goes on after it.
    Scanned,
}

/// What trying an operation at the current point gave.
enum Tried {
    /// Linearized: the search goes on from it.
    Applied,
    /// It cannot come here (the register's value, or its turn).
    Unfit,
    /// It fits, but that configuration was explored already.
    Seen,
}

impl Search<'_> {
    fn try_apply(&mut self, node: usize, how: Choice) -> Tried {
        let i = self.ev.op[node];
        let op = &self.ops[i];
        if op.unread_rank.is_some_and(|r| r != self.unread_applied) {
            return Tried::Unfit;
        }
        let Ok(next) = step_quiet(self.state, op.kind) else {
            return Tried::Unfit;
        };
        let fingerprint = self.linearized ^ self.keys[i];
        if !self.cache.insert((fingerprint, next)) {
            return Tried::Seen;
        }
        self.stack.push((node, self.state, how));
        self.state = next;
        self.linearized = fingerprint;
        if op.definite {
            self.remaining -= 1;
        }
        if op.unread_rank.is_some() {
            self.unread_applied += 1;
        }
        self.ev.lift(node);
        Tried::Applied
    }

    /// Takes the last step back; its call node and how it was chosen.
    fn undo(&mut self) -> Option<(usize, Choice)> {
        let (node, before, how) = self.stack.pop()?;
        let op = &self.ops[self.ev.op[node]];
        self.state = before;
        self.linearized ^= self.keys[self.ev.op[node]];
        if op.definite {
            self.remaining += 1;
        }
        if op.unread_rank.is_some() {
            self.unread_applied -= 1;
        }
        self.ev.unlift(node);
        Some((node, how))
    }
}

/// [`step`] without the reason, for the search's inner loop.
fn step_quiet(state: u32, kind: Kind) -> Result<u32, ()> {
    match kind {
        Kind::Read(v) if v == state => Ok(state),
        Kind::Write(v) => Ok(v),
        Kind::Swapped { expect, new } if expect == state => Ok(new),
        Kind::NotSwapped { expect } if expect != state => Ok(state),
        Kind::Maybe { expect: None, new } => Ok(new),
        Kind::Maybe {
            expect: Some(e),
            new,
        } if e == state => Ok(new),
        _ => Err(()),
    }
}

/// Wing & Gong / Lowe search over one key's history.
///
/// One more reduction: an operation that leaves the register as it is (a
/// read, a CAS that did not swap) and fits now is linearized now, and no
/// other choice is tried at that point. Any linearization of the rest that
/// places it later can place it here instead: everything that had to
/// precede it already does (that is what makes it a candidate), nothing
/// has to precede it that would not, and it changes no value.
pub(super) fn check_key(
    key: &str,
    ops: &[&Op],
    hints: &HashMap<u64, u64>,
    budget: Duration,
    max_states: usize,
) -> KeyResult {
    let started = Instant::now();
    let deadline = started + budget;
    let mut values = Values::default();
    let result = |verdict, checked, dropped, explored| KeyResult {
        key: key.to_owned(),
        checked,
        dropped,
        verdict,
        explored,
        took: started.elapsed(),
    };
    // A read that real time alone proves stale settles the key at once.
    if let Some(w) = stale_in_key(ops).first() {
        let why = |id: u64| ops.iter().find(|o| o.id == id).map(|o| o.describe());
        let c = Counterexample {
            prefix: w.writer.into_iter().chain([w.newer]).collect(),
            value: ops.iter().find(|o| o.id == w.newer).and_then(|o| match &o.call {
                Call::Write { value } | Call::Cas { new: value, .. } => Some(value.clone()),
                Call::Read => None,
            }),
            stuck: w.read,
            candidates: vec![(
                w.read,
                format!(
                    "proven stale by real time: {} completed before the read began, and began after every write of the value read had completed ({})",
                    why(w.newer).unwrap_or_default(),
                    w.writer.and_then(why).unwrap_or_else(|| "the key was absent".into())
                ),
            )],
        };
        let dropped = 0;
        return result(Verdict::NotLinearizable(Box::new(c)), ops.len(), dropped, 0);
    }
    let (mut ops, dropped) = match prepare(ops, &mut values) {
        Ok(p) => p,
        Err(verdict) => return result(verdict, 0, 0, 0),
    };
    for o in &mut ops {
        o.hint = hints.get(&o.id).copied().unwrap_or(u64::MAX);
    }
    let guided = ops.iter().any(|o| o.hint != u64::MAX);
    let checked = ops.len();
    let mut s = Search {
        ev: Events::new(&ops),
        keys: (0..ops.len()).map(zobrist).collect(),
        cache: HashSet::new(),
        remaining: ops.iter().filter(|o| o.definite).count(),
        linearized: 0,
        state: 0,
        stack: Vec::new(),
        unread_applied: 0,
        ops: &ops,
    };
    let mut best: Option<Counterexample> = None;
    let mut best_depth = 0;
    let mut explored: u64 = 0;
    // At the start of a level: look for a forced step first.
    let mut fresh = true;
    let mut entry = s.ev.next[HEAD];
    loop {
        if s.remaining == 0 {
            return result(Verdict::Linearizable, checked, dropped, explored);
        }
        explored += 1;
        if explored.is_multiple_of(4096) && Instant::now() >= deadline {
            let why = format!(
                "time budget {budget:?} spent, {} configurations cached",
                s.cache.len()
            );
            let furthest = best.map(Box::new);
            return result(
                Verdict::GaveUp { why, furthest },
                checked,
                dropped,
                explored,
            );
        }
        if s.cache.len() > max_states {
            let why = format!("cache limit of {max_states} configurations reached");
            let furthest = best.map(Box::new);
            return result(
                Verdict::GaveUp { why, furthest },
                checked,
                dropped,
                explored,
            );
        }
        let mut dead_end = false;
        if fresh {
            fresh = false;
            let mut n = s.ev.next[HEAD];
            while n != NIL && s.ev.is_call[n] {
                let kind = ops[s.ev.op[n]].kind;
                if keeps_state(kind) && step_quiet(s.state, kind).is_ok() {
                    match s.try_apply(n, Choice::Forced) {
                        Tried::Applied => fresh = true,
                        // Explored from here already: so was every other
                        // choice at this level.
                        Tried::Seen | Tried::Unfit => dead_end = true,
                    }
                    break;
                }
                n = s.ev.next[n];
            }
            if fresh {
                continue;
            }
            if !dead_end && guided {
                // The candidate the hints place first, if it fits.
                let mut pick: Option<(u64, usize)> = None;
                let mut n = s.ev.next[HEAD];
                while n != NIL && s.ev.is_call[n] {
                    let op = &ops[s.ev.op[n]];
                    let in_turn = op.unread_rank.is_none_or(|r| r == s.unread_applied);
                    if op.hint != u64::MAX
                        && in_turn
                        && pick.is_none_or(|(h, _)| op.hint < h)
                        && step_quiet(s.state, op.kind).is_ok()
                    {
                        pick = Some((op.hint, n));
                    }
                    n = s.ev.next[n];
                }
                if let Some((_, n)) = pick {
                    if let Tried::Applied = s.try_apply(n, Choice::Guided) {
                        fresh = true;
                        continue;
                    }
                }
            }
            entry = s.ev.next[HEAD];
        }
        if !dead_end {
            if entry == NIL {
                // `remaining` counts completed operations, whose returns
                // are in the list: unreachable.
                let why = "the event list ended with completed operations left".to_owned();
                let furthest = best.map(Box::new);
                return result(
                    Verdict::GaveUp { why, furthest },
                    checked,
                    dropped,
                    explored,
                );
            }
            if s.ev.is_call[entry] {
                match s.try_apply(entry, Choice::Scanned) {
                    Tried::Applied => fresh = true,
                    Tried::Unfit | Tried::Seen => entry = s.ev.next[entry],
                }
                continue;
            }
            // The return of an operation not linearized yet: whatever was
            // chosen before cannot be completed this way.
            if best.is_none() || s.stack.len() > best_depth {
                best_depth = s.stack.len();
                let stack: Vec<(usize, u32)> = s.stack.iter().map(|f| (f.0, f.1)).collect();
                best = Some(counterexample(&s.ev, &ops, &stack, entry, s.state, &values));
            }
        }
        // Back to the last choice that was not forced.
        loop {
            match s.undo() {
                None => {
                    let c = best.unwrap_or_else(|| {
                        let first_return = first_return(&s.ev);
                        counterexample(&s.ev, &ops, &[], first_return, 0, &values)
                    });
                    return result(
                        Verdict::NotLinearizable(Box::new(c)),
                        checked,
                        dropped,
                        explored,
                    );
                }
                Some((_, Choice::Forced)) => continue,
                Some((_, Choice::Guided)) => {
                    entry = s.ev.next[HEAD];
                    break;
                }
                Some((node, Choice::Scanned)) => {
                    entry = s.ev.next[node];
                    break;
                }
            }
        }
    }
}

/// The first return node of the list (there is one while completed
/// operations are left).
fn first_return(ev: &Events) -> usize {
    let mut n = ev.next[HEAD];
    while n != NIL && ev.is_call[n] {
        n = ev.next[n];
    }
    n
}

/// The account of a dead end: the prefix, the value, the operation whose
/// return was reached, and why each call before it cannot come next.
fn counterexample(
    ev: &Events,
    ops: &[Searched],
    stack: &[(usize, u32)],
    stuck_node: usize,
    state: u32,
    values: &Values,
) -> Counterexample {
    let mut candidates = Vec::new();
    let mut n = ev.next[HEAD];
    while n != NIL && n != stuck_node {
        if ev.is_call[n] {
            let op = &ops[ev.op[n]];
            let why = match step(state, op.kind, values) {
                Ok(_) => "it fits here, but every way on from it was tried".to_owned(),
                Err(why) => why,
            };
            candidates.push((op.id, why));
        }
        n = ev.next[n];
    }
    // An unread value is one state to the search; name the one the last
    // write of the prefix put.
    let value = match state {
        UNREAD => stack
            .iter()
            .rev()
            .map(|(c, _)| &ops[ev.op[*c]])
            .find(|o| !matches!(o.kind, Kind::Read(_) | Kind::NotSwapped { .. }))
            .and_then(|o| o.writes.clone()),
        _ => values.name(state),
    };
    Counterexample {
        prefix: stack.iter().map(|(c, _)| ops[ev.op[*c]].id).collect(),
        value,
        stuck: ops[ev.op[stuck_node]].id,
        candidates,
    }
}

//! A linearizability checker for histories of key-value registers, as a
//! fault-injection run records them: every operation with the time its
//! client invoked it and the time it saw the answer (one monotonic clock),
//! and what the answer was.
//!
//! **The model.** Each key is a register holding a value or nothing
//! (absent). A read returns the value; a write sets it; a check-and-set
//! (`Cas`) sets a new value only if the register holds the expected one
//! (or, expecting `None`, only if it is absent) and says whether it did.
//! Consul's `?cas=<ModifyIndex>` compares the key's ModifyIndex, not its
//! value, and the ModifyIndex of a write is a Raft index nobody can predict;
//! so the workload writes a value no other write uses, and a CAS is
//! recorded as "expect the value that the read which gave me this
//! ModifyIndex returned". With unique values a value names exactly one
//! write and so exactly one ModifyIndex, and the two comparisons agree —
//! unless a write is applied twice (same value, two indices), which is
//! itself a violation the workload detects separately by comparing the
//! indices every observation reports for each value.
//!
//! **Outcomes.** `Failed` means the operation definitely did not take
//! effect (a 4xx, a refused connection): it is left out. `Unknown` (a
//! timeout, a lost connection, a 500) means it may have taken effect at any
//! moment after its invocation, even long after the client gave up, or
//! never (Jepsen's `:info`): an unknown read constrains nothing and is left
//! out; an unknown write or CAS has no completion time, and the search may
//! apply it at any point after its invocation or not at all.
//!
//! **The algorithm.** Linearizability is P-compositional (Herlihy & Wing),
//! so each key is checked alone. Per key: Wing & Gong's search over the
//! history's call and return events in time order, with Lowe's
//! memoization (a cache of the configurations already explored: the set of
//! linearized operations and the register's value), as in porcupine. The
//! set is kept as a 128-bit Zobrist fingerprint, updated in O(1) per step
//! (a collision, at odds of about 2^-64 per pair, could only make the
//! search skip a configuration). An unknown operation that is not applied
//! is simply never linearized, so the search only ever tries applying it;
//! the check succeeds once every completed operation is linearized. Values
//! nothing observed (no read returned them, no CAS expected them) are
//! interchangeable, so they are one state to the search, and of the
//! unknown writes of such values it applies the earliest sent first (any
//! later one could stand where an earlier one stands). Before the search,
//! such unknown writes are dropped altogether when no failed CAS could have
//! needed them (see [`check`]). A brute-force comparison on small
//! histories (the unit tests) keeps these reductions honest.
//!
//! **Bounds.** The search stops at its time budget or its cache limit with
//! [`Verdict::GaveUp`], never hangs. A key that is not linearizable comes
//! with a [`Counterexample`]: the furthest the search got, the register's
//! value there, the operation whose completion could not be reached, and
//! why each operation that could have come next could not.
//!
//! This module is pure: it reads no clock except to bound its own search,
//! and never touches a process or the network.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// What a client asked of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// Read the value.
    Read,
    /// Set the value (unconditionally).
    Write { value: String },
    /// Set `new` only if the register holds `expect` (`None`: only if the
    /// key is absent, Consul's `?cas=0`).
    Cas { expect: Option<String>, new: String },
}

/// How an operation ended, as its client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A read answered: the value, or `None` when the key is absent (404).
    Read(Option<String>),
    /// A write was acknowledged.
    Written,
    /// A CAS answered: `true` when it swapped, `false` when it did not.
    Swapped(bool),
    /// Definitely not applied (a 4xx, a refused connection).
    Failed,
    /// No answer that says (a timeout, a lost connection, a 5xx): maybe
    /// applied, at any time after invocation, or never.
    Unknown,
}

/// One operation of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// Unique within the history; reports name operations by it.
    pub id: u64,
    pub key: String,
    pub call: Call,
    pub outcome: Outcome,
    /// When the client sent it, from the history's epoch.
    pub invoke: Duration,
    /// When the client saw the answer (or gave up), from the same epoch;
    /// ignored for unknown outcomes.
    pub complete: Duration,
    /// Free text shown in reports (the node asked, the consistency mode,
    /// the HTTP status, the worker).
    pub label: String,
}

impl Op {
    /// `#12 [1.204s..1.260s] write "v" -> ok (label)`.
    pub fn describe(&self) -> String {
        let call = match &self.call {
            Call::Read => "read".to_owned(),
            Call::Write { value } => format!("write {value:?}"),
            Call::Cas { expect, new } => format!("cas {} -> {new:?}", show(expect.as_deref())),
        };
        let outcome = match &self.outcome {
            Outcome::Read(v) => format!("returned {}", show(v.as_deref())),
            Outcome::Written => "ok".to_owned(),
            Outcome::Swapped(true) => "swapped".to_owned(),
            Outcome::Swapped(false) => "did not swap".to_owned(),
            Outcome::Failed => "failed".to_owned(),
            Outcome::Unknown => "unknown".to_owned(),
        };
        let end = match self.outcome {
            Outcome::Unknown => "?".to_owned(),
            _ => secs(self.complete),
        };
        format!(
            "#{} [{}..{}] {call} -> {outcome} ({})",
            self.id,
            secs(self.invoke),
            end,
            self.label
        )
    }

    fn mismatch(&self) -> Option<&'static str> {
        match (&self.call, &self.outcome) {
            (_, Outcome::Failed | Outcome::Unknown)
            | (Call::Read, Outcome::Read(_))
            | (Call::Write { .. }, Outcome::Written)
            | (Call::Cas { .. }, Outcome::Swapped(_)) => None,
            _ => Some("its outcome does not fit its call"),
        }
    }
}

fn show(v: Option<&str>) -> String {
    v.map_or_else(|| "(absent)".to_owned(), |v| format!("{v:?}"))
}

fn secs(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// How long and how wide the search of a whole history may go.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Time for the whole history, shared among the keys (the smallest
    /// keys first; time one key leaves goes to the next).
    pub budget: Duration,
    /// Most configurations cached per key (about 40 bytes each).
    pub max_states: usize,
}

impl Default for Limits {
    /// 60 s and 20 million configurations.
    fn default() -> Limits {
        Limits {
            budget: Duration::from_secs(60),
            max_states: 20_000_000,
        }
    }
}

/// The result for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(Box<Counterexample>),
    /// The search hit its time budget or cache limit: no conclusion.
    GaveUp {
        why: String,
        /// The furthest the search had got, as a counterexample would say.
        furthest: Option<Box<Counterexample>>,
    },
    /// An operation cannot be checked (its outcome does not fit its call,
    /// or it completed before it was invoked).
    Malformed {
        op: u64,
        why: String,
    },
}

/// Why a key's history is not linearizable, from the furthest point the
/// search reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counterexample {
    /// The operations linearized there, in order (ids).
    pub prefix: Vec<u64>,
    /// The register's value there.
    pub value: Option<String>,
    /// The completed operation that had to come next (its completion was
    /// reached) but could not.
    pub stuck: u64,
    /// Every operation that could have come next at that point, with why
    /// it could not.
    pub candidates: Vec<(u64, String)>,
}

/// One key's check.
#[derive(Debug, Clone)]
pub struct KeyResult {
    pub key: String,
    /// Operations searched (completed ones and unknown writes kept).
    pub checked: usize,
    /// Operations left out: failed ones, unknown reads, and unknown writes
    /// nothing observed.
    pub dropped: usize,
    pub verdict: Verdict,
    /// Configurations explored.
    pub explored: u64,
    pub took: Duration,
}

impl KeyResult {
    /// A multi-line account: the verdict and, for a counterexample, the
    /// operations involved (described from `ops`).
    pub fn explain(&self, ops: &[Op]) -> String {
        let by_id: HashMap<u64, &Op> = ops.iter().map(|o| (o.id, o)).collect();
        let describe = |id: u64| {
            by_id
                .get(&id)
                .map_or_else(|| format!("#{id}"), |o| o.describe())
        };
        let mut out = format!(
            "key {:?}: {} operations checked, {} left out, {} configurations explored in {:?}: ",
            self.key, self.checked, self.dropped, self.explored, self.took
        );
        match &self.verdict {
            Verdict::Linearizable => out.push_str("linearizable"),
            Verdict::GaveUp { why, furthest } => {
                let _ = write!(out, "gave up ({why})");
                if let Some(c) = furthest {
                    let _ = writeln!(out, ".");
                    Self::dead_end(&mut out, c, &describe);
                }
            }
            Verdict::Malformed { op, why } => {
                let _ = write!(out, "malformed: {} {why}", describe(*op));
            }
            Verdict::NotLinearizable(c) => {
                let _ = writeln!(out, "NOT linearizable.");
                Self::dead_end(&mut out, c, &describe);
            }
        }
        out
    }

    /// The furthest point of a search, the operation that had to come
    /// next, and why nothing could.
    fn dead_end(out: &mut String, c: &Counterexample, describe: &dyn Fn(u64) -> String) {
        let _ = writeln!(
            out,
            "  The search got furthest with {} operations linearized; the register then held {}.",
            c.prefix.len(),
            show(c.value.as_deref())
        );
        let shown = c.prefix.len().min(8);
        let _ = writeln!(out, "  The last {shown} of them, in order:");
        for id in &c.prefix[c.prefix.len() - shown..] {
            let _ = writeln!(out, "    {}", describe(*id));
        }
        let _ = writeln!(
            out,
            "  Next had to come (its answer arrived before any other choice):\n    {}",
            describe(c.stuck)
        );
        let _ = writeln!(out, "  and no operation that could come first fits:");
        for (id, why) in &c.candidates {
            let _ = writeln!(out, "    {} -- {why}", describe(*id));
        }
    }
}

/// Every key's result.
#[derive(Debug, Clone)]
pub struct Report {
    pub keys: Vec<KeyResult>,
}

impl Report {
    /// Whether every key is linearizable.
    pub fn all_linearizable(&self) -> bool {
        self.keys.iter().all(|k| k.verdict == Verdict::Linearizable)
    }

    /// The keys that are not linearizable, malformed or not concluded.
    pub fn failures(&self) -> impl Iterator<Item = &KeyResult> {
        self.keys
            .iter()
            .filter(|k| k.verdict != Verdict::Linearizable)
    }
}

/// Checks every key of `ops` separately, within `limits`.
///
/// Before searching a key it leaves out failed operations, unknown reads,
/// and each unknown write or CAS whose value no read returned and no CAS
/// expected, when no failed CAS (`Swapped(false)`) could be placed after
/// it. Such a write, if applied, held the register until the next blind
/// write without anyone seeing it, so removing it from a linearization
/// leaves a linearization: leaving it out changes no verdict.
pub fn check(ops: &[Op], limits: Limits) -> Report {
    check_guided(ops, &HashMap::new(), limits)
}

/// [`check`], trying first, at each point, the operation that comes first
/// by `hints` (operation id to a position, e.g. the order in which the
/// servers say they applied the writes, and each read just after the write
/// it saw). The verdict does not depend on the hints: only how soon a
/// linearization is found. Without them, an operation that stayed in
/// flight through a whole fault (a write queued by a cut-off server and
/// applied at the heal) is tried at every point of the fault first.
pub fn check_guided(ops: &[Op], hints: &HashMap<u64, u64>, limits: Limits) -> Report {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let mut keys: Vec<(&str, Vec<&Op>)> = by_key.into_iter().collect();
    keys.sort_by_key(|(k, o)| (o.len(), *k));
    let deadline = Instant::now() + limits.budget;
    let mut results = Vec::new();
    let total = keys.len();
    for (i, (key, ops)) in keys.into_iter().enumerate() {
        let left = deadline.saturating_duration_since(Instant::now());
        let share = left / u32::try_from(total - i).unwrap_or(u32::MAX);
        results.push(check_key(key, &ops, hints, share, limits.max_states));
    }
    results.sort_by(|a, b| a.key.cmp(&b.key));
    Report { keys: results }
}

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
fn check_key(
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

/// A read that returned a value a completed write had already replaced:
/// the value's only writer completed before the other write began, and that
/// write completed before the read began. With unique values this proves,
/// by real time alone, that the history is not linearizable; it explains a
/// [`Verdict::NotLinearizable`] in the terms an operator reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleRead {
    /// The read (id).
    pub read: u64,
    /// The write that put the value the read returned (`None`: the key was
    /// absent, before any write).
    pub writer: Option<u64>,
    /// The completed write whose value the read should have seen or a later
    /// one (id).
    pub newer: u64,
}

/// Every read among `ops` (any keys) that [`StaleRead`] proves stale, with
/// the latest such newer write for each.
pub fn stale_reads(ops: &[Op]) -> Vec<StaleRead> {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in ops {
        by_key.entry(op.key.as_str()).or_default().push(op);
    }
    let mut out: Vec<StaleRead> = by_key.values().flat_map(|ops| stale_in_key(ops)).collect();
    out.sort_by_key(|s| s.read);
    out
}

/// [`stale_reads`] of one key's operations.
fn stale_in_key(ops: &[&Op]) -> Vec<StaleRead> {
    let mut out = Vec::new();
    // Completed writes (writes and CAS that swapped), and every op that
    // may have written each value.
    let done: Vec<(&Op, &str)> = ops
        .iter()
        .filter_map(|o| match (&o.call, &o.outcome) {
            (Call::Write { value }, Outcome::Written)
            | (Call::Cas { new: value, .. }, Outcome::Swapped(true)) => Some((*o, value.as_str())),
            _ => None,
        })
        .collect();
    let mut writers: HashMap<&str, Vec<&Op>> = HashMap::new();
    for o in ops.iter() {
        match (&o.call, &o.outcome) {
            (Call::Write { value }, Outcome::Written | Outcome::Unknown)
            | (Call::Cas { new: value, .. }, Outcome::Swapped(true) | Outcome::Unknown) => {
                writers.entry(value.as_str()).or_default().push(o);
            }
            _ => {}
        }
    }
    for read in ops.iter() {
        let (Call::Read, Outcome::Read(v)) = (&read.call, &read.outcome) else {
            continue;
        };
        // The value's writers must all have completed (not unknown)
        // before the newer write began.
        let value_writers: Vec<&Op> = match v {
            Some(v) => match writers.get(v.as_str()) {
                Some(w) => w.clone(),
                None => continue, // read of a value nobody wrote: not this kind
            },
            None => Vec::new(),
        };
        if value_writers.iter().any(|w| w.outcome == Outcome::Unknown) {
            continue;
        }
        let newer = done
            .iter()
            .filter(|(w, value)| {
                Some(*value) != v.as_deref()
                    && w.complete < read.invoke
                    && value_writers.iter().all(|vw| vw.complete < w.invoke)
            })
            .max_by_key(|(w, _)| w.complete);
        if let Some((w, _)) = newer {
            out.push(StaleRead {
                read: read.id,
                writer: value_writers.first().map(|w| w.id),
                newer: w.id,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests;

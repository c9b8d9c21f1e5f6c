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

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

mod search;

use search::check_key;

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

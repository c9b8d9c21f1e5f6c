//! What a fault-injection run found: every check over the recorded history
//! and the servers' own account of it, and the statistics a report prints.
//!
//! Checks (each an anomaly when it fails):
//! - **linearizable**: default and `?consistent` reads, writes, CAS and
//!   fenced writes, per key ([`linearizability::check`]), with the reads
//!   that real time alone proves stale listed by node, mode and fault;
//! - **fenced writes never interleave** ([`fencing::check`]);
//! - **one value, one index**: every value is written once, so every read
//!   and acknowledgement that names its ModifyIndex must name the same one
//!   (two means a write was applied twice, e.g. a retried proposal);
//! - **no acknowledged write lost**: each acknowledged write is in its
//!   key's history (`/v1/history/kv`) at the index it was acknowledged at,
//!   and no write refused with a 4xx is;
//! - **stale reads are plausible**: a `?stale` read returns a value some
//!   write that was not refused had sent before the read completed.
//!
//! Statistics: operations by kind and outcome, and availability (operations
//! answered per second) before the faults, during each fault, while the
//! cluster recovered from it, and after.
//!
//! Pure: it reads the records and histories it is given.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

use crate::fencing::{self, Applied, FencedWrite};
use crate::linearizability::{self, Call, Limits, Op, Outcome};
use crate::nemesis::FaultWindow;
use crate::workload::{Kind, Mode, Record, Version};

mod saved;

pub use saved::{load_run, run_to_json, Run};

/// Everything one run found.
pub struct Findings {
    pub linearizability: linearizability::Report,
    /// Default and `?consistent` reads proven stale.
    pub stale_reads: Vec<Stale>,
    /// When reads were proven stale: the check again without them (and
    /// without those proven stale once they are gone), which tells whether
    /// they are the whole story.
    pub without_stale_reads: Option<linearizability::Report>,
    pub fencing: Vec<fencing::Violation>,
    /// `(key, value, indices)`: a value seen at several ModifyIndexes.
    pub applied_twice: Vec<(String, String, BTreeSet<u64>)>,
    /// Acknowledged writes missing from their key's history (`why`).
    pub lost: Vec<(u64, String)>,
    /// Writes refused with a 4xx that are in their key's history.
    pub refused_applied: Vec<(u64, u64)>,
    /// `?stale` reads of values no write could have given them.
    pub implausible_stale: Vec<(u64, String)>,
    records: Vec<Record>,
    windows: Vec<FaultWindow>,
    end: Duration,
}

/// Runs every check over `records`, with `histories` (each key's versions,
/// oldest first, as the leader kept them) and the nemesis' `windows`.
pub fn analyse(
    records: Vec<Record>,
    histories: &BTreeMap<String, Vec<Version>>,
    windows: Vec<FaultWindow>,
    limits: Limits,
) -> Findings {
    let checked: Vec<Op> = records
        .iter()
        .filter(|r| r.kind.checked())
        .map(|r| r.op.clone())
        .collect();
    let hints = hints(&records, histories);
    let report = linearizability::check_guided(&checked, &hints, limits);
    let by_index = stale_by_index(&records);
    let mut stale_reads: Vec<Stale> = linearizability::stale_reads(&checked)
        .into_iter()
        .map(|s| Stale {
            read: s.read,
            writer: s.writer,
            newer: s.newer,
            by_index: false,
        })
        .collect();
    let proven: BTreeSet<u64> = stale_reads.iter().map(|s| s.read).collect();
    stale_reads.extend(by_index.into_iter().filter(|s| !proven.contains(&s.read)));
    stale_reads.sort_by_key(|s| s.read);
    let without_stale_reads = (!stale_reads.is_empty()).then(|| {
        let mut gone: BTreeSet<u64> = stale_reads.iter().map(|s| s.read).collect();
        let mut rest: Vec<Op> = checked.clone();
        for _ in 0..10 {
            rest.retain(|o| !gone.contains(&o.id));
            gone = linearizability::stale_reads(&rest)
                .iter()
                .map(|s| s.read)
                .collect();
            if gone.is_empty() {
                break;
            }
        }
        let limits = Limits {
            budget: limits.budget / 2,
            ..limits
        };
        linearizability::check_guided(&rest, &hints, limits)
    });
    let fencing = fencing_violations(&records, histories);
    let applied_twice = applied_twice(&records, histories);
    let (lost, refused_applied) = against_histories(&records, histories);
    let implausible_stale = implausible_stale(&records);
    let end = records
        .iter()
        .map(|r| r.op.complete)
        .max()
        .unwrap_or_default();
    Findings {
        linearizability: report,
        stale_reads,
        without_stale_reads,
        fencing,
        applied_twice,
        lost,
        refused_applied,
        implausible_stale,
        records,
        windows,
        end,
    }
}

/// Where the servers say each operation took effect: a write at its place
/// in its key's history (index, then order within the entry), a read just
/// after the write whose value it returned. Only guides the search.
fn hints(records: &[Record], histories: &BTreeMap<String, Vec<Version>>) -> HashMap<u64, u64> {
    let mut place: HashMap<(&str, &str), u64> = HashMap::new();
    for (key, versions) in histories {
        for (i, v) in versions.iter().enumerate() {
            if let Some(value) = &v.value {
                place.insert((key.as_str(), value.as_str()), 2 * (i as u64 + 1));
            }
        }
    }
    let mut out = HashMap::new();
    for r in records {
        let key = r.op.key.as_str();
        let at = match (&r.op.call, &r.op.outcome) {
            (Call::Read, Outcome::Read(None)) => Some(1),
            (Call::Read, Outcome::Read(Some(v))) => place.get(&(key, v.as_str())).map(|p| p + 1),
            (Call::Write { value } | Call::Cas { new: value, .. }, _) => {
                place.get(&(key, value.as_str())).copied()
            }
            _ => None,
        };
        if let Some(at) = at {
            out.insert(r.op.id, at);
        }
    }
    out
}

/// A default or `?consistent` read that missed a write completed before it
/// began.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stale {
    /// The read (id).
    pub read: u64,
    /// The write whose value it returned, when known (`None`: the key was
    /// absent, or the value's writer is not known by index).
    pub writer: Option<u64>,
    /// A write acknowledged before the read began that it should have seen.
    pub newer: u64,
    /// Proven by the indices the servers answered (the read's ModifyIndex
    /// is below the index `newer` was acknowledged at) rather than by real
    /// time alone ([`linearizability::StaleRead`]).
    pub by_index: bool,
}

/// Reads whose entry's ModifyIndex is below the index of a write to the
/// same key acknowledged before the read was sent.
fn stale_by_index(records: &[Record]) -> Vec<Stale> {
    let mut acked: BTreeMap<&str, Vec<(&Record, u64)>> = BTreeMap::new();
    for r in records {
        let applied = matches!(r.op.outcome, Outcome::Written | Outcome::Swapped(true));
        if let (true, Some(index), Kind::Write | Kind::Cas | Kind::Fenced) =
            (applied, r.index, r.kind)
        {
            acked.entry(r.op.key.as_str()).or_default().push((r, index));
        }
    }
    let mut out = Vec::new();
    for r in records {
        let (Kind::Read(Mode::Default | Mode::Consistent), Some(m), Outcome::Read(Some(v))) =
            (r.kind, r.index, &r.op.outcome)
        else {
            continue;
        };
        let Some(writes) = acked.get(r.op.key.as_str()) else {
            continue;
        };
        let newer = writes
            .iter()
            .filter(|(w, index)| *index > m && w.op.complete < r.op.invoke)
            .max_by_key(|(w, _)| w.op.complete);
        if let Some((w, _)) = newer {
            let writer = writes.iter().find(|(x, index)| {
                *index == m
                    && matches!(&x.op.call, Call::Write { value } | Call::Cas { new: value, .. } if value == v)
            });
            out.push(Stale {
                read: r.op.id,
                writer: writer.map(|(x, _)| x.op.id),
                newer: w.op.id,
                by_index: true,
            });
        }
    }
    out
}

fn fencing_violations(
    records: &[Record],
    histories: &BTreeMap<String, Vec<Version>>,
) -> Vec<fencing::Violation> {
    let writes: Vec<FencedWrite> = records
        .iter()
        .filter(|r| r.kind == Kind::Fenced)
        .filter_map(|r| {
            let Call::Write { value } = &r.op.call else {
                return None;
            };
            Some(FencedWrite {
                id: r.op.id,
                value: value.clone(),
                token: r.token.unwrap_or(0),
                invoke: r.op.invoke,
                complete: r.op.complete,
                acked_at: match r.op.outcome {
                    Outcome::Written => r.index,
                    _ => None,
                },
                refused: r.op.outcome == Outcome::Failed && r.answer.starts_with('4'),
            })
        })
        .collect();
    let Some(key) = records
        .iter()
        .find(|r| r.kind == Kind::Fenced)
        .map(|r| r.op.key.clone())
    else {
        return Vec::new();
    };
    let history = histories.get(&key);
    let applied: Vec<Applied> = history
        .into_iter()
        .flatten()
        .filter_map(|v| {
            v.value.as_ref().map(|value| Applied {
                index: v.index,
                value: value.clone(),
            })
        })
        .collect();
    let from = history.and_then(|h| h.first()).map(|v| v.index);
    fencing::check(&writes, &applied, from)
}

/// The value a record says was written (or read), with the index it names.
fn observed(r: &Record) -> Option<(&str, u64)> {
    let index = r.index?;
    match (&r.op.call, &r.op.outcome) {
        (Call::Read, Outcome::Read(Some(v))) if matches!(r.kind, Kind::Read(_)) => {
            Some((v.as_str(), index))
        }
        (Call::Write { value }, Outcome::Written) => Some((value.as_str(), index)),
        (Call::Cas { new, .. }, Outcome::Swapped(true)) if r.kind == Kind::Cas => {
            Some((new.as_str(), index))
        }
        _ => None,
    }
}

fn applied_twice(
    records: &[Record],
    histories: &BTreeMap<String, Vec<Version>>,
) -> Vec<(String, String, BTreeSet<u64>)> {
    let mut seen: BTreeMap<(String, String), BTreeSet<u64>> = BTreeMap::new();
    for r in records {
        if let Some((v, index)) = observed(r) {
            seen.entry((r.op.key.clone(), v.to_owned()))
                .or_default()
                .insert(index);
        }
    }
    for (key, versions) in histories {
        for v in versions {
            if let Some(value) = &v.value {
                seen.entry((key.clone(), value.clone()))
                    .or_default()
                    .insert(v.index);
            }
        }
    }
    seen.into_iter()
        .filter(|(_, indices)| indices.len() > 1)
        .map(|((k, v), i)| (k, v, i))
        .collect()
}

/// `(write, index)`: writes refused with a 4xx found in a history.
type RefusedApplied = Vec<(u64, u64)>;

/// Acknowledged writes missing from their key's history, and refused
/// writes found in it.
fn against_histories(
    records: &[Record],
    histories: &BTreeMap<String, Vec<Version>>,
) -> (Vec<(u64, String)>, RefusedApplied) {
    let mut lost = Vec::new();
    let mut refused = Vec::new();
    for (key, versions) in histories {
        let Some(from) = versions.first().map(|v| v.index) else {
            continue;
        };
        let mut at: HashMap<u64, Vec<Option<&str>>> = HashMap::new();
        for v in versions {
            at.entry(v.index).or_default().push(v.value.as_deref());
        }
        let by_value: HashMap<&str, u64> = versions
            .iter()
            .filter_map(|v| v.value.as_deref().map(|x| (x, v.index)))
            .collect();
        for r in records.iter().filter(|r| &r.op.key == key) {
            let written = match (&r.op.call, &r.op.outcome) {
                (Call::Write { value }, _) | (Call::Cas { new: value, .. }, _)
                    if matches!(r.kind, Kind::Write | Kind::Cas | Kind::Fenced) =>
                {
                    value.as_str()
                }
                _ => continue,
            };
            let acked = matches!(r.op.outcome, Outcome::Written | Outcome::Swapped(true));
            match (acked, r.index) {
                (true, Some(index)) if index >= from => {
                    let there = at.get(&index);
                    if !there.is_some_and(|vs| vs.contains(&Some(written))) {
                        lost.push((
                            r.op.id,
                            format!(
                                "acknowledged at index {index}; the history has {} there",
                                there.map_or("nothing".to_owned(), |v| format!("{v:?}"))
                            ),
                        ));
                    }
                }
                _ => {}
            }
            if r.op.outcome == Outcome::Failed && r.answer.starts_with('4') {
                if let Some(index) = by_value.get(written) {
                    refused.push((r.op.id, *index));
                }
            }
        }
    }
    (lost, refused)
}

fn implausible_stale(records: &[Record]) -> Vec<(u64, String)> {
    // Per key and value: the earliest invocation of a write that was not
    // refused.
    let mut first_sent: HashMap<(&str, &str), Duration> = HashMap::new();
    for r in records {
        if r.op.outcome == Outcome::Failed {
            continue;
        }
        let v = match &r.op.call {
            Call::Write { value } => value.as_str(),
            Call::Cas { new, .. } if r.kind == Kind::Cas => new.as_str(),
            _ => continue,
        };
        let e = first_sent
            .entry((r.op.key.as_str(), v))
            .or_insert(r.op.invoke);
        *e = (*e).min(r.op.invoke);
    }
    records
        .iter()
        .filter(|r| r.kind == Kind::Read(Mode::Stale))
        .filter_map(|r| {
            let Outcome::Read(Some(v)) = &r.op.outcome else {
                return None;
            };
            match first_sent.get(&(r.op.key.as_str(), v.as_str())) {
                Some(sent) if *sent <= r.op.complete => None,
                Some(_) => Some((
                    r.op.id,
                    format!("it returned {v:?} before any write of it was sent"),
                )),
                None => Some((
                    r.op.id,
                    format!("it returned {v:?}, which no write that was not refused wrote"),
                )),
            }
        })
        .collect()
}

/// A stretch of the run: before the faults, a fault, its recovery, after.
struct Window {
    name: String,
    from: Duration,
    to: Duration,
    /// A fault was in force.
    faulty: bool,
}

/// `by node (ok/failed/unknown): s1 12/0/3 ...` for `records`.
fn by_node(records: &[&Record]) -> String {
    let mut per: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for r in records {
        let col = match r.op.outcome {
            Outcome::Failed => 1,
            Outcome::Unknown => 2,
            _ => 0,
        };
        per.entry(r.node.as_str()).or_default()[col] += 1;
    }
    let parts: Vec<String> = per
        .iter()
        .map(|(n, c)| format!("{n} {}/{}/{}", c[0], c[1], c[2]))
        .collect();
    format!("by node (ok/failed/unknown): {}", parts.join("  "))
}

impl Findings {
    /// How many anomalies were found (a key that is not linearizable or not
    /// concluded counts once; each other finding once).
    pub fn anomalies(&self) -> usize {
        self.linearizability.failures().count()
            + self.fencing.len()
            + self.applied_twice.len()
            + self.lost.len()
            + self.refused_applied.len()
            + self.implausible_stale.len()
    }

    /// Every record.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    fn by_id(&self) -> HashMap<u64, &Record> {
        self.records.iter().map(|r| (r.op.id, r)).collect()
    }

    fn windows(&self) -> Vec<Window> {
        let mut out = Vec::new();
        let mut at = Duration::ZERO;
        for (i, w) in self.windows.iter().enumerate() {
            out.push(Window {
                name: if i == 0 {
                    "before any fault".into()
                } else {
                    "between faults".into()
                },
                from: at,
                to: w.start,
                faulty: false,
            });
            out.push(Window {
                name: format!("{} ({})", w.fault, w.detail),
                from: w.start,
                to: w.healed,
                faulty: true,
            });
            out.push(Window {
                name: format!("  recovery after: {}", w.fault),
                from: w.healed,
                to: w.recovered,
                faulty: false,
            });
            at = w.recovered;
        }
        out.push(Window {
            name: if self.windows.is_empty() {
                "whole run".into()
            } else {
                "after the last fault".into()
            },
            from: at,
            to: self.end,
            faulty: false,
        });
        out
    }

    /// The fault in force (or being recovered from) at `t`.
    fn fault_at(&self, t: Duration) -> String {
        for w in &self.windows {
            if w.start <= t && t < w.healed {
                return format!(
                    "during \"{}\" ({}; {:.1}s..{:.1}s)",
                    w.fault,
                    w.detail,
                    w.start.as_secs_f64(),
                    w.healed.as_secs_f64()
                );
            }
            if w.healed <= t && t < w.recovered {
                return format!("while recovering from \"{}\"", w.fault);
            }
        }
        "with no fault in force".into()
    }

    /// The statistics: operations by kind and outcome, availability per
    /// window, and the faults.
    pub fn statistics(&self) -> String {
        let mut out = String::new();
        let mut table: BTreeMap<Kind, [usize; 4]> = BTreeMap::new();
        for r in &self.records {
            let col = match r.op.outcome {
                Outcome::Swapped(false) => 1,
                Outcome::Failed => 2,
                Outcome::Unknown => 3,
                _ => 0,
            };
            table.entry(r.kind).or_default()[col] += 1;
        }
        let _ = writeln!(
            out,
            "operations: {} in {:.1}s",
            self.records.len(),
            self.end.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "  {:<17} {:>7} {:>7} {:>7} {:>7}",
            "kind", "ok", "false", "failed", "unknown"
        );
        for (kind, c) in &table {
            let _ = writeln!(
                out,
                "  {:<17} {:>7} {:>7} {:>7} {:>7}",
                kind.word(),
                c[0],
                c[1],
                c[2],
                c[3]
            );
        }
        let _ = writeln!(
            out,
            "availability (operations answered per second: all / writes acknowledged / default+consistent reads answered):"
        );
        for w in self.windows() {
            let span = w.to.saturating_sub(w.from).as_secs_f64().max(0.001);
            let inside: Vec<&Record> = self
                .records
                .iter()
                .filter(|r| r.op.complete >= w.from && r.op.complete < w.to && r.worker != "final")
                .collect();
            let ok = inside.iter().filter(|r| r.is_ok()).count();
            let writes = inside
                .iter()
                .filter(|r| {
                    matches!(r.kind, Kind::Write | Kind::Cas | Kind::Fenced)
                        && matches!(r.op.outcome, Outcome::Written | Outcome::Swapped(true))
                })
                .count();
            let reads = inside
                .iter()
                .filter(|r| {
                    matches!(r.kind, Kind::Read(Mode::Default | Mode::Consistent)) && r.is_ok()
                })
                .count();
            let _ = writeln!(
                out,
                "  {:>6.1}s..{:>6.1}s {:>6.1}/s {:>6.1}/s {:>6.1}/s  {}",
                w.from.as_secs_f64(),
                w.to.as_secs_f64(),
                ok as f64 / span,
                writes as f64 / span,
                reads as f64 / span,
                w.name
            );
            if w.faulty {
                let _ = writeln!(out, "{:>26}{}", "", by_node(&inside));
            }
        }
        for w in &self.windows {
            let _ = writeln!(
                out,
                "fault \"{}\": leader {} before, {} after; held {:.1}s, leader agreed {:.1}s after the heal",
                w.fault,
                w.leader_before,
                w.leader_after,
                w.healed.saturating_sub(w.start).as_secs_f64(),
                w.recovered.saturating_sub(w.healed).as_secs_f64()
            );
        }
        out
    }

    /// Every anomaly, precisely: for each key that is not linearizable its
    /// counterexample, the stale reads grouped by node, mode and fault (with
    /// a few examples each), and every other finding.
    pub fn anomaly_report(&self) -> String {
        let mut out = String::new();
        let by_id = self.by_id();
        let ops: Vec<Op> = self.records.iter().map(|r| r.op.clone()).collect();
        let _ = writeln!(out, "anomalies: {}", self.anomalies());
        for k in &self.linearizability.keys {
            let _ = writeln!(out, "{}", k.explain(&ops));
        }
        if !self.stale_reads.is_empty() {
            let mut groups: BTreeMap<(String, String, String), Vec<&Stale>> = BTreeMap::new();
            for s in &self.stale_reads {
                let Some(r) = by_id.get(&s.read) else {
                    continue;
                };
                let mode = match r.kind {
                    Kind::Read(m) => m.word(),
                    _ => "?",
                };
                groups
                    .entry((self.fault_at(r.op.invoke), r.node.clone(), mode.to_owned()))
                    .or_default()
                    .push(s);
            }
            let _ = writeln!(
                out,
                "{} reads returned a value that a write completed before the read began had already replaced ({} proven by real time alone, {} by the indices the servers answered):",
                self.stale_reads.len(),
                self.stale_reads.iter().filter(|s| !s.by_index).count(),
                self.stale_reads.iter().filter(|s| s.by_index).count()
            );
            for ((fault, node, mode), list) in &groups {
                let total = self
                    .records
                    .iter()
                    .filter(|r| {
                        r.node == *node
                            && matches!(r.kind, Kind::Read(m) if m.word() == mode)
                            && self.fault_at(r.op.invoke) == *fault
                            && r.is_ok()
                    })
                    .count();
                let (first, last) = (
                    list.iter()
                        .filter_map(|s| by_id.get(&s.read))
                        .map(|r| r.op.invoke)
                        .min(),
                    list.iter()
                        .filter_map(|s| by_id.get(&s.read))
                        .map(|r| r.op.complete)
                        .max(),
                );
                let keys: BTreeSet<&str> = list
                    .iter()
                    .filter_map(|s| by_id.get(&s.read))
                    .map(|r| r.op.key.as_str())
                    .collect();
                let _ = writeln!(
                    out,
                    "  {} of {total} {mode} reads answered by {node} {fault}, keys {keys:?}, from {:.3}s to {:.3}s; for example:",
                    list.len(),
                    first.unwrap_or_default().as_secs_f64(),
                    last.unwrap_or_default().as_secs_f64(),
                );
                for s in list.iter().take(3) {
                    let show = |id: Option<u64>| {
                        id.and_then(|i| by_id.get(&i)).map_or_else(
                            || {
                                if s.by_index {
                                    "(no acknowledged write at that index)".to_owned()
                                } else {
                                    "(the key absent: no write yet)".to_owned()
                                }
                            },
                            |r| r.op.describe(),
                        )
                    };
                    let _ = writeln!(out, "    read     {}", show(Some(s.read)));
                    let _ = writeln!(out, "    its value was written by {}", show(s.writer));
                    let _ = writeln!(
                        out,
                        "    replaced before the read by {}",
                        show(Some(s.newer))
                    );
                }
            }
        }
        if let Some(rest) = &self.without_stale_reads {
            let verdicts: Vec<String> = rest
                .keys
                .iter()
                .map(|k| {
                    let v = match &k.verdict {
                        linearizability::Verdict::Linearizable => "linearizable".to_owned(),
                        linearizability::Verdict::NotLinearizable(_) => {
                            "NOT linearizable".to_owned()
                        }
                        other => format!("{other:?}"),
                    };
                    format!("{:?} {v}", k.key)
                })
                .collect();
            let _ = writeln!(
                out,
                "without the reads proven stale, the rest of the history (every write, CAS, fenced write and other read): {}{}",
                verdicts.join(", "),
                if rest.all_linearizable() {
                    " -- the stale reads are the whole story"
                } else {
                    " -- there is more than stale reads"
                }
            );
            for k in rest.failures() {
                let _ = writeln!(out, "{}", k.explain(&ops));
            }
        }
        for v in &self.fencing {
            let _ = writeln!(out, "fencing: {v}");
            if let fencing::Violation::RealTime { first, then } = v {
                for id in [first, then] {
                    if let Some(r) = by_id.get(id) {
                        let _ = writeln!(out, "    {}", r.op.describe());
                    }
                }
            }
        }
        for (key, value, indices) in &self.applied_twice {
            let _ = writeln!(
                out,
                "applied twice: {key:?} = {value:?} seen at ModifyIndex {indices:?} (a value is written by one request only)"
            );
            for r in self.records.iter().filter(|r| {
                &r.op.key == key
                    && matches!(&r.op.call, Call::Write { value: v } | Call::Cas { new: v, .. } if v == value)
            }) {
                let _ = writeln!(out, "    {}", r.op.describe());
            }
        }
        for (id, why) in &self.lost {
            let d = by_id.get(id).map_or_else(String::new, |r| r.op.describe());
            let _ = writeln!(out, "lost: {d}: {why}");
        }
        for (id, index) in &self.refused_applied {
            let d = by_id.get(id).map_or_else(String::new, |r| r.op.describe());
            let _ = writeln!(out, "refused but applied at index {index}: {d}");
        }
        for (id, why) in &self.implausible_stale {
            let d = by_id.get(id).map_or_else(String::new, |r| r.op.describe());
            let _ = writeln!(out, "implausible stale read: {d}: {why}");
        }
        out
    }
}

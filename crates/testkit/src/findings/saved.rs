//! A run saved as JSON and read back, so its checks can run again offline
//! (`PRAETOR_FAULTS_RUN`, `PRAETOR_FAULTS_RECHECK`).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::linearizability::{Call, Op, Outcome};
use crate::nemesis::{Fault, FaultWindow};
use crate::workload::{Kind, Record, Version};

/// A whole run as JSON (records, the keys' histories, the fault windows),
/// so that its checks can be run again offline ([`load_run`]).
pub fn run_to_json(
    records: &[Record],
    histories: &BTreeMap<String, Vec<Version>>,
    windows: &[FaultWindow],
) -> serde_json::Value {
    use serde_json::json;
    let d = |d: Duration| d.as_nanos() as u64;
    let records: Vec<serde_json::Value> = records
        .iter()
        .map(|r| {
            let (call, value, expect) = match &r.op.call {
                Call::Read => ("read", None, None),
                Call::Write { value } => ("write", Some(value.clone()), None),
                Call::Cas { expect, new } => ("cas", Some(new.clone()), Some(expect.clone())),
            };
            let (outcome, read) = match &r.op.outcome {
                Outcome::Read(v) => ("read", Some(v.clone())),
                Outcome::Written => ("written", None),
                Outcome::Swapped(true) => ("swapped", None),
                Outcome::Swapped(false) => ("not-swapped", None),
                Outcome::Failed => ("failed", None),
                Outcome::Unknown => ("unknown", None),
            };
            json!({
                "id": r.op.id, "key": r.op.key, "call": call, "value": value,
                "has_expect": expect.is_some(), "expect": expect.flatten(),
                "outcome": outcome, "has_read": read.is_some(), "read": read.flatten(),
                "invoke_ns": d(r.op.invoke), "complete_ns": d(r.op.complete),
                "label": r.op.label, "kind": r.kind.word(), "node": r.node,
                "worker": r.worker, "index": r.index, "known_leader": r.known_leader,
                "last_contact_ms": r.last_contact_ms, "answer": r.answer, "token": r.token,
            })
        })
        .collect();
    let histories: serde_json::Map<String, serde_json::Value> = histories
        .iter()
        .map(|(k, vs)| {
            let vs: Vec<serde_json::Value> = vs
                .iter()
                .map(|v| json!({"index": v.index, "value": v.value}))
                .collect();
            (k.clone(), serde_json::Value::from(vs))
        })
        .collect();
    let windows: Vec<serde_json::Value> = windows
        .iter()
        .map(|w| {
            json!({
                "fault": Fault::CYCLE.iter().position(|f| *f == w.fault),
                "detail": w.detail, "leader_before": w.leader_before,
                "leader_after": w.leader_after, "start_ns": d(w.start),
                "healed_ns": d(w.healed), "recovered_ns": d(w.recovered),
            })
        })
        .collect();
    json!({"records": records, "histories": histories, "windows": windows})
}

/// What [`run_to_json`] wrote: records, histories, windows.
pub type Run = (
    Vec<Record>,
    BTreeMap<String, Vec<Version>>,
    Vec<FaultWindow>,
);

/// Reads back what [`run_to_json`] wrote.
///
/// # Errors
/// A field missing or of the wrong type (named).
pub fn load_run(v: &serde_json::Value) -> Result<Run, String> {
    let s = |x: &serde_json::Value, f: &str| -> Result<String, String> {
        x[f].as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("field {f} missing in {x}"))
    };
    let opt_s = |x: &serde_json::Value, f: &str| x[f].as_str().map(str::to_owned);
    let n = |x: &serde_json::Value, f: &str| -> Result<u64, String> {
        x[f].as_u64()
            .ok_or_else(|| format!("field {f} missing in {x}"))
    };
    let mut records = Vec::new();
    for r in v["records"].as_array().into_iter().flatten() {
        let call = match s(r, "call")?.as_str() {
            "read" => Call::Read,
            "write" => Call::Write {
                value: s(r, "value")?,
            },
            _ => Call::Cas {
                expect: opt_s(r, "expect"),
                new: s(r, "value")?,
            },
        };
        let outcome = match s(r, "outcome")?.as_str() {
            "read" => Outcome::Read(opt_s(r, "read")),
            "written" => Outcome::Written,
            "swapped" => Outcome::Swapped(true),
            "not-swapped" => Outcome::Swapped(false),
            "failed" => Outcome::Failed,
            _ => Outcome::Unknown,
        };
        let kind = Kind::from_word(&s(r, "kind")?).ok_or_else(|| format!("unknown kind in {r}"))?;
        records.push(Record {
            op: Op {
                id: n(r, "id")?,
                key: s(r, "key")?,
                call,
                outcome,
                invoke: Duration::from_nanos(n(r, "invoke_ns")?),
                complete: Duration::from_nanos(n(r, "complete_ns")?),
                label: s(r, "label")?,
            },
            kind,
            node: s(r, "node")?,
            worker: s(r, "worker")?,
            index: r["index"].as_u64(),
            known_leader: r["known_leader"].as_bool(),
            last_contact_ms: r["last_contact_ms"].as_u64(),
            answer: s(r, "answer")?,
            token: r["token"].as_u64(),
        });
    }
    let mut histories = BTreeMap::new();
    for (k, vs) in v["histories"].as_object().into_iter().flatten() {
        let mut versions = Vec::new();
        for x in vs.as_array().into_iter().flatten() {
            versions.push(Version {
                index: n(x, "index")?,
                value: opt_s(x, "value"),
            });
        }
        histories.insert(k.clone(), versions);
    }
    let mut windows = Vec::new();
    for w in v["windows"].as_array().into_iter().flatten() {
        let fault = usize::try_from(n(w, "fault")?)
            .ok()
            .and_then(|i| Fault::CYCLE.get(i).copied())
            .ok_or_else(|| format!("unknown fault in {w}"))?;
        windows.push(FaultWindow {
            fault,
            detail: s(w, "detail")?,
            leader_before: s(w, "leader_before")?,
            leader_after: s(w, "leader_after")?,
            start: Duration::from_nanos(n(w, "start_ns")?),
            healed: Duration::from_nanos(n(w, "healed_ns")?),
            recovered: Duration::from_nanos(n(w, "recovered_ns")?),
        });
    }
    Ok((records, histories, windows))
}

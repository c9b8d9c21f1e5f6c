//! What a fault-injection run records: every operation, on one monotonic
//! clock, with what the checker needs (the [`Op`]) and what a report shows
//! (the node, the consistency mode, the headers, the answer).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::linearizability::{Op, Outcome};

/// A node to send requests to.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its node name (`s1`, `c1`).
    pub name: String,
    /// `http://ip:8500`.
    pub url: String,
}

/// Read consistency, as Consul's query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    Default,
    Consistent,
    Stale,
}

impl Mode {
    /// The query string that asks for it.
    pub fn param(self) -> &'static str {
        match self {
            Mode::Default => "",
            Mode::Consistent => "?consistent",
            Mode::Stale => "?stale",
        }
    }

    /// `default`, `consistent`, `stale`.
    pub fn word(self) -> &'static str {
        match self {
            Mode::Default => "default",
            Mode::Consistent => "consistent",
            Mode::Stale => "stale",
        }
    }
}

/// What kind of operation a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Read(Mode),
    Write,
    Cas,
    /// `?acquire` of the lock key.
    Acquire,
    /// A `?consistent` read of the lock key (its session and index).
    LockRead,
    /// A txn that writes the shared key only while the lock key is still at
    /// the holder's fencing token.
    Fenced,
}

impl Kind {
    /// `read-default`, `write`, `fenced-write`, ...
    pub fn word(self) -> String {
        match self {
            Kind::Read(m) => format!("read-{}", m.word()),
            Kind::Write => "write".into(),
            Kind::Cas => "cas".into(),
            Kind::Acquire => "acquire".into(),
            Kind::LockRead => "lock-read".into(),
            Kind::Fenced => "fenced-write".into(),
        }
    }

    /// The kind [`word`](Self::word) names.
    pub fn from_word(word: &str) -> Option<Kind> {
        Some(match word {
            "read-default" => Kind::Read(Mode::Default),
            "read-consistent" => Kind::Read(Mode::Consistent),
            "read-stale" => Kind::Read(Mode::Stale),
            "write" => Kind::Write,
            "cas" => Kind::Cas,
            "acquire" => Kind::Acquire,
            "lock-read" => Kind::LockRead,
            "fenced-write" => Kind::Fenced,
            _ => return None,
        })
    }

    /// Whether the linearizability check takes it: every KV write, CAS and
    /// fenced write, default and consistent reads (stale reads promise no
    /// recency). Acquires and lock reads are the lock's business.
    pub fn checked(self) -> bool {
        matches!(
            self,
            Kind::Read(Mode::Default | Mode::Consistent) | Kind::Write | Kind::Cas | Kind::Fenced
        )
    }
}

/// One recorded operation: what the checker needs, and what a report shows.
#[derive(Debug, Clone)]
pub struct Record {
    pub op: Op,
    pub kind: Kind,
    /// The node asked.
    pub node: String,
    /// The worker that sent it (`kv3`, `lock1`, `final`).
    pub worker: String,
    /// For a read: the entry's ModifyIndex; for an acknowledged write, CAS
    /// or txn: the `X-Consul-Index` answered (the index it was applied at).
    pub index: Option<u64>,
    /// `X-Consul-KnownLeader` of a read's answer.
    pub known_leader: Option<bool>,
    /// `X-Consul-LastContact` of a read's answer (ms).
    pub last_contact_ms: Option<u64>,
    /// The status, or what went wrong (`500 No cluster leader`, `timeout`).
    pub answer: String,
    /// For a fenced write: the holder's fencing token.
    pub token: Option<u64>,
}

impl Record {
    /// Whether the answer said what happened (a read's value, a write's or
    /// a CAS's result).
    pub fn is_ok(&self) -> bool {
        !matches!(self.op.outcome, Outcome::Failed | Outcome::Unknown)
    }
}

/// Every operation of a run, on one clock.
pub struct Recorder {
    epoch: Instant,
    next_id: AtomicU64,
    records: Mutex<Vec<Record>>,
}

impl Recorder {
    /// A recorder whose clock starts now.
    pub fn new() -> Arc<Recorder> {
        Arc::new(Recorder {
            epoch: Instant::now(),
            next_id: AtomicU64::new(1),
            records: Mutex::new(Vec::new()),
        })
    }

    /// The time since the epoch.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// The epoch (for others' times on the same clock).
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// A fresh operation id.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a record.
    pub fn push(&self, r: Record) {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(r);
    }

    /// How many operations were recorded so far.
    pub fn len(&self) -> usize {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing was recorded yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many recorded operations got an answer that says what happened.
    pub fn answered(&self) -> usize {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|r| r.is_ok())
            .count()
    }

    /// A copy of every record so far, in the order they completed.
    pub fn records(&self) -> Vec<Record> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_writes_and_default_or_consistent_reads_are_checked() {
        assert!(Kind::Read(Mode::Default).checked());
        assert!(Kind::Read(Mode::Consistent).checked());
        assert!(!Kind::Read(Mode::Stale).checked());
        assert!(Kind::Cas.checked());
        assert!(Kind::Fenced.checked());
        assert!(!Kind::Acquire.checked());
        assert!(!Kind::LockRead.checked());
    }

    #[test]
    fn every_kind_is_named_and_found_by_its_name() {
        for k in [
            Kind::Read(Mode::Default),
            Kind::Read(Mode::Consistent),
            Kind::Read(Mode::Stale),
            Kind::Write,
            Kind::Cas,
            Kind::Acquire,
            Kind::LockRead,
            Kind::Fenced,
        ] {
            assert_eq!(Kind::from_word(&k.word()), Some(k));
        }
        assert_eq!(Kind::from_word("nonsense"), None);
    }
}

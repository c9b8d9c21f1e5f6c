//! The fenced-write check: lock holders write to one shared key only
//! through a txn that also checks the lock key still holds their session at
//! the ModifyIndex they acquired it at (their fencing token, which grows
//! with every acquisition). However holders pause, lose their session or
//! get cut off, the shared key must then see the holders' writes in token
//! order: once a write of token B took effect, no write of a token A < B
//! may take effect after it.
//!
//! Two sources say in what order writes took effect: the index each
//! acknowledged txn answered (`X-Consul-Index`), and the key's history as
//! the servers kept it (which also holds writes whose client never learned
//! the outcome). A third check needs no server's word: an acknowledged
//! write of a lower token invoked after an acknowledged write of a higher
//! token had completed. Values are `<holder>-t<token>-s<seq>`.
//!
//! Pure: takes what the workload recorded and what the servers answered.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// A fenced write as its client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FencedWrite {
    /// The operation's id in the run's history.
    pub id: u64,
    /// `<holder>-t<token>-s<seq>`.
    pub value: String,
    pub token: u64,
    pub invoke: Duration,
    pub complete: Duration,
    /// The index an acknowledged write answered; `None` when it was not
    /// acknowledged.
    pub acked_at: Option<u64>,
    /// Refused (409): the txn's checks failed, nothing was written.
    pub refused: bool,
}

/// One write the shared key took, at a Raft index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub index: u64,
    pub value: String,
}

/// A way the fence did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// By index: `later`, of a lower token, took effect after `earlier`.
    OutOfOrder { earlier: Applied, later: Applied },
    /// By real time: acknowledged write `then` (lower token) was sent after
    /// acknowledged write `first` (higher token) had completed.
    RealTime { first: u64, then: u64 },
    /// A write refused with 409 is in the key's history.
    RefusedApplied { id: u64, index: u64 },
    /// An acknowledged write is not in the key's history at its index.
    AckedMissing { id: u64, index: u64 },
    /// The key holds a value no fenced write wrote.
    Foreign { applied: Applied },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::OutOfOrder { earlier, later } => write!(
                f,
                "{:?} took effect at index {} after {:?} at index {}: holders interleaved",
                later.value, later.index, earlier.value, earlier.index
            ),
            Violation::RealTime { first, then } => write!(
                f,
                "acknowledged write #{then} of a lower token was sent after acknowledged write #{first} of a higher token completed"
            ),
            Violation::RefusedApplied { id, index } => {
                write!(f, "write #{id} was refused (409) but took effect at index {index}")
            }
            Violation::AckedMissing { id, index } => write!(
                f,
                "write #{id} was acknowledged at index {index} but the key's history does not have it"
            ),
            Violation::Foreign { applied } => write!(
                f,
                "the key took {:?} at index {}, which no fenced write wrote",
                applied.value, applied.index
            ),
        }
    }
}

/// The token in `<holder>-t<token>-s<seq>`.
pub fn token_of(value: &str) -> Option<u64> {
    let (rest, _seq) = value.rsplit_once("-s")?;
    let (_, token) = rest.rsplit_once("-t")?;
    token.parse().ok()
}

/// Checks `writes` against each other and against `history` (the shared
/// key's versions; `history_from` is the lowest index it is complete from,
/// `None` when it was not read: then only acknowledged indices are used).
pub fn check(
    writes: &[FencedWrite],
    history: &[Applied],
    history_from: Option<u64>,
) -> Vec<Violation> {
    let mut out = Vec::new();
    // Every known application in the order it took effect: the history's
    // (several changes of one batch share an index and keep their order),
    // and acknowledged writes the history cannot speak for.
    let mut applied: Vec<Applied> = history.to_vec();
    let by_value: BTreeMap<&str, &FencedWrite> =
        writes.iter().map(|w| (w.value.as_str(), w)).collect();
    for w in writes {
        if let Some(index) = w.acked_at {
            let covered = history_from.is_some_and(|from| index >= from);
            let found = history
                .iter()
                .any(|a| a.index == index && a.value == w.value);
            if covered && !found {
                out.push(Violation::AckedMissing { id: w.id, index });
            } else if !covered && !found {
                applied.push(Applied {
                    index,
                    value: w.value.clone(),
                });
            }
        }
    }
    applied.sort_by_key(|a| a.index);
    let mut highest: Option<Applied> = None;
    for here in applied {
        let Some(token) =
            token_of(&here.value).filter(|_| by_value.contains_key(here.value.as_str()))
        else {
            out.push(Violation::Foreign { applied: here });
            continue;
        };
        if let Some(w) = by_value.get(here.value.as_str()).filter(|w| w.refused) {
            out.push(Violation::RefusedApplied {
                id: w.id,
                index: here.index,
            });
        }
        match &highest {
            Some(h) if token_of(&h.value).is_some_and(|t| t > token) => {
                out.push(Violation::OutOfOrder {
                    earlier: h.clone(),
                    later: here,
                });
            }
            _ => highest = Some(here),
        }
    }
    let acked: Vec<&FencedWrite> = writes.iter().filter(|w| w.acked_at.is_some()).collect();
    for a in &acked {
        // The latest-completing higher-token write that completed before `a`
        // was sent, if any.
        let first = acked
            .iter()
            .filter(|b| b.token > a.token && b.complete < a.invoke)
            .max_by_key(|b| b.complete);
        if let Some(b) = first {
            out.push(Violation::RealTime {
                first: b.id,
                then: a.id,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn w(
        id: u64,
        holder: &str,
        token: u64,
        seq: u64,
        span: (u64, u64),
        acked: Option<u64>,
    ) -> FencedWrite {
        FencedWrite {
            id,
            value: format!("{holder}-t{token}-s{seq}"),
            token,
            invoke: ms(span.0),
            complete: ms(span.1),
            acked_at: acked,
            refused: false,
        }
    }

    fn applied(index: u64, value: &str) -> Applied {
        Applied {
            index,
            value: value.into(),
        }
    }

    #[test]
    fn the_token_is_read_from_the_value() {
        assert_eq!(token_of("lock0-t123-s4"), Some(123));
        assert_eq!(token_of("lock-t1-t99-s0"), Some(99));
        assert_eq!(token_of("nothing"), None);
    }

    #[test]
    fn holders_in_token_order_pass() {
        let writes = [
            w(1, "a", 10, 0, (0, 5), Some(11)),
            w(2, "a", 10, 1, (6, 9), Some(12)),
            w(3, "b", 20, 0, (20, 25), Some(21)),
        ];
        let history = [
            applied(11, "a-t10-s0"),
            applied(12, "a-t10-s1"),
            applied(21, "b-t20-s0"),
        ];
        assert_eq!(check(&writes, &history, Some(1)), vec![]);
        assert_eq!(check(&writes, &[], None), vec![]);
    }

    #[test]
    fn an_old_holder_writing_after_a_new_one_is_caught_by_index_and_by_time() {
        let writes = [
            w(1, "a", 10, 0, (0, 5), Some(11)),
            w(2, "b", 20, 0, (20, 25), Some(21)),
            w(3, "a", 10, 1, (30, 35), Some(31)),
        ];
        let v = check(&writes, &[], None);
        assert!(
            v.contains(&Violation::OutOfOrder {
                earlier: applied(21, "b-t20-s0"),
                later: applied(31, "a-t10-s1"),
            }),
            "{v:?}"
        );
        assert!(
            v.contains(&Violation::RealTime { first: 2, then: 3 }),
            "{v:?}"
        );
    }

    #[test]
    fn an_unacknowledged_write_that_took_effect_late_is_caught_by_the_history() {
        let mut late = w(3, "a", 10, 1, (6, 9), None);
        late.refused = false;
        let writes = [
            w(1, "a", 10, 0, (0, 5), Some(11)),
            late,
            w(2, "b", 20, 0, (20, 25), Some(21)),
        ];
        let history = [
            applied(11, "a-t10-s0"),
            applied(21, "b-t20-s0"),
            applied(40, "a-t10-s1"),
        ];
        let v = check(&writes, &history, Some(1));
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(matches!(&v[0], Violation::OutOfOrder { later, .. } if later.index == 40));
    }

    #[test]
    fn refused_applied_missing_and_foreign_writes_are_reported() {
        let mut refused = w(2, "a", 10, 1, (6, 9), None);
        refused.refused = true;
        let writes = [w(1, "a", 10, 0, (0, 5), Some(11)), refused];
        let history = [applied(12, "a-t10-s1"), applied(13, "someone else")];
        let v = check(&writes, &history, Some(1));
        assert!(
            v.contains(&Violation::AckedMissing { id: 1, index: 11 }),
            "{v:?}"
        );
        assert!(
            v.contains(&Violation::RefusedApplied { id: 2, index: 12 }),
            "{v:?}"
        );
        assert!(
            v.iter().any(|x| matches!(x, Violation::Foreign { .. })),
            "{v:?}"
        );
        // Outside the history's reach, the acknowledgement counts instead.
        let v = check(&writes[..1], &[], Some(100));
        assert_eq!(v, vec![]);
    }
}

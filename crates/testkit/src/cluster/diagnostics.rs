//! What a failed cluster test prints: every node's log tail under a header
//! naming its role, address, PID and state, appended to a timeout's "last
//! seen".

use std::fmt::Write as _;

use super::{Cluster, TAIL_LINES};
use crate::KitError;

impl Cluster {
    /// The last lines of every node's log, each under a header.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for n in &self.nodes {
            let _ = writeln!(
                out,
                "=== {} ({}, {}, pid {}, {:?}) ===\n{}",
                n.name,
                n.role.word(),
                n.ip(),
                n.agent.pid(),
                n.state,
                n.agent.log_tail(lines)
            );
        }
        out
    }

    /// A timeout's "last seen" followed by every node's log tail.
    pub(super) fn with_logs(&self, e: KitError) -> KitError {
        match e {
            KitError::Timeout {
                reason,
                within,
                last,
            } => KitError::Timeout {
                reason,
                within,
                last: format!("{last}\n{}", self.log_tails(TAIL_LINES)),
            },
            other => other,
        }
    }
}

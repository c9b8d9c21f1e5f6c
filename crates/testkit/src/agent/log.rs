//! What an agent wrote: its stderr and stdout across every run (a marker
//! line before each spawn), the latest run's stderr, tails for failure
//! messages, and waiting for a line to appear. Reads files only.

use std::time::Duration;

use super::AgentProcess;
use crate::KitError;

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl AgentProcess {
    /// Everything the agent wrote to stderr and stdout, every run, with a
    /// marker line before each spawn.
    pub fn log(&self) -> String {
        let read = |name: &str| std::fs::read_to_string(self.dir().join(name)).unwrap_or_default();
        let (err, out) = (read("stderr.log"), read("stdout.log"));
        if out.trim().is_empty() {
            err
        } else {
            format!("{err}\n--- stdout ---\n{out}")
        }
    }

    /// What the latest run wrote to stderr (where an agent reports a bad
    /// configuration before it exits).
    pub fn stderr(&self) -> String {
        let all = std::fs::read_to_string(self.dir().join("stderr.log")).unwrap_or_default();
        match all.rfind("=== praetor-testkit: spawn") {
            Some(at) => all[at..]
                .split_once('\n')
                .map_or("", |(_, rest)| rest)
                .to_owned(),
            None => all,
        }
    }

    /// The last `n` lines of [`log`](Self::log).
    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log(), n)
    }

    /// Waits until a line of the log contains `needle`; returns that line.
    ///
    /// # Errors
    /// `Timeout` with the log's tail.
    pub async fn wait_for_log(&self, within: Duration, needle: &str) -> Result<String, KitError> {
        let reason = format!("agent {} to log {needle:?}", self.name);
        crate::wait_for(within, &reason, || {
            let log = self.log();
            let found = log.lines().find(|l| l.contains(needle)).map(str::to_owned);
            async move { found.ok_or_else(|| format!("log tail:\n{}", tail(&log, 15))) }
        })
        .await
    }
}

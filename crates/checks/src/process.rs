//! A child process's group, killed whole: script checks and the agent's
//! watch handlers run in their own process group, so a timeout or a stop
//! takes the child and everything it started. Never waits unboundedly.

use std::time::Duration;

use tokio::process::Child;

/// How long a killed child may take to be reaped before we move on.
pub const REAP_GRACE: Duration = Duration::from_secs(5);

/// A child's process group: killed (SIGKILL) on `kill` or when dropped
/// armed, so neither a timeout nor a stopped owner leaves its processes.
/// The child must have been spawned with `process_group(0)`.
#[derive(Debug)]
pub struct ProcessGroup {
    pgid: Option<libc::pid_t>,
}

impl ProcessGroup {
    /// The group `child` leads.
    pub fn of(child: &Child) -> ProcessGroup {
        ProcessGroup {
            pgid: child.id().and_then(|id| libc::pid_t::try_from(id).ok()),
        }
    }

    /// The child ended normally: whatever it deliberately left running is
    /// its own business, as in Consul.
    pub fn disarm(&mut self) {
        self.pgid = None;
    }

    /// Kills every process of the group (once).
    pub fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: kill(2) takes plain integers and touches no memory of
            // ours. Which processes it reaches: Linux does not reuse an ID
            // while a process group of that ID has a member, and the group
            // is disarmed once the child ended normally; only a group
            // emptied while its output pipe was held outside it could have
            // its ID reused, and then by a new group leader alone.
            let rc = unsafe { libc::kill(-pgid, libc::SIGKILL) };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::ESRCH) {
                    tracing::warn!(pgid, error = %e, "killing a child's process group");
                }
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits at most `REAP_GRACE` for a killed child, so the next run never
/// overlaps it; `false` when it was not reaped in time (tokio reaps it
/// later).
pub async fn reap(child: &mut Child) -> bool {
    tokio::time::timeout(REAP_GRACE, child.wait()).await.is_ok()
}

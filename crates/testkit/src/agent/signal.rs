//! The signals tests send, and sending one to a PID: never to 0 or a
//! negative PID (process groups), never by name.

use crate::KitError;

/// The signals tests send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Ctrl-C: a graceful shutdown.
    Int,
    /// A graceful shutdown, as service managers ask.
    Term,
    /// Reload the configuration.
    Hup,
    /// Pause the process (it cannot catch this).
    Stop,
    /// Resume a paused process.
    Cont,
    /// Die at once, without running any shutdown code.
    Kill,
}

impl Signal {
    fn raw(self) -> libc::c_int {
        match self {
            Signal::Int => libc::SIGINT,
            Signal::Term => libc::SIGTERM,
            Signal::Hup => libc::SIGHUP,
            Signal::Stop => libc::SIGSTOP,
            Signal::Cont => libc::SIGCONT,
            Signal::Kill => libc::SIGKILL,
        }
    }
}

/// Sends `signal` to `pid`.
pub(crate) fn send(pid: u32, signal: Signal) -> Result<(), KitError> {
    // 0 and negative PIDs name process groups, never one process: refuse them.
    let raw_pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| KitError::Signal {
            signal,
            pid,
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        })?;
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(raw_pid, signal.raw()) } == 0 {
        Ok(())
    } else {
        Err(KitError::Signal {
            signal,
            pid,
            source: std::io::Error::last_os_error(),
        })
    }
}

/// Whether every thread of `pid` is stopped (state `T` in
/// `/proc/<pid>/task/*/stat`); `None` when `/proc` cannot tell.
pub(super) fn all_threads_stopped(pid: u32) -> Option<bool> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut all = true;
    for task in tasks.flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // `pid (comm) S …`: the state follows the last `)`.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())?;
        all &= state == 'T';
    }
    Some(all)
}

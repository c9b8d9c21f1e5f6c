//! A template's command, run after its destination changed, as
//! consul-template's: a string runs through `/bin/sh -c`, a list runs as
//! given; it must end within its timeout with exit code 0, or the run is an
//! error (and on timeout its whole process group is stopped: SIGTERM, then
//! SIGKILL after a grace period). A zero timeout runs it in the background,
//! unwatched. The command's output goes where the renderer's goes.

use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;

/// consul-template's default command timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a timed-out command gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// A command as a config gives it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum CommandLine {
    /// Run through `/bin/sh -c`.
    Shell(String),
    /// Run as given: the program, then its arguments.
    Argv(Vec<String>),
}

impl CommandLine {
    /// Whether there is nothing to run.
    pub fn is_empty(&self) -> bool {
        match self {
            CommandLine::Shell(s) => s.trim().is_empty(),
            CommandLine::Argv(v) => v.first().is_none_or(|p| p.is_empty()),
        }
    }

    fn command(&self) -> Option<tokio::process::Command> {
        let mut c = match self {
            CommandLine::Shell(s) => {
                let mut c = tokio::process::Command::new("/bin/sh");
                c.arg("-c").arg(s);
                c
            }
            CommandLine::Argv(v) => {
                let (program, args) = v.split_first()?;
                let mut c = tokio::process::Command::new(program);
                c.args(args);
                c
            }
        };
        c.stdin(Stdio::null()).process_group(0);
        Some(c)
    }
}

impl std::fmt::Display for CommandLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommandLine::Shell(s) => f.write_str(s),
            CommandLine::Argv(v) => f.write_str(&v.join(" ")),
        }
    }
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error("command {command:?} is empty")]
    Empty { command: String },
    #[error("command {command:?} could not start: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("command {command:?} failed: {status}")]
    Failed {
        command: String,
        status: std::process::ExitStatus,
    },
    #[error("command {command:?} did not finish within {timeout:?}; it was stopped")]
    TimedOut { command: String, timeout: Duration },
}

/// Runs `cmd` with `env` added to the renderer's environment, and waits up
/// to `timeout` for it (zero: does not wait).
///
/// # Errors
/// When it cannot start, exits with a failure, or outlives `timeout`.
pub async fn run(
    cmd: &CommandLine,
    env: &[(String, String)],
    timeout: Duration,
) -> Result<(), CommandError> {
    let command = cmd.to_string();
    let Some(mut c) = cmd.command().filter(|_| !cmd.is_empty()) else {
        return Err(CommandError::Empty { command });
    };
    c.envs(env.iter().map(|(k, v)| (k, v)));
    let mut child = c.spawn().map_err(|source| CommandError::Spawn {
        command: command.clone(),
        source,
    })?;
    if timeout.is_zero() {
        // Unwatched, as consul-template's zero timeout; tokio reaps it.
        return Ok(());
    }
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(CommandError::Failed { command, status }),
        Ok(Err(source)) => Err(CommandError::Spawn { command, source }),
        Err(_) => {
            stop_group(&mut child).await;
            Err(CommandError::TimedOut { command, timeout })
        }
    }
}

/// Stops `child`'s process group: SIGTERM, then SIGKILL after [`GRACE`].
async fn stop_group(child: &mut tokio::process::Child) {
    let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) else {
        return;
    };
    // SAFETY: kill(2) with a negative pid signals the process group the
    // child leads (it was started with `process_group(0)`).
    unsafe {
        libc::kill(-pid, libc::SIGTERM);
    }
    if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
        // SAFETY: as above.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
        let _ = tokio::time::timeout(GRACE, child.wait()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shell(s: &str) -> CommandLine {
        CommandLine::Shell(s.into())
    }

    #[tokio::test]
    async fn a_shell_command_runs_with_the_given_environment() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let cmd = shell(&format!("echo \"$GREETING\" > {}", out.display()));
        run(
            &cmd,
            &[("GREETING".into(), "hello".into())],
            DEFAULT_TIMEOUT,
        )
        .await
        .unwrap();
        assert_eq!(std::fs::read_to_string(out).unwrap(), "hello\n");
    }

    #[tokio::test]
    async fn an_argv_command_runs_without_a_shell() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("a b; c");
        let cmd = CommandLine::Argv(vec!["touch".into(), out.display().to_string()]);
        run(&cmd, &[], DEFAULT_TIMEOUT).await.unwrap();
        assert!(out.exists());
    }

    #[tokio::test]
    async fn a_failing_command_is_an_error_naming_it() {
        let e = run(&shell("exit 3"), &[], DEFAULT_TIMEOUT)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"exit 3\" failed") && e.contains('3'), "{e}");
        let e = run(&CommandLine::Argv(vec![]), &[], DEFAULT_TIMEOUT)
            .await
            .unwrap_err();
        assert!(matches!(e, CommandError::Empty { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_command_that_outlives_its_timeout_is_stopped_with_its_children() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("pid");
        // The shell's child (sleep) must be stopped too.
        let cmd = shell(&format!("sleep 30 & echo $! > {}; wait", pidfile.display()));
        let e = run(&cmd, &[], Duration::from_millis(300))
            .await
            .unwrap_err();
        assert!(matches!(e, CommandError::TimedOut { .. }), "{e}");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The grandchild is gone (reaped by init) within a bounded wait.
        let gone = (0..100).any(|_| {
            // SAFETY: signal 0 only checks that the process exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0
                && std::fs::read_to_string(format!("/proc/{pid}/stat"))
                    .map(|s| !s.contains(") Z "))
                    .unwrap_or(false);
            if alive {
                std::thread::sleep(Duration::from_millis(50));
            }
            !alive
        });
        assert!(gone, "sleep {pid} still runs");
    }
}

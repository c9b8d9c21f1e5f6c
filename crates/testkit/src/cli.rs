//! Running the `praetor` CLI as a user's shell would: arguments, environment,
//! standard input, and a deadline, with stdout, stderr and the exit status
//! collected. A long-running command (`kv watch`) is a [`CliChild`] whose
//! output grows while the test waits on it; it is stopped by PID.
//!
//! The inherited environment is scrubbed of `CONSUL_*`, `PRAETOR_*`, proxies
//! and `RUST_LOG`, so only what a test sets reaches the command.

use std::fmt;
use std::io::{Read, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::agent::{scrub_env, send, tail};
use crate::wait::wait_for_blocking;
use crate::{binary, KitError, Signal};

/// A `praetor …` command line to run.
#[derive(Debug, Clone)]
pub struct Cli {
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
    dir: Option<PathBuf>,
}

impl Cli {
    /// `praetor <args>`, with 20 s to finish.
    pub fn new<I, S>(args: I) -> Cli
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cli {
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            stdin: None,
            timeout: Duration::from_secs(20),
            dir: None,
        }
    }

    /// Sets an environment variable for the command.
    #[must_use]
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Feeds `input` on standard input (otherwise it is empty).
    #[must_use]
    pub fn stdin(mut self, input: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(input.into());
        self
    }

    /// How long the command may run before it is killed and the run fails.
    #[must_use]
    pub fn timeout(mut self, within: Duration) -> Self {
        self.timeout = within;
        self
    }

    /// Runs the command in `dir` (for relative `@file` arguments).
    #[must_use]
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.dir = Some(dir.into());
        self
    }

    fn command_line(&self) -> String {
        let env: String = self.env.iter().map(|(k, v)| format!("{k}={v} ")).collect();
        format!("{env}praetor {}", self.args.join(" "))
    }

    fn command(&self) -> Result<Command, KitError> {
        let mut cmd = Command::new(binary::praetor_bin()?);
        scrub_env(&mut cmd);
        cmd.args(&self.args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(dir) = &self.dir {
            cmd.current_dir(dir);
        }
        Ok(cmd)
    }

    fn start(&self) -> Result<(Child, Collector, Collector), KitError> {
        let mut child = self
            .command()?
            .spawn()
            .map_err(KitError::io("spawning the CLI", "praetor"))?;
        if let (Some(input), Some(mut pipe)) = (self.stdin.clone(), child.stdin.take()) {
            // A thread, so a command that does not read its input cannot block us.
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let out = Collector::start(child.stdout.take());
        let err = Collector::start(child.stderr.take());
        Ok((child, out, err))
    }

    /// Runs the command to completion (blocking the thread).
    ///
    /// # Errors
    /// The binary cannot be built or spawned, or the command outlives its
    /// timeout (it is then killed; the error shows what it printed).
    pub fn run(self) -> Result<CliOutput, KitError> {
        let (mut child, out, err) = self.start()?;
        let waited = wait_for_blocking(
            self.timeout,
            &format!("`{}` to finish", self.command_line()),
            || match child.try_wait() {
                Ok(Some(status)) => Ok(status),
                Ok(None) => Err(format!("still running; stdout so far:\n{}", out.text())),
                Err(e) => Err(format!("waiting for it: {e}")),
            },
        );
        let status = match waited {
            Ok(status) => status,
            Err(e) => {
                let _ = send(child.id(), Signal::Kill);
                let _ = child.wait();
                return Err(e);
            }
        };
        Ok(CliOutput {
            command: self.command_line(),
            status,
            stdout: out.finish(),
            stderr: err.finish(),
        })
    }

    /// Starts a command that runs until stopped (such as `kv watch`).
    ///
    /// # Errors
    /// The binary cannot be built or spawned.
    pub fn spawn(self) -> Result<CliChild, KitError> {
        let (child, stdout, stderr) = self.start()?;
        Ok(CliChild {
            command: self.command_line(),
            child: Some(child),
            stdout,
            stderr,
        })
    }
}

/// A pipe read to its end on a thread, readable while it fills.
struct Collector {
    buf: Arc<Mutex<Vec<u8>>>,
    thread: Option<JoinHandle<()>>,
}

impl Collector {
    fn start(pipe: Option<impl Read + Send + 'static>) -> Collector {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let thread = pipe.map(|mut pipe| {
            let buf = buf.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .extend_from_slice(&chunk[..n]);
                }
            })
        });
        Collector { buf, thread }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }

    /// The whole output, once the writer has closed the pipe.
    fn finish(mut self) -> String {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.text()
    }
}

/// What a finished command did.
pub struct CliOutput {
    /// The command line, for messages.
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl CliOutput {
    /// The exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics, showing the command and its output, unless it exited 0.
    #[track_caller]
    pub fn assert_success(&self) -> &Self {
        assert!(self.status.success(), "expected success from {self:?}");
        self
    }

    /// Panics, showing the command and its output, unless it exited with `code`.
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "unexpected exit code from {self:?}"
        );
        self
    }
}

impl fmt::Debug for CliOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` → {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        )
    }
}

/// A running CLI command; killed (by PID) when dropped.
pub struct CliChild {
    command: String,
    child: Option<Child>,
    stdout: Collector,
    stderr: Collector,
}

impl CliChild {
    /// What it has printed on stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout.text()
    }

    /// What it has printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.text()
    }

    /// Waits until `done(stdout)` holds.
    ///
    /// # Errors
    /// `Timeout` showing the command, whether it still runs, and what it
    /// printed.
    pub async fn wait_for_stdout(
        &mut self,
        within: Duration,
        reason: &str,
        done: impl Fn(&str) -> bool,
    ) -> Result<String, KitError> {
        let reason = format!("`{}` to print {reason}", self.command);
        let (out, err) = (&self.stdout, &self.stderr);
        let child = &mut self.child;
        crate::wait_for(within, &reason, || {
            let text = out.text();
            let exited = child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            let answer = if done(&text) {
                Ok(text)
            } else {
                let state = exited.map_or_else(|| "running".to_owned(), |s| format!("exited {s}"));
                Err(format!(
                    "{state}; stdout:\n{}\nstderr:\n{}",
                    tail(&text, 20),
                    tail(&err.text(), 10)
                ))
            };
            async move { answer }
        })
        .await
    }

    /// Whether the command is still running (it has not exited on its own).
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Sends `signal` to the command by PID.
    ///
    /// # Errors
    /// `Signal` if it has been reaped or kill(2) fails.
    pub fn signal(&mut self, signal: Signal) -> Result<(), KitError> {
        let child = self.child.as_mut().ok_or(KitError::NotRunning {
            name: self.command.clone(),
            doing: "send a signal",
        })?;
        if child.try_wait().ok().flatten().is_some() {
            self.child = None;
            return Err(KitError::NotRunning {
                name: self.command.clone(),
                doing: "send a signal",
            });
        }
        send(child.id(), signal)
    }

    /// Stops the command (SIGINT, then SIGKILL after `within`) and returns
    /// its complete output.
    ///
    /// # Errors
    /// As [`signal`](Self::signal).
    pub fn stop(self, within: Duration) -> Result<CliOutput, KitError> {
        self.finish(within, true)
    }

    /// Waits up to `within` for the command to exit on its own (SIGKILL
    /// after that) and returns what it printed and its exit status.
    ///
    /// # Errors
    /// As `stop`.
    pub fn wait_exit(self, within: Duration) -> Result<CliOutput, KitError> {
        self.finish(within, false)
    }

    fn finish(mut self, within: Duration, interrupt: bool) -> Result<CliOutput, KitError> {
        let mut child = self.child.take().ok_or(KitError::NotRunning {
            name: self.command.clone(),
            doing: "stop",
        })?;
        if interrupt && child.try_wait().ok().flatten().is_none() {
            send(child.id(), Signal::Int)?;
        }
        let status = match wait_for_blocking(within, "the CLI to exit", || {
            child
                .try_wait()
                .ok()
                .flatten()
                .ok_or_else(|| "running".to_owned())
        }) {
            Ok(status) => status,
            Err(_) => {
                let _ = send(child.id(), Signal::Kill);
                child
                    .wait()
                    .map_err(KitError::io("reaping the CLI", "praetor"))?
            }
        };
        let stdout =
            std::mem::replace(&mut self.stdout, Collector::start(None::<std::io::Empty>)).finish();
        let stderr =
            std::mem::replace(&mut self.stderr, Collector::start(None::<std::io::Empty>)).finish();
        Ok(CliOutput {
            command: self.command.clone(),
            status,
            stdout,
            stderr,
        })
    }
}

impl Drop for CliChild {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if child.try_wait().ok().flatten().is_none() {
                let _ = send(child.id(), Signal::Kill);
            }
            let _ = child.wait();
        }
    }
}

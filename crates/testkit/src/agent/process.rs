//! An agent's process over its life: spawning it (environment scrubbed,
//! output appended to its logs), signals by PID with a wait for stop and
//! continue to take effect, exits, restarts on the same flags and data dir,
//! readiness, and the clean shutdown every test ends with. Signals only a
//! child it spawned and has not reaped, so never a recycled PID.

use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::signal::{all_threads_stopped, send};
use super::{AgentProcess, Signal, READY_WITHIN, SHUTDOWN_WITHIN, TAIL_LINES};
use crate::wait::{wait_for_blocking, wait_until};
use crate::KitError;

/// Removes what a developer's shell may have set for their own Consul or
/// proxy, so a spawned process sees only what the test gives it.
pub(crate) fn scrub_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        let upper = k.to_ascii_uppercase();
        if upper.starts_with("CONSUL_")
            || upper.starts_with("PRAETOR_")
            || upper.ends_with("_PROXY")
            || upper == "RUST_LOG"
        {
            cmd.env_remove(&key);
        }
    }
}

impl AgentProcess {
    /// Whether the latest process is still running (reaps it if not).
    pub fn is_running(&mut self) -> bool {
        self.poll_exit().is_none() && self.child.is_some()
    }

    /// Sends `signal` to the process by PID.
    ///
    /// # Errors
    /// `NotRunning` once it has exited and been reaped; `Signal` if kill(2) fails.
    pub fn signal(&mut self, signal: Signal) -> Result<(), KitError> {
        // An unreaped child keeps its PID, so this cannot reach another process.
        if !self.is_running() {
            return Err(KitError::NotRunning {
                name: self.name.clone(),
                doing: "send a signal",
            });
        }
        send(self.pid, signal)?;
        // kill(2) returns before the signal takes effect; a test that paused
        // the agent must not see it answer a request afterwards.
        let stopped = match signal {
            Signal::Stop => true,
            Signal::Cont => false,
            _ => return Ok(()),
        };
        let reason = format!(
            "every thread of agent {} (pid {}) to be {}",
            self.name,
            self.pid,
            if stopped { "stopped" } else { "resumed" }
        );
        let pid = self.pid;
        wait_for_blocking(
            Duration::from_secs(5),
            &reason,
            || match all_threads_stopped(pid) {
                Some(now) if now == stopped => Ok(()),
                Some(_) => Err("not yet".to_owned()),
                // No /proc (not Linux): nothing to check.
                None => Ok(()),
            },
        )
    }

    /// SIGKILL by PID, then reaps it.
    ///
    /// # Errors
    /// As [`signal`](Self::signal) and [`wait_exit`](Self::wait_exit).
    pub fn kill9(&mut self) -> Result<ExitStatus, KitError> {
        self.signal(Signal::Kill)?;
        self.wait_exit(Duration::from_secs(10))
    }

    /// Waits (blocking the thread, at most `within`) for the process to exit.
    ///
    /// # Errors
    /// `Timeout` when it is still running at the deadline.
    pub fn wait_exit(&mut self, within: Duration) -> Result<ExitStatus, KitError> {
        let reason = format!("agent {} (pid {}) to exit", self.name, self.pid);
        wait_for_blocking(within, &reason, || {
            self.poll_exit().ok_or_else(|| "still running".to_owned())
        })
    }

    /// [`wait_exit`](Self::wait_exit) without blocking the thread.
    ///
    /// # Errors
    /// `Timeout` when it is still running at the deadline.
    pub async fn wait_exit_async(&mut self, within: Duration) -> Result<ExitStatus, KitError> {
        let reason = format!("agent {} (pid {}) to exit", self.name, self.pid);
        wait_until(within, &reason, || {
            self.poll_exit().ok_or_else(|| "still running".to_owned())
        })
        .await
    }

    /// Spawns the agent again with the same flags, config files and data
    /// dir, and waits until it is ready. Returns the time from spawn to ready.
    ///
    /// # Errors
    /// `StillRunning` unless it exited first; otherwise as [`AgentBuilder::start`](super::AgentBuilder::start).
    pub async fn restart(&mut self) -> Result<Duration, KitError> {
        if self.is_running() {
            return Err(KitError::StillRunning {
                name: self.name.clone(),
                pid: self.pid,
                doing: "restart",
            });
        }
        self.spawn_process()?;
        self.wait_ready().await
    }

    /// Spawns the agent again with the same flags, config files and data
    /// dir without waiting for it (to start several at once, as a whole
    /// cluster restarts); [`wait_ready`](Self::wait_ready) waits.
    ///
    /// # Errors
    /// `StillRunning` unless it exited first; the process cannot be spawned.
    pub fn respawn(&mut self) -> Result<(), KitError> {
        if self.is_running() {
            return Err(KitError::StillRunning {
                name: self.name.clone(),
                pid: self.pid,
                doing: "respawn",
            });
        }
        self.spawn_process()
    }

    /// Waits until the agent serves HTTP and (for agents that wait for one)
    /// knows a leader; returns the time from spawn to ready.
    ///
    /// # Errors
    /// `Exited` if the process ends first, `Timeout` after 20 s.
    pub async fn wait_ready(&mut self) -> Result<Duration, KitError> {
        let deadline = self.spawned_at + READY_WITHIN;
        let path = if self.wait_leader {
            "/v1/status/leader"
        } else {
            "/v1/agent/self"
        };
        let url = self.url(path);
        let mut last;
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(status) = self.poll_exit() {
                return Err(KitError::Exited {
                    name: self.name.clone(),
                    status: status.to_string(),
                    doing: "starting",
                    log: self.log_tail(TAIL_LINES),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let answer = self
                .http
                .get(&url)
                .timeout(left.min(Duration::from_secs(1)))
                .send()
                .await;
            match answer {
                // Under `acl.default_policy = "deny"` an agent that serves
                // HTTP answers `/v1/agent/self` 403 to a request with no token.
                Ok(r) if !self.wait_leader && r.status() == reqwest::StatusCode::FORBIDDEN => {
                    return Ok(self.spawned_at.elapsed());
                }
                Ok(r) if r.status().is_success() => {
                    let body = r.text().await.unwrap_or_default();
                    // `"127.0.0.x:8300"` once there is a leader; `""` before.
                    if !self.wait_leader || body.trim().len() > 2 {
                        return Ok(self.spawned_at.elapsed());
                    }
                    last = format!("GET {path} answered {body}");
                }
                Ok(r) => last = format!("GET {path} answered {}", r.status()),
                Err(e) => last = format!("GET {path}: {e}"),
            }
            if Instant::now() >= deadline {
                let reason = format!(
                    "agent {} to {}",
                    self.name,
                    if self.wait_leader {
                        "serve HTTP and know a leader"
                    } else {
                        "serve HTTP"
                    }
                );
                let last = format!(
                    "{last}\n--- last lines of its log ---\n{}",
                    self.log_tail(TAIL_LINES)
                );
                return Err(KitError::Timeout {
                    reason,
                    within: READY_WITHIN,
                    last,
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// SIGTERM, then waits (at most 15 s) for exit code 0, and checks the log
    /// for tasks that outlived the agent's shutdown deadline. Every test that
    /// starts an agent ends with this.
    ///
    /// # Errors
    /// `UncleanShutdown` naming what was wrong, with the log's tail.
    pub async fn shutdown(mut self) -> Result<(), KitError> {
        self.shut_down = true;
        if self.is_running() {
            self.signal(Signal::Term)?;
        }
        let unclean = |this: &Self, why: String| KitError::UncleanShutdown {
            name: this.name.clone(),
            why,
            log: this.log_tail(TAIL_LINES),
        };
        let status = match self.wait_exit_async(SHUTDOWN_WITHIN).await {
            Ok(status) => status,
            Err(e) => return Err(unclean(&self, e.to_string())),
        };
        if !status.success() {
            return Err(unclean(&self, format!("it exited with {status}")));
        }
        if let Some(line) = self
            .log()
            .lines()
            .find(|l| l.contains("did not stop within"))
        {
            return Err(unclean(
                &self,
                format!("tasks outlived the shutdown deadline: {line}"),
            ));
        }
        Ok(())
    }

    pub(super) fn spawn_process(&mut self) -> Result<(), KitError> {
        let dir = self.dir().to_path_buf();
        let open = |name: &str| -> Result<File, KitError> {
            let path = dir.join(name);
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(KitError::io("opening a log", path))
        };
        let mut err = open("stderr.log")?;
        let out = open("stdout.log")?;
        self.spawns += 1;
        let line = format!(
            "=== praetor-testkit: spawn #{}: praetor {}\n",
            self.spawns,
            self.args.join(" ")
        );
        err.write_all(line.as_bytes())
            .map_err(KitError::io("writing a log", dir.join("stderr.log")))?;

        let mut cmd = Command::new(&self.bin);
        scrub_env(&mut cmd);
        cmd.args(&self.args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        if let Some(uid) = self.uid {
            use std::os::unix::process::CommandExt as _;
            // std drops root's supplementary groups along with the uid.
            cmd.uid(uid).gid(uid);
        }
        let child = cmd
            .spawn()
            .map_err(KitError::io("spawning the agent", &self.bin))?;
        self.pid = child.id();
        self.exited = None;
        self.spawned_at = Instant::now();
        self.child = Some(child);
        tracing::debug!(agent = %self.name, pid = self.pid, "agent spawned");
        Ok(())
    }

    /// The exit status if the latest process has exited (reaping it), else
    /// `None`.
    fn poll_exit(&mut self) -> Option<ExitStatus> {
        let Some(child) = self.child.as_mut() else {
            return self.exited;
        };
        if let Ok(Some(status)) = child.try_wait() {
            self.child = None;
            self.exited = Some(status);
        }
        self.exited
    }
}

//! One `praetor agent` process on a test's loopback address: started with
//! given flags and config files (written into its own temp dir, which also
//! holds its data dir and logs), stopped and paused by PID, restarted with the
//! same flags on the same data dir.
//!
//! Signals go only to the PID of a child this value spawned and has not
//! reaped yet, so they can never reach a recycled PID; nothing is ever killed
//! by name. Dropping a running agent kills it (SIGKILL) and, unless the test
//! shut it down, prints the tail of its log, which is how a failed test shows
//! what the agent was doing.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::wait::wait_for_blocking;
use crate::{binary, KitError, Loopback};

/// How long an agent may take to serve HTTP (and, for a server, know a
/// leader) after it is spawned.
const READY_WITHIN: Duration = Duration::from_secs(20);
/// How long a SIGTERM'd agent may take to exit.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(15);
/// Lines of log printed when a test leaves an agent behind or it fails.
const TAIL_LINES: usize = 60;

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
fn all_threads_stopped(pid: u32) -> Option<bool> {
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

/// The last `n` lines of `text`.
pub(crate) fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What to start: flags, config files, where to reach it. Made by
/// [`AgentProcess::dev`], [`AgentProcess::server`] or [`AgentProcess::builder`].
pub struct AgentBuilder {
    name: String,
    ip: Ipv4Addr,
    dir: TempDir,
    args: Vec<String>,
    files: Vec<(PathBuf, String)>,
    config_dir_added: bool,
    http_port: u16,
    wait_leader: bool,
    uid: Option<u32>,
}

impl AgentBuilder {
    /// The temp dir of this agent (config files, data dir, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `<dir>/data`, the data dir [`AgentProcess::server`] passes.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Adds one argument after those already given.
    #[must_use]
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds arguments after those already given.
    #[must_use]
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Writes `text` to `<dir>/config/<name>` at spawn and passes
    /// `-config-file=` with its path.
    #[must_use]
    pub fn config_file(mut self, name: &str, text: &str) -> Self {
        let path = self.dir.path().join("config").join(name);
        self.args.push(format!("-config-file={}", path.display()));
        self.files.push((path, text.to_owned()));
        self
    }

    /// Writes `text` to `<dir>/config.d/<name>` at spawn; the first such file
    /// adds `-config-dir=<dir>/config.d`.
    #[must_use]
    pub fn config_dir_file(mut self, name: &str, text: &str) -> Self {
        let dir = self.dir.path().join("config.d");
        if !self.config_dir_added {
            self.config_dir_added = true;
            self.args.push(format!("-config-dir={}", dir.display()));
        }
        self.files.push((dir.join(name), text.to_owned()));
        self
    }

    /// The port the HTTP API will be on (8500 unless flags or files move
    /// it). Adds no flag: it only tells the testkit where to look.
    #[must_use]
    pub fn http_port(mut self, port: u16) -> Self {
        self.http_port = port;
        self
    }

    /// Ready means "serves HTTP" only, not "knows a leader".
    #[must_use]
    pub fn no_leader_wait(mut self) -> Self {
        self.wait_leader = false;
        self
    }

    /// Runs the agent as user and group `uid` (the testkit runs as root for
    /// this): its temp dir is handed to that user, and every socket it opens
    /// carries that owner, which is how a [`Partition`](crate::Partition)
    /// tells its packets from other agents' on the shared loopback device.
    #[must_use]
    pub fn uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Names the agent in errors and logs (default: its address).
    #[must_use]
    pub fn name(mut self, name: &str) -> Self {
        self.name = name.to_owned();
        self
    }

    /// Writes the config files and spawns the process without waiting for it
    /// (for agents expected to fail, or to time their start).
    ///
    /// # Errors
    /// The binary cannot be built, a file cannot be written, or the process
    /// cannot be spawned.
    pub fn spawn(self) -> Result<AgentProcess, KitError> {
        for (path, text) in &self.files {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(KitError::io("creating a config dir", parent))?;
            }
            std::fs::write(path, text).map_err(KitError::io("writing a config file", path))?;
        }
        let bin = match self.uid {
            Some(uid) => {
                // The agent creates its data dir inside; the config files
                // stay root's, readable by all.
                std::os::unix::fs::chown(self.dir.path(), Some(uid), Some(uid)).map_err(
                    KitError::io("handing the temp dir to the agent's user", self.dir.path()),
                )?;
                binary::praetor_bin_for_any_user()?
            }
            None => binary::praetor_bin()?,
        };
        let http = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .build()
            .expect("a plain HTTP client builds");
        let mut agent = AgentProcess {
            name: self.name,
            ip: self.ip,
            http_port: self.http_port,
            args: self.args,
            wait_leader: self.wait_leader,
            uid: self.uid,
            bin,
            dir: Some(self.dir),
            child: None,
            exited: None,
            pid: 0,
            spawned_at: Instant::now(),
            spawns: 0,
            http,
            shut_down: false,
        };
        agent.spawn_process()?;
        Ok(agent)
    }

    /// Spawns the agent and waits until it is ready: it serves HTTP and,
    /// unless [`no_leader_wait`](Self::no_leader_wait), `/v1/status/leader`
    /// names a leader.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), or `Exited`/`Timeout` when it never gets ready.
    pub async fn start(self) -> Result<AgentProcess, KitError> {
        let mut agent = self.spawn()?;
        agent.wait_ready().await?;
        Ok(agent)
    }
}

/// A running (or stopped) `praetor agent` process.
pub struct AgentProcess {
    name: String,
    ip: Ipv4Addr,
    http_port: u16,
    args: Vec<String>,
    wait_leader: bool,
    uid: Option<u32>,
    bin: PathBuf,
    /// `None` only after `PRAETOR_TESTKIT_KEEP` kept it on drop.
    dir: Option<TempDir>,
    /// The latest process; `None` once reaped (or never spawned).
    child: Option<Child>,
    /// How the latest process exited, once reaped.
    exited: Option<ExitStatus>,
    pid: u32,
    spawned_at: Instant,
    spawns: u32,
    http: reqwest::Client,
    shut_down: bool,
}

impl fmt::Debug for AgentProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentProcess")
            .field("name", &self.name)
            .field("pid", &self.pid)
            .field("args", &self.args)
            .finish()
    }
}

impl AgentProcess {
    /// `praetor agent` and nothing else yet: every flag is the test's.
    ///
    /// # Errors
    /// The temp dir cannot be created.
    pub fn builder(lo: &Loopback) -> Result<AgentBuilder, KitError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("praetor-agent-{}-", lo.ip()))
            .tempdir()
            .map_err(KitError::io("creating a temp dir", std::env::temp_dir()))?;
        Ok(AgentBuilder {
            name: lo.ip().to_string(),
            ip: lo.ip(),
            dir,
            args: vec!["agent".into()],
            files: Vec::new(),
            config_dir_added: false,
            http_port: 8500,
            wait_leader: true,
            uid: None,
        })
    }

    /// `praetor agent -dev -bind=IP -client=IP`: an in-memory server.
    ///
    /// # Errors
    /// The temp dir cannot be created.
    pub fn dev(lo: &Loopback) -> Result<AgentBuilder, KitError> {
        Ok(Self::builder(lo)?.arg("-dev").args(lo.bind_flags()))
    }

    /// `praetor agent -server -bootstrap-expect=1 -data-dir=<dir>/data
    /// -bind=IP -client=IP`: a durable single-server cluster.
    ///
    /// # Errors
    /// The temp dir cannot be created.
    pub fn server(lo: &Loopback) -> Result<AgentBuilder, KitError> {
        let b = Self::builder(lo)?;
        let data = format!("-data-dir={}", b.data_dir().display());
        Ok(b.args(["-server", "-bootstrap-expect=1"])
            .arg(data)
            .args(lo.bind_flags()))
    }

    /// The agent's name in errors and logs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its loopback address.
    pub fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// `http://IP:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_addr())
    }

    /// `IP:PORT`, as `-http-addr=` and `CONSUL_HTTP_ADDR` take it.
    pub fn http_addr(&self) -> String {
        format!("{}:{}", self.ip, self.http_port)
    }

    /// `http_url()` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.http_url())
    }

    /// An HTTP client without proxies, 2 s to connect, 10 s per request.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The agent's temp dir.
    pub fn dir(&self) -> &Path {
        self.dir
            .as_ref()
            .map_or(Path::new("/nonexistent"), TempDir::path)
    }

    /// `<dir>/data`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir().join("data")
    }

    /// Where [`AgentBuilder::config_file`] wrote `name`.
    pub fn config_file_path(&self, name: &str) -> PathBuf {
        self.dir().join("config").join(name)
    }

    /// Where [`AgentBuilder::config_dir_file`] wrote `name`.
    pub fn config_dir_path(&self, name: &str) -> PathBuf {
        self.dir().join("config.d").join(name)
    }

    /// The user it runs as, when [`AgentBuilder::uid`] set one.
    pub fn uid(&self) -> Option<u32> {
        self.uid
    }

    /// The PID of the latest process (it may have exited since).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// When the latest process was spawned.
    pub fn spawned_at(&self) -> Instant {
        self.spawned_at
    }

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
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(status) = self.poll_exit() {
                return Ok(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(KitError::Timeout {
                    reason: format!("agent {} (pid {}) to exit", self.name, self.pid),
                    within,
                    last: "still running".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Spawns the agent again with the same flags, config files and data
    /// dir, and waits until it is ready. Returns the time from spawn to ready.
    ///
    /// # Errors
    /// `StillRunning` unless it exited first; otherwise as [`AgentBuilder::start`].
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

    fn spawn_process(&mut self) -> Result<(), KitError> {
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

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let was_running = self.is_running();
        if was_running {
            let _ = send(self.pid, Signal::Kill);
            if let Some(mut child) = self.child.take() {
                let _ = child.wait();
            }
        }
        if !self.shut_down && (was_running || std::thread::panicking()) {
            eprintln!(
                "--- praetor-testkit: agent {} (pid {}, {}) was not shut down by the test; last lines of its log:\n{}",
                self.name,
                self.pid,
                self.dir().display(),
                self.log_tail(TAIL_LINES)
            );
        }
        if std::env::var_os("PRAETOR_TESTKIT_KEEP").is_some() {
            if let Some(dir) = self.dir.take() {
                eprintln!("praetor-testkit: kept {}", dir.keep().display());
            }
        }
    }
}

//! What to start: a `praetor agent` command line, the config files written
//! before it runs, where its HTTP API will be, and the user it runs as.
//! Builds a description only; [`AgentBuilder::spawn`] hands it to
//! [`process`](super::process).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::AgentProcess;
use crate::{binary, KitError, Loopback};

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
        let http = crate::http_client_builder()
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
}

//! The testkit: starting `praetor` as real processes on their own loopback
//! addresses (127.0.0.x with Consul's default ports), waiting for conditions
//! with deadlines, and signalling processes by PID. Only integration tests
//! use it.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The workspace root (the directory holding Cargo.lock).
pub fn workspace_root() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("Cargo.lock").exists() {
        if !dir.pop() {
            panic!("no Cargo.lock above {}", env!("CARGO_MANIFEST_DIR"));
        }
    }
    dir
}

/// The built `praetor` binary, building it once if it is missing.
pub fn praetor_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = workspace_root();
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
        let bin = target.join("debug").join("praetor");
        if !bin.exists() {
            let status = Command::new(env!("CARGO"))
                .args(["build", "-p", "praetor"])
                .current_dir(&root)
                .status()
                .expect("running cargo build");
            assert!(status.success(), "cargo build -p praetor failed");
        }
        bin
    })
}

/// A loopback address held by this test until dropped. Lock files in the
/// temp dir keep test processes running in parallel from sharing one.
pub struct Loopback {
    pub ip: Ipv4Addr,
    lock: PathBuf,
}

impl Loopback {
    /// Takes a free address in 127.0.0.20–127.0.0.250.
    pub fn take() -> Loopback {
        let dir = std::env::temp_dir().join("praetor-testkit");
        std::fs::create_dir_all(&dir).expect("creating the lock dir");
        let start = (std::process::id() as usize) % 230;
        for i in 0..230 {
            let x = 20 + ((start + i) % 230) as u8;
            let lock = dir.join(format!("127.0.0.{x}.lock"));
            if let Ok(holder) = std::fs::read_to_string(&lock) {
                let alive = holder.trim().parse::<u32>().is_ok_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
                if alive {
                    continue;
                }
                let _ = std::fs::remove_file(&lock);
            }
            if let Ok(mut f) = OpenOptions::new().write(true).create_new(true).open(&lock) {
                let _ = write!(f, "{}", std::process::id());
                return Loopback { ip: Ipv4Addr::new(127, 0, 0, x), lock };
            }
        }
        panic!("no free loopback address");
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.lock);
    }
}

/// Waits until `f` returns `Some`, polling every 20 ms, for at most
/// `timeout`; panics naming `what` and the last state seen.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + timeout;
    let mut last = String::from("never checked");
    while Instant::now() < deadline {
        match f() {
            Ok(v) => return v,
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
}

/// A `praetor agent` process.
pub struct AgentProcess {
    pub addr: Loopback,
    pub dir: tempfile::TempDir,
    args: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
}

impl AgentProcess {
    /// Spawns `praetor agent ARGS -bind=IP -client=IP` on a fresh loopback
    /// address; `{dir}` in an argument is replaced by the agent's temp dir.
    pub fn spawn(args: &[&str]) -> AgentProcess {
        let addr = Loopback::take();
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().display().to_string();
        let mut full: Vec<String> = args.iter().map(|a| a.replace("{dir}", &d)).collect();
        full.push(format!("-bind={}", addr.ip));
        full.push(format!("-client={}", addr.ip));
        let log = dir.path().join("agent.log");
        let mut p = AgentProcess { addr, dir, args: full, child: None, log };
        p.start();
        p
    }

    /// Starts (again) with the same arguments and directory.
    pub fn start(&mut self) {
        let log = OpenOptions::new().create(true).append(true).open(&self.log).expect("log file");
        let child = Command::new(praetor_bin())
            .arg("agent")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawning praetor");
        self.child = Some(child);
    }

    /// The agent's HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}:8500", self.addr.ip)
    }

    /// `IP:8500`, for `-http-addr`.
    pub fn http_addr(&self) -> String {
        format!("{}:8500", self.addr.ip)
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The agent's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most `timeout`) until the agent reports a leader.
    pub fn wait_for_leader(&mut self, timeout: Duration) {
        let url = format!("{}/v1/status/leader", self.url());
        let http = client();
        let log = self.log.clone();
        let mut exited = None;
        let child = self.child.as_mut().expect("started");
        wait_for(timeout, "a leader", || {
            if let Ok(Some(status)) = child.try_wait() {
                exited = Some(status);
                return Ok(());
            }
            let body = http.get(&url).send().and_then(|r| r.text()).map_err(|e| e.to_string())?;
            if body.len() > 2 {
                Ok(())
            } else {
                Err(format!("leader {body:?}"))
            }
        });
        if let Some(status) = exited {
            panic!("the agent exited with {status} before electing a leader:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        }
    }

    /// Sends a signal to the process by PID.
    pub fn signal(&self, sig: i32) {
        let pid = self.pid() as i32;
        assert!(pid > 0, "no process");
        // SAFETY: kill(2) with a pid we spawned and own.
        unsafe {
            libc::kill(pid, sig);
        }
    }

    /// SIGKILL, then reap.
    pub fn kill9(&mut self) {
        self.signal(libc::SIGKILL);
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    /// Waits at most `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("started");
        let status = wait_for(timeout, "the agent to exit", || child.try_wait().map_err(|e| e.to_string())?.ok_or_else(|| "running".into()));
        self.child = None;
        status
    }

    /// Runs a `praetor` CLI command against this agent.
    pub fn cli(&self, args: &[&str]) -> CliOutput {
        cli(&self.http_addr(), args, None)
    }
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: as in `signal`.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGKILL);
            }
            let _ = c.wait();
            if std::thread::panicking() {
                eprintln!("--- agent log ({}):\n{}", self.log.display(), self.log());
            }
        }
    }
}

/// What a CLI command did.
#[derive(Debug)]
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `praetor ARGS` with `CONSUL_HTTP_ADDR=http_addr`, feeding `stdin`.
pub fn cli(http_addr: &str, args: &[&str], stdin: Option<&[u8]>) -> CliOutput {
    let mut cmd = Command::new(praetor_bin());
    cmd.args(args)
        .env("CONSUL_HTTP_ADDR", http_addr)
        .env_remove("PRAETOR_HTTP_ADDR")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning praetor");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input).expect("writing stdin");
    }
    let out = child.wait_with_output().expect("waiting for praetor");
    CliOutput {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A blocking HTTP client with a timeout on every call.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder().timeout(Duration::from_secs(10)).build().expect("http client")
}

/// Writes `text` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    File::create(&p).and_then(|mut f| f.write_all(text.as_bytes())).expect("writing a file");
    p
}

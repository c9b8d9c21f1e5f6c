//! The `locks` subcommand: lock hand-over after the holder dies, and
//! transaction throughput, on a three-server praetor cluster with two
//! client agents beside a three-member etcd cluster, each process on its
//! own loopback address in 127.0.12.0/24 with default ports (away from
//! testkit's 127.0.0.x and the other phases' 127.0.10.x and 127.0.11.x).
//!
//! Hand-over: contenders A and B (`praetor lock` or `praetor elect` through
//! client agents c1 and c2; `etcdctl lock` or `etcdctl elect` against the
//! etcd cluster); once A holds and B waits, A's host dies (SIGKILL to its
//! agent, its contender process and its child); timed until B starts.
//! Always writes its JSON results, failures recorded as such; stops every
//! process it started, also on SIGINT or SIGTERM (kill_on_drop), and
//! appends every PID to the pidfile for bench/run.sh.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context as _};
use base64::Engine as _;
use clap::Args;
use etcd_client::{Compare, CompareOp, ConnectOptions, GetOptions, Txn, TxnOp};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};
use tokio::task::JoinSet;

use crate::cluster::{self, Cluster};
use crate::machine::load_average;
use crate::phase::PhaseArgs;
use crate::report::locks::{HandoverRow, LocksReport, TxnRow};
use crate::report::{Config, Pair};
use crate::runner::outcome;
use crate::stats::{Samples, Throughput};
use crate::target::{Side, CONNECT_TIMEOUT, OP_TIMEOUT};

/// The loopback /24 the locks phase uses.
const LOCKS_SUBNET: [u8; 3] = [127, 0, 12];
const SERVERS: usize = 3;
const CLIENTS: usize = 2;
/// Members index of client agents c1 and c2 in the praetor cluster.
const C1: usize = SERVERS;
const C2: usize = SERVERS + 1;
/// Bound on a cluster forming, and on a restarted agent being back.
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// Bound on A taking the free lock, and on B being seen waiting.
const CONTEND_DEADLINE: Duration = Duration::from_secs(30);
/// How long a SIGTERM'd contender may take to exit before SIGKILL.
const STOP_DEADLINE: Duration = Duration::from_secs(15);
/// How long the children sleep: longer than any trial, bounded anyway.
const CHILD_SLEEP_SECS: u32 = 400;

#[derive(Args)]
pub struct LocksArgs {
    #[command(flatten)]
    phase: PhaseArgs,
    /// The etcd binary to run.
    #[arg(long)]
    etcd_bin: PathBuf,
    /// The etcdctl binary the etcd contenders run.
    #[arg(long)]
    etcdctl_bin: PathBuf,
    #[arg(long)]
    etcd_version: String,
    #[command(flatten)]
    config: Config,
}

/// Runs the locks phase and writes its results.
///
/// # Errors
/// When the results cannot be written, or the phase was interrupted.
pub async fn run(args: LocksArgs) -> anyhow::Result<()> {
    let report = LocksReport::new(
        args.config.clone(),
        args.phase.command.clone(),
        args.phase.date.clone(),
        args.phase.praetor_version.clone(),
        args.etcd_version.clone(),
    );
    crate::phase::run(
        &args,
        report,
        &args.phase.json,
        args.phase.out.as_deref(),
        |a, r| Box::pin(measure(a, r)),
    )
    .await
}

async fn measure(args: &LocksArgs, report: &mut LocksReport) -> anyhow::Result<()> {
    for dir in [&args.phase.work, &args.phase.logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    report.etcdctl_version = std::process::Command::new(&args.etcdctl_bin)
        .arg("version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.lines().collect::<Vec<_>>().join(", "))
        .unwrap_or_default();
    let ips = cluster::free_ips_in(LOCKS_SUBNET, SERVERS + CLIENTS + 3)?;
    let mut praetor = Cluster::praetor_agents(
        &args.phase.praetor_bin,
        &ips[..SERVERS],
        &ips[SERVERS..SERVERS + CLIENTS],
        &args.phase.work,
        &args.phase.logs,
        &args.phase.pidfile,
    );
    let mut etcd = Cluster::etcd(
        &args.etcd_bin,
        &ips[SERVERS + CLIENTS..],
        &args.phase.work,
        &args.phase.logs,
        &args.phase.pidfile,
    );
    let show = |s: String| s.replace(&args.phase.work.display().to_string(), "$TMP");
    report.praetor_cmds = (0..SERVERS + CLIENTS)
        .map(|i| show(praetor.command_line(i)))
        .collect();
    report.etcd_cmds = (0..3).map(|i| show(etcd.command_line(i))).collect();
    report.load_before = load_average();

    eprintln!("== locks: forming the praetor cluster (3 servers, 2 client agents)");
    report.formed.praetor = outcome(crate::health_bench::start_ready(&mut praetor).await);
    eprintln!("   praetor: {:?}", report.formed.praetor);
    eprintln!("== locks: forming the etcd cluster");
    report.formed.etcd = outcome(
        async {
            let t0 = Instant::now();
            etcd.start_all()?;
            etcd.wait_ready(READY_DEADLINE).await?;
            anyhow::Ok(t0.elapsed().as_secs_f64())
        }
        .await,
    );
    eprintln!("   etcd: {:?}", report.formed.etcd);

    let result = if report.formed.praetor.is_ok() && report.formed.etcd.is_ok() {
        workloads(args, &mut praetor, &mut etcd, report).await
    } else {
        Err(anyhow::anyhow!(
            "a cluster did not form, so nothing was measured"
        ))
    };
    report.load_after = load_average();
    for c in [&mut praetor, &mut etcd] {
        for m in c.exited() {
            report.stopped.push(format!("{m} had exited on its own"));
        }
        for m in c.stop_all().await {
            report.stopped.push(format!(
                "{m} did not stop within 15 s of SIGTERM and was killed"
            ));
        }
    }
    result
}

async fn workloads(
    args: &LocksArgs,
    praetor: &mut Cluster,
    etcd: &mut Cluster,
    report: &mut LocksReport,
) -> anyhow::Result<()> {
    let cfg = &args.config;
    let d = Duration::from_secs(cfg.duration_secs);
    let praetor_servers: Vec<String> = praetor.client_addrs()[..SERVERS].to_vec();
    let etcd_addrs = etcd.client_addrs();
    for (row, &clients) in cfg.txn_clients.iter().enumerate() {
        eprintln!("== locks: transactions, {clients} clients");
        let tag = format!("c{clients}");
        let mut result = Pair::default();
        for k in 0..2 {
            // Which side goes first alternates row by row.
            if (row + k) % 2 == 0 {
                result.praetor = outcome(praetor_txn(&praetor_servers, clients, d, &tag).await);
                eprintln!("   praetor: {:?}", result.praetor);
            } else {
                result.etcd = outcome(etcd_txn(&etcd_addrs, clients, d, &tag).await);
                eprintln!("   etcd: {:?}", result.etcd);
            }
        }
        report.txn.push(TxnRow { clients, result });
    }

    let work = &args.phase.work;
    let show = |s: String| s.replace(&work.display().to_string(), "$TMP");
    let kinds = [
        Kind::PraetorLock,
        Kind::PraetorElect,
        Kind::EtcdLock,
        Kind::EtcdElect,
    ];
    for kind in kinds {
        let mut row = HandoverRow {
            side: kind.side().to_string(),
            command: String::new(),
            settings: kind.settings().into(),
            killed: kind.killed().into(),
            end: kind.end().into(),
            trials: Vec::new(),
        };
        for trial in 1..=cfg.lock_trials {
            eprintln!("== locks: hand-over, {}, trial {trial}", kind.name());
            let dir = work
                .join("handover")
                .join(kind.name())
                .join(trial.to_string());
            let key = format!("bench/handover/{}/{trial}", kind.name());
            let spec = Spec {
                kind,
                dir: dir.clone(),
                log_dir: args
                    .phase
                    .logs
                    .join("handover")
                    .join(kind.name())
                    .join(trial.to_string()),
                key,
                praetor_bin: args.phase.praetor_bin.clone(),
                etcdctl_bin: args.etcdctl_bin.clone(),
                etcd_endpoints: etcd_addrs.join(","),
                pidfile: args.phase.pidfile.clone(),
                deadline: Duration::from_secs(cfg.handover_deadline_secs),
            };
            if row.command.is_empty() {
                row.command = show(spec.contender_line("A", praetor.members[C1].ip.to_string()));
            }
            let r = outcome(handover(&spec, praetor, etcd).await);
            eprintln!("   {r:?}");
            row.trials.push(r);
        }
        report.handover.push(row);
    }
    Ok(())
}

// --- lock hand-over -------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `praetor lock PREFIX CHILD` with its defaults.
    PraetorLock,
    /// `praetor elect -lock-delay=0s -ttl=10s -key=K -- CHILD`.
    PraetorElect,
    /// `etcdctl lock NAME CHILD` with its default `--ttl=10`.
    EtcdLock,
    /// `etcdctl elect NAME PROPOSAL` (session TTL 60 s, not settable).
    EtcdElect,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::PraetorLock => "praetor-lock",
            Kind::PraetorElect => "praetor-elect",
            Kind::EtcdLock => "etcdctl-lock",
            Kind::EtcdElect => "etcdctl-elect",
        }
    }

    fn side(self) -> Side {
        match self {
            Kind::PraetorLock | Kind::PraetorElect => Side::Praetor,
            Kind::EtcdLock | Kind::EtcdElect => Side::Etcd,
        }
    }

    fn settings(self) -> &'static str {
        match self {
            Kind::PraetorLock => {
                "defaults: gossip failure detection invalidates the session (TTL 15 s as backstop), then lock-delay 15 s"
            }
            Kind::PraetorElect => {
                "shorter: gossip failure detection invalidates the session (TTL 10 s as backstop), lock-delay 0 s"
            }
            Kind::EtcdLock => "default of `etcdctl lock`: the session lease expires, TTL 10 s",
            Kind::EtcdElect => "default of `etcdctl elect`: the session lease expires, TTL 60 s",
        }
    }

    fn killed(self) -> &'static str {
        match self {
            Kind::PraetorLock => "client agent c1, A's `praetor lock`, A's child",
            Kind::PraetorElect => "client agent c1, A's `praetor elect`, A's child",
            Kind::EtcdLock => "A's `etcdctl lock`, A's child",
            Kind::EtcdElect => "A's `etcdctl elect`",
        }
    }

    fn end(self) -> &'static str {
        match self {
            Kind::EtcdElect => "B prints its proposal",
            _ => "B's child starts",
        }
    }
}

/// One trial's parameters.
struct Spec {
    kind: Kind,
    dir: PathBuf,
    /// Where the contenders' output goes.
    log_dir: PathBuf,
    key: String,
    praetor_bin: PathBuf,
    etcdctl_bin: PathBuf,
    etcd_endpoints: String,
    pidfile: PathBuf,
    deadline: Duration,
}

/// A running contender and where its child records its start.
struct Contender {
    child: Child,
    /// The child appends its start (ns since the epoch) here.
    started: PathBuf,
    /// (`etcdctl elect`) when its first line of output arrived, ns since the epoch.
    printed: Option<tokio::sync::oneshot::Receiver<u128>>,
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

impl Spec {
    fn started_file(&self, who: &str) -> PathBuf {
        self.dir.join(format!("{who}.start"))
    }

    /// The child: records its start and PID, then sleeps (bounded).
    fn child_script(&self, who: &str) -> String {
        let f = self.started_file(who);
        format!(
            "date +%s%N >> {f}; echo $$ > {f}.pid; exec sleep {CHILD_SLEEP_SECS}",
            f = f.display()
        )
    }

    /// The contender's program and arguments; `agent` is the praetor client
    /// agent's IP.
    fn contender_args(&self, who: &str, agent: &str) -> (PathBuf, Vec<String>) {
        let script = self.child_script(who);
        let http = format!("-http-addr={agent}:8500");
        let endpoints = format!("--endpoints={}", self.etcd_endpoints);
        match self.kind {
            Kind::PraetorLock => (
                self.praetor_bin.clone(),
                vec!["lock".into(), http, self.key.clone(), script],
            ),
            Kind::PraetorElect => (
                self.praetor_bin.clone(),
                vec![
                    "elect".into(),
                    http,
                    format!("-key={}", self.key),
                    "-lock-delay=0s".into(),
                    "-ttl=10s".into(),
                    "--".into(),
                    "/bin/sh".into(),
                    "-c".into(),
                    script,
                ],
            ),
            Kind::EtcdLock => (
                self.etcdctl_bin.clone(),
                vec![
                    endpoints,
                    "lock".into(),
                    self.key.clone(),
                    // Else etcdctl reads the child's `-c` as its own flag.
                    "--".into(),
                    "/bin/sh".into(),
                    "-c".into(),
                    script,
                ],
            ),
            // The proposal names the trial directory, so that bench/run.sh
            // recognises the process as this run's.
            Kind::EtcdElect => (
                self.etcdctl_bin.clone(),
                vec![
                    endpoints,
                    "elect".into(),
                    self.key.clone(),
                    self.dir.join(who).display().to_string(),
                ],
            ),
        }
    }

    /// The contender's command line, for the report, the child's script
    /// shown as `<child>`.
    fn contender_line(&self, who: &str, agent: String) -> String {
        let (program, args) = self.contender_args(who, &agent);
        let script = self.child_script(who);
        let program = program.file_name().map_or_else(
            || program.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        let args: Vec<String> = args
            .into_iter()
            .map(|a| {
                if a == script {
                    "<child>".to_owned()
                } else if a.contains(' ') {
                    format!("'{a}'")
                } else {
                    a
                }
            })
            .collect();
        format!("{program} {}", args.join(" "))
    }

    fn spawn(&self, who: &str, agent: &str) -> anyhow::Result<Contender> {
        let (program, args) = self.contender_args(who, agent);
        std::fs::create_dir_all(&self.log_dir)
            .with_context(|| format!("creating {}", self.log_dir.display()))?;
        let log = std::fs::File::create(self.log_dir.join(format!("{who}.log")))?;
        let mut cmd = Command::new(&program);
        cmd.args(&args)
            .stdin(Stdio::null())
            .stderr(log.try_clone()?)
            .kill_on_drop(true);
        if self.kind == Kind::EtcdElect {
            cmd.stdout(Stdio::piped());
        } else {
            cmd.stdout(log);
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let pid = child.id().context("the new process has no PID")?;
        use std::io::Write as _;
        writeln!(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.pidfile)?,
            "{pid}"
        )?;
        let printed = child.stdout.take().map(|out| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                let mut lines = BufReader::new(out).lines();
                if let Ok(Some(_)) = lines.next_line().await {
                    let _ = tx.send(now_ns());
                }
                // Keep reading, so that the contender never blocks on a full pipe.
                while let Ok(Some(_)) = lines.next_line().await {}
            });
            rx
        });
        Ok(Contender {
            child,
            started: self.started_file(who),
            printed,
        })
    }
}

impl Contender {
    /// When it started holding (ns since the epoch), if it has.
    fn holding_since(&mut self) -> Option<u128> {
        if let Some(rx) = self.printed.as_mut() {
            return rx.try_recv().ok();
        }
        let s = std::fs::read_to_string(&self.started).ok()?;
        s.lines().next()?.trim().parse().ok()
    }

    /// Waits until it holds; returns when it started holding.
    async fn wait_holding(&mut self, within: Duration, who: &str) -> anyhow::Result<u128> {
        let end = Instant::now() + within;
        let mut seen = None;
        loop {
            if let Some(rx) = self.printed.as_mut() {
                // A received value can be taken only once: keep it.
                if seen.is_none() {
                    seen = rx.try_recv().ok();
                }
            } else {
                seen = self.holding_since();
            }
            if let Some(t) = seen {
                return Ok(t);
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("{who}'s contender exited ({status}) before holding");
            }
            ensure!(Instant::now() < end, "{who} did not hold within {within:?}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// SIGKILL and reap; then SIGKILL its child, if it recorded one.
    async fn kill(&mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
        self.kill_child();
    }

    /// SIGTERM (a clean release), SIGKILL after [`STOP_DEADLINE`]; then its
    /// child, if still there.
    async fn stop(&mut self) {
        if let Some(pid) = self.child.id().and_then(|p| i32::try_from(p).ok()) {
            // SAFETY: kill(2) on a PID this process spawned and has not reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
            if tokio::time::timeout(STOP_DEADLINE, self.child.wait())
                .await
                .is_err()
            {
                let _ = self.child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(10), self.child.wait()).await;
            }
        }
        self.kill_child();
    }

    /// SIGKILL to the child whose PID it recorded, if that PID is still our
    /// `sleep` (not a process that reused the PID).
    fn kill_child(&self) {
        let pidfile = PathBuf::from(format!("{}.pid", self.started.display()));
        let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        else {
            return;
        };
        let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
            .is_ok_and(|c| c == format!("sleep\0{CHILD_SLEEP_SECS}\0").as_bytes());
        if ours {
            // SAFETY: kill(2) on our own contender's child, checked above.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
}

/// One hand-over trial: seconds from A's host dying to B holding.
async fn handover(spec: &Spec, praetor: &mut Cluster, etcd: &Cluster) -> anyhow::Result<f64> {
    std::fs::create_dir_all(&spec.dir)
        .with_context(|| format!("creating {}", spec.dir.display()))?;
    let (a_agent, b_agent) = (
        praetor.members[C1].ip.to_string(),
        praetor.members[C2].ip.to_string(),
    );
    let mut a = spec.spawn("A", &a_agent)?;
    let mut b: Option<Contender> = None;
    let mut c1_killed = false;
    let r = async {
        a.wait_holding(CONTEND_DEADLINE, "A").await?;
        let bb = b.insert(spec.spawn("B", &b_agent)?);
        wait_waiting(spec, praetor, etcd).await?;
        // B must not hold while A does.
        tokio::time::sleep(Duration::from_millis(500)).await;
        ensure!(bb.holding_since().is_none(), "B holds while A does");
        if let Some(status) = bb.child.try_wait()? {
            bail!("B's contender exited ({status}) while waiting");
        }
        // A's host dies.
        let killed = now_ns();
        if spec.kind.side() == Side::Praetor {
            praetor.kill(C1).await?;
            c1_killed = true;
        }
        a.kill().await;
        let held = bb.wait_holding(spec.deadline, "B").await?;
        ensure!(held > killed, "B's start precedes the kill");
        Ok((held - killed) as f64 / 1e9)
    }
    .await;
    a.kill().await;
    if let Some(mut b) = b {
        b.stop().await;
    }
    if c1_killed {
        praetor.start(C1)?;
        wait_back(praetor, "c1").await?;
    }
    r
}

/// Waits until B is seen waiting: (praetor) a session for the key on c2, (etcd) two
/// keys under the lock or election name.
async fn wait_waiting(spec: &Spec, praetor: &Cluster, etcd: &Cluster) -> anyhow::Result<()> {
    let end = Instant::now() + CONTEND_DEADLINE;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    loop {
        let waiting = match spec.kind.side() {
            Side::Praetor => {
                let url = format!(
                    "http://{}/v1/session/node/c2",
                    praetor.members[C2].client_addr(Side::Praetor)
                );
                match http.get(url).send().await {
                    // Its session is named after the key (and B creates it
                    // before it asks for the lock).
                    Ok(r) if r.status().is_success() => {
                        r.json::<Vec<serde_json::Value>>().await.is_ok_and(|l| {
                            l.iter()
                                .any(|s| s["Name"].as_str().is_some_and(|n| n.contains(&spec.key)))
                        })
                    }
                    _ => false,
                }
            }
            Side::Etcd => {
                let addr = etcd.members[0].client_addr(Side::Etcd);
                crate::etcd::count_keys(&addr, &format!("{}/", spec.key))
                    .await
                    .is_ok_and(|n| n >= 2)
            }
        };
        if waiting {
            return Ok(());
        }
        ensure!(
            Instant::now() < end,
            "B was not seen waiting within {CONTEND_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every server shows `node` with a passing `serfHealth` (a
/// restarted agent rejoined and can hold sessions again).
async fn wait_back(c: &Cluster, node: &str) -> anyhow::Result<()> {
    let end = Instant::now() + READY_DEADLINE;
    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    loop {
        let mut all = true;
        for m in c.members.iter().filter(|m| m.is_server()) {
            let url = format!(
                "http://{}/v1/health/node/{node}",
                m.client_addr(Side::Praetor)
            );
            let passing = match http.get(url).send().await {
                Ok(r) if r.status().is_success() => {
                    r.json::<Vec<serde_json::Value>>().await.is_ok_and(|l| {
                        l.iter()
                            .any(|c| c["CheckID"] == "serfHealth" && c["Status"] == "passing")
                    })
                }
                _ => false,
            };
            all &= passing;
        }
        if all {
            return Ok(());
        }
        ensure!(
            Instant::now() < end,
            "{node} not back with a passing serfHealth within {READY_DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

// --- transactions ---------------------------------------------------------------------

fn b64(v: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(v)
}

/// `clients` closed-loop clients of `PUT /v1/txn` on the praetor servers at
/// `addrs`, each request to the next server in turn: check-index on the
/// client's guard key plus three sets (the guard among them).
async fn praetor_txn(
    addrs: &[String],
    clients: usize,
    d: Duration,
    tag: &str,
) -> anyhow::Result<Throughput> {
    let value = b64(&crate::workload::value());
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = JoinSet::new();
    for w in 0..clients {
        let http = reqwest::Client::builder()
            .no_proxy()
            .http1_only()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(OP_TIMEOUT)
            .build()?;
        let bases: Vec<String> = addrs.iter().map(|a| format!("http://{a}")).collect();
        let prefix = format!("bench/txn/{tag}/{w}");
        let guard = format!("{prefix}/guard");
        let set =
            |key: &str| serde_json::json!({"KV": {"Verb": "set", "Key": key, "Value": value}});
        let sets = vec![
            set(&guard),
            set(&format!("{prefix}/a")),
            set(&format!("{prefix}/b")),
        ];
        // Warm-up outside the window: the sets alone, which also create the guard.
        let mut index = praetor_txn_once(&http, &bases[w % bases.len()], &sets, &guard)
            .await
            .with_context(|| format!("praetor client {w}: warm-up transaction"))?;
        let barrier = barrier.clone();
        tasks.spawn(async move {
            let mut samples = Samples::default();
            let mut errors = 0u64;
            let mut next = w;
            barrier.wait().await;
            let end = Instant::now() + d;
            while Instant::now() < end {
                let mut ops = vec![serde_json::json!(
                    {"KV": {"Verb": "check-index", "Key": guard, "Index": index}}
                )];
                ops.extend(sets.iter().cloned());
                next = (next + 1) % bases.len();
                let t0 = Instant::now();
                match praetor_txn_once(&http, &bases[next], &ops, &guard).await {
                    Ok(i) => {
                        samples.push(t0.elapsed());
                        index = i;
                    }
                    Err(_) => {
                        errors += 1;
                        // Start again from the guard's current index.
                        if let Ok(i) = praetor_index(&http, &bases[next], &guard).await {
                            index = i;
                        }
                    }
                }
            }
            (samples, errors)
        });
    }
    barrier.wait().await;
    let start = Instant::now();
    let (samples, errors) = join(tasks).await?;
    Ok(Throughput::new(clients, samples, errors, start.elapsed()))
}

/// One transaction; succeeds on 200 and returns the guard's new ModifyIndex.
async fn praetor_txn_once(
    http: &reqwest::Client,
    base: &str,
    ops: &[serde_json::Value],
    guard: &str,
) -> anyhow::Result<u64> {
    let resp = http.put(format!("{base}/v1/txn")).json(ops).send().await?;
    let status = resp.status();
    let body: serde_json::Value = resp.json().await?;
    ensure!(status.is_success(), "txn: {status} {body}");
    body["Results"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["KV"]["Key"] == guard)
        .filter_map(|r| r["KV"]["ModifyIndex"].as_u64())
        .max()
        .context("the answer has no result for the guard key")
}

async fn praetor_index(http: &reqwest::Client, base: &str, key: &str) -> anyhow::Result<u64> {
    let v: serde_json::Value = http
        .get(format!("{base}/v1/kv/{key}"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    v[0]["ModifyIndex"].as_u64().context("no ModifyIndex")
}

/// The same against etcd: `Txn` comparing the guard's mod_revision, then
/// three puts (the guard among them).
async fn etcd_txn(
    addrs: &[String],
    clients: usize,
    d: Duration,
    tag: &str,
) -> anyhow::Result<Throughput> {
    let value = crate::workload::value();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = JoinSet::new();
    let endpoints: Vec<String> = addrs.iter().map(|a| format!("http://{a}")).collect();
    for w in 0..clients {
        let opts = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_timeout(OP_TIMEOUT);
        let mut kv = etcd_client::Client::connect(endpoints.clone(), Some(opts))
            .await
            .context("connecting to etcd")?
            .kv_client();
        let prefix = format!("bench/txn/{tag}/{w}");
        let guard = format!("{prefix}/guard");
        let keys = [guard.clone(), format!("{prefix}/a"), format!("{prefix}/b")];
        let puts = || -> Vec<TxnOp> {
            keys.iter()
                .map(|k| TxnOp::put(k.as_str(), value.clone(), None))
                .collect()
        };
        // Warm-up outside the window: the puts alone.
        let resp = kv
            .txn(Txn::new().and_then(puts()))
            .await
            .with_context(|| format!("etcd client {w}: warm-up transaction"))?;
        let mut rev = resp.header().context("no header")?.revision();
        let barrier = barrier.clone();
        let puts = puts();
        tasks.spawn(async move {
            let mut samples = Samples::default();
            let mut errors = 0u64;
            barrier.wait().await;
            let end = Instant::now() + d;
            while Instant::now() < end {
                let txn = Txn::new()
                    .when([Compare::mod_revision(guard.as_str(), CompareOp::Equal, rev)])
                    .and_then(puts.clone());
                let t0 = Instant::now();
                let r = tokio::time::timeout(OP_TIMEOUT, kv.txn(txn)).await;
                match r {
                    Ok(Ok(resp)) if resp.succeeded() => {
                        samples.push(t0.elapsed());
                        rev = resp.header().map_or(rev, |h| h.revision());
                    }
                    _ => {
                        errors += 1;
                        if let Ok(Ok(g)) = tokio::time::timeout(
                            OP_TIMEOUT,
                            kv.get(guard.as_str(), None::<GetOptions>),
                        )
                        .await
                        {
                            if let Some(k) = g.kvs().first() {
                                rev = k.mod_revision();
                            }
                        }
                    }
                }
            }
            (samples, errors)
        });
    }
    barrier.wait().await;
    let start = Instant::now();
    let (samples, errors) = join(tasks).await?;
    Ok(Throughput::new(clients, samples, errors, start.elapsed()))
}

async fn join(mut tasks: JoinSet<(Samples, u64)>) -> anyhow::Result<(Samples, u64)> {
    let mut all = Samples::default();
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (s, e) = r.context("a client task panicked")?;
        all.extend(s);
        errors += e;
    }
    Ok((all, errors))
}

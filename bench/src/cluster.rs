//! Three-member clusters of either system on loopback, run as child processes
//! of this tool: started, killed with SIGKILL (for failover), restarted on the
//! same data directory, asked who leads, and stopped (SIGTERM, then SIGKILL
//! after a deadline). Each member listens on its own loopback address with its
//! system's default ports. Every PID started is appended to a file, so that
//! bench/run.sh can stop whatever this tool leaves behind if it dies.
//! Never touches a process it did not start.

use std::net::{Ipv4Addr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use tokio::process::{Child, Command};

use crate::target::{Read, Side, Target};
use crate::{etcd, praetor};

/// praetor's default ports: HTTP, server RPC, LAN gossip (TCP and UDP).
const PRAETOR_TCP_PORTS: [u16; 3] = [8500, 8300, 8301];
const PRAETOR_UDP_PORTS: [u16; 1] = [8301];
/// etcd's default ports: client, peer.
const ETCD_TCP_PORTS: [u16; 2] = [2379, 2380];
/// The loopback addresses the cluster phase searches for free ones:
/// 127.0.10.2 to 127.0.10.250, outside testkit's 127.0.0.x so a test run on
/// the same machine never collides with the benchmark.
pub const CLUSTER_SUBNET: [u8; 3] = [127, 0, 10];
/// How long a SIGTERM'd member may take to exit before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(15);
/// Bound on one put or read made to check that a cluster is ready.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on a status request.
const STATUS_TIMEOUT: Duration = Duration::from_secs(2);

/// `n` loopback addresses in [`CLUSTER_SUBNET`] on which every port either
/// system uses can be bound right now (TCP and, for gossip, UDP).
///
/// # Errors
/// When fewer than `n` are free.
pub fn free_ips(n: usize) -> anyhow::Result<Vec<Ipv4Addr>> {
    free_ips_in(CLUSTER_SUBNET, n)
}

/// `n` addresses `subnet`.2 to `subnet`.250 on which every port either
/// system uses can be bound right now.
///
/// # Errors
/// When fewer than `n` are free.
pub fn free_ips_in(subnet: [u8; 3], n: usize) -> anyhow::Result<Vec<Ipv4Addr>> {
    let mut ips = Vec::new();
    for x in 2..=250u8 {
        let ip = Ipv4Addr::new(subnet[0], subnet[1], subnet[2], x);
        let tcp = PRAETOR_TCP_PORTS.iter().chain(&ETCD_TCP_PORTS);
        let free = tcp
            .map(|&p| TcpListener::bind((ip, p)).map(drop))
            .chain(
                PRAETOR_UDP_PORTS
                    .iter()
                    .map(|&p| UdpSocket::bind((ip, p)).map(drop)),
            )
            .collect::<Result<Vec<()>, _>>()
            .is_ok();
        if free {
            ips.push(ip);
            if ips.len() == n {
                return Ok(ips);
            }
        }
    }
    bail!(
        "only {} of the {n} loopback addresses needed are free in {}.{}.{}.0/24",
        ips.len(),
        subnet[0],
        subnet[1],
        subnet[2]
    )
}

/// Who the member at `addr` (a client address) names as leader: praetor's
/// `/v1/status/leader` IP, or etcd's leader member ID in hex; `None` when it
/// knows none.
///
/// # Errors
/// When the member does not answer.
pub async fn leader_seen_by(side: Side, addr: &str) -> anyhow::Result<Option<String>> {
    Ok(match side {
        Side::Praetor => {
            let l = praetor::status_leader(addr).await?;
            l.split(':')
                .next()
                .filter(|ip| !ip.is_empty())
                .map(str::to_owned)
        }
        Side::Etcd => {
            let s = etcd::status(addr, STATUS_TIMEOUT).await?;
            (s.leader != 0).then(|| format!("{:x}", s.leader))
        }
    })
}

/// One member: its name, address, command line and (while running) process.
pub struct Member {
    pub name: String,
    pub ip: Ipv4Addr,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Member {
    /// Its client API address (host:port).
    pub fn client_addr(&self, side: Side) -> String {
        match side {
            Side::Praetor => format!("{}:8500", self.ip),
            Side::Etcd => format!("{}:2379", self.ip),
        }
    }

    /// Whether it runs as a server.
    pub fn is_server(&self) -> bool {
        self.args.iter().any(|a| a == "-server")
    }

    /// Its PID while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }
}

/// Three members of one system.
pub struct Cluster {
    pub side: Side,
    program: PathBuf,
    pub members: Vec<Member>,
    /// Every PID started is appended here.
    pidfile: PathBuf,
}

impl Cluster {
    /// A praetor cluster of servers `s1..sN` on `ips` (not started): durable,
    /// `-bootstrap-expect` the whole set, every server retry-joining all.
    pub fn praetor(
        program: &Path,
        ips: &[Ipv4Addr],
        work: &Path,
        logs: &Path,
        pidfile: &Path,
    ) -> Self {
        Self::praetor_agents(program, ips, &[], work, logs, pidfile)
    }

    /// praetor servers `s1..sN` on `servers` as [`Cluster::praetor`] makes
    /// them, then client agents `c1..cM` on `clients` (not started), each
    /// retry-joining every server. Durable: every agent has a data directory.
    pub fn praetor_agents(
        program: &Path,
        servers: &[Ipv4Addr],
        clients: &[Ipv4Addr],
        work: &Path,
        logs: &Path,
        pidfile: &Path,
    ) -> Self {
        // The watcher rows hold a thousand connections from one address;
        // Consul's default of 200 per client would refuse most of them.
        let limits = work.join("praetor-bench-limits.hcl");
        if let Err(e) = std::fs::create_dir_all(work)
            .and_then(|()| std::fs::write(&limits, "limits { http_max_conns_per_client = 0 }\n"))
        {
            eprintln!("writing {}: {e}", limits.display());
        }
        let member = |name: String, ip: &Ipv4Addr, server: bool| {
            let mut args = vec![
                "agent".to_owned(),
                format!("-config-file={}", limits.display()),
            ];
            if server {
                args.push("-server".to_owned());
                args.push(format!("-bootstrap-expect={}", servers.len()));
            }
            args.extend([
                format!(
                    "-data-dir={}",
                    work.join(format!("praetor-{name}")).display()
                ),
                format!("-node={name}"),
                format!("-bind={ip}"),
                format!("-client={ip}"),
            ]);
            args.extend(servers.iter().map(|j| format!("-retry-join={j}")));
            args.extend(
                ["-retry-interval=1s", "-dns-port=-1", "-log-level=warn"].map(String::from),
            );
            Member {
                log: logs.join(format!("praetor-{name}.log")),
                name,
                ip: *ip,
                args,
                child: None,
            }
        };
        let members = servers
            .iter()
            .enumerate()
            .map(|(i, ip)| member(format!("s{}", i + 1), ip, true))
            .chain(
                clients
                    .iter()
                    .enumerate()
                    .map(|(i, ip)| member(format!("c{}", i + 1), ip, false)),
            )
            .collect();
        Self {
            side: Side::Praetor,
            program: program.to_owned(),
            members,
            pidfile: pidfile.to_owned(),
        }
    }

    /// An etcd cluster of members `e1..eN` on `ips` (not started), with
    /// etcd's default timing and fsync.
    pub fn etcd(
        program: &Path,
        ips: &[Ipv4Addr],
        work: &Path,
        logs: &Path,
        pidfile: &Path,
    ) -> Self {
        let initial = ips
            .iter()
            .enumerate()
            .map(|(i, ip)| format!("e{}=http://{ip}:2380", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        let members = ips
            .iter()
            .enumerate()
            .map(|(i, ip)| {
                let name = format!("e{}", i + 1);
                let args = [
                    "--name",
                    &name,
                    "--data-dir",
                    &work.join(format!("etcd-{name}")).display().to_string(),
                    "--listen-client-urls",
                    &format!("http://{ip}:2379"),
                    "--advertise-client-urls",
                    &format!("http://{ip}:2379"),
                    "--listen-peer-urls",
                    &format!("http://{ip}:2380"),
                    "--initial-advertise-peer-urls",
                    &format!("http://{ip}:2380"),
                    "--initial-cluster",
                    &initial,
                    "--initial-cluster-state",
                    "new",
                    "--initial-cluster-token",
                    "praetor-bench",
                    "--logger",
                    "zap",
                    "--log-level",
                    "warn",
                ]
                .map(String::from)
                .to_vec();
                Member {
                    log: logs.join(format!("etcd-{name}.log")),
                    name,
                    ip: *ip,
                    args,
                    child: None,
                }
            })
            .collect();
        Self {
            side: Side::Etcd,
            program: program.to_owned(),
            members,
            pidfile: pidfile.to_owned(),
        }
    }

    /// One process of `side`, `name`, started as `program args` with its
    /// output appended to `log` (not started): for a phase that chooses its
    /// own ports and flags, and so knows its own addresses (this member's
    /// [`Member::client_addr`], which assumes the default ports, is not one).
    pub fn single(
        side: Side,
        program: &Path,
        name: &str,
        args: Vec<String>,
        log: &Path,
        pidfile: &Path,
    ) -> Self {
        Self {
            side,
            program: program.to_owned(),
            members: vec![Member {
                name: name.to_owned(),
                ip: Ipv4Addr::LOCALHOST,
                args,
                log: log.to_owned(),
                child: None,
            }],
            pidfile: pidfile.to_owned(),
        }
    }

    /// Adds `-config-file=<path>` to every member's command line, after the
    /// config files it has; takes effect from each member's next start.
    pub fn add_config_file(&mut self, path: &Path) {
        for m in &mut self.members {
            let at = m
                .args
                .iter()
                .rposition(|a| a.starts_with("-config-file="))
                .map_or(1, |i| i + 1);
            m.args
                .insert(at, format!("-config-file={}", path.display()));
        }
    }

    /// Sets flag `arg` (`-name=value`) on every member's command line:
    /// replaces the flag of that name if the line has one, else appends it.
    /// Takes effect from each member's next start.
    pub fn set_flag(&mut self, arg: &str) {
        let name = arg.split_once('=').map_or(arg, |(n, _)| n);
        for m in &mut self.members {
            match m
                .args
                .iter()
                .position(|a| a.split_once('=').map_or(a.as_str(), |(n, _)| n) == name)
            {
                Some(i) => arg.clone_into(&mut m.args[i]),
                None => m.args.push(arg.to_owned()),
            }
        }
    }

    /// Appends flag `arg` to every member's command line (for a flag that
    /// may be given several times, such as `-retry-join-wan`).
    pub fn push_flag(&mut self, arg: &str) {
        for m in &mut self.members {
            m.args.push(arg.to_owned());
        }
    }

    /// Member `i`'s command line, for the report.
    pub fn command_line(&self, i: usize) -> String {
        let program = self.program.file_name().map_or_else(
            || self.program.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        format!("{program} {}", self.members[i].args.join(" "))
    }

    /// Every member's client address, in member order.
    pub fn client_addrs(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| m.client_addr(self.side))
            .collect()
    }

    /// The whole cluster as a workload target (every member).
    pub fn target(&self) -> Target {
        Target {
            side: self.side,
            addrs: self.client_addrs(),
            pids: self.members.iter().filter_map(Member::pid).collect(),
            token: None,
            scheme: crate::target::Scheme::Default,
        }
    }

    /// Member `i`'s identity as [`leader_seen_by`] reports a leader.
    ///
    /// # Errors
    /// (etcd) When the member does not answer.
    pub async fn leader_id(&self, i: usize) -> anyhow::Result<String> {
        let m = &self.members[i];
        Ok(match self.side {
            Side::Praetor => m.ip.to_string(),
            Side::Etcd => {
                let s = etcd::status(&m.client_addr(self.side), STATUS_TIMEOUT).await?;
                format!("{:x}", s.member_id)
            }
        })
    }

    /// Member `i` alone as a workload target.
    pub fn member_target(&self, i: usize) -> Target {
        let m = &self.members[i];
        Target::single(self.side, m.client_addr(self.side), m.pid().unwrap_or(0))
    }

    /// Starts member `i` (on its existing data directory, if any), its output
    /// appended to its log.
    ///
    /// # Errors
    /// When it is already running or cannot be spawned.
    pub fn start(&mut self, i: usize) -> anyhow::Result<()> {
        let line = self.command_line(i);
        let m = &mut self.members[i];
        ensure!(m.child.is_none(), "{} is already running", m.name);
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&m.log)
            .with_context(|| format!("opening {}", m.log.display()))?;
        use std::io::Write as _;
        writeln!(log, "=== praetor-bench: starting {line}")?;
        let child = Command::new(&self.program)
            .args(&m.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        let pid = child.id().context("the new process has no PID")?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.pidfile)
            .with_context(|| format!("opening {}", self.pidfile.display()))?;
        writeln!(f, "{pid}")?;
        m.child = Some(child);
        Ok(())
    }

    /// Starts every member.
    ///
    /// # Errors
    /// As [`Cluster::start`].
    pub fn start_all(&mut self) -> anyhow::Result<()> {
        for i in 0..self.members.len() {
            self.start(i)?;
        }
        Ok(())
    }

    /// Sends member `i` SIGKILL and reaps it; returns when it is gone.
    ///
    /// # Errors
    /// When it is not running, or is still there 10 s after SIGKILL.
    pub async fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        let m = &mut self.members[i];
        let mut child = m
            .child
            .take()
            .with_context(|| format!("{} is not running", m.name))?;
        child
            .start_kill()
            .with_context(|| format!("killing {}", m.name))?;
        tokio::time::timeout(Duration::from_secs(10), child.wait())
            .await
            .with_context(|| format!("{} still running 10 s after SIGKILL", m.name))??;
        Ok(())
    }

    /// Members that exited on their own (reaped here), as `name (status)`.
    pub fn exited(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for m in &mut self.members {
            if let Some(c) = m.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    out.push(format!("{} ({status})", m.name));
                    m.child = None;
                }
            }
        }
        out
    }

    /// Starts every member that is not running (after a failed trial), so
    /// the next trial finds a whole cluster if it can.
    pub fn restart_stopped(&mut self) {
        let _ = self.exited();
        for i in 0..self.members.len() {
            if self.members[i].child.is_none() {
                if let Err(e) = self.start(i) {
                    eprintln!("   restarting {}: {e:#}", self.members[i].name);
                }
            }
        }
    }

    /// Stops every member (`stop_all`) and says, for a phase's report,
    /// which had exited on their own and which had to be killed, each as
    /// `the <who> (<member> (<status>)) …`.
    pub async fn stop_and_report(&mut self, who: &str) -> Vec<String> {
        let mut lines: Vec<String> = self
            .exited()
            .into_iter()
            .map(|m| format!("the {who} ({m}) had exited on its own"))
            .collect();
        lines.extend(self.stop_all().await.into_iter().map(|m| {
            format!("the {who} ({m}) did not stop within 15 s of SIGTERM and was killed")
        }));
        lines
    }

    /// Stops every running member: SIGTERM, then SIGKILL for any still
    /// running after [`STOP_DEADLINE`]. Returns the members that needed SIGKILL.
    pub async fn stop_all(&mut self) -> Vec<String> {
        let mut forced = Vec::new();
        for m in &mut self.members {
            let Some(mut child) = m.child.take() else {
                continue;
            };
            if let Some(pid) = child.id().and_then(|p| i32::try_from(p).ok()) {
                // SAFETY: kill(2) on a PID this process spawned and has not reaped.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
            if tokio::time::timeout(STOP_DEADLINE, child.wait())
                .await
                .is_err()
            {
                forced.push(m.name.clone());
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(10), child.wait()).await;
            }
        }
        forced
    }

    /// The index of the member every running member names as leader.
    ///
    /// # Errors
    /// When a running member cannot be asked, knows no leader, or they
    /// disagree.
    pub async fn leader(&self) -> anyhow::Result<usize> {
        let mut seen: Option<usize> = None;
        for m in self.members.iter().filter(|m| m.child.is_some()) {
            let addr = m.client_addr(self.side);
            let leader = match self.side {
                Side::Praetor => {
                    let l = praetor::status_leader(&addr)
                        .await
                        .with_context(|| format!("asking {} for the leader", m.name))?;
                    let ip = l.split(':').next().unwrap_or_default();
                    self.members
                        .iter()
                        .position(|x| x.ip.to_string() == ip)
                        .with_context(|| format!("{} names no member as leader ({l:?})", m.name))?
                }
                Side::Etcd => {
                    let s = etcd::status(&addr, STATUS_TIMEOUT)
                        .await
                        .with_context(|| format!("asking {} for its status", m.name))?;
                    ensure!(s.leader != 0, "{} knows no leader", m.name);
                    self.etcd_member_index(s.leader).await.with_context(|| {
                        format!("{} names leader {:x}, which is no member", m.name, s.leader)
                    })?
                }
            };
            if let Some(prev) = seen {
                ensure!(
                    prev == leader,
                    "members disagree on the leader ({} and {})",
                    self.members[prev].name,
                    self.members[leader].name
                );
            }
            seen = Some(leader);
        }
        seen.context("no member is running")
    }

    /// The name of the member every running member names as leader.
    ///
    /// # Errors
    /// As [`Cluster::leader`].
    pub async fn leader_name(&self) -> anyhow::Result<String> {
        Ok(self.members[self.leader().await?].name.clone())
    }

    /// The index of the running etcd member whose ID is `id`.
    async fn etcd_member_index(&self, id: u64) -> Option<usize> {
        for (i, m) in self.members.iter().enumerate() {
            if m.child.is_none() {
                continue;
            }
            if let Ok(s) = etcd::status(&m.client_addr(self.side), STATUS_TIMEOUT).await {
                if s.member_id == id {
                    return Some(i);
                }
            }
        }
        None
    }

    /// Whether the whole cluster serves: every member running and agreeing on
    /// the leader, (praetor) every member listing every server as a Raft
    /// peer, and a put through each member readable by a local read
    /// (`?stale` / serializable) on every member. Returns the leader.
    ///
    /// # Errors
    /// The first thing found not ready.
    pub async fn check_ready(&self, nonce: &str) -> anyhow::Result<usize> {
        for m in &self.members {
            ensure!(m.child.is_some(), "{} is not running", m.name);
        }
        let leader = self.leader().await?;
        if self.side == Side::Praetor {
            for m in &self.members {
                let peers = praetor::status_peers(&m.client_addr(self.side)).await?;
                ensure!(
                    peers.len() == self.members.len(),
                    "{} lists {} Raft peers",
                    m.name,
                    peers.len()
                );
            }
        }
        let value = crate::workload::value();
        for (i, m) in self.members.iter().enumerate() {
            let key = format!("bench/ready/{}/{nonce}/{}", self.side, m.name);
            let mut c = self.member_target(i).connect(0).await?;
            c.put_within(&key, &value, CHECK_TIMEOUT)
                .await
                .with_context(|| format!("put through {}", m.name))?;
            for j in 0..self.members.len() {
                let mut r = self.member_target(j).connect(0).await?;
                let deadline = Instant::now() + CHECK_TIMEOUT;
                while r.get(&key, Read::Local).await.is_err() {
                    ensure!(
                        Instant::now() < deadline,
                        "a put through {} is not on {} after {CHECK_TIMEOUT:?}",
                        m.name,
                        self.members[j].name
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        Ok(leader)
    }

    /// Waits until [`Cluster::check_ready`] passes; returns the leader.
    ///
    /// # Errors
    /// When a member exits, or the deadline passes (with the last reason).
    pub async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<usize> {
        let end = Instant::now() + within;
        let mut attempt = 0u64;
        loop {
            for m in &mut self.members {
                if let Some(c) = m.child.as_mut() {
                    if let Some(status) = c.try_wait()? {
                        m.child = None;
                        bail!("{} exited ({status}); see {}", m.name, m.log.display());
                    }
                }
            }
            attempt += 1;
            let nonce = format!("{}-{attempt}", std::process::id());
            let left = end
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1));
            let last = match tokio::time::timeout(left, self.check_ready(&nonce)).await {
                Ok(Ok(leader)) => return Ok(leader),
                Ok(Err(e)) => format!("{e:#}"),
                Err(_) => "the readiness check itself timed out".to_owned(),
            };
            if Instant::now() >= end {
                bail!(
                    "the {} cluster is not ready after {within:?}: {last}",
                    self.side
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

//! The `health` subcommand: praetor's service registry and health checking,
//! on agents it starts itself, each on its own loopback address in
//! 127.0.11.0/24 with praetor's default ports (away from testkit's 127.0.0.x
//! and the cluster phase's 127.0.10.x). Registrations per second (through
//! an agent and through the catalog, each row on a fresh single server);
//! health-query latency on a loaded catalog with blocking watchers open, and
//! the memory those watchers cost; and, on three servers and two client
//! agents, how fast a check flip on one client reaches a watcher on the
//! other, and the client agent's memory per watcher. Always writes its JSON
//! results, failures recorded as such; stops every process it started, also
//! on SIGINT or SIGTERM. praetor only: Consul cannot be installed here.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use clap::Args;

use crate::cluster::{self, Cluster};
use crate::health::{self, check_status, instance, service_name, Api, Op, Watchers};
use crate::machine::{cpu_secs, load_average, sockets, Rss};
use crate::phase::PhaseArgs;
use crate::praetor;
use crate::report::health::{
    Flip, HealthReport, Load, MemRow, OtherRss, Propagation, QueryRow, QueryWatchers, RegRow, Row,
    SecondRound,
};
use crate::report::Config;
use crate::runner::outcome;
use crate::target::Side;

/// The loopback /24 the health phase's agents use.
const HEALTH_SUBNET: [u8; 3] = [127, 0, 11];
/// Bound on agents becoming ready.
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// Bound on anti-entropy bringing an agent's registrations into the catalog.
const CATALOG_DEADLINE: Duration = Duration::from_secs(120);
/// Bound on an agent accepting every watcher's connection.
const OPEN_DEADLINE: Duration = Duration::from_secs(30);
/// Bound on one check flip reaching the other client agent.
const FLIP_DEADLINE: Duration = Duration::from_secs(30);
/// Concurrent clients registering the health catalog and writing wake-ups.
const WRITERS: usize = 16;
/// Servers and client agents of the propagation cluster.
const SERVERS: usize = 3;
const CLIENTS: usize = 2;

#[derive(Args)]
pub struct HealthArgs {
    #[command(flatten)]
    phase: PhaseArgs,
    #[command(flatten)]
    config: Config,
}

/// Runs the health phase and writes its results.
///
/// # Errors
/// When the results cannot be written, or the phase was interrupted.
pub async fn run(args: HealthArgs) -> anyhow::Result<()> {
    let report = HealthReport::new(
        args.config.clone(),
        args.phase.command.clone(),
        args.phase.date.clone(),
        args.phase.praetor_version.clone(),
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

async fn measure(args: &HealthArgs, report: &mut HealthReport) -> anyhow::Result<()> {
    let cfg = &args.config;
    let ips = cluster::free_ips_in(HEALTH_SUBNET, 1 + SERVERS + CLIENTS)?;
    for dir in [&args.phase.work, &args.phase.logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    report.load_before = load_average();
    let show = |s: String| s.replace(&args.phase.work.display().to_string(), "$TMP");
    // Each single server has a work and a log directory of its own.
    let single = |label: &str| {
        let logs = args.phase.logs.join(label);
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        anyhow::Ok(Cluster::praetor_agents(
            &args.phase.praetor_bin,
            &ips[..1],
            &[],
            &args.phase.work.join(label),
            &logs,
            &args.phase.pidfile,
        ))
    };
    report.agent_cmd = show(
        Cluster::praetor_agents(
            &args.phase.praetor_bin,
            &ips[..1],
            &[],
            &args.phase.work.join("ROW"),
            &args.phase.logs,
            &args.phase.pidfile,
        )
        .command_line(0),
    )
    .replace("/ROW/", "/<row>/");

    let d = Duration::from_secs(cfg.duration_secs);
    for (kind, label) in [(RegKind::Agent, "agent"), (RegKind::Catalog, "catalog")] {
        for &clients in &cfg.reg_clients {
            let row = format!("{label} ×{clients}");
            eprintln!("== health: registrations, {row}");
            let dir = format!("reg-{label}-{clients}");
            let mut agent = single(&dir)?;
            let data_dir = args.phase.work.join(&dir).join("praetor-s1");
            let r = registration(&mut agent, kind, clients, d, &data_dir).await;
            let r = finish(&mut agent, r, &mut report.stopped).await;
            eprintln!("   {r:?}");
            report.registrations.push(Row {
                label: row,
                result: r,
            });
        }
    }

    report.load_after_registrations = load_average();
    eprintln!("== health: queries and watchers on a loaded catalog");
    let mut agent = single("health")?;
    let r = queries_and_memory(&mut agent, cfg, report).await;
    if let Err(e) = finish(&mut agent, r, &mut report.stopped).await {
        report.queries_error = Some(e);
    }

    report.load_after_queries = load_average();
    eprintln!("== health: propagation between two client agents");
    let logs = args.phase.logs.join("cluster");
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let mut c = Cluster::praetor_agents(
        &args.phase.praetor_bin,
        &ips[1..=SERVERS],
        &ips[1 + SERVERS..],
        &args.phase.work.join("cluster"),
        &logs,
        &args.phase.pidfile,
    );
    report.cluster_cmds = (0..SERVERS + CLIENTS)
        .map(|i| show(c.command_line(i)))
        .collect();
    let r = cluster_rows(&mut c, cfg, report).await;
    if let Err(e) = finish(&mut c, r, &mut report.stopped).await {
        report.cluster_error = Some(e);
    }
    report.load_after = load_average();
    Ok(())
}

/// Stops every agent of `c`, noting those that exited early or needed SIGKILL.
async fn finish<T>(
    c: &mut Cluster,
    r: anyhow::Result<T>,
    stopped: &mut Vec<String>,
) -> Result<T, String> {
    for m in c.exited() {
        stopped.push(format!("{m} had exited on its own"));
    }
    for m in c.stop_all().await {
        stopped.push(format!(
            "{m} did not stop within 15 s of SIGTERM and was killed"
        ));
    }
    outcome(r)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RegKind {
    Agent,
    Catalog,
}

/// Starts every agent of `c` and waits until they serve: they agree on the
/// leader, every server lists every server as a Raft peer, and every agent
/// sees every agent's node in the catalog. Returns the seconds taken.
pub(crate) async fn start_ready(c: &mut Cluster) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    c.start_all()?;
    let end = t0 + READY_DEADLINE;
    loop {
        let exited = c.exited();
        ensure!(
            exited.is_empty(),
            "{} exited during startup",
            exited.join(", ")
        );
        let last = match tokio::time::timeout(Duration::from_secs(10), check_ready(c)).await {
            Ok(Ok(())) => return Ok(t0.elapsed().as_secs_f64()),
            Ok(Err(e)) => format!("{e:#}"),
            Err(_) => "the readiness check itself timed out".into(),
        };
        if Instant::now() >= end {
            bail!("not ready after {READY_DEADLINE:?}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn check_ready(c: &Cluster) -> anyhow::Result<()> {
    c.leader().await?;
    let servers = c.members.iter().filter(|m| m.is_server()).count();
    let names: Vec<&str> = c.members.iter().map(|m| m.name.as_str()).collect();
    for m in &c.members {
        let addr = m.client_addr(Side::Praetor);
        if m.is_server() {
            let peers = praetor::status_peers(&addr).await?;
            ensure!(
                peers.len() == servers,
                "{} lists {} Raft peers",
                m.name,
                peers.len()
            );
        }
        let nodes = Api::new(&addr)?.nodes().await?;
        for n in &names {
            ensure!(
                nodes.iter().any(|x| x == n),
                "{} does not list node {n} yet",
                m.name
            );
        }
    }
    Ok(())
}

/// One registration row on a fresh single server.
async fn registration(
    c: &mut Cluster,
    kind: RegKind,
    clients: usize,
    d: Duration,
    data_dir: &Path,
) -> anyhow::Result<RegRow> {
    start_ready(c).await?;
    let pid = c.members[0].pid().context("the agent is not running")?;
    let addr = c.members[0].client_addr(Side::Praetor);
    let service = match kind {
        RegKind::Agent => format!("bench-agent-reg-{clients}"),
        RegKind::Catalog => format!("bench-catalog-reg-{clients}"),
    };
    let op = match kind {
        RegKind::Agent => Op::AgentRegister {
            service: service.clone(),
        },
        RegKind::Catalog => Op::CatalogRegister {
            service: service.clone(),
        },
    };
    let (server0, client0, wall0) = (cpu_secs(pid), cpu_secs(std::process::id()), Instant::now());
    let (throughput, per_second) = health::closed_loop(&addr, clients, d, op).await?;
    let (wall, server_cpu, client_cpu) = (
        wall0.elapsed().as_secs_f64(),
        cpu_secs(pid) - server0,
        cpu_secs(std::process::id()) - client0,
    );
    // Every acknowledged registration and each client's warm-up one.
    let registered = throughput.ops + clients as u64;
    let ended = Instant::now();
    let api = Api::new(&addr)?;
    let mut in_catalog = api.catalog_count(&service).await?;
    while in_catalog < registered && ended.elapsed() < CATALOG_DEADLINE {
        tokio::time::sleep(Duration::from_millis(250)).await;
        in_catalog = api.catalog_count(&service).await?;
    }
    let catalog_lag_s = (in_catalog >= registered).then(|| ended.elapsed().as_secs_f64());
    let state_file_bytes = (kind == RegKind::Agent)
        .then(|| state_file(data_dir))
        .flatten();
    Ok(RegRow {
        throughput,
        per_second,
        registered,
        in_catalog,
        catalog_lag_s,
        wall_s: wall,
        agent_cpu_s: server_cpu,
        client_cpu_s: client_cpu,
        state_file_bytes,
        rss_kib: Rss::of(pid).ok().map(|r| r.total_kib),
    })
}

/// The size of the saved services and checks in an agent's data directory.
fn state_file(data_dir: &Path) -> Option<u64> {
    let dir = data_dir.join("local");
    dir.is_dir().then(|| crate::machine::dir_bytes(&dir))
}

/// The health catalog, the query rows with watchers open, and the memory
/// of many open watchers, all on one fresh single server.
async fn queries_and_memory(
    c: &mut Cluster,
    cfg: &Config,
    report: &mut HealthReport,
) -> anyhow::Result<()> {
    start_ready(c).await?;
    let pid = c.members[0].pid().context("the agent is not running")?;
    let addr = c.members[0].client_addr(Side::Praetor);
    let (services, per) = (cfg.health_services, cfg.health_instances);
    ensure!(per >= 2, "--health-instances must be at least 2");
    // The last instance of every service has a critical check, so that
    // `?passing` has something to leave out.
    let mut all = Vec::with_capacity(services * per);
    for i in 0..services {
        for j in 0..per {
            let status = if j + 1 == per { "critical" } else { "passing" };
            all.push(instance(i, j, status));
        }
    }
    let n = all.len() as u64;
    eprintln!("   registering {n} instances");
    let load = health::register_all(&addr, WRITERS, all)
        .await
        .map(|secs| Load { instances: n, secs });
    let load_ok = load.is_ok();
    report.health_load = outcome(load);
    ensure!(load_ok, "the health catalog could not be registered");
    let passing = Api::new(&addr)?.passing_count(&service_name(0)).await?;
    ensure!(
        passing == per - 1,
        "{} answers {passing} passing entries, expected {}",
        service_name(0),
        per - 1
    );

    let watched: Vec<String> = (0..cfg.health_watchers.min(services))
        .map(service_name)
        .collect();
    eprintln!("   opening {} watchers", watched.len());
    let indexes = Watchers::read_indexes(&addr, &watched).await?;
    let sockets0 = stable_sockets(pid).await;
    let watchers = Watchers::open(&addr, watched.clone(), indexes)?;
    if let Err(e) = wait_sockets(pid, sockets0 + watched.len()).await {
        watchers.abort();
        return Err(e);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let d = Duration::from_secs(cfg.duration_secs);
    for &clients in &cfg.health_query_clients {
        eprintln!("   health queries, {clients} clients");
        let (server0, client0, wall0) =
            (cpu_secs(pid), cpu_secs(std::process::id()), Instant::now());
        let op = Op::Health {
            services,
            expect: per - 1,
        };
        let r = health::closed_loop(&addr, clients, d, op)
            .await
            .map(|(throughput, _)| QueryRow {
                throughput,
                wall_s: wall0.elapsed().as_secs_f64(),
                agent_cpu_s: cpu_secs(pid) - server0,
                client_cpu_s: cpu_secs(std::process::id()) - client0,
            });
        eprintln!("   {r:?}");
        report.queries.push(Row {
            label: format!("{clients}"),
            result: outcome(r),
        });
    }
    let returned = watchers.returned();
    // Wake them: the critical instance of each watched service turns passing.
    let wake = watchers
        .wake(&addr, WRITERS, |i| instance(i, per - 1, "passing"))
        .await;
    report.query_watchers = outcome(wake.map(|wake| QueryWatchers {
        returned_during_rows: returned,
        wake,
    }));
    eprintln!("   {:?}", report.query_watchers);

    eprintln!(
        "   memory: {} watchers on the server agent",
        cfg.memory_watchers
    );
    let services_list: Vec<String> = (0..cfg.memory_watchers.min(services))
        .map(service_name)
        .collect();
    // Wake them: the first instance of each turns critical, then passing.
    let r = watcher_memory(
        "server agent (single server)",
        &addr,
        pid,
        &[],
        &addr,
        services_list,
        |round, i| instance(i, 0, if round == 0 { "critical" } else { "passing" }),
    )
    .await;
    eprintln!("   {r:?}");
    report.memory.push(Row {
        label: "server agent (single server)".into(),
        result: outcome(r),
    });
    Ok(())
}

/// How many sockets process `pid` has open once the count holds still for
/// 200 ms (connections just closed by a client take a moment to close on the
/// agent's side too); at most 5 s.
async fn stable_sockets(pid: u32) -> usize {
    let end = Instant::now() + Duration::from_secs(5);
    let mut last = sockets(pid);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = sockets(pid);
        if now == last || Instant::now() >= end {
            return now;
        }
        last = now;
    }
}

/// Waits until process `pid` has at least `want` sockets open.
async fn wait_sockets(pid: u32, want: usize) -> anyhow::Result<()> {
    let end = Instant::now() + OPEN_DEADLINE;
    loop {
        let have = sockets(pid);
        if have >= want {
            return Ok(());
        }
        ensure!(
            Instant::now() < end,
            "the agent has {have} sockets open {OPEN_DEADLINE:?} after the watchers were started; expected at least {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits at least 2 s, then until two RSS samples 500 ms apart differ by
/// less than 256 KiB (at most 20 s); returns the last sample and the wait.
async fn settled_rss(pid: u32) -> anyhow::Result<(Rss, f64)> {
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut last = Rss::of(pid)?;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = Rss::of(pid)?;
        if now.total_kib.abs_diff(last.total_kib) < 256 || t0.elapsed() > Duration::from_secs(20) {
            return Ok((now, t0.elapsed().as_secs_f64()));
        }
        last = now;
    }
}

/// The RSS an agent gains holding one blocking `?passing` health query per
/// service in `services` open, each on its own connection: RSS settled
/// before, settled with them open, and settled after a change to each
/// (`change(round, i)`, written through `write_addr`) has woken them all;
/// then the same a second time, to see whether the memory is reused.
/// `behind` are the servers a client agent forwards the queries to.
async fn watcher_memory(
    label: &str,
    addr: &str,
    pid: u32,
    behind: &[(String, u32)],
    write_addr: &str,
    services: Vec<String>,
    change: impl Fn(usize, usize) -> health::Instance,
) -> anyhow::Result<MemRow> {
    let rss_behind = || -> anyhow::Result<Vec<Rss>> {
        behind
            .iter()
            .map(|(_, p)| Rss::of(*p))
            .collect::<Result<_, _>>()
    };
    let (before, _) = settled_rss(pid).await?;
    let behind_before = rss_behind()?;
    let sockets_before = stable_sockets(pid).await;
    let n = services.len();
    let mut rounds = Vec::new();
    for round in 0..2 {
        let indexes = Watchers::read_indexes(addr, &services).await?;
        let watchers = Watchers::open(addr, services.clone(), indexes)?;
        let opened = async {
            wait_sockets(pid, sockets_before + n).await?;
            let sockets_open = sockets(pid);
            let (open, settle_s) = settled_rss(pid).await?;
            anyhow::Ok((sockets_open, open, settle_s, rss_behind()?))
        }
        .await;
        let (sockets_open, open, settle_s, behind_open) = match opened {
            Ok(x) => x,
            Err(e) => {
                watchers.abort();
                return Err(e);
            }
        };
        let returned_early = watchers.returned();
        let wake = watchers
            .wake(write_addr, WRITERS, |i| change(round, i))
            .await?;
        // The watchers' connections close as their tasks end.
        wait_sockets_below(pid, sockets_before + n / 100 + 1).await?;
        let (after, _) = settled_rss(pid).await?;
        rounds.push((
            sockets_open,
            open,
            settle_s,
            behind_open,
            returned_early,
            wake,
            after,
        ));
    }
    let second = rounds.pop().context("no second round")?;
    let (sockets_open, open, settle_s, behind_open, returned_early, wake, after) =
        rounds.pop().context("no first round")?;
    let others = behind
        .iter()
        .zip(behind_before.iter().zip(&behind_open))
        .map(|((name, _), (b, o))| OtherRss {
            name: name.clone(),
            before_kib: b.total_kib,
            open_kib: o.total_kib,
        })
        .collect();
    Ok(MemRow {
        agent: label.to_owned(),
        watchers: n,
        before,
        open,
        after_wake: after,
        sockets_before,
        sockets_open,
        settle_s,
        returned_early,
        wake,
        others,
        second: SecondRound {
            open: second.1,
            after_wake: second.6,
            returned_early: second.4,
            wake: second.5,
        },
    })
}

/// Waits until process `pid` has fewer than `limit` sockets open.
async fn wait_sockets_below(pid: u32, limit: usize) -> anyhow::Result<()> {
    let end = Instant::now() + OPEN_DEADLINE;
    loop {
        let have = sockets(pid);
        if have < limit {
            return Ok(());
        }
        ensure!(
            Instant::now() < end,
            "the agent still has {have} sockets open {OPEN_DEADLINE:?} after the watchers returned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Propagation and client-agent memory on three servers and two clients.
async fn cluster_rows(
    c: &mut Cluster,
    cfg: &Config,
    report: &mut HealthReport,
) -> anyhow::Result<()> {
    let formed = start_ready(c).await;
    let formed_ok = formed.is_ok();
    report.cluster_formed = outcome(formed);
    ensure!(formed_ok, "the cluster did not form");
    let client = |k: usize| {
        c.members
            .iter()
            .filter(|m| !m.is_server())
            .nth(k)
            .map(|m| (m.name.clone(), m.client_addr(Side::Praetor), m.pid()))
            .context("no such client agent")
    };
    let (a_name, a, _) = client(0)?;
    let (b_name, b, b_pid) = client(1)?;
    report.propagation = outcome(propagation(&a, &b, cfg.flips).await);
    eprintln!(
        "   propagation {a_name} → {b_name}: {:?}",
        report
            .propagation
            .as_ref()
            .map(|p| (p.flips.len(), p.failed.len()))
    );

    let label = format!("client agent ({b_name}, 3 servers behind it)");
    eprintln!("   memory: {} watchers on {b_name}", cfg.memory_watchers);
    let r = async {
        let b_pid = b_pid.context("the client agent is not running")?;
        let server = c
            .members
            .iter()
            .find(|m| m.is_server())
            .context("no server")?
            .client_addr(Side::Praetor);
        let services: Vec<String> = (0..cfg.memory_watchers).map(service_name).collect();
        let all = (0..services.len())
            .map(|i| instance(i, 0, "passing"))
            .collect();
        health::register_all(&server, WRITERS, all).await?;
        let behind: Vec<(String, u32)> = c
            .members
            .iter()
            .filter(|m| m.is_server())
            .filter_map(|m| m.pid().map(|p| (m.name.clone(), p)))
            .collect();
        watcher_memory(&label, &b, b_pid, &behind, &server, services, |round, i| {
            instance(i, 0, if round == 0 { "critical" } else { "passing" })
        })
        .await
    }
    .await;
    eprintln!("   {r:?}");
    report.memory.push(Row {
        label,
        result: outcome(r),
    });
    Ok(())
}

/// Flips a TTL check on client agent `a` `flips` times (fail, pass, fail,
/// …) and times each flip from the `PUT /v1/agent/check/<verb>` being sent
/// to a blocking `/v1/health/service/<name>` query on client agent `b`,
/// opened before the flip, returning with the new status.
async fn propagation(a: &str, b: &str, flips: usize) -> anyhow::Result<Propagation> {
    const SERVICE: &str = "bench-prop";
    const ID: &str = "bench-prop-1";
    let check = format!("{ID}-ttl");
    let (api_a, api_b) = (Api::new(a)?, Api::new(b)?);
    let t0 = Instant::now();
    api_a.register_agent_service(ID, SERVICE).await?;
    wait_status(&api_b, SERVICE, &check, "passing").await?;
    let registered_ms = t0.elapsed().as_secs_f64() * 1000.0;

    let mut out = Propagation {
        registered_ms,
        flips: Vec::new(),
        failed: Vec::new(),
    };
    for n in 0..flips {
        let (verb, want) = if n % 2 == 0 {
            ("fail", "critical")
        } else {
            ("pass", "passing")
        };
        let prev = if want == "critical" {
            "passing"
        } else {
            "critical"
        };
        let (index, entries) = api_b.health(SERVICE, false, None).await?;
        ensure!(
            check_status(&entries, &check) == Some(prev),
            "flip {}: client B shows {:?} before the flip, expected {prev}",
            n + 1,
            check_status(&entries, &check)
        );
        let watcher = {
            let (api, check) = (Api::new(b)?, check.clone());
            tokio::spawn(async move {
                let mut index = index;
                let mut returns = 0u32;
                loop {
                    let (i, entries) = api.health(SERVICE, false, Some(index)).await?;
                    returns += 1;
                    if check_status(&entries, &check) == Some(want) {
                        return anyhow::Ok((Instant::now(), returns));
                    }
                    index = i;
                }
            })
        };
        // Let the query reach the servers and block there.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let sent = Instant::now();
        let put = api_a.mark_check(verb, &check).await;
        let put_ms = sent.elapsed().as_secs_f64() * 1000.0;
        let r = match put {
            Err(e) => Err(e),
            Ok(()) => match tokio::time::timeout(FLIP_DEADLINE, watcher).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Err(anyhow::anyhow!("the watcher task failed: {e}")),
                Err(_) => Err(anyhow::anyhow!(
                    "client B's query did not return with {want} within {FLIP_DEADLINE:?}"
                )),
            },
        };
        match r {
            Ok((at, returns)) => out.flips.push(Flip {
                to: want.to_owned(),
                ms: at.saturating_duration_since(sent).as_secs_f64() * 1000.0,
                put_ms,
                returns,
            }),
            Err(e) => {
                out.failed.push(format!("flip {} to {want}: {e:#}", n + 1));
                // The next flip starts from `want`; wait for B to show it.
                wait_status(&api_b, SERVICE, &check, want)
                    .await
                    .with_context(|| format!("after failed flip {}", n + 1))?;
            }
        }
    }
    Ok(out)
}

/// Waits until `api` shows check `check` of `service` with `status`.
async fn wait_status(api: &Api, service: &str, check: &str, status: &str) -> anyhow::Result<()> {
    let end = Instant::now() + FLIP_DEADLINE;
    loop {
        let seen = match api.health(service, false, None).await {
            Ok((_, entries)) => check_status(&entries, check).map(str::to_owned),
            Err(_) => None,
        };
        if seen.as_deref() == Some(status) {
            return Ok(());
        }
        ensure!(
            Instant::now() < end,
            "{check} is {seen:?}, not {status}, {FLIP_DEADLINE:?} on"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

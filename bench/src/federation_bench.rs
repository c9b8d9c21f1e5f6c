//! The `federation` subcommand (issue 19): two datacenters of praetor
//! servers on loopback, federated over the WAN. Starts dc1 and dc2 (three
//! servers each unless told otherwise), each server on its own address in
//! 127.0.16.0/24 with praetor's default ports, dc2's servers joining dc1's
//! with `-retry-join-wan`; waits until both serve and
//! `/v1/catalog/datacenters` lists both. Then (1) KV reads of dc2 through a
//! dc1 server (`?dc=dc2`) beside the same reads of dc1, closed loops at
//! each client count, default and stale consistency; (2) a prepared query
//! with `Failover { NearestN: 1 }`: dc1's `web` instance is failed and
//! passed again through its TTL check, timing until dc1's DNS answers
//! dc2's address, and dc1's again. Always writes its JSON results,
//! failures recorded as such; stops every server (by PID, SIGTERM then
//! SIGKILL), also on SIGINT or SIGTERM. praetor only. Writes only keys
//! under `bench/` and the service `web` and query `web-fo`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use base64::Engine as _;
use clap::Args;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::cluster::Cluster;
use crate::dns::{lookup_a, AAnswer};
use crate::machine::{load_average, Machine};
use crate::phase::PhaseArgs;
use crate::report::federation::{FederationReport, ReadRow, Trial};
use crate::report::Config;
use crate::stats::{Samples, Throughput};
use crate::target::{Side, CONNECT_TIMEOUT, OP_TIMEOUT};
use crate::workload::VALUE_SIZE;

/// The loopback /24 the federation phase's servers use.
const FED_SUBNET: [u8; 3] = [127, 0, 16];
/// praetor's default ports a server binds: HTTP, RPC, LAN and WAN gossip,
/// DNS (TCP), and LAN and WAN gossip and DNS (UDP).
const TCP_PORTS: [u16; 5] = [8500, 8300, 8301, 8302, 8600];
const UDP_PORTS: [u16; 3] = [8301, 8302, 8600];
/// Bound on each datacenter serving.
const READY_DEADLINE: Duration = Duration::from_secs(90);
/// Bound on both datacenters listing each other.
const FEDERATE_DEADLINE: Duration = Duration::from_secs(60);
/// Bound on one request made outside the measured loops.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on a state the failover trials wait for before the first trial
/// (the instances in the catalog, the query answering dc1).
const SETUP_DEADLINE: Duration = Duration::from_secs(30);
/// Bound on one DNS query.
const DNS_TIMEOUT: Duration = Duration::from_secs(1);
/// The prepared query's name.
const QUERY: &str = "web-fo";

#[derive(Args)]
pub struct FederationArgs {
    #[command(flatten)]
    phase: PhaseArgs,
    #[command(flatten)]
    config: Config,
    /// Servers in each datacenter.
    #[arg(long, default_value_t = 3)]
    fed_servers: usize,
    /// Client counts of the read rows.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16])]
    fed_clients: Vec<usize>,
    /// Keys written in each datacenter; the reads pick among them.
    #[arg(long, default_value_t = 100)]
    fed_keys: usize,
    /// Failover trials (each: dc1 critical, then passing again).
    #[arg(long, default_value_t = 5)]
    fed_trials: usize,
    /// Milliseconds between two DNS queries while waiting for an answer
    /// (the times' resolution).
    #[arg(long, default_value_t = 1)]
    fed_poll_ms: u64,
    /// Bound on one transition (to dc2 or back), in seconds.
    #[arg(long, default_value_t = 20)]
    fed_deadline_secs: u64,
    /// No trial starts after this many seconds of trials.
    #[arg(long, default_value_t = 60)]
    fed_budget_secs: u64,
}

/// Runs the federation phase and writes its results.
///
/// # Errors
/// When the results cannot be written, or the phase was interrupted.
pub async fn run(args: FederationArgs) -> anyhow::Result<()> {
    let report = FederationReport::new(
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

/// `n` addresses in [`FED_SUBNET`] (.2 to .250) on which every port a
/// server uses can be bound right now.
fn free_ips(n: usize) -> anyhow::Result<Vec<Ipv4Addr>> {
    let mut ips = Vec::new();
    for x in 2..=250u8 {
        let ip = Ipv4Addr::new(FED_SUBNET[0], FED_SUBNET[1], FED_SUBNET[2], x);
        let free = TCP_PORTS
            .iter()
            .all(|&p| TcpListener::bind((ip, p)).is_ok())
            && UDP_PORTS.iter().all(|&p| UdpSocket::bind((ip, p)).is_ok());
        if free {
            ips.push(ip);
            if ips.len() == n {
                return Ok(ips);
            }
        }
    }
    bail!(
        "only {} of the {n} loopback addresses needed are free in 127.0.16.0/24",
        ips.len()
    )
}

/// The key of index `i`.
fn key(i: usize) -> String {
    format!("bench/fed/k{i:03}")
}

/// The value datacenter `dc` holds at key `i`: names both, padded to
/// [`VALUE_SIZE`] bytes.
fn value(dc: &str, i: usize) -> Vec<u8> {
    let mut v = format!("{dc}-k{i:03}-").into_bytes();
    v.extend((v.len()..VALUE_SIZE).map(|j| b'a' + (j % 26) as u8));
    v
}

/// An HTTP client with one keep-alive connection per server.
fn http() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(OP_TIMEOUT)
        .build()
        .context("building the HTTP client")
}

/// `method url` with `body`: the body of a `2xx` answer.
async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<String>,
) -> anyhow::Result<String> {
    let mut req = http.request(method.clone(), url).timeout(REQUEST_TIMEOUT);
    if let Some(b) = body {
        req = req.body(b);
    }
    let resp = req
        .send()
        .await
        .with_context(|| format!("{method} {url}"))?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    ensure!(status.is_success(), "{method} {url}: {status} {text}");
    Ok(text)
}

/// A datacenter's servers as [`Cluster::praetor`] makes them, in
/// datacenter `dc`, with DNS on its default port and a WAN retry every
/// second, each joining `wan_join` over the WAN.
fn datacenter(args: &FederationArgs, dc: &str, ips: &[Ipv4Addr], wan_join: &[Ipv4Addr]) -> Cluster {
    let logs = args.phase.logs.join(dc);
    if let Err(e) = std::fs::create_dir_all(&logs) {
        eprintln!("creating {}: {e}", logs.display());
    }
    let mut c = Cluster::praetor(
        &args.phase.praetor_bin,
        ips,
        &args.phase.work.join(dc),
        &logs,
        &args.phase.pidfile,
    );
    c.set_flag(&format!("-datacenter={dc}"));
    c.set_flag("-dns-port=8600");
    c.set_flag("-retry-interval-wan=1s");
    for ip in wan_join {
        c.push_flag(&format!("-retry-join-wan={ip}"));
    }
    c
}

async fn measure(args: &FederationArgs, report: &mut FederationReport) -> anyhow::Result<()> {
    let n = args.fed_servers;
    ensure!(n >= 1, "--fed-servers must be at least 1");
    ensure!(args.fed_keys >= 1, "--fed-keys must be at least 1");
    ensure!(
        !args.fed_clients.is_empty() && args.fed_clients.iter().all(|&c| c >= 1),
        "--fed-clients must list client counts of at least 1"
    );
    let work = &args.phase.work;
    for dir in [work, &args.phase.logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    report.servers_per_dc = n;
    report.keys = args.fed_keys;
    report.read_secs = args.config.duration_secs;
    report.poll_ms = args.fed_poll_ms;
    report.deadline_secs = args.fed_deadline_secs;
    report.budget_secs = args.fed_budget_secs;
    report.trials_asked = args.fed_trials;
    report.load_before = load_average();
    report.machine = Some(Machine::read(work));
    let show = |s: String| s.replace(&work.display().to_string(), "$TMP");

    let ips = free_ips(2 * n)?;
    let (ips1, ips2) = ips.split_at(n);
    report.dc1_ips = ips1.iter().map(ToString::to_string).collect();
    report.dc2_ips = ips2.iter().map(ToString::to_string).collect();
    let mut dc1 = datacenter(args, "dc1", ips1, &[]);
    let mut dc2 = datacenter(args, "dc2", ips2, ips1);
    report.dc1_cmd = show(dc1.command_line(0));
    report.dc2_cmd = show(dc2.command_line(0));

    let r = measure_on(args, report, &mut dc1, &mut dc2).await;
    for (who, c) in [("dc2 server", &mut dc2), ("dc1 server", &mut dc1)] {
        report.stopped.extend(c.stop_and_report(who).await);
    }
    report.load_after = load_average();
    r
}

async fn measure_on(
    args: &FederationArgs,
    report: &mut FederationReport,
    dc1: &mut Cluster,
    dc2: &mut Cluster,
) -> anyhow::Result<()> {
    let n = args.fed_servers;
    eprintln!("== federation: starting dc1 and dc2, {n} servers each, on 127.0.16.x");
    let t0 = Instant::now();
    dc1.start_all()?;
    dc2.start_all()?;
    let leader1 = dc1.wait_ready(READY_DEADLINE).await.context("dc1")?;
    dc2.wait_ready(READY_DEADLINE).await.context("dc2")?;
    report.ready_secs = Some(t0.elapsed().as_secs_f64());
    let http = http()?;
    let base =
        |c: &Cluster, i: usize| format!("http://{}", c.members[i].client_addr(Side::Praetor));
    let (s1, s2) = (base(dc1, 0), base(dc2, 0));
    let want = ["dc1", "dc2"];
    let ready = Instant::now();
    loop {
        let seen1: Vec<String> = call(
            &http,
            reqwest::Method::GET,
            &format!("{s1}/v1/catalog/datacenters"),
            None,
        )
        .await
        .ok()
        .and_then(|b| serde_json::from_str(&b).ok())
        .unwrap_or_default();
        let seen2: Vec<String> = call(
            &http,
            reqwest::Method::GET,
            &format!("{s2}/v1/catalog/datacenters"),
            None,
        )
        .await
        .ok()
        .and_then(|b| serde_json::from_str(&b).ok())
        .unwrap_or_default();
        let both = |seen: &[String]| want.iter().all(|d| seen.iter().any(|s| s == d));
        if both(&seen1) && both(&seen2) {
            report.datacenters = seen1;
            break;
        }
        ensure!(
            ready.elapsed() < FEDERATE_DEADLINE,
            "the datacenters did not list each other in time: dc1 lists {seen1:?}, dc2 lists {seen2:?}"
        );
        let exited: Vec<String> = dc1.exited().into_iter().chain(dc2.exited()).collect();
        ensure!(exited.is_empty(), "servers exited: {}", exited.join(", "));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    report.federated_secs = Some(t0.elapsed().as_secs_f64());
    eprintln!(
        "   federated after {:.1} s: dc1 lists {:?}",
        t0.elapsed().as_secs_f64(),
        report.datacenters
    );

    eprintln!(
        "== federation: writing {} keys in each datacenter",
        args.fed_keys
    );
    for (dc, b) in [("dc1", &s1), ("dc2", &s2)] {
        for i in 0..args.fed_keys {
            let v = String::from_utf8(value(dc, i)).context("a value is ASCII")?;
            let ok = call(
                &http,
                reqwest::Method::PUT,
                &format!("{b}/v1/kv/{}", key(i)),
                Some(v),
            )
            .await?;
            ensure!(ok.trim() == "true", "put {} in {dc}: {ok}", key(i));
        }
    }

    // Reads go through a dc1 follower when there is one: most requests of a
    // datacenter reach a server that is not its leader.
    let via_idx = (0..n).find(|&i| i != leader1).unwrap_or(leader1);
    let via = base(dc1, via_idx);
    report.via = dc1.members[via_idx].client_addr(Side::Praetor);
    report.via_role = if via_idx == leader1 {
        "dc1's leader, its only server".into()
    } else {
        "a follower of dc1's leader".into()
    };
    report.reads_load_before = load_average();
    let d = Duration::from_secs(args.config.duration_secs);
    let mut row = 0usize;
    for stale in [false, true] {
        for &clients in &args.fed_clients {
            let consistency = if stale { "stale" } else { "default" };
            let cross_first = row % 2 == 1;
            row += 1;
            let mut local = Err("not run".to_owned());
            let mut cross = Err("not run".to_owned());
            for is_cross in [cross_first, !cross_first] {
                let dc = if is_cross { Some("dc2") } else { None };
                eprintln!(
                    "== federation: {consistency} reads, {clients} clients, {}",
                    if is_cross {
                        "cross-DC (?dc=dc2)"
                    } else {
                        "local"
                    }
                );
                let r = read_loop(&via, dc, stale, args.fed_keys, clients, d)
                    .await
                    .map_err(|e| format!("{e:#}"));
                if let Ok(t) = &r {
                    eprintln!(
                        "   {:.0} ops/s, p50 {:.2} ms, p99 {:.2} ms, {} errors",
                        t.ops_per_sec, t.p50_ms, t.p99_ms, t.errors
                    );
                }
                if is_cross {
                    cross = r;
                } else {
                    local = r;
                }
            }
            report.reads.push(ReadRow {
                consistency: consistency.into(),
                clients,
                local,
                cross,
                cross_first,
            });
        }
    }
    report.reads_load_after = load_average();

    failover(args, report, dc1, dc2, &http).await
}

/// `clients` closed-loop readers of the keys through `base` (`?dc=` when
/// `dc`, `?stale` when `stale`) for `duration`, each first checking that
/// its first read returns the asked datacenter's value.
async fn read_loop(
    base: &str,
    dc: Option<&str>,
    stale: bool,
    keys: usize,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Throughput> {
    let query = match (dc, stale) {
        (Some(dc), true) => format!("?dc={dc}&stale"),
        (Some(dc), false) => format!("?dc={dc}"),
        (None, true) => "?stale".to_owned(),
        (None, false) => String::new(),
    };
    let barrier = Arc::new(Barrier::new(clients + 1));
    let mut tasks = JoinSet::new();
    for w in 0..clients {
        let http = http()?;
        let url = {
            let (base, query) = (base.to_owned(), query.clone());
            move |i: usize| format!("{base}/v1/kv/{}{query}", key(i))
        };
        // Warm-up outside the timed window: opens the connection and checks
        // the answer is the asked datacenter's copy.
        let first = w % keys;
        let body = call(&http, reqwest::Method::GET, &url(first), None)
            .await
            .with_context(|| format!("client {w}: warm-up read"))?;
        let want =
            base64::engine::general_purpose::STANDARD.encode(value(dc.unwrap_or("dc1"), first));
        ensure!(
            body.contains(&want),
            "client {w}: {} did not answer {}'s value: {body}",
            url(first),
            dc.unwrap_or("dc1")
        );
        let barrier = barrier.clone();
        tasks.spawn(async move {
            let mut rng = StdRng::seed_from_u64(w as u64);
            let mut samples = Samples::default();
            let mut errors = 0u64;
            barrier.wait().await;
            let end = Instant::now() + duration;
            while Instant::now() < end {
                let u = url(rng.gen_range(0..keys));
                let t0 = Instant::now();
                let ok = match http.get(&u).send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        matches!(resp.bytes().await, Ok(b) if status.is_success() && !b.is_empty())
                    }
                    Err(_) => false,
                };
                if ok {
                    samples.push(t0.elapsed());
                } else {
                    errors += 1;
                }
            }
            (samples, errors)
        });
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut all = Samples::default();
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        let (s, e) = r.context("a reader task panicked")?;
        all.extend(s);
        errors += e;
    }
    Ok(Throughput::new(clients, all, errors, start.elapsed()))
}

/// DNS queries to one server from one socket, counted.
struct Dig {
    socket: tokio::net::UdpSocket,
    id: u16,
    queries: u64,
    timeouts: u64,
}

impl Dig {
    async fn new(server: SocketAddr) -> anyhow::Result<Self> {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .context("binding a UDP socket")?;
        socket
            .connect(server)
            .await
            .context("connecting the UDP socket")?;
        Ok(Self {
            socket,
            id: rand::thread_rng().gen(),
            queries: 0,
            timeouts: 0,
        })
    }

    /// One A query for the prepared query's name.
    async fn ask(&mut self) -> anyhow::Result<AAnswer> {
        self.id = self.id.wrapping_add(1);
        self.queries += 1;
        let r = lookup_a(
            &self.socket,
            self.id,
            &format!("{QUERY}.query.consul"),
            DNS_TIMEOUT,
        )
        .await;
        if r.is_err() {
            self.timeouts += 1;
        }
        r
    }

    /// Asks every `poll` until the answer holds `want` alone, for at most
    /// `within` from `since`: the time from `since`, or `None` (with the
    /// last answer) when it did not.
    async fn until(
        &mut self,
        want: Ipv4Addr,
        since: Instant,
        within: Duration,
        poll: Duration,
    ) -> Result<f64, String> {
        let mut last;
        loop {
            match self.ask().await {
                Ok(a) if a.rcode == 0 && a.addrs == [want] => {
                    return Ok(since.elapsed().as_secs_f64() * 1000.0)
                }
                Ok(a) => last = format!("rcode {} with {:?}", a.rcode, a.addrs),
                Err(e) => last = format!("{e:#}"),
            }
            if since.elapsed() >= within {
                return Err(format!(
                    "DNS did not answer {want} within {within:?}; last: {last}"
                ));
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// Registers `web` on one server agent of each datacenter, creates the
/// prepared query in dc1, and runs the trials.
async fn failover(
    args: &FederationArgs,
    report: &mut FederationReport,
    dc1: &Cluster,
    dc2: &Cluster,
    http: &reqwest::Client,
) -> anyhow::Result<()> {
    // The instance runs on the last server of each datacenter; DNS and the
    // query are asked of dc1's first (the same one when there is one).
    let web_at = args.fed_servers - 1;
    let (web1, web2) = (dc1.members[web_at].ip, dc2.members[web_at].ip);
    let agent1 = format!("http://{}", dc1.members[web_at].client_addr(Side::Praetor));
    let agent2 = format!("http://{}", dc2.members[web_at].client_addr(Side::Praetor));
    let dns_ip = dc1.members[0].ip;
    let s1 = format!("http://{}", dc1.members[0].client_addr(Side::Praetor));
    report.web_dc1 = web1.to_string();
    report.web_dc2 = web2.to_string();
    report.dns_server = dns_ip.to_string();

    eprintln!("== federation: web in each datacenter, prepared query {QUERY} in dc1");
    let web = r#"{"ID":"web","Name":"web","Port":8080,"Check":{"TTL":"10m","Status":"passing"}}"#;
    for agent in [&agent1, &agent2] {
        call(
            http,
            reqwest::Method::PUT,
            &format!("{agent}/v1/agent/service/register"),
            Some(web.into()),
        )
        .await?;
    }
    let s2 = format!("http://{}", dc2.members[0].client_addr(Side::Praetor));
    let started = Instant::now();
    for (dc, b) in [("dc1", &s1), ("dc2", &s2)] {
        loop {
            let got: serde_json::Value = call(
                http,
                reqwest::Method::GET,
                &format!("{b}/v1/health/service/web?passing=1"),
                None,
            )
            .await
            .ok()
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default();
            if got.as_array().is_some_and(|a| a.len() == 1) {
                break;
            }
            ensure!(
                started.elapsed() < SETUP_DEADLINE,
                "web is not passing in {dc}'s catalog after {SETUP_DEADLINE:?}: {got}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let def = format!(
        r#"{{"Name":"{QUERY}","Service":{{"Service":"web","Failover":{{"NearestN":1}}}}}}"#
    );
    report.query_def = def.clone();
    call(
        http,
        reqwest::Method::POST,
        &format!("{s1}/v1/query"),
        Some(def),
    )
    .await?;
    let mut dig = Dig::new(SocketAddr::from((dns_ip, 8600))).await?;
    dig.until(
        web1,
        Instant::now(),
        SETUP_DEADLINE,
        Duration::from_millis(50),
    )
    .await
    .map_err(|e| anyhow::anyhow!("before the trials: {e}"))?;

    let poll = Duration::from_millis(args.fed_poll_ms.max(1));
    let within = Duration::from_secs(args.fed_deadline_secs);
    let budget = Duration::from_secs(args.fed_budget_secs);
    let check = |what: &str| format!("{agent1}/v1/agent/check/{what}/service:web");
    report.failover_load_before = load_average();
    let trials_started = Instant::now();
    for t in 0..args.fed_trials {
        if trials_started.elapsed() >= budget {
            break;
        }
        eprintln!("== federation: failover trial {}", t + 1);
        let (q0, to0) = (dig.queries, dig.timeouts);
        let mut trial = Trial::default();
        let mut notes = Vec::new();
        let t0 = Instant::now();
        match call(
            http,
            reqwest::Method::PUT,
            &(check("fail") + "?note=bench"),
            Some(String::new()),
        )
        .await
        {
            Ok(_) => {
                trial.fail_put_ms = Some(t0.elapsed().as_secs_f64() * 1000.0);
                match dig.until(web2, t0, within, poll).await {
                    Ok(ms) => trial.to_dc2_ms = Some(ms),
                    Err(e) => notes.push(format!("failover: {e}")),
                }
            }
            Err(e) => notes.push(format!("failing the check: {e:#}")),
        }
        // Always pass the check again, so that the next trial starts from dc1.
        let t1 = Instant::now();
        let back = match call(
            http,
            reqwest::Method::PUT,
            &check("pass"),
            Some(String::new()),
        )
        .await
        {
            Ok(_) => {
                trial.pass_put_ms = Some(t1.elapsed().as_secs_f64() * 1000.0);
                dig.until(web1, t1, within, poll).await
            }
            Err(e) => Err(format!("passing the check: {e:#}")),
        };
        let back_failed = back.is_err();
        match back {
            Ok(ms) => trial.back_ms = Some(ms),
            Err(e) => notes.push(format!("back: {e}")),
        }
        trial.dns_queries = dig.queries - q0;
        trial.dns_timeouts = dig.timeouts - to0;
        if !notes.is_empty() {
            trial.note = Some(notes.join("; "));
        }
        eprintln!(
            "   to dc2 {:?} ms, back {:?} ms",
            trial.to_dc2_ms.map(|v| v.round()),
            trial.back_ms.map(|v| v.round())
        );
        report.trials.push(trial);
        // A trial that could not come back leaves no dc1 to fail over from.
        ensure!(
            !back_failed,
            "the query did not answer dc1's address again; trials stopped"
        );
    }
    report.failover_load_after = load_average();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_the_value_size_and_name_their_datacenter_and_key() {
        let v = value("dc2", 7);
        assert_eq!(v.len(), VALUE_SIZE);
        assert!(v.starts_with(b"dc2-k007-"));
        assert_ne!(value("dc1", 7), v);
        assert_eq!(key(7), "bench/fed/k007");
    }
}

//! The `acl` subcommand: what ACL enforcement costs. Starts two durable
//! single-server praetors, each on its own loopback address in
//! 127.0.13.0/24 with praetor's default ports (away from testkit's
//! 127.0.0.x and the other phases' 127.0.10–12.x): **off**, without ACLs,
//! and **on**, with `default_policy = "deny"`, an initial management token,
//! and an application token whose policy has a handful of prefix rules.
//! Then durable puts and default-consistency gets, closed loop, on both,
//! interleaved round by round so the machine's drift falls on both sides;
//! the on server's clients send the application token. Always writes its
//! JSON results, failures recorded as such; stops both servers (by PID,
//! SIGTERM then SIGKILL), also on SIGINT or SIGTERM. praetor only. Writes
//! only keys under `bench/`; the ACL objects it creates are named `bench-…`.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use clap::Args;
use rand::RngCore as _;
use serde::Deserialize;
use serde_json::json;

use crate::cluster::{self, Cluster};
use crate::machine::{cpu_secs, load_average, Machine};
use crate::phase::PhaseArgs;
use crate::praetor;
use crate::report::acl::{AclReport, AclRow, SideResult};
use crate::report::Config;
use crate::runner::outcome;
use crate::stats::{Samples, Throughput};
use crate::target::{Read, Side, Target, CONNECT_TIMEOUT, OP_TIMEOUT};
use crate::workload::{self, Op};

/// The loopback /24 the acl phase's servers use.
const ACL_SUBNET: [u8; 3] = [127, 0, 13];
/// Bound on a server becoming ready (a leader, and a put with its token).
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// Bound on loading the keys on one server.
const LOAD_DEADLINE: Duration = Duration::from_secs(300);
/// Concurrent clients loading the keys.
const LOAD_CLIENTS: usize = 16;
/// Pause after each run, so that the next starts on a server at rest.
const SETTLE: Duration = Duration::from_millis(500);

/// The application token's policy: one rule covers the keys the workload
/// uses (`bench/`), the others are there to be looked past.
const RULES: &str = r#"key_prefix "bench/" { policy = "write" }
key_prefix "config/app/" { policy = "read" }
key_prefix "config/shared/" { policy = "read" }
key_prefix "secret/" { policy = "deny" }
service_prefix "web" { policy = "read" }
service_prefix "api" { policy = "write" }
node_prefix "" { policy = "read" }
"#;

#[derive(Args)]
pub struct AclArgs {
    #[command(flatten)]
    phase: PhaseArgs,
    #[command(flatten)]
    config: Config,
    /// Concurrent clients for the ACL phase's put and get rows.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16])]
    acl_clients: Vec<usize>,
    /// Rounds of the ACL phase: each row runs once per round on each server.
    #[arg(long, default_value_t = 2)]
    acl_rounds: usize,
    /// Keys loaded on each server of the ACL phase; its get rows read among them.
    #[arg(long, default_value_t = 10_000)]
    acl_keys: u64,
}

/// Runs the acl phase and writes its results.
///
/// # Errors
/// When the results cannot be written, or the phase was interrupted.
pub async fn run(args: AclArgs) -> anyhow::Result<()> {
    let report = AclReport::new(
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

/// One of the two servers.
struct Server {
    name: &'static str,
    agent: Cluster,
    /// Its address and PID, and the token its workload sends.
    target: Target,
}

async fn measure(args: &AclArgs, report: &mut AclReport) -> anyhow::Result<()> {
    ensure!(args.acl_rounds >= 1, "--acl-rounds must be at least 1");
    ensure!(args.acl_keys >= 1, "--acl-keys must be at least 1");
    let work = &args.phase.work;
    for dir in [work, &args.phase.logs] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    report.clients = args.acl_clients.clone();
    report.rounds = args.acl_rounds;
    report.keys = args.acl_keys;
    report.rules = RULES.to_owned();
    report.load_before = load_average();
    let show = |s: String| s.replace(&work.display().to_string(), "$TMP");

    let ips = cluster::free_ips_in(ACL_SUBNET, 2)?;
    let management = uuid();
    let acl_hcl = format!(
        "acl {{\n  enabled        = true\n  default_policy = \"deny\"\n  tokens {{\n    \
         initial_management = \"{management}\"\n    agent              = \"{management}\"\n  }}\n}}\n"
    );
    report.acl_config = acl_hcl.replace(&management, "<management token>");
    let acl_file = work.join("acl.hcl");
    std::fs::write(&acl_file, &acl_hcl)
        .with_context(|| format!("writing {}", acl_file.display()))?;

    let agent = |name: &str, i: usize| {
        let logs = args.phase.logs.join(name);
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        anyhow::Ok(Cluster::praetor_agents(
            &args.phase.praetor_bin,
            &ips[i..=i],
            &[],
            &work.join(name),
            &logs,
            &args.phase.pidfile,
        ))
    };
    let off = agent("off", 0)?;
    let mut on = agent("on", 1)?;
    on.add_config_file(&acl_file);
    report.off_cmd = show(off.command_line(0));
    report.on_cmd = show(on.command_line(0));
    report.machine = Some(Machine::read(work));

    let mut servers = [
        Server {
            name: "off",
            target: target(&off, None),
            agent: off,
        },
        Server {
            name: "on",
            target: target(&on, None),
            agent: on,
        },
    ];
    let r = measure_on(args, report, &mut servers, &management).await;
    for s in &mut servers {
        let who = format!("{} server", s.name);
        report.stopped.extend(s.agent.stop_and_report(&who).await);
    }
    report.load_after = load_average();
    r
}

/// A workload target of `agent`'s one server, its clients sending `token`.
fn target(agent: &Cluster, token: Option<String>) -> Target {
    let m = &agent.members[0];
    Target::single(
        Side::Praetor,
        m.client_addr(Side::Praetor),
        m.pid().unwrap_or(0),
    )
    .with_token(token)
}

async fn measure_on(
    args: &AclArgs,
    report: &mut AclReport,
    servers: &mut [Server; 2],
    management: &str,
) -> anyhow::Result<()> {
    eprintln!("== acl: starting the off and on servers");
    for s in servers.iter_mut() {
        s.agent.start_all()?;
    }
    let [off, on] = servers;
    off.target = target(&off.agent, None);
    wait_serving(&mut off.agent, None)
        .await
        .context("the off server")?;
    on.target = target(&on.agent, Some(management.to_owned()));
    wait_serving(&mut on.agent, Some(management))
        .await
        .context("the on server")?;

    eprintln!("== acl: the application token");
    let admin = Admin::new(&on.target.addrs[0], management)?;
    let app = admin.app_token().await?;
    on.target = target(&on.agent, Some(app.clone()));
    report.enforcement = check_enforcement(&on.target.addrs[0], &app).await?;
    eprintln!("   {}", report.enforcement.join("; "));

    eprintln!("== acl: loading {} keys on each server", args.acl_keys);
    for (s, slot) in [(&*off, &mut report.load_off), (&*on, &mut report.load_on)] {
        let r = workload::load(&s.target, LOAD_CLIENTS, args.acl_keys, LOAD_DEADLINE)
            .await
            .and_then(|t| {
                ensure!(
                    t.ops == args.acl_keys && t.errors == 0,
                    "{} of {} keys loaded ({} puts failed)",
                    t.ops,
                    args.acl_keys,
                    t.errors
                );
                Ok(t)
            });
        eprintln!("   {}: {r:?}", s.name);
        *slot = outcome(r);
        if let Err(e) = slot {
            bail!("loading the keys on the {} server: {e}", s.name);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let d = Duration::from_secs(args.config.duration_secs);
    let kinds = ["puts", "gets"];
    let rows: Vec<(&str, usize)> = kinds
        .iter()
        .flat_map(|&k| args.acl_clients.iter().map(move |&c| (k, c)))
        .collect();
    // Per row and side: every round's result, and the rounds merged.
    let mut acc: Vec<[Acc; 2]> = rows.iter().map(|_| Default::default()).collect();
    for round in 0..args.acl_rounds {
        let order = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for (row, &(kind, clients)) in rows.iter().enumerate() {
            for side in order {
                let s: &mut Server = if side == 0 { &mut *off } else { &mut *on };
                eprintln!("== acl: round {}, {kind} ×{clients}, {}", round + 1, s.name);
                let op = match kind {
                    "puts" => Op::Put {
                        tag: format!("acl-{}-r{}-c{clients}", s.name, round + 1),
                    },
                    _ => Op::Get {
                        keys: args.acl_keys,
                        read: Read::Default,
                    },
                };
                let pid = s.target.pids[0];
                let cpu0 = cpu_secs(pid);
                let r = workload::closed_loop_samples(&s.target, clients, d, op).await;
                let cpu = cpu_secs(pid) - cpu0;
                acc[row][side].push(clients, r, cpu);
                tokio::time::sleep(SETTLE).await;
                let exited = s.agent.exited();
                ensure!(
                    exited.is_empty(),
                    "the {} server exited: {}",
                    s.name,
                    exited.join(", ")
                );
            }
        }
    }
    report.rows = rows
        .iter()
        .zip(acc)
        .map(|(&(kind, clients), [a, b])| AclRow {
            op: kind.to_owned(),
            clients,
            off: a.finish(clients),
            on: b.finish(clients),
        })
        .collect();
    Ok(())
}

/// One side of one row, round by round.
#[derive(Default)]
struct Acc {
    rounds: Vec<crate::report::Outcome<Throughput>>,
    samples: Samples,
    errors: u64,
    elapsed: Duration,
    cpu_s: f64,
    ok: bool,
}

impl Acc {
    fn push(&mut self, clients: usize, r: anyhow::Result<workload::LoopRun>, cpu_s: f64) {
        let r = r.map(|run| {
            let t = Throughput::new(clients, run.samples.clone(), run.errors, run.elapsed);
            self.samples.extend(run.samples);
            self.errors += run.errors;
            self.elapsed += run.elapsed;
            self.cpu_s += cpu_s;
            self.ok = true;
            t
        });
        eprintln!("   {r:?}");
        self.rounds.push(outcome(r));
    }

    fn finish(self, clients: usize) -> SideResult {
        SideResult {
            merged: self
                .ok
                .then(|| Throughput::new(clients, self.samples, self.errors, self.elapsed)),
            rounds: self.rounds,
            server_cpu_s: self.cpu_s,
        }
    }
}

/// Waits until `agent`'s server has a leader and takes a put under `bench/`
/// with `token`. Returns the seconds taken.
async fn wait_serving(agent: &mut Cluster, token: Option<&str>) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    let end = t0 + READY_DEADLINE;
    let addr = agent.members[0].client_addr(Side::Praetor);
    let pid = agent.members[0].pid().context("not running")?;
    let t = Target::single(Side::Praetor, addr.clone(), pid).with_token(token.map(str::to_owned));
    let value = workload::value();
    for attempt in 0u64.. {
        let exited = agent.exited();
        ensure!(
            exited.is_empty(),
            "{} exited during startup",
            exited.join(", ")
        );
        let r = async {
            let leader = praetor::status_leader(&addr).await?;
            ensure!(!leader.is_empty(), "no leader yet");
            t.connect(0)
                .await?
                .put_within(
                    &format!("bench/ready/{attempt}"),
                    &value,
                    Duration::from_secs(2),
                )
                .await
        }
        .await;
        match r {
            Ok(()) => return Ok(t0.elapsed().as_secs_f64()),
            Err(e) if Instant::now() >= end => {
                bail!("not ready after {READY_DEADLINE:?}: {e:#}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    bail!("no attempt left")
}

/// A random version-4 UUID, as Consul's SecretIDs are.
fn uuid() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn http() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(OP_TIMEOUT)
        .build()
        .context("building the HTTP client")
}

/// The ACL API, as the management token.
struct Admin {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Admin {
    fn new(addr: &str, token: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: http()?,
            base: format!("http://{addr}"),
            token: token.to_owned(),
        })
    }

    async fn put(&self, path: &str, body: serde_json::Value) -> anyhow::Result<serde_json::Value> {
        let resp = self
            .http
            .put(format!("{}{path}", self.base))
            .header("X-Consul-Token", &self.token)
            .json(&body)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        ensure!(status.is_success(), "PUT {path}: {status} {text:?}");
        serde_json::from_str(&text).with_context(|| format!("PUT {path}: not JSON: {text:?}"))
    }

    /// Creates the `bench-app` policy ([`RULES`]) and a token with it;
    /// returns the token's SecretID.
    async fn app_token(&self) -> anyhow::Result<String> {
        #[derive(Deserialize)]
        struct Created {
            #[serde(rename = "ID")]
            id: String,
        }
        #[derive(Deserialize)]
        struct Token {
            #[serde(rename = "SecretID")]
            secret_id: String,
        }
        let policy: Created = serde_json::from_value(
            self.put(
                "/v1/acl/policy",
                json!({
                    "Name": "bench-app",
                    "Description": "praetor-bench acl phase: the application's rules",
                    "Rules": RULES,
                }),
            )
            .await?,
        )
        .context("reading the created policy")?;
        let token: Token = serde_json::from_value(
            self.put(
                "/v1/acl/token",
                json!({
                    "Description": "praetor-bench acl phase: the application",
                    "Policies": [{ "ID": policy.id }],
                }),
            )
            .await?,
        )
        .context("reading the created token")?;
        Ok(token.secret_id)
    }
}

/// Shows that the server enforces: the application token writes under
/// `bench/` and is refused under `secret/`; no token is refused under
/// `bench/`. Returns what was seen, one line a check.
async fn check_enforcement(addr: &str, app: &str) -> anyhow::Result<Vec<String>> {
    let http = http()?;
    let mut seen = Vec::new();
    for (token, key, want, who) in [
        (
            Some(app),
            "bench/acl-check",
            200u16,
            "the application token",
        ),
        (Some(app), "secret/acl-check", 403, "the application token"),
        (None, "bench/acl-check", 403, "no token"),
    ] {
        let mut req = http
            .put(format!("http://{addr}/v1/kv/{key}"))
            .body("x".to_owned());
        if let Some(t) = token {
            req = req.header("X-Consul-Token", t);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        let text = text.trim();
        ensure!(
            status == want,
            "{who} putting {key}: {status} {text:?}, expected {want}"
        );
        seen.push(format!("{who} putting `{key}`: {status} `{text}`"));
    }
    Ok(seen)
}

//! `praetor agent`: loads the configuration, starts the agent, and serves
//! until SIGINT or SIGTERM; SIGHUP reloads the configuration (log level and
//! limits). Flags use Consul's names.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use praetor_agent::config::{self, Flags};
use praetor_agent::logs::{self, LogSettings, Logging};
use tokio_util::sync::CancellationToken;

/// Flags of `praetor agent`, as Consul's.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AgentArgs {
    /// Development mode: an in-memory single server with the UI, on loopback.
    #[arg(long)]
    pub dev: bool,
    /// Run as a server (holds Raft state).
    #[arg(long)]
    pub server: bool,
    /// Number of servers to wait for before bootstrapping Raft.
    #[arg(long = "bootstrap-expect", value_name = "N")]
    pub bootstrap_expect: Option<u32>,
    /// Directory for durable state.
    #[arg(long = "data-dir", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A config file (JSON or HCL); repeatable, loaded in order.
    #[arg(long = "config-file", value_name = "FILE")]
    pub config_file: Vec<PathBuf>,
    /// A directory of *.json and *.hcl config files; repeatable.
    #[arg(long = "config-dir", value_name = "DIR")]
    pub config_dir: Vec<PathBuf>,
    /// Node name (default: the host name).
    #[arg(long)]
    pub node: Option<String>,
    /// Datacenter (default: dc1).
    #[arg(long)]
    pub datacenter: Option<String>,
    /// Address for cluster communication.
    #[arg(long)]
    pub bind: Option<String>,
    /// Address advertised to other nodes.
    #[arg(long)]
    pub advertise: Option<String>,
    /// Address(es) the HTTP and DNS interfaces listen on (space-separated).
    #[arg(long)]
    pub client: Option<String>,
    /// HTTP API port (-1 disables).
    #[arg(long = "http-port", allow_hyphen_values = true)]
    pub http_port: Option<i32>,
    /// DNS port (-1 disables).
    #[arg(long = "dns-port", allow_hyphen_values = true)]
    pub dns_port: Option<i32>,
    /// DNS domain to answer for (default consul).
    #[arg(long)]
    pub domain: Option<String>,
    /// A second DNS domain to answer for.
    #[arg(long = "alt-domain")]
    pub alt_domain: Option<String>,
    /// Upstream DNS server for other names (IP[:port]); repeatable.
    #[arg(long)]
    pub recursor: Vec<String>,
    /// Server RPC port.
    #[arg(long = "server-port", allow_hyphen_values = true)]
    pub server_port: Option<i32>,
    /// LAN gossip port.
    #[arg(long = "serf-lan-port", allow_hyphen_values = true)]
    pub serf_lan_port: Option<i32>,
    /// WAN gossip port (servers).
    #[arg(long = "serf-wan-port", allow_hyphen_values = true)]
    pub serf_wan_port: Option<i32>,
    /// Address advertised to the servers of other datacenters.
    #[arg(long = "advertise-wan")]
    pub advertise_wan: Option<String>,
    /// A server of another datacenter to join over the WAN at start; repeatable.
    #[arg(long = "join-wan")]
    pub join_wan: Vec<String>,
    /// A server of another datacenter to join over the WAN, retried until it works; repeatable.
    #[arg(long = "retry-join-wan")]
    pub retry_join_wan: Vec<String>,
    /// Time between WAN join attempts (e.g. 30s).
    #[arg(long = "retry-interval-wan")]
    pub retry_interval_wan: Option<String>,
    /// How many WAN join attempts before giving up (0: no limit).
    #[arg(long = "retry-max-wan")]
    pub retry_max_wan: Option<u32>,
    /// trace, debug, info, warn or error.
    #[arg(long = "log-level")]
    pub log_level: Option<String>,
    /// Serve the web UI.
    #[arg(long)]
    pub ui: bool,
    /// An address to join at start and retry until it works; repeatable.
    #[arg(long = "retry-join")]
    pub retry_join: Vec<String>,
    /// Time between join attempts (e.g. 30s).
    #[arg(long = "retry-interval")]
    pub retry_interval: Option<String>,
    /// An address to join at start; repeatable.
    #[arg(long)]
    pub join: Vec<String>,
    /// How many join attempts before giving up (0: no limit).
    #[arg(long = "retry-max")]
    pub retry_max: Option<u32>,
    /// Rejoin the cluster after a graceful leave.
    #[arg(long)]
    pub rejoin: bool,
    /// Gossip encryption key: base64 of 16, 24 or 32 bytes (`praetor keygen`).
    #[arg(long)]
    pub encrypt: Option<String>,
    /// Also log to this file (a path ending in / is a directory for praetor.log).
    #[arg(long = "log-file", value_name = "PATH")]
    pub log_file: Option<String>,
    /// Rotate the log file after this many bytes (0: no size limit).
    #[arg(long = "log-rotate-bytes", value_name = "N")]
    pub log_rotate_bytes: Option<u64>,
    /// Rotate the log file after this long (default 24h).
    #[arg(long = "log-rotate-duration", value_name = "DURATION")]
    pub log_rotate_duration: Option<String>,
    /// Rotated log files to keep (0: all, -1: none).
    #[arg(
        long = "log-rotate-max-files",
        value_name = "N",
        allow_hyphen_values = true
    )]
    pub log_rotate_max_files: Option<i64>,
    /// Log in JSON.
    #[arg(long = "log-json")]
    pub log_json: bool,
    /// Also log to the local syslog.
    #[arg(long)]
    pub syslog: bool,
}

impl AgentArgs {
    fn flags(&self) -> Flags {
        Flags {
            dev: self.dev,
            server: self.server.then_some(true),
            bootstrap_expect: self.bootstrap_expect,
            data_dir: self.data_dir.clone(),
            config_files: self.config_file.clone(),
            config_dirs: self.config_dir.clone(),
            node: self.node.clone(),
            datacenter: self.datacenter.clone(),
            bind: self.bind.clone(),
            advertise: self.advertise.clone(),
            client: self.client.clone(),
            http_port: self.http_port,
            dns_port: self.dns_port,
            server_port: self.server_port,
            serf_lan_port: self.serf_lan_port,
            serf_wan_port: self.serf_wan_port,
            advertise_wan: self.advertise_wan.clone(),
            join_wan: self.join_wan.clone(),
            retry_join_wan: self.retry_join_wan.clone(),
            retry_interval_wan: self.retry_interval_wan.clone(),
            retry_max_wan: self.retry_max_wan,
            log_level: self.log_level.clone(),
            ui: self.ui,
            retry_join: self.retry_join.clone(),
            retry_interval: self.retry_interval.clone(),
            join: self.join.clone(),
            retry_max: self.retry_max,
            rejoin: self.rejoin,
            domain: self.domain.clone(),
            alt_domain: self.alt_domain.clone(),
            recursors: self.recursor.clone(),
            encrypt: self.encrypt.clone(),
            log_file: self.log_file.clone(),
            log_rotate_bytes: self.log_rotate_bytes,
            log_rotate_duration: self.log_rotate_duration.clone(),
            log_rotate_max_files: self.log_rotate_max_files,
            log_json: self.log_json,
            syslog: self.syslog,
        }
    }
}

/// Runs the agent until a stop signal. Runs on its own runtime thread, so it
/// can be called from inside or outside an async context.
///
/// # Errors
/// A bad configuration, or an agent that cannot start.
pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("praetor-agent".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the runtime")?;
            rt.block_on(serve(args))
        })
        .context("starting the agent thread")?
        .join()
        .map_err(|_| anyhow::anyhow!("the agent thread panicked"))?
}

async fn serve(args: AgentArgs) -> anyhow::Result<()> {
    let flags = args.flags();
    let loaded = config::load(&flags)?;
    let logging = logs::install(&LogSettings::from_config(&loaded.config)?)?;
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let cfg = loaded.config;
    tracing::info!(
        version = praetor_api::VERSION,
        node = %cfg.node_name,
        datacenter = %cfg.datacenter,
        server = cfg.server,
        dev = cfg.dev,
        data_dir = %cfg.data_dir.as_deref().map(|d| d.display().to_string()).unwrap_or_default(),
        "starting Praetor agent"
    );
    let (cfg_server, leave_on_terminate) = (cfg.server, cfg.leave_on_terminate);
    let stop = CancellationToken::new();
    // Handlers first: the HTTP API answers before `start` returns, and a
    // signal sent as soon as it does must not find the default action.
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut hup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let agent = praetor_agent::start(cfg, stop.clone()).await?;
    let mut reloads = agent.reload_requests();
    // As Consul's defaults: a client agent leaves gracefully on SIGINT and
    // SIGTERM, a server does not (unless leave_on_terminate is set), so a
    // restarting server is not removed from Raft.
    let leave_on_signal = !cfg_server || leave_on_terminate;
    let left = agent.left();
    let failed = agent.failed();
    let leave = loop {
        tokio::select! {
            () = left.cancelled() => { tracing::info!("left the cluster; shutting down"); break false; }
            () = failed.cancelled() => {
                let why = agent.failure().unwrap_or_default();
                tracing::error!(error = %why, "the server's raft storage failed; shutting down");
                agent.shutdown(Duration::from_secs(10), false).await;
                anyhow::bail!("the server stopped on a fatal raft error: {why}");
            }
            _ = int.recv() => { tracing::info!("caught SIGINT; shutting down"); break leave_on_signal; }
            _ = term.recv() => { tracing::info!("caught SIGTERM; shutting down"); break leave_on_signal; }
            _ = hup.recv() => {
                let _ = reload(&flags, &agent, &logging, "caught SIGHUP");
            }
            Some(done) = recv_reload(&mut reloads) => {
                let _ = done.send(reload(&flags, &agent, &logging, "reload requested"));
            }
        }
    };
    agent.shutdown(Duration::from_secs(10), leave).await;
    Ok(())
}

/// The next reload asked for through the API (never, without a receiver).
async fn recv_reload(
    reloads: &mut Option<tokio::sync::mpsc::Receiver<praetor_agent::http::ReloadRequest>>,
) -> Option<praetor_agent::http::ReloadRequest> {
    match reloads {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Loads the config files again and applies them (SIGHUP, `praetor
/// reload`): the log level, then the agent's reloadable settings. Logs
/// how it went; the error says why nothing (or only the log level) changed.
fn reload(
    flags: &Flags,
    agent: &praetor_agent::Agent,
    logging: &Logging,
    why: &str,
) -> Result<(), String> {
    let reloaded = match config::load(flags) {
        Ok(reloaded) => reloaded,
        Err(e) => {
            tracing::error!(error = %e, "{why}; the new configuration is invalid and was not applied");
            return Err(e.to_string());
        }
    };
    for w in &reloaded.warnings {
        tracing::warn!("{w}");
    }
    let level = reloaded.config.log_level.clone();
    match logs::parse_level(&level) {
        Some(l) => logging.set_level(l),
        None => tracing::warn!(log_level = %level, "could not change the log level"),
    }
    match agent.reload(reloaded.config) {
        Ok(()) => {
            tracing::info!(log_level = %level, "{why}; configuration reloaded");
            Ok(())
        }
        Err(e) => {
            tracing::error!(error = %e, "{why}; the new configuration could not be applied, the previous one stays in use");
            Err(e.to_string())
        }
    }
}

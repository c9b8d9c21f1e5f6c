//! The agent's effective configuration: defaults, then config files in order,
//! then flags. Everything downstream reads this and nothing else.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// A port setting: `None` means disabled (`-1` in Consul's config).
pub type Port = Option<u16>;

/// Consul's `ports` block.
#[derive(Debug, Clone, PartialEq)]
pub struct Ports {
    pub http: Port,
    pub https: Port,
    pub dns: Port,
    pub server: Port,
    pub serf_lan: Port,
    pub serf_wan: Port,
    pub grpc: Port,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            http: Some(8500),
            https: None,
            dns: Some(8600),
            server: Some(8300),
            serf_lan: Some(8301),
            serf_wan: Some(8302),
            grpc: None,
        }
    }
}

/// Consul's `limits` block (the parts Praetor enforces), plus Praetor's own
/// bounds on the HTTP listener. All of it is re-read on SIGHUP.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Largest KV value accepted, in bytes (`limits.kv_max_value_size`; 512 KiB).
    pub kv_max_value_size: u64,
    /// Largest `/v1/txn` body, in bytes (`limits.txn_max_req_len`; 512 KiB).
    pub txn_max_req_len: u64,
    /// Most HTTP connections one client IP may hold open; 0 is no limit
    /// (`limits.http_max_conns_per_client`; 200). One more is answered
    /// `429 Too Many Requests` and closed, as Consul does.
    pub http_max_conns_per_client: u32,
    /// Most HTTP connections open at once, over every client and listener
    /// (Praetor's `limits.http_max_conns`). `None`: three quarters of the
    /// process's open-file limit, at most 65 536. At the cap the listener
    /// stops accepting until a connection closes.
    pub http_max_conns: Option<u32>,
    /// How long a client may take to send a request head, counted from the
    /// connection's start or from the first byte of a later request; zero
    /// is no limit (Praetor's `limits.http_header_read_timeout`; 10s, as
    /// Go's `ReadHeaderTimeout` is commonly set).
    pub http_header_read_timeout: Duration,
    /// How long a keep-alive connection may wait for its next request; a
    /// request in flight (a blocking query) is never idle; zero is no limit
    /// (Praetor's `limits.http_idle_timeout`; 120s, longer than the 90s
    /// after which Go's and reqwest's clients drop idle connections).
    pub http_idle_timeout: Duration,
    /// `limits.request_limits`.
    pub request_limits: RequestLimits,
    /// Most server RPC connections one IP may hold open; 0 is no limit
    /// (`limits.rpc_max_conns_per_client`; 100). Read at start only.
    pub rpc_max_conns_per_client: u32,
    /// How long a new RPC connection has to send its handshake
    /// (`limits.rpc_handshake_timeout`; 5s). Read at start only.
    pub rpc_handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            kv_max_value_size: 512 * 1024,
            txn_max_req_len: 512 * 1024,
            http_max_conns_per_client: 200,
            http_max_conns: None,
            http_header_read_timeout: Duration::from_secs(10),
            http_idle_timeout: Duration::from_secs(120),
            request_limits: RequestLimits::default(),
            rpc_max_conns_per_client: 100,
            rpc_handshake_timeout: Duration::from_secs(5),
        }
    }
}

/// What the request rate limiter does with a request over the rate
/// (`limits.request_limits.mode`, Consul's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateLimitMode {
    /// No limiting, no logs (Consul's default).
    #[default]
    Disabled,
    /// Over the rate: served, and logged and counted.
    Permissive,
    /// Over the rate: refused with 429 (503 for a write on the leader).
    Enforcing,
}

impl RateLimitMode {
    /// Consul's name of the mode.
    pub fn name(self) -> &'static str {
        match self {
            RateLimitMode::Disabled => "disabled",
            RateLimitMode::Permissive => "permissive",
            RateLimitMode::Enforcing => "enforcing",
        }
    }
}

/// Consul's `limits.request_limits`: one token bucket for reads and one for
/// writes, per agent, each refilled at its rate and holding ten seconds'
/// worth of requests (Consul's burst multiplier).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestLimits {
    pub mode: RateLimitMode,
    /// Reads per second; infinite when unset or negative, as in Consul.
    pub read_rate: f64,
    /// Writes per second; infinite when unset or negative, as in Consul.
    pub write_rate: f64,
}

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            mode: RateLimitMode::Disabled,
            read_rate: f64::INFINITY,
            write_rate: f64::INFINITY,
        }
    }
}

/// Consul's `autopilot` block (the parts Praetor acts on).
#[derive(Debug, Clone, PartialEq)]
pub struct Autopilot {
    /// Remove failed servers from Raft (`cleanup_dead_servers`; true).
    pub cleanup_dead_servers: bool,
    /// Never shrink the voters below this many by cleanup (`min_quorum`; 0).
    pub min_quorum: u32,
    /// How long a server must have been failed before cleanup removes it
    /// (Praetor's `dead_server_timeout`; 30s).
    pub dead_server_timeout: Duration,
}

impl Default for Autopilot {
    fn default() -> Self {
        Autopilot {
            cleanup_dead_servers: true,
            min_quorum: 0,
            dead_server_timeout: Duration::from_secs(30),
        }
    }
}

/// Consul's `acl.down_policy`: what a client agent does with a token it
/// cannot resolve because no server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DownPolicy {
    Allow,
    Deny,
    /// Use the token's last resolution, however old (Consul's default).
    #[default]
    ExtendCache,
    /// As `extend-cache` (Praetor resolves in the foreground either way).
    AsyncCache,
}

/// Consul's `acl.tokens` block.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AclTokens {
    /// `initial_management` (and its old name `master`).
    pub initial_management: Option<String>,
    /// The agent's own token for its catalog sync and checks.
    pub agent: Option<String>,
    /// `agent_recovery` (old name `agent_master`): this agent's endpoints
    /// only, when the servers cannot be reached.
    pub agent_recovery: Option<String>,
    /// Used for requests that carry no token, and by DNS.
    pub default: Option<String>,
    /// Used by DNS when set (else `default`).
    pub dns: Option<String>,
    pub replication: Option<String>,
    /// `config_file_service_registration`: accepted and kept (Praetor
    /// registers config-file services with the agent token).
    pub config_file_registration: Option<String>,
}

/// Consul's `acl` block.
#[derive(Debug, Clone, PartialEq)]
pub struct AclSettings {
    pub enabled: bool,
    /// `default_policy = "allow"` (the default) or `"deny"`.
    pub default_allow: bool,
    pub down_policy: DownPolicy,
    /// Keep tokens set through `PUT /v1/agent/token/<type>` in the data dir.
    pub enable_token_persistence: bool,
    /// Recursive KV reads need `list` on the prefix.
    pub enable_key_list_policy: bool,
    /// How long a client agent keeps a resolved token (30s).
    pub token_ttl: Duration,
    /// Accepted for compatibility: policies are resolved with their token.
    pub policy_ttl: Duration,
    /// Accepted for compatibility: roles are resolved with their token.
    pub role_ttl: Duration,
    pub tokens: AclTokens,
}

impl Default for AclSettings {
    fn default() -> Self {
        AclSettings {
            enabled: false,
            default_allow: true,
            down_policy: DownPolicy::default(),
            enable_token_persistence: false,
            enable_key_list_policy: false,
            token_ttl: Duration::from_secs(30),
            policy_ttl: Duration::from_secs(30),
            role_ttl: Duration::from_secs(30),
            tokens: AclTokens::default(),
        }
    }
}

/// Consul's `dns_config.recursor_strategy`: try the recursors in the
/// configured order, or in a random order per query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecursorStrategy {
    #[default]
    Sequential,
    Random,
}

/// Consul's `dns_config.soa` block: the numbers of the SOA record the DNS
/// interface hands out, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Soa {
    pub refresh: u32,
    pub retry: u32,
    pub expire: u32,
    /// Also the TTL of the SOA record itself (negative caching).
    pub min_ttl: u32,
}

impl Default for Soa {
    fn default() -> Self {
        Soa {
            refresh: 3600,
            retry: 600,
            expire: 86400,
            min_ttl: 0,
        }
    }
}

/// Consul's `dns_config` block (the parts Praetor acts on), with Consul's
/// defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsConfig {
    /// Any server may answer (stale reads; true).
    pub allow_stale: bool,
    /// A stale answer from a server that has not heard from the leader for
    /// longer than this is asked again of the leader (87600h).
    pub max_stale: Duration,
    /// TTL of node records (0).
    pub node_ttl: Duration,
    /// TTL of service records by service name; a key ending in `*` is a
    /// prefix (`"*"` matches every service); the longest match wins and an
    /// exact name beats every prefix (none: 0).
    pub service_ttl: BTreeMap<String, Duration>,
    /// Only instances whose checks all pass; otherwise warning counts as
    /// healthy (false).
    pub only_passing: bool,
    /// Most answers in a UDP response to a query without EDNS (3).
    pub udp_answer_limit: u32,
    /// Set the TC bit when a UDP answer was cut (false).
    pub enable_truncate: bool,
    /// Most A/AAAA records in an answer; 0 is no limit (0).
    pub a_record_limit: u32,
    /// How long to wait for each recursor (2s).
    pub recursor_timeout: Duration,
    pub recursor_strategy: RecursorStrategy,
    pub soa: Soa,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            allow_stale: true,
            max_stale: Duration::from_secs(87600 * 3600),
            node_ttl: Duration::ZERO,
            service_ttl: BTreeMap::new(),
            only_passing: false,
            udp_answer_limit: 3,
            enable_truncate: false,
            a_record_limit: 0,
            recursor_timeout: Duration::from_secs(2),
            recursor_strategy: RecursorStrategy::Sequential,
            soa: Soa::default(),
        }
    }
}

impl DnsConfig {
    /// The TTL of `service`'s records, as Consul picks it: the exact name,
    /// else the longest `prefix*` that matches, else 0.
    pub fn service_ttl(&self, service: &str) -> Duration {
        if let Some(ttl) = self.service_ttl.get(service) {
            return *ttl;
        }
        self.service_ttl
            .iter()
            .filter_map(|(k, ttl)| Some((k.strip_suffix('*')?, ttl)))
            .filter(|(prefix, _)| service.starts_with(prefix))
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(Duration::ZERO, |(_, ttl)| *ttl)
    }
}

/// The effective configuration of one agent.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    /// `-dev`: in-memory server, UI on, everything on loopback.
    pub dev: bool,
    pub datacenter: String,
    pub primary_datacenter: String,
    pub node_name: String,
    /// `node_id`: a UUID; generated (and kept in the data dir) when absent.
    pub node_id: Option<String>,
    pub server: bool,
    pub bootstrap_expect: u32,
    pub bootstrap: bool,
    pub data_dir: Option<PathBuf>,
    pub bind_addr: IpAddr,
    pub advertise_addr: Option<IpAddr>,
    /// Where HTTP and DNS listen (`client_addr`, space-separated in Consul).
    pub client_addr: Vec<IpAddr>,
    pub ports: Ports,
    pub retry_join: Vec<String>,
    pub start_join: Vec<String>,
    pub retry_interval: Duration,
    pub retry_max: u32,
    pub rejoin_after_leave: bool,
    pub leave_on_terminate: bool,
    pub log_level: String,
    pub log_json: bool,
    pub ui: bool,
    pub raft_protocol: u32,
    pub enable_debug: bool,
    pub enable_syslog: bool,
    pub limits: Limits,
    /// `raft_snapshot_threshold`: log entries between snapshots (Consul: 8192).
    pub raft_snapshot_threshold: u64,
    /// `raft_snapshot_interval` (Consul: 30s).
    pub raft_snapshot_interval: Duration,
    /// `raft_trailing_logs`: entries kept in the log behind a snapshot (Consul: 10240).
    pub raft_trailing_logs: u64,
    /// Praetor's `kv_history_limit`: KV changes kept for watches (100 000).
    pub kv_history_limit: usize,
    /// `reconnect_timeout` (72h).
    pub reconnect_timeout: Duration,
    /// `performance.rpc_hold_timeout` (7s): how long a request waits for
    /// a leader (or a server) before it fails.
    pub rpc_hold_timeout: Duration,
    /// `autopilot`.
    pub autopilot: Autopilot,
    /// The `acl` block.
    pub acl: AclSettings,
    /// Script checks may be registered through the API and config files.
    pub enable_script_checks: bool,
    /// `disable_coordinates`: no coordinate pings in gossip and no
    /// coordinate sent to the servers.
    pub disable_coordinates: bool,
    /// Script checks may be defined in config files (and the local API).
    pub enable_local_script_checks: bool,
    /// `encrypt`: the gossip key a new keyring starts with.
    pub encrypt: Option<String>,
    /// `encrypt_verify_incoming`: refuse unencrypted gossip (true).
    pub encrypt_verify_incoming: bool,
    /// `encrypt_verify_outgoing`: encrypt outgoing gossip (true).
    pub encrypt_verify_outgoing: bool,
    /// `disable_keyring_file`: keep the gossip keyring in memory only.
    pub disable_keyring_file: bool,
    /// The `tls` block and the older top-level TLS keys, resolved per
    /// interface.
    pub tls: praetor_tls::TlsConfig,
    /// `domain` for DNS (`consul.`).
    pub domain: String,
    /// `alt_domain`: a second domain the DNS interface answers for.
    pub alt_domain: Option<String>,
    /// `recursors`: where the DNS interface forwards names outside its
    /// domains (none: such names are refused).
    pub recursors: Vec<SocketAddr>,
    /// `dns_config`.
    pub dns: DnsConfig,
    /// The files that were loaded, in order.
    pub sources: Vec<PathBuf>,
    /// Every source merged into one tree (Consul's key names; `ui` already
    /// spelled `ui_config.enabled`, top-level `kv_max_value_size` spelled
    /// `limits.kv_max_value_size`). Keys accepted but not yet acted on, such
    /// as `services`, `checks` and `watches`, are read from here.
    pub raw: serde_json::Value,
    /// `check_update_interval` (5m): a check whose output changes but
    /// whose status does not is synced to the servers at most this often;
    /// a status change is synced at once; zero syncs every output change.
    pub check_update_interval: Duration,
    /// Servers: the WAN pool and federation with other datacenters.
    pub wan: WanConfig,
}

/// A server's WAN pool: how it joins the servers of other datacenters,
/// what it advertises to them and its failure detection timing (Consul's
/// `*_wan` keys and `gossip_wan` block). Client agents have no WAN pool.
#[derive(Debug, Clone, PartialEq)]
pub struct WanConfig {
    /// `advertise_addr_wan`: the address other datacenters reach this
    /// server at (default: `advertise_addr`).
    pub advertise_addr: Option<IpAddr>,
    /// `retry_join_wan`: servers of other datacenters to join, retried.
    pub retry_join: Vec<String>,
    /// `start_join_wan`: joined once at start (also retried here, like
    /// `start_join`).
    pub start_join: Vec<String>,
    /// `retry_interval_wan` (30s).
    pub retry_interval: Duration,
    /// `retry_max_wan` (0: no limit).
    pub retry_max: u32,
    /// `translate_wan_addrs`: nodes of other datacenters are answered
    /// with their `wan` tagged address (DNS and catalog/health reads).
    pub translate_addrs: bool,
    /// `gossip_wan.probe_interval` (5s).
    pub probe_interval: Duration,
    /// `gossip_wan.probe_timeout` (3s).
    pub probe_timeout: Duration,
    /// `gossip_wan.suspicion_mult` (6): a suspect is declared failed after
    /// this many probe intervals.
    pub suspicion_mult: u32,
    /// `gossip_wan.gossip_interval` (500ms).
    pub gossip_interval: Duration,
    /// `test_wan_latency` (Praetor's, FOR TESTS ONLY, empty by default):
    /// the WAN pool's coordinate packets to servers of each named
    /// datacenter are held this long, so they look that much farther
    /// (`GossipConfig::coordinate_delay`). Refused unless the agent is on
    /// loopback.
    pub test_latency: std::collections::BTreeMap<String, Duration>,
}

impl Default for WanConfig {
    fn default() -> Self {
        WanConfig {
            advertise_addr: None,
            retry_join: Vec::new(),
            start_join: Vec::new(),
            retry_interval: Duration::from_secs(30),
            retry_max: 0,
            translate_addrs: false,
            probe_interval: Duration::from_secs(5),
            probe_timeout: Duration::from_secs(3),
            suspicion_mult: praetor_gossip::WAN_SUSPICION_MULT,
            gossip_interval: Duration::from_millis(500),
            test_latency: std::collections::BTreeMap::new(),
        }
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            dev: false,
            datacenter: "dc1".into(),
            primary_datacenter: "dc1".into(),
            node_name: String::new(),
            node_id: None,
            server: false,
            bootstrap_expect: 0,
            bootstrap: false,
            data_dir: None,
            bind_addr: IpAddr::from([0, 0, 0, 0]),
            advertise_addr: None,
            client_addr: vec![IpAddr::from([127, 0, 0, 1])],
            ports: Ports::default(),
            retry_join: Vec::new(),
            start_join: Vec::new(),
            retry_interval: Duration::from_secs(30),
            retry_max: 0,
            rejoin_after_leave: false,
            leave_on_terminate: false,
            log_level: "info".into(),
            log_json: false,
            ui: false,
            raft_protocol: 3,
            enable_debug: false,
            enable_syslog: false,
            limits: Limits::default(),
            raft_snapshot_threshold: 8192,
            raft_snapshot_interval: Duration::from_secs(30),
            raft_trailing_logs: 10240,
            kv_history_limit: 100_000,
            reconnect_timeout: Duration::from_secs(72 * 3600),
            rpc_hold_timeout: Duration::from_secs(7),
            autopilot: Autopilot::default(),
            acl: AclSettings::default(),
            enable_script_checks: false,
            disable_coordinates: false,
            enable_local_script_checks: false,
            encrypt: None,
            encrypt_verify_incoming: true,
            encrypt_verify_outgoing: true,
            disable_keyring_file: false,
            tls: praetor_tls::TlsConfig::default(),
            domain: "consul.".into(),
            alt_domain: None,
            recursors: Vec::new(),
            dns: DnsConfig::default(),
            sources: Vec::new(),
            raw: serde_json::Value::Object(serde_json::Map::new()),
            check_update_interval: crate::local::CHECK_UPDATE_INTERVAL,
            wan: WanConfig::default(),
        }
    }
}

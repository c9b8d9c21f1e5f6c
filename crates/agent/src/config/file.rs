//! The shape of one config source in Consul's key names, and the check every
//! source passes on its own before it is merged, so that each error and
//! warning can name the file it came from: types and values are checked with
//! their key path, unknown keys are collected for a warning. Holds no
//! defaults and never decides between sources.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::runtime::{RateLimitMode, RecursorStrategy};
use super::setting::{
    CipherSuites, Datacenter, Domain, EncryptKey, GoDuration, Ip, IpList, LogLevel, NodeId,
    PortSetting, Recursor, TlsVersion,
};
use praetor_api::duration;

/// Keys that Consul's config files commonly hold and Praetor accepts without a
/// warning but does not act on yet; they stay readable in
/// `RuntimeConfig::raw`. An entry covers the key and everything under it;
/// `a.b` names key `b` inside block `a`. Grow this list as features arrive.
pub(super) const ACCEPTED_UNUSED: &[&str] = &[
    "acl.enable_token_replication",
    "acl.msp_disable_bootstrap",
    "acl.tokens.config_file_service_registration",
    "addresses",
    "auto_encrypt",
    "autopilot.disable_upgrade_migration",
    "autopilot.last_contact_threshold",
    "autopilot.max_trailing_logs",
    "autopilot.redundancy_zone_tag",
    "autopilot.server_stabilization_time",
    "autopilot.upgrade_version_tag",
    "check",
    "checks",
    "connect",
    "disable_host_node_id",
    "disable_remote_exec",
    "disable_update_check",
    "dns_config.cache_max_age",
    "dns_config.disable_compression",
    "dns_config.enable_additional_node_meta_txt",
    "dns_config.prefer_namespace",
    "dns_config.use_cache",
    "enable_central_service_config",
    "gossip_wan.gossip_nodes",
    "gossip_wan.retransmit_mult",
    "http_config",
    "license_path",
    "limits.https_handshake_timeout",
    "limits.rpc_client_timeout",
    "limits.rpc_max_burst",
    "limits.rpc_rate",
    "log_file",
    "log_rotate_bytes",
    "log_rotate_duration",
    "log_rotate_max_files",
    "node_meta",
    "performance.leave_drain_time",
    "performance.raft_multiplier",
    "pid_file",
    "ports.expose_max_port",
    "ports.expose_min_port",
    "ports.grpc_tls",
    "ports.sidecar_max_port",
    "ports.sidecar_min_port",
    "raft_logstore",
    "rpc",
    "segments",
    "serf_lan",
    "serf_wan",
    "server_name",
    "service",
    "services",
    "skip_leave_on_interrupt",
    "syslog_facility",
    "telemetry",
    "template",
    "tls.grpc.use_auto_cert",
    "tls_prefer_server_cipher_suites",
    "ui_config",
    "watches",
];

/// Whether `path` (dotted, like `limits.rpc_rate`) is covered by
/// [`ACCEPTED_UNUSED`].
pub(super) fn accepted_unused(path: &str) -> bool {
    ACCEPTED_UNUSED.iter().any(|entry| {
        path.strip_prefix(entry)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    })
}

/// One source's settings; `None` is "not set here". Every key Praetor acts on
/// is typed, so a wrong type or value fails with its key path.
#[derive(Debug, Default, Deserialize)]
pub(super) struct FileConfig {
    pub datacenter: Option<Datacenter>,
    pub primary_datacenter: Option<Datacenter>,
    pub node_name: Option<String>,
    pub node_id: Option<NodeId>,
    pub server: Option<bool>,
    pub bootstrap: Option<bool>,
    pub bootstrap_expect: Option<u32>,
    pub data_dir: Option<String>,
    pub bind_addr: Option<Ip>,
    pub advertise_addr: Option<Ip>,
    pub client_addr: Option<IpList>,
    pub ports: Option<PortsFile>,
    pub retry_join: Option<Vec<String>>,
    pub start_join: Option<Vec<String>>,
    pub retry_interval: Option<GoDuration>,
    pub retry_max: Option<u32>,
    pub rejoin_after_leave: Option<bool>,
    pub leave_on_terminate: Option<bool>,
    pub log_level: Option<LogLevel>,
    pub log_json: Option<bool>,
    /// Consul's older spelling of `ui_config.enabled`.
    pub ui: Option<bool>,
    pub ui_config: Option<UiConfigFile>,
    pub raft_protocol: Option<u32>,
    pub enable_debug: Option<bool>,
    pub enable_syslog: Option<bool>,
    pub limits: Option<LimitsFile>,
    /// Alias of `limits.kv_max_value_size`.
    pub kv_max_value_size: Option<u64>,
    pub raft_snapshot_threshold: Option<u64>,
    pub raft_snapshot_interval: Option<GoDuration>,
    pub raft_trailing_logs: Option<u64>,
    pub kv_history_limit: Option<usize>,
    pub reconnect_timeout: Option<GoDuration>,
    pub performance: Option<PerformanceFile>,
    pub encrypt: Option<EncryptKey>,
    pub domain: Option<Domain>,
    pub alt_domain: Option<Domain>,
    /// Upstream DNS servers for names outside the domains.
    pub recursors: Option<Vec<Recursor>>,
    pub dns_config: Option<DnsConfigFile>,
    pub autopilot: Option<AutopilotFile>,
    pub acl: Option<AclFile>,
    pub enable_script_checks: Option<bool>,
    pub enable_local_script_checks: Option<bool>,
    pub encrypt_verify_incoming: Option<bool>,
    pub encrypt_verify_outgoing: Option<bool>,
    pub disable_keyring_file: Option<bool>,
    /// Consul's `disable_coordinates`: no network coordinates.
    pub disable_coordinates: Option<bool>,
    pub tls: Option<TlsFile>,
    // The older top-level TLS keys Consul still reads (into `tls.defaults`,
    // or the interface they name); not flattened, so that unknown keys are
    // still reported.
    pub ca_file: Option<String>,
    pub ca_path: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub verify_incoming: Option<bool>,
    pub verify_incoming_rpc: Option<bool>,
    pub verify_incoming_https: Option<bool>,
    pub verify_outgoing: Option<bool>,
    pub verify_server_hostname: Option<bool>,
    pub tls_min_version: Option<TlsVersion>,
    pub tls_cipher_suites: Option<CipherSuites>,
    /// How often a check's new output with an unchanged status is synced.
    pub check_update_interval: Option<GoDuration>,
    /// Servers: the WAN pool (federation with other datacenters).
    pub advertise_addr_wan: Option<Ip>,
    pub retry_join_wan: Option<Vec<String>>,
    pub start_join_wan: Option<Vec<String>>,
    pub retry_interval_wan: Option<GoDuration>,
    pub retry_max_wan: Option<u32>,
    pub translate_wan_addrs: Option<bool>,
    pub gossip_wan: Option<GossipWanFile>,
    /// Praetor's, FOR TESTS ONLY: `{"<dc>": "<duration>"}`, the extra
    /// round trip a server's WAN coordinate pings to each datacenter get
    /// (`WanConfig::test_latency`).
    pub test_wan_latency: Option<std::collections::BTreeMap<String, GoDuration>>,
}

/// Consul's `gossip_wan` block: the WAN pool's failure detection timing
/// (`gossip_nodes` and `retransmit_mult` are accepted and not used).
#[derive(Debug, Default, Deserialize)]
pub(super) struct GossipWanFile {
    pub probe_interval: Option<GoDuration>,
    pub probe_timeout: Option<GoDuration>,
    pub suspicion_mult: Option<u32>,
    pub gossip_interval: Option<GoDuration>,
}

/// Consul's `tls` block.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TlsFile {
    pub defaults: Option<TlsLayerFile>,
    pub https: Option<TlsLayerFile>,
    pub internal_rpc: Option<TlsLayerFile>,
    pub grpc: Option<TlsLayerFile>,
}

/// One of `tls.defaults`, `tls.https`, `tls.internal_rpc`, `tls.grpc`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct TlsLayerFile {
    pub ca_file: Option<String>,
    pub ca_path: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub verify_incoming: Option<bool>,
    pub verify_outgoing: Option<bool>,
    pub verify_server_hostname: Option<bool>,
    pub tls_min_version: Option<TlsVersion>,
    pub tls_cipher_suites: Option<CipherSuites>,
}

/// Consul's `performance` block: the keys Praetor acts on (the rest are
/// accepted).
#[derive(Debug, Default, Deserialize)]
pub(super) struct PerformanceFile {
    /// How long a request is held while there is no leader.
    pub rpc_hold_timeout: Option<GoDuration>,
}

/// Consul's `autopilot` block: the keys Praetor acts on (the rest are
/// accepted), plus Praetor's `dead_server_timeout`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AutopilotFile {
    pub cleanup_dead_servers: Option<bool>,
    pub min_quorum: Option<u32>,
    /// How long a server must have failed before it is removed from Raft.
    pub dead_server_timeout: Option<GoDuration>,
}

/// Consul's `acl` block.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AclFile {
    pub enabled: Option<bool>,
    pub default_policy: Option<AclDefaultPolicy>,
    pub down_policy: Option<super::runtime::DownPolicy>,
    pub enable_token_persistence: Option<bool>,
    pub enable_key_list_policy: Option<bool>,
    pub token_ttl: Option<GoDuration>,
    pub policy_ttl: Option<GoDuration>,
    pub role_ttl: Option<GoDuration>,
    pub tokens: Option<AclTokensFile>,
}

/// `acl.default_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum AclDefaultPolicy {
    Allow,
    Deny,
}

/// Consul's `acl.tokens` block, with the old names Consul still reads.
#[derive(Debug, Default, Deserialize)]
pub(super) struct AclTokensFile {
    pub initial_management: Option<String>,
    pub master: Option<String>,
    pub agent: Option<String>,
    pub agent_recovery: Option<String>,
    pub agent_master: Option<String>,
    pub default: Option<String>,
    pub dns: Option<String>,
    pub replication: Option<String>,
}

/// Consul's `dns_config` block: the keys Praetor acts on (the rest are
/// accepted).
#[derive(Debug, Default, Deserialize)]
pub(super) struct DnsConfigFile {
    pub allow_stale: Option<bool>,
    pub max_stale: Option<GoDuration>,
    pub node_ttl: Option<GoDuration>,
    /// By service name, or a prefix ending in `*` (`"*"` for every service).
    pub service_ttl: Option<std::collections::BTreeMap<String, GoDuration>>,
    pub only_passing: Option<bool>,
    /// Signed so that a negative value gets Consul's message, not serde's.
    pub udp_answer_limit: Option<i64>,
    pub enable_truncate: Option<bool>,
    pub a_record_limit: Option<i64>,
    pub recursor_timeout: Option<GoDuration>,
    pub recursor_strategy: Option<RecursorStrategy>,
    pub soa: Option<SoaFile>,
}

/// Consul's `dns_config.soa` block, in seconds.
#[derive(Debug, Default, Deserialize)]
pub(super) struct SoaFile {
    pub refresh: Option<u32>,
    pub retry: Option<u32>,
    pub expire: Option<u32>,
    pub min_ttl: Option<u32>,
}

/// Consul's `ports` block.
#[derive(Debug, Default, Deserialize)]
pub(super) struct PortsFile {
    pub http: Option<PortSetting>,
    pub https: Option<PortSetting>,
    pub dns: Option<PortSetting>,
    pub server: Option<PortSetting>,
    pub serf_lan: Option<PortSetting>,
    pub serf_wan: Option<PortSetting>,
    pub grpc: Option<PortSetting>,
}

/// Consul's `limits` block, the keys Praetor enforces, plus Praetor's
/// `http_max_conns`, `http_header_read_timeout` and `http_idle_timeout`.
#[derive(Debug, Default, Deserialize)]
pub(super) struct LimitsFile {
    pub kv_max_value_size: Option<u64>,
    pub txn_max_req_len: Option<u64>,
    pub http_max_conns_per_client: Option<u32>,
    pub http_max_conns: Option<u32>,
    pub http_header_read_timeout: Option<GoDuration>,
    pub http_idle_timeout: Option<GoDuration>,
    pub request_limits: Option<RequestLimitsFile>,
    pub rpc_max_conns_per_client: Option<u32>,
    pub rpc_handshake_timeout: Option<GoDuration>,
}

/// Consul's `limits.request_limits` block.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RequestLimitsFile {
    pub mode: Option<RateLimitMode>,
    /// Per second; negative is no limit, as in Consul.
    pub read_rate: Option<f64>,
    pub write_rate: Option<f64>,
}

/// Consul's `ui_config` block; only `enabled` is read, the rest is accepted.
#[derive(Debug, Default, Deserialize)]
pub(super) struct UiConfigFile {
    pub enabled: Option<bool>,
}

/// A key of one source with a wrong type or value.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Problem {
    /// Dotted path, like `ports.http`.
    pub key: String,
    /// What was wrong and what was expected.
    pub message: String,
}

/// Reads one source's tree: its settings and the dotted paths of keys that
/// are neither known nor in [`ACCEPTED_UNUSED`].
///
/// # Errors
/// The first key whose type or value is wrong.
pub(super) fn read(value: &Value) -> Result<(FileConfig, Vec<String>), Problem> {
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| {
        let path = dotted(&path);
        if !accepted_unused(&path) {
            unknown.push(path);
        }
    };
    let file: FileConfig =
        serde_path_to_error::deserialize(serde_ignored::Deserializer::new(value, &mut note))
            .map_err(|e| Problem {
                key: e.path().to_string(),
                message: e.into_inner().to_string(),
            })?;
    file.check_values()?;
    Ok((file, unknown))
}

/// `serde_ignored`'s path as `a.b.0`, without its `?` marks for `Option`s.
fn dotted(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => join(dotted(parent), &index.to_string()),
        Path::Map { parent, key } => join(dotted(parent), key),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => dotted(parent),
    }
}

fn join(parent: String, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// The shortest `reconnect_timeout` Consul accepts.
const MIN_RECONNECT_TIMEOUT: Duration = Duration::from_secs(8 * 3600);

impl FileConfig {
    /// Checks the values whose type alone does not make them valid.
    fn check_values(&self) -> Result<(), Problem> {
        let problem = |key: &str, message: String| {
            Err(Problem {
                key: key.into(),
                message,
            })
        };
        if let Some(v) = self.raft_protocol.filter(|&v| v != 3) {
            return problem(
                "raft_protocol",
                format!("only raft protocol 3 is supported, got {v}"),
            );
        }
        if let Some(dns) = &self.dns_config {
            let limits = [
                ("dns_config.udp_answer_limit", dns.udp_answer_limit),
                ("dns_config.a_record_limit", dns.a_record_limit),
            ];
            for (key, value) in limits {
                match value {
                    Some(v) if v < 0 => {
                        return problem(key, format!("must be 0 or more, got {v}"));
                    }
                    Some(v) if v > i64::from(u32::MAX) => {
                        return problem(key, format!("{v} is too large"));
                    }
                    _ => {}
                }
            }
            if let Some(GoDuration(d)) = dns.recursor_timeout.filter(|t| t.0.is_zero()) {
                return problem(
                    "dns_config.recursor_timeout",
                    format!("must be more than 0, got {}", duration::format(d)),
                );
            }
        }
        if let Some(limits) = &self.limits {
            if limits.http_max_conns == Some(0) {
                return problem(
                    "limits.http_max_conns",
                    "must be greater than 0 (leave it unset for the default)".into(),
                );
            }
        }
        if let Some(GoDuration(d)) = self
            .performance
            .as_ref()
            .and_then(|p| p.rpc_hold_timeout)
            .filter(|t| t.0.is_zero())
        {
            return problem(
                "performance.rpc_hold_timeout",
                format!("must be more than 0, got {}", duration::format(d)),
            );
        }
        if self.kv_history_limit == Some(0) {
            return problem("kv_history_limit", "must be greater than 0".into());
        }
        if let Some(GoDuration(d)) = self
            .reconnect_timeout
            .filter(|t| t.0 < MIN_RECONNECT_TIMEOUT)
        {
            return problem(
                "reconnect_timeout",
                format!("must be at least 8h, got {}", duration::format(d)),
            );
        }
        Ok(())
    }
}

/// Rewrites Consul's older spellings within one source, so the merge sees one
/// key for one setting and a later file overrides an earlier one whichever
/// spelling each uses: top-level `kv_max_value_size` becomes
/// `limits.kv_max_value_size`, `ui` becomes `ui_config.enabled`. When a source
/// holds both spellings, the newer one wins, as in Consul.
pub(super) fn normalize(tree: &mut Value) {
    let Some(top) = tree.as_object_mut() else {
        return;
    };
    move_into(top, "kv_max_value_size", "limits", "kv_max_value_size");
    move_into(top, "ui", "ui_config", "enabled");
}

/// Moves `top[key]` to `top[block][inner]` unless that is already set.
fn move_into(top: &mut Map<String, Value>, key: &str, block: &str, inner: &str) {
    let Some(value) = top.remove(key) else { return };
    let block = top.entry(block).or_insert(Value::Null);
    if block.is_null() {
        *block = Value::Object(Map::new());
    }
    if let Some(block) = block.as_object_mut() {
        block.entry(inner).or_insert(value);
    }
}

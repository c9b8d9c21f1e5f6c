//! From the merged tree to the effective [`RuntimeConfig`]: Consul's defaults
//! for what no source set (node name from the host name, `primary_datacenter`
//! from `datacenter`, `leave_on_terminate` from the mode), the rules that
//! span several keys (Consul's `Builder.Validate`), and warnings about legal
//! but risky choices. Touches the disk only to look at `data_dir` and to read
//! the host name; never reads config files.

use std::fs;
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

use serde_json::Value;

use super::error::ConfigError;
use super::file::{
    self, AutopilotFile, DnsConfigFile, FileConfig, LimitsFile, PortsFile, RequestLimitsFile,
    SoaFile, UiConfigFile,
};
use super::runtime::{Port, RuntimeConfig};
use super::setting::PortSetting;
use praetor_tls::{Layer, TlsConfig};

/// The configuration `tree` (every source merged) describes, checked.
///
/// # Errors
/// A [`ConfigError`] for the first rule the configuration breaks.
pub(super) fn resolve(
    dev: bool,
    tree: Value,
    sources: Vec<PathBuf>,
    warnings: &mut Vec<String>,
) -> Result<RuntimeConfig, ConfigError> {
    let (file, _) = file::read(&tree).map_err(|p| ConfigError::Merged {
        key: p.key,
        message: p.message,
    })?;
    let mut cfg = RuntimeConfig {
        dev,
        sources,
        ..RuntimeConfig::default()
    };
    let leave_on_terminate = file.leave_on_terminate;
    let primary_datacenter_set = file.primary_datacenter.is_some();
    apply(&mut cfg, file);
    if !primary_datacenter_set {
        cfg.primary_datacenter = cfg.datacenter.clone();
    }
    // Consul: clients leave on SIGTERM by default, servers do not.
    cfg.leave_on_terminate = leave_on_terminate.unwrap_or(!cfg.server);
    if cfg.node_name.is_empty() {
        cfg.node_name = host_name().ok_or(ConfigError::NodeNameMissing)?;
    }
    check(&mut cfg, warnings)?;
    warnings.extend(acl_warnings(&cfg));
    warnings.extend(not_enforced(&tree));
    cfg.raw = tree;
    Ok(cfg)
}

/// What an operator must know about ACLs at start-up: how a token will be
/// had, and what the agent itself will use.
fn acl_warnings(cfg: &RuntimeConfig) -> Vec<String> {
    let acl = &cfg.acl;
    let mut out = Vec::new();
    if !acl.enabled {
        return out;
    }
    if !acl.default_allow && acl.tokens.agent.is_none() && acl.tokens.default.is_none() {
        out.push(
            "acl.default_policy is \"deny\" and neither acl.tokens.agent nor acl.tokens.default is \
             set: this agent cannot register itself, its services or its checks until an agent \
             token is set (`praetor acl set-agent-token agent <token>`)"
                .to_owned(),
        );
    }
    if cfg.server && acl.tokens.initial_management.is_none() {
        out.push(
            "ACLs are enabled and acl.tokens.initial_management is not set: the first management \
             token must be created with `praetor acl bootstrap` (once per cluster)"
                .to_owned(),
        );
    } else if !cfg.server
        && acl.tokens.agent.is_none()
        && acl.tokens.default.is_none()
        && acl.tokens.agent_recovery.is_none()
    {
        out.push(
            "ACLs are enabled and this client agent has no token of its own \
             (acl.tokens.agent, default or agent_recovery): requests without a token are the \
             anonymous token's"
                .to_owned(),
        );
    }
    out
}

/// Warnings for security settings: the older TLS keys (deprecated in
/// Consul, still read) and what Praetor does not support.
fn not_enforced(tree: &Value) -> Vec<String> {
    let set = |key: &str| tree.get(key).is_some_and(|v| !v.is_null());
    let mut out = Vec::new();
    let renamed = [
        ("ca_file", "tls.defaults.ca_file"),
        ("ca_path", "tls.defaults.ca_path"),
        ("cert_file", "tls.defaults.cert_file"),
        ("key_file", "tls.defaults.key_file"),
        ("verify_incoming", "tls.defaults.verify_incoming"),
        ("verify_incoming_rpc", "tls.internal_rpc.verify_incoming"),
        ("verify_incoming_https", "tls.https.verify_incoming"),
        ("verify_outgoing", "tls.defaults.verify_outgoing"),
        (
            "verify_server_hostname",
            "tls.internal_rpc.verify_server_hostname",
        ),
        ("tls_min_version", "tls.defaults.tls_min_version"),
        ("tls_cipher_suites", "tls.defaults.tls_cipher_suites"),
    ];
    for (old, new) in renamed {
        if set(old) {
            out.push(format!(
                "the '{old}' field is deprecated; use the '{new}' field instead"
            ));
        }
    }
    if set("auto_encrypt") {
        out.push(
            "auto_encrypt is not supported: give every agent its certificate in tls \
             (praetor tls cert create)"
                .to_owned(),
        );
    }
    out
}

/// Overwrites each setting of `cfg` that `file` sets.
fn apply(cfg: &mut RuntimeConfig, file: FileConfig) {
    // Destructured in full, so a key added to `FileConfig` cannot be forgotten here.
    let FileConfig {
        datacenter,
        primary_datacenter,
        node_name,
        node_id,
        server,
        bootstrap,
        bootstrap_expect,
        data_dir,
        bind_addr,
        advertise_addr,
        client_addr,
        ports,
        retry_join,
        start_join,
        retry_interval,
        retry_max,
        rejoin_after_leave,
        leave_on_terminate,
        log_level,
        log_json,
        ui,
        ui_config,
        raft_protocol,
        enable_debug,
        enable_syslog,
        limits,
        kv_max_value_size,
        raft_snapshot_threshold,
        raft_snapshot_interval,
        raft_trailing_logs,
        kv_history_limit,
        reconnect_timeout,
        performance,
        encrypt,
        domain,
        alt_domain,
        recursors,
        dns_config,
        autopilot,
        acl,
        enable_script_checks,
        enable_local_script_checks,
        encrypt_verify_incoming,
        encrypt_verify_outgoing,
        disable_keyring_file,
        disable_coordinates,
        tls,
        ca_file,
        ca_path,
        cert_file,
        key_file,
        verify_incoming,
        verify_incoming_rpc,
        verify_incoming_https,
        verify_outgoing,
        verify_server_hostname,
        tls_min_version,
        tls_cipher_suites,
        check_update_interval,
        advertise_addr_wan,
        retry_join_wan,
        start_join_wan,
        retry_interval_wan,
        retry_max_wan,
        translate_wan_addrs,
        gossip_wan,
        test_wan_latency,
    } = file;
    set(
        &mut cfg.wan.advertise_addr,
        advertise_addr_wan.map(|ip| Some(ip.0)),
    );
    set(&mut cfg.wan.retry_join, retry_join_wan);
    set(&mut cfg.wan.start_join, start_join_wan);
    set(&mut cfg.wan.retry_interval, retry_interval_wan.map(|d| d.0));
    set(&mut cfg.wan.retry_max, retry_max_wan);
    set(&mut cfg.wan.translate_addrs, translate_wan_addrs);
    set(
        &mut cfg.wan.test_latency,
        test_wan_latency.map(|m| m.into_iter().map(|(dc, d)| (dc, d.0)).collect()),
    );
    if let Some(super::file::GossipWanFile {
        probe_interval,
        probe_timeout,
        suspicion_mult,
        gossip_interval,
    }) = gossip_wan
    {
        set(&mut cfg.wan.probe_interval, probe_interval.map(|d| d.0));
        set(&mut cfg.wan.probe_timeout, probe_timeout.map(|d| d.0));
        set(&mut cfg.wan.suspicion_mult, suspicion_mult);
        set(&mut cfg.wan.gossip_interval, gossip_interval.map(|d| d.0));
    }
    set(
        &mut cfg.check_update_interval,
        check_update_interval.map(|d| d.0),
    );
    let legacy = Layer {
        ca_file: ca_file.map(PathBuf::from),
        ca_path: ca_path.map(PathBuf::from),
        cert_file: cert_file.map(PathBuf::from),
        key_file: key_file.map(PathBuf::from),
        verify_incoming,
        verify_outgoing,
        verify_server_hostname: None,
        tls_min_version: tls_min_version.map(|v| v.0),
        tls_cipher_suites: tls_cipher_suites.map(|c| c.0),
    };
    cfg.tls = tls_config(
        tls.unwrap_or_default(),
        legacy,
        LegacyOnly {
            verify_incoming_rpc,
            verify_incoming_https,
            verify_server_hostname,
        },
    );
    set(&mut cfg.encrypt_verify_incoming, encrypt_verify_incoming);
    set(&mut cfg.encrypt_verify_outgoing, encrypt_verify_outgoing);
    set(&mut cfg.disable_keyring_file, disable_keyring_file);
    set(&mut cfg.datacenter, datacenter.map(|d| d.0));
    set(&mut cfg.primary_datacenter, primary_datacenter.map(|d| d.0));
    set(&mut cfg.node_name, node_name);
    set(&mut cfg.node_id, node_id.map(|id| Some(id.0)));
    set(&mut cfg.server, server);
    set(&mut cfg.bootstrap, bootstrap);
    set(&mut cfg.bootstrap_expect, bootstrap_expect);
    set(
        &mut cfg.data_dir,
        data_dir.map(|d| Some(PathBuf::from(d)).filter(|d| !d.as_os_str().is_empty())),
    );
    set(&mut cfg.bind_addr, bind_addr.map(|ip| ip.0));
    set(&mut cfg.advertise_addr, advertise_addr.map(|ip| Some(ip.0)));
    set(&mut cfg.client_addr, client_addr.map(|ips| ips.0));
    if let Some(PortsFile {
        http,
        https,
        dns,
        server,
        serf_lan,
        serf_wan,
        grpc,
    }) = ports
    {
        let port = |slot: &mut Port, v: Option<PortSetting>| set(slot, v.map(|p| p.0));
        port(&mut cfg.ports.http, http);
        port(&mut cfg.ports.https, https);
        port(&mut cfg.ports.dns, dns);
        port(&mut cfg.ports.server, server);
        port(&mut cfg.ports.serf_lan, serf_lan);
        port(&mut cfg.ports.serf_wan, serf_wan);
        port(&mut cfg.ports.grpc, grpc);
    }
    set(&mut cfg.retry_join, retry_join);
    set(&mut cfg.start_join, start_join);
    set(&mut cfg.retry_interval, retry_interval.map(|d| d.0));
    set(&mut cfg.retry_max, retry_max);
    set(&mut cfg.rejoin_after_leave, rejoin_after_leave);
    set(&mut cfg.leave_on_terminate, leave_on_terminate);
    set(&mut cfg.log_level, log_level.map(|l| l.0));
    set(&mut cfg.log_json, log_json);
    // `ui_config.enabled` wins over the older `ui`, as in Consul.
    set(
        &mut cfg.ui,
        ui_config
            .and_then(|UiConfigFile { enabled }| enabled)
            .or(ui),
    );
    set(&mut cfg.raft_protocol, raft_protocol);
    set(&mut cfg.enable_debug, enable_debug);
    set(&mut cfg.enable_syslog, enable_syslog);
    let LimitsFile {
        kv_max_value_size: limits_kv,
        txn_max_req_len,
        http_max_conns_per_client,
        http_max_conns,
        http_header_read_timeout,
        http_idle_timeout,
        request_limits,
        rpc_max_conns_per_client,
        rpc_handshake_timeout,
    } = limits.unwrap_or_default();
    set(
        &mut cfg.limits.rpc_max_conns_per_client,
        rpc_max_conns_per_client,
    );
    set(
        &mut cfg.limits.rpc_handshake_timeout,
        rpc_handshake_timeout.map(|d| d.0),
    );
    set(
        &mut cfg.limits.kv_max_value_size,
        limits_kv.or(kv_max_value_size),
    );
    set(&mut cfg.limits.txn_max_req_len, txn_max_req_len);
    set(
        &mut cfg.limits.http_max_conns_per_client,
        http_max_conns_per_client,
    );
    set(&mut cfg.limits.http_max_conns, http_max_conns.map(Some));
    set(
        &mut cfg.limits.http_header_read_timeout,
        http_header_read_timeout.map(|d| d.0),
    );
    set(
        &mut cfg.limits.http_idle_timeout,
        http_idle_timeout.map(|d| d.0),
    );
    let RequestLimitsFile {
        mode,
        read_rate,
        write_rate,
    } = request_limits.unwrap_or_default();
    // Consul's `limitVal`: a negative rate is no limit.
    let rate = |r: f64| if r < 0.0 { f64::INFINITY } else { r };
    set(&mut cfg.limits.request_limits.mode, mode);
    set(
        &mut cfg.limits.request_limits.read_rate,
        read_rate.map(rate),
    );
    set(
        &mut cfg.limits.request_limits.write_rate,
        write_rate.map(rate),
    );
    set(&mut cfg.raft_snapshot_threshold, raft_snapshot_threshold);
    set(
        &mut cfg.raft_snapshot_interval,
        raft_snapshot_interval.map(|d| d.0),
    );
    set(&mut cfg.raft_trailing_logs, raft_trailing_logs);
    set(&mut cfg.kv_history_limit, kv_history_limit);
    set(&mut cfg.reconnect_timeout, reconnect_timeout.map(|d| d.0));
    set(
        &mut cfg.rpc_hold_timeout,
        performance.and_then(|p| p.rpc_hold_timeout).map(|d| d.0),
    );
    set(&mut cfg.encrypt, encrypt.map(|k| Some(k.0)));
    set(&mut cfg.domain, domain.map(|d| d.0));
    set(&mut cfg.alt_domain, alt_domain.map(|d| Some(d.0)));
    set(
        &mut cfg.recursors,
        recursors.map(|list| list.into_iter().map(|r| r.0).collect()),
    );
    if let Some(dns) = dns_config {
        apply_dns(&mut cfg.dns, dns);
    }
    set(&mut cfg.enable_script_checks, enable_script_checks);
    set(&mut cfg.disable_coordinates, disable_coordinates);
    set(
        &mut cfg.enable_local_script_checks,
        enable_local_script_checks,
    );
    if let Some(acl) = acl {
        apply_acl(&mut cfg.acl, acl);
    }
    let AutopilotFile {
        cleanup_dead_servers,
        min_quorum,
        dead_server_timeout,
    } = autopilot.unwrap_or_default();
    set(
        &mut cfg.autopilot.cleanup_dead_servers,
        cleanup_dead_servers,
    );
    set(&mut cfg.autopilot.min_quorum, min_quorum);
    set(
        &mut cfg.autopilot.dead_server_timeout,
        dead_server_timeout.map(|d| d.0),
    );
}

/// The older top-level keys that name one interface.
struct LegacyOnly {
    verify_incoming_rpc: Option<bool>,
    verify_incoming_https: Option<bool>,
    verify_server_hostname: Option<bool>,
}

/// One `tls` layer as written in a file.
fn layer(file: Option<file::TlsLayerFile>) -> Layer {
    let file::TlsLayerFile {
        ca_file,
        ca_path,
        cert_file,
        key_file,
        verify_incoming,
        verify_outgoing,
        verify_server_hostname,
        tls_min_version,
        tls_cipher_suites,
    } = file.unwrap_or_default();
    Layer {
        ca_file: ca_file.map(PathBuf::from),
        ca_path: ca_path.map(PathBuf::from),
        cert_file: cert_file.map(PathBuf::from),
        key_file: key_file.map(PathBuf::from),
        verify_incoming,
        verify_outgoing,
        verify_server_hostname,
        tls_min_version: tls_min_version.map(|v| v.0),
        tls_cipher_suites: tls_cipher_suites.map(|c| c.0),
    }
}

/// Each interface's TLS settings, as Consul reads them: `tls.<interface>`
/// over `tls.defaults`; the older top-level keys fill what `tls.defaults`
/// leaves unset (`verify_incoming_rpc`, `verify_incoming_https` and
/// `verify_server_hostname` fill their interface's). Setting
/// `verify_server_hostname` implies `verify_outgoing` for internal RPC:
/// a name cannot be checked on a plain-text connection.
fn tls_config(tls: file::TlsFile, legacy: Layer, only: LegacyOnly) -> TlsConfig {
    let mut defaults = legacy;
    defaults.update(layer(tls.defaults));
    let mut https = Layer {
        verify_incoming: only.verify_incoming_https,
        ..Layer::default()
    };
    https.update(layer(tls.https));
    let mut rpc = Layer {
        verify_incoming: only.verify_incoming_rpc,
        verify_server_hostname: only.verify_server_hostname,
        ..Layer::default()
    };
    rpc.update(layer(tls.internal_rpc));
    let mut internal_rpc = rpc.resolve(&defaults);
    if internal_rpc.verify_server_hostname {
        internal_rpc.verify_outgoing = true;
    }
    TlsConfig {
        https: https.resolve(&defaults),
        internal_rpc,
        grpc: layer(tls.grpc).resolve(&defaults),
    }
}

/// Overwrites each `acl` setting that `file` sets.
fn apply_acl(acl: &mut super::runtime::AclSettings, file: file::AclFile) {
    let file::AclFile {
        enabled,
        default_policy,
        down_policy,
        enable_token_persistence,
        enable_key_list_policy,
        token_ttl,
        policy_ttl,
        role_ttl,
        tokens,
    } = file;
    set(&mut acl.enabled, enabled);
    set(
        &mut acl.default_allow,
        default_policy.map(|p| p == file::AclDefaultPolicy::Allow),
    );
    set(&mut acl.down_policy, down_policy);
    set(&mut acl.enable_token_persistence, enable_token_persistence);
    set(&mut acl.enable_key_list_policy, enable_key_list_policy);
    set(&mut acl.token_ttl, token_ttl.map(|d| d.0));
    set(&mut acl.policy_ttl, policy_ttl.map(|d| d.0));
    set(&mut acl.role_ttl, role_ttl.map(|d| d.0));
    let file::AclTokensFile {
        initial_management,
        master,
        agent,
        agent_recovery,
        agent_master,
        default,
        dns,
        replication,
    } = tokens.unwrap_or_default();
    let t = &mut acl.tokens;
    let some = |s: Option<String>| s.filter(|s| !s.is_empty());
    for (slot, value) in [
        (
            &mut t.initial_management,
            some(initial_management).or(some(master)),
        ),
        (&mut t.agent, some(agent)),
        (
            &mut t.agent_recovery,
            some(agent_recovery).or(some(agent_master)),
        ),
        (&mut t.default, some(default)),
        (&mut t.dns, some(dns)),
        (&mut t.replication, some(replication)),
    ] {
        if value.is_some() {
            *slot = value;
        }
    }
}

/// Overwrites each `dns_config` setting that `file` sets.
fn apply_dns(dns: &mut super::runtime::DnsConfig, file: DnsConfigFile) {
    let DnsConfigFile {
        allow_stale,
        max_stale,
        node_ttl,
        service_ttl,
        only_passing,
        udp_answer_limit,
        enable_truncate,
        a_record_limit,
        recursor_timeout,
        recursor_strategy,
        soa,
    } = file;
    // Checked by `file::read`: the limits are within 0..=u32::MAX.
    let count = |v: i64| u32::try_from(v).unwrap_or(u32::MAX);
    set(&mut dns.allow_stale, allow_stale);
    set(&mut dns.max_stale, max_stale.map(|d| d.0));
    set(&mut dns.node_ttl, node_ttl.map(|d| d.0));
    set(
        &mut dns.service_ttl,
        service_ttl.map(|m| m.into_iter().map(|(k, d)| (k, d.0)).collect()),
    );
    set(&mut dns.only_passing, only_passing);
    set(&mut dns.udp_answer_limit, udp_answer_limit.map(count));
    set(&mut dns.enable_truncate, enable_truncate);
    set(&mut dns.a_record_limit, a_record_limit.map(count));
    set(&mut dns.recursor_timeout, recursor_timeout.map(|d| d.0));
    set(&mut dns.recursor_strategy, recursor_strategy);
    let SoaFile {
        refresh,
        retry,
        expire,
        min_ttl,
    } = soa.unwrap_or_default();
    set(&mut dns.soa.refresh, refresh);
    set(&mut dns.soa.retry, retry);
    set(&mut dns.soa.expire, expire);
    set(&mut dns.soa.min_ttl, min_ttl);
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

/// The WAN pool's settings: timing foca can use, an address others can
/// reach, and a warning for WAN joins on a client agent (which has no WAN
/// pool and ignores them).
fn check_wan(cfg: &RuntimeConfig, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
    let wan = &cfg.wan;
    if let Some(addr) = wan.advertise_addr.filter(IpAddr::is_unspecified) {
        return Err(ConfigError::Wan(format!(
            "advertise_addr_wan cannot be {addr}; advertise an address other datacenters can reach"
        )));
    }
    if wan.probe_interval.is_zero() || wan.gossip_interval.is_zero() || wan.suspicion_mult == 0 {
        return Err(ConfigError::Wan(
            "gossip_wan: probe_interval, gossip_interval and suspicion_mult must be above zero"
                .into(),
        ));
    }
    if wan.probe_timeout.is_zero() || wan.probe_timeout >= wan.probe_interval {
        return Err(ConfigError::Wan(format!(
            "gossip_wan.probe_timeout ({}) must be above zero and below probe_interval ({})",
            praetor_api::duration::format(wan.probe_timeout),
            praetor_api::duration::format(wan.probe_interval)
        )));
    }
    check_test_latency(cfg)?;
    let joins_wan = !wan.retry_join.is_empty() || !wan.start_join.is_empty();
    if !cfg.server && joins_wan {
        warnings.push(
            "retry_join_wan and start_join_wan are ignored on a client agent: only servers join the WAN pool"
                .into(),
        );
    }
    Ok(())
}

/// `test_wan_latency`, a test setting: refused unless every address this
/// agent binds and advertises is a loopback one (a test cluster on one
/// machine), and each delay above zero and at most
/// `praetor_gossip::MAX_COORDINATE_DELAY`.
fn check_test_latency(cfg: &RuntimeConfig) -> Result<(), ConfigError> {
    let latency = &cfg.wan.test_latency;
    if latency.is_empty() {
        return Ok(());
    }
    let refuse = |why: String| Err(ConfigError::Wan(format!("test_wan_latency: {why}")));
    let addrs = [
        Some(cfg.bind_addr),
        cfg.advertise_addr,
        cfg.wan.advertise_addr,
    ];
    if let Some(addr) = addrs.into_iter().flatten().find(|a| !a.is_loopback()) {
        return refuse(format!(
            "a test setting, only for agents on loopback (127.0.0.0/8); this one uses {addr}"
        ));
    }
    let max = praetor_gossip::MAX_COORDINATE_DELAY;
    if let Some((dc, d)) = latency.iter().find(|(_, d)| d.is_zero() || **d > max) {
        return refuse(format!(
            "the delay to {dc} ({}) must be above zero and at most {}",
            praetor_api::duration::format(*d),
            praetor_api::duration::format(max)
        ));
    }
    Ok(())
}

/// Consul's cross-key rules, in Consul's order, plus its warnings.
fn check(cfg: &mut RuntimeConfig, warnings: &mut Vec<String>) -> Result<(), ConfigError> {
    check_tls(cfg)?;
    if cfg.bootstrap && !cfg.server {
        return Err(ConfigError::BootstrapWithoutServer);
    }
    if cfg.bootstrap_expect > 0 && !cfg.server {
        return Err(ConfigError::BootstrapExpectWithoutServer);
    }
    if cfg.bootstrap_expect > 0 && cfg.dev {
        return Err(ConfigError::BootstrapExpectInDev);
    }
    if cfg.bootstrap_expect > 0 && cfg.bootstrap {
        return Err(ConfigError::BootstrapConflict);
    }
    // A dev server is a cluster of one and elects itself.
    if cfg.dev && cfg.server {
        cfg.bootstrap = true;
    }
    if !cfg.dev {
        let Some(dir) = &cfg.data_dir else {
            return Err(ConfigError::DataDirMissing);
        };
        match fs::metadata(dir) {
            Ok(meta) if !meta.is_dir() => {
                return Err(ConfigError::DataDirNotADirectory { path: dir.clone() })
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(ConfigError::DataDirUnreadable {
                    path: dir.clone(),
                    error,
                })
            }
        }
    }
    if let Some(addr) = cfg.advertise_addr.filter(IpAddr::is_unspecified) {
        return Err(ConfigError::AdvertiseUnspecified { addr });
    }
    check_ports(cfg)?;
    check_wan(cfg, warnings)?;

    if !dns_label(&cfg.node_name) {
        warnings.push(format!(
            "node name {:?} will not be discoverable via DNS: use only letters, digits and - (at most 63)",
            cfg.node_name
        ));
    }
    if cfg.server && !cfg.dev && !cfg.bootstrap {
        match cfg.bootstrap_expect {
            2 => warnings.push("bootstrap_expect = 2: a cluster with 2 servers will provide no failure tolerance".into()),
            n if n > 2 && n % 2 == 0 => warnings.push(format!(
                "bootstrap_expect = {n}: a cluster with an even number of servers does not achieve optimum fault tolerance"
            )),
            _ => {}
        }
    }
    if cfg.server && !cfg.dev && cfg.bootstrap {
        warnings.push("bootstrap = true: do not enable unless necessary".into());
    }
    Ok(())
}

/// Fails when two of the agent's listeners would share an address and port.
/// TLS settings that cannot work, before any file is read: each
/// interface's own rules, and an HTTPS port with no certificate to serve.
fn check_tls(cfg: &RuntimeConfig) -> Result<(), ConfigError> {
    let tls = &cfg.tls;
    for (name, settings) in [
        ("https", &tls.https),
        ("internal_rpc", &tls.internal_rpc),
        ("grpc", &tls.grpc),
    ] {
        settings
            .check(name)
            .map_err(|e| ConfigError::Tls(e.to_string()))?;
    }
    if cfg.ports.https.is_some() && tls.https.cert_file.is_none() {
        return Err(ConfigError::Tls(
            "ports.https is set but no certificate is configured: set tls.https (or \
             tls.defaults) cert_file and key_file"
                .to_owned(),
        ));
    }
    if cfg.server && tls.internal_rpc.verify_incoming && tls.internal_rpc.cert_file.is_none() {
        return Err(ConfigError::Tls(
            "tls.internal_rpc.verify_incoming is set on a server without cert_file and key_file"
                .to_owned(),
        ));
    }
    Ok(())
}

fn check_ports(cfg: &RuntimeConfig) -> Result<(), ConfigError> {
    let mut listeners: Vec<(&'static str, IpAddr, u16)> = Vec::new();
    for &ip in &cfg.client_addr {
        let client_side = [
            ("ports.http", cfg.ports.http),
            ("ports.https", cfg.ports.https),
            ("ports.dns", cfg.ports.dns),
            ("ports.grpc", cfg.ports.grpc),
        ];
        listeners.extend(
            client_side
                .into_iter()
                .filter_map(|(name, port)| Some((name, ip, port?))),
        );
    }
    let mut cluster_side = vec![("ports.serf_lan", cfg.ports.serf_lan)];
    if cfg.server {
        cluster_side.extend([
            ("ports.server", cfg.ports.server),
            ("ports.serf_wan", cfg.ports.serf_wan),
        ]);
    }
    listeners.extend(
        cluster_side
            .into_iter()
            .filter_map(|(name, port)| Some((name, cfg.bind_addr, port?))),
    );
    for (i, &(first, a, port)) in listeners.iter().enumerate() {
        for &(second, b, other) in &listeners[i + 1..] {
            let overlap = a == b
                || ((a.is_unspecified() || b.is_unspecified()) && a.is_ipv4() == b.is_ipv4());
            if first != second && port == other && overlap {
                return Err(ConfigError::PortCollision {
                    first,
                    second,
                    ip: if a.is_unspecified() { b } else { a },
                    port,
                });
            }
        }
    }
    Ok(())
}

/// Whether `name` is one DNS label, as Consul wants node names to be.
fn dns_label(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The machine's host name, trimmed; `None` when it cannot be read.
fn host_name() -> Option<String> {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .into_iter()
        .filter_map(|path| fs::read_to_string(path).ok())
        .chain(std::env::var("HOSTNAME").ok())
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
}

//! `DebugConfig` of `/v1/agent/self`: the agent's resolved configuration
//! under the field names of Consul's `RuntimeConfig` (Praetor's own
//! settings under names of the same style), sanitized as Consul's
//! `RuntimeConfig.Sanitized` is: every string whose field name contains
//! `key`, `token` or `secret` is `hidden`, go-discover `key=value` pairs in
//! `RetryJoinLAN` are hidden the same way, durations are Go's (`30s`) and
//! addresses `tcp://ip:port`. Must never let a secret through.

use std::net::IpAddr;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::config::{DownPolicy, Port, RateLimitMode, RecursorStrategy, RuntimeConfig};

/// What a secret shows as, as in Consul.
pub const HIDDEN: &str = "hidden";

/// The sanitized `DebugConfig` of `cfg` (`node_id` is the one in use).
pub fn debug_config(cfg: &RuntimeConfig, node_id: &str) -> Value {
    let d = |v: Duration| Value::String(praetor_api::duration::format(v));
    let port = |p: Port| json!(p.map_or(-1, i32::from));
    let ips = |list: &[IpAddr]| list.iter().map(IpAddr::to_string).collect::<Vec<_>>();
    let addrs = |schemes: &[&str], p: Port| -> Vec<String> {
        let Some(p) = p else { return Vec::new() };
        cfg.client_addr
            .iter()
            .flat_map(|ip| {
                schemes
                    .iter()
                    .map(move |s| format!("{s}://{}", std::net::SocketAddr::new(*ip, p)))
            })
            .collect()
    };
    let opt = |s: &Option<String>| s.clone().unwrap_or_default();
    let acl = &cfg.acl;
    let tokens = &acl.tokens;
    let data_dir = cfg
        .data_dir
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let tls = |t: &praetor_tls::Settings| {
        let path = |p: &Option<std::path::PathBuf>| {
            p.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        };
        json!({
            "CAFile": path(&t.ca_file),
            "CAPath": path(&t.ca_path),
            "CertFile": path(&t.cert_file),
            "KeyFile": path(&t.key_file),
            "VerifyIncoming": t.verify_incoming,
            "VerifyOutgoing": t.verify_outgoing,
            "VerifyServerHostname": t.verify_server_hostname,
            "TLSMinVersion": match t.min_version {
                praetor_tls::MinVersion::Tls12 => "TLSv1_2",
                praetor_tls::MinVersion::Tls13 => "TLSv1_3",
            },
            "CipherSuites": t.cipher_suites,
        })
    };
    let rl = &cfg.limits.request_limits;
    let rate = |r: f64| if r.is_finite() { json!(r) } else { json!(-1) };
    // In parts: one `json!` of them all is past the macro's recursion limit.
    let parts = [
        json!({
        "ACLsEnabled": acl.enabled,
        "ACLEnableKeyListPolicy": acl.enable_key_list_policy,
        "ACLInitialManagementToken": opt(&tokens.initial_management),
        "ACLResolverSettings": {
            "ACLDefaultPolicy": if acl.default_allow { "allow" } else { "deny" },
            "ACLDownPolicy": match acl.down_policy {
                DownPolicy::Allow => "allow",
                DownPolicy::Deny => "deny",
                DownPolicy::ExtendCache => "extend-cache",
                DownPolicy::AsyncCache => "async-cache",
            },
            "ACLPolicyTTL": d(acl.policy_ttl),
            "ACLRoleTTL": d(acl.role_ttl),
            "ACLTokenTTL": d(acl.token_ttl),
            "Datacenter": cfg.datacenter,
            "NodeName": cfg.node_name,
        },
        "ACLTokens": {
            "ACLAgentRecoveryToken": opt(&tokens.agent_recovery),
            "ACLAgentToken": opt(&tokens.agent),
            "ACLConfigFileRegistrationToken": opt(&tokens.config_file_registration),
            "ACLDNSToken": opt(&tokens.dns),
            "ACLDefaultToken": opt(&tokens.default),
            "ACLReplicationToken": opt(&tokens.replication),
            "DataDir": data_dir,
            "EnablePersistence": acl.enable_token_persistence,
        },
        "AdvertiseAddrLAN": cfg.advertise_addr.unwrap_or(cfg.bind_addr).to_string(),
        }),
        json!({
        "AutopilotCleanupDeadServers": cfg.autopilot.cleanup_dead_servers,
        "AutopilotDeadServerTimeout": d(cfg.autopilot.dead_server_timeout),
        "AutopilotMinQuorum": cfg.autopilot.min_quorum,
        "BindAddr": cfg.bind_addr.to_string(),
        "Bootstrap": cfg.bootstrap,
        "BootstrapExpect": cfg.bootstrap_expect,
        "BuildDate": crate::version::BUILD_DATE,
        "ClientAddrs": ips(&cfg.client_addr),
        "DNSARecordLimit": cfg.dns.a_record_limit,
        "DNSAddrs": addrs(&["tcp", "udp"], cfg.ports.dns),
        "DNSAllowStale": cfg.dns.allow_stale,
        "DNSAltDomain": cfg.alt_domain.clone().unwrap_or_default(),
        "DNSDomain": cfg.domain,
        "DNSEnableTruncate": cfg.dns.enable_truncate,
        "DNSMaxStale": d(cfg.dns.max_stale),
        "DNSNodeTTL": d(cfg.dns.node_ttl),
        "DNSOnlyPassing": cfg.dns.only_passing,
        "DNSPort": port(cfg.ports.dns),
        "DNSRecursorStrategy": match cfg.dns.recursor_strategy {
            RecursorStrategy::Sequential => "sequential",
            RecursorStrategy::Random => "random",
        },
        "DNSRecursorTimeout": d(cfg.dns.recursor_timeout),
        "DNSRecursors": cfg.recursors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "DNSSOA": {
            "Expire": cfg.dns.soa.expire,
            "Minttl": cfg.dns.soa.min_ttl,
            "Refresh": cfg.dns.soa.refresh,
            "Retry": cfg.dns.soa.retry,
        },
        }),
        json!({
        "DNSServiceTTL": cfg.dns.service_ttl.iter()
            .map(|(k, v)| (k.clone(), d(*v)))
            .collect::<Map<_, _>>(),
        "DNSUDPAnswerLimit": cfg.dns.udp_answer_limit,
        "DataDir": data_dir,
        "Datacenter": cfg.datacenter,
        "DevMode": cfg.dev,
        "DisableCoordinates": cfg.disable_coordinates,
        "DisableKeyringFile": cfg.disable_keyring_file,
        "EnableDebug": cfg.enable_debug,
        "EnableLocalScriptChecks": cfg.enable_local_script_checks,
        "EnableRemoteScriptChecks": cfg.enable_script_checks,
        "EncryptKey": opt(&cfg.encrypt),
        "EncryptVerifyIncoming": cfg.encrypt_verify_incoming,
        "EncryptVerifyOutgoing": cfg.encrypt_verify_outgoing,
        "GRPCPort": -1,
        "GRPCTLSPort": -1,
        "HTTPAddrs": addrs(&["tcp"], cfg.ports.http),
        "HTTPHeaderReadTimeout": d(cfg.limits.http_header_read_timeout),
        "HTTPIdleTimeout": d(cfg.limits.http_idle_timeout),
        "HTTPMaxConns": cfg.limits.http_max_conns,
        "HTTPMaxConnsPerClient": cfg.limits.http_max_conns_per_client,
        "HTTPPort": port(cfg.ports.http),
        "HTTPSAddrs": addrs(&["tcp"], cfg.ports.https),
        "HTTPSPort": port(cfg.ports.https),
        }),
        json!({
        "KVHistoryLimit": cfg.kv_history_limit,
        "KVMaxValueSize": cfg.limits.kv_max_value_size,
        "LeaveOnTerm": cfg.leave_on_terminate,
        "Logging": {
            "EnableSyslog": cfg.enable_syslog,
            "LogJSON": cfg.log_json,
            "LogLevel": cfg.log_level,
        },
        "NodeID": node_id,
        "NodeMeta": super::node_meta(cfg)
            .into_iter()
            .filter(|(k, _)| k != super::META_SEGMENT_KEY)
            .collect::<std::collections::BTreeMap<_, _>>(),
        "NodeName": cfg.node_name,
        "PraetorVersion": praetor_api::VERSION,
        "PrimaryDatacenter": cfg.primary_datacenter,
        "RPCHandshakeTimeout": d(cfg.limits.rpc_handshake_timeout),
        "RPCMaxConnsPerClient": cfg.limits.rpc_max_conns_per_client,
        "RaftProtocol": cfg.raft_protocol,
        "RaftSnapshotInterval": d(cfg.raft_snapshot_interval),
        "RaftSnapshotThreshold": cfg.raft_snapshot_threshold,
        "RaftTrailingLogs": cfg.raft_trailing_logs,
        "ReconnectTimeoutLAN": d(cfg.reconnect_timeout),
        "RejoinAfterLeave": cfg.rejoin_after_leave,
        }),
        json!({
        "RequestLimitsMode": match rl.mode {
            RateLimitMode::Disabled => "disabled",
            RateLimitMode::Permissive => "permissive",
            RateLimitMode::Enforcing => "enforcing",
        },
        "RequestLimitsReadRate": rate(rl.read_rate),
        "RequestLimitsWriteRate": rate(rl.write_rate),
        "RetryJoinIntervalLAN": d(cfg.retry_interval),
        "RetryJoinLAN": cfg.retry_join,
        "RetryJoinMaxAttemptsLAN": cfg.retry_max,
        "Revision": crate::version::REVISION,
        "SerfPortLAN": port(cfg.ports.serf_lan),
        "SerfPortWAN": port(cfg.ports.serf_wan),
        "ServerMode": cfg.server,
        "ServerPort": port(cfg.ports.server),
        "StartJoinAddrsLAN": cfg.start_join,
        "TLS": {
            "Domain": cfg.domain,
            "NodeName": cfg.node_name,
            "ServerMode": cfg.server,
            "GRPC": tls(&cfg.tls.grpc),
            "HTTPS": tls(&cfg.tls.https),
            "InternalRPC": tls(&cfg.tls.internal_rpc),
        },
        "TxnMaxReqLen": cfg.limits.txn_max_req_len,
        "UIConfig": { "Enabled": cfg.ui },
        "Version": praetor_api::CONSUL_API_VERSION,
        "VersionMetadata": "",
        "VersionPrerelease": "",
        }),
    ];
    let mut all = Map::new();
    for part in parts {
        if let Value::Object(fields) = part {
            all.extend(fields);
        }
    }
    let mut out = Value::Object(all);
    sanitize("rt", &mut out);
    out
}

/// Consul's test for a field that may hold a secret.
fn is_secret(name: &str) -> bool {
    let name = name.to_lowercase();
    name.contains("key") || name.contains("token") || name.contains("secret")
}

/// Consul's `cleanRetryJoin`: the secret `key=value` pairs of a go-discover
/// string (`provider=aws tag_key=x secret_access_key=…`) as `key=hidden`.
fn clean_retry_join(s: &str) -> String {
    s.split_whitespace()
        .map(|f| {
            if is_secret(f) {
                let k = f.split_once('=').map_or(f, |(k, _)| k);
                format!("{k}={HIDDEN}")
            } else {
                f.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Hides secrets in `v` as Consul's `sanitize` does: by the name of the
/// field (or map key) holding a string; a list's items are named
/// `<name>[<i>]`, so a list under a secret name is hidden item by item.
pub fn sanitize(name: &str, v: &mut Value) {
    match v {
        Value::String(s) => {
            if name.starts_with("RetryJoinLAN[") || name.starts_with("RetryJoinWAN[") {
                *s = clean_retry_join(s);
            } else if is_secret(name) {
                *s = HIDDEN.to_owned();
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                sanitize(&format!("{name}[{i}]"), item);
            }
        }
        Value::Object(fields) => {
            for (k, field) in fields.iter_mut() {
                sanitize(k, field);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_by_field_name_as_consul_does() {
        let mut cfg = RuntimeConfig {
            node_name: "n1".into(),
            encrypt: Some("c2VjcmV0LWdvc3NpcC1rZXk=".into()),
            retry_join: vec![
                "10.0.0.1".into(),
                "provider=aws tag_key=consul secret_access_key=AKIAXYZ region=eu".into(),
            ],
            ..RuntimeConfig::default()
        };
        cfg.acl.tokens.initial_management = Some("mgmt-secret-uuid".into());
        cfg.acl.tokens.agent = Some("agent-secret-uuid".into());
        cfg.tls.https.key_file = Some("/etc/praetor.d/key.pem".into());
        cfg.raw = json!({"node_meta": {"rack": "r1", "api_key": "meta-secret"}});
        let out = debug_config(&cfg, "0b9a6a38-0000-4000-8000-000000000001");
        let text = out.to_string();
        for secret in [
            "c2VjcmV0LWdvc3NpcC1rZXk=",
            "mgmt-secret-uuid",
            "agent-secret-uuid",
            "AKIAXYZ",
            "meta-secret",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(out["EncryptKey"], HIDDEN);
        assert_eq!(out["ACLInitialManagementToken"], HIDDEN);
        assert_eq!(out["ACLTokens"]["ACLAgentToken"], HIDDEN);
        // Consul hides every `*Key*` field, the key file's path included.
        assert_eq!(out["TLS"]["HTTPS"]["KeyFile"], HIDDEN);
        assert_eq!(out["TLS"]["HTTPS"]["CertFile"], "");
        assert_eq!(out["RetryJoinLAN"][0], "10.0.0.1");
        assert_eq!(
            out["RetryJoinLAN"][1],
            "provider=aws tag_key=hidden secret_access_key=hidden region=eu"
        );
        assert_eq!(out["NodeMeta"]["rack"], "r1");
        assert_eq!(out["NodeMeta"]["api_key"], HIDDEN);
    }

    #[test]
    fn settings_show_under_consuls_names_with_go_durations_and_disabled_ports_as_minus_one() {
        let cfg = RuntimeConfig {
            node_name: "n1".into(),
            server: true,
            bootstrap_expect: 3,
            ..RuntimeConfig::default()
        };
        let out = debug_config(&cfg, "id");
        assert_eq!(out["NodeName"], "n1");
        assert_eq!(out["NodeID"], "id");
        assert_eq!(out["ServerMode"], true);
        assert_eq!(out["BootstrapExpect"], 3);
        assert_eq!(out["Datacenter"], "dc1");
        assert_eq!(out["HTTPPort"], 8500);
        assert_eq!(out["HTTPSPort"], -1);
        assert_eq!(out["HTTPAddrs"], json!(["tcp://127.0.0.1:8500"]));
        assert_eq!(
            out["DNSAddrs"],
            json!(["tcp://127.0.0.1:8600", "udp://127.0.0.1:8600"])
        );
        assert_eq!(out["ReconnectTimeoutLAN"], "72h0m0s");
        assert_eq!(out["RetryJoinIntervalLAN"], "30s");
        assert_eq!(out["ACLResolverSettings"]["ACLDownPolicy"], "extend-cache");
        assert_eq!(out["RequestLimitsReadRate"], -1);
        assert_eq!(out["Version"], praetor_api::CONSUL_API_VERSION);
        assert_eq!(
            out["EncryptKey"], HIDDEN,
            "hidden even when unset, as Consul's"
        );
    }
}

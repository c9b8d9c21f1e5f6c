//! The agent's command-line flags, as Consul names them. Each is optional:
//! a flag that is given overrides every config file.

use std::path::PathBuf;

use serde_json::{json, Map, Value};

use super::error::ConfigError;
use super::file;
use super::merge::merge;

/// `praetor agent` flags after parsing. `None`/empty means "not given".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flags {
    pub dev: bool,
    pub server: Option<bool>,
    pub bootstrap_expect: Option<u32>,
    pub data_dir: Option<PathBuf>,
    /// `-config-file`, repeatable, loaded in the order given.
    pub config_files: Vec<PathBuf>,
    /// `-config-dir`, repeatable: `*.json` and `*.hcl` in lexical order.
    pub config_dirs: Vec<PathBuf>,
    pub node: Option<String>,
    pub datacenter: Option<String>,
    pub bind: Option<String>,
    pub advertise: Option<String>,
    pub client: Option<String>,
    pub http_port: Option<i32>,
    pub dns_port: Option<i32>,
    pub server_port: Option<i32>,
    pub serf_lan_port: Option<i32>,
    /// `-serf-wan-port`: `ports.serf_wan`.
    pub serf_wan_port: Option<i32>,
    /// `-advertise-wan`: `advertise_addr_wan`.
    pub advertise_wan: Option<String>,
    /// `-join-wan`: `start_join_wan`.
    pub join_wan: Vec<String>,
    /// `-retry-join-wan`: appended to `retry_join_wan`.
    pub retry_join_wan: Vec<String>,
    /// `-retry-interval-wan`, `-retry-max-wan`.
    pub retry_interval_wan: Option<String>,
    pub retry_max_wan: Option<u32>,
    pub log_level: Option<String>,
    pub ui: bool,
    pub retry_join: Vec<String>,
    pub retry_interval: Option<String>,
    /// `-join`: Consul's `start_join`.
    pub join: Vec<String>,
    pub retry_max: Option<u32>,
    /// `-rejoin`: `rejoin_after_leave`.
    pub rejoin: bool,
    /// `-domain`.
    pub domain: Option<String>,
    /// `-alt-domain`.
    pub alt_domain: Option<String>,
    /// `-recursor`, repeatable: appended to the files' `recursors`.
    pub recursors: Vec<String>,
    /// `-encrypt`: the gossip encryption key.
    pub encrypt: Option<String>,
    /// `-log-file`, `-log-rotate-bytes`, `-log-rotate-duration`,
    /// `-log-rotate-max-files`, `-log-json`, `-syslog` (`enable_syslog`).
    pub log_file: Option<String>,
    pub log_rotate_bytes: Option<u64>,
    pub log_rotate_duration: Option<String>,
    pub log_rotate_max_files: Option<i64>,
    pub log_json: bool,
    pub syslog: bool,
}

impl Flags {
    /// The flags as one config source in Consul's key names (`-node` is
    /// `node_name`, `-http-port` is `ports.http`, `-ui` is `ui_config.enabled`,
    /// …), merged over every file. `-retry-join` is appended to the files'
    /// `retry_join`, as Consul does. Each flag's value is checked as a file's
    /// would be.
    ///
    /// # Errors
    /// [`ConfigError::Flag`] naming the first flag with a bad value.
    pub(super) fn source(&self) -> Result<Value, ConfigError> {
        let mut tree = Value::Object(Map::new());
        let mut add = |flag: &'static str, fragment: Value| -> Result<(), ConfigError> {
            file::read(&fragment).map_err(|p| ConfigError::Flag {
                flag,
                message: p.message,
            })?;
            merge(&mut tree, fragment);
            Ok(())
        };
        if let Some(v) = self.server {
            add("-server", json!({ "server": v }))?;
        }
        if let Some(v) = self.bootstrap_expect {
            add("-bootstrap-expect", json!({ "bootstrap_expect": v }))?;
        }
        if let Some(dir) = &self.data_dir {
            let Some(dir) = dir.to_str() else {
                return Err(ConfigError::Flag {
                    flag: "-data-dir",
                    message: "the path is not valid UTF-8".into(),
                });
            };
            add("-data-dir", json!({ "data_dir": dir }))?;
        }
        let strings = [
            ("-node", "node_name", &self.node),
            ("-datacenter", "datacenter", &self.datacenter),
            ("-bind", "bind_addr", &self.bind),
            ("-advertise", "advertise_addr", &self.advertise),
            ("-client", "client_addr", &self.client),
            ("-log-level", "log_level", &self.log_level),
            ("-retry-interval", "retry_interval", &self.retry_interval),
            ("-advertise-wan", "advertise_addr_wan", &self.advertise_wan),
            (
                "-retry-interval-wan",
                "retry_interval_wan",
                &self.retry_interval_wan,
            ),
            ("-domain", "domain", &self.domain),
            ("-alt-domain", "alt_domain", &self.alt_domain),
            ("-encrypt", "encrypt", &self.encrypt),
        ];
        for (flag, key, value) in strings {
            if let Some(v) = value {
                add(flag, json!({ key: v }))?;
            }
        }
        let ports = [
            ("-http-port", "http", self.http_port),
            ("-dns-port", "dns", self.dns_port),
            ("-server-port", "server", self.server_port),
            ("-serf-lan-port", "serf_lan", self.serf_lan_port),
            ("-serf-wan-port", "serf_wan", self.serf_wan_port),
        ];
        for (flag, key, value) in ports {
            if let Some(v) = value {
                add(flag, json!({ "ports": { key: v } }))?;
            }
        }
        if self.ui {
            add("-ui", json!({ "ui_config": { "enabled": true } }))?;
        }
        if !self.retry_join.is_empty() {
            add("-retry-join", json!({ "retry_join": self.retry_join }))?;
        }
        if !self.join.is_empty() {
            add("-join", json!({ "start_join": self.join }))?;
        }
        if let Some(v) = self.retry_max {
            add("-retry-max", json!({ "retry_max": v }))?;
        }
        if !self.retry_join_wan.is_empty() {
            add(
                "-retry-join-wan",
                json!({ "retry_join_wan": self.retry_join_wan }),
            )?;
        }
        if !self.join_wan.is_empty() {
            add("-join-wan", json!({ "start_join_wan": self.join_wan }))?;
        }
        if let Some(v) = self.retry_max_wan {
            add("-retry-max-wan", json!({ "retry_max_wan": v }))?;
        }
        if !self.recursors.is_empty() {
            add("-recursor", json!({ "recursors": self.recursors }))?;
        }
        if self.rejoin {
            add("-rejoin", json!({ "rejoin_after_leave": true }))?;
        }
        if let Some(v) = &self.log_file {
            add("-log-file", json!({ "log_file": v }))?;
        }
        if let Some(v) = self.log_rotate_bytes {
            add("-log-rotate-bytes", json!({ "log_rotate_bytes": v }))?;
        }
        if let Some(v) = &self.log_rotate_duration {
            add("-log-rotate-duration", json!({ "log_rotate_duration": v }))?;
        }
        if let Some(v) = self.log_rotate_max_files {
            add(
                "-log-rotate-max-files",
                json!({ "log_rotate_max_files": v }),
            )?;
        }
        if self.log_json {
            add("-log-json", json!({ "log_json": true }))?;
        }
        if self.syslog {
            add("-syslog", json!({ "enable_syslog": true }))?;
        }
        Ok(tree)
    }
}

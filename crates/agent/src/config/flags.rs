//! The agent's command-line flags, as Consul names them. Each is optional:
//! a flag that is given overrides every config file.

use std::path::PathBuf;

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
    pub log_level: Option<String>,
    pub ui: bool,
    pub retry_join: Vec<String>,
    pub retry_interval: Option<String>,
}

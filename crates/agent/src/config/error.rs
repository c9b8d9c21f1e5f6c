//! Why a configuration could not be loaded. Every message is one lower-case
//! line that names the file, key or flag at fault and what was expected, so an
//! operator can fix it without reading our source. Never used for warnings:
//! those are plain strings in `Loaded::warnings`.

use std::io;
use std::net::IpAddr;
use std::path::PathBuf;

/// A configuration that cannot be used; the agent must not start with it.
///
/// File and flag errors are found before anything is merged, so they always
/// name their origin; the rules that span several keys (`bootstrap_expect`
/// with `server`, `data_dir`, …) are checked on the merged result, as Consul
/// does in its `Builder.Validate`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A `-config-file` that does not exist.
    #[error("config file {} does not exist", path.display())]
    FileNotFound { path: PathBuf },
    /// A `-config-file` that is a directory (that is `-config-dir`'s job).
    #[error("config file {} is a directory; use -config-dir for directories", path.display())]
    FileIsDirectory { path: PathBuf },
    /// A `-config-dir` that does not exist.
    #[error("config dir {} does not exist", path.display())]
    DirNotFound { path: PathBuf },
    /// A `-config-dir` that is not a directory.
    #[error("config dir {} is not a directory", path.display())]
    NotADirectory { path: PathBuf },
    /// A file or directory that exists but could not be read.
    #[error("reading {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    /// A file larger than a config file can sensibly be.
    #[error("config file {}: larger than {limit} bytes", path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    /// A `-config-file` whose name ends in neither `.json` nor `.hcl`.
    #[error("config file {}: the name must end in .json or .hcl", path.display())]
    UnknownFormat { path: PathBuf },
    /// A file that is not valid JSON or HCL; `message` says where.
    #[error("config file {}: {message}", path.display())]
    Syntax { path: PathBuf, message: String },
    /// A file whose top level is not an object of keys.
    #[error("config file {}: the top level must be an object of keys, got {found}", path.display())]
    NotAnObject { path: PathBuf, found: &'static str },
    /// A key of a file with a wrong type or a bad value.
    #[error("config file {}: {key}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        key: String,
        message: String,
    },
    /// A flag with a bad value.
    #[error("{flag}: {message}")]
    Flag { flag: &'static str, message: String },
    /// A key that was valid in every source but not once they were merged;
    /// it means a bug in the per-source checks, not in the operator's files.
    #[error("merged configuration: {key}: {message}")]
    Merged { key: String, message: String },
    /// Consul's `'bootstrap = true' requires 'server = true'`.
    /// TLS settings that cannot work together (the message names the keys).
    #[error("{0}")]
    Tls(String),
    /// WAN settings that cannot work (the message names the key).
    #[error("{0}")]
    Wan(String),

    #[error("bootstrap requires server mode")]
    BootstrapWithoutServer,
    /// Consul's `'bootstrap_expect > 0' requires 'server = true'`.
    #[error("bootstrap_expect requires server mode")]
    BootstrapExpectWithoutServer,
    /// Consul's `'bootstrap_expect > 0' not allowed in dev mode`.
    #[error("bootstrap_expect is not allowed in dev mode")]
    BootstrapExpectInDev,
    /// Consul's `'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive`.
    #[error("bootstrap_expect and bootstrap cannot both be set")]
    BootstrapConflict,
    /// Every agent but a `-dev` one keeps state on disk.
    #[error("data_dir cannot be empty (set data_dir or -data-dir, or use -dev)")]
    DataDirMissing,
    /// `data_dir` names something that is not a directory.
    #[error("data_dir {} is not a directory", path.display())]
    DataDirNotADirectory { path: PathBuf },
    /// `data_dir` could not be inspected.
    #[error("checking data_dir {}: {error}", path.display())]
    DataDirUnreadable { path: PathBuf, error: io::Error },
    /// No `node_name` was given and the host name could not be read.
    #[error("node_name cannot be empty, and the host name could not be read to default it")]
    NodeNameMissing,
    /// Consul's `Advertise address cannot be 0.0.0.0, :: or [::]`.
    #[error("advertise_addr cannot be {addr}; advertise an address other nodes can reach")]
    AdvertiseUnspecified { addr: IpAddr },
    /// Two listeners of this agent on the same address and port.
    #[error("{first} and {second} both use {ip} port {port}")]
    PortCollision {
        first: &'static str,
        second: &'static str,
        ip: IpAddr,
        port: u16,
    },
}

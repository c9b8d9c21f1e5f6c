//! Praetor's wire types: Consul's JSON shapes (PascalCase field names) and the
//! Praetor additions (watch events, history). Shared by the agent, the client
//! and the tests; never does I/O.

pub mod acl;
pub mod agent;
pub mod autopilot;
pub mod catalog;
pub mod coordinate;
pub mod duration;
pub mod event;
pub mod keys;
pub mod kv;
pub mod operator;
pub mod query;
pub mod service;
pub mod session;
pub mod snapshot;
pub mod txn;

pub use kv::{KvPair, WatchEvent, WatchOp};

/// Default HTTP port of an agent, as Consul's.
pub const DEFAULT_HTTP_PORT: u16 = 8500;
/// Default DNS port of an agent, as Consul's.
pub const DEFAULT_DNS_PORT: u16 = 8600;
/// Praetor's own version (`Config.PraetorVersion` of `/v1/agent/self`,
/// `praetor version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Consul version whose HTTP API, CLI and config files Praetor
/// follows, reported where Consul reports its version (`Config.Version`
/// of `/v1/agent/self`, `HumanVersion` of `/v1/agent/version`), so clients
/// that check the agent's version (py-consul, consul-template, Nomad,
/// Terraform's provider) treat Praetor as that release. Raise it when
/// Praetor follows a newer Consul's API; never to a version whose
/// endpoints Praetor lacks.
pub const CONSUL_API_VERSION: &str = "1.20.0";
/// The Raft protocol version reported to Consul tools.
pub const RAFT_PROTOCOL: u32 = 3;

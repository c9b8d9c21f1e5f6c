//! Praetor's wire types: Consul's JSON shapes (PascalCase field names) and the
//! Praetor additions (watch events, history). Shared by the agent, the client
//! and the tests; never does I/O.

pub mod acl;
pub mod agent;
pub mod autopilot;
pub mod catalog;
pub mod duration;
pub mod event;
pub mod keys;
pub mod kv;
pub mod operator;
pub mod session;
pub mod snapshot;
pub mod txn;

pub use kv::{KvPair, WatchEvent, WatchOp};

/// Default HTTP port of an agent, as Consul's.
pub const DEFAULT_HTTP_PORT: u16 = 8500;
/// Default DNS port of an agent, as Consul's.
pub const DEFAULT_DNS_PORT: u16 = 8600;
/// The version Praetor reports, in `/v1/agent/self` and `praetor version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The Raft protocol version reported to Consul tools.
pub const RAFT_PROTOCOL: u32 = 3;

//! Everything a Praetor agent runs: configuration, the HTTP API, the DNS
//! interface, metrics, and
//! the server it hosts when it is one. `start` spawns every task.

pub mod acl;
pub mod backend;
pub mod checks;
pub mod cluster;
pub mod config;
pub mod coordinate;
pub mod definition;
pub mod dns;
pub mod error;
pub mod federation;
pub mod host;
pub mod http;
pub mod identity;
pub mod local;
pub mod logs;
pub mod metrics;
pub mod prepared_query;
pub mod start;
pub mod templates;
pub mod version;
pub mod watches;

pub use error::AgentError;
pub use start::{start, Agent};

//! Configuration: Consul's keys from JSON (comments allowed) and HCL files,
//! `-config-file`/`-config-dir` in order, flags on top, checked per source so
//! every error and warning names its file or flag. Owns reading and checking
//! the configuration; never starts anything.

mod error;
mod file;
mod flags;
mod load;
mod merge;
mod nesting;
mod resolve;
mod runtime;
mod setting;
mod source;

pub use error::ConfigError;
pub use flags::Flags;
pub use load::{load, Loaded};
pub use runtime::{
    AclSettings, AclTokens, DnsConfig, DownPolicy, Limits, Port, Ports, RateLimitMode,
    RecursorStrategy, RequestLimits, RuntimeConfig, Soa,
};
pub use source::read_file;

#[cfg(test)]
mod tests;

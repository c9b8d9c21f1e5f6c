//! Configuration: Consul's keys from JSON (comments allowed) and HCL files,
//! `-config-file`/`-config-dir` in order, flags on top.

mod flags;
mod runtime;

pub use flags::Flags;
pub use runtime::{Limits, Port, Ports, RuntimeConfig};

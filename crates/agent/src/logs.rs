//! The agent's logs: one tracing layer turns every event into a [`LogLine`]
//! and hands it to the sinks the configuration names (stderr, a rotating
//! `log_file`, syslog) and to the monitor hub that `GET /v1/agent/monitor`
//! streams from. Lines are in Consul's (hclog's) shape, text or JSON.
//!
//! Dependencies speak one level lower than Praetor's own code (their INFO
//! is our DEBUG) and openraft's warnings about stale messages during an
//! election are DEBUG: a healthy cluster logs nothing above INFO.
//!
//! Logging must never wait on a reader: the monitor hub is a bounded
//! broadcast whose slow receivers lose lines, never block the sender.

mod file;
mod format;
mod layer;
mod monitor;
mod policy;
mod settings;
mod syslog;

pub use file::RotatingFile;
pub use format::{timestamp, LogLine};
pub use layer::{install, Logging};
pub use monitor::{hub, MonitorHub, Next, Subscription};
pub use policy::parse_level;
pub use settings::{LogError, LogSettings};
pub use syslog::Syslog;

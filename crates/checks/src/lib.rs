//! The health check runners an agent runs for its own checks, as Consul's:
//! HTTP, TCP, UDP, TTL, script, gRPC and alias checks.
//!
//! Each check has one owner task, its [`Runner`]: it probes on its interval
//! (the first run staggered randomly, as Consul does), damps flapping with
//! Consul's `success_before_passing` / `failures_before_*` counters and sends
//! an [`Update`] on a bounded channel only when the status or the output
//! changed. Every probe is bounded by the check's timeout, so a hung target
//! stalls only its own check. TTL and alias checks are driven from outside
//! through [`Runner::ttl_update`] and [`Runner::alias_update`].
//!
//! This crate never touches the agent's local state or the catalog: what a
//! status means for a service is the caller's business.

mod alias;
mod damper;
mod definition;
mod error;
mod grpc;
mod http;
mod output;
pub mod process;
mod runner;
mod script;
mod tcp;
mod tls;
mod udp;

pub use alias::{AliasView, AliasedCheck};
pub use definition::{CheckId, Definition, Kind, Status, Update, MIN_INTERVAL};
pub use error::CheckError;
pub use output::{cap_output, DEFAULT_OUTPUT_MAX_SIZE};
pub use runner::{Runner, MAX_INITIAL_STAGGER};
pub use tls::Trust;

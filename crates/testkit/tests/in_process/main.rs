//! Server-layer scenarios on in-process servers (`praetor_testkit::InProcess`):
//! Raft between `praetor_server::Server`s over loopback RPC, with links the
//! test cuts in-process, so partitions need no root and take seconds. What
//! agents, clients and the HTTP API see under a partition stays in the
//! process-level `cluster` suite.
//!
//! Each test starts its own servers on ports no other test holds, so they
//! run in parallel; each ends with `cluster.shutdown()`.

mod partition;

//! Fault suites against the real binary: processes killed with SIGKILL, and
//! what a restarted server must still hold; a linearizability run under a
//! nemesis.

mod disk;
mod durability;
mod linearizable;
mod resources;

//! Fault suites against the real binary: processes killed with SIGKILL, and
//! what a restarted server must still hold.

mod disk;
mod durability;
mod resources;

//! Renders consul-template templates from Praetor's KV store and catalog:
//! what a template is (`spec`), when a changed template renders
//! (`quiesce`), how its output reaches the disk (`output`), the command
//! that runs after it (`command`), and the child process a renderer
//! supervises (`child`) with the environment envconsul gives it (`env`).
//! Shared by `praetor template` and the agent's `template` blocks. The
//! template language itself lives in `praetor-template`; this crate does
//! the I/O around it.

pub mod child;
pub mod command;
pub mod env;
pub mod envconsul;
pub mod output;
pub mod quiesce;
pub mod runner;
pub mod spec;
pub mod watch;

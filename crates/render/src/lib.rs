//! Renders consul-template templates from Praetor's KV store and catalog:
//! what a template is (`spec`), when a changed template renders
//! (`quiesce`), how its output reaches the disk (`output`) and the command
//! that runs after it (`command`). Shared by `praetor template` and the
//! agent's `template` blocks. The template language itself lives in
//! `praetor-template`; this crate does the I/O around it.

pub mod command;
pub mod output;
pub mod quiesce;
pub mod spec;

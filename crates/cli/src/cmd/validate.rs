//! `praetor validate [-quiet] FILE_OR_DIRECTORY...`: Consul's `consul
//! validate`. Loads the files and directories as `praetor agent
//! -config-file`/`-config-dir` would (every file of a directory, the same
//! merge and the same checks) and makes the checks the agent makes before
//! it starts anything (`praetor_agent::start::validate`), without starting
//! anything. Prints `Configuration is valid!` (and the warnings the agent
//! would log) and exits 0, or prints `Config validation failed: …` and
//! exits 1.
//!
//! The arguments are the complete configuration, as Consul requires: a
//! fragment without `data_dir`, say, is refused as the agent would refuse
//! it. Files are loaded before directories, as the agent's flags load them.

use clap::Args;
use praetor_agent::config::{self, Flags};

use super::Failed;
use crate::output;

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// When given, a successful run will produce no output.
    #[arg(long)]
    quiet: bool,
    /// Config files and directories, as the agent would be given them.
    #[arg(value_name = "FILE_OR_DIRECTORY")]
    paths: Vec<std::path::PathBuf>,
}

/// Runs the checks; `Failed` with Consul's wording when they fail.
///
/// # Errors
/// No path given, or a configuration the agent would refuse.
pub fn run(a: &ValidateArgs) -> anyhow::Result<()> {
    if a.paths.is_empty() {
        return Err(Failed("Must specify at least one config file or directory".into()).into());
    }
    let mut flags = Flags::default();
    for p in &a.paths {
        if p.is_dir() {
            flags.config_dirs.push(p.clone());
        } else {
            flags.config_files.push(p.clone());
        }
    }
    let failed = |e: &dyn std::fmt::Display| Failed(format!("Config validation failed: {e}"));
    let loaded = config::load(&flags).map_err(|e| failed(&e))?;
    praetor_agent::start::validate(&loaded.config).map_err(|e| failed(&e))?;
    if !a.quiet {
        for w in &loaded.warnings {
            output::info(w);
        }
        output::line("Configuration is valid!");
    }
    Ok(())
}

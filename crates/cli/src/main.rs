//! `praetor`: the agent and the CLI. (Minimal dispatcher; the full CLI
//! replaces this file.)

mod cmd {
    pub mod agent;
}

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "praetor", version, about = "A Consul-compatible service registry and configuration center")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs an agent.
    Agent(cmd::agent::AgentArgs),
}

/// Consul's single-dash long flags (`-data-dir=x`) become clap's `--data-dir=x`.
fn normalize(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = false;
    for a in args {
        if rest || a == "--" {
            rest = true;
            out.push(a);
        } else if a.len() > 2 && a.starts_with('-') && !a.starts_with("--") && a[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
            out.push(format!("-{a}"));
        } else {
            out.push(a);
        }
    }
    out
}

fn main() {
    let cli = Cli::parse_from(normalize(std::env::args()));
    let result = match cli.command {
        Command::Agent(args) => cmd::agent::run(args),
    };
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

//! `praetor`: the agent and the CLI, with Consul's commands, flags (parsed
//! as Go's `flag` package parses them: see `args`) and output.

mod args;
mod cmd;
mod help;
mod output;

use clap::{CommandFactory as _, FromArgMatches as _, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "praetor",
    version,
    about = "A Consul-compatible service registry and configuration center"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Runs an agent.
    Agent(cmd::agent::AgentArgs),
    /// Reads and writes the KV store.
    #[command(subcommand)]
    Kv(cmd::kv::KvCommand),
    /// Tells the agent to join a cluster through other agents.
    Join(cmd::membership::JoinArgs),
    /// Makes the agent leave the cluster gracefully and shut down.
    Leave(cmd::membership::LeaveArgs),
    /// Forces a member of the cluster to enter the "left" state (-prune: removes it).
    ForceLeave(cmd::membership::ForceLeaveArgs),
    /// Makes the agent load its config files again (as SIGHUP).
    Reload(cmd::membership::ReloadArgs),
    /// Lists the members of the cluster.
    Members(cmd::members::MembersArgs),
    /// Cluster operations (Raft peers).
    #[command(subcommand)]
    Operator(cmd::operator::OperatorCommand),
    /// Saves, restores and inspects snapshots of the cluster's state.
    #[command(subcommand)]
    Snapshot(cmd::snapshot::SnapshotCommand),
    /// Registers and deregisters services with the local agent.
    #[command(subcommand)]
    Services(cmd::catalog::ServicesCommand),
    /// Reads the catalog: services, nodes, datacenters.
    #[command(subcommand)]
    Catalog(cmd::catalog::CatalogCommand),
    /// Fires a user event.
    Event(cmd::event::EventArgs),
    /// Watches a view of the data and runs a handler on every change.
    Watch(cmd::watch::WatchArgs),
    /// Holds a lock (or one of N semaphore slots) while a child process runs.
    Lock(cmd::lock::LockArgs),
    /// Runs a child only while it leads, with a fencing token in its environment.
    Elect(cmd::lock::ElectArgs),
    /// Manages ACL tokens, policies and roles, and the agent's own tokens.
    #[command(subcommand)]
    Acl(cmd::acl::AclCommand),
    /// Prints the agent's debugging information.
    Info(cmd::info::InfoArgs),
    /// Creates a CA and the certificates it signs for TLS.
    #[command(subcommand)]
    Tls(cmd::tls::TlsCommand),
    /// Generates a new gossip encryption key.
    Keygen(cmd::keyring::KeygenArgs),
    /// Manages gossip layer encryption keys.
    Keyring(cmd::keyring::KeyringArgs),
    /// Prints the version.
    Version,
    /// Controls node or service maintenance mode.
    Maint(cmd::maint::MaintArgs),
    /// Checks config files as the agent would, without starting it.
    Validate(cmd::validate::ValidateArgs),
    /// Streams an agent's log lines.
    Monitor(cmd::monitor::MonitorArgs),
    /// Records an agent's state, metrics, logs and tasks into an archive.
    Debug(cmd::debug::DebugArgs),
    /// Runs a command with KV prefixes as its environment; restarts it on changes.
    Envconsul(cmd::envconsul::EnvConsulArgs),
    /// Renders templates from the KV store and the catalog; renders them again on changes.
    Template(cmd::template::TemplateArgs),
    /// Estimates the network round-trip time between two nodes.
    Rtt(cmd::rtt::RttArgs),
}

fn main() {
    // reqwest's rustls backend (praetor-client's HTTPS, the agent's HTTP
    // watch handlers) takes the process's crypto provider: ring, never
    // aws-lc. Nothing has installed one yet, so this cannot lose a race.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let parse = |command: clap::Command| {
        args::normalize(command.clone(), argv.clone())
            .and_then(|argv| command.try_get_matches_from(argv))
            .and_then(|matches| Cli::from_arg_matches(&matches))
    };
    // Help and usage errors in Consul's layout (`-name=<value>`): the text
    // of every command is rendered only when one is needed.
    let parsed = parse(Cli::command()).or_else(|_| parse(help::consul_style(Cli::command())));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            // A usage error exits 1, as Consul's does; -help and -version exit 0.
            if e.use_stderr() {
                output::failure(help::consul_flags(&e.render().to_string()).trim_end());
                std::process::exit(1);
            }
            let _ = e.print();
            std::process::exit(0);
        }
    };
    if !matches!(cli.command, Command::Agent(_)) {
        // A command's output piped into `head` (or any reader that stops
        // early) ends the command quietly, as a Unix tool does, instead of
        // a panic on the broken pipe. The agent keeps ignoring SIGPIPE: a
        // peer that goes away must never kill it.
        // SAFETY: resets one signal's disposition before any thread that
        // could be writing exists; no handler runs Rust code.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    let result = match cli.command {
        Command::Agent(a) => cmd::agent::run(a),
        Command::Tls(c) => cmd::tls::run(c),
        Command::Version => {
            cmd::info::version();
            Ok(())
        }
        Command::Keygen(a) => {
            cmd::keyring::keygen(&a);
            Ok(())
        }
        other => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| {
                rt.block_on(async move {
                    match other {
                        Command::Kv(c) => cmd::kv::run(c).await,
                        Command::Members(a) => cmd::members::run(a).await,
                        Command::Join(a) => cmd::membership::join(a).await,
                        Command::Leave(a) => cmd::membership::leave(a).await,
                        Command::ForceLeave(a) => cmd::membership::force_leave(a).await,
                        Command::Reload(a) => cmd::membership::reload(a).await,
                        Command::Operator(c) => cmd::operator::run(c).await,
                        Command::Snapshot(c) => cmd::snapshot::run(c).await,
                        Command::Watch(a) => cmd::watch::run(a).await,
                        Command::Event(a) => cmd::event::run(a).await,
                        Command::Services(c) => cmd::catalog::services(c).await,
                        Command::Catalog(c) => cmd::catalog::catalog(c).await,
                        Command::Info(a) => cmd::info::info(a).await,
                        Command::Acl(c) => cmd::acl::run(c).await,
                        Command::Lock(a) => cmd::lock::lock(a).await,
                        Command::Elect(a) => cmd::lock::elect(a).await,
                        Command::Keyring(a) => cmd::keyring::keyring(a).await,
                        Command::Maint(a) => cmd::maint::run(a).await,
                        Command::Validate(a) => cmd::validate::run(&a),
                        Command::Monitor(a) => cmd::monitor::run(a).await,
                        Command::Debug(a) => cmd::debug::run(a).await,
                        Command::Envconsul(a) => cmd::envconsul::run(a).await,
                        Command::Template(a) => cmd::template::run(a).await,
                        Command::Rtt(a) => cmd::rtt::run(a).await,
                        Command::Agent(_)
                        | Command::Version
                        | Command::Tls(_)
                        | Command::Keygen(_) => Ok(()),
                    }
                })
            }),
    };
    if let Err(e) = result {
        match e.downcast_ref::<cmd::Failed>() {
            Some(cmd::Failed(msg)) => output::failure(msg),
            None => output::error(&format!("{e:#}")),
        }
        std::process::exit(1);
    }
}

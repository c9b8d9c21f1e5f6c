//! `praetor operator autopilot get-config|set-config|state`, with Consul's
//! flags and output.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use praetor_api::autopilot::{AutopilotState, Millis};

use super::HttpArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum AutopilotCommand {
    /// Displays the current autopilot configuration.
    GetConfig(GetConfigArgs),
    /// Modifies the current autopilot configuration.
    SetConfig(SetConfigArgs),
    /// Displays the current autopilot state.
    State(StateArgs),
}

#[derive(Args, Debug)]
pub struct GetConfigArgs {
    #[command(flatten)]
    http: HttpArgs,
}

#[derive(Args, Debug)]
pub struct SetConfigArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Remove failed servers from the Raft configuration (true|false).
    #[arg(long = "cleanup-dead-servers")]
    cleanup_dead_servers: Option<bool>,
    /// Log entries a server may trail the leader by and be healthy.
    #[arg(long = "max-trailing-logs")]
    max_trailing_logs: Option<u64>,
    /// Cleanup never leaves fewer voters than this.
    #[arg(long = "min-quorum")]
    min_quorum: Option<u64>,
    /// How long a server may go without leader contact and be healthy.
    #[arg(long = "last-contact-threshold", value_parser = duration)]
    last_contact_threshold: Option<Millis>,
    /// How long a new server must be healthy before it votes.
    #[arg(long = "server-stabilization-time", value_parser = duration)]
    server_stabilization_time: Option<Millis>,
    /// Enterprise in Consul: stored, not acted on.
    #[arg(long = "redundancy-zone-tag")]
    redundancy_zone_tag: Option<String>,
    /// Enterprise in Consul: stored, not acted on (true|false).
    #[arg(long = "disable-upgrade-migration")]
    disable_upgrade_migration: Option<bool>,
    /// Enterprise in Consul: stored, not acted on.
    #[arg(long = "upgrade-version-tag")]
    upgrade_version_tag: Option<String>,
}

#[derive(Args, Debug)]
pub struct StateArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Output format: pretty or json.
    #[arg(long, default_value = "pretty")]
    format: String,
}

fn duration(s: &str) -> Result<Millis, String> {
    praetor_api::duration::parse(s)
        .map(|d| Millis(d.as_millis() as u64))
        .map_err(|e| e.to_string())
}

fn go(m: Millis) -> String {
    praetor_api::duration::format(std::time::Duration::from_millis(m.0))
}

pub async fn run(c: AutopilotCommand) -> anyhow::Result<()> {
    match c {
        AutopilotCommand::GetConfig(a) => {
            let c = a.http.client()?.autopilot_get_config().await?;
            output::text(&format!(
                "CleanupDeadServers = {}\nLastContactThreshold = {}\nMaxTrailingLogs = {}\nMinQuorum = {}\nServerStabilizationTime = {}\nRedundancyZoneTag = {:?}\nDisableUpgradeMigration = {}\nUpgradeVersionTag = {:?}\n",
                c.cleanup_dead_servers,
                go(c.last_contact_threshold),
                c.max_trailing_logs,
                c.min_quorum,
                go(c.server_stabilization_time),
                c.redundancy_zone_tag,
                c.disable_upgrade_migration,
                c.upgrade_version_tag,
            ));
            Ok(())
        }
        AutopilotCommand::SetConfig(a) => {
            let client = a.http.client()?;
            let mut c = client.autopilot_get_config().await?;
            let before = c.clone();
            if let Some(v) = a.cleanup_dead_servers {
                c.cleanup_dead_servers = v;
            }
            if let Some(v) = a.max_trailing_logs {
                c.max_trailing_logs = v;
            }
            if let Some(v) = a.min_quorum {
                c.min_quorum = v;
            }
            if let Some(v) = a.last_contact_threshold {
                c.last_contact_threshold = v;
            }
            if let Some(v) = a.server_stabilization_time {
                c.server_stabilization_time = v;
            }
            if let Some(v) = a.redundancy_zone_tag {
                c.redundancy_zone_tag = v;
            }
            if let Some(v) = a.disable_upgrade_migration {
                c.disable_upgrade_migration = v;
            }
            if let Some(v) = a.upgrade_version_tag {
                c.upgrade_version_tag = v;
            }
            if c == before {
                output::line("Configuration updated!");
                return Ok(());
            }
            let stored = client
                .autopilot_set_config(&c, Some(before.modify_index))
                .await
                .context("Error setting Autopilot configuration")?;
            if !stored {
                bail!("Configuration could not be atomically updated, please try again");
            }
            output::line("Configuration updated!");
            Ok(())
        }
        AutopilotCommand::State(a) => {
            let state = a.http.client()?.autopilot_state().await?;
            match a.format.as_str() {
                "json" => output::line(&serde_json::to_string_pretty(&state)?),
                "pretty" => output::text(&pretty(&state)),
                other => bail!("Invalid format {other:?}: expected pretty or json"),
            }
            Ok(())
        }
    }
}

/// Consul's text form of the autopilot state.
fn pretty(s: &AutopilotState) -> String {
    let mut out = format!(
        "Healthy:                      {}\nFailure Tolerance:            {}\nOptimistic Failure Tolerance: {}\nLeader:                       {}\nVoters:\n",
        s.healthy, s.failure_tolerance, s.optimistic_failure_tolerance, s.leader
    );
    for v in &s.voters {
        out.push_str(&format!("   {v}\n"));
    }
    out.push_str("\nServers:\n");
    for (id, srv) in &s.servers {
        out.push_str(&format!(
            "   {id}\n      Name:            {}\n      Address:         {}\n      Version:         {}\n      Status:          {}\n      Node Type:       {}\n      Node Status:     {}\n      Healthy:         {}\n      Last Contact:    {}\n      Last Term:       {}\n      Last Index:      {}\n\n",
            srv.name,
            srv.address,
            srv.version,
            srv.status,
            srv.node_type,
            srv.node_status,
            srv.healthy,
            go(srv.last_contact),
            srv.last_term,
            srv.last_index,
        ));
    }
    out
}

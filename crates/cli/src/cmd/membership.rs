//! `praetor join`, `leave` and `force-leave`: changing the gossip
//! membership through an agent, with Consul's messages; and `praetor
//! reload`, which has the agent load its config files again.

use anyhow::bail;
use clap::Args;

use super::HttpArgs;
use crate::output;

#[derive(Args, Debug)]
pub struct JoinArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Join the WAN pool through servers of another datacenter (servers only).
    #[arg(long)]
    wan: bool,
    /// Addresses of agents to join (`ip`, `ip:port` or a host name).
    #[arg(required = true)]
    addresses: Vec<String>,
}

#[derive(Args, Debug)]
pub struct LeaveArgs {
    #[command(flatten)]
    http: HttpArgs,
}

#[derive(Args, Debug)]
pub struct ReloadArgs {
    #[command(flatten)]
    http: HttpArgs,
}

#[derive(Args, Debug)]
pub struct ForceLeaveArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Remove the node from the member list at once, not after the reap
    /// timeout (Consul's `-prune`).
    #[arg(long)]
    prune: bool,
    /// The name of the node to force to leave.
    node: String,
}

/// Joins every address; succeeds when at least one join did, as Consul.
pub async fn join(a: JoinArgs) -> anyhow::Result<()> {
    let client = a.http.client()?;
    let mut joined = 0;
    let mut last = None;
    for addr in &a.addresses {
        let joined_one = if a.wan {
            client.agent_join_wan(addr).await
        } else {
            client.agent_join(addr).await
        };
        match joined_one {
            Ok(()) => joined += 1,
            Err(e) => last = Some(format!("{addr}: {e}")),
        }
    }
    if joined == 0 {
        bail!("Error joining address(es): {}", last.unwrap_or_default());
    }
    output::line(&format!(
        "Successfully joined cluster by contacting {joined} nodes."
    ));
    Ok(())
}

pub async fn leave(a: LeaveArgs) -> anyhow::Result<()> {
    a.http.client()?.agent_leave().await?;
    output::line("Graceful leave complete");
    Ok(())
}

/// `PUT /v1/agent/reload`; Consul's message on success.
pub async fn reload(a: ReloadArgs) -> anyhow::Result<()> {
    a.http
        .client()?
        .agent_reload()
        .await
        .map_err(|e| anyhow::anyhow!("Error reloading: {e}"))?;
    output::line("Configuration reload triggered");
    Ok(())
}

pub async fn force_leave(a: ForceLeaveArgs) -> anyhow::Result<()> {
    a.http
        .client()?
        .agent_force_leave(&a.node, a.prune)
        .await
        .map_err(|e| anyhow::anyhow!("Error force leaving: {e}"))?;
    Ok(())
}

//! `praetor operator raft list-peers|remove-peer|transfer-leader` and
//! `praetor operator autopilot …` (`autopilot.rs`), with Consul's output.

use anyhow::bail;
use clap::{Args, Subcommand};

use super::HttpArgs;
use crate::output;

#[derive(Subcommand, Debug)]
pub enum OperatorCommand {
    /// Raft operations.
    #[command(subcommand)]
    Raft(RaftCommand),
    /// Autopilot: its configuration and state.
    #[command(subcommand)]
    Autopilot(super::autopilot::AutopilotCommand),
}

#[derive(Subcommand, Debug)]
pub enum RaftCommand {
    /// Lists the servers of the Raft configuration.
    ListPeers(ListPeersArgs),
    /// Removes a server from the Raft configuration.
    RemovePeer(RemovePeerArgs),
    /// Hands leadership to another server (-id), or to any other.
    TransferLeader(TransferLeaderArgs),
}

#[derive(Args, Debug)]
pub struct TransferLeaderArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The new leader's node ID (or Raft id).
    #[arg(long)]
    id: Option<String>,
}

#[derive(Args, Debug)]
pub struct ListPeersArgs {
    #[command(flatten)]
    http: HttpArgs,
}

#[derive(Args, Debug)]
pub struct RemovePeerArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The server's node ID (or Raft id).
    #[arg(long)]
    id: Option<String>,
    /// The server's RPC address, IP:port.
    #[arg(long)]
    address: Option<String>,
}

pub async fn run(c: OperatorCommand) -> anyhow::Result<()> {
    let c = match c {
        OperatorCommand::Raft(c) => c,
        OperatorCommand::Autopilot(c) => return super::autopilot::run(c).await,
    };
    match c {
        RaftCommand::ListPeers(a) => {
            let cfg = a
                .http
                .client()?
                .operator_raft_configuration(a.http.stale)
                .await?;
            let mut rows = vec![["Node", "ID", "Address", "State", "Voter", "RaftProtocol"]
                .map(String::from)
                .to_vec()];
            for s in cfg.servers {
                rows.push(vec![
                    s.node,
                    s.id,
                    s.address,
                    if s.leader { "leader" } else { "follower" }.to_owned(),
                    s.voter.to_string(),
                    s.protocol_version,
                ]);
            }
            output::text(&output::columns(&rows));
            Ok(())
        }
        RaftCommand::RemovePeer(a) => {
            if a.id.is_some() == a.address.is_some() {
                bail!("Exactly one of -id or -address must be given");
            }
            a.http
                .client()?
                .operator_raft_remove_peer(a.id.as_deref(), a.address.as_deref())
                .await?;
            let (kind, value) = match (a.id, a.address) {
                (Some(id), _) => ("id", id),
                (None, addr) => ("address", addr.unwrap_or_default()),
            };
            output::line(&format!("Removed peer with {kind} {value:?}"));
            Ok(())
        }
        RaftCommand::TransferLeader(a) => {
            a.http
                .client()?
                .operator_raft_transfer_leader(a.id.as_deref())
                .await?;
            output::line("Success");
            Ok(())
        }
    }
}

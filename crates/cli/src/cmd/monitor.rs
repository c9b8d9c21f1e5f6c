//! `praetor monitor`: follows an agent's log lines (`GET /v1/agent/monitor`)
//! until SIGINT or SIGTERM (exit 0) or until the agent ends the stream
//! (exit 1), as Consul's `monitor` does. The level may be more verbose than
//! the agent's own.

use anyhow::Context as _;
use clap::Args;
use futures::StreamExt as _;

use super::{Failed, HttpArgs};
use crate::output;

#[derive(Args, Debug)]
pub struct MonitorArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Log level of the agent: trace, debug, info, warn or error.
    #[arg(long = "log-level", default_value = "INFO")]
    log_level: String,
    /// Output logs in JSON format.
    #[arg(long = "log-json")]
    log_json: bool,
}

/// What Consul prints when the agent ends the stream.
const ENDED: &str = "Remote side ended the monitor! This usually means that the\nremote side has exited or crashed.";

/// Runs the command.
///
/// # Errors
/// The agent cannot be reached or refuses (a bad level, no agent:read), or
/// it ended the stream.
pub async fn run(args: MonitorArgs) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let client = args.http.client()?;
    let stream = client
        .agent_monitor(&args.log_level, args.log_json)
        .await
        .map_err(|e| Failed(format!("Error starting monitor: {e}")))?;
    let mut stream = std::pin::pin!(stream);
    loop {
        tokio::select! {
            _ = int.recv() => return Ok(()),
            _ = term.recv() => return Ok(()),
            item = stream.next() => match item {
                Some(Ok(line)) => output::raw(line.as_bytes()),
                Some(Err(_)) | None => return Err(Failed(ENDED.into()).into()),
            },
        }
    }
}

//! `praetor watch -type=TYPE [options] [HANDLER]`: Consul's watches. A
//! chain of blocking queries; each time the result changes the handler (a
//! shell command) runs with the result's JSON on stdin and `CONSUL_INDEX`
//! in its environment. Without a handler the result is printed once.

use std::io::Write as _;

use anyhow::Context as _;
use clap::Args;
use praetor_client::watch::WatchSpec;
use serde_json::Value;

use super::HttpArgs;
use crate::output;

#[derive(Args, Debug)]
pub struct WatchArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// key, keyprefix, services, nodes, service, checks or event.
    #[arg(long = "type")]
    kind: String,
    /// The event name (type event).
    #[arg(long)]
    name: Option<String>,
    /// The key (type key).
    #[arg(long)]
    key: Option<String>,
    /// The prefix (type keyprefix).
    #[arg(long)]
    prefix: Option<String>,
    /// The service (types service and checks).
    #[arg(long)]
    service: Option<String>,
    /// The check state (type checks, instead of a service).
    #[arg(long)]
    state: Option<String>,
    /// A tag the service instances must have (type service).
    #[arg(long)]
    tag: Option<String>,
    /// Only passing instances (type service).
    #[arg(long)]
    passingonly: bool,
    /// The command to run on each change (through `sh -c`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    handler: Vec<String>,
}

pub async fn run(a: WatchArgs) -> anyhow::Result<()> {
    let spec = WatchSpec {
        kind: a.kind.clone(),
        key: a.key.clone(),
        prefix: a.prefix.clone(),
        service: a.service.clone(),
        tag: a.tag.clone(),
        passingonly: a.passingonly,
        state: a.state.clone(),
        name: a.name.clone(),
    };
    let client = a.http.client()?;
    let mut failed: Option<anyhow::Error> = None;
    spec.run(&client, a.http.query(), |result, index| {
        if a.handler.is_empty() {
            output::text(&format!(
                "{}\n",
                serde_json::to_string_pretty(&result).unwrap_or_default()
            ));
            return false;
        }
        if let Err(e) = invoke(&a.handler, &result, index) {
            failed = Some(e);
            return false;
        }
        true
    })
    .await?;
    failed.map_or(Ok(()), Err)
}

/// Runs the handler with the result on stdin; its failure is reported but
/// does not end the watch, as in Consul.
fn invoke(handler: &[String], result: &Value, index: u64) -> anyhow::Result<()> {
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg(handler.join(" "))
        .env("CONSUL_INDEX", index.to_string())
        .stdin(std::process::Stdio::piped())
        .spawn()
        .context("starting the handler")?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(&serde_json::to_vec(result)?);
    }
    let status = child.wait().context("waiting for the handler")?;
    if !status.success() {
        output::error(&format!(
            "handler {:?} exited with {status}",
            handler.join(" ")
        ));
    }
    Ok(())
}

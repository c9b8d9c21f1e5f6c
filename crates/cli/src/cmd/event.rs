//! `praetor event -name=NAME [-node=] [-service=] [-tag=] [PAYLOAD]`: fires
//! a user event, with Consul's output.

use clap::Args;

use super::HttpArgs;
use crate::output;

#[derive(Args, Debug)]
pub struct EventArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// The event's name.
    #[arg(long)]
    name: String,
    /// A regular expression nodes must match to act on it.
    #[arg(long)]
    node: Option<String>,
    /// A regular expression services must match to act on it.
    #[arg(long)]
    service: Option<String>,
    /// A regular expression tags must match (with -service).
    #[arg(long)]
    tag: Option<String>,
    /// The payload.
    payload: Option<String>,
}

pub async fn run(a: EventArgs) -> anyhow::Result<()> {
    if a.name.is_empty() {
        anyhow::bail!("Event name must be specified");
    }
    let mut filters = Vec::new();
    for (k, v) in [("node", &a.node), ("service", &a.service), ("tag", &a.tag)] {
        if let Some(v) = v {
            filters.push((k, v.clone()));
        }
    }
    let payload = a.payload.unwrap_or_default().into_bytes();
    let e = a
        .http
        .client()?
        .event_fire(&a.name, payload, &filters)
        .await?;
    output::line(&format!("Event ID: {}", e.id));
    Ok(())
}

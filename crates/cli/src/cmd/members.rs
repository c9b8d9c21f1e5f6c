//! `praetor members`: the gossip members an agent sees, in Consul's columns.

use clap::Args;
use praetor_api::agent::{member_status, Member};

use super::HttpArgs;
use crate::output;

#[derive(Args, Debug)]
pub struct MembersArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// Print every tag of every member.
    #[arg(long)]
    detailed: bool,
    /// Only members whose status matches this regular expression.
    #[arg(long)]
    status: Option<String>,
    /// The WAN pool: the servers of every federated datacenter (ask a server).
    #[arg(long)]
    wan: bool,
}

/// Consul's table: Node, Address, Status, Type, Build, Protocol, DC, Partition, Segment.
pub fn table(members: &[Member]) -> String {
    let mut rows = vec![[
        "Node",
        "Address",
        "Status",
        "Type",
        "Build",
        "Protocol",
        "DC",
        "Partition",
        "Segment",
    ]
    .map(String::from)
    .to_vec()];
    for m in members {
        let server = m.tags.get("role").is_some_and(|r| r == "consul");
        let tag = |k: &str| m.tags.get(k).cloned().unwrap_or_default();
        let build = tag("build");
        rows.push(vec![
            m.name.clone(),
            format!("{}:{}", m.addr, m.port),
            member_status::name(m.status).to_owned(),
            if server { "server" } else { "client" }.to_owned(),
            build.split(':').next().unwrap_or("").to_owned(),
            tag("vsn"),
            tag("dc"),
            "default".to_owned(),
            if server { "<all>" } else { "<default>" }.to_owned(),
        ]);
    }
    output::columns(&rows)
}

fn detailed(members: &[Member]) -> String {
    let mut rows = vec![["Node", "Address", "Status", "Tags"]
        .map(String::from)
        .to_vec()];
    for m in members {
        let tags: Vec<String> = m.tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
        rows.push(vec![
            m.name.clone(),
            format!("{}:{}", m.addr, m.port),
            member_status::name(m.status).to_owned(),
            tags.join(","),
        ]);
    }
    output::columns(&rows)
}

pub async fn run(a: MembersArgs) -> anyhow::Result<()> {
    let client = a.http.client()?;
    let mut members = if a.wan {
        let wan = client.agent_members_wan().await?;
        // A server's WAN pool always holds the server itself.
        if wan.is_empty() {
            anyhow::bail!(
                "this agent is not a server: only servers are in the WAN pool (ask a server with -http-addr)"
            );
        }
        wan
    } else {
        client.agent_members().await?
    };
    if let Some(re) = &a.status {
        let re = regex_lite::Regex::new(re)
            .map_err(|e| anyhow::anyhow!("invalid -status regular expression: {e}"))?;
        members.retain(|m| re.is_match(member_status::name(m.status)));
    }
    members.sort_by(|a, b| a.name.cmp(&b.name));
    output::text(&if a.detailed {
        detailed(&members)
    } else {
        table(&members)
    });
    Ok(())
}

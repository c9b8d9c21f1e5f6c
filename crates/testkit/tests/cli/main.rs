//! The `praetor` CLI end to end against a running dev agent: Consul's
//! commands, flags, environment variables and output formats, and errors on
//! stderr with exit code 1. (The formatting itself is unit-tested in the CLI
//! crate; these run the binary as a user's shell would.)

mod acl;
mod commands;
mod envconsul;
mod flags;
mod https;
mod keyring;
mod kv;
mod logs;
mod operate;
mod operator;
mod template;
mod tls;
mod watch;

use praetor_testkit::{AgentProcess, Cli, CliOutput, Loopback};

/// A dev agent on its own loopback address, once its node is in the
/// catalog (a session, and so `lock`, needs it there).
async fn dev_agent() -> anyhow::Result<(AgentProcess, Loopback)> {
    praetor_testkit::init_tracing();
    let lo = Loopback::allocate()?;
    let agent = AgentProcess::dev(&lo)?.start().await?;
    let url = agent.url("/v1/catalog/nodes");
    praetor_testkit::wait_for(
        praetor_testkit::secs(10),
        "the agent's node in the catalog",
        || {
            let (http, url) = (agent.http(), &url);
            async move {
                let body = http
                    .get(url)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?
                    .text()
                    .await
                    .map_err(|e| e.to_string())?;
                match serde_json::from_str::<serde_json::Value>(&body) {
                    Ok(serde_json::Value::Array(nodes)) if !nodes.is_empty() => Ok(()),
                    _ => Err(body),
                }
            }
        },
    )
    .await?;
    Ok((agent, lo))
}

/// `praetor ARGS` with `CONSUL_HTTP_ADDR` pointing at `agent`.
fn cli(agent: &AgentProcess, args: &[&str]) -> Cli {
    Cli::new(args.iter().copied()).env("CONSUL_HTTP_ADDR", &agent.http_addr())
}

/// Runs `praetor ARGS` against `agent`.
#[track_caller]
fn praetor(agent: &AgentProcess, args: &[&str]) -> CliOutput {
    cli(agent, args).run().expect("the CLI ran to completion")
}

/// Runs `praetor ARGS` against `agent` with `input` on stdin.
#[track_caller]
fn praetor_stdin(agent: &AgentProcess, args: &[&str], input: &[u8]) -> CliOutput {
    cli(agent, args)
        .stdin(input)
        .run()
        .expect("the CLI ran to completion")
}

/// The value of `key` over HTTP (`?raw`), or `None` on 404.
async fn raw(agent: &AgentProcess, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
    let r = agent
        .http()
        .get(agent.url(&format!("/v1/kv/{key}?raw")))
        .send()
        .await?;
    if r.status() == 404 {
        return Ok(None);
    }
    Ok(Some(r.error_for_status()?.bytes().await?.to_vec()))
}

/// The `ModifyIndex` line of `kv get -detailed`.
fn modify_index(detailed: &str) -> u64 {
    detailed
        .lines()
        .find_map(|l| l.strip_prefix("ModifyIndex"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ModifyIndex in:\n{detailed}"))
}

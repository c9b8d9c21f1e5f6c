//! `praetor agent` as a process: how it starts, stops and reloads on
//! signals, and how it reads its flags and config files.

mod config;
mod hold;
mod lifecycle;
mod limits;
mod syslog;
mod watch_handlers;

use praetor_testkit::AgentProcess;
use serde_json::Value;

/// `GET /v1/agent/self`.
async fn agent_self(agent: &AgentProcess) -> anyhow::Result<Value> {
    Ok(agent
        .http()
        .get(agent.url("/v1/agent/self"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// `PUT /v1/kv/<key>` answered `true`.
async fn put(agent: &AgentProcess, key: &str, value: &str) -> anyhow::Result<()> {
    let r = agent
        .http()
        .put(agent.url(&format!("/v1/kv/{key}")))
        .body(value.to_owned())
        .send()
        .await?;
    let (status, body) = (r.status(), r.text().await?);
    anyhow::ensure!(
        status == 200 && body.trim() == "true",
        "PUT {key}: {status} {body}"
    );
    Ok(())
}

/// `GET /v1/kv/<key>?raw`.
async fn get_raw(agent: &AgentProcess, key: &str) -> anyhow::Result<String> {
    let r = agent
        .http()
        .get(agent.url(&format!("/v1/kv/{key}?raw")))
        .send()
        .await?
        .error_for_status()?;
    Ok(r.text().await?)
}

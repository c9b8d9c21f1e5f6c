//! The agent's `template` blocks: consul-template's templates rendered by
//! the agent itself (`praetor_render::runner`), so a host runs one process
//! instead of an agent and a consul-template beside it. The blocks are
//! consul-template's (`source` or `contents`, `destination`, `command`,
//! `command_timeout`, `perms`, `backup`, `wait`, delimiters,
//! `error_on_missing_key`), checked when the config loads (a bad block or a
//! template that does not parse stops the start, naming it). The runner
//! reads the agent's own HTTP API on loopback with the agent's token (then
//! the default token); a render error is logged and the runner starts
//! again after a back-off, so one bad value never stops the agent.

use std::net::SocketAddr;
use std::time::Duration;

use praetor_render::runner::{self, RunConfig};
use praetor_render::spec::TemplateSpec;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::config::RuntimeConfig;
use crate::error::AgentError;

/// The longest pause before a failed runner starts again.
const MAX_RESTART: Duration = Duration::from_secs(60);

/// Reads and checks the `template` blocks of the merged config (one block,
/// several in one file, or a list), parsing each template.
///
/// # Errors
/// `Template` naming the block or the template and what is wrong.
pub fn from_config(raw: &Value) -> Result<Vec<TemplateSpec>, AgentError> {
    let blocks: Vec<&Value> = match raw.get("template") {
        None => return Ok(Vec::new()),
        Some(Value::Array(list)) => list.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        Some(other) => {
            return Err(AgentError::Template(format!(
                "template: expected a block, got {other}"
            )))
        }
    };
    let specs = blocks
        .into_iter()
        .map(TemplateSpec::from_block)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AgentError::Template(e.to_string()))?;
    runner::load(&specs).map_err(|e| AgentError::Template(e.to_string()))?;
    Ok(specs)
}

/// Where the runner reaches the agent: its first HTTP listener, on
/// loopback when it listens on every address.
pub fn agent_url(http: &[SocketAddr]) -> Option<String> {
    let addr = http.first()?;
    let ip = if addr.ip().is_unspecified() {
        match addr {
            SocketAddr::V4(_) => std::net::IpAddr::from([127, 0, 0, 1]),
            SocketAddr::V6(_) => std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        }
    } else {
        addr.ip()
    };
    Some(format!("http://{}", SocketAddr::new(ip, addr.port())))
}

/// Runs the templates until `stop`.
pub async fn run(
    specs: Vec<TemplateSpec>,
    url: String,
    cfg: RuntimeConfig,
    stop: CancellationToken,
) {
    let token = cfg
        .acl
        .tokens
        .agent
        .clone()
        .or_else(|| cfg.acl.tokens.default.clone());
    let client = praetor_client::Client::new(&url, token);
    let run_cfg = RunConfig {
        templates: specs,
        wait: None,
        once: false,
        dry: false,
        exec: None,
    };
    let mut pause = Duration::from_secs(1);
    loop {
        // The runner ends only with an error: no signal reaches it here.
        let (_keep, signals) = tokio::sync::mpsc::channel(1);
        let ended = tokio::select! {
            r = runner::run(&run_cfg, client.clone(), Default::default(), signals) => r,
            () = stop.cancelled() => return,
        };
        match ended {
            Ok(code) => tracing::warn!(code, "templates: the runner ended"),
            Err(e) => tracing::error!(error = %e, retry = ?pause, "templates: rendering failed"),
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            () = stop.cancelled() => return,
        }
        pause = (pause * 2).min(MAX_RESTART);
    }
}

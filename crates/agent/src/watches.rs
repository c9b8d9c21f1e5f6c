//! The agent config's `watches`: each runs a watch plan against this
//! agent's own HTTP API and hands every change to its handler, a command
//! (`args`, run without a shell, the JSON on stdin and `CONSUL_INDEX` in
//! its environment) or an HTTP endpoint (`http_handler_config`: `path`,
//! `method`, `header`, `timeout`), as Consul's agent does.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use praetor_client::watch::WatchSpec;
use serde::Deserialize;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::AgentError;

/// One configured watch.
#[derive(Debug, Clone, Deserialize)]
pub struct WatchConfig {
    #[serde(flatten)]
    pub spec: WatchSpec,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub handler_type: Option<String>,
    #[serde(default)]
    pub http_handler_config: Option<HttpHandler>,
}

/// Where an HTTP handler sends each change.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpHandler {
    pub path: String,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub header: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub timeout: Option<String>,
}

/// Reads `watches` from the merged config.
///
/// # Errors
/// `Definition` naming the watch and what is wrong with it.
pub fn from_config(raw: &Value) -> Result<Vec<WatchConfig>, AgentError> {
    let items = match raw.get("watches") {
        None => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        Some(other) => {
            return Err(AgentError::Definition(format!(
                "watches: expected a list, got {other}"
            )))
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let bad = |e: String| AgentError::Definition(format!("watches[{i}]: {e}"));
            let w: WatchConfig = serde_json::from_value(item).map_err(|e| bad(e.to_string()))?;
            w.spec.endpoint().map_err(|e| bad(e.to_string()))?;
            let http = w.handler_type.as_deref() == Some("http");
            match (http, &w.http_handler_config, w.args.is_empty()) {
                (true, Some(_), _) => {}
                (true, None, _) => {
                    return Err(bad("handler_type http needs http_handler_config".into()))
                }
                (false, _, false) => {}
                (false, _, true) => {
                    return Err(bad(
                        "a watch needs a handler: args or http_handler_config".into()
                    ))
                }
            }
            if let Some(t) = w
                .http_handler_config
                .as_ref()
                .and_then(|h| h.timeout.as_deref())
            {
                praetor_api::duration::parse(t)
                    .map_err(|e| bad(format!("http_handler_config.timeout {t:?}: {e}")))?;
            }
            Ok(w)
        })
        .collect()
}

/// Runs one watch until `stop`, retrying reads that fail (the agent may be
/// starting or its servers away) after a pause.
pub async fn run(w: WatchConfig, http_addr: SocketAddr, stop: CancellationToken) {
    let client = praetor_client::Client::from_env(Some(&http_addr.to_string()), None);
    loop {
        let result = tokio::select! {
            r = w.spec.run(&client, Default::default(), |result, index| {
                let w = w.clone();
                tokio::spawn(async move { handle(&w, result, index).await });
                true
            }) => r,
            () = stop.cancelled() => return,
        };
        if let Err(e) = result {
            tracing::debug!(watch = %w.spec.kind, error = %e, "watch read failed; retrying");
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = stop.cancelled() => return,
        }
    }
}

async fn handle(w: &WatchConfig, result: Value, index: u64) {
    let body = serde_json::to_vec(&result).unwrap_or_default();
    if let Some(h) = &w.http_handler_config {
        let timeout = h
            .timeout
            .as_deref()
            .and_then(|t| praetor_api::duration::parse(t).ok())
            .unwrap_or(Duration::from_secs(10));
        let method = h.method.as_deref().unwrap_or("POST").to_uppercase();
        let method =
            reqwest::Method::from_bytes(method.as_bytes()).unwrap_or(reqwest::Method::POST);
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .unwrap_or_default();
        let mut req = http
            .request(method, &h.path)
            .timeout(timeout)
            .header("content-type", "application/json")
            .header("X-Consul-Index", index.to_string());
        for (k, values) in &h.header {
            for v in values {
                req = req.header(k, v);
            }
        }
        match req.body(body).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => {
                tracing::warn!(path = %h.path, status = %r.status(), "watch HTTP handler answered an error")
            }
            Err(e) => tracing::warn!(path = %h.path, error = %e, "watch HTTP handler failed"),
        }
        return;
    }
    let Some((cmd, rest)) = w.args.split_first() else {
        return;
    };
    let child = tokio::process::Command::new(cmd)
        .args(rest)
        .env("CONSUL_INDEX", index.to_string())
        .stdin(std::process::Stdio::piped())
        .spawn();
    match child {
        Ok(mut child) => {
            if let Some(mut stdin) = child.stdin.take() {
                use tokio::io::AsyncWriteExt as _;
                let _ = stdin.write_all(&body).await;
            }
            match child.wait().await {
                Ok(s) if s.success() => {}
                Ok(s) => tracing::warn!(handler = %cmd, status = %s, "watch handler failed"),
                Err(e) => tracing::warn!(handler = %cmd, error = %e, "watch handler failed"),
            }
        }
        Err(e) => tracing::warn!(handler = %cmd, error = %e, "watch handler could not start"),
    }
}

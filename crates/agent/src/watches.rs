//! The agent config's `watches`: each runs a watch plan (`plan`) through
//! the agent's backend, as typed blocking reads, and hands every change to
//! its handler — the JSON the endpoint of Consul's watch type would answer
//! — a command (`args`, run without a shell, the JSON on stdin as one
//! line ending in a newline, and `CONSUL_INDEX` in its environment) or an HTTP endpoint
//! (`http_handler_config`: `path`, `method`, `header`, `timeout`), as
//! Consul's agent does. A watch never calls the agent's own HTTP API.
//!
//! A failed read never ends a watch: it is logged and retried after a
//! back-off (1 s doubling to 30 s), as Consul's watch retries.
//!
//! A watch runs its handler one call at a time, as Consul's does. Changes
//! that arrive while a call runs wait as one pending call with the latest
//! result (an `event` watch's pending events accumulate instead, up to
//! [`MAX_PENDING_EVENTS`], so none is skipped). A command runs in a process
//! group of its own and the whole group is killed after the watch's
//! `handler_timeout` (Praetor's key; Consul has no limit) or when the agent
//! stops; an HTTP handler's requests share one client and end at its
//! `timeout`. So a watch never has more than one handler process or request
//! alive, however fast its data changes, and it never outlives the agent's
//! task that runs it.

mod plan;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use praetor_checks::process::{reap, ProcessGroup};
use praetor_client::watch::WatchSpec;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::http::AppState;
use crate::AgentError;
use plan::View;

/// How long a command handler may run before its process group is killed,
/// unless the watch sets `handler_timeout`.
pub const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(30);
/// An HTTP handler's timeout unless `http_handler_config.timeout` is set
/// (Consul's default).
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// The most events an `event` watch keeps for its next handler call (the
/// agent's own event buffer holds as many).
pub const MAX_PENDING_EVENTS: usize = 256;

/// One configured watch.
#[derive(Debug, Clone, Deserialize)]
pub struct WatchConfig {
    /// What to watch (Consul's `type` and its parameters).
    #[serde(flatten)]
    pub spec: WatchSpec,
    /// The command to run on each change, without a shell.
    #[serde(default)]
    pub args: Vec<String>,
    /// `script` (the default) or `http`.
    #[serde(default)]
    pub handler_type: Option<String>,
    /// Where an `http` handler sends each change.
    #[serde(default)]
    pub http_handler_config: Option<HttpHandler>,
    /// Praetor's addition: how long a command handler may run (a Go
    /// duration, default 30s) before its process group is killed.
    #[serde(default)]
    pub handler_timeout: Option<String>,
}

/// Where an HTTP handler sends each change.
#[derive(Debug, Clone, Deserialize)]
pub struct HttpHandler {
    /// The URL.
    pub path: String,
    /// The method (default POST).
    #[serde(default)]
    pub method: Option<String>,
    /// Headers added to every request.
    #[serde(default)]
    pub header: BTreeMap<String, Vec<String>>,
    /// The request's timeout (a Go duration, default 10s).
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
            if let Some(h) = &w.http_handler_config {
                positive_duration(h.timeout.as_deref(), "http_handler_config.timeout")
                    .map_err(bad)?;
                if let Some(m) = &h.method {
                    reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).map_err(|_| {
                        bad(format!("http_handler_config.method {m:?} is not a method"))
                    })?;
                }
            }
            positive_duration(w.handler_timeout.as_deref(), "handler_timeout").map_err(bad)?;
            Ok(w)
        })
        .collect()
}

/// `value` parsed as a Go duration above zero, or `None` when absent.
fn positive_duration(value: Option<&str>, name: &str) -> Result<Option<Duration>, String> {
    let Some(text) = value else {
        return Ok(None);
    };
    match praetor_api::duration::parse(text) {
        Ok(d) if d.is_zero() => Err(format!("{name} {text:?} must be above zero")),
        Ok(d) => Ok(Some(d)),
        Err(e) => Err(format!("{name} {text:?}: {e}")),
    }
}

/// One result of the watch's view, for the handler.
#[derive(Debug, Clone, PartialEq)]
struct Change {
    result: Value,
    index: u64,
}

/// The next handler call: at most one waits, holding the latest change.
#[derive(Default)]
struct Pending {
    slot: Mutex<Option<Change>>,
    ready: Notify,
}

impl Pending {
    /// Makes `change` the next call's: it replaces a waiting change, or for
    /// an `event` watch (`accumulate`) is appended to its events.
    fn put(&self, change: Change, accumulate: bool) {
        {
            let mut slot = self.slot.lock().unwrap_or_else(|e| e.into_inner());
            *slot = Some(match slot.take() {
                Some(waiting) if accumulate => merge_events(waiting, change),
                _ => change,
            });
        }
        self.ready.notify_one();
    }

    /// Waits for a change and takes it.
    async fn take(&self) -> Change {
        loop {
            let taken = self.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(change) = taken {
                return change;
            }
            self.ready.notified().await;
        }
    }
}

/// The events of `waiting` then those of `newer` (the last
/// [`MAX_PENDING_EVENTS`]), at `newer`'s index.
fn merge_events(waiting: Change, newer: Change) -> Change {
    let (Value::Array(mut events), Value::Array(more)) = (waiting.result, newer.result.clone())
    else {
        return newer;
    };
    events.extend(more);
    let excess = events.len().saturating_sub(MAX_PENDING_EVENTS);
    events.drain(..excess);
    Change {
        result: Value::Array(events),
        index: newer.index,
    }
}

/// What runs on each change.
enum Handler {
    Command {
        args: Vec<String>,
        timeout: Duration,
    },
    Http {
        client: reqwest::Client,
        config: HttpHandler,
        method: reqwest::Method,
    },
}

impl Handler {
    /// Builds the handler of `w` (checked by [`from_config`]): for HTTP, the
    /// one client all its calls share.
    fn new(w: &WatchConfig) -> Result<Handler, String> {
        if let Some(h) = w.http_handler_config.clone() {
            let timeout =
                positive_duration(h.timeout.as_deref(), "timeout")?.unwrap_or(DEFAULT_HTTP_TIMEOUT);
            let method = h.method.as_deref().unwrap_or("POST").to_uppercase();
            let method = reqwest::Method::from_bytes(method.as_bytes())
                .map_err(|_| format!("method {method:?} is not a method"))?;
            // reqwest's TLS is rustls without a built-in provider (see
            // praetor_client::tls): hand it ring, verifying with the system's roots.
            let tls = praetor_client::tls::client_config(&praetor_client::TlsOptions::default())
                .map_err(|e| format!("building the HTTP client: {e}"))?;
            let client = reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .no_proxy()
                .timeout(timeout)
                .connect_timeout(timeout)
                .build()
                .map_err(|e| format!("building the HTTP client: {e}"))?;
            return Ok(Handler::Http {
                client,
                config: h,
                method,
            });
        }
        let timeout = positive_duration(w.handler_timeout.as_deref(), "handler_timeout")?
            .unwrap_or(DEFAULT_HANDLER_TIMEOUT);
        Ok(Handler::Command {
            args: w.args.clone(),
            timeout,
        })
    }

    /// Runs one call to its end, its timeout, or `stop`.
    async fn call(&self, change: &Change, stop: &CancellationToken) {
        // As Consul's handlers get it (Go's json.Encoder): one line of JSON,
        // ending in a newline.
        let mut body = serde_json::to_vec(&change.result).unwrap_or_default();
        body.push(b'\n');
        match self {
            Handler::Http {
                client,
                config,
                method,
            } => {
                let mut req = client
                    .request(method.clone(), &config.path)
                    .header("content-type", "application/json")
                    .header("X-Consul-Index", change.index.to_string());
                for (k, values) in &config.header {
                    for v in values {
                        req = req.header(k, v);
                    }
                }
                let sent = tokio::select! {
                    r = req.body(body).send() => r,
                    () = stop.cancelled() => return,
                };
                match sent {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        tracing::warn!(path = %config.path, status = %r.status(), "watch HTTP handler answered an error");
                    }
                    Err(e) => {
                        tracing::warn!(path = %config.path, error = %e, "watch HTTP handler failed");
                    }
                }
            }
            Handler::Command { args, timeout } => {
                run_command(args, &body, change.index, *timeout, stop).await;
            }
        }
    }
}

/// Runs `args` once with `body` on stdin, in its own process group, killed
/// (the group) at `timeout` or on `stop`.
async fn run_command(
    args: &[String],
    body: &[u8],
    index: u64,
    timeout: Duration,
    stop: &CancellationToken,
) {
    let Some((program, rest)) = args.split_first() else {
        return;
    };
    let mut command = tokio::process::Command::new(program);
    command
        .args(rest)
        .env("CONSUL_INDEX", index.to_string())
        .stdin(std::process::Stdio::piped())
        .kill_on_drop(true)
        .process_group(0);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            tracing::warn!(handler = %program, error = %e, "watch handler could not start");
            return;
        }
    };
    let mut group = ProcessGroup::of(&child);
    let stdin = child.stdin.take();
    // The body is written while the handler runs: one that does not read
    // its stdin must not hold the write (and so the watch) forever.
    let finished = tokio::select! {
        r = tokio::time::timeout(timeout, async {
            let feed = async {
                if let Some(mut stdin) = stdin {
                    use tokio::io::AsyncWriteExt as _;
                    // A handler may exit without reading its input.
                    let _ = stdin.write_all(body).await;
                }
            };
            let ((), exit) = tokio::join!(feed, child.wait());
            exit
        }) => Some(r),
        () = stop.cancelled() => None,
    };
    match finished {
        Some(Ok(Ok(status))) => {
            group.disarm();
            if !status.success() {
                tracing::warn!(handler = %program, %status, "watch handler failed");
            }
        }
        Some(Ok(Err(e))) => {
            group.kill();
            tracing::warn!(handler = %program, error = %e, "waiting for the watch handler");
        }
        Some(Err(_)) => {
            group.kill();
            if !reap(&mut child).await {
                tracing::warn!(
                    "a killed watch handler was not reaped in time; tokio reaps it later"
                );
            }
            tracing::warn!(handler = %program, ?timeout,
                "watch handler timed out; its process group was killed");
        }
        None => {
            group.kill();
            if !reap(&mut child).await {
                tracing::warn!(
                    "a killed watch handler was not reaped in time; tokio reaps it later"
                );
            }
        }
    }
}

/// Runs one watch until `stop`: reads its view through the backend
/// (retrying a failed read after a back-off, logging each failure) and
/// calls its handler one change at a time.
pub async fn run(w: WatchConfig, state: Arc<AppState>, stop: CancellationToken) {
    let started = Handler::new(&w).and_then(|h| Ok((h, View::of(&w.spec)?)));
    let (handler, view) = match started {
        Ok(started) => started,
        Err(e) => {
            tracing::error!(watch = %w.spec.kind, error = %e, "watch not started");
            return;
        }
    };
    let pending = Pending::default();
    let accumulate = w.spec.kind == "event";
    let read = view.run(&state, &stop, &w.spec.kind, |result, index| {
        pending.put(Change { result, index }, accumulate);
    });
    // Both end on `stop`; a handler call then running is killed and reaped first.
    tokio::join!(read, call_serially(&handler, &pending, &stop));
}

/// Calls `handler` with each pending change, one call at a time, until
/// `stop`.
async fn call_serially(handler: &Handler, pending: &Pending, stop: &CancellationToken) {
    loop {
        let change = tokio::select! {
            c = pending.take() => c,
            () = stop.cancelled() => return,
        };
        handler.call(&change, stop).await;
    }
}

#[cfg(test)]
mod tests;

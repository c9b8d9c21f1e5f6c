//! `praetor watch -type=TYPE [options] [HANDLER]`: Consul's watches. A
//! chain of blocking queries; each time the result changes the handler (a
//! shell command) runs with the result's JSON on stdin (one line, ending in
//! a newline) and `CONSUL_INDEX` in its environment. Without a handler the
//! first result is printed and the command ends.
//!
//! As Consul's: the agent must answer once at the start (or the command
//! fails); after that a failed read never ends the watch — it is logged on
//! stderr and retried after a back-off, so the watch survives its agent's
//! restart. The handler runs one call at a time: a change during a call is
//! handed over after it, with the latest data. SIGINT and SIGTERM end the
//! watch with exit code 0, passing the signal on to a running handler.
//!
//! Unlike Consul's, a handler that fails is reported and the watch goes on:
//! a watch only ends when it is told to.

use anyhow::Context as _;
use clap::Args;
use praetor_client::watch::{Backoff, WatchSpec};
use serde_json::Value;
use tokio::signal::unix::{signal, Signal, SignalKind};

use super::{Failed, HttpArgs};
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
    /// The command to run on each change (through `$SHELL -c`, default
    /// `/bin/sh`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    handler: Vec<String>,
}

/// The signals that end a watch.
struct Stop {
    int: Signal,
    term: Signal,
}

impl Stop {
    fn install() -> anyhow::Result<Stop> {
        Ok(Stop {
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    /// The next stop signal's number.
    async fn recv(&mut self) -> i32 {
        tokio::select! {
            _ = self.int.recv() => libc::SIGINT,
            _ = self.term.recv() => libc::SIGTERM,
        }
    }
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
    let mut plan = spec.plan(a.http.query())?;
    let client = a.http.client()?;
    // Signals are caught from here on: one sent while the watch starts must
    // not find the default action.
    let mut stop = Stop::install()?;
    // As Consul's: an agent that does not answer at the start is an error.
    client
        .agent_self()
        .await
        .map_err(|e| Failed(format!("Error querying Consul agent: {e}")))?;
    let mut backoff = Backoff::default();
    loop {
        let next = tokio::select! {
            r = plan.next(&client) => r,
            _ = stop.recv() => return Ok(()),
        };
        let (result, index) = match next {
            Ok(change) => {
                backoff.succeeded();
                change
            }
            Err(e) => {
                let retry = backoff.failed();
                output::info(&log_line(&format!(
                    "Watch errored: type={} error=\"{e}\" retry={}",
                    spec.kind,
                    go_duration(retry)
                )));
                tokio::select! {
                    () = tokio::time::sleep(retry) => continue,
                    _ = stop.recv() => return Ok(()),
                }
            }
        };
        if a.handler.is_empty() {
            output::text(&format!(
                "{}\n",
                serde_json::to_string_pretty(&result).unwrap_or_default()
            ));
            return Ok(());
        }
        if let Ended::Stopped = invoke(&a.handler, &result, index, &mut stop).await? {
            return Ok(());
        }
    }
}

/// How a handler call ended.
enum Ended {
    /// It ran to its end (or could not start); the watch goes on.
    Ran,
    /// A stop signal came first: it was passed on, the watch ends.
    Stopped,
}

/// Runs the handler once with the result on stdin and waits for it. A
/// handler that cannot start or fails is reported; the watch goes on. A
/// stop signal is passed on to the handler and ends the watch (exit 0)
/// without waiting for it, as Consul's does.
async fn invoke(
    handler: &[String],
    result: &Value,
    index: u64,
    stop: &mut Stop,
) -> anyhow::Result<Ended> {
    let shell = std::env::var("SHELL")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "/bin/sh".to_owned());
    let spawned = tokio::process::Command::new(&shell)
        .arg("-c")
        .arg(handler.join(" "))
        .env("CONSUL_INDEX", index.to_string())
        .stdin(std::process::Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            output::failure(&format!("Error starting handler: {e}"));
            return Ok(Ended::Ran);
        }
    };
    let mut input = serde_json::to_vec(result)?;
    input.push(b'\n');
    let stdin = child.stdin.take();
    // Fed while the handler runs: one that never reads its input must not
    // hold the watch.
    let feed = async move {
        if let Some(mut stdin) = stdin {
            use tokio::io::AsyncWriteExt as _;
            let _ = stdin.write_all(&input).await;
        }
    };
    let pid = child.id();
    let finished = tokio::select! {
        ((), status) = async { tokio::join!(feed, child.wait()) } => status,
        signo = stop.recv() => {
            if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
                // SAFETY: kill(2) with a PID we spawned and have not reaped.
                unsafe { libc::kill(pid, signo) };
            }
            return Ok(Ended::Stopped);
        }
    };
    match finished {
        Ok(status) if status.success() => {}
        Ok(status) => output::failure(&format!("Error executing handler: {status}")),
        Err(e) => output::failure(&format!("Error executing handler: {e}")),
    }
    Ok(Ended::Ran)
}

/// A log line as Consul's CLI writes it on stderr (hclog's format).
fn log_line(msg: &str) -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z [ERROR] watch: {msg}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    )
}

/// A duration as Go prints one, to the millisecond (`1.5s`, `30s`).
fn go_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        let s = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("{}s", s.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::go_duration;
    use std::time::Duration;

    #[test]
    fn retry_pauses_are_printed_as_go_durations() {
        assert_eq!(go_duration(Duration::from_secs(30)), "30s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(812)), "0.812s");
    }
}

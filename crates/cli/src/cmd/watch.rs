//! `praetor watch -type=TYPE [options] [HANDLER]`: Consul's watches. A
//! chain of blocking queries; each time the result changes the handler (a
//! shell command) runs with the result's JSON on stdin and `CONSUL_INDEX`
//! in its environment. Without a handler the result is printed once.

use anyhow::{bail, Context as _};
use clap::Args;
use praetor_client::QueryOptions;
use serde_json::Value;
use std::io::Write as _;

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

/// The endpoint a watch type reads, with its extra parameters.
fn endpoint(a: &WatchArgs) -> anyhow::Result<(String, Vec<(&'static str, String)>)> {
    let need = |v: &Option<String>, flag: &str| {
        v.clone()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| anyhow::anyhow!("Must specify -{flag} for a {} watch", a.kind))
    };
    let enc = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    Ok(match a.kind.as_str() {
        "key" => (format!("/v1/kv/{}", need(&a.key, "key")?), vec![]),
        "keyprefix" => (
            format!("/v1/kv/{}", need(&a.prefix, "prefix")?),
            vec![("recurse", String::new())],
        ),
        "services" => ("/v1/catalog/services".into(), vec![]),
        "nodes" => ("/v1/catalog/nodes".into(), vec![]),
        "service" => {
            let mut extra = vec![];
            if let Some(t) = &a.tag {
                extra.push(("tag", t.clone()));
            }
            if a.passingonly {
                extra.push(("passing", String::new()));
            }
            (
                format!("/v1/health/service/{}", enc(&need(&a.service, "service")?)),
                extra,
            )
        }
        "checks" => match (&a.service, &a.state) {
            (Some(s), None) => (format!("/v1/health/checks/{}", enc(s)), vec![]),
            (None, Some(st)) => (format!("/v1/health/state/{}", enc(st)), vec![]),
            (None, None) => ("/v1/health/state/any".into(), vec![]),
            (Some(_), Some(_)) => {
                bail!("Cannot specify both -service and -state for a checks watch")
            }
        },
        "event" => {
            let extra = a.name.iter().map(|n| ("name", n.clone())).collect();
            ("/v1/event/list".into(), extra)
        }
        other => bail!(
            "Unsupported watch type: {other:?} (key, keyprefix, services, nodes, service, checks, event)"
        ),
    })
}

pub async fn run(a: WatchArgs) -> anyhow::Result<()> {
    let (path, extra) = endpoint(&a)?;
    let client = a.http.client();
    let mut opts = a.http.query();
    let mut last: Option<Value> = None;
    let mut last_event: Option<u64> = None;
    loop {
        let (body, meta) = client.read::<Value>(&path, &opts, &extra).await?;
        // A missing key reads as null, as Consul's watch hands it over.
        let mut result = body.unwrap_or(Value::Null);
        let index = meta.last_index;
        // An event watch hands over only the events it has not handed over
        // yet, as Consul's does (the first call gets the recent ones).
        if a.kind == "event" {
            if let (Value::Array(events), Some(seen)) = (&mut result, last_event) {
                events.retain(|e| e["LTime"].as_u64().is_some_and(|t| t > seen));
                if events.is_empty() {
                    opts = QueryOptions {
                        index: Some(index),
                        ..opts
                    };
                    continue;
                }
            }
            if let Some(t) = result
                .as_array()
                .and_then(|l| l.last())
                .and_then(|e| e["LTime"].as_u64())
            {
                last_event = Some(t);
            }
        }
        if last.as_ref() != Some(&result) {
            if a.handler.is_empty() {
                output::text(&format!("{}\n", serde_json::to_string_pretty(&result)?));
                return Ok(());
            }
            invoke(&a.handler, &result, index)?;
            last = Some(result);
        }
        // An index that went back (a restore) starts over, as Consul's watch.
        let next = if opts.index.is_some_and(|i| index < i) {
            0
        } else {
            index
        };
        opts = QueryOptions {
            index: Some(next),
            ..opts
        };
    }
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

//! `praetor template`: consul-template's job, built in. Renders templates
//! from the KV store and the catalog and renders them again on every
//! change (`praetor_render::runner`). Flags as consul-template's:
//! `-template "in.tpl:out.conf[:command]"` (repeatable), `-config FILE`
//! (HCL or JSON with `template { … }` blocks, `wait`, `exec { … }` and
//! `consul { address, token }`; repeatable), `-once`, `-dry`,
//! `-wait=min[:max]`, `-exec COMMAND` with `-exec-reload-signal`,
//! `-exec-kill-signal` and `-exec-kill-timeout`, `-log-level`, and the
//! usual agent flags (`-http-addr`, `-token`, …; `-consul-addr` and
//! `-consul-token` as consul-template spells them). Ends with the exec
//! child's exit code when there is one.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Args;
use praetor_render::child::{parse_signal, ChildSpec, DEFAULT_KILL_TIMEOUT};
use praetor_render::quiesce::Wait;
use praetor_render::runner::{self, RunConfig};
use praetor_render::spec::TemplateSpec;
use serde_json::Value;

use super::HttpArgs;

#[derive(Args, Debug)]
pub struct TemplateArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// A template: source:destination[:command] (repeatable).
    #[arg(long = "template")]
    templates: Vec<String>,
    /// A config file (HCL or JSON) with template blocks (repeatable).
    #[arg(long = "config")]
    configs: Vec<PathBuf>,
    /// Render every template once and exit.
    #[arg(long)]
    once: bool,
    /// Print the outputs on stdout instead of writing them; run no command.
    #[arg(long)]
    dry: bool,
    /// Wait for changes to settle (min[:max]) before rendering again.
    #[arg(long)]
    wait: Option<String>,
    /// A command to run and supervise once every template is rendered.
    #[arg(long)]
    exec: Option<String>,
    /// The signal sent to the exec child when an output changes (default:
    /// restart it).
    #[arg(long = "exec-reload-signal")]
    exec_reload_signal: Option<String>,
    /// The signal that stops the exec child.
    #[arg(long = "exec-kill-signal")]
    exec_kill_signal: Option<String>,
    /// How long the exec child may take to stop before SIGKILL.
    #[arg(long = "exec-kill-timeout")]
    exec_kill_timeout: Option<String>,
    /// The agent's address, as consul-template names it (as -http-addr).
    #[arg(long = "consul-addr")]
    consul_addr: Option<String>,
    /// The ACL token, as consul-template names it (as -token).
    #[arg(long = "consul-token")]
    consul_token: Option<String>,
    /// debug, info, warn or err.
    #[arg(long = "log-level", default_value = "warn")]
    log_level: String,
}

/// What the config files add.
#[derive(Default)]
struct FromFiles {
    templates: Vec<TemplateSpec>,
    wait: Option<Wait>,
    exec: Option<Value>,
    address: Option<String>,
    token: Option<String>,
}

/// consul-template keys read from a config file.
const KNOWN: &[&str] = &["template", "wait", "exec", "consul", "log_level"];

fn read_config(path: &std::path::Path, into: &mut FromFiles) -> anyhow::Result<()> {
    let tree = praetor_agent::config::read_file(path)?;
    let what = || path.display().to_string();
    let Value::Object(top) = tree else {
        bail!("{}: not an object", what());
    };
    if let Some(k) = top.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        bail!(
            "{}: unknown key {k:?} (known: {})",
            what(),
            KNOWN.join(", ")
        );
    }
    for block in blocks(top.get("template")) {
        into.templates
            .push(TemplateSpec::from_block(block).with_context(what)?);
    }
    if let Some(w) = top.get("wait") {
        let spec = serde_json::json!({ "source": "-", "destination": "-", "wait": w });
        into.wait = TemplateSpec::from_block(&spec).with_context(what)?.wait;
    }
    if let Some(e) = blocks(top.get("exec")).last() {
        into.exec = Some((*e).clone());
    }
    if let Some(c) = blocks(top.get("consul")).last() {
        into.address = c["address"]
            .as_str()
            .map(str::to_owned)
            .or(into.address.take());
        into.token = c["token"].as_str().map(str::to_owned).or(into.token.take());
    }
    Ok(())
}

/// A block given once (an object) or repeated (a list of objects).
fn blocks(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(v) => vec![v],
        None => Vec::new(),
    }
}

/// The exec child from the config's `exec` block and the flags (a flag
/// wins).
fn exec_spec(a: &TemplateArgs, block: Option<&Value>) -> anyhow::Result<Option<ChildSpec>> {
    let field = |k: &str| block.and_then(|b| b[k].as_str()).map(str::to_owned);
    let Some(command) = a.exec.clone().or_else(|| field("command")) else {
        return Ok(None);
    };
    let argv: Vec<String> = vec!["/bin/sh".into(), "-c".into(), command];
    let signal = |flag: &Option<String>, key: &str| -> anyhow::Result<Option<i32>> {
        flag.clone()
            .or_else(|| field(key))
            .filter(|s| !s.is_empty())
            .map(|s| parse_signal(&s))
            .transpose()
            .map_err(Into::into)
    };
    let kill_timeout = match a
        .exec_kill_timeout
        .clone()
        .or_else(|| field("kill_timeout"))
    {
        Some(t) => {
            praetor_api::duration::parse(&t).with_context(|| format!("exec kill timeout {t:?}"))?
        }
        None => DEFAULT_KILL_TIMEOUT,
    };
    Ok(Some(ChildSpec {
        argv,
        kill_signal: signal(&a.exec_kill_signal, "kill_signal")?.unwrap_or(libc::SIGINT),
        kill_timeout,
        reload_signal: signal(&a.exec_reload_signal, "reload_signal")?,
    }))
}

pub async fn run(a: TemplateArgs) -> anyhow::Result<()> {
    super::supervise::render_logs(&a.log_level)?;
    let mut files = FromFiles::default();
    for path in &a.configs {
        read_config(path, &mut files)?;
    }
    let mut templates = files.templates;
    for t in &a.templates {
        templates.push(TemplateSpec::from_flag(t)?);
    }
    if templates.is_empty() {
        bail!("no templates: give -template source:destination[:command] or -config with template blocks");
    }
    let wait = match &a.wait {
        Some(w) => Some(Wait::parse(w)?),
        None => files.wait,
    };
    let cfg = RunConfig {
        templates,
        wait,
        once: a.once,
        dry: a.dry,
        exec: exec_spec(&a, files.exec.as_ref())?,
    };
    // Parse every template before anything runs: errors name file and line.
    runner::load(&cfg.templates)?;
    let mut http = a.http.clone();
    if let Some(addr) = a.consul_addr.clone().or(files.address) {
        http.http_addr.get_or_insert(addr);
    }
    if let Some(token) = a.consul_token.clone().or(files.token) {
        http.token.get_or_insert(token);
    }
    let signals = super::supervise::forward_signals()?;
    let client = http.client()?;
    let code = runner::run(&cfg, client, http.query(), signals).await?;
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

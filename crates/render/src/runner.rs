//! The template runner, as consul-template's: every template renders from
//! the data it asks for; each piece of data is a blocking query
//! (`watch`), kept as its last good answer, so a change re-renders within
//! the query's round trip and an agent that goes away leaves every output
//! as it was. A template is written only when all its data has arrived
//! (a missing `key` blocks it, as consul-template's does), atomically and
//! only if its content changed (`output`); then its command runs, one
//! command at a time and each at most once per round, with its timeout.
//! After the first write, a template waits for its data to settle
//! (`wait`, `quiesce`). With `-once` every template is written once and
//! the run ends; with `-dry` outputs go to stdout; with `-exec` a child
//! starts once every template has been written and is reloaded (its
//! reload signal) or restarted when an output changes.

use std::collections::{HashMap, HashSet};
use std::io::Write as _;
use std::time::Instant;

use praetor_client::{Client, QueryOptions};
use praetor_template::{
    Data, Dependency, Lookup, ParseOptions, RenderOptions, Source, SourceError, Template,
    TemplateError,
};
use tokio::sync::mpsc;

use crate::child::{exit_code, Child, ChildEnv, ChildError, ChildSpec};
use crate::command::{self, CommandLine};
use crate::output::{self, OutputError, WriteOptions, Written};
use crate::quiesce::{Quiescence, Wait};
use crate::spec::{Source as TextSource, TemplateSpec, MAX_TEMPLATE_BYTES};
use crate::watch::{Endpoint, Update, WatchError, Watcher};

/// The largest file the `file` function reads.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// How often the files templates read are looked at again.
const FILE_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// What a run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunConfig {
    pub templates: Vec<TemplateSpec>,
    /// The wait of templates that set none.
    pub wait: Option<Wait>,
    /// Write every template once, run the commands, and end.
    pub once: bool,
    /// Print outputs on stdout (`> destination` then the content) instead
    /// of writing them, and run no command.
    pub dry: bool,
    /// A child to supervise.
    pub exec: Option<ChildSpec>,
}

/// Why a run ended without an exit code of its own.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("reading template {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("template {name} is {size} bytes, more than {MAX_TEMPLATE_BYTES}")]
    TooLarge { name: String, size: u64 },
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Watch(#[from] WatchError),
    #[error(transparent)]
    Child(#[from] ChildError),
    #[error("reading the agent's node name: {0}")]
    Agent(String),
}

/// One template and its state.
struct Job {
    spec: TemplateSpec,
    template: Template,
    render: RenderOptions,
    settle: Quiescence,
    /// What its last render asked for.
    deps: Vec<Dependency>,
    /// It has been written (or printed) at least once.
    written: bool,
    /// The last output printed in dry mode.
    printed: Option<String>,
}

/// Reads and parses every template (each error names the file, the line
/// and the reason).
///
/// # Errors
/// When a template cannot be read or parsed.
pub fn load(specs: &[TemplateSpec]) -> Result<Vec<(TemplateSpec, Template)>, RunError> {
    specs
        .iter()
        .map(|spec| {
            let text = match &spec.source {
                TextSource::Contents(c) => c.clone(),
                TextSource::File(p) => {
                    read_bounded(p, MAX_TEMPLATE_BYTES as u64).map_err(|e| match e {
                        Bounded::Io(source) => RunError::Read {
                            path: p.display().to_string(),
                            source,
                        },
                        Bounded::TooLarge(size) => RunError::TooLarge {
                            name: p.display().to_string(),
                            size,
                        },
                    })?
                }
            };
            let opts = ParseOptions {
                left_delimiter: spec.left_delimiter.clone(),
                right_delimiter: spec.right_delimiter.clone(),
                ..ParseOptions::default()
            };
            let template = Template::parse_with(&spec.source.name(), &text, &opts)?;
            Ok((spec.clone(), template))
        })
        .collect()
}

enum Bounded {
    Io(std::io::Error),
    TooLarge(u64),
}

fn read_bounded(path: &std::path::Path, max: u64) -> Result<String, Bounded> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).map_err(Bounded::Io)?;
    let mut text = String::new();
    f.take(max + 1)
        .read_to_string(&mut text)
        .map_err(Bounded::Io)?;
    if text.len() as u64 > max {
        return Err(Bounded::TooLarge(text.len() as u64));
    }
    Ok(text)
}

/// Answers the engine from the last good data of each dependency; `env`
/// from this process's environment and `file` from the disk.
struct Cache<'a> {
    data: &'a HashMap<Dependency, Data>,
}

impl Source for Cache<'_> {
    fn lookup(&mut self, dep: &Dependency) -> Result<Lookup, SourceError> {
        match dep {
            Dependency::Env(name) => Ok(Lookup::Ready(Data::Env(std::env::var(name).ok()))),
            Dependency::File(path) => read_bounded(std::path::Path::new(path), MAX_FILE_BYTES)
                .map(|t| Lookup::Ready(Data::File(t)))
                .map_err(|e| {
                    SourceError(match e {
                        Bounded::Io(e) => format!("file {path:?}: {e}"),
                        Bounded::TooLarge(n) => {
                            format!("file {path:?} is {n} bytes, more than {MAX_FILE_BYTES}")
                        }
                    })
                }),
            other => Ok(self
                .data
                .get(other)
                .map_or(Lookup::Pending, |d| Lookup::Ready(d.clone()))),
        }
    }
}

/// Runs the templates until `-once` is done, the child ends, or a stop
/// signal arrives on `signals`; returns the exit code to end with.
///
/// # Errors
/// A template that cannot be read, parsed or rendered (a render error
/// ends the run, as consul-template's), an output that cannot be written,
/// or a child that cannot start.
pub async fn run(
    cfg: &RunConfig,
    client: Client,
    opts: QueryOptions,
    mut signals: mpsc::Receiver<i32>,
) -> Result<i32, RunError> {
    let mut jobs: Vec<Job> = load(&cfg.templates)?
        .into_iter()
        .map(|(spec, template)| Job {
            render: RenderOptions {
                error_on_missing_key: spec.error_on_missing_key,
                now_unix: None,
            },
            spec,
            template,
            settle: Quiescence::new(None),
            deps: Vec::new(),
            written: false,
            printed: None,
        })
        .collect();
    // Asked of the agent when a template first uses `node` without a name.
    let mut agent_node: Option<String> = None;
    let (mut watcher, mut updates) = Watcher::<Dependency>::new(client.clone(), opts);
    let mut data: HashMap<Dependency, Data> = HashMap::new();
    let mut child: Option<Child> = None;
    let mut signals_open = true;
    // `file` is not a query: the files templates read are looked at again
    // every FILE_POLL, and a change renders their templates again.
    let mut files: HashMap<String, Option<String>> = HashMap::new();
    let mut poll = tokio::time::interval(FILE_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let start = Instant::now();
    for job in &mut jobs {
        job.settle.changed(start);
    }
    loop {
        // Render what is due; write what is complete.
        let now = Instant::now();
        let mut commands: Vec<(CommandLine, std::time::Duration)> = Vec::new();
        let mut changed = false;
        for job in jobs.iter_mut().filter(|j| j.settle.due(now)) {
            job.settle.rendered();
            let now_unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .ok()
                .and_then(|d| i64::try_from(d.as_secs()).ok());
            job.render.now_unix = now_unix;
            let rendered = job
                .template
                .render(&mut Cache { data: &data }, &job.render)?;
            for dep in &rendered.dependencies {
                if matches!(dep, Dependency::Node { name: None, .. }) && agent_node.is_none() {
                    agent_node = Some(own_node(&client).await?);
                }
                if let Some(endpoint) = dep
                    .consul_api_path(agent_node.as_deref().unwrap_or_default())
                    .map(|url| Endpoint::from_path_and_query(&url))
                {
                    watcher.watch(dep.clone(), endpoint)?;
                }
            }
            job.deps = rendered.dependencies.clone();
            if !rendered.is_complete() {
                tracing::debug!(template = %job.template.name(), missing = rendered.missing.len(), "waiting for data");
                continue;
            }
            if !job.written {
                job.settle = Quiescence::new(job.spec.wait.or(cfg.wait));
            }
            let wrote = if cfg.dry {
                let fresh = job.printed.as_deref() != Some(rendered.output.as_str());
                if fresh {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "> {}", job.spec.destination.display());
                    let _ = out.write_all(rendered.output.as_bytes());
                    let _ = out.flush();
                    job.printed = Some(rendered.output);
                }
                fresh
            } else {
                let opts = WriteOptions {
                    perms: job.spec.perms,
                    backup: job.spec.backup,
                    create_dirs: job.spec.create_dest_dirs,
                };
                let written = output::write_if_changed(
                    &job.spec.destination,
                    rendered.output.as_bytes(),
                    &opts,
                )?;
                if written == Written::Replaced {
                    tracing::info!(destination = %job.spec.destination.display(), "rendered");
                }
                written == Written::Replaced
            };
            job.written = true;
            if wrote {
                changed = true;
                if let (Some(cmd), false) = (&job.spec.command, cfg.dry) {
                    if !commands.iter().any(|(c, _)| c == cmd) {
                        commands.push((cmd.clone(), job.spec.command_timeout));
                    }
                }
            }
        }
        // Data no template asks for any more is not watched.
        let used: HashSet<&Dependency> = jobs.iter().flat_map(|j| j.deps.iter()).collect();
        watcher.retain(|d| used.contains(d));
        data.retain(|d, _| used.contains(d));
        for (cmd, timeout) in commands {
            if let Err(e) = command::run(&cmd, &[], timeout).await {
                tracing::error!(error = %e, "template command failed");
            }
        }
        let all_written = jobs.iter().all(|j| j.written);
        if cfg.once && all_written {
            return Ok(0);
        }
        if let (Some(spec), true) = (&cfg.exec, all_written) {
            match &mut child {
                None => {
                    let c = Child::start(spec, &ChildEnv::default())?;
                    tracing::info!(pid = c.pid(), "child started");
                    child = Some(c);
                }
                Some(c) if changed => c.reload(&ChildEnv::default()).await?,
                Some(_) => {}
            }
        }
        let due = jobs.iter().filter_map(|j| j.settle.deadline()).min();
        tokio::select! {
            _ = poll.tick() => {
                let used: HashSet<String> = jobs
                    .iter()
                    .flat_map(|j| j.deps.iter())
                    .filter_map(|d| match d {
                        Dependency::File(p) => Some(p.clone()),
                        _ => None,
                    })
                    .collect();
                files.retain(|p, _| used.contains(p));
                let now = Instant::now();
                for path in used {
                    let text = read_bounded(std::path::Path::new(&path), MAX_FILE_BYTES).ok();
                    let before = files.insert(path.clone(), text.clone());
                    if before.is_some_and(|b| b != text) {
                        let dep = Dependency::File(path);
                        for job in jobs.iter_mut().filter(|j| j.deps.contains(&dep)) {
                            job.settle.changed(now);
                        }
                    }
                }
            }
            update = updates.recv() => {
                // The watcher holds a sender for as long as this runs.
                let Some(update) = update else { continue };
                let mut next = Some(update);
                while let Some(update) = next.take() {
                    match update {
                        Update::Data { key, value, .. } => match Data::from_consul_json(&key, (!value.is_null()).then_some(&value)) {
                            Ok(d) if data.get(&key) != Some(&d) => {
                                data.insert(key.clone(), d);
                                let now = Instant::now();
                                for job in jobs.iter_mut().filter(|j| j.deps.contains(&key)) {
                                    job.settle.changed(now);
                                }
                            }
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "ignoring an answer"),
                        },
                        Update::Failed { key, error, retry } => {
                            tracing::warn!(dependency = ?key, %error, ?retry, "reading data failed; keeping the last good data and retrying");
                        }
                    }
                    next = updates.try_recv().ok();
                }
            }
            () = crate::quiesce::until(due) => {}
            status = crate::child::ended(&mut child) => {
                return Ok(exit_code(status));
            }
            sig = signals.recv(), if signals_open => {
                let Some(sig) = sig else {
                    signals_open = false;
                    continue;
                };
                if let Some(code) = crate::child::on_signal(&mut child, sig, 0).await {
                    return Ok(code);
                }
            }
        }
    }
}

/// The agent's node name (for `node` without a name).
async fn own_node(client: &Client) -> Result<String, RunError> {
    let me = client
        .agent_self()
        .await
        .map_err(|e| RunError::Agent(e.to_string()))?;
    Ok(me.config.node_name)
}

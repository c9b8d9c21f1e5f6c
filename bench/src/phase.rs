//! What every self-contained phase (`cluster`, `health`, `locks`) does
//! around its measurements: run them until they end or a signal comes,
//! record an error or the interruption in the report, and write the report
//! as JSON (and, when asked, as markdown of its own).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use anyhow::Context as _;

/// The flags every self-contained phase takes (bench/run.sh passes them).
#[derive(clap::Args)]
pub struct PhaseArgs {
    /// The praetor binary to run.
    #[arg(long)]
    pub praetor_bin: PathBuf,
    /// A fresh directory for data directories and trial files; shown as $TMP.
    #[arg(long)]
    pub work: PathBuf,
    /// Where the started processes' logs go (appended across restarts).
    #[arg(long)]
    pub logs: PathBuf,
    /// A file every started PID is appended to, one a line.
    #[arg(long)]
    pub pidfile: PathBuf,
    /// `praetor version`'s answer, for the report.
    #[arg(long)]
    pub praetor_version: String,
    /// The command that produced the report, for the report.
    #[arg(long)]
    pub command: String,
    /// When the run started, for the report.
    #[arg(long)]
    pub date: String,
    /// Where to write the results as JSON.
    #[arg(long)]
    pub json: PathBuf,
    /// Also write a markdown report of this phase's results alone here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// A phase's report, written whatever happened.
pub trait PhaseReport: serde::Serialize {
    /// Records why the phase did not finish.
    fn set_error(&mut self, error: String);
    /// The report alone, as markdown (`--out`).
    fn standalone_markdown(&self) -> String;
}

/// The markdown of a phase run alone (`--*-only`): a title, the command
/// and date it was written by, then its section numbered as in
/// BENCHMARKS.md (`section` writes it).
pub fn standalone(
    title: &str,
    command: &str,
    date: &str,
    section: impl FnOnce(&mut String),
) -> String {
    let mut md = format!(
        "# {title}\n\n\
         Written by `{command}` on {date}; BENCHMARKS.md is left as it was. The section below is \
         numbered as BENCHMARKS.md's.\n"
    );
    section(&mut md);
    md
}

/// The measurements, borrowing the report they fill in.
pub type Measure<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + 'a>>;

/// Runs `measure` with `args` on `report`, then writes `report` to `json`
/// (and `out`).
/// Dropping an interrupted `measure` kills what it started (its processes
/// are `kill_on_drop`).
///
/// # Errors
/// When the results cannot be written, or the phase was interrupted.
pub async fn run<A, R: PhaseReport>(
    args: &A,
    mut report: R,
    json: &Path,
    out: Option<&Path>,
    measure: impl for<'a> FnOnce(&'a A, &'a mut R) -> Measure<'a>,
) -> anyhow::Result<()> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let outcome = {
        let measured = measure(args, &mut report);
        tokio::select! {
            r = measured => Some(r),
            _ = tokio::signal::ctrl_c() => None,
            _ = term.recv() => None,
        }
    };
    let interrupted = outcome.is_none();
    match outcome {
        Some(Err(e)) => report.set_error(format!("{e:#}")),
        None => report.set_error("interrupted by a signal".into()),
        Some(Ok(())) => {}
    }
    std::fs::write(json, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", json.display()))?;
    if let Some(out) = out {
        std::fs::write(out, report.standalone_markdown())
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    anyhow::ensure!(!interrupted, "interrupted");
    Ok(())
}

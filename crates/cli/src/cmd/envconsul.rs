//! `praetor envconsul -prefix=P [-prefix=Q …] [options] COMMAND [ARGS…]`:
//! envconsul's job, built in. Runs COMMAND with the keys under the
//! prefixes as environment variables and restarts it whenever they change
//! (`praetor_render::envconsul`). Flags as envconsul's: `-sanitize`,
//! `-upcase`, `-pristine`, `-kill-signal` (default SIGTERM),
//! `-kill-timeout`, `-once`, `-wait=min[:max]`, `-log-level`, and the usual
//! agent flags (`-http-addr`, `-token`, …). Ends with the child's exit code.

use anyhow::Context as _;
use clap::Args;
use praetor_render::child::{parse_signal, ChildSpec};
use praetor_render::env::Naming;
use praetor_render::envconsul::{self, EnvConsul};
use praetor_render::quiesce::Wait;

use super::HttpArgs;

#[derive(Args, Debug)]
pub struct EnvConsulArgs {
    #[command(flatten)]
    http: HttpArgs,
    /// A KV prefix whose keys become variables (repeatable; a later prefix
    /// wins over an earlier one).
    #[arg(long = "prefix", required = true)]
    prefixes: Vec<String>,
    /// Turn every character of a name other than a letter, a digit or `_`
    /// into `_`.
    #[arg(long)]
    sanitize: bool,
    /// Upper-case every name.
    #[arg(long)]
    upcase: bool,
    /// Give the child only the prefixes' variables, not this environment.
    #[arg(long)]
    pristine: bool,
    /// The signal that stops the child before a restart and at the end.
    #[arg(long = "kill-signal", default_value = "SIGTERM")]
    kill_signal: String,
    /// How long the child may take to stop before SIGKILL.
    #[arg(long = "kill-timeout", default_value = "30s")]
    kill_timeout: String,
    /// Start the child once; do not restart it on changes.
    #[arg(long)]
    once: bool,
    /// Wait for changes to settle (min[:max]) before a restart.
    #[arg(long)]
    wait: Option<String>,
    /// debug, info, warn or err.
    #[arg(long = "log-level", default_value = "warn")]
    log_level: String,
    /// The command and its arguments.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

pub async fn run(a: EnvConsulArgs) -> anyhow::Result<()> {
    super::supervise::render_logs(&a.log_level)?;
    let kill_timeout = praetor_api::duration::parse(&a.kill_timeout)
        .with_context(|| format!("-kill-timeout {:?}", a.kill_timeout))?;
    let wait = a.wait.as_deref().map(Wait::parse).transpose()?;
    let cfg = EnvConsul {
        prefixes: a.prefixes,
        naming: Naming {
            sanitize: a.sanitize,
            upcase: a.upcase,
        },
        pristine: a.pristine,
        child: ChildSpec {
            argv: a.command,
            kill_signal: parse_signal(&a.kill_signal)?,
            kill_timeout,
            reload_signal: None,
        },
        once: a.once,
        wait,
    };
    let signals = super::supervise::forward_signals()?;
    let client = a.http.client()?;
    let code = envconsul::run(&cfg, client, a.http.query(), signals).await?;
    if code != 0 {
        std::process::exit(code);
    }
    Ok(())
}

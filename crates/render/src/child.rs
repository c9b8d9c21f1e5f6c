//! A supervised child process, as consul-template's exec mode and
//! envconsul run one: started in its own process group with a given
//! environment; reloaded with a signal, or restarted (the kill signal, up
//! to the kill timeout, then SIGKILL, then a new start); its exit code is
//! the renderer's (128 + the signal for a child killed by one).

use std::collections::BTreeMap;
use std::process::ExitStatus;
use std::time::Duration;

/// consul-template's default kill timeout.
pub const DEFAULT_KILL_TIMEOUT: Duration = Duration::from_secs(30);

/// How to run the child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildSpec {
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// Sent to stop it (default SIGINT, as consul-template's).
    pub kill_signal: i32,
    /// How long it may take to stop before SIGKILL.
    pub kill_timeout: Duration,
    /// Sent on a change instead of a restart, when set.
    pub reload_signal: Option<i32>,
}

/// The child's environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildEnv {
    /// Start from an empty environment rather than the renderer's.
    pub pristine: bool,
    /// Set on top.
    pub vars: BTreeMap<String, String>,
}

/// Why the child could not be started or signalled.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("no command to run")]
    Empty,
    #[error("starting {program:?}: {source}")]
    Start {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("unknown signal {0:?}")]
    Signal(String),
}

/// Parses a signal name (`SIGHUP`, `HUP`, `sighup`) or number.
///
/// # Errors
/// When the name is not a signal a child can be sent.
pub fn parse_signal(s: &str) -> Result<i32, ChildError> {
    let upper = s.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    let sig = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "USR2" => libc::SIGUSR2,
        "TERM" => libc::SIGTERM,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "WINCH" => libc::SIGWINCH,
        "ALRM" => libc::SIGALRM,
        n => match n.parse::<i32>() {
            Ok(n) if (1..=64).contains(&n) => n,
            _ => return Err(ChildError::Signal(s.to_owned())),
        },
    };
    Ok(sig)
}

/// The exit code a renderer ends with when its child ended with `status`.
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt as _;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// A running child.
#[derive(Debug)]
pub struct Child {
    spec: ChildSpec,
    proc: tokio::process::Child,
    pid: i32,
}

impl Child {
    /// Starts the child of `spec` with `env`; it inherits stdin, stdout
    /// and stderr.
    ///
    /// # Errors
    /// When `argv` is empty or the program cannot start.
    pub fn start(spec: &ChildSpec, env: &ChildEnv) -> Result<Child, ChildError> {
        let (program, args) = spec.argv.split_first().ok_or(ChildError::Empty)?;
        let mut c = tokio::process::Command::new(program);
        c.args(args).process_group(0);
        if env.pristine {
            c.env_clear();
        }
        c.envs(&env.vars);
        let proc = c.spawn().map_err(|source| ChildError::Start {
            program: program.clone(),
            source,
        })?;
        let pid = proc
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .unwrap_or_default();
        Ok(Child {
            spec: spec.clone(),
            proc,
            pid,
        })
    }

    /// The child's process ID.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Sends `sig` to the child's process group.
    pub fn signal(&self, sig: i32) {
        if self.pid > 0 {
            // SAFETY: kill(2) on the group the child leads (`process_group(0)`).
            unsafe {
                libc::kill(-self.pid, sig);
            }
        }
    }

    /// Waits for the child to end. Cancel-safe. A wait that fails (the
    /// child was reaped elsewhere, so it has ended) reads as exit code 1.
    pub async fn wait(&mut self) -> ExitStatus {
        use std::os::unix::process::ExitStatusExt as _;
        match self.proc.wait().await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(pid = self.pid, error = %e, "waiting for the child failed");
                ExitStatus::from_raw(1 << 8)
            }
        }
    }

    /// Stops the child: the kill signal, then SIGKILL after the kill
    /// timeout; returns how it ended.
    pub async fn stop(&mut self) -> ExitStatus {
        self.signal(self.spec.kill_signal);
        match tokio::time::timeout(self.spec.kill_timeout, self.wait()).await {
            Ok(s) => s,
            Err(_) => {
                self.signal(libc::SIGKILL);
                self.wait().await
            }
        }
    }

    /// Tells the child its data changed: the reload signal when one is
    /// set, else a stop and a new start with `env`.
    ///
    /// # Errors
    /// When the new child cannot start (the old one is stopped then).
    pub async fn reload(&mut self, env: &ChildEnv) -> Result<(), ChildError> {
        if let Some(sig) = self.spec.reload_signal {
            self.signal(sig);
            return Ok(());
        }
        self.stop().await;
        *self = Child::start(&self.spec, env)?;
        Ok(())
    }
}

/// Waits for `child` to end; never returns while there is none.
/// Cancel-safe.
pub async fn ended(child: &mut Option<Child>) -> ExitStatus {
    match child.as_mut() {
        Some(c) => c.wait().await,
        None => std::future::pending().await,
    }
}

/// A supervisor's answer to signal `sig`: SIGINT, SIGTERM and SIGQUIT
/// stop the child and end the run with its exit code (`idle` when there
/// is no child); any other signal is passed on to the child. `Some`: the
/// run ends with that code.
pub async fn on_signal(child: &mut Option<Child>, sig: i32, idle: i32) -> Option<i32> {
    match (child, sig) {
        (Some(c), libc::SIGINT | libc::SIGTERM | libc::SIGQUIT) => Some(exit_code(c.stop().await)),
        (None, libc::SIGINT | libc::SIGTERM | libc::SIGQUIT) => Some(idle),
        (Some(c), other) => {
            c.signal(other);
            None
        }
        (None, _) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(script: &str) -> ChildSpec {
        ChildSpec {
            argv: vec!["/bin/sh".into(), "-c".into(), script.into()],
            kill_signal: libc::SIGTERM,
            kill_timeout: Duration::from_secs(5),
            reload_signal: None,
        }
    }

    async fn wait_for(path: &std::path::Path, want: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = std::fs::read_to_string(path).unwrap_or_default();
            if got.contains(want) || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    proptest::proptest! {
        /// Any text is a signal between 1 and 64 or a refusal naming it.
        #[test]
        fn any_signal_text_is_a_signal_or_a_refusal(s in ".{0,12}") {
            match parse_signal(&s) {
                Ok(n) => proptest::prop_assert!((1..=64).contains(&n)),
                Err(e) => proptest::prop_assert!(e.to_string().contains("unknown signal")),
            }
        }
    }

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("SIGHUP").unwrap(), libc::SIGHUP);
        assert_eq!(parse_signal("term").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("10").unwrap(), 10);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("0").is_err());
    }

    #[tokio::test]
    async fn a_restart_gives_the_new_child_the_new_environment() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let s = spec(&format!(
            "echo \"$PORT\" >> {}; trap 'exit 0' TERM; while :; do sleep 0.05; done",
            out.display()
        ));
        let mut env = ChildEnv::default();
        env.vars.insert("PORT".into(), "1".into());
        let mut c = Child::start(&s, &env).unwrap();
        let first = c.pid();
        assert_eq!(wait_for(&out, "1").await, "1\n");
        env.vars.insert("PORT".into(), "2".into());
        c.reload(&env).await.unwrap();
        assert_ne!(c.pid(), first);
        assert_eq!(wait_for(&out, "2").await, "1\n2\n");
        let status = c.stop().await;
        assert_eq!(exit_code(status), 0);
    }

    #[tokio::test]
    async fn a_reload_signal_is_sent_instead_of_a_restart() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let mut s = spec(&format!(
            "trap 'echo reloaded >> {}' HUP; trap '' TERM; echo up >> {0}; while :; do sleep 0.05; done",
            out.display()
        ));
        s.reload_signal = Some(libc::SIGHUP);
        s.kill_timeout = Duration::from_millis(300);
        let mut c = Child::start(&s, &ChildEnv::default()).unwrap();
        let pid = c.pid();
        wait_for(&out, "up").await;
        c.reload(&ChildEnv::default()).await.unwrap();
        assert_eq!(c.pid(), pid, "the same child");
        assert_eq!(wait_for(&out, "reloaded").await, "up\nreloaded\n");
        // It ignores SIGTERM: SIGKILL ends it after the kill timeout.
        let status = c.stop().await;
        assert_eq!(exit_code(status), 128 + libc::SIGKILL);
    }

    #[tokio::test]
    async fn a_pristine_child_sees_only_its_variables() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let s = ChildSpec {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("echo \"[$HOME][$ONLY]\" > {}", out.display()),
            ],
            ..spec("")
        };
        let mut env = ChildEnv {
            pristine: true,
            ..ChildEnv::default()
        };
        env.vars.insert("ONLY".into(), "x".into());
        let mut c = Child::start(&s, &env).unwrap();
        assert_eq!(exit_code(c.wait().await), 0);
        assert_eq!(std::fs::read_to_string(out).unwrap(), "[][x]\n");
    }

    #[test]
    fn an_empty_or_missing_program_is_an_error() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let _g = rt.enter();
        let e = Child::start(
            &ChildSpec {
                argv: vec![],
                ..spec("")
            },
            &ChildEnv::default(),
        );
        assert!(matches!(e, Err(ChildError::Empty)));
        let e = Child::start(
            &ChildSpec {
                argv: vec!["/nonexistent/prog".into()],
                ..spec("")
            },
            &ChildEnv::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/prog"), "{e}");
    }
}

//! `praetor envconsul`: a child runs with a KV prefix as its environment,
//! is restarted with the new environment when a key changes, and its exit
//! code is the command's. Children here stop on their own within a minute,
//! so none outlives a failed test.

use praetor_testkit::secs;

use crate::{cli, dev_agent, praetor};

/// A child that prints its PORT, then waits (at most 60 s) and exits 7 on
/// SIGTERM.
const PRINT_PORT: &str =
    r#"echo "PORT=$PORT"; trap 'exit 7' TERM; for i in $(seq 1 600); do sleep 0.1; done"#;

#[tokio::test]
async fn the_child_restarts_with_the_changed_environment_and_its_exit_code_is_passed_on(
) -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    praetor(&agent, &["kv", "put", "config/app/port", "8080"]).assert_success();
    let mut run = cli(
        &agent,
        &[
            "envconsul",
            "-prefix=config/app",
            "-upcase",
            "/bin/sh",
            "-c",
            PRINT_PORT,
        ],
    )
    .spawn()?;
    run.wait_for_stdout(secs(10), "the first start", |s| s.contains("PORT=8080"))
        .await?;

    praetor(&agent, &["kv", "put", "config/app/port", "9090"]).assert_success();
    let out = run
        .wait_for_stdout(secs(10), "the restart", |s| s.contains("PORT=9090"))
        .await?;
    assert_eq!(out.lines().collect::<Vec<_>>(), ["PORT=8080", "PORT=9090"]);

    // A change to another prefix's key does not restart it.
    praetor(&agent, &["kv", "put", "config/other/port", "1"]).assert_success();
    // SIGINT stops the child with the kill signal (SIGTERM): it exits 7.
    let stopped = run.stop(secs(20))?;
    stopped.assert_code(7);
    assert_eq!(
        stopped.stdout.lines().collect::<Vec<_>>(),
        ["PORT=8080", "PORT=9090"],
        "{stopped:?}"
    );
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn once_pristine_and_sanitize_give_only_the_prefixes_variables() -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    praetor(&agent, &["kv", "put", "global/max-conns", "5"]).assert_success();
    praetor(&agent, &["kv", "put", "global/port", "1"]).assert_success();
    praetor(&agent, &["kv", "put", "app/port", "2"]).assert_success();
    let out = cli(
        &agent,
        &[
            "envconsul",
            "-once",
            "-pristine",
            "-sanitize",
            "-prefix=global",
            "-prefix=app",
            "/bin/sh",
            "-c",
            r#"echo "[$HOME][$max_conns][$port]"; exit 4"#,
        ],
    )
    .env("HOME", "/root")
    .run()?;
    out.assert_code(4);
    assert_eq!(out.stdout, "[][5][2]\n", "{out:?}");
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn bad_flags_fail_with_a_reason_and_start_nothing() -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    let out = praetor(&agent, &["envconsul", "/bin/true"]);
    out.assert_code(1);
    assert!(out.stderr.contains("-prefix"), "{out:?}");
    let out = praetor(
        &agent,
        &[
            "envconsul",
            "-prefix=a",
            "-kill-signal=SIGNOPE",
            "/bin/true",
        ],
    );
    out.assert_code(1);
    assert!(out.stderr.contains("unknown signal \"SIGNOPE\""), "{out:?}");
    let out = praetor(
        &agent,
        &["envconsul", "-prefix=a", "-wait=9s:1s", "/bin/true"],
    );
    out.assert_code(1);
    assert!(out.stderr.contains("maximum"), "{out:?}");
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_restart_sends_the_child_the_kill_signal_given() -> anyhow::Result<()> {
    let (agent, _lo) = dev_agent().await?;
    praetor(&agent, &["kv", "put", "config/app/port", "1"]).assert_success();
    // Records each start and every signal it gets; exits on USR1 only
    // (TERM, the default, would be recorded and ignored).
    let child = r#"echo "start $PORT"
trap 'echo "got TERM"' TERM
trap 'echo "got INT"' INT
trap 'echo "got USR1"; exit 0' USR1
for i in $(seq 1 600); do sleep 0.1; done"#;
    let mut run = cli(
        &agent,
        &[
            "envconsul",
            "-prefix=config/app",
            "-upcase",
            "-kill-signal=SIGUSR1",
            "-kill-timeout=20s",
            "/bin/sh",
            "-c",
            child,
        ],
    )
    .spawn()?;
    run.wait_for_stdout(secs(10), "the first start", |s| s == "start 1\n")
        .await?;
    praetor(&agent, &["kv", "put", "config/app/port", "2"]).assert_success();
    let out = run
        .wait_for_stdout(secs(15), "the restart", |s| s.contains("start 2"))
        .await?;
    assert_eq!(out, "start 1\ngot USR1\nstart 2\n", "{}", run.stderr());
    // Stopping the run sends the same signal.
    let stopped = run.stop(secs(20))?;
    stopped.assert_code(0);
    assert_eq!(
        stopped.stdout, "start 1\ngot USR1\nstart 2\ngot USR1\n",
        "{stopped:?}"
    );
    agent.shutdown().await?;
    Ok(())
}

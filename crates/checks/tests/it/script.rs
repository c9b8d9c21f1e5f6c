//! Script checks: exit codes, output, capping, and the kill at the timeout.

use std::path::{Path, PathBuf};
use std::time::Duration;

use praetor_checks::{Kind, Runner, Status};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::support::*;

/// Writes `body` as a shell script in `dir`; run through `/bin/sh` so the
/// file is never executed while another test thread may hold it open.
fn script(dir: &Path, name: &str, body: &str) -> Vec<String> {
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    vec!["/bin/sh".into(), path.to_string_lossy().into_owned()]
}

#[tokio::test]
async fn exit_codes_map_0_passing_1_warning_else_critical() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    for (code, status) in [
        (0, Status::Passing),
        (1, Status::Warning),
        (2, Status::Critical),
        (7, Status::Critical),
    ] {
        let args = script(
            dir.path(),
            &format!("exit{code}.sh"),
            &format!("echo out\necho err >&2\necho again\nexit {code}\n"),
        );
        let (tx, mut rx) = mpsc::channel(16);
        let mut def = probed("s", Kind::Script { args }, 50, 5000);
        def.initial = if status == Status::Critical {
            Status::Passing
        } else {
            Status::Critical
        };
        let runner = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
        let u = next_update(&mut rx, WAIT, "the script's result").await;
        assert_eq!(u.status, status, "exit {code}");
        assert_eq!(u.output, "out\nerr\nagain\n", "stdout and stderr in order");
        runner.shutdown().await;
    }
}

#[tokio::test]
async fn a_missing_program_is_critical() {
    init_tracing();
    let (tx, mut rx) = mpsc::channel(16);
    let mut def = probed(
        "s",
        Kind::Script {
            args: vec!["/nonexistent/praetor-check".into()],
        },
        50,
        1000,
    );
    def.initial = Status::Passing;
    let _runner = Runner::spawn(def, tx, CancellationToken::new()).unwrap();
    let u = next_update(&mut rx, WAIT, "critical").await;
    assert_eq!(u.status, Status::Critical);
    assert!(
        u.output
            .starts_with("exec: \"/nonexistent/praetor-check\": "),
        "{}",
        u.output
    );
}

fn pid_in(file: &Path) -> Option<i32> {
    std::fs::read_to_string(file).ok()?.trim().parse().ok()
}

/// Gone, or a zombie nobody reaped yet (PID 1 in a container may not).
fn is_dead(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

async fn wait_dead(pid: i32, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !is_dead(pid) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} (pid {pid}) still alive"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_pid(file: &Path) -> i32 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(pid) = pid_in(file) {
            return pid;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pid written to {file:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn hanging(dir: &Path) -> (Vec<String>, PathBuf, PathBuf) {
    let child_pid = dir.join("child.pid");
    let shell_pid = dir.join("shell.pid");
    let body = format!(
        "echo $$ > {shell}\nsleep 1000 &\necho $! > {child}\necho started\nwait\n",
        shell = shell_pid.display(),
        child = child_pid.display()
    );
    (script(dir, "hang.sh", &body), shell_pid, child_pid)
}

#[tokio::test]
async fn a_hanging_script_is_killed_with_its_children_at_the_timeout() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (args, shell_pid, child_pid) = hanging(dir.path());
    let (tx, mut rx) = mpsc::channel(16);
    let mut def = probed("hang", Kind::Script { args }, 60_000, 500);
    def.initial = Status::Passing;
    let _runner = Runner::spawn(def, tx, CancellationToken::new()).unwrap();

    let u = next_update(&mut rx, WAIT, "the timeout").await;
    assert_eq!(u.status, Status::Critical);
    assert_eq!(u.output, "Timed out (500ms) running check\n\nstarted\n");

    tracing::info!("--- the script and the child it started are both gone");
    wait_dead(wait_pid(&shell_pid).await, "the script").await;
    wait_dead(wait_pid(&child_pid).await, "the script's child").await;
}

#[tokio::test]
async fn stopping_a_runner_mid_script_kills_the_script() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let (args, shell_pid, child_pid) = hanging(dir.path());
    let (tx, _rx) = mpsc::channel(16);
    let runner = Runner::spawn(
        probed("hang", Kind::Script { args }, 10, 60_000),
        tx,
        CancellationToken::new(),
    )
    .unwrap();
    let shell = wait_pid(&shell_pid).await;
    let child = wait_pid(&child_pid).await;
    tokio::time::timeout(WAIT, runner.shutdown())
        .await
        .expect("shutdown is prompt");
    wait_dead(shell, "the script").await;
    wait_dead(child, "the script's child").await;
}

#[tokio::test]
async fn long_script_output_is_capped_keeping_its_end() {
    init_tracing();
    let dir = tempfile::tempdir().unwrap();
    let args = script(
        dir.path(),
        "long.sh",
        "i=0\nwhile [ $i -lt 2000 ]; do echo \"line $i\"; i=$((i+1)); done\necho THE END\n",
    );
    let (tx, mut rx) = mpsc::channel(16);
    let _runner = Runner::spawn(
        probed("long", Kind::Script { args }, 50, 10_000),
        tx,
        CancellationToken::new(),
    )
    .unwrap();
    let u = next_update(&mut rx, WAIT, "passing").await;
    assert_eq!(u.status, Status::Passing);
    assert!(u.output.len() <= 4096, "{}", u.output.len());
    assert!(u.output.starts_with("Captured "), "{}", &u.output[..60]);
    assert!(u.output.ends_with("line 1999\nTHE END\n"));
}

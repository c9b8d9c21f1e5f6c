//! Script checks (Consul's `Args`): the program runs without a shell in a
//! process group of its own, with stdout and stderr on one pipe so their
//! lines keep their order. Exit 0 is passing, 1 warning, anything else
//! critical. At the timeout the whole group is killed (a script's own
//! children too) and the check is critical with `Timed out (<t>) running
//! check`. Never leaves a child behind: a probe dropped mid-run kills its
//! group.

use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::Command;

use crate::definition::Status;
use crate::output::{go_duration, Tail};
use crate::process::{reap, ProcessGroup};

/// Runs `args` once, bounded by `timeout`; output at most `max` bytes.
pub(crate) async fn probe(args: &[String], timeout: Duration, max: usize) -> (Status, String) {
    let Some((program, rest)) = args.split_first() else {
        return (Status::Critical, "no program to run".into());
    };
    let (reader, writer) = match std::io::pipe() {
        Ok(pair) => pair,
        Err(e) => return (Status::Critical, format!("creating the output pipe: {e}")),
    };
    let spawned = {
        let mut command = Command::new(program);
        command.args(rest).stdin(Stdio::null()).kill_on_drop(true);
        command.process_group(0);
        match writer.try_clone() {
            Ok(second) => {
                command.stdout(second).stderr(writer);
            }
            Err(e) => return (Status::Critical, format!("creating the output pipe: {e}")),
        }
        // The command, and so our copies of the pipe's write end, is
        // dropped here: the pipe ends when the script's group lets go of it.
        command.spawn()
    };
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => return (Status::Critical, format!("exec: {program:?}: {e}")),
    };
    let mut group = ProcessGroup::of(&child);
    let mut output = Tail::new(max);
    let mut receiver = match pipe::Receiver::from_owned_fd(OwnedFd::from(reader)) {
        Ok(r) => r,
        Err(e) => {
            return (
                Status::Critical,
                format!("reading the script's output: {e}"),
            )
        }
    };
    // As Go's `cmd.Wait`: done when the script has exited and its output
    // has ended (a child it left holding the pipe keeps it running).
    let finished = tokio::time::timeout(timeout, async {
        let read = async {
            let mut buf = [0u8; 4096];
            loop {
                match receiver.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => output.push(&buf[..n]),
                    Err(e) => {
                        tracing::debug!(error = %e, "reading the script's output");
                        break;
                    }
                }
            }
        };
        let ((), exit) = tokio::join!(read, child.wait());
        exit
    })
    .await;
    match finished {
        Ok(Ok(exit)) => {
            group.disarm();
            let text = output.report(max);
            match exit.code() {
                Some(0) => (Status::Passing, text),
                Some(1) => (Status::Warning, text),
                _ => (Status::Critical, text),
            }
        }
        Ok(Err(e)) => {
            group.kill();
            (Status::Critical, format!("waiting for {program:?}: {e}"))
        }
        Err(_) => {
            group.kill();
            if !reap(&mut child).await {
                tracing::warn!("a killed script was not reaped in time; tokio reaps it later");
            }
            tracing::warn!(timeout = %go_duration(timeout), "script check timed out; its process group was killed");
            let mut msg = format!("Timed out ({}) running check", go_duration(timeout));
            if !output.is_empty() {
                msg.push_str("\n\n");
                let room = max.saturating_sub(msg.len());
                msg.push_str(&output.report(room));
            }
            (Status::Critical, msg)
        }
    }
}

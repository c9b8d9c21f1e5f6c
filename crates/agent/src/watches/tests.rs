//! Watch handlers: one call at a time with the latest change, command
//! handlers killed (their whole process group) at their timeout or on stop,
//! HTTP handlers bounded by theirs, and the config keys that set them.

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::*;

/// Waits (up to `within`) for `probe` to hold, failing with `what`.
async fn wait_until(within: Duration, what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    let mut pause = Duration::from_millis(5);
    while !probe() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

fn change(i: u64) -> Change {
    Change {
        result: json!(i),
        index: i,
    }
}

fn command(script: String, timeout: Duration) -> Handler {
    Handler::Command {
        args: vec!["sh".into(), "-c".into(), script],
        timeout,
    }
}

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// True while `pid` names a process that is neither gone nor a zombie.
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z'))
    })
}

#[test]
fn a_waiting_change_is_replaced_by_a_newer_one() {
    let p = Pending::default();
    for i in 1..=5 {
        p.put(change(i), false);
    }
    let slot = p.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    assert_eq!(slot, Some(change(5)));
}

#[test]
fn waiting_events_accumulate_up_to_the_bound() {
    let p = Pending::default();
    p.put(
        Change {
            result: json!([{"ID": "a"}]),
            index: 1,
        },
        true,
    );
    p.put(
        Change {
            result: json!([{"ID": "b"}, {"ID": "c"}]),
            index: 2,
        },
        true,
    );
    let slot = p.slot.lock().unwrap_or_else(|e| e.into_inner()).take();
    assert_eq!(
        slot,
        Some(Change {
            result: json!([{"ID": "a"}, {"ID": "b"}, {"ID": "c"}]),
            index: 2
        })
    );
    let many = |from: usize| Change {
        result: Value::Array((from..from + 200).map(|i| json!(i)).collect()),
        index: from as u64,
    };
    let merged = merge_events(many(0), many(200));
    let events = merged.result.as_array().cloned().unwrap_or_default();
    assert_eq!(events.len(), MAX_PENDING_EVENTS);
    assert_eq!(events.last(), Some(&json!(399)), "the newest are kept");
}

#[tokio::test]
async fn a_slow_handler_runs_one_call_at_a_time_and_the_last_sees_the_latest_change() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let d = dir.path().display().to_string();
    // `mkdir` is atomic: a second concurrent call would fail it and say so.
    let script = format!(
        r#"mkdir "{d}/running" 2>/dev/null || echo overlap >> "{d}/overlap"
sleep 0.2; cat > "{d}/last"; echo "$CONSUL_INDEX" >> "{d}/runs"; rmdir "{d}/running""#
    );
    let handler = command(script, Duration::from_secs(20));
    let pending = Pending::default();
    let stop = CancellationToken::new();
    let running = dir.path().join("running");
    let runs = dir.path().join("runs");
    let feed = async {
        let mut i = 0;
        for _round in 0..4 {
            i += 1;
            pending.put(change(i), false);
            wait_until(Duration::from_secs(10), "a handler call to start", || {
                running.exists()
            })
            .await;
            // Changes while a call runs wait as one.
            for _ in 0..20 {
                i += 1;
                pending.put(change(i), false);
            }
            let last = i.to_string();
            wait_until(Duration::from_secs(20), "the latest change handled", || {
                lines(&runs).last() == Some(&last)
            })
            .await;
        }
        stop.cancel();
        i
    };
    let (written, ()) = tokio::join!(feed, call_serially(&handler, &pending, &stop));
    assert!(
        !dir.path().join("overlap").exists(),
        "two handler calls ran at once"
    );
    let seen: Vec<u64> = lines(&runs).iter().filter_map(|l| l.parse().ok()).collect();
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "in order: {seen:?}");
    assert!(
        seen.len() < 20,
        "{written} changes coalesced into few calls: {seen:?}"
    );
    assert_eq!(seen.last(), Some(&written));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("last")).ok(),
        Some(format!("{written}\n")),
        "the last call got the latest result on stdin"
    );
}

#[tokio::test]
async fn a_command_handler_gets_the_result_as_one_line_of_json_ending_in_a_newline() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("stdin");
    let handler = command(
        format!(r#"cat > "{}""#, out.display()),
        Duration::from_secs(20),
    );
    let c = Change {
        result: json!([{"Key": "x", "Value": "eQ=="}]),
        index: 7,
    };
    handler.call(&c, &CancellationToken::new()).await;
    assert_eq!(
        std::fs::read_to_string(&out).expect("the handler wrote its input"),
        "[{\"Key\":\"x\",\"Value\":\"eQ==\"}]\n"
    );
}

#[tokio::test]
async fn a_hanging_command_handler_is_killed_with_its_children_at_its_timeout() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pid_file = dir.path().join("pid");
    let script = format!(
        r#"sleep 600 & echo $! > "{}.tmp"; mv "{0}.tmp" "{0}"; wait"#,
        pid_file.display()
    );
    let handler = command(script, Duration::from_millis(500));
    let stop = CancellationToken::new();
    tokio::time::timeout(Duration::from_secs(15), handler.call(&change(1), &stop))
        .await
        .expect("the call ended at its timeout");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("the handler started its child")
        .trim()
        .parse()
        .expect("a pid");
    wait_until(
        Duration::from_secs(10),
        "the handler's child to be gone",
        || !alive(pid),
    )
    .await;
}

#[tokio::test]
async fn stopping_the_watch_kills_a_running_handler() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let pid_file = dir.path().join("pid");
    let script = format!(
        r#"echo $$ > "{}.tmp"; mv "{0}.tmp" "{0}"; exec sleep 600"#,
        pid_file.display()
    );
    let handler = command(script, Duration::from_secs(600));
    let pending = Pending::default();
    pending.put(change(1), false);
    let stop = CancellationToken::new();
    let stopper = async {
        wait_until(Duration::from_secs(10), "the handler to start", || {
            pid_file.exists()
        })
        .await;
        stop.cancel();
    };
    tokio::time::timeout(Duration::from_secs(15), async {
        tokio::join!(stopper, call_serially(&handler, &pending, &stop))
    })
    .await
    .expect("the watch stopped with its handler running");
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .expect("a pid file")
        .trim()
        .parse()
        .expect("a pid");
    assert!(!alive(pid), "the handler was killed and reaped");
}

#[tokio::test]
async fn a_handler_that_never_reads_its_input_does_not_hold_the_watch() {
    let handler = command("exit 0".into(), Duration::from_secs(600));
    let big = Change {
        result: json!("x".repeat(4 << 20)),
        index: 1,
    };
    tokio::time::timeout(
        Duration::from_secs(15),
        handler.call(&big, &CancellationToken::new()),
    )
    .await
    .expect("the call ended when the handler exited");
}

#[tokio::test]
async fn an_http_handler_that_never_answers_ends_at_its_timeout() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback listener");
    let addr = listener.local_addr().expect("its address");
    // Accepts and holds every connection, never answering.
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        for _ in 0..8 {
            match listener.accept().await {
                Ok((sock, _)) => held.push(sock),
                Err(_) => break,
            }
        }
    });
    let w: WatchConfig = serde_json::from_value(json!({
        "type": "key", "key": "k", "handler_type": "http",
        "http_handler_config": {"path": format!("http://{addr}/hook"), "timeout": "300ms"}
    }))
    .expect("a watch");
    let handler = Handler::new(&w).expect("a handler");
    tokio::time::timeout(
        Duration::from_secs(15),
        handler.call(&change(1), &CancellationToken::new()),
    )
    .await
    .expect("the request ended at its timeout");
    hold.abort();
}

#[test]
fn handler_timeouts_and_methods_are_checked_when_the_config_is_read() {
    let ok = from_config(&json!({"watches": [
        {"type": "key", "key": "k", "args": ["true"], "handler_timeout": "2m"}
    ]}))
    .expect("accepted");
    assert!(matches!(
        Handler::new(&ok[0]),
        Ok(Handler::Command { timeout, .. }) if timeout == Duration::from_secs(120)
    ));
    let default = from_config(&json!({"watches": [{"type": "key", "key": "k", "args": ["true"]}]}))
        .expect("accepted");
    assert!(matches!(
        Handler::new(&default[0]),
        Ok(Handler::Command { timeout, .. }) if timeout == DEFAULT_HANDLER_TIMEOUT
    ));
    for (bad, says) in [
        (
            json!({"type": "key", "key": "k", "args": ["true"], "handler_timeout": "0s"}),
            "above zero",
        ),
        (
            json!({"type": "key", "key": "k", "args": ["true"], "handler_timeout": "soon"}),
            "handler_timeout",
        ),
        (
            json!({"type": "key", "key": "k", "handler_type": "http",
                   "http_handler_config": {"path": "http://127.0.0.1:1/", "timeout": "0s"}}),
            "above zero",
        ),
        (
            json!({"type": "key", "key": "k", "handler_type": "http",
                   "http_handler_config": {"path": "http://127.0.0.1:1/", "method": "GE T"}}),
            "not a method",
        ),
    ] {
        let e = from_config(&json!({ "watches": [bad] })).expect_err("refused");
        let text = e.to_string();
        assert!(text.contains("watches[0]") && text.contains(says), "{text}");
    }
}

//! Configured watch handlers are bounded (issue 12): a watch calls its
//! handler one call at a time, however fast its key changes, and the last
//! call sees the latest value; a handler that hangs is killed, its children
//! too, after the watch's `handler_timeout`. A configured watch never stops
//! (issue 16): when its reads fail (its server is down) it logs each failure
//! and retries with back-off, and delivers the next change once they work.

use std::path::Path;

use praetor_testkit::{init_tracing, secs, wait_for, AgentProcess, Loopback, Signal};
use tracing::info;

use crate::put;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handler_runs_one_at_a_time_and_a_hung_one_is_killed() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let dir = tempfile::tempdir()?;
    let d = dir.path().display().to_string();
    // The slow handler: `mkdir` is atomic, so a second call running at the
    // same time records an overlap. It keeps the value it was given last.
    let slow = format!(
        r#"mkdir "{d}/running" 2>/dev/null || echo overlap >> "{d}/overlap"
sleep 0.3; cat > "{d}/last.json"; echo "$CONSUL_INDEX" >> "{d}/calls"; rmdir "{d}/running""#
    );
    // The hung handler: leaves a child and waits for it forever.
    let hung = format!(r#"sleep 600 & echo $! >> "{d}/hung.pids"; wait"#);
    let cfg = serde_json::json!({
        "watches": [
            {"type": "key", "key": "fast", "args": ["sh", "-c", slow]},
            {"type": "key", "key": "stuck", "args": ["sh", "-c", hung], "handler_timeout": "1s"},
        ]
    });
    let agent = AgentProcess::dev(&lo)?
        .config_file("watches.json", &cfg.to_string())
        .start()
        .await?;

    info!("--- write the key many times while its handler runs");
    let calls = dir.path().join("calls");
    wait_for(secs(10), "the first call (the key is absent)", || async {
        if lines(&calls).is_empty() {
            Err("no call yet".to_owned())
        } else {
            Ok(())
        }
    })
    .await?;
    let writes = 60;
    for i in 1..=writes {
        put(&agent, "fast", &format!("v{i}")).await?;
    }
    let latest = base64_of(&format!("v{writes}"));
    let last = dir.path().join("last.json");
    wait_for(secs(30), "a call with the latest value", || async {
        let text = std::fs::read_to_string(&last).unwrap_or_default();
        if text.contains(&latest) {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await?;
    assert!(
        !dir.path().join("overlap").exists(),
        "two calls of one watch ran at once"
    );
    let n = lines(&calls).len();
    assert!(
        n < writes,
        "{writes} writes made {n} calls: changes during a call wait as one"
    );

    info!("--- the hung handler and its child are killed at handler_timeout");
    let pids = dir.path().join("hung.pids");
    put(&agent, "stuck", "x").await?;
    let first: i32 = wait_for(
        secs(10),
        "two hung calls (the second after a kill)",
        || async {
            let l = lines(&pids);
            match l.first().and_then(|p| p.parse().ok()) {
                Some(pid) if l.len() >= 2 => Ok(pid),
                _ => Err(format!("{l:?}")),
            }
        },
    )
    .await?;
    wait_for(
        secs(10),
        "the first hung call's child to be gone",
        || async {
            if alive(first) {
                Err(format!("pid {first} is alive"))
            } else {
                Ok(())
            }
        },
    )
    .await?;
    agent.shutdown().await?;

    info!("--- the agent's shutdown killed the call that was running");
    let all: Vec<i32> = lines(&pids).iter().filter_map(|p| p.parse().ok()).collect();
    wait_for(secs(10), "no hung handler's child left", || async {
        let left: Vec<i32> = all.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("alive: {left:?}"))
        }
    })
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_agents_watch_survives_its_servers_restart_and_delivers_the_next_change(
) -> anyhow::Result<()> {
    init_tracing();
    let (server_lo, client_lo) = (Loopback::allocate()?, Loopback::allocate()?);
    let dir = tempfile::tempdir()?;
    let calls = dir.path().join("calls.json");
    // Each call appends the input it was given.
    let handler = format!(r#"cat >> "{}""#, calls.display());
    let cfg = serde_json::json!({
        "watches": [{"type": "key", "key": "w", "args": ["sh", "-c", handler]}]
    });
    let mut server = AgentProcess::server(&server_lo)?
        .arg("-node=watch-server")
        .start()
        .await?;
    let client = AgentProcess::builder(&client_lo)?;
    let data = format!("-data-dir={}", client.data_dir().display());
    let client = client
        .arg(data)
        .arg("-node=watch-client")
        .args(client_lo.bind_flags())
        .arg(format!("-retry-join={}", server_lo.ip()))
        .config_file("watch.json", &cfg.to_string())
        .start()
        .await?;
    put(&client, "w", "one").await?;
    let delivered = |value: &str| {
        let (calls, want) = (calls.clone(), base64_of(value));
        move || {
            let text = std::fs::read_to_string(&calls).unwrap_or_default();
            let found = text.contains(&want);
            async move {
                if found {
                    Ok(())
                } else {
                    Err(text)
                }
            }
        }
    };
    wait_for(
        secs(20),
        "the handler to get the first value",
        delivered("one"),
    )
    .await?;

    info!("--- stop the server by PID: the client's watch logs its failed reads");
    server.signal(Signal::Term)?;
    server.wait_exit_async(secs(20)).await?;
    client
        .wait_for_log(
            secs(30),
            "[WARN]  agent.watches: watch read failed; retrying",
        )
        .await?;

    info!("--- start it again on the same data dir and ports; change the key");
    server.restart().await?;
    put(&server, "w", "two").await?;
    wait_for(
        secs(60),
        "the handler to get the change made after the restart",
        delivered("two"),
    )
    .await?;
    let text = std::fs::read_to_string(&calls)?;
    let inputs: Vec<&str> = text.lines().collect();
    assert!(
        text.ends_with('\n') && inputs.iter().all(|l| l.starts_with('[') || *l == "null"),
        "each input is one line of JSON ending in a newline: {text:?}"
    );
    let with_one = inputs
        .iter()
        .filter(|l| l.contains(&base64_of("one")))
        .count();
    assert_eq!(
        with_one, 1,
        "the unchanged value is not handed over again: {text:?}"
    );
    client.shutdown().await?;
    server.shutdown().await?;
    Ok(())
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

//! `praetor watch -type=checks -service=NAME HANDLER`: the handler gets the
//! checks' JSON on stdin whenever their state changes, and only then. A
//! watch never stops on its own: it outlives its agent's restart, runs its
//! handler one call at a time, and ends with exit code 0 on SIGINT.

use praetor_testkit::{secs, AgentProcess, Cli, Loopback, Signal};
use serde_json::Value;
use tracing::info;

use crate::dev_agent;

/// A handler that prints the watched key's value (or `null`), one line per
/// call.
const PRINT_VALUE: &str = r#"python3 -c 'import json,sys,base64; d=json.load(sys.stdin); print(base64.b64decode(d[0]["Value"]).decode() if d else "null", flush=True)'"#;

/// `PUT /v1/kv/<key>` with `value`, which must succeed.
async fn put(agent: &AgentProcess, key: &str, value: &str) -> anyhow::Result<()> {
    let r = agent
        .http()
        .put(agent.url(&format!("/v1/kv/{key}")))
        .body(value.to_owned())
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "PUT {key}: {}", r.status());
    Ok(())
}

#[tokio::test]
async fn a_key_watch_survives_its_agents_restart_and_delivers_the_change_made_after_it(
) -> anyhow::Result<()> {
    praetor_testkit::init_tracing();
    let lo = Loopback::allocate()?;
    let mut agent = AgentProcess::server(&lo)?.start().await?;
    put(&agent, "x", "before").await?;
    let mut watch = Cli::new(["watch", "-type=key", "-key=x", PRINT_VALUE])
        .env("CONSUL_HTTP_ADDR", &agent.http_addr())
        .spawn()?;
    watch
        .wait_for_stdout(secs(10), "the first value", |s| s.lines().count() >= 1)
        .await?;

    info!("--- stop the agent by PID: the watch logs its failed reads and keeps running");
    agent.signal(Signal::Term)?;
    agent.wait_exit_async(secs(20)).await?;
    praetor_testkit::wait_for(secs(20), "the watch to log a failed read", || {
        let err = watch.stderr();
        let logged = err.contains("[ERROR] watch: Watch errored: type=key");
        async move {
            if logged {
                Ok(())
            } else {
                Err(err)
            }
        }
    })
    .await?;

    info!("--- start it again on the same data dir and ports; change the key");
    agent.restart().await?;
    put(&agent, "x", "after").await?;
    let out = watch
        .wait_for_stdout(secs(40), "the value written after the restart", |s| {
            s.lines().any(|l| l == "after")
        })
        .await?;
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["before", "after"],
        "the unchanged value is not handed over again after the restart"
    );

    info!("--- SIGINT ends the watch with exit code 0");
    let stopped = watch.stop(secs(10))?;
    stopped.assert_code(0);
    assert!(
        stopped.stderr.contains("retry="),
        "each failure says when it is retried: {stopped:?}"
    );
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_watch_runs_its_handler_one_call_at_a_time_with_the_latest_data_ending_in_a_newline(
) -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path().display().to_string();
    put(&a, "n", "0").await?;
    // `mkdir` is atomic: a second call running at once fails it and says so.
    // Each call prints the value it got and whether its input ended in
    // exactly one newline, then takes its time.
    let handler = format!(
        r#"mkdir "{d}/running" 2>/dev/null || echo overlap >> "{d}/overlap"; python3 -c 'import json,sys,base64; t=sys.stdin.read(); d=json.loads(t); print(base64.b64decode(d[0]["Value"]).decode(), "newline" if t.endswith("\n") and t.count("\n") == 1 else "no-newline:" + repr(t[-3:]), flush=True)'; sleep 0.5; rmdir "{d}/running""#
    );
    let mut watch = Cli::new(["watch", "-type=key", "-key=n", &handler])
        .env("CONSUL_HTTP_ADDR", &a.http_addr())
        .spawn()?;
    watch
        .wait_for_stdout(secs(10), "the first call", |s| s.lines().count() >= 1)
        .await?;

    info!("--- twenty changes while calls run");
    for i in 1..=20 {
        put(&a, "n", &i.to_string()).await?;
    }
    let out = watch
        .wait_for_stdout(secs(30), "the last value", |s| {
            s.lines().any(|l| l.starts_with("20 "))
        })
        .await?;
    let calls: Vec<(u64, &str)> = out
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter_map(|(v, nl)| Some((v.parse().ok()?, nl)))
        .collect();
    assert!(
        calls.iter().all(|(_, nl)| *nl == "newline"),
        "every call's input is one line ending in a newline: {out}"
    );
    let values: Vec<u64> = calls.iter().map(|(v, _)| *v).collect();
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "in order: {values:?}"
    );
    assert!(
        values.len() < 21,
        "changes during a call coalesce: {values:?}"
    );
    assert_eq!(values.last(), Some(&20));
    assert!(
        !dir.path().join("overlap").exists(),
        "two handler calls ran at once: {out}"
    );

    info!("--- SIGINT while a call runs still exits 0");
    put(&a, "n", "21").await?;
    watch
        .wait_for_stdout(secs(10), "the call for 21", |s| {
            s.lines().any(|l| l.starts_with("21 "))
        })
        .await?;
    watch.stop(secs(10))?.assert_code(0);
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_watch_whose_agent_does_not_answer_at_the_start_fails_as_consuls_does(
) -> anyhow::Result<()> {
    let lo = Loopback::allocate()?;
    let out = Cli::new(["watch", "-type=key", "-key=x", "true"])
        .env("CONSUL_HTTP_ADDR", &lo.http_addr())
        .run()?;
    out.assert_code(1);
    assert!(
        out.stderr.starts_with("Error querying Consul agent: "),
        "{out:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_checks_watch_runs_its_handler_on_each_change_and_only_then() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    let http = praetor_testkit::http_client_builder().no_proxy().build()?;
    let reg = serde_json::json!({"ID": "web1", "Name": "web", "Check": {"TTL": "60s", "Status": "passing"}});
    let r = http
        .put(a.url("/v1/agent/service/register"))
        .json(&reg)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    // Anti-entropy puts the check in the catalog at once.
    praetor_testkit::wait_for(secs(10), "the check in the catalog", || async {
        let v: Value = http
            .get(a.url("/v1/health/checks/web"))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if v.as_array().is_some_and(|l| l.len() == 1) {
            Ok(())
        } else {
            Err(v.to_string())
        }
    })
    .await?;

    // The handler prints the status it was given, one line per call.
    let handler = r#"python3 -c 'import json,sys,os; print(json.load(sys.stdin)[0]["Status"], os.environ["CONSUL_INDEX"], flush=True)'"#;
    let mut watch = Cli::new(["watch", "-type=checks", "-service=web", handler])
        .env("CONSUL_HTTP_ADDR", &a.http_addr())
        .spawn()?;
    watch
        .wait_for_stdout(secs(10), "the first call", |s| s.lines().count() >= 1)
        .await?;
    info!("--- an unrelated write does not call the handler; a status change does");
    http.put(a.url("/v1/kv/unrelated")).body("x").send().await?;
    http.put(a.url("/v1/agent/check/fail/service:web1?note=down"))
        .send()
        .await?;
    let out = watch
        .wait_for_stdout(secs(10), "the second call", |s| s.lines().count() >= 2)
        .await?;
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("passing "), "{out}");
    assert!(lines[1].starts_with("critical "), "{out}");
    let stopped = watch.stop(secs(5))?;
    assert_eq!(
        stopped.stdout.lines().count(),
        2,
        "exactly one call per change: {stopped:?}"
    );

    let out = Cli::new(["watch", "-type=bogus"])
        .env("CONSUL_HTTP_ADDR", &a.http_addr())
        .run()?;
    out.assert_code(1);
    assert!(out.stderr.contains("bogus"), "{out:?}");
    a.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn events_are_fired_listed_and_watched() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    let addr = a.http_addr();
    let fire = |payload: &str| {
        Cli::new(["event", "-name=deploy", payload])
            .env("CONSUL_HTTP_ADDR", &addr)
            .run()
    };
    let out = fire("v1")?;
    out.assert_success();
    assert!(out.stdout.starts_with("Event ID: "), "{out:?}");

    // A handler prints the payloads it is handed: first the recent event,
    // then only new ones.
    let handler = r#"python3 -c 'import json,sys,base64; print(",".join(base64.b64decode(e["Payload"]).decode() for e in json.load(sys.stdin)), flush=True)'"#;
    let mut watch = Cli::new(["watch", "-type=event", "-name=deploy", handler])
        .env("CONSUL_HTTP_ADDR", &addr)
        .spawn()?;
    watch
        .wait_for_stdout(secs(10), "the recent event", |s| s.lines().count() >= 1)
        .await?;
    Cli::new(["event", "-name=other", "x"])
        .env("CONSUL_HTTP_ADDR", &addr)
        .run()?
        .assert_success();
    fire("v2")?.assert_success();
    let out = watch
        .wait_for_stdout(secs(10), "the new event", |s| s.lines().count() >= 2)
        .await?;
    assert_eq!(out.lines().collect::<Vec<_>>(), ["v1", "v2"], "{out}");
    watch.stop(secs(5))?;

    let http = praetor_testkit::http_client_builder().no_proxy().build()?;
    let list: Value = http
        .get(a.url("/v1/event/list?name=deploy"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(list.as_array().map(Vec::len), Some(2), "{list}");
    assert_eq!(list[0]["Name"], "deploy");
    let r = http.put(a.url("/v1/event/fire/x?tag=t")).send().await?;
    assert_eq!(r.status(), 400, "a tag filter needs a service filter");
    a.shutdown().await?;
    Ok(())
}

//! `praetor watch -type=checks -service=NAME HANDLER`: the handler gets the
//! checks' JSON on stdin whenever their state changes, and only then.

use praetor_testkit::{secs, Cli};
use serde_json::Value;
use tracing::info;

use crate::dev_agent;

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

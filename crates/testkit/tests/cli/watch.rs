//! `praetor watch -type=checks -service=NAME HANDLER`: the handler gets the
//! checks' JSON on stdin whenever their state changes, and only then.

use praetor_testkit::{secs, Cli};
use serde_json::Value;
use tracing::info;

use crate::dev_agent;

#[tokio::test]
async fn a_checks_watch_runs_its_handler_on_each_change_and_only_then() -> anyhow::Result<()> {
    let (a, _lo) = dev_agent().await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
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

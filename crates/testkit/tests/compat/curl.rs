//! The issue's "done when" flows: `curl -X PUT localhost:8500/v1/kv/app/db
//! -d 'pg://…'`, reads with `?raw` and `?recurse`, a blocking read woken by a
//! write, and `DELETE ?recurse`, answered as Consul answers them. The real
//! curl sends `-d` bodies form-encoded; the value must still be stored as sent.

use std::process::Command;
use std::time::Instant;

use base64::Engine as _;
use praetor_testkit::{init_tracing, millis, secs, AgentProcess, Loopback};
use serde_json::Value;
use tracing::info;

const DSN: &str = "pg://app:s3cret@db:5432/app?sslmode=require&pool=10";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_flow_over_raw_http_behaves_as_on_consul() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let agent = AgentProcess::dev(&lo)?.start().await?;
    let (http, u) = (agent.http(), lo.http_url());

    info!("--- PUT a value on port 8500: true, with X-Consul-Index");
    let r = http
        .put(format!("{u}/v1/kv/app/db"))
        .body(DSN)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-consul-index"));
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.text().await?.trim(), "true");
    http.put(format!("{u}/v1/kv/app/port?flags=5"))
        .body("5432")
        .send()
        .await?
        .error_for_status()?;
    http.put(format!("{u}/v1/kv/apple"))
        .body("not under app/")
        .send()
        .await?
        .error_for_status()?;

    info!("--- GET: Consul's JSON with base64 values; ?raw the bytes");
    let r = http.get(format!("{u}/v1/kv/app/db")).send().await?;
    let index: u64 = r.headers()["x-consul-index"].to_str()?.parse()?;
    let e: Vec<Value> = r.json().await?;
    assert_eq!(e[0]["Key"], "app/db");
    assert_eq!(
        e[0]["Value"],
        base64::engine::general_purpose::STANDARD.encode(DSN)
    );
    assert_eq!(e[0]["ModifyIndex"].as_u64(), Some(index));
    let raw = http
        .get(format!("{u}/v1/kv/app/db?raw"))
        .send()
        .await?
        .text()
        .await?;
    assert_eq!(raw, DSN);

    info!("--- ?recurse lists the prefix, ?keys its keys");
    let all: Vec<Value> = http
        .get(format!("{u}/v1/kv/app/?recurse"))
        .send()
        .await?
        .json()
        .await?;
    let keys: Vec<&str> = all.iter().filter_map(|e| e["Key"].as_str()).collect();
    assert_eq!(keys, ["app/db", "app/port"]);
    assert_eq!(all[1]["Flags"], 5);
    let keys: Vec<String> = http
        .get(format!("{u}/v1/kv/?keys&separator=/"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(keys, ["app/", "apple"]);

    info!("--- a blocking GET waits out ?wait when nothing changes");
    let started = Instant::now();
    let r = http
        .get(format!("{u}/v1/kv/app/db?index={index}&wait=300ms"))
        .send()
        .await?;
    let waited = started.elapsed();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-consul-index"].to_str()?, index.to_string());
    assert!(
        waited >= millis(250),
        "returned after {waited:?}, before the wait"
    );

    info!("--- and returns at once with the new value when the key changes");
    let blocked = {
        let (http, url) = (
            http.clone(),
            format!("{u}/v1/kv/app/db?index={index}&wait=30s"),
        );
        tokio::spawn(async move { http.get(url).send().await?.json::<Vec<Value>>().await })
    };
    http.put(format!("{u}/v1/kv/app/db"))
        .body("pg://db2")
        .send()
        .await?
        .error_for_status()?;
    let woke = tokio::time::timeout(secs(10), blocked).await???;
    assert_eq!(
        woke[0]["Value"],
        base64::engine::general_purpose::STANDARD.encode("pg://db2")
    );
    assert!(woke[0]["ModifyIndex"].as_u64() > Some(index));

    info!("--- DELETE ?recurse removes the prefix, and only it");
    let r = http
        .delete(format!("{u}/v1/kv/app/?recurse"))
        .send()
        .await?;
    assert_eq!(r.text().await?.trim(), "true");
    assert_eq!(
        http.get(format!("{u}/v1/kv/app/?recurse"))
            .send()
            .await?
            .status(),
        404
    );
    assert_eq!(
        http.get(format!("{u}/v1/kv/apple?raw"))
            .send()
            .await?
            .text()
            .await?,
        "not under app/"
    );
    agent.shutdown().await?;
    Ok(())
}

/// Runs `curl -sS --max-time 10 ARGS` and returns its stdout.
#[track_caller]
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "--noproxy", "*"])
        .args(args)
        .output();
    let out = out.expect("running curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_issues_curl_commands_work_verbatim() -> anyhow::Result<()> {
    init_tracing();
    let found = Command::new("curl").arg("--version").output();
    assert!(
        found.is_ok(),
        "this test runs the real curl; install it (scripts/test.sh does)"
    );
    let lo = Loopback::allocate()?;
    let agent = AgentProcess::dev(&lo)?.start().await?;
    let base = format!("{}:8500", lo.ip());

    info!("--- curl -X PUT …/v1/kv/app/db -d '…' (a form-encoded body is stored as sent)");
    let put = curl(&["-X", "PUT", &format!("{base}/v1/kv/app/db"), "-d", DSN]);
    assert_eq!(put.trim(), "true");
    curl(&[
        "-X",
        "PUT",
        &format!("{base}/v1/kv/app/port"),
        "--data-binary",
        "5432",
    ]);
    assert_eq!(curl(&[&format!("{base}/v1/kv/app/db?raw")]), DSN);

    info!("--- curl …/v1/kv/app?recurse");
    let all: Vec<Value> = serde_json::from_str(&curl(&[&format!("{base}/v1/kv/app?recurse")]))?;
    assert_eq!(all.len(), 2);

    info!("--- curl -X DELETE …/v1/kv/app?recurse");
    let del = curl(&["-X", "DELETE", &format!("{base}/v1/kv/app?recurse")]);
    assert_eq!(del.trim(), "true");
    let status = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{base}/v1/kv/app?recurse"),
    ]);
    assert_eq!(status, "404");
    agent.shutdown().await?;
    Ok(())
}

/// Python's `py-consul` client, as a Consul user's script uses it (the test
/// command installs it with pip).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_consul_registers_watches_and_reads_as_on_consul() -> anyhow::Result<()> {
    praetor_testkit::init_tracing();
    let lo = praetor_testkit::Loopback::allocate()?;
    let agent = praetor_testkit::AgentProcess::dev(&lo)?.start().await?;
    crate::run_py("registry.py", &[agent.http_addr().to_string()], &agent).await?;
    agent.shutdown().await?;
    Ok(())
}

/// py-consul's `agent.self()` (issue 16): every key Consul returns, and a
/// `Config.Version` version-checking clients accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_consul_reads_the_agents_self_description_and_a_consul_version() -> anyhow::Result<()> {
    praetor_testkit::init_tracing();
    let lo = praetor_testkit::Loopback::allocate()?;
    let agent = praetor_testkit::AgentProcess::dev(&lo)?.start().await?;
    crate::run_py("introspect.py", &[agent.http_addr().to_string()], &agent).await?;
    agent.shutdown().await?;
    Ok(())
}

/// py-consul's sessions, `acquire`/`release` and `txn.put`, as a Consul
/// user's leader-election script uses them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_consul_sessions_locks_and_txn_work_as_on_consul() -> anyhow::Result<()> {
    praetor_testkit::init_tracing();
    let lo = praetor_testkit::Loopback::allocate()?;
    let agent = praetor_testkit::AgentProcess::dev(&lo)?.start().await?;
    crate::run_py("sessions.py", &[agent.http_addr().to_string()], &agent).await?;
    agent.shutdown().await?;
    Ok(())
}

/// py-consul's prepared queries (`c.query`, issue 19): create, list, get,
/// execute, explain, update and delete, and a critical instance leaving
/// an `OnlyPassing` answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn py_consul_prepared_queries_work_as_on_consul() -> anyhow::Result<()> {
    praetor_testkit::init_tracing();
    let lo = praetor_testkit::Loopback::allocate()?;
    let agent = praetor_testkit::AgentProcess::dev(&lo)?.start().await?;
    crate::run_py("queries.py", &[agent.http_addr().to_string()], &agent).await?;
    agent.shutdown().await?;
    Ok(())
}

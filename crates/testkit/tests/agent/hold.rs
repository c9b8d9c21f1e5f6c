//! `performance.rpc_hold_timeout` as a user sees it (issue 16): a request
//! that no leader can take is held for the configured time — on a server
//! (its leader wait) and on a client agent (its retries across servers) —
//! and then answered with one clear line naming the cause: no leader, or the
//! server that could not be reached, never a prefix said twice.
//!
//! Times are bounded loosely (a loaded machine answers late, never early):
//! at least the configured hold, and clearly less than Consul's 7 s default
//! where a short hold is configured.

use std::time::{Duration, Instant};

use praetor_testkit::{init_tracing, secs, wait_for, AgentProcess, Loopback};
use tracing::info;

/// Consul's prefix for an error forwarding a request to a server.
const RPC_PREFIX: &str = "rpc error making call:";

/// `{"performance": {"rpc_hold_timeout": hold}}`.
fn hold_config(hold: &str) -> String {
    serde_json::json!({ "performance": { "rpc_hold_timeout": hold } }).to_string()
}

/// One request to `agent`: its status, its body, and how long the answer took.
async fn timed(
    agent: &AgentProcess,
    method: reqwest::Method,
    path: &str,
) -> anyhow::Result<(u16, String, Duration)> {
    let started = Instant::now();
    let r = agent
        .http()
        .request(method.clone(), agent.url(path))
        .timeout(secs(30))
        .body(if method == reqwest::Method::PUT {
            "v"
        } else {
            ""
        })
        .send()
        .await?;
    let status = r.status().as_u16();
    let body = r.text().await?;
    Ok((status, body, started.elapsed()))
}

/// Asserts that `body` is one line saying one thing: a single line ending in
/// a newline, with Consul's forwarding prefix at most once and never twice
/// in a row, and no Rust debug dump.
#[track_caller]
fn assert_one_clear_line(body: &str) {
    let text = body.strip_suffix('\n').unwrap_or(body);
    assert!(
        body.ends_with('\n') && !text.contains('\n') && !text.trim().is_empty(),
        "one line: {body:?}"
    );
    assert!(
        text.matches(RPC_PREFIX).count() <= 1,
        "the prefix said once: {body:?}"
    );
    for part in ["rpc error", "connecting to", "No cluster leader"] {
        assert!(
            !text.contains(&format!("{part}: {part}")) && text.matches(part).count() <= 1,
            "{part:?} repeated: {body:?}"
        );
    }
    assert!(
        !text.contains(" { ") && !text.contains("Some(") && !text.contains("::"),
        "no debug dump: {body:?}"
    );
}

/// A server that expects three servers and is alone: it never has a leader.
async fn leaderless_server(lo: &Loopback, name: &str, hold: &str) -> anyhow::Result<AgentProcess> {
    let b = AgentProcess::builder(lo)?;
    let data = format!("-data-dir={}", b.data_dir().display());
    Ok(b.args(["-server", "-bootstrap-expect=3"])
        .arg(data)
        .arg(format!("-node={name}"))
        .args(lo.bind_flags())
        .config_file("hold.json", &hold_config(hold))
        .no_leader_wait()
        .start()
        .await?)
}

/// A client agent joined to `server`, holding requests for `hold`.
async fn client_of(
    lo: &Loopback,
    name: &str,
    server: &Loopback,
    hold: &str,
    wait_leader: bool,
) -> anyhow::Result<AgentProcess> {
    let b = AgentProcess::builder(lo)?;
    let data = format!("-data-dir={}", b.data_dir().display());
    let b = b
        .arg(data)
        .arg(format!("-node={name}"))
        .args(lo.bind_flags())
        .arg(format!("-retry-join={}", server.ip()))
        .config_file("hold.json", &hold_config(hold));
    Ok(if wait_leader { b } else { b.no_leader_wait() }
        .start()
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_no_leader_a_server_and_a_client_agent_answer_after_their_rpc_hold_timeout_in_one_line(
) -> anyhow::Result<()> {
    init_tracing();
    let (s_lo, c_lo) = (Loopback::allocate()?, Loopback::allocate()?);
    // The server's hold is short; the client's is longer, so the client's
    // own setting shows in what it answers.
    let mut server = leaderless_server(&s_lo, "hold-server", "1s").await?;
    let client = client_of(&c_lo, "hold-client", &s_lo, "3s", false).await?;

    info!("--- the server alone, rpc_hold_timeout 1s: a write and a read wait ~1 s, not 7");
    for method in [reqwest::Method::PUT, reqwest::Method::GET] {
        let (status, body, took) = timed(&server, method.clone(), "/v1/kv/held").await?;
        info!(%method, status, ?body, ?took, "the server answered");
        assert_eq!(status, 500, "{method}: {body}");
        assert_eq!(body, "No cluster leader\n", "{method}");
        assert!(
            took >= Duration::from_millis(900) && took < secs(5),
            "{method} held {took:?}: rpc_hold_timeout is 1s (default 7s)"
        );
    }

    info!("--- the client agent, once it knows the server: No cluster leader, after its 3s");
    wait_for(secs(20), "the client to reach the server", || async {
        let r = client
            .http()
            .get(client.url("/v1/status/peers"))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if r.status() == 200 {
            Ok(())
        } else {
            Err(format!(
                "{}: {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ))
        }
    })
    .await?;
    let (status, body, took) = timed(&client, reqwest::Method::PUT, "/v1/kv/held").await?;
    info!(status, ?body, ?took, "the client answered a write");
    assert_eq!(status, 500, "{body}");
    assert_one_clear_line(&body);
    assert!(
        body.contains("No cluster leader"),
        "names the cause: {body:?}"
    );
    assert!(
        took >= Duration::from_millis(2900) && took < secs(20),
        "held {took:?}: the client's rpc_hold_timeout is 3s"
    );

    info!("--- SIGKILL the server: the client holds 3 s, then names what it could not reach");
    server.kill9()?;
    for method in [reqwest::Method::GET, reqwest::Method::PUT] {
        let (status, body, took) = timed(&client, method.clone(), "/v1/kv/held").await?;
        info!(%method, status, ?body, ?took, "the client answered");
        assert_eq!(status, 500, "{method}: {body}");
        assert_one_clear_line(&body);
        let rpc_addr = format!("{}:8300", s_lo.ip());
        assert!(
            (body.starts_with(RPC_PREFIX) && body.contains(&rpc_addr))
                || body == "No known Consul servers\n",
            "{method} names the server it could not reach: {body:?}"
        );
        assert!(
            took >= Duration::from_millis(2900) && took < secs(20),
            "{method} held {took:?}: the client's rpc_hold_timeout is 3s"
        );
    }
    client.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_agent_whose_server_is_gone_answers_after_its_short_rpc_hold_timeout_not_seven_seconds(
) -> anyhow::Result<()> {
    init_tracing();
    let (s_lo, c_lo) = (Loopback::allocate()?, Loopback::allocate()?);
    let mut server = AgentProcess::server(&s_lo)?
        .arg("-node=gone-server")
        .start()
        .await?;
    let client = client_of(&c_lo, "gone-client", &s_lo, "1s", true).await?;
    crate::put(&client, "k", "v").await?;

    info!("--- SIGKILL the only server; reads and writes through the client");
    server.kill9()?;
    for method in [reqwest::Method::GET, reqwest::Method::PUT] {
        let (status, body, took) = timed(&client, method.clone(), "/v1/kv/k").await?;
        info!(%method, status, ?body, ?took, "the client answered");
        assert_eq!(status, 500, "{method}: {body}");
        assert_one_clear_line(&body);
        assert!(
            body.contains(&format!("{}:8300", s_lo.ip())) || body == "No known Consul servers\n",
            "{method} names the cause: {body:?}"
        );
        assert!(
            took >= Duration::from_millis(900) && took < secs(5),
            "{method} held {took:?}: rpc_hold_timeout is 1s (default 7s)"
        );
    }
    client.shutdown().await?;
    Ok(())
}

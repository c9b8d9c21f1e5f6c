//! `limits` through the real binary: Consul's request rate limits log what
//! permissive mode lets through and refuse it in enforcing mode, and SIGHUP
//! applies new limits (body size, rate mode) at once, while a bad limit on
//! SIGHUP is refused naming its key and changes nothing.

use praetor_testkit::{init_tracing, secs, AgentProcess, Loopback, Signal};
use tracing::info;

/// `n` reads of `key` as fast as they go; their statuses.
async fn reads(agent: &AgentProcess, key: &str, n: usize) -> anyhow::Result<Vec<u16>> {
    let mut statuses = Vec::new();
    for _ in 0..n {
        let r = agent
            .http()
            .get(agent.url(&format!("/v1/kv/{key}")))
            .send()
            .await?;
        statuses.push(r.status().as_u16());
    }
    Ok(statuses)
}

/// `PUT /v1/kv/<key>` with `len` bytes; the status.
async fn put_len(agent: &AgentProcess, key: &str, len: usize) -> anyhow::Result<u16> {
    let r = agent
        .http()
        .put(agent.url(&format!("/v1/kv/{key}")))
        .body(vec![b'v'; len])
        .send()
        .await?;
    Ok(r.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_applies_new_body_and_rate_limits_and_refuses_a_bad_mode() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    info!("--- a dev agent: 1 KiB values, permissive rate limits of 1 read a second");
    let mut agent = AgentProcess::dev(&lo)?
        .config_dir_file(
            "limits.hcl",
            "limits {\n  kv_max_value_size = 1024\n  request_limits {\n    mode = \"permissive\"\n    read_rate = 1\n  }\n}\n",
        )
        .start()
        .await?;
    assert_eq!(put_len(&agent, "big", 2000).await?, 413);
    assert_eq!(put_len(&agent, "small", 10).await?, 200);
    let statuses = reads(&agent, "small", 20).await?;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    let line = agent
        .wait_for_log(secs(5), "exceeded the allowed rate limit")
        .await?;
    assert!(
        line.contains("limit_enforced=false") && line.contains("global/read"),
        "{line}"
    );

    info!("--- SIGHUP: 4 KiB values, enforcing mode, no reads at all");
    std::fs::write(
        agent.config_dir_path("limits.hcl"),
        "limits {\n  kv_max_value_size = 4096\n  request_limits {\n    mode = \"enforcing\"\n    read_rate = 0\n  }\n}\n",
    )?;
    agent.signal(Signal::Hup)?;
    agent.wait_for_log(secs(10), "reloaded").await?;
    assert_eq!(put_len(&agent, "big", 2000).await?, 200);
    let r = agent.http().get(agent.url("/v1/kv/big")).send().await?;
    assert_eq!(r.status(), 429);
    assert_eq!(
        r.text().await?,
        "rate limit exceeded, try again later or against a different server\n"
    );
    let r = agent.http().get(agent.url("/v1/agent/self")).send().await?;
    assert_eq!(r.status(), 200, "the agent's own endpoints are not limited");

    info!("--- SIGHUP with a bad mode: refused, naming the key; the limits stay");
    std::fs::write(
        agent.config_dir_path("limits.hcl"),
        "limits {\n  request_limits {\n    mode = \"strict\"\n  }\n}\n",
    )?;
    agent.signal(Signal::Hup)?;
    let line = agent.wait_for_log(secs(10), "invalid mode").await?;
    assert!(line.contains("limits.request_limits.mode"), "{line}");
    let r = agent.http().get(agent.url("/v1/kv/big")).send().await?;
    assert_eq!(r.status(), 429, "the old limits still apply");
    assert_eq!(put_len(&agent, "bigger", 3000).await?, 200);
    agent.shutdown().await?;
    Ok(())
}

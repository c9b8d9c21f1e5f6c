//! Issue 16, item 7, as a real client meets it: py-consul against a dev
//! agent where Praetor used to answer otherwise than Consul (a catalog
//! deregister for another datacenter deleted the local node; unknown IDs
//! were 400s, which py-consul raises where Consul's 404 is `False`; the
//! service list ignored `?filter=`'s instance fields; `get-or-empty` was
//! an unknown verb).

/// py-consul's catalog, agent, filter and txn calls answer as on Consul.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_16_py_consul_meets_consuls_answers() -> anyhow::Result<()> {
    praetor_testkit::init_tracing();
    let lo = praetor_testkit::Loopback::allocate()?;
    let agent = praetor_testkit::AgentProcess::dev(&lo)?.start().await?;
    crate::run_py("differences.py", &[agent.http_addr().to_string()], &agent).await?;
    agent.shutdown().await?;
    Ok(())
}

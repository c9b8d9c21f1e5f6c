//! Starting and stopping: a dev agent leads at once; SIGINT and SIGTERM stop
//! it cleanly with exit code 0; SIGHUP reloads the config files (the log
//! level) and the agent keeps serving, also when the new files are bad;
//! SIGSTOP/SIGCONT pause and resume it; Consul's single-dash flags work; an
//! address or data dir already in use stops it with exit code 1.

use std::time::Duration;

use praetor_testkit::{init_tracing, millis, secs, AgentProcess, Loopback, Signal};
use tracing::info;

use crate::{agent_self, get_raw, put};

/// Starts a dev agent, times it to leader, stops it with `signal`.
async fn dev_agent_stops_cleanly_on(signal: Signal) -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    info!("--- start a dev agent and time it from spawn to leader");
    let mut agent = AgentProcess::dev(&lo)?.spawn()?;
    let took = agent.wait_ready().await?;
    info!(?took, "the dev agent is leader");
    assert!(
        took < secs(5),
        "a dev agent took {took:?} from spawn to leader"
    );

    info!("--- it serves, with Consul's defaults");
    let me = agent_self(&agent).await?;
    assert_eq!(me["Config"]["Datacenter"], "dc1");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
    assert_eq!(
        me["Config"]["NodeName"],
        host.trim(),
        "the node name defaults to the host name"
    );
    assert_eq!(me["Config"]["Server"], true);
    put(&agent, "lifecycle/k", "v").await?;
    assert_eq!(get_raw(&agent, "lifecycle/k").await?, "v");

    info!(?signal, "--- the signal stops it with exit code 0");
    agent.signal(signal)?;
    let status = agent.wait_exit_async(secs(10)).await?;
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after {signal:?}\n{}",
        agent.log()
    );
    let log = agent.log();
    let caught = match signal {
        Signal::Int => "caught SIGINT",
        _ => "caught SIGTERM",
    };
    assert!(
        log.contains(caught) && log.contains("agent stopped"),
        "the log tells the shutdown:\n{log}"
    );
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_agent_leads_at_once_and_sigint_exits_0() -> anyhow::Result<()> {
    dev_agent_stops_cleanly_on(Signal::Int).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_agent_leads_at_once_and_sigterm_exits_0() -> anyhow::Result<()> {
    dev_agent_stops_cleanly_on(Signal::Term).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_log_level_and_the_agent_keeps_serving() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    info!("--- a dev agent whose config dir sets log_level = info");
    let mut agent = AgentProcess::dev(&lo)?
        .config_dir_file("log.json", r#"{ "log_level": "info" }"#)
        .start()
        .await?;
    put(&agent, "hup/before", "1").await?;

    info!("--- change the file to debug and send SIGHUP: the reload is logged");
    std::fs::write(
        agent.config_dir_path("log.json"),
        r#"{ "log_level": "debug" }"#,
    )?;
    agent.signal(Signal::Hup)?;
    agent.wait_for_log(secs(10), "reloaded").await?;
    let log = agent.log();
    assert!(
        log.lines()
            .any(|l| l.contains("reloaded") && l.contains("debug")),
        "a reload line names the new level:\n{log}"
    );
    assert!(
        !log.contains("/v1/kv/hup/before"),
        "at info, requests were not logged:\n{log}"
    );

    info!("--- it keeps serving, and now logs requests at debug");
    put(&agent, "hup/after", "2").await?;
    assert_eq!(get_raw(&agent, "hup/before").await?, "1");
    agent.wait_for_log(secs(5), "/v1/kv/hup/after").await?;

    info!("--- a bad file on SIGHUP is refused, logged, and changes nothing");
    std::fs::write(
        agent.config_dir_path("log.json"),
        r#"{ "ports": { "http": 70000 } }"#,
    )?;
    agent.signal(Signal::Hup)?;
    let line = agent.wait_for_log(secs(10), "invalid").await?;
    assert!(
        line.contains("ports.http"),
        "the refusal names the key: {line}"
    );
    put(&agent, "hup/after-bad", "3").await?;
    assert_eq!(get_raw(&agent, "hup/after-bad").await?, "3");
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstop_pauses_the_agent_and_sigcont_resumes_it() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let mut agent = AgentProcess::dev(&lo)?.start().await?;
    put(&agent, "pause/k", "v").await?;

    info!("--- SIGSTOP: requests get no answer");
    agent.signal(Signal::Stop)?;
    let r = agent
        .http()
        .get(agent.url("/v1/kv/pause/k?raw"))
        .timeout(millis(300))
        .send()
        .await;
    assert!(
        r.as_ref().is_err_and(|e| e.is_timeout()),
        "a stopped agent answered: {r:?}"
    );

    info!("--- SIGCONT: it answers again, state intact");
    agent.signal(Signal::Cont)?;
    assert_eq!(get_raw(&agent, "pause/k").await?, "v");
    put(&agent, "pause/k2", "w").await?;
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consuls_single_dash_flags_work() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let ip = lo.ip();
    info!("--- agent -dev -config-dir=DIR -http-port=8555 -server-port=8355 -client=IP -bind=IP -datacenter=flags-dc");
    let agent = AgentProcess::builder(&lo)?
        .args([
            "-dev".to_owned(),
            "-http-port=8555".into(),
            "-server-port=8355".into(),
        ])
        .args([
            format!("-client={ip}"),
            format!("-bind={ip}"),
            "-datacenter=flags-dc".into(),
        ])
        .config_dir_file("node.json", r#"{ "node_name": "from-config-dir" }"#)
        .http_port(8555)
        .start()
        .await?;
    let me = agent_self(&agent).await?;
    assert_eq!(
        me["Config"]["NodeName"], "from-config-dir",
        "-config-dir was read"
    );
    assert_eq!(
        me["Config"]["Datacenter"], "flags-dc",
        "-datacenter was applied"
    );
    let leader: String = agent
        .http()
        .get(agent.url("/v1/status/leader"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        leader,
        format!("{ip}:8355"),
        "-server-port and -bind were applied"
    );
    let default_port = agent
        .http()
        .get(format!("http://{ip}:8500/v1/agent/self"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(default_port.is_err(), "-http-port moved the API off 8500");
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_is_prompt_with_a_blocking_query_and_a_watch_open() -> anyhow::Result<()> {
    init_tracing();
    let lo = Loopback::allocate()?;
    let mut agent = AgentProcess::dev(&lo)?.start().await?;
    put(&agent, "open/k", "v").await?;
    let r = agent.http().get(agent.url("/v1/kv/open/k")).send().await?;
    let index = r.headers()["x-consul-index"].to_str()?.to_owned();

    info!("--- a blocking query (wait=60s) and a watch stream are open");
    let mut blocked = {
        let http = praetor_testkit::http_client_builder().no_proxy().build()?;
        let url = agent.url(&format!("/v1/kv/open/k?index={index}&wait=60s"));
        tokio::spawn(async move { http.get(url).send().await.map(|r| r.status()) })
    };
    let still = tokio::time::timeout(millis(300), &mut blocked).await;
    assert!(
        still.is_err(),
        "the blocking query answered before its key changed: {still:?}"
    );
    let mut watch = praetor_testkit::Cli::new(["kv", "watch", "-index=1", "open/"])
        .env("CONSUL_HTTP_ADDR", &agent.http_addr())
        .spawn()?;
    watch
        .wait_for_stdout(secs(10), "the first event", |s| s.lines().count() >= 1)
        .await?;

    info!("--- SIGTERM: the agent ends both and exits 0 at once");
    let started = std::time::Instant::now();
    agent.signal(Signal::Term)?;
    let status = agent.wait_exit_async(secs(15)).await?;
    let took = started.elapsed();
    info!(?took, %status, "exited");
    assert_eq!(status.code(), Some(0));
    assert!(
        took < secs(5),
        "SIGTERM took {took:?} with a blocking query open\n{}",
        agent.log_tail(20)
    );
    let answer = tokio::time::timeout(secs(5), blocked).await??;
    info!(?answer, "the blocking query ended");
    let stopped = watch.wait_exit(secs(5))?;
    info!(?stopped, "the watch ended");
    assert_eq!(
        stopped.status.code(),
        Some(1),
        "a watch whose agent went away fails: {stopped:?}"
    );
    assert!(
        stopped.stderr.contains("watch stream ended"),
        "and says why: {stopped:?}"
    );
    agent.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_address_in_use_exits_1_naming_it() -> anyhow::Result<()> {
    init_tracing();
    let (lo, other) = (Loopback::allocate()?, Loopback::allocate()?);
    let first = AgentProcess::dev(&lo)?.start().await?;
    info!("--- a second agent whose HTTP API would share the first one's address");
    let client = format!("-client={}", lo.ip());
    let mut second = AgentProcess::builder(&other)?
        .arg("-dev")
        .arg(format!("-bind={}", other.ip()))
        .arg(client)
        .spawn()?;
    let status = second.wait_exit_async(secs(10)).await?;
    let stderr = second.stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&lo.http_addr()) && stderr.contains("in use"),
        "names the address:\n{stderr}"
    );
    put(&first, "still/serving", "yes").await?;
    first.shutdown().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_in_use_exits_1_naming_it() -> anyhow::Result<()> {
    init_tracing();
    let (lo, other) = (Loopback::allocate()?, Loopback::allocate()?);
    let first = AgentProcess::server(&lo)?.start().await?;
    info!("--- a second server on the same data dir");
    let data = format!("-data-dir={}", first.data_dir().display());
    let second = AgentProcess::builder(&other)?
        .args(["-server", "-bootstrap-expect=1"])
        .arg(data)
        .args(other.bind_flags());
    let mut second = second.spawn()?;
    let status = second.wait_exit_async(secs(10)).await?;
    let stderr = second.stderr();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&first.data_dir().display().to_string()),
        "names the data dir:\n{stderr}"
    );
    put(&first, "still/serving", "yes").await?;
    assert_eq!(get_raw(&first, "still/serving").await?, "yes");
    first.shutdown().await?;
    Ok(())
}

//! What clients see while a cluster elects a leader: nothing but answers.
//! A new cluster serves a session on every server as soon as any server
//! reports a leader, and a client agent holds requests through the death
//! of the leader (`performance.rpc_hold_timeout`) instead of failing
//! them, with a blocking query in flight surviving the change; a
//! `praetor watch` through a client agent keeps running through the
//! leader's death and runs its handler on the next change.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use praetor_testkit::{http_client_builder, init_tracing, secs, wait_for, Cluster, Spec};
use serde_json::Value;
use tracing::info;

/// `GET {base}{path}` → (status, body, X-Consul-Index), or the transport error.
async fn get(http: &reqwest::Client, base: &str, path: &str) -> Result<(u16, String, u64), String> {
    let r = http
        .get(format!("{base}{path}"))
        .send()
        .await
        .map_err(|e| format!("GET {path}: {e}"))?;
    let status = r.status().as_u16();
    let index = r
        .headers()
        .get("x-consul-index")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .unwrap_or(0);
    let body = r.text().await.map_err(|e| format!("GET {path}: {e}"))?;
    Ok((status, body, index))
}

#[tokio::test]
async fn a_forming_cluster_takes_sessions_on_every_server_as_soon_as_a_leader_is_reported(
) -> anyhow::Result<()> {
    init_tracing();
    let cluster = Cluster::spawn(Spec::servers(3)).await?;
    let http = http_client_builder().timeout(secs(20)).build()?;
    let base = |name: &str| -> anyhow::Result<String> {
        Ok(format!("http://{}", cluster.node(name)?.http_addr()))
    };
    // As a start-up script would: poll one server until it names a leader.
    let s2 = base("s2")?;
    let deadline = Instant::now() + secs(30);
    loop {
        let said = get(&http, &s2, "/v1/status/leader").await;
        if said
            .as_ref()
            .is_ok_and(|(s, b, _)| *s == 200 && b.len() > 2)
        {
            break;
        }
        anyhow::ensure!(Instant::now() < deadline, "no leader reported: {said:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    info!("--- a leader is reported: a session on each server's own node at once");
    for name in ["s2", "s3", "s1"] {
        let r = http
            .put(format!("{}/v1/session/create", base(name)?))
            .body(r#"{"Name":"first","TTL":"30s"}"#)
            .send()
            .await?;
        let status = r.status().as_u16();
        let body = r.text().await?;
        anyhow::ensure!(status == 200, "session create on {name}: {status} {body}");
    }
    info!("--- every server is listed as the consul service");
    let (status, body, _) = get(&http, &s2, "/v1/catalog/service/consul")
        .await
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(status == 200, "{status} {body}");
    let list: Vec<Value> = serde_json::from_str(&body)?;
    let mut nodes: Vec<&str> = list.iter().filter_map(|s| s["Node"].as_str()).collect();
    nodes.sort_unstable();
    assert_eq!(nodes, ["s1", "s2", "s3"], "{body}");
    for s in &list {
        let node = s["Node"].as_str().unwrap_or_default();
        let rpc = cluster.node(node)?.rpc_addr();
        assert!(
            rpc.ends_with(&format!(":{}", s["ServicePort"])),
            "{node}: port {} vs {rpc}",
            s["ServicePort"]
        );
    }
    cluster.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_client_agent_sees_no_error_while_the_leader_dies_and_another_is_elected(
) -> anyhow::Result<()> {
    init_tracing();
    let mut cluster = Cluster::start(Spec::servers(3).clients(1)).await?;
    let old = cluster.wait_for_leader(secs(10)).await?;
    let c1 = format!("http://{}", cluster.node("c1")?.http_addr());
    let http = http_client_builder().timeout(secs(90)).build()?;
    cluster.put_acked("c1", "hold/read", "steady").await?;
    let index = cluster.put_acked("c1", "hold/watched", "before").await?;

    info!("--- a blocking query on hold/watched through c1, and a reader");
    let blocking = {
        let (http, c1) = (http.clone(), c1.clone());
        tokio::spawn(async move {
            get(
                &http,
                &c1,
                &format!("/v1/kv/hold/watched?raw&index={index}&wait=60s"),
            )
            .await
        })
    };
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (http, c1, stop) = (http.clone(), c1.clone(), stop.clone());
        tokio::spawn(async move {
            let (mut reads, mut errors) = (0u32, Vec::new());
            let started = Instant::now();
            // Bounded: the test stops it, or a minute passes.
            while !stop.load(Ordering::Relaxed) && started.elapsed() < secs(60) {
                for path in ["/v1/kv/hold/read?raw", "/v1/kv/hold/read?raw&consistent"] {
                    reads += 1;
                    match get(&http, &c1, path).await {
                        Ok((200, body, _)) if body == "steady" => {}
                        other => errors.push(format!("{path}: {other:?}")),
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (reads, errors)
        })
    };
    // The blocking query waits on some server before the kill.
    let servers = cluster.server_names();
    wait_for(secs(10), "the blocking query to wait on a server", || {
        let (cluster, servers) = (&cluster, &servers);
        async move {
            let mut open = 0.0;
            for s in servers {
                let m = cluster
                    .get_json(s, "/v1/agent/metrics")
                    .await
                    .map_err(|e| e.to_string())?;
                open += m["Gauges"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|g| g["Name"] == "consul.rpc.queries_blocking")
                    .filter_map(|g| g["Value"].as_f64())
                    .sum::<f64>();
            }
            if open >= 1.0 {
                Ok(())
            } else {
                Err("no blocking query open".to_owned())
            }
        }
    })
    .await?;

    info!("--- SIGKILL the leader {old}; writes through c1 go on at once");
    cluster.kill9(&old)?;
    let killed = Instant::now();
    for i in 0..5 {
        let key = format!("hold/after/{i}");
        let put = cluster.put("c1", &key, "written").await?;
        assert!(put.is_acked(), "write {i} after the kill: {put:?}");
    }
    let took = killed.elapsed();
    info!(
        held_ms = took.as_millis() as u64,
        "five writes acknowledged after the kill"
    );
    cluster.put_acked("c1", "hold/watched", "after").await?;

    let answer = blocking.await?.map_err(anyhow::Error::msg)?;
    assert_eq!(
        (answer.0, answer.1.as_str()),
        (200, "after"),
        "the blocking query in flight over the election"
    );
    stop.store(true, Ordering::Relaxed);
    let (reads, errors) = reader.await?;
    assert!(
        errors.is_empty(),
        "{} of {reads} reads failed: {errors:#?}",
        errors.len()
    );
    info!(reads, "every read answered through the election");
    cluster.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_watch_through_a_client_agent_survives_the_leaders_death_and_runs_on_the_next_change(
) -> anyhow::Result<()> {
    init_tracing();
    let mut cluster = Cluster::start(Spec::servers(3).clients(1)).await?;
    let old = cluster.wait_for_leader(secs(10)).await?;
    cluster.put_acked("c1", "watched/key", "before").await?;
    let dir = tempfile::tempdir()?;
    let calls = dir.path().join("calls.json");
    // Each call appends the JSON it was given on stdin.
    let handler = format!(r#"cat >> "{}""#, calls.display());
    let mut watch = cluster
        .cli("c1", &["watch", "-type=key", "-key=watched/key", &handler])?
        .spawn()?;
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
        delivered("before"),
    )
    .await?;

    info!("--- SIGKILL the leader {old}; wait for another");
    let killed = Instant::now();
    cluster.kill9(&old)?;
    let (new, took) = cluster.wait_for_new_leader(&old, killed, secs(30)).await?;
    info!(%new, ?took, "a new leader");

    info!("--- change the key through c1: the watch runs its handler with the new value");
    cluster.put_acked("c1", "watched/key", "after").await?;
    let want = base64_of("after");
    wait_for(
        secs(30),
        "the handler to get the value written after the election",
        || {
            let text = std::fs::read_to_string(&calls).unwrap_or_default();
            let answer = if text.contains(&want) {
                Ok(())
            } else {
                Err(format!("calls: {text}\nwatch stderr: {}", watch.stderr()))
            };
            async move { answer }
        },
    )
    .await?;
    assert!(
        watch.is_running(),
        "the watch still runs after the election; stderr:\n{}",
        watch.stderr()
    );
    let text = std::fs::read_to_string(&calls)?;
    assert_eq!(
        text.lines()
            .filter(|l| l.contains(&base64_of("before")))
            .count(),
        1,
        "the unchanged value is not handed over again: {text:?}"
    );

    info!("--- SIGINT (by PID) ends the watch with exit code 0");
    let stopped = watch.stop(secs(10))?;
    stopped.assert_code(0);
    info!(stderr = %stopped.stderr, "what the watch logged");
    cluster.shutdown().await?;
    Ok(())
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

//! The tutorial's health-check flow, word for word with `praetor` in place
//! of `consul`: the nginx service JSON registered on a client agent, `praetor
//! watch -type=checks -service=service_nginx` with a Python handler, the
//! target stopped and started again: the handler sees critical, then passing.

use std::net::SocketAddr;

use praetor_testkit::{init_tracing, secs, Cluster, Spec};
use reqwest::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::info;

/// A tiny HTTP server answering 200 to everything, until the task is aborted.
async fn nginx(addr: SocketAddr) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("the target binds");
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = sock.read(&mut buf).await;
                let _ = sock
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    })
}

#[tokio::test]
async fn the_tutorials_watch_fires_when_nginx_stops_and_again_when_it_is_back() -> anyhow::Result<()>
{
    init_tracing();
    let cluster = Cluster::start(Spec::servers(3).clients(1)).await?;
    let ip = cluster.node("c1")?.ip();
    let target: SocketAddr = format!("{ip}:18080").parse()?;
    let mut server = nginx(target).await;

    // The tutorial's JSON, with the client's own loopback address.
    let reg = format!(
        r#"{{"ID":"service_nginx","Name":"service_nginx","Tags":["singleNginx"],"Address":"{ip}","Port":18080,
 "Check":{{"DeregisterCriticalServiceAfter":"60s","HTTP":"http://{ip}:18080","Interval":"1s"}},
 "EnableTagOverride":false}}"#
    );
    let r = cluster
        .request(
            "c1",
            Method::PUT,
            "/v1/agent/service/register",
            Some(&reg),
            secs(10),
        )
        .await?;
    assert_eq!(r.status, 200, "{r:?}");

    let handler = r#"python3 -c 'import json,sys; print(" ".join(c["Status"] for c in json.load(sys.stdin) if c["ServiceID"] == "service_nginx"), flush=True)'"#;
    let http_addr = cluster.node("c1")?.http_addr();
    let mut watch = cluster
        .cli(
            "c1",
            &[
                "watch",
                &format!("-http-addr={http_addr}"),
                "-type=checks",
                "-service=service_nginx",
                handler,
            ],
        )?
        .spawn()?;
    // The handler's output, one status per call.
    fn calls(s: &str) -> Vec<String> {
        s.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect()
    }
    let seen = watch
        .wait_for_stdout(secs(15), "passing", |s| {
            calls(s).last().is_some_and(|l| l == "passing")
        })
        .await?;
    let before = calls(&seen).len();

    info!("--- nginx stops: the handler sees critical");
    server.abort();
    let _ = (&mut server).await;
    let seen = watch
        .wait_for_stdout(secs(15), "critical after the stop", |s| {
            calls(s)[before..].iter().any(|l| l == "critical")
        })
        .await?;
    let before = calls(&seen).len();

    info!("--- nginx is back: the handler sees passing again");
    let _server = nginx(target).await;
    let out = watch
        .wait_for_stdout(secs(15), "passing again", |s| {
            calls(s)[before..].iter().any(|l| l == "passing")
        })
        .await?;
    info!(%out, "the handler's calls");
    watch.stop(secs(5))?;
    cluster.shutdown().await?;
    Ok(())
}

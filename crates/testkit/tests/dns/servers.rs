//! `consul.service.consul`: the leader registers a `consul` service for
//! every server (issue 16), so DNS lists the servers as Consul's does — A
//! records with their addresses, and SRV records on the server RPC port
//! (8300) whose targets are the servers' node names, with their addresses
//! in the additional section — asked of a client agent and of a server, in
//! the standard and the RFC 2782 form. Client agents are not listed.

use praetor_testkit::{init_tracing, secs, wait_for, Cluster, Spec};
use tracing::info;

use super::dig;

#[tokio::test]
async fn consul_service_lists_every_server_with_its_address_and_rpc_port() -> anyhow::Result<()> {
    init_tracing();
    let cluster = Cluster::start(Spec::servers(3).clients(1)).await?;
    let mut servers = cluster.server_names();
    servers.sort();
    let mut addrs = Vec::new();
    let mut srv = Vec::new();
    let mut extra = Vec::new();
    for name in &servers {
        let ip = cluster.node(name)?.ip().to_string();
        let target = format!("{name}.node.dc1.consul.");
        srv.push(format!("1 1 8300 {target}"));
        extra.push((target, ip.clone()));
        addrs.push(ip);
    }
    addrs.sort();
    srv.sort();
    extra.sort();
    let c1_ip = cluster.node("c1")?.ip().to_string();
    assert!(!addrs.contains(&c1_ip));

    for via in ["c1", "s2"] {
        let at = cluster.node(via)?.ip();
        info!(via, "--- consul.service.consul A: every server's address");
        let d = wait_for(secs(20), "the three servers in A answers", || async {
            let d = dig(at, &["consul.service.consul", "A"]).await?;
            if d.data("A") == addrs {
                Ok(d)
            } else {
                Err(d.output)
            }
        })
        .await?;
        assert_eq!(d.status, "NOERROR", "{}", d.output);
        assert!(d.flags.contains(&"aa".to_owned()), "{}", d.output);

        for name in ["consul.service.consul", "_consul._tcp.service.consul"] {
            info!(via, name, "--- SRV: port 8300 on each server's node name");
            let d = dig(at, &[name, "SRV"]).await.map_err(anyhow::Error::msg)?;
            assert_eq!(d.status, "NOERROR", "{}", d.output);
            assert_eq!(d.data("SRV"), srv, "{name} via {via}: {}", d.output);
            let mut got: Vec<(String, String)> = d
                .additional
                .iter()
                .filter(|r| r.rtype == "A")
                .map(|r| (r.name.clone(), r.data.clone()))
                .collect();
            got.sort();
            assert_eq!(got, extra, "{name} via {via}: {}", d.output);
        }
    }
    cluster.shutdown().await?;
    Ok(())
}

//! Three servers and a client agent, with services registered on the
//! client: every form of name Consul answers, healthy instances only, a
//! check going critical, TTLs, unknown names, truncation with TCP retry,
//! and recursors.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use hickory_net::proto::rr::{RData, RecordType};
use praetor_testkit::{init_tracing, secs, wait_for, Cluster, Loopback, Spec};
use reqwest::Method;
use tracing::info;

use super::upstream::{Upstream, WWW};
use super::{dig, hickory, Dig};

/// An address no node holds, as web2's own service address.
const WEB2_ADDR: &str = "127.0.0.251";

async fn put(cluster: &Cluster, via: &str, path: &str, body: &str) -> anyhow::Result<()> {
    let r = cluster
        .request(via, Method::PUT, path, Some(body), secs(10))
        .await?;
    anyhow::ensure!(r.status == 200, "PUT {path}: {r:?}");
    Ok(())
}

/// Waits until `dig <args>` on `server` satisfies `ok`; the last answer.
async fn dig_until(
    server: Ipv4Addr,
    args: &[&str],
    what: &str,
    ok: impl Fn(&Dig) -> bool,
) -> anyhow::Result<Dig> {
    Ok(wait_for(secs(20), what, || async {
        let d = dig(server, args).await?;
        if ok(&d) {
            Ok(d)
        } else {
            Err(d.output)
        }
    })
    .await?)
}

#[tokio::test]
async fn dns_answers_healthy_instances_in_every_consul_form() -> anyhow::Result<()> {
    init_tracing();
    // Two upstreams on an address of their own: one that never answers
    // (tried first), one that does.
    let lo = Loopback::allocate()?;
    let silent = tokio::net::UdpSocket::bind((lo.ip(), 8301)).await?;
    let upstream = Upstream::start(SocketAddr::from((lo.ip(), 8600))).await?;
    let recursors = format!("[\"{}:8301\", \"{}\"]", lo.ip(), upstream.addr);
    let cluster = Cluster::start(
        Spec::servers(3)
            .clients(1)
            .config("recursors", &recursors)
            .config(
                "dns_config",
                r#"{"enable_truncate": true, "recursor_timeout": "500ms", "node_ttl": "10s",
                    "service_ttl": {"*": "5s", "web": "30s"}}"#,
            ),
    )
    .await?;
    let c1 = cluster.node("c1")?.ip();
    let s1 = cluster.node("s1")?.ip();

    info!("--- register web1 (passing), web2 (own address, passing), web3 (critical) on c1");
    put(
        &cluster,
        "c1",
        "/v1/agent/service/register",
        r#"{"ID": "web1", "Name": "web", "Port": 8080, "Tags": ["v1", "primary"],
            "Check": {"TTL": "120s", "Status": "passing"}}"#,
    )
    .await?;
    put(&cluster, "c1", "/v1/agent/service/register",
        &format!(r#"{{"ID": "web2", "Name": "web", "Port": 8081, "Tags": ["v2"], "Address": "{WEB2_ADDR}",
            "Check": {{"TTL": "120s", "Status": "passing"}}}}"#)).await?;
    put(
        &cluster,
        "c1",
        "/v1/agent/service/register",
        r#"{"ID": "web3", "Name": "web", "Port": 8082, "Address": "127.0.0.252",
            "Check": {"TTL": "120s", "Status": "critical"}}"#,
    )
    .await?;
    put(
        &cluster,
        "c1",
        "/v1/agent/service/register",
        r#"{"ID": "db1", "Name": "db", "Port": 5432}"#,
    )
    .await?;
    // Sorted as `Dig::data` sorts.
    let mut healthy = vec![c1.to_string(), WEB2_ADDR.to_owned()];
    healthy.sort();
    for via in [c1, s1] {
        let d = dig_until(
            via,
            &["web.service.consul", "A"],
            "web1 and web2 in A answers",
            |d| d.data("A") == healthy,
        )
        .await?;
        assert_eq!(d.status, "NOERROR");
        assert!(d.flags.contains(&"aa".to_owned()), "{}", d.output);
    }

    info!("--- only healthy instances, in each form");
    let d = dig(c1, &["web.service.dc1.consul", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(d.data("A"), healthy);
    let d = dig(c1, &["v1.web.service.consul", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(d.data("A"), [c1.to_string()], "tag v1");
    let d = dig(c1, &["_web._v2.service.consul", "SRV"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(
        d.data("SRV"),
        [format!("1 1 8081 {}.addr.dc1.consul.", hex(WEB2_ADDR))],
        "RFC 2782 tag"
    );
    let d = dig(c1, &["_web._tcp.service.consul", "SRV"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(d.answer.len(), 2, "RFC 2782 _tcp: {}", d.output);
    let d = dig(c1, &["_web._tcp.consul", "SRV"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(d.answer.len(), 2, "RFC 2782 without .service: {}", d.output);

    info!("--- SRV: ports, targets that resolve, addresses in the additional section (hickory)");
    let m = hickory(c1, "web.service.consul.", RecordType::SRV, false)
        .await
        .map_err(anyhow::Error::msg)?;
    let mut srv: Vec<(u16, String)> = m
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(s) => Some((s.port, s.target.to_ascii())),
            _ => None,
        })
        .collect();
    srv.sort();
    let node_target = "c1.node.dc1.consul.".to_owned();
    let addr_target = format!("{}.addr.dc1.consul.", hex(WEB2_ADDR));
    assert_eq!(
        srv,
        [(8080, node_target.clone()), (8081, addr_target.clone())]
    );
    let mut extra: Vec<(String, String)> = m
        .additionals
        .iter()
        .map(|r| (r.name.to_ascii(), r.data.to_string()))
        .collect();
    extra.sort();
    assert_eq!(
        extra,
        [
            (addr_target.clone(), WEB2_ADDR.to_owned()),
            (node_target.clone(), c1.to_string())
        ]
    );
    assert!(
        m.answers.iter().all(|r| r.ttl == 30),
        "service_ttl web: {m:?}"
    );
    for (target, want) in [
        (&node_target, c1.to_string()),
        (&addr_target, WEB2_ADDR.to_owned()),
    ] {
        let d = dig(c1, &[target, "A"]).await.map_err(anyhow::Error::msg)?;
        assert_eq!(d.data("A"), [want], "{target} resolves");
    }

    info!("--- TTLs: per service, \"*\", nodes");
    let d = dig(c1, &["db.service.consul", "SRV"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(
        d.answer.iter().map(|r| r.ttl).collect::<Vec<_>>(),
        [5],
        "{}",
        d.output
    );
    // The leader registers each member in the catalog shortly after it joins.
    let d = dig_until(c1, &["s2.node.consul", "A"], "s2 in the catalog", |d| {
        d.answer.len() == 1
    })
    .await?;
    assert_eq!(
        (d.answer[0].data.as_str(), d.answer[0].ttl),
        (cluster.node("s2")?.ip().to_string().as_str(), 10)
    );

    info!("--- nodes, addresses, reverse lookups");
    let d = dig(s1, &["c1.node.dc1.consul", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(d.data("A"), [c1.to_string()]);
    let d = dig(c1, &["-x", &c1.to_string()])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(d.data("PTR"), ["c1.node.dc1.consul."], "{}", d.output);
    let d = dig(c1, &[&format!("{}.addr.consul", hex("10.1.2.3")), "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(d.data("A"), ["10.1.2.3"]);

    info!("--- unknown names: NXDOMAIN with the SOA");
    for name in [
        "nope.service.consul",
        "web.service.dc9.consul",
        "what.consul",
        "ghost.node.consul",
    ] {
        let d = dig(c1, &[name, "A"]).await.map_err(anyhow::Error::msg)?;
        assert_eq!(d.status, "NXDOMAIN", "{name}: {}", d.output);
        assert_eq!(d.authority.len(), 1, "{name}: {}", d.output);
        assert_eq!(
            (d.authority[0].name.as_str(), d.authority[0].rtype.as_str()),
            ("consul.", "SOA")
        );
    }

    info!("--- web1's check goes critical: out of answers within a second");
    put(&cluster, "c1", "/v1/agent/check/fail/service:web1", "").await?;
    let failed = Instant::now();
    wait_for(secs(1), "web1 gone from A answers", || async {
        let m = hickory(c1, "web.service.consul.", RecordType::A, false).await?;
        let addrs: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
        if addrs == [WEB2_ADDR] {
            Ok(())
        } else {
            Err(format!("{addrs:?}"))
        }
    })
    .await?;
    info!(took = ?failed.elapsed(), "web1 left the answers");
    put(&cluster, "c1", "/v1/agent/check/pass/service:web1", "").await?;
    dig_until(c1, &["web.service.consul", "A"], "web1 back", |d| {
        d.data("A") == healthy
    })
    .await?;

    info!("--- 50 instances: UDP is cut with TC, dig retries over TCP and gets them all");
    for i in 0..50 {
        let body = format!(
            r#"{{"Node": "ext-{i:02}", "Address": "10.20.0.{i}", "Service": {{"ID": "big", "Service": "big", "Port": {}}}}}"#,
            9000 + i
        );
        put(&cluster, "c1", "/v1/catalog/register", &body).await?;
    }
    let full = dig_until(
        c1,
        &["+tcp", "big.service.consul", "SRV"],
        "50 big instances over TCP",
        |d| d.answer.len() == 50,
    )
    .await?;
    assert_eq!(
        full.additional.iter().filter(|r| r.rtype == "A").count(),
        50
    );
    let cut = dig(c1, &["+ignore", "+noedns", "big.service.consul", "SRV"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert!(cut.flags.contains(&"tc".to_owned()), "{}", cut.output);
    assert_eq!(cut.answer.len(), 3, "udp_answer_limit: {}", cut.output);
    let cut = dig(
        c1,
        &["+ignore", "+bufsize=1232", "big.service.consul", "SRV"],
    )
    .await
    .map_err(anyhow::Error::msg)?;
    assert!(
        cut.flags.contains(&"tc".to_owned()) && cut.answer.len() > 3 && cut.answer.len() < 50,
        "{}",
        cut.output
    );
    let retried = dig(c1, &["+noedns", "big.service.consul", "SRV"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert!(retried.retried_tcp, "{}", retried.output);
    assert_eq!(retried.answer.len(), 50, "{}", retried.output);
    let m = hickory(c1, "big.service.consul.", RecordType::SRV, true)
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(
        (m.answers.len(), m.additionals.len()),
        (50, 50),
        "hickory over TCP"
    );

    info!("--- other names go to the recursors (the silent one times out first)");
    let before = upstream.asked();
    let d = dig(c1, &["www.example.test", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(d.data("A"), [WWW.to_string()], "{}", d.output);
    assert!(d.flags.contains(&"ra".to_owned()), "{}", d.output);
    let d = dig(c1, &["+tcp", "nothing.example.test", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(d.status, "NXDOMAIN", "relayed: {}", d.output);
    assert!(upstream.asked() >= before + 2);
    drop(silent);

    cluster.shutdown().await?;
    Ok(())
}

/// The hex spelling of an IPv4 address, as `.addr.` names use it.
fn hex(ip: &str) -> String {
    let ip: std::net::Ipv4Addr = ip.parse().expect("an IPv4 address");
    ip.octets().iter().map(|b| format!("{b:02x}")).collect()
}

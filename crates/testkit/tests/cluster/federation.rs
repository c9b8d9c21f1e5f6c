//! Two datacenters of three servers and a client agent each, federated
//! over the WAN from their config files (`retry_join_wan`), as an operator
//! would: every server in `praetor members -wan`, KV and catalog reads and
//! writes in the other datacenter through a client agent (`?dc=`), a
//! blocking query on dc2 from dc1 woken by a dc2 write, DNS names of the
//! other datacenter, and a WAN partition that leaves each datacenter
//! serving itself while cross-datacenter requests fail cleanly, until it
//! heals.

use std::time::{Duration, Instant};

use praetor_testkit::{init_tracing, secs, wait_for, Cluster, Spec};
use reqwest::Method;
use serde_json::Value;
use tracing::info;

use crate::members_table;

/// WAN failure detection tuned down for loopback (`gossip_wan`): a probe
/// every second, a failed server declared within a few seconds.
const FAST_WAN: &str = r#"{ "probe_interval": "1s", "probe_timeout": "500ms", "suspicion_mult": 3, "gossip_interval": "200ms" }"#;

/// The datacenter `dc`: three servers (each joining `wan_join` over the
/// WAN, retried every second) and a client agent, with a short hold so
/// failed calls come back within seconds.
fn datacenter(dc: &str, wan_join: &[String], partitionable: bool) -> Spec {
    let mut spec = Spec::servers(3)
        .clients(1)
        .datacenter(dc)
        .config("gossip_wan", FAST_WAN)
        .config("performance", r#"{ "rpc_hold_timeout": "2s" }"#);
    if partitionable {
        spec = spec.partitionable();
    }
    if !wan_join.is_empty() {
        let join = serde_json::to_string(wan_join).expect("a list of strings");
        for s in ["s1", "s2", "s3"] {
            spec = spec.node_config(s, "retry_join_wan", &join).node_config(
                s,
                "retry_interval_wan",
                r#""1s""#,
            );
        }
    }
    spec
}

/// dc1, then dc2 joining dc1's servers over the WAN; returns once
/// `praetor members -wan` on dc1's s1 lists all six servers alive.
async fn federate(partitionable: bool) -> anyhow::Result<(Cluster, Cluster)> {
    let dc1 = Cluster::start(datacenter("dc1", &[], partitionable)).await?;
    let dc1_servers: Vec<String> = ["s1", "s2", "s3"]
        .iter()
        .map(|s| Ok(dc1.node(s)?.ip().to_string()))
        .collect::<anyhow::Result<_>>()?;
    let dc2 = Cluster::start(datacenter("dc2", &dc1_servers, partitionable)).await?;
    wan_members_alive(&dc1, "s1", 6, secs(30)).await?;
    Ok((dc1, dc2))
}

/// Waits until `praetor members -wan` on `via` lists `n` servers alive
/// (`<node>.<dc>`); the table's rows.
async fn wan_members_alive(
    cluster: &Cluster,
    via: &str,
    n: usize,
    within: Duration,
) -> anyhow::Result<std::collections::BTreeMap<String, Vec<String>>> {
    Ok(
        wait_for(within, "every server alive in the WAN pool", || async {
            let out = cluster
                .cli(via, &["members", "-wan"])
                .map_err(|e| e.to_string())?
                .run()
                .map_err(|e| e.to_string())?;
            let rows = members_table(&out.stdout);
            let alive = rows
                .values()
                .filter(|r| r.get(2).is_some_and(|s| s == "alive"))
                .count();
            if out.status.success() && alive == n {
                Ok(rows)
            } else {
                Err(format!("{out:?}"))
            }
        })
        .await?,
    )
}

/// `method path` on `via`, answered within 30 s: (status, body, index).
async fn call(
    cluster: &Cluster,
    via: &str,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> anyhow::Result<(u16, String, Option<u64>)> {
    let a = cluster.request(via, method, path, body, secs(30)).await?;
    Ok((a.status, a.body, a.index))
}

/// The decoded value of the one key a KV read answered.
fn kv_value(body: &str) -> anyhow::Result<String> {
    let v: Value = serde_json::from_str(body)?;
    let b64 = v[0]["Value"].as_str().unwrap_or_default();
    use base64::Engine as _;
    Ok(String::from_utf8(
        base64::engine::general_purpose::STANDARD.decode(b64)?,
    )?)
}

/// `dig +short <name> <rtype>` against `via`'s DNS (one try, 3 s): the
/// answer's lines, trimmed.
async fn dig_short(
    cluster: &Cluster,
    via: &str,
    rtype: &str,
    name: &str,
) -> Result<String, String> {
    let server = cluster.node(via).map_err(|e| e.to_string())?.ip();
    let out = tokio::process::Command::new("dig")
        .arg(format!("@{server}"))
        .args(["-p", "8600", "+tries=1", "+time=3", "+short", name, rtype])
        .output()
        .await
        .map_err(|e| format!("running dig (is dnsutils installed?): {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[tokio::test]
async fn two_datacenters_federated_from_config_files_serve_each_others_requests(
) -> anyhow::Result<()> {
    init_tracing();
    info!("--- dc1, then dc2 joining it over the WAN from its config files");
    let (dc1, dc2) = federate(false).await?;
    let rows = wan_members_alive(&dc1, "s1", 6, secs(5)).await?;
    for name in ["s1.dc1", "s2.dc1", "s3.dc1", "s1.dc2", "s2.dc2", "s3.dc2"] {
        let row = rows
            .get(name)
            .unwrap_or_else(|| panic!("{name} in {rows:?}"));
        assert_eq!(row[3], "server", "{row:?}");
        assert_eq!(
            row[6],
            name.rsplit('.').next().unwrap(),
            "its DC column: {row:?}"
        );
    }
    assert!(
        !rows.contains_key("c1.dc1"),
        "client agents are in no WAN pool"
    );

    info!("--- the datacenters, this one first, from a client agent");
    assert_eq!(
        dc1.get_json("c1", "/v1/catalog/datacenters").await?,
        serde_json::json!(["dc1", "dc2"])
    );
    assert_eq!(
        dc2.get_json("c1", "/v1/catalog/datacenters").await?,
        serde_json::json!(["dc2", "dc1"])
    );

    info!("--- a KV write in dc2 through dc1's client agent; each dc keeps its own KV");
    let (status, body, _) = call(
        &dc1,
        "c1",
        Method::PUT,
        "/v1/kv/fed/k?dc=dc2",
        Some("from dc1"),
    )
    .await?;
    assert_eq!((status, body.trim()), (200, "true"));
    let (status, body, local_index) = call(&dc2, "c1", Method::GET, "/v1/kv/fed/k", None).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(kv_value(&body)?, "from dc1");
    let (status, body, remote_index) =
        call(&dc1, "c1", Method::GET, "/v1/kv/fed/k?dc=dc2", None).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(kv_value(&body)?, "from dc1");
    assert_eq!(remote_index, local_index, "X-Consul-Index comes from dc2");
    let (status, _, _) = call(&dc1, "c1", Method::GET, "/v1/kv/fed/k", None).await?;
    assert_eq!(status, 404, "dc1's own KV does not have it");

    info!("--- the CLI's -datacenter reaches dc2 for writes and reads alike");
    dc1.cli(
        "c1",
        &["kv", "put", "-datacenter=dc2", "fed/cli", "by the cli"],
    )?
    .run()?
    .assert_success();
    let (status, body, _) = call(&dc2, "c1", Method::GET, "/v1/kv/fed/cli", None).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(kv_value(&body)?, "by the cli");
    let out = dc1
        .cli("c1", &["kv", "get", "-datacenter=dc2", "fed/cli"])?
        .run()?;
    out.assert_success();
    assert_eq!(out.stdout.trim(), "by the cli");

    info!("--- a catalog registration in dc2 from dc1, read back from both sides");
    let reg = r#"{"Node":"ext-db","Address":"10.20.30.40","Service":{"Service":"db","Port":5432}}"#;
    let (status, body, _) = call(
        &dc1,
        "c1",
        Method::PUT,
        "/v1/catalog/register?dc=dc2",
        Some(reg),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    let there = dc1.get_json("c1", "/v1/catalog/service/db?dc=dc2").await?;
    assert_eq!(there[0]["Address"], "10.20.30.40", "{there}");
    assert_eq!(there[0]["Datacenter"], "dc2", "{there}");
    assert_eq!(dc2.get_json("c1", "/v1/catalog/service/db").await?, there);
    assert_eq!(
        dc1.get_json("c1", "/v1/catalog/service/db").await?,
        serde_json::json!([]),
        "dc1's catalog does not have it"
    );
    let health = dc1.get_json("c1", "/v1/health/service/db?dc=dc2").await?;
    assert_eq!(health[0]["Node"]["Node"], "ext-db", "{health}");
    let ui = dc1
        .get_json("c1", "/v1/internal/ui/services?dc=dc2")
        .await?;
    let db = ui
        .as_array()
        .and_then(|l| l.iter().find(|s| s["Name"] == "db"))
        .unwrap_or_else(|| panic!("db in {ui}"));
    assert_eq!(db["Datacenter"], "dc2", "the UI labels it with dc2: {db}");

    info!("--- a prepared query stored in dc2 and executed there, from dc1");
    let def = r#"{"Name":"db-q","Service":{"Service":"db"}}"#;
    let (status, body, _) = call(&dc1, "c1", Method::POST, "/v1/query?dc=dc2", Some(def)).await?;
    assert_eq!(status, 200, "{body}");
    let run = dc1.get_json("c1", "/v1/query/db-q/execute?dc=dc2").await?;
    assert_eq!(run["Datacenter"], "dc2", "{run}");
    assert_eq!(run["Nodes"][0]["Node"]["Node"], "ext-db", "{run}");
    let (status, body, _) = call(&dc1, "c1", Method::GET, "/v1/query/db-q/execute", None).await?;
    assert_eq!(
        (status, body.trim()),
        (404, "Query not found"),
        "dc1 has none"
    );

    info!("--- a blocking query on dc2 from dc1 wakes on a dc2 write");
    let index = remote_index.expect("an index");
    let blocking = {
        let path = format!("/v1/kv/fed/k?dc=dc2&index={index}&wait=20s");
        let dc1 = &dc1;
        async move { call(dc1, "c1", Method::GET, &path, None).await }
    };
    let write = async {
        // The query is open on dc2's leader before this write.
        tokio::time::sleep(secs(1)).await;
        call(
            &dc2,
            "c1",
            Method::PUT,
            "/v1/kv/fed/k",
            Some("written in dc2"),
        )
        .await
    };
    let ((status, body, woke_at), put) = tokio::try_join!(blocking, write)?;
    assert_eq!(put.0, 200, "{put:?}");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        kv_value(&body)?,
        "written in dc2",
        "woken by the write, not the wait"
    );
    assert!(woke_at > Some(index), "{woke_at:?} after {index}");

    info!("--- an unknown datacenter has no path");
    for via in ["c1", "s2"] {
        let (status, body, _) = call(&dc1, via, Method::GET, "/v1/kv/fed/k?dc=dc9", None).await?;
        assert_eq!(
            (status, body.trim()),
            (500, "No path to datacenter"),
            "via {via}"
        );
    }

    info!("--- DNS names of the other datacenter, through dc1's client agent");
    let dig = |name: &'static str| dig_short(&dc1, "c1", "A", name);
    assert_eq!(
        dig("db.service.dc2.consul")
            .await
            .map_err(anyhow::Error::msg)?,
        "10.20.30.40"
    );
    assert_eq!(
        dig("ext-db.node.dc2.consul")
            .await
            .map_err(anyhow::Error::msg)?,
        "10.20.30.40"
    );
    assert_eq!(
        dig("db.service.consul").await.map_err(anyhow::Error::msg)?,
        "",
        "not in dc1"
    );

    info!("--- a client agent has no WAN pool");
    let out = dc1.cli("c1", &["members", "-wan"])?.run()?;
    out.assert_code(1);
    assert!(out.stderr.contains("not a server"), "{out:?}");
    let s1_dc2 = dc2.node("s1")?.ip().to_string();
    let out = dc1.cli("c1", &["join", "-wan", &s1_dc2])?.run()?;
    out.assert_code(1);
    assert!(
        out.stderr.contains("Must be a server to join WAN cluster"),
        "{out:?}"
    );

    dc2.shutdown().await?;
    dc1.shutdown().await?;
    Ok(())
}

/// Waits (at most `within`) until prepared query `query`, executed
/// through `cluster`'s client agent, answers one instance, at `address`,
/// from datacenter `dc` after asking `failovers` other datacenters.
async fn executes_as(
    cluster: &Cluster,
    query: &str,
    (dc, failovers, address): (&str, u64, &str),
    within: Duration,
) -> anyhow::Result<Value> {
    let path = format!("/v1/query/{query}/execute");
    Ok(
        wait_for(within, "the query answered as expected", || async {
            let got = cluster
                .get_json("c1", &path)
                .await
                .map_err(|e| e.to_string())?;
            let nodes = got["Nodes"].as_array().map_or(0, Vec::len);
            let ok = got["Datacenter"] == dc
                && got["Failovers"] == failovers
                && nodes == 1
                && got["Nodes"][0]["Node"]["Address"] == address;
            ok.then_some(got.clone()).ok_or_else(|| got.to_string())
        })
        .await?,
    )
}

/// Waits (at most `within`) until `dig +short <name> <rtype>` through
/// `cluster`'s client agent answers `want`.
async fn digs_as(
    cluster: &Cluster,
    rtype: &str,
    name: &str,
    want: &str,
    within: Duration,
) -> anyhow::Result<()> {
    wait_for(
        within,
        &format!("{name} {rtype} answering {want}"),
        || async {
            let got = dig_short(cluster, "c1", rtype, name).await?;
            (got == want).then_some(()).ok_or(got)
        },
    )
    .await?;
    Ok(())
}

/// A prepared query of dc1 with `Failover { NearestN: 1 }`: dc1's
/// instance while it is healthy; dc2's (`Datacenter` dc2, `Failovers` 1)
/// over HTTP and DNS once dc1's TTL check fails; dc1's again, `Failovers`
/// 0, once it passes.
#[tokio::test]
async fn a_prepared_query_fails_over_to_dc2_while_dc1_is_critical_and_comes_back(
) -> anyhow::Result<()> {
    init_tracing();
    let (dc1, dc2) = federate(false).await?;
    let started = Instant::now();
    info!("--- web on each datacenter's client agent, a TTL check passing");
    let web = r#"{"ID":"web","Name":"web","Port":8080,"Check":{"TTL":"10m","Status":"passing"}}"#;
    for dc in [&dc1, &dc2] {
        let (status, body, _) = call(
            dc,
            "c1",
            Method::PUT,
            "/v1/agent/service/register",
            Some(web),
        )
        .await?;
        assert_eq!(status, 200, "{body}");
    }
    let def = r#"{"Name":"web-fo","Service":{"Service":"web","Failover":{"NearestN":1}}}"#;
    let (status, body, _) = call(&dc1, "c1", Method::POST, "/v1/query", Some(def)).await?;
    assert_eq!(status, 200, "{body}");
    let dc1_web = dc1.node("c1")?.ip().to_string();
    let dc2_web = dc2.node("c1")?.ip().to_string();
    // dc2's instance is in its catalog before dc1's fails.
    let there = wait_for(secs(10), "web passing in dc2's catalog", || async {
        let got = dc2
            .get_json("c1", "/v1/health/service/web?passing=1")
            .await
            .map_err(|e| e.to_string())?;
        (got.as_array().map_or(0, Vec::len) == 1)
            .then_some(got.clone())
            .ok_or_else(|| got.to_string())
    })
    .await?;
    assert_eq!(there[0]["Node"]["Address"], dc2_web.as_str(), "{there}");
    executes_as(&dc1, "web-fo", ("dc1", 0, &dc1_web), secs(10)).await?;
    digs_as(&dc1, "A", "web-fo.query.consul", &dc1_web, secs(5)).await?;

    info!("--- dc1's instance goes critical: dc2 answers");
    let (status, body, _) = call(
        &dc1,
        "c1",
        Method::PUT,
        "/v1/agent/check/fail/service:web?note=down",
        Some(""),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    let failed = Instant::now();
    let got = executes_as(&dc1, "web-fo", ("dc2", 1, &dc2_web), secs(10)).await?;
    info!(took = ?failed.elapsed(), "the query answered from dc2");
    assert_eq!(got["Service"], "web", "{got}");
    assert_eq!(got["Nodes"][0]["Node"]["Datacenter"], "dc2", "{got}");
    digs_as(&dc1, "A", "web-fo.query.consul", &dc2_web, secs(5)).await?;
    digs_as(
        &dc1,
        "SRV",
        "_web-fo._tcp.query.consul",
        "1 1 8080 c1.node.dc2.consul.",
        secs(5),
    )
    .await?;

    info!("--- dc1's instance passes again: dc1 answers, no failover");
    let (status, body, _) = call(
        &dc1,
        "c1",
        Method::PUT,
        "/v1/agent/check/pass/service:web",
        Some(""),
    )
    .await?;
    assert_eq!(status, 200, "{body}");
    executes_as(&dc1, "web-fo", ("dc1", 0, &dc1_web), secs(10)).await?;
    digs_as(&dc1, "A", "web-fo.query.consul", &dc1_web, secs(5)).await?;
    digs_as(
        &dc1,
        "SRV",
        "_web-fo._tcp.query.consul",
        "1 1 8080 c1.node.dc1.consul.",
        secs(5),
    )
    .await?;
    info!(took = ?started.elapsed(), "failover and back, after federating");

    dc2.shutdown().await?;
    dc1.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn a_wan_partition_leaves_each_datacenter_serving_itself_and_heals() -> anyhow::Result<()> {
    init_tracing();
    let (dc1, dc2) = federate(true).await?;
    let (status, _, _) = call(&dc1, "c1", Method::PUT, "/v1/kv/p/k?dc=dc2", Some("before")).await?;
    assert_eq!(status, 200);

    info!("--- cut every link between dc1 and dc2");
    let partition = dc1.partition_from(&dc2)?;

    info!("--- each datacenter goes on serving its own reads and writes");
    for (cluster, dc) in [(&dc1, "dc1"), (&dc2, "dc2")] {
        let (status, body, _) =
            call(cluster, "c1", Method::PUT, "/v1/kv/p/local", Some(dc)).await?;
        assert_eq!((status, body.trim()), (200, "true"), "a write in {dc}");
        let (status, body, _) = call(cluster, "c1", Method::GET, "/v1/kv/p/local", None).await?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(kv_value(&body)?, dc);
    }

    info!("--- requests across the cut fail cleanly, within the bounded retry");
    for (cluster, other) in [(&dc1, "dc2"), (&dc2, "dc1")] {
        let started = Instant::now();
        let (status, body, _) = call(
            cluster,
            "c1",
            Method::GET,
            &format!("/v1/kv/p/k?dc={other}"),
            None,
        )
        .await?;
        info!(took = ?started.elapsed(), %body, "a read of {other} across the cut");
        assert_eq!(status, 500, "{body}");
        assert!(
            body.contains("No path to datacenter") || body.contains(&format!("datacenter {other}")),
            "the error says which datacenter could not be reached: {body}"
        );
    }
    info!("--- once failure detection has run, dc2 is reported unreachable at once");
    wait_for(
        secs(30),
        "dc2's servers failed in dc1's WAN pool",
        || async {
            let (status, body, _) = call(&dc1, "c1", Method::GET, "/v1/kv/p/k?dc=dc2", None)
                .await
                .map_err(|e| e.to_string())?;
            if status == 500 && body.trim() == "No path to datacenter" {
                Ok(())
            } else {
                Err(format!("{status} {body}"))
            }
        },
    )
    .await?;

    info!("--- heal: the WAN pool reconnects and requests cross again");
    partition.heal()?;
    wan_members_alive(&dc1, "s1", 6, secs(60)).await?;
    wait_for(secs(30), "a read of dc2 from dc1 after healing", || async {
        let (status, body, _) = call(&dc1, "c1", Method::GET, "/v1/kv/p/local?dc=dc2", None)
            .await
            .map_err(|e| e.to_string())?;
        match (status, kv_value(&body)) {
            (200, Ok(v)) if v == "dc2" => Ok(()),
            _ => Err(format!("{status} {body}")),
        }
    })
    .await?;
    let (status, body, _) =
        call(&dc2, "c1", Method::PUT, "/v1/kv/p/k?dc=dc1", Some("after")).await?;
    assert_eq!((status, body.trim()), (200, "true"));

    dc2.shutdown().await?;
    dc1.shutdown().await?;
    Ok(())
}

/// `/v1/coordinate/datacenters`' answer as (datacenter, its servers).
fn servers_by_dc(maps: &Value) -> Vec<(String, Vec<String>)> {
    maps.as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let nodes = m["Coordinates"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| e["Node"].as_str().unwrap_or_default().to_owned())
                .collect();
            (
                m["Datacenter"].as_str().unwrap_or_default().to_owned(),
                nodes,
            )
        })
        .collect()
}

/// `praetor rtt -wan <other>` on server `via` (named `own` in the WAN
/// pool): Consul's estimate line's milliseconds.
async fn wan_estimate(cluster: &Cluster, via: &str, other: &str, own: &str) -> anyhow::Result<f64> {
    let out = cluster.cli(via, &["rtt", "-wan", other])?.run()?;
    out.assert_success();
    out.stdout
        .trim()
        .strip_prefix(&format!("Estimated {other} <-> {own} rtt: "))
        .and_then(|r| r.strip_suffix(" ms (using WAN coordinates)"))
        .and_then(|ms| ms.parse::<f64>().ok())
        .ok_or_else(|| anyhow::anyhow!("Consul's estimate line: {out:?}"))
}

/// The test delay of a server's WAN coordinate pings
/// (`test_wan_latency`), for each of these datacenters.
fn slow_link_to(dcs: &[&str], delay: &str) -> String {
    let map: serde_json::Map<String, Value> = dcs
        .iter()
        .map(|dc| ((*dc).to_owned(), Value::from(delay)))
        .collect();
    Value::Object(map).to_string()
}

/// Datacenter `dc` of one server (and `clients` client agents), joining
/// `wan_join` over the WAN, its coordinate pings delayed as `latency`
/// says (`test_wan_latency`, when not empty).
fn small_datacenter(
    dc: &str,
    clients: usize,
    wan_join: &[String],
    latency: Option<String>,
) -> Spec {
    let mut spec = Spec::servers(1)
        .clients(clients)
        .datacenter(dc)
        .config("gossip_wan", FAST_WAN)
        .config("performance", r#"{ "rpc_hold_timeout": "2s" }"#);
    if !wan_join.is_empty() {
        let join = serde_json::to_string(wan_join).expect("a list of strings");
        spec = spec.node_config("s1", "retry_join_wan", &join).node_config(
            "s1",
            "retry_interval_wan",
            r#""1s""#,
        );
    }
    if let Some(latency) = latency {
        spec = spec.node_config("s1", "test_wan_latency", &latency);
    }
    spec
}

/// Three datacenters, named so that their name order is not their
/// distance order: from `c-home`, `a-far` (whose server's WAN coordinate
/// pings to everyone are held 150 ms, and which joins with `praetor join
/// -wan`) comes after `b-near` (which joins from its config file). Network
/// coordinates over the WAN place them: `/v1/catalog/datacenters` (from
/// a client agent, which asks its server) lists `c-home`, `b-near`,
/// `a-far`; `/v1/coordinate/datacenters` lists every datacenter's server
/// with its WAN coordinate and `praetor rtt -wan` estimates from them; a
/// prepared query failing over to its nearest datacenter picks `b-near`.
#[tokio::test]
async fn datacenters_are_ordered_by_the_estimated_round_trip_over_the_wan() -> anyhow::Result<()> {
    init_tracing();
    let started = Instant::now();
    let home = Cluster::start(small_datacenter("c-home", 1, &[], None)).await?;
    let join = vec![home.node("s1")?.ip().to_string()];
    let near = Cluster::start(small_datacenter("b-near", 0, &join, None)).await?;
    // a-far joins by hand, as an operator would: `praetor join -wan`
    // (`PUT /v1/agent/join/<addr>?wan=1` on its server).
    let far = Cluster::start(small_datacenter(
        "a-far",
        0,
        &[],
        Some(slow_link_to(&["b-near", "c-home"], "150ms")),
    ))
    .await?;
    let out = far.cli("s1", &["join", "-wan", &join[0]])?.run()?;
    out.assert_code(0);
    assert!(
        out.stdout
            .contains("Successfully joined cluster by contacting 1 nodes"),
        "{out:?}"
    );
    wan_members_alive(&home, "s1", 3, secs(30)).await?;

    info!("--- every datacenter's server and its WAN coordinate, from a client agent");
    let want = [
        ("a-far".to_owned(), vec!["s1.a-far".to_owned()]),
        ("b-near".to_owned(), vec!["s1.b-near".to_owned()]),
        ("c-home".to_owned(), vec!["s1.c-home".to_owned()]),
    ];
    let maps = wait_for(secs(30), "every server's WAN coordinate known", || async {
        let maps = home
            .get_json("c1", "/v1/coordinate/datacenters")
            .await
            .map_err(|e| e.to_string())?;
        (servers_by_dc(&maps) == want)
            .then_some(maps.clone())
            .ok_or_else(|| maps.to_string())
    })
    .await?;
    for m in maps.as_array().into_iter().flatten() {
        assert_eq!(m["AreaID"], "WAN", "{m}");
        assert_eq!(
            m["Coordinates"][0]["Coord"]["Vec"].as_array().map(Vec::len),
            Some(8),
            "{m}"
        );
    }

    info!("--- with every coordinate known, the datacenters by distance, not by name");
    let order = wait_for(secs(45), "datacenters in distance order", || async {
        let got = home
            .get_json("c1", "/v1/catalog/datacenters")
            .await
            .map_err(|e| e.to_string())?;
        (got == serde_json::json!(["c-home", "b-near", "a-far"]))
            .then_some(got.clone())
            .ok_or_else(|| got.to_string())
    })
    .await?;
    info!(took = ?started.elapsed(), %order, "ordered by distance from c-home");
    wait_for(secs(30), "b-near's own order", || async {
        let got = near
            .get_json("s1", "/v1/catalog/datacenters")
            .await
            .map_err(|e| e.to_string())?;
        (got == serde_json::json!(["b-near", "c-home", "a-far"]))
            .then_some(())
            .ok_or_else(|| got.to_string())
    })
    .await?;

    info!("--- praetor rtt -wan: a-far farther than b-near from c-home's server");
    let (to_far, to_near) = wait_for(
        secs(30),
        "a-far estimated well beyond b-near (150 ms injected)",
        || async {
            let far = wan_estimate(&home, "s1", "s1.a-far", "s1.c-home")
                .await
                .map_err(|e| e.to_string())?;
            let near = wan_estimate(&home, "s1", "s1.b-near", "s1.c-home")
                .await
                .map_err(|e| e.to_string())?;
            (far > 50.0 && far > 2.0 * near)
                .then_some((far, near))
                .ok_or_else(|| format!("a-far {far} ms, b-near {near} ms"))
        },
    )
    .await?;
    info!(to_far, to_near, "estimated WAN round trips from c-home, ms");
    assert_eq!(
        home.get_json("c1", "/v1/catalog/datacenters").await?,
        serde_json::json!(["c-home", "b-near", "a-far"]),
        "the order holds as the estimates settle"
    );

    info!("--- a prepared query fails over to the nearest datacenter: b-near, not a-far");
    for dc in ["a-far", "b-near"] {
        let reg = format!(
            r#"{{"Node":"web-{dc}","Address":"10.9.9.{}","Service":{{"Service":"web","Port":80}}}}"#,
            if dc == "a-far" { 1 } else { 2 }
        );
        let (status, body, _) = call(
            &home,
            "c1",
            Method::PUT,
            &format!("/v1/catalog/register?dc={dc}"),
            Some(&reg),
        )
        .await?;
        assert_eq!(status, 200, "{body}");
    }
    let def = r#"{"Name":"web-near","Service":{"Service":"web","Failover":{"NearestN":1}}}"#;
    let (status, body, _) = call(&home, "c1", Method::POST, "/v1/query", Some(def)).await?;
    assert_eq!(status, 200, "{body}");
    executes_as(&home, "web-near", ("b-near", 1, "10.9.9.2"), secs(10)).await?;
    info!(took = ?started.elapsed(), "three datacenters ordered by distance");

    far.shutdown().await?;
    near.shutdown().await?;
    home.shutdown().await?;
    Ok(())
}

//! DNS under `acl.default_policy = "deny"`: an agent answers with its `dns`
//! token, else its `default` token, else anonymous, and shows only what
//! that token may read — a service instance needs `service:read` on the
//! service and `node:read` on its node, as in Consul. What it may not read
//! is answered as a name with no instances (Consul: NXDOMAIN with the SOA).

use std::time::Duration;

use praetor_testkit::{init_tracing, secs, wait_for, Cluster, KitError, Spec};
use reqwest::Method;
use serde_json::{json, Value};
use tracing::info;

use super::{dig, Dig};

const MGMT: &str = "5d1f0c2b-7a3e-4b9d-8c6f-1e2d3c4b5a61";
/// Reads the `web` service and every node.
const WEB_READER: &str = "6e2a1d3c-8b4f-4cae-9d70-2f3e4d5c6b72";
/// Reads every service, but no node.
const SERVICES_ONLY: &str = "7f3b2e4d-9c5a-4dbf-ae81-3a4f5e6d7c83";
/// The address `web` and `db` are registered with.
const WEB_ADDR: &str = "10.9.8.7";

fn acl(tokens: &str) -> String {
    format!(
        r#"{{ "enabled": true, "default_policy": "deny", "tokens": {{ "agent": "{MGMT}"{tokens} }} }}"#
    )
}

async fn mgmt(cluster: &Cluster, method: Method, path: &str, body: &Value) -> anyhow::Result<()> {
    let a = cluster
        .request_as(
            "s1",
            Some(MGMT),
            method,
            path,
            Some(&body.to_string()),
            Duration::from_secs(10),
        )
        .await?;
    anyhow::ensure!(a.status == 200, "{path}: {} {}", a.status, a.body);
    Ok(())
}

/// Waits until `dig` on `via` satisfies `ok`.
async fn dig_until(
    cluster: &Cluster,
    via: &str,
    name: &str,
    what: &str,
    ok: impl Fn(&Dig) -> bool,
) -> Result<Dig, KitError> {
    let ip = cluster.node(via)?.ip();
    wait_for(secs(30), what, || async {
        let d = dig(ip, &[name, "A"]).await?;
        if ok(&d) {
            Ok(d)
        } else {
            Err(d.output)
        }
    })
    .await
}

/// No instance answered, as Consul answers a name it has nothing for.
fn assert_no_records(d: &Dig, what: &str) {
    assert!(
        d.answer.is_empty(),
        "{what}: records answered\n{}",
        d.output
    );
    assert_eq!(d.status, "NXDOMAIN", "{what}\n{}", d.output);
}

#[tokio::test]
async fn dns_answers_only_what_the_agents_dns_or_default_token_may_read() -> anyhow::Result<()> {
    init_tracing();
    // s1: no dns or default token (anonymous); c1: default token reads web
    // and every node; c2: dns token reads services but no node; c3: the dns
    // token of c1's default, and c2's as its default (the dns token wins).
    let spec = Spec::servers(1)
        .clients(3)
        .token(MGMT)
        .node_config(
            "s1",
            "acl",
            &acl(&format!(r#", "initial_management": "{MGMT}""#)),
        )
        .node_config(
            "c1",
            "acl",
            &acl(&format!(r#", "default": "{WEB_READER}""#)),
        )
        .node_config("c2", "acl", &acl(&format!(r#", "dns": "{SERVICES_ONLY}""#)))
        .node_config(
            "c3",
            "acl",
            &acl(&format!(
                r#", "dns": "{WEB_READER}", "default": "{SERVICES_ONLY}""#
            )),
        );
    let cluster = Cluster::start(spec).await?;

    info!("--- the DNS tokens' policies and tokens; web and db on c1");
    let rules = [
        (
            "web-reader",
            "service \"web\" { policy = \"read\" }\nnode_prefix \"\" { policy = \"read\" }",
            WEB_READER,
        ),
        (
            "services-only",
            "service_prefix \"\" { policy = \"read\" }",
            SERVICES_ONLY,
        ),
    ];
    wait_for(secs(30), "the ACL system to be initialized", || async {
        let a = cluster
            .request("s1", Method::GET, "/v1/acl/token/self", None, secs(5))
            .await
            .map_err(|e| e.to_string())?;
        (a.status == 200).then_some(()).ok_or(a.body)
    })
    .await?;
    for (name, rules, secret) in rules {
        mgmt(
            &cluster,
            Method::PUT,
            "/v1/acl/policy",
            &json!({ "Name": name, "Rules": rules }),
        )
        .await?;
        mgmt(
            &cluster,
            Method::PUT,
            "/v1/acl/token",
            &json!({ "SecretID": secret, "Policies": [{ "Name": name }] }),
        )
        .await?;
    }
    for svc in ["web", "db"] {
        let body = json!({ "Name": svc, "Address": WEB_ADDR, "Port": 80 }).to_string();
        let a = cluster
            .request(
                "c1",
                Method::PUT,
                "/v1/agent/service/register",
                Some(&body),
                secs(10),
            )
            .await?;
        anyhow::ensure!(a.status == 200, "registering {svc}: {a:?}");
    }

    info!("--- c1's default token may read web and its node: an answer");
    let d = dig_until(
        &cluster,
        "c1",
        "web.service.consul",
        "web answered on c1",
        |d| !d.answer.is_empty(),
    )
    .await?;
    assert_eq!(d.data("A"), [WEB_ADDR], "{}", d.output);
    // The catalog has db too (read with the management token).
    let db: Value = cluster.get_json("s1", "/v1/catalog/service/db").await?;
    assert_eq!(db[0]["ServiceName"], "db", "{db}");

    info!("--- what a token may not read is not answered");
    let d = dig(cluster.node("c1")?.ip(), &["db.service.consul", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_no_records(&d, "db on c1 (its default token may not read db)");
    let d = dig(cluster.node("s1")?.ip(), &["web.service.consul", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_no_records(&d, "web on s1 (anonymous)");
    let d = dig(cluster.node("c2")?.ip(), &["web.service.consul", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_no_records(&d, "web on c2 (its dns token may not read nodes)");

    info!("--- c3's dns token, not its default token, is the one DNS uses");
    let d = dig_until(
        &cluster,
        "c3",
        "web.service.consul",
        "web answered on c3",
        |d| !d.answer.is_empty(),
    )
    .await?;
    assert_eq!(d.data("A"), [WEB_ADDR], "{}", d.output);
    let d = dig(cluster.node("c3")?.ip(), &["db.service.consul", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_no_records(&d, "db on c3 (its dns token may not read db)");

    info!("--- and c1 still answers web (the denials were per agent)");
    let d = dig(cluster.node("c1")?.ip(), &["web.service.consul", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_eq!(d.data("A"), [WEB_ADDR], "{}", d.output);

    cluster.shutdown().await?;
    Ok(())
}

/// The agent's DNS token replaced at run time (`PUT /v1/agent/token/dns`)
/// applies to the next query, both ways: a token that may read `web` makes
/// it answered, and taking it away again stops the answers.
#[tokio::test]
async fn a_dns_token_taken_away_at_run_time_stops_the_answers_at_once() -> anyhow::Result<()> {
    init_tracing();
    let lo = praetor_testkit::Loopback::allocate()?;
    let config = format!(
        r#"{{ "acl": {} }}"#,
        acl(&format!(r#", "initial_management": "{MGMT}""#))
    );
    let agent = praetor_testkit::AgentProcess::dev(&lo)?
        .config_file("acl.json", &config)
        .start()
        .await?;
    let http = praetor_testkit::http_client_builder().no_proxy().build()?;
    let put = |path: &str, body: String| {
        http.put(agent.url(path))
            .header("X-Consul-Token", MGMT)
            .body(body)
            .timeout(Duration::from_secs(10))
            .send()
    };
    wait_for(secs(30), "the management token to work", || async {
        let r = http
            .get(agent.url("/v1/acl/token/self"))
            .header("X-Consul-Token", MGMT)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        (r.status() == 200)
            .then_some(())
            .ok_or(r.status().to_string())
    })
    .await?;
    let body = json!({ "Name": "web", "Address": WEB_ADDR, "Port": 80 }).to_string();
    let r = put("/v1/agent/service/register", body).await?;
    anyhow::ensure!(r.status() == 200, "register: {}", r.status());
    wait_for(secs(30), "web in the catalog", || async {
        let v: Value = http
            .get(agent.url("/v1/catalog/service/web"))
            .header("X-Consul-Token", MGMT)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        (v[0]["ServiceName"] == "web")
            .then_some(())
            .ok_or(v.to_string())
    })
    .await?;

    info!("--- anonymous: nothing");
    let d = dig(lo.ip(), &["web.service.consul", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_no_records(&d, "web with no DNS token");

    info!("--- the management token as the DNS token: web answered");
    let r = put("/v1/agent/token/dns", json!({ "Token": MGMT }).to_string()).await?;
    anyhow::ensure!(r.status() == 200, "set dns token: {}", r.status());
    let d = wait_for(secs(10), "web answered with the DNS token", || async {
        let d = dig(lo.ip(), &["web.service.consul", "A"]).await?;
        (!d.answer.is_empty()).then_some(d.clone()).ok_or(d.output)
    })
    .await?;
    assert_eq!(d.data("A"), [WEB_ADDR], "{}", d.output);

    info!("--- the DNS token taken away: nothing again, at once");
    let r = put("/v1/agent/token/dns", json!({ "Token": "" }).to_string()).await?;
    anyhow::ensure!(r.status() == 200, "clear dns token: {}", r.status());
    let d = dig(lo.ip(), &["web.service.consul", "A"])
        .await
        .map_err(anyhow::Error::msg)?;
    assert_no_records(&d, "web after the DNS token was taken away");

    agent.shutdown().await?;
    Ok(())
}

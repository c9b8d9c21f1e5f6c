//! ACLs across real processes, under `acl.default_policy = "deny"`: a
//! 3-server cluster (and a client agent) whose policies and tokens survive
//! a leader kill and a whole-cluster restart and still enforce; client
//! agents that forward the caller's token (the server decides), answer
//! token-less requests with their `default` token, and sync their catalog
//! entries with their `agent` token (set in config or at run time, kept
//! across a restart); and the issue's "done when" through a client agent
//! with the real `curl`.

use std::time::Duration;

use praetor_testkit::{init_tracing, secs, wait_for, wait_until, Answer, Cluster, KitError, Spec};
use reqwest::Method;
use serde_json::{json, Value};
use tracing::info;

/// The `acl.tokens.initial_management` secret every cluster here starts with.
const MGMT: &str = "8f8e6cde-2b3a-4c1d-9e0f-5a6b7c8d9e01";
/// The `acl.tokens.default` secret of a client agent: reads `config/`.
const READER: &str = "a3c1d2e4-5f60-4718-8a9b-0c1d2e3f4a52";
/// The `acl.tokens.agent` secret of a client agent: writes nodes and services.
const AGENT: &str = "b4d2e3f5-6071-4829-9bac-1d2e3f4a5b63";
/// The application's policy of the issue's tutorial.
const APP_RULES: &str = r#"key_prefix "config/app/" { policy = "read" }"#;

/// Consul's `acl` block under deny, with `tokens` (JSON members) added.
fn acl_block(tokens: &str) -> String {
    format!(
        r#"{{ "enabled": true, "default_policy": "deny", "down_policy": "extend-cache", "tokens": {{ {tokens} }} }}"#
    )
}

/// The block of a server: the initial management token, which is also its
/// agent token.
fn server_acl() -> String {
    acl_block(&format!(
        r#""initial_management": "{MGMT}", "agent": "{MGMT}""#
    ))
}

/// `method path` through `via` with `token` (none for `None`).
async fn call(
    cluster: &Cluster,
    via: &str,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> Result<Answer, KitError> {
    cluster
        .request_as(via, token, method, path, body, Duration::from_secs(15))
        .await
}

/// A JSON answer that must be 200.
async fn mgmt_json(
    cluster: &Cluster,
    via: &str,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> anyhow::Result<Value> {
    let text = body.map(Value::to_string);
    let a = call(
        cluster,
        via,
        Some(MGMT),
        method.clone(),
        path,
        text.as_deref(),
    )
    .await?;
    anyhow::ensure!(
        a.status == 200,
        "{method} {path} via {via} answered {}: {}",
        a.status,
        a.body
    );
    Ok(serde_json::from_str(&a.body)?)
}

/// Waits until the leader has created the initial management token (the
/// token reads itself through `via`).
async fn wait_acl_ready(cluster: &Cluster, via: &str) -> Result<(), KitError> {
    wait_for(secs(30), "the initial management token to work", || async {
        let a = call(
            cluster,
            via,
            Some(MGMT),
            Method::GET,
            "/v1/acl/token/self",
            None,
        )
        .await
        .map_err(|e| e.to_string())?;
        if a.status == 200 {
            Ok(())
        } else {
            Err(format!("{}: {}", a.status, a.body.trim()))
        }
    })
    .await
}

/// A policy named `name` with `rules`; its ID.
async fn create_policy(
    cluster: &Cluster,
    via: &str,
    name: &str,
    rules: &str,
) -> anyhow::Result<String> {
    let p = mgmt_json(
        cluster,
        via,
        Method::PUT,
        "/v1/acl/policy",
        Some(&json!({ "Name": name, "Rules": rules })),
    )
    .await?;
    assert_eq!(p["Name"], name, "{p}");
    Ok(p["ID"].as_str().unwrap_or_default().to_owned())
}

/// A token linked to the policy `policy` (by name), with `secret` when
/// given; its (AccessorID, SecretID).
async fn create_token(
    cluster: &Cluster,
    via: &str,
    policy: &str,
    secret: Option<&str>,
) -> anyhow::Result<(String, String)> {
    let mut body =
        json!({ "Description": format!("{policy} token"), "Policies": [{ "Name": policy }] });
    if let Some(s) = secret {
        body["SecretID"] = json!(s);
    }
    let t = mgmt_json(cluster, via, Method::PUT, "/v1/acl/token", Some(&body)).await?;
    let accessor = t["AccessorID"].as_str().unwrap_or_default().to_owned();
    let secret = t["SecretID"].as_str().unwrap_or_default().to_owned();
    anyhow::ensure!(!accessor.is_empty() && !secret.is_empty(), "token: {t}");
    Ok((accessor, secret))
}

/// `GET /v1/kv/<key>?raw` with `token`: (status, body).
async fn kv_get(
    cluster: &Cluster,
    via: &str,
    token: Option<&str>,
    key: &str,
) -> Result<(u16, String), KitError> {
    let a = call(
        cluster,
        via,
        token,
        Method::GET,
        &format!("/v1/kv/{key}?raw"),
        None,
    )
    .await?;
    Ok((a.status, a.body))
}

/// Waits until `token` reads `key` as `value` through `via` (after a leader
/// change or a restart the first reads may find no leader yet).
async fn wait_reads(
    cluster: &Cluster,
    via: &str,
    token: &str,
    key: &str,
    value: &str,
) -> Result<(), KitError> {
    let reason = format!("{via} to read {key} as {value:?} with the token");
    wait_for(secs(30), &reason, || async {
        match kv_get(cluster, via, Some(token), key).await {
            Ok((200, body)) if body == value => Ok(()),
            Ok((status, body)) => Err(format!("{status}: {}", body.trim())),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// The app token reads `config/app/db` (as `db`), and is refused — 403,
/// changing nothing — reading `secret/x`, writing, and so is a request
/// with no token; the management token reads everything.
async fn assert_enforced(cluster: &Cluster, via: &str, app: &str, db: &str) -> anyhow::Result<()> {
    info!(
        via,
        "--- app token: reads config/app/db, nothing else, writes nothing"
    );
    assert_eq!(
        kv_get(cluster, via, Some(app), "config/app/db").await?,
        (200, db.to_owned()),
        "app token reading config/app/db via {via}"
    );
    let (status, body) = kv_get(cluster, via, Some(app), "secret/x").await?;
    assert_eq!(status, 403, "app token reading secret/x via {via}: {body}");
    assert!(body.contains("Permission denied"), "{body}");
    for (key, value) in [
        ("config/app/db", "evil"),
        ("config/app/new", "x"),
        ("secret/x", "y"),
    ] {
        let a = call(
            cluster,
            via,
            Some(app),
            Method::PUT,
            &format!("/v1/kv/{key}"),
            Some(value),
        )
        .await?;
        assert_eq!(
            a.status, 403,
            "app token writing {key} via {via}: {}",
            a.body
        );
    }
    let (status, _) = kv_get(cluster, via, None, "config/app/db").await?;
    assert_eq!(status, 403, "no token reading config/app/db via {via}");
    let (status, _) = kv_get(cluster, via, Some("not-a-token-at-all"), "config/app/db").await?;
    assert_eq!(status, 403, "an unknown token reading via {via}");

    info!(
        via,
        "--- management token: every key, unchanged by the denied writes"
    );
    assert_eq!(
        kv_get(cluster, via, Some(MGMT), "config/app/db").await?,
        (200, db.to_owned())
    );
    assert_eq!(
        kv_get(cluster, via, Some(MGMT), "secret/x").await?,
        (200, "hunter2".to_owned())
    );
    assert_eq!(
        kv_get(cluster, via, Some(MGMT), "config/app/new").await?.0,
        404
    );
    Ok(())
}

#[tokio::test]
async fn acl_policies_and_tokens_survive_a_leader_kill_and_a_full_restart_and_still_enforce(
) -> anyhow::Result<()> {
    init_tracing();
    let spec = Spec::servers(3)
        .clients(1)
        .token(MGMT)
        .node_config("s1", "acl", &server_acl())
        .node_config("s2", "acl", &server_acl())
        .node_config("s3", "acl", &server_acl())
        .node_config("c1", "acl", &acl_block(""));
    let mut cluster = Cluster::start(spec).await?;
    let leader = cluster.wait_for_leader(secs(10)).await?;
    wait_acl_ready(&cluster, &leader).await?;

    info!("--- a policy for the app's configuration, and its token");
    let policy_id = create_policy(&cluster, &leader, "app-config", APP_RULES).await?;
    let (accessor, app) = create_token(&cluster, &leader, "app-config", None).await?;
    cluster
        .put_acked(&leader, "config/app/db", "pg://db/v1")
        .await?;
    cluster.put_acked(&leader, "secret/x", "hunter2").await?;
    for s in cluster.names() {
        assert_enforced(&cluster, &s, &app, "pg://db/v1").await?;
    }

    info!(%leader, "--- SIGKILL the leader");
    let killed_at = std::time::Instant::now();
    cluster.kill9(&leader)?;
    let (new_leader, took) = cluster
        .wait_for_new_leader(&leader, killed_at, secs(30))
        .await?;
    info!(%new_leader, ?took, "--- a new leader: the tokens still work, the denials hold");
    for s in cluster.up_names() {
        wait_reads(&cluster, &s, &app, "config/app/db", "pg://db/v1").await?;
        assert_enforced(&cluster, &s, &app, "pg://db/v1").await?;
    }
    cluster
        .put_acked(&new_leader, "config/app/db", "pg://db/v2")
        .await?;
    // A token created under the new leader.
    let (_, app2) = create_token(&cluster, &new_leader, "app-config", None).await?;
    for s in cluster.up_names() {
        assert_enforced(&cluster, &s, &app2, "pg://db/v2").await?;
    }

    info!("--- stop the two servers left, start all three on their data dirs");
    cluster.stop_all().await?;
    cluster.start_all().await?;
    let leader = cluster.wait_formed(secs(60)).await?;
    wait_reads(&cluster, &leader, MGMT, "config/app/db", "pg://db/v2").await?;

    info!("--- the policy and the token are still there, as they were");
    let p = mgmt_json(
        &cluster,
        &leader,
        Method::GET,
        "/v1/acl/policy/name/app-config",
        None,
    )
    .await?;
    assert_eq!(p["ID"], policy_id.as_str(), "{p}");
    assert_eq!(p["Rules"], APP_RULES, "{p}");
    let t = mgmt_json(
        &cluster,
        &leader,
        Method::GET,
        &format!("/v1/acl/token/{accessor}"),
        None,
    )
    .await?;
    assert_eq!(t["SecretID"], app.as_str(), "{t}");
    assert_eq!(t["Policies"][0]["Name"], "app-config", "{t}");
    for s in cluster.names() {
        wait_reads(&cluster, &s, &app, "config/app/db", "pg://db/v2").await?;
        assert_enforced(&cluster, &s, &app, "pg://db/v2").await?;
        assert_enforced(&cluster, &s, &app2, "pg://db/v2").await?;
    }

    cluster.shutdown().await?;
    Ok(())
}

#[tokio::test]
async fn client_agents_forward_the_callers_token_and_use_their_default_and_agent_tokens(
) -> anyhow::Result<()> {
    init_tracing();
    // c1 has a `default` token (reads config/) and an `agent` token (writes
    // nodes and services); c2 has neither.
    let spec = Spec::servers(1)
        .clients(2)
        .token(MGMT)
        .node_config("s1", "acl", &server_acl())
        .node_config(
            "c1",
            "acl",
            &acl_block(&format!(r#""default": "{READER}", "agent": "{AGENT}""#)),
        )
        .node_config(
            "c2",
            "acl",
            r#"{ "enabled": true, "default_policy": "deny", "enable_token_persistence": true }"#,
        );
    let mut cluster = Cluster::start(spec).await?;
    wait_acl_ready(&cluster, "s1").await?;
    wait_acl_ready(&cluster, "c1").await?;

    info!("--- the app's, the reader's and the agent's policies and tokens");
    create_policy(&cluster, "s1", "app-config", APP_RULES).await?;
    let (_, app) = create_token(&cluster, "s1", "app-config", None).await?;
    create_policy(
        &cluster,
        "s1",
        "config-reader",
        r#"key_prefix "config/" { policy = "read" }"#,
    )
    .await?;
    create_token(&cluster, "s1", "config-reader", Some(READER)).await?;
    create_policy(
        &cluster,
        "s1",
        "agents",
        r#"node_prefix "" { policy = "write" }
service_prefix "" { policy = "write" }"#,
    )
    .await?;
    create_token(&cluster, "s1", "agents", Some(AGENT)).await?;
    for (k, v) in [
        ("config/app/db", "pg://db"),
        ("config/other", "other"),
        ("secret/x", "hunter2"),
    ] {
        cluster.put_acked("s1", k, v).await?;
    }

    info!("--- the app token through either client: the server decides");
    for via in ["c1", "c2"] {
        assert_eq!(
            kv_get(&cluster, via, Some(&app), "config/app/db").await?,
            (200, "pg://db".to_owned()),
            "app token via {via}"
        );
        for key in ["config/other", "secret/x"] {
            let (status, body) = kv_get(&cluster, via, Some(&app), key).await?;
            assert_eq!(status, 403, "app token reading {key} via {via}: {body}");
        }
        let a = call(
            &cluster,
            via,
            Some(&app),
            Method::PUT,
            "/v1/kv/config/app/db",
            Some("evil"),
        )
        .await?;
        assert_eq!(a.status, 403, "app token writing via {via}: {}", a.body);
    }
    // A rule changed on the servers applies at once through the clients.
    let p = mgmt_json(
        &cluster,
        "s1",
        Method::GET,
        "/v1/acl/policy/name/app-config",
        None,
    )
    .await?;
    let id = p["ID"].as_str().unwrap_or_default();
    mgmt_json(
        &cluster,
        "s1",
        Method::PUT,
        &format!("/v1/acl/policy/{id}"),
        Some(&json!({
            "Name": "app-config",
            "Rules": format!("{APP_RULES}\nkey \"config/other\" {{ policy = \"read\" }}"),
        })),
    )
    .await?;
    for via in ["c1", "c2"] {
        assert_eq!(
            kv_get(&cluster, via, Some(&app), "config/other").await?,
            (200, "other".to_owned()),
            "app token reading config/other via {via} after the policy grew"
        );
        assert_eq!(kv_get(&cluster, via, Some(&app), "secret/x").await?.0, 403);
    }

    info!("--- no token: c1's default token reads config/, c2 is anonymous");
    assert_eq!(
        kv_get(&cluster, "c1", None, "config/app/db").await?,
        (200, "pg://db".to_owned())
    );
    assert_eq!(
        kv_get(&cluster, "c1", None, "config/other").await?,
        (200, "other".to_owned())
    );
    assert_eq!(kv_get(&cluster, "c1", None, "secret/x").await?.0, 403);
    let a = call(
        &cluster,
        "c1",
        None,
        Method::PUT,
        "/v1/kv/config/x",
        Some("1"),
    )
    .await?;
    assert_eq!(a.status, 403, "a write with c1's default token: {}", a.body);
    for key in ["config/app/db", "secret/x"] {
        assert_eq!(
            kv_get(&cluster, "c2", None, key).await?.0,
            403,
            "no token reading {key} via c2"
        );
    }
    // The token a request carries beats the default token.
    assert_eq!(kv_get(&cluster, "c1", Some(&app), "secret/x").await?.0, 403);
    assert_eq!(
        kv_get(&cluster, "c1", Some(MGMT), "secret/x").await?,
        (200, "hunter2".to_owned())
    );

    info!("--- a client's own endpoints: the token is resolved through a server");
    for via in ["c1", "c2"] {
        let a = call(
            &cluster,
            via,
            Some(&app),
            Method::GET,
            "/v1/agent/self",
            None,
        )
        .await?;
        assert_eq!(
            a.status, 403,
            "app token reading {via}'s /v1/agent/self: {}",
            a.body
        );
        let a = call(
            &cluster,
            via,
            Some(MGMT),
            Method::GET,
            "/v1/agent/self",
            None,
        )
        .await?;
        assert_eq!(
            a.status, 200,
            "management token reading {via}'s /v1/agent/self"
        );
    }

    info!("--- a token deleted on the servers stops working through the clients");
    let (doomed_accessor, doomed) = create_token(&cluster, "s1", "app-config", None).await?;
    assert_eq!(
        kv_get(&cluster, "c2", Some(&doomed), "config/app/db")
            .await?
            .0,
        200
    );
    let a = call(
        &cluster,
        "s1",
        Some(MGMT),
        Method::DELETE,
        &format!("/v1/acl/token/{doomed_accessor}"),
        None,
    )
    .await?;
    assert_eq!(
        (a.status, a.body.trim()),
        (200, "true"),
        "deleting the token"
    );
    for via in ["c1", "c2"] {
        let (status, body) = kv_get(&cluster, via, Some(&doomed), "config/app/db").await?;
        assert_eq!(status, 403, "a deleted token reading via {via}: {body}");
        assert!(body.contains("ACL not found"), "{body}");
    }

    info!("--- each client registers a service; only c1's agent token may sync it");
    for via in ["c1", "c2"] {
        let body = json!({ "Name": format!("{via}web"), "Port": 8080 }).to_string();
        let a = call(
            &cluster,
            via,
            Some(MGMT),
            Method::PUT,
            "/v1/agent/service/register",
            Some(&body),
        )
        .await?;
        assert_eq!(a.status, 200, "registering on {via}: {}", a.body);
    }
    let c1_node = wait_for(secs(30), "c1 and c1web in the catalog", || async {
        let v = cluster
            .get_json("s1", "/v1/catalog/node/c1")
            .await
            .map_err(|e| e.to_string())?;
        if v["Services"]["c1web"]["Service"] == "c1web" {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    })
    .await?;
    assert_eq!(c1_node["Node"]["Node"], "c1", "{c1_node}");
    let c2 = cluster.node("c2")?;
    wait_until(secs(30), "c2's sync refused for want of a token", || {
        let log = c2.agent().log();
        log.lines()
            .find(|l| l.contains("anti-entropy sync failed") && l.contains("Permission denied"))
            .map(|_| ())
            .ok_or_else(|| "no refused sync in c2's log yet".to_owned())
    })
    .await?;
    let c2web = cluster.get_json("s1", "/v1/catalog/service/c2web").await?;
    assert_eq!(
        c2web,
        json!([]),
        "c2's service reached the catalog without a token"
    );
    let c2_node = cluster.get_json("s1", "/v1/catalog/node/c2").await;
    if let Ok(v) = &c2_node {
        assert!(v["Services"].get("c2web").is_none(), "{v}");
    }
    info!("--- c2 keeps running and keeps its service locally");
    let local = cluster.get_json("c2", "/v1/agent/services").await?;
    assert_eq!(local["c2web"]["Service"], "c2web", "{local}");
    assert!(
        c2.agent().log().contains("acl.default_policy is \"deny\"")
            || c2
                .agent()
                .stderr()
                .contains("acl.default_policy is \"deny\""),
        "c2 did not warn about having no agent or default token"
    );

    info!("--- c2 given its agent token at run time: its service syncs");
    let set = json!({ "Token": AGENT }).to_string();
    let a = call(
        &cluster,
        "c2",
        Some(&app),
        Method::PUT,
        "/v1/agent/token/agent",
        Some(&set),
    )
    .await?;
    assert_eq!(
        a.status, 403,
        "the app token setting c2's agent token: {}",
        a.body
    );
    let a = call(
        &cluster,
        "c2",
        Some(MGMT),
        Method::PUT,
        "/v1/agent/token/agent",
        Some(&set),
    )
    .await?;
    assert_eq!(a.status, 200, "setting c2's agent token: {}", a.body);
    wait_in_catalog(&cluster, "c2", "c2web").await?;

    info!("--- c2 restarted keeps the token it was given (enable_token_persistence)");
    cluster.terminate("c2").await?;
    cluster.restart("c2").await?;
    let body = json!({ "Name": "c2api", "Port": 9090 }).to_string();
    let a = call(
        &cluster,
        "c2",
        Some(MGMT),
        Method::PUT,
        "/v1/agent/service/register",
        Some(&body),
    )
    .await?;
    assert_eq!(a.status, 200, "registering c2api: {}", a.body);
    wait_in_catalog(&cluster, "c2", "c2api").await?;

    cluster.shutdown().await?;
    Ok(())
}

/// Waits until the catalog lists `service` on `node` (read on s1 with the
/// management token).
async fn wait_in_catalog(cluster: &Cluster, node: &str, service: &str) -> Result<(), KitError> {
    let reason = format!("{service} of {node} in the catalog");
    wait_for(secs(30), &reason, || async {
        let v = cluster
            .get_json("s1", &format!("/v1/catalog/service/{service}"))
            .await
            .map_err(|e| e.to_string())?;
        if v[0]["Node"] == node {
            Ok(())
        } else {
            Err(v.to_string())
        }
    })
    .await
}

/// `curl -s -i -X method [-H X-Consul-Token] [--data-binary body] url`:
/// (status, headers lower-cased, body bytes).
async fn curl(
    url: &str,
    method: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> anyhow::Result<(u16, String, Vec<u8>)> {
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-s", "-S", "-i", "--max-time", "15", "-X", method]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("X-Consul-Token: {t}")]);
    }
    if let Some(b) = body {
        cmd.args(["--data-binary", b]);
    }
    let out = cmd.arg(url).output().await?;
    anyhow::ensure!(
        out.status.success(),
        "curl {method} {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let split = out
        .stdout
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no header end in curl's output"))?;
    let head = String::from_utf8_lossy(&out.stdout[..split]).to_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status in {head}"))?;
    Ok((status, head, out.stdout[split + 4..].to_vec()))
}

/// The keys of a `?recurse` answer.
fn keys_of(body: &[u8]) -> anyhow::Result<Vec<String>> {
    let v: Vec<Value> = serde_json::from_slice(body)?;
    Ok(v.iter()
        .filter_map(|e| e["Key"].as_str().map(str::to_owned))
        .collect())
}

#[tokio::test]
async fn the_app_token_reads_only_its_config_through_a_client_agent_and_management_does_all(
) -> anyhow::Result<()> {
    init_tracing();
    let spec = Spec::servers(1)
        .clients(1)
        .token(MGMT)
        .node_config("s1", "acl", &server_acl())
        .node_config("c1", "acl", &acl_block(""));
    let cluster = Cluster::start(spec).await?;
    wait_acl_ready(&cluster, "c1").await?;
    let base = format!("http://{}", cluster.node("c1")?.http_addr());
    let kv = |key: &str| format!("{base}/v1/kv/{key}");

    info!("--- as the operator: the policy, the app token, the keys (curl via c1)");
    let (s, _, body) = curl(
        &format!("{base}/v1/acl/policy"),
        "PUT",
        Some(MGMT),
        Some(&json!({ "Name": "app-config", "Rules": APP_RULES }).to_string()),
    )
    .await?;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    let (s, _, body) = curl(
        &format!("{base}/v1/acl/token"),
        "PUT",
        Some(MGMT),
        Some(r#"{"Description": "app", "Policies": [{"Name": "app-config"}]}"#),
    )
    .await?;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    let token: Value = serde_json::from_slice(&body)?;
    let app = token["SecretID"].as_str().unwrap_or_default().to_owned();
    for (k, v) in [
        ("config/app/db", "pg://db"),
        ("config/app/port", "5432"),
        ("config/other", "other"),
        ("secret/x", "hunter2"),
    ] {
        let (s, _, body) = curl(&kv(k), "PUT", Some(MGMT), Some(v)).await?;
        assert_eq!((s, body.as_slice()), (200, b"true".as_slice()), "PUT {k}");
    }

    info!("--- the app reads its configuration");
    let (s, _, body) = curl(
        &format!("{}?raw", kv("config/app/db")),
        "GET",
        Some(&app),
        None,
    )
    .await?;
    assert_eq!((s, body.as_slice()), (200, b"pg://db".as_slice()));
    let (s, head, body) = curl(
        &format!("{}?recurse", kv("config/app/")),
        "GET",
        Some(&app),
        None,
    )
    .await?;
    assert_eq!(s, 200);
    assert_eq!(keys_of(&body)?, ["config/app/db", "config/app/port"]);
    assert!(
        !head.contains("x-consul-results-filtered-by-acls"),
        "{head}"
    );

    info!("--- and nothing else: a recursive read leaves the rest out and says so");
    let (s, head, body) = curl(&format!("{}?recurse", kv("")), "GET", Some(&app), None).await?;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(keys_of(&body)?, ["config/app/db", "config/app/port"]);
    assert!(
        head.contains("x-consul-results-filtered-by-acls: true"),
        "no filtered header in {head}"
    );
    let (s, head, body) = curl(&format!("{}?keys", kv("")), "GET", Some(&app), None).await?;
    assert_eq!(s, 200);
    let keys: Vec<String> = serde_json::from_slice(&body)?;
    assert_eq!(keys, ["config/app/db", "config/app/port"]);
    assert!(
        head.contains("x-consul-results-filtered-by-acls: true"),
        "{head}"
    );
    for key in ["config/other", "secret/x"] {
        let (s, _, body) = curl(&kv(key), "GET", Some(&app), None).await?;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(s, 403, "app reading {key}: {body}");
        assert!(body.contains("Permission denied"), "{body}");
    }

    info!("--- it cannot write, delete or take a snapshot; nothing changes");
    for (method, key, body) in [
        ("PUT", "config/app/db", Some("evil")),
        ("PUT", "config/app/new", Some("x")),
        ("DELETE", "config/app/db", None),
        ("DELETE", "secret/x", None),
    ] {
        let (s, _, out) = curl(&kv(key), method, Some(&app), body).await?;
        let out = String::from_utf8_lossy(&out);
        assert_eq!(s, 403, "app {method} {key}: {out}");
        assert!(out.contains("Permission denied"), "{out}");
    }
    let (s, _, out) = curl(&format!("{base}/v1/snapshot"), "GET", Some(&app), None).await?;
    assert_eq!(s, 403, "app snapshot: {}", String::from_utf8_lossy(&out));
    let (s, _, _) = curl(&format!("{base}/v1/snapshot"), "GET", None, None).await?;
    assert_eq!(s, 403, "anonymous snapshot");
    let (s, _, body) = curl(&format!("{}?recurse", kv("")), "GET", Some(MGMT), None).await?;
    assert_eq!(s, 200);
    assert_eq!(
        keys_of(&body)?,
        [
            "config/app/db",
            "config/app/port",
            "config/other",
            "secret/x"
        ]
    );
    let (_, _, body) = curl(
        &format!("{}?raw", kv("config/app/db")),
        "GET",
        Some(MGMT),
        None,
    )
    .await?;
    assert_eq!(body, b"pg://db");

    info!("--- the management token does everything");
    let (s, head, body) = curl(&format!("{base}/v1/snapshot"), "GET", Some(MGMT), None).await?;
    assert_eq!(
        s,
        200,
        "management snapshot: {}",
        String::from_utf8_lossy(&body)
    );
    assert!(
        !body.is_empty() && head.contains("x-consul-index"),
        "{head}"
    );
    let (s, _, body) = curl(&kv("config/app/db"), "PUT", Some(MGMT), Some("pg://db/v2")).await?;
    assert_eq!((s, body.as_slice()), (200, b"true".as_slice()));
    let (s, _, _) = curl(&kv("secret/x"), "DELETE", Some(MGMT), None).await?;
    assert_eq!(s, 200);
    let (s, _, _) = curl(&kv("secret/x"), "GET", Some(MGMT), None).await?;
    assert_eq!(s, 404);
    let (s, _, body) = curl(&format!("{base}/v1/acl/tokens"), "GET", Some(MGMT), None).await?;
    assert_eq!(s, 200);
    let tokens: Vec<Value> = serde_json::from_slice(&body)?;
    assert!(
        tokens.len() >= 3,
        "anonymous, initial management, app: {tokens:?}"
    );
    let (s, _, _) = curl(&format!("{base}/v1/acl/tokens"), "GET", Some(&app), None).await?;
    assert_eq!(s, 403, "the app token listing tokens");
    let (s, _, body) = curl(
        &format!("{}?raw", kv("config/app/db")),
        "GET",
        Some(&app),
        None,
    )
    .await?;
    assert_eq!((s, body.as_slice()), (200, b"pg://db/v2".as_slice()));

    cluster.shutdown().await?;
    Ok(())
}

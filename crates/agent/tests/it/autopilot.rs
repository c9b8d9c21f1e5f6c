//! Consul's autopilot and usage operator endpoints on a dev agent: the
//! configuration reads Consul's defaults until one is stored, is stored
//! through the log with Consul's `?cas=` answers, and bad input changes
//! nothing; health and state report the one server; usage counts the
//! catalog; a one-server cluster has nobody to hand leadership to.

use serde_json::{json, Value};

use crate::TestAgent;

#[tokio::test]
async fn the_autopilot_configuration_reads_defaults_then_what_was_stored_with_cas() {
    let a = TestAgent::dev().await;
    let path = "/v1/operator/autopilot/configuration";
    let c = a.get_json(path).await;
    assert_eq!(c["CleanupDeadServers"], true, "{c}");
    assert_eq!(c["LastContactThreshold"], "200ms", "{c}");
    assert_eq!(c["MaxTrailingLogs"], 250, "{c}");
    assert_eq!(c["MinQuorum"], 0, "{c}");
    assert_eq!(c["ServerStabilizationTime"], "10s", "{c}");
    assert_eq!(c["ModifyIndex"], 0, "{c}");

    let put = |q: &'static str, body: Value| {
        let req = a.http.put(a.u(&format!("{path}{q}"))).json(&body);
        async move { req.send().await.unwrap() }
    };
    let body = json!({"CleanupDeadServers": false, "LastContactThreshold": "1s",
        "MaxTrailingLogs": 100, "MinQuorum": 3, "ServerStabilizationTime": "5s"});
    let r = put("?cas=0", body.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap().trim(), "true");
    let c = a.get_json(path).await;
    assert_eq!(c["CleanupDeadServers"], false, "{c}");
    assert_eq!(c["LastContactThreshold"], "1s", "{c}");
    assert_eq!(c["MinQuorum"], 3, "{c}");
    assert_eq!(c["ServerStabilizationTime"], "5s", "{c}");
    let index = c["ModifyIndex"].as_u64().unwrap();
    assert!(index > 0 && c["CreateIndex"] == c["ModifyIndex"], "{c}");

    let r = put("?cas=0", json!({"MinQuorum": 5})).await;
    assert_eq!(r.text().await.unwrap().trim(), "false", "a stale CAS");
    assert_eq!(a.get_json(path).await["MinQuorum"], 3);
    let r = put("", json!({"MinQuorum": 5, "CleanupDeadServers": true})).await;
    assert_eq!(r.text().await.unwrap().trim(), "true");
    let c = a.get_json(path).await;
    assert_eq!(
        (c["MinQuorum"].clone(), c["CreateIndex"].as_u64()),
        (json!(5), Some(index))
    );

    for (q, body) in [
        ("?cas=x", json!({})),
        ("", json!({"LastContactThreshold": "soon"})),
        ("", json!({"MinQuorum": "three"})),
    ] {
        let r = put(q, body).await;
        assert_eq!(r.status(), 400, "{q}");
        let text = r.text().await.unwrap();
        assert_eq!(text.trim().lines().count(), 1, "{text}");
    }
    assert_eq!(
        a.get_json(path).await["MinQuorum"],
        5,
        "bad input changed it"
    );
    a.shutdown().await;
}

#[tokio::test]
async fn health_state_and_usage_describe_the_one_server() {
    let a = TestAgent::dev().await;
    let r = a
        .put_json(
            "/v1/agent/service/register",
            &json!({"ID": "web1", "Name": "web", "Port": 80}),
        )
        .await;
    assert_eq!(r.status(), 200);

    let r = a
        .http
        .get(a.u("/v1/operator/autopilot/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let h: Value = r.json().await.unwrap();
    assert_eq!(h["Healthy"], true, "{h}");
    assert_eq!(h["FailureTolerance"], 0, "{h}");
    let s = &h["Servers"][0];
    assert_eq!(
        (
            &s["Name"],
            &s["SerfStatus"],
            &s["Leader"],
            &s["Voter"],
            &s["Healthy"]
        ),
        (
            &json!("it-node"),
            &json!("alive"),
            &json!(true),
            &json!(true),
            &json!(true)
        ),
        "{h}"
    );
    assert!(s["LastIndex"].as_u64().unwrap() > 0, "{h}");
    assert!(s["StableSince"].as_str().unwrap().ends_with('Z'), "{h}");

    let st = a.get_json("/v1/operator/autopilot/state").await;
    let leader = st["Leader"].as_str().unwrap().to_owned();
    assert_eq!(st["Voters"], json!([leader.clone()]), "{st}");
    assert_eq!(st["Servers"][&leader]["Status"], "leader", "{st}");
    assert_eq!(st["Servers"][&leader]["NodeType"], "voter", "{st}");
    assert_eq!(st["Healthy"], true, "{st}");

    let u = praetor_testwait::wait_for(
        std::time::Duration::from_secs(10),
        "web in the catalog",
        || async {
            let u = a.get_json("/v1/operator/usage").await;
            let dc = &u["Usage"]["dc1"];
            praetor_testwait::check(dc["ServiceInstances"].as_u64() >= Some(1), || u.to_string())?;
            Ok(u)
        },
    )
    .await
    .unwrap();
    let dc = &u["Usage"]["dc1"];
    assert_eq!(dc["Nodes"], 1, "{u}");
    assert_eq!(dc["ConnectServiceInstances"]["connect-proxy"], 0, "{u}");
    assert_eq!(u["KnownLeader"], true, "{u}");

    let r = a
        .http
        .post(a.u("/v1/operator/raft/transfer-leader"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500, "nobody to hand leadership to");
    assert!(r.text().await.unwrap().contains("no other voter"));
    a.shutdown().await;
}

//! `/v1/kv`: shapes, codes and headers as Consul documents them.

use base64::Engine as _;
use serde_json::Value;

use crate::{index_of, TestAgent};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn put_get_delete_round_trip_in_consul_shapes() {
    let a = TestAgent::dev().await;
    assert!(a.put("app/db", "pg://db:5432").await);
    let r = a.http.get(a.u("/v1/kv/app/db")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    for h in [
        "x-consul-index",
        "x-consul-knownleader",
        "x-consul-lastcontact",
    ] {
        assert!(r.headers().contains_key(h), "missing header {h}");
    }
    assert_eq!(r.headers()["x-consul-knownleader"], "true");
    let idx = index_of(&r);
    let body: Value = r.json().await.unwrap();
    let e = &body[0];
    assert_eq!(e["Key"], "app/db");
    assert_eq!(e["Value"], b64("pg://db:5432"));
    assert_eq!(e["Flags"], 0);
    assert_eq!(e["LockIndex"], 0);
    assert_eq!(e["ModifyIndex"].as_u64().unwrap(), idx);
    assert_eq!(e["CreateIndex"], e["ModifyIndex"]);
    assert!(e.get("Session").is_none());

    let r = a.http.delete(a.u("/v1/kv/app/db")).send().await.unwrap();
    assert_eq!(r.text().await.unwrap().trim(), "true");
    let r = a.http.get(a.u("/v1/kv/app/db")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert!(index_of(&r) > idx, "the delete moved the key's index");
    a.shutdown().await;
}

#[tokio::test]
async fn empty_value_is_null_and_flags_are_kept() {
    let a = TestAgent::dev().await;
    let r = a.put_empty("/v1/kv/empty?flags=42").await;
    assert_eq!(r.text().await.unwrap().trim(), "true");
    let body: Value = a
        .http
        .get(a.u("/v1/kv/empty"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body[0]["Value"], Value::Null);
    assert_eq!(body[0]["Flags"], 42);
    a.shutdown().await;
}

#[tokio::test]
async fn recurse_keys_separator_and_raw() {
    let a = TestAgent::dev().await;
    for k in ["app/a", "app/b/c", "app/b/d", "apple", "zeta"] {
        a.put(k, k).await;
    }
    let all: Vec<Value> = a
        .http
        .get(a.u("/v1/kv/?recurse"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(all.len(), 5);
    let app: Vec<Value> = a
        .http
        .get(a.u("/v1/kv/app/?recurse"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys: Vec<&str> = app.iter().map(|e| e["Key"].as_str().unwrap()).collect();
    assert_eq!(keys, vec!["app/a", "app/b/c", "app/b/d"]);
    let keys: Vec<String> = a
        .http
        .get(a.u("/v1/kv/app/?keys&separator=/"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys, vec!["app/a", "app/b/"]);
    let keys: Vec<String> = a
        .http
        .get(a.u("/v1/kv/?keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys.len(), 5);
    let r = a.http.get(a.u("/v1/kv/app/a?raw")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"app/a");
    let r = a
        .http
        .get(a.u("/v1/kv/nothing/?recurse"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let r = a
        .http
        .delete(a.u("/v1/kv/app/?recurse"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap().trim(), "true");
    let keys: Vec<String> = a
        .http
        .get(a.u("/v1/kv/?keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys, vec!["apple", "zeta"]);
    a.shutdown().await;
}

#[tokio::test]
async fn cas_put_and_delete_follow_consul() {
    let a = TestAgent::dev().await;
    let put = |q: &'static str, v: &'static str| {
        let a = &a;
        async move {
            a.http
                .put(a.u(&format!("/v1/kv/k?{q}")))
                .body(v)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    assert_eq!(put("cas=0", "1").await.trim(), "true");
    assert_eq!(
        put("cas=0", "2").await.trim(),
        "false",
        "cas=0 only writes an absent key"
    );
    let e: Value = a
        .http
        .get(a.u("/v1/kv/k"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let idx = e[0]["ModifyIndex"].as_u64().unwrap();
    assert_eq!(put("cas=1", "3").await.trim(), "false");
    let r = a
        .http
        .put(a.u(&format!("/v1/kv/k?cas={idx}")))
        .body("4")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap().trim(), "true");
    let e: Value = a
        .http
        .get(a.u("/v1/kv/k"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(e[0]["Value"], b64("4"));
    let new_idx = e[0]["ModifyIndex"].as_u64().unwrap();
    let r = a
        .http
        .delete(a.u(&format!("/v1/kv/k?cas={idx}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.text().await.unwrap().trim(),
        "false",
        "a stale cas delete changes nothing"
    );
    assert_eq!(
        a.http.get(a.u("/v1/kv/k")).send().await.unwrap().status(),
        200
    );
    let r = a
        .http
        .delete(a.u(&format!("/v1/kv/k?cas={new_idx}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap().trim(), "true");
    a.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_a_4xx_with_a_reason_and_changes_nothing() {
    let mut cfg = crate::dev_config();
    cfg.limits.kv_max_value_size = 1024;
    let a = TestAgent::start(cfg).await;
    a.put("k", "v").await;
    let before = index_of(&a.http.get(a.u("/v1/kv/k")).send().await.unwrap());

    let r = a
        .http
        .put(a.u("/v1/kv/k"))
        .body(vec![b'x'; 1025])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.text().await.unwrap().contains("too large"));
    let r = a
        .http
        .put(a.u("/v1/kv/k"))
        .body(vec![b'x'; 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a value of exactly the limit is accepted");
    let before = before.max(index_of(&r));

    for (method, path) in [
        ("PUT", "/v1/kv/k?cas=abc"),
        ("PUT", "/v1/kv/k?flags=-1"),
        ("GET", "/v1/kv/k?wait=forever&index=1"),
        ("GET", "/v1/kv/k?index=x"),
        ("GET", "/v1/kv/k?stale&consistent"),
        ("DELETE", "/v1/kv/k?cas=nope"),
        ("PUT", "/v1/kv/"),
        ("PUT", "/v1/kv/a%00b"),
    ] {
        let r = a
            .http
            .request(method.parse().unwrap(), a.u(path))
            .body("changed")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{method} {path}");
        let text = r.text().await.unwrap();
        assert_eq!(
            text.trim().lines().count(),
            1,
            "one-line reason for {method} {path}: {text:?}"
        );
    }
    let r = a.http.post(a.u("/v1/kv/k")).body("x").send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = a
        .http
        .get(a.u("/v1/kv/k?dc=elsewhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert!(r.text().await.unwrap().contains("No path to datacenter"));
    let r = a.http.get(a.u("/v1/kv/k?dc=dc1")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        index_of(&r),
        before,
        "nothing was written by the refused requests"
    );
    a.shutdown().await;
}

#[tokio::test]
async fn consistency_modes_and_status_endpoints() {
    let a = TestAgent::dev().await;
    a.put("c", "1").await;
    for q in ["", "?stale", "?consistent"] {
        let r = a
            .http
            .get(a.u(&format!("/v1/kv/c{q}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{q}");
    }
    let leader: String = a
        .http
        .get(a.u("/v1/status/leader"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let peers: Vec<String> = a
        .http
        .get(a.u("/v1/status/peers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(peers, vec![leader.clone()]);
    assert!(
        leader.starts_with("127.0.0.1:") && !leader.ends_with(":0"),
        "{leader}"
    );
    let me: Value = a
        .http
        .get(a.u("/v1/agent/self"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["Config"]["Datacenter"], "dc1");
    assert_eq!(me["Config"]["NodeName"], "it-node");
    assert_eq!(me["Config"]["Server"], true);
    assert!(me["Config"]["NodeID"].as_str().unwrap().len() == 36);
    assert_eq!(me["Member"]["Name"], "it-node");
    let dcs: Vec<String> = a
        .http
        .get(a.u("/v1/catalog/datacenters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(dcs, vec!["dc1"]);
    let m: Value = a
        .http
        .get(a.u("/v1/agent/metrics"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(m["Gauges"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["Name"] == "consul.raft.applied_index"));
    let prom = a
        .http
        .get(a.u("/v1/agent/metrics?format=prometheus"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(prom.contains("consul_raft_applied_index"));
    a.shutdown().await;
}

#[tokio::test]
async fn rs_consul_client_reads_and_writes() {
    use rs_consul::{Config, Consul, CreateOrUpdateKeyRequest, DeleteKeyRequest, ReadKeyRequest};
    let a = TestAgent::dev().await;
    let c = Consul::new(Config {
        address: a.url.clone(),
        token: None,
        ..Default::default()
    });
    let (ok, idx) = c
        .create_or_update_key(
            CreateOrUpdateKeyRequest {
                key: "svc/web/port",
                ..Default::default()
            },
            b"8080".to_vec(),
        )
        .await
        .unwrap();
    assert!(ok);
    let got = c
        .read_key(ReadKeyRequest {
            key: "svc/web/port",
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(got.response.len(), 1);
    assert_eq!(got.response[0].value.as_deref(), Some("8080"));
    assert_eq!(got.index, idx);
    let (ok, _) = c
        .create_or_update_key(
            CreateOrUpdateKeyRequest {
                key: "svc/web/port",
                check_and_set: Some(1),
                ..Default::default()
            },
            b"9".to_vec(),
        )
        .await
        .unwrap();
    assert!(!ok, "cas with a stale index fails");
    a.put("svc/web/portal", "other").await;
    let all = c
        .read_key(ReadKeyRequest {
            key: "svc/",
            recurse: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.response.len(), 2);
    // rs-consul sends ?recurse=false on every delete; only the key goes.
    assert!(c
        .delete_key(DeleteKeyRequest {
            key: "svc/web/port",
            ..Default::default()
        })
        .await
        .unwrap());
    let left = c
        .read_key(ReadKeyRequest {
            key: "svc/",
            recurse: true,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(left.response.len(), 1);
    assert_eq!(left.response[0].key, "svc/web/portal");
    a.shutdown().await;
}

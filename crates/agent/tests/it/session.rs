//! `/v1/session/*`, `?acquire`/`?release` and `/v1/txn`: shapes, status
//! codes and headers as Consul documents them.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::{index_of, TestAgent};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

impl TestAgent {
    /// Creates a session (at once: a leader that is reported has its own
    /// node in the catalog).
    async fn session(&self, body: Value) -> String {
        let r = self.put_json("/v1/session/create", body).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 200, "session create: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["ID"].as_str().unwrap().to_owned()
    }

    async fn kv_put_q(&self, key_and_query: &str, body: &str) -> (u16, String) {
        let r = self
            .http
            .put(self.u(&format!("/v1/kv/{key_and_query}")))
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        (
            r.status().as_u16(),
            r.text().await.unwrap().trim().to_owned(),
        )
    }
}

#[tokio::test]
async fn session_create_info_list_node_and_destroy_in_consul_shapes() {
    let a = TestAgent::dev().await;
    let id = a
        .session(json!({"Name": "web-lock", "TTL": "30s", "LockDelay": "5s", "Behavior": "delete"}))
        .await;
    let r = a
        .http
        .get(a.u(&format!("/v1/session/info/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().contains_key("x-consul-knownleader"));
    let index = index_of(&r);
    let list: Value = r.json().await.unwrap();
    let s = &list[0];
    assert_eq!(s["ID"], id.as_str());
    assert_eq!(s["Name"], "web-lock");
    assert_eq!(s["Node"], "it-node");
    assert_eq!(s["NodeChecks"], json!(["serfHealth"]));
    assert_eq!(s["ServiceChecks"], Value::Null);
    assert_eq!(s["LockDelay"], 5_000_000_000u64);
    assert_eq!(s["Behavior"], "delete");
    assert_eq!(s["TTL"], "30s");
    assert_eq!(s["CreateIndex"].as_u64(), Some(index));
    assert_eq!(s["ModifyIndex"].as_u64(), Some(index));

    let list = a.get_json("/v1/session/list").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    let list = a.get_json("/v1/session/node/it-node").await;
    assert_eq!(list[0]["ID"], id.as_str());
    assert_eq!(a.get_json("/v1/session/node/other").await, json!([]));
    assert_eq!(a.get_json("/v1/session/info/nope").await, json!([]));

    let r = a.put_empty(&format!("/v1/session/renew/{id}")).await;
    assert_eq!(r.status(), 200);
    let renewed: Value = r.json().await.unwrap();
    assert_eq!(renewed[0]["ID"], id.as_str());

    info_blocks_until_destroy(&a, &id, index).await;
    let r = a.put_empty(&format!("/v1/session/renew/{id}")).await;
    assert_eq!(r.status(), 404, "a destroyed session cannot be renewed");
    a.shutdown().await;
}

async fn info_blocks_until_destroy(a: &TestAgent, id: &str, index: u64) {
    let path = format!("/v1/session/list?index={index}&wait=20s");
    let (blocked, destroyed) = tokio::join!(
        async { a.http.get(a.u(&path)).send().await.unwrap() },
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            a.put_json(&format!("/v1/session/destroy/{id}"), Value::Null)
                .await
        }
    );
    assert_eq!(destroyed.status(), 200);
    assert_eq!(destroyed.text().await.unwrap().trim(), "true");
    assert!(index_of(&blocked) > index);
    let list: Value = blocked.json().await.unwrap();
    assert_eq!(list, json!([]), "the blocking list returned without it");
}

#[tokio::test]
async fn bad_sessions_are_refused_with_400_and_nothing_created() {
    let a = TestAgent::dev().await;
    a.session(json!({})).await; // the node is registered now
    for (body, why) in [
        (json!({"TTL": "5s"}), "must be between"),
        (json!({"TTL": "25h"}), "must be between"),
        (json!({"TTL": "soon"}), "Invalid Session TTL"),
        (json!({"Behavior": "explode"}), "Invalid Behavior"),
        (json!({"Node": "ghost"}), "Missing node"),
        (json!({"NodeChecks": ["nope"]}), "Missing check 'nope'"),
        (json!({"LockDelay": "later"}), "LockDelay"),
    ] {
        let r = a.put_json("/v1/session/create", body.clone()).await;
        assert_eq!(r.status(), 400, "{body}");
        let text = r.text().await.unwrap();
        assert!(text.contains(why), "{body}: {text}");
    }
    assert_eq!(
        a.get_json("/v1/session/list")
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = a.http.get(a.u("/v1/session/create")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    a.shutdown().await;
}

#[tokio::test]
async fn acquire_and_release_follow_consul() {
    let a = TestAgent::dev().await;
    let s1 = a.session(json!({"LockDelay": "0s"})).await;
    let s2 = a.session(json!({"LockDelay": "0s"})).await;
    assert_eq!(
        a.kv_put_q(&format!("lk?acquire={s1}&flags=42"), "one")
            .await,
        (200, "true".into())
    );
    assert_eq!(
        a.kv_put_q(&format!("lk?acquire={s2}"), "two").await,
        (200, "false".into())
    );
    let e = &a.get_json("/v1/kv/lk").await[0];
    assert_eq!(e["Session"], s1.as_str());
    assert_eq!(e["LockIndex"], 1);
    assert_eq!(e["Flags"], 42);
    assert_eq!(e["Value"], b64("one"));
    assert_eq!(
        a.kv_put_q(&format!("lk?release={s2}"), "").await,
        (200, "false".into())
    );
    assert_eq!(
        a.kv_put_q(&format!("lk?release={s1}"), "done").await,
        (200, "true".into())
    );
    let e = &a.get_json("/v1/kv/lk").await[0];
    assert!(e.get("Session").is_none());
    assert_eq!(e["LockIndex"], 1);
    assert_eq!(
        a.kv_put_q(&format!("lk?acquire={s2}"), "two").await,
        (200, "true".into())
    );
    assert_eq!(a.get_json("/v1/kv/lk").await[0]["LockIndex"], 2);
    let (code, text) = a.kv_put_q("lk?acquire=not-a-session", "").await;
    assert_eq!(code, 400, "{text}");
    let (code, _) = a
        .kv_put_q(&format!("lk?acquire={s1}&release={s1}"), "")
        .await;
    assert_eq!(code, 400);
    a.shutdown().await;
}

#[tokio::test]
async fn an_invalidated_holder_leaves_a_lock_delay() {
    let a = TestAgent::dev().await;
    let s1 = a.session(json!({"LockDelay": "1500ms"})).await;
    let s2 = a.session(json!({})).await;
    assert_eq!(a.kv_put_q(&format!("ld?acquire={s1}"), "").await.1, "true");
    a.put_json(&format!("/v1/session/destroy/{s1}"), Value::Null)
        .await;
    let e = &a.get_json("/v1/kv/ld").await[0];
    assert!(e.get("Session").is_none(), "released by the destroy");
    assert_eq!(
        a.kv_put_q(&format!("ld?acquire={s2}"), "").await.1,
        "false",
        "within the lock-delay"
    );
    praetor_testwait::wait_for(Duration::from_secs(10), "the lock-delay to end", || async {
        let got = a.kv_put_q(&format!("ld?acquire={s2}"), "").await.1;
        praetor_testwait::check(got == "true", || format!("acquire answered {got}"))
    })
    .await
    .unwrap();
    a.shutdown().await;
}

#[tokio::test]
async fn txn_answers_results_or_errors_with_consul_codes() {
    let a = TestAgent::dev().await;
    let s = a.session(json!({})).await;
    let ops = json!([
        {"KV": {"Verb": "set", "Key": "t/a", "Value": b64("1")}},
        {"KV": {"Verb": "lock", "Key": "t/l", "Value": b64("x"), "Session": s}},
        {"KV": {"Verb": "get", "Key": "t/a"}},
        {"KV": {"Verb": "check-session", "Key": "t/l", "Session": s}},
    ]);
    let r = a.put_json("/v1/txn", ops).await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["Errors"], Value::Null);
    let results = body["Results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(
        results[0]["KV"]["Value"],
        Value::Null,
        "writes answer without the value"
    );
    assert_eq!(results[1]["KV"]["Session"], s.as_str());
    assert_eq!(results[2]["KV"]["Value"], b64("1"));

    info_conflict_changes_nothing(&a).await;

    let r = a
        .put_json(
            "/v1/txn",
            json!([{"KV": {"Verb": "frobnicate", "Key": "k"}}]),
        )
        .await;
    assert_eq!(
        r.status(),
        409,
        "an unknown verb is an Errors entry, as in Consul"
    );
    let r = a
        .http
        .put(a.u("/v1/txn"))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let many: Vec<Value> = (0..129)
        .map(|i| json!({"KV": {"Verb": "set", "Key": format!("m/{i}")}}))
        .collect();
    let r = a.put_json("/v1/txn", Value::Array(many)).await;
    assert_eq!(r.status(), 413);
    assert!(a.http.get(a.u("/v1/kv/m/0")).send().await.unwrap().status() == 404);

    let r = a
        .put_json(
            "/v1/txn?stale",
            json!([{"KV": {"Verb": "get-tree", "Key": "t/"}}]),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-consul-effective-consistency"], "stale");
    assert!(r.headers().contains_key("x-consul-knownleader"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["Results"].as_array().unwrap().len(), 2);
    let r = a
        .put_json(
            "/v1/txn?consistent",
            json!([{"KV": {"Verb": "get", "Key": "missing"}}]),
        )
        .await;
    assert_eq!(r.status(), 409);
    a.shutdown().await;
}

async fn info_conflict_changes_nothing(a: &TestAgent) {
    let before = a.get_json("/v1/kv/t/a").await[0]["ModifyIndex"].clone();
    let r = a
        .put_json(
            "/v1/txn",
            json!([
                {"KV": {"Verb": "set", "Key": "t/a", "Value": b64("2")}},
                {"KV": {"Verb": "set", "Key": "t/new", "Value": b64("n")}},
                {"KV": {"Verb": "check-index", "Key": "t/a", "Index": 1}},
                {"KV": {"Verb": "check-not-exists", "Key": "t/l"}},
            ]),
        )
        .await;
    assert_eq!(r.status(), 409);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["Results"], Value::Null);
    let errors = body["Errors"].as_array().unwrap();
    let at: Vec<u64> = errors
        .iter()
        .map(|e| e["OpIndex"].as_u64().unwrap())
        .collect();
    assert_eq!(at, vec![2, 3]);
    assert!(errors[0]["What"].as_str().unwrap().contains("index"));
    let e = &a.get_json("/v1/kv/t/a").await[0];
    assert_eq!(e["Value"], b64("1"), "the failed txn changed nothing");
    assert_eq!(e["ModifyIndex"], before);
    let r = a.http.get(a.u("/v1/kv/t/new")).send().await.unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn txn_node_service_and_check_verbs() {
    let a = TestAgent::dev().await;
    let r = a
        .put_json(
            "/v1/txn",
            json!([
                {"Node": {"Verb": "set", "Node": {"Node": "ext", "Address": "10.1.1.1"}}},
                {"Service": {"Verb": "set", "Node": "ext", "Service": {"ID": "db1", "Service": "db", "Port": 5432}}},
                {"Check": {"Verb": "set", "Check": {"Node": "ext", "CheckID": "db-up", "Name": "db up", "Status": "passing", "ServiceID": "db1"}}},
            ]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let results = body["Results"].as_array().unwrap();
    assert_eq!(results[0]["Node"]["Address"], "10.1.1.1");
    assert_eq!(results[1]["Service"]["Port"], 5432);
    assert_eq!(results[2]["Check"]["Status"], "passing");
    let svc = a.get_json("/v1/catalog/service/db").await;
    assert_eq!(svc[0]["Node"], "ext");
    let r = a
        .put_json(
            "/v1/txn",
            json!([
                {"Service": {"Verb": "delete", "Node": "ext", "Service": {"ID": "db1"}}},
                {"Node": {"Verb": "cas", "Node": {"Node": "ext", "Address": "10.9.9.9", "ModifyIndex": 1}}},
            ]),
        )
        .await;
    assert_eq!(r.status(), 409, "a stale node cas fails the whole txn");
    assert_eq!(a.get_json("/v1/catalog/service/db").await[0]["Node"], "ext");
    let r = a
        .put_json(
            "/v1/txn",
            json!([{"Node": {"Verb": "get", "Node": {"Node": "ext"}}}]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = a
        .put_json(
            "/v1/txn",
            json!([{"Node": {"Verb": "delete", "Node": {"Node": "ext"}}}]),
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(a.get_json("/v1/catalog/service/db").await, json!([]));
    a.shutdown().await;
}

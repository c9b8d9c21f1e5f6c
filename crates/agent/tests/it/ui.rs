//! The web UI's side of the agent: its embedded files at `/ui/` (content
//! types, revalidation, relative redirects, absent when `ui` is off), a
//! key's history at `/v1/history/kv/<key>`, and the service summaries at
//! `/v1/internal/ui/services`.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};

use crate::{dev_config, index_of, TestAgent};

fn no_redirects() -> reqwest::Client {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn ui_agent() -> TestAgent {
    let mut cfg = dev_config();
    cfg.ui = true;
    TestAgent::start(cfg).await
}

#[tokio::test]
async fn ui_files_are_served_with_their_types_and_revalidated() {
    let a = ui_agent().await;
    let c = no_redirects();

    for (path, to) in [("/", "ui/"), ("/ui", "ui/")] {
        let r = c.get(a.u(path)).send().await.unwrap();
        assert_eq!(r.status(), 301, "{path}");
        // Relative, so it stays under whatever prefix a proxy adds.
        assert_eq!(r.headers()["location"], to, "{path}");
    }

    let r = c.get(a.u("/ui/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    assert!(r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("default-src 'self'"));
    let etag = r.headers()["etag"].to_str().unwrap().to_owned();
    let html = r.text().await.unwrap();
    // Every URL in the page is relative.
    assert!(html.contains(r#"src="app.js""#) && html.contains(r#"href="app.css""#));
    assert!(!html.contains(r#"="/"#), "an absolute URL in index.html");

    let again = c
        .get(a.u("/ui/"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert!(again.bytes().await.unwrap().is_empty());

    for (path, ty) in [
        ("/ui/app.js", "text/javascript; charset=utf-8"),
        ("/ui/views/kv.js", "text/javascript; charset=utf-8"),
        ("/ui/app.css", "text/css; charset=utf-8"),
        ("/ui/vendor/js-yaml.mjs", "text/javascript; charset=utf-8"),
    ] {
        let r = c.get(a.u(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["content-type"], ty, "{path}");
        assert_eq!(r.headers()["x-content-type-options"], "nosniff", "{path}");
        assert!(!r.bytes().await.unwrap().is_empty(), "{path}");
    }
    let r = c.get(a.u("/ui/nope.js")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    // The JS calls the API relative to the page: no absolute /v1 anywhere.
    for path in ["/ui/api.js", "/ui/views/kv.js", "/ui/views/services.js"] {
        let js = c.get(a.u(path)).send().await.unwrap().text().await.unwrap();
        assert!(
            !js.contains("'/v1") && !js.contains("\"/v1"),
            "{path} names /v1 absolutely"
        );
    }
    a.shutdown().await;
}

#[tokio::test]
async fn without_ui_there_are_no_pages() {
    let a = TestAgent::dev().await;
    let c = no_redirects();
    for path in ["/", "/ui", "/ui/", "/ui/app.js"] {
        let r = c.get(a.u(path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    a.shutdown().await;
}

fn b64(s: &str) -> Value {
    json!(base64::engine::general_purpose::STANDARD.encode(s))
}

#[tokio::test]
async fn history_lists_a_keys_versions_newest_first() {
    let a = TestAgent::dev().await;
    let r = a
        .http
        .get(a.u("/v1/history/kv/cfg/db"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a key that never existed");

    a.put("cfg/db", "v1").await;
    a.put("cfg/other", "not this key").await;
    let r = a
        .http
        .put(a.u("/v1/kv/cfg/db?flags=7"))
        .body("v2")
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "true");
    a.http.delete(a.u("/v1/kv/cfg/db")).send().await.unwrap();
    a.put("cfg/db", "v3").await;

    let r = a
        .http
        .get(a.u("/v1/history/kv/cfg/db"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let index = index_of(&r);
    let v: Vec<Value> = r.json().await.unwrap();
    let ops: Vec<_> = v.iter().map(|e| e["Op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["set", "delete", "set", "set"]);
    assert_eq!(v[0]["Value"], b64("v3"));
    assert_eq!(
        v[0]["Index"].as_u64(),
        Some(index),
        "X-Consul-Index is the key's last change"
    );
    assert_eq!(v[1]["Value"], Value::Null);
    assert_eq!(v[2]["Value"], b64("v2"));
    assert_eq!(v[2]["Flags"], 7);
    assert_eq!(v[3]["Value"], b64("v1"));
    assert_eq!(v[3]["Flags"], 0);
    let idx: Vec<u64> = v.iter().map(|e| e["Index"].as_u64().unwrap()).collect();
    assert!(idx.windows(2).all(|w| w[0] > w[1]), "newest first: {idx:?}");
    assert_eq!(
        v[2]["CreateIndex"], v[3]["Index"],
        "the same key until its delete"
    );
    assert!(v.iter().all(|e| e["Key"] == "cfg/db"));

    let r = a
        .http
        .get(a.u("/v1/history/kv/cfg/db?limit=2"))
        .send()
        .await
        .unwrap();
    let v: Vec<Value> = r.json().await.unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v[0]["Value"], b64("v3"));

    for bad in ["limit=0", "limit=x", "limit=10001"] {
        let r = a
            .http
            .get(a.u(&format!("/v1/history/kv/cfg/db?{bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = a.http.get(a.u("/v1/history/kv/")).send().await.unwrap();
    assert_eq!(r.status(), 400, "no key");
    let r = a.put_empty("/v1/history/kv/cfg/db").await;
    assert_eq!(r.status(), 405);

    // A blocking read returns when the key changes.
    let url = a.u(&format!("/v1/history/kv/cfg/db?index={index}&wait=10s"));
    let waiter = tokio::spawn({
        let http = a.http.clone();
        async move { http.get(url).send().await.unwrap() }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!waiter.is_finished(), "returned before any change");
    a.put("cfg/db", "v4").await;
    let r = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woken by the write")
        .unwrap();
    assert!(index_of(&r) > index);
    let v: Vec<Value> = r.json().await.unwrap();
    assert_eq!(v[0]["Value"], b64("v4"));
    a.shutdown().await;
}

#[tokio::test]
async fn history_of_a_key_whose_changes_were_dropped_is_its_live_entry() {
    let mut cfg = dev_config();
    cfg.kv_history_limit = 2;
    let a = TestAgent::start(cfg).await;
    a.put("old", "kept value").await;
    a.put("x", "1").await;
    a.put("y", "2").await;
    let r = a.http.get(a.u("/v1/history/kv/old")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Vec<Value> = r.json().await.unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0]["Op"], "set");
    assert_eq!(v[0]["Value"], b64("kept value"));
    a.shutdown().await;
}

#[tokio::test]
async fn service_summaries_count_instances_and_checks() {
    let a = TestAgent::dev().await;
    let reg = |node: &str, id: &str, status: &str| {
        json!({
            "Node": node, "Address": "10.0.0.1",
            "Service": {"ID": id, "Service": "web", "Tags": [id], "Port": 80},
            "Check": {"CheckID": format!("{id}-c"), "Name": "c", "ServiceID": id, "Status": status},
        })
    };
    for body in [
        reg("n1", "w1", "passing"),
        reg("n2", "w2", "critical"),
        reg("n2", "w3", "warning"),
    ] {
        let r = a
            .http
            .put(a.u("/v1/catalog/register"))
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let r = a
        .http
        .get(a.u("/v1/internal/ui/services"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let index = index_of(&r);
    let list: Vec<Value> = r.json().await.unwrap();
    let web = list
        .iter()
        .find(|s| s["Name"] == "web")
        .expect("web listed");
    assert_eq!(web["InstanceCount"], 3);
    assert_eq!(web["Nodes"], json!(["n1", "n2"]));
    assert_eq!(web["Tags"], json!(["w1", "w2", "w3"]));
    assert_eq!(
        (
            web["ChecksPassing"].clone(),
            web["ChecksWarning"].clone(),
            web["ChecksCritical"].clone()
        ),
        (json!(1), json!(1), json!(1))
    );
    assert_eq!(web["Datacenter"], "dc1");

    // A blocking read wakes when a check changes.
    let url = a.u(&format!("/v1/internal/ui/services?index={index}&wait=10s"));
    let waiter = tokio::spawn({
        let http = a.http.clone();
        async move { http.get(url).send().await.unwrap() }
    });
    let r = a
        .http
        .put(a.u("/v1/catalog/register"))
        .body(reg("n2", "w2", "passing").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woken by the check")
        .unwrap();
    let list: Vec<Value> = r.json().await.unwrap();
    let web = list.iter().find(|s| s["Name"] == "web").unwrap();
    assert_eq!(web["ChecksPassing"], 2);
    assert_eq!(web["ChecksCritical"], 0);
    a.shutdown().await;
}

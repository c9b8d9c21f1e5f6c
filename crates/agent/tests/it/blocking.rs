//! Blocking queries: a read with `?index=N` returns when its own answer
//! changes, not on changes elsewhere, and at the end of `?wait`.

use std::time::Duration;

use crate::{index_of, TestAgent};

#[tokio::test]
async fn blocking_get_wakes_on_its_key_and_not_on_another() {
    let a = TestAgent::dev().await;
    a.put("watched", "1").await;
    let idx = index_of(&a.http.get(a.u("/v1/kv/watched")).send().await.unwrap());
    let url = a.u(&format!("/v1/kv/watched?index={idx}&wait=20s"));
    let http = a.http.clone();
    let waiter = tokio::spawn(async move {
        let r = http.get(url).send().await.unwrap();
        let i = index_of(&r);
        let body: serde_json::Value = r.json().await.unwrap();
        (i, body)
    });
    a.wait_blocked(1).await;
    // A write elsewhere must not wake it.
    a.put("unrelated", "x").await;
    a.put("watchedX", "x").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "a write to another key woke the blocking query"
    );
    a.put("watched", "2").await;
    let (i, body) = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woken by its key")
        .unwrap();
    assert!(i > idx);
    assert_eq!(body[0]["Value"], "Mg==");
    a.shutdown().await;
}

#[tokio::test]
async fn blocking_prefix_query_wakes_on_a_delete_under_the_prefix() {
    let a = TestAgent::dev().await;
    a.put("cfg/a", "1").await;
    a.put("cfg/b", "1").await;
    let idx = index_of(&a.http.get(a.u("/v1/kv/cfg/?recurse")).send().await.unwrap());
    let url = a.u(&format!("/v1/kv/cfg/?recurse&index={idx}&wait=20s"));
    let http = a.http.clone();
    let waiter = tokio::spawn(async move { index_of(&http.get(url).send().await.unwrap()) });
    a.wait_blocked(1).await;
    a.put("other/x", "1").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!waiter.is_finished());
    a.http.delete(a.u("/v1/kv/cfg/a")).send().await.unwrap();
    let i = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woken by the delete")
        .unwrap();
    assert!(i > idx);
    a.shutdown().await;
}

#[tokio::test]
async fn blocking_query_returns_the_same_index_when_the_wait_runs_out() {
    let a = TestAgent::dev().await;
    a.put("quiet", "1").await;
    let idx = index_of(&a.http.get(a.u("/v1/kv/quiet")).send().await.unwrap());
    let started = std::time::Instant::now();
    let r = a
        .http
        .get(a.u(&format!("/v1/kv/quiet?index={idx}&wait=1s")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(index_of(&r), idx);
    // It waited (wait plus at most 1/16 jitter), rather than answering at once.
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "returned after {:?}",
        started.elapsed()
    );
    a.shutdown().await;
}

#[tokio::test]
async fn index_zero_never_blocks_and_missing_keys_block_until_created() {
    let a = TestAgent::dev().await;
    let r = a
        .http
        .get(a.u("/v1/kv/later?index=0&wait=30s"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let idx = index_of(&r);
    assert!(idx >= 1, "the index is never below 1");
    let url = a.u(&format!("/v1/kv/later?index={idx}&wait=20s"));
    let http = a.http.clone();
    let waiter = tokio::spawn(async move { http.get(url).send().await.unwrap().status() });
    a.wait_blocked(1).await;
    assert!(!waiter.is_finished());
    a.put("later", "now").await;
    let status = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woken by the create")
        .unwrap();
    assert_eq!(status, 200);
    a.shutdown().await;
}

#[tokio::test]
async fn an_index_ahead_of_the_store_waits_out_the_wait_and_returns_the_lower_index() {
    // Consul's rule: the server blocks until its index passes the client's;
    // the client sees the index go backwards and resets to 0.
    let a = TestAgent::dev().await;
    a.put("k", "1").await;
    let idx = index_of(&a.http.get(a.u("/v1/kv/k")).send().await.unwrap());
    let started = std::time::Instant::now();
    let r = a
        .http
        .get(a.u(&format!("/v1/kv/k?index={}&wait=500ms", idx + 1000)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(index_of(&r), idx);
    assert!(started.elapsed() >= Duration::from_millis(450));
    a.shutdown().await;
}

#[tokio::test]
async fn open_blocking_queries_are_counted_in_consuls_gauge() {
    let a = TestAgent::dev().await;
    let gauge = |a: &TestAgent| {
        let (http, url) = (a.http.clone(), a.u("/v1/agent/metrics"));
        async move {
            let m: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
            m["Gauges"]
                .as_array()
                .unwrap()
                .iter()
                .find(|g| g["Name"] == "consul.rpc.queries_blocking")
                .map(|g| g["Value"].as_f64().unwrap())
        }
    };
    assert_eq!(gauge(&a).await, Some(0.0));
    a.put("gauge", "1").await;
    let idx = index_of(&a.http.get(a.u("/v1/kv/gauge")).send().await.unwrap());
    let url = a.u(&format!("/v1/kv/gauge?index={idx}&wait=20s"));
    let http = a.http.clone();
    let waiter = tokio::spawn(async move { http.get(url).send().await.unwrap().status() });
    a.wait_blocked(1).await;
    assert_eq!(gauge(&a).await, Some(1.0));
    a.put("gauge", "2").await;
    let status = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woken by its key")
        .unwrap();
    assert_eq!(status, 200);
    // Answered, so no longer counted (the count drops before the answer goes).
    assert_eq!(gauge(&a).await, Some(0.0));
    a.shutdown().await;
}

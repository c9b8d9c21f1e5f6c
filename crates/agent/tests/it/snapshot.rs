//! `GET /v1/snapshot` and `PUT /v1/snapshot`: save, change, restore; a
//! blocking query open across the restore returns; damaged files change
//! nothing.

use std::time::Duration;

use crate::{index_of, TestAgent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_brings_back_the_saved_state_and_wakes_blocking_queries() {
    let a = TestAgent::dev().await;
    assert!(a.put("app/a", "1").await);
    assert!(a.put("app/b", "2").await);
    let saved = a.http.get(a.u("/v1/snapshot")).send().await.unwrap();
    assert_eq!(saved.status(), 200);
    assert!(index_of(&saved) >= 2);
    let file = saved.bytes().await.unwrap();
    let (meta, _) = praetor_api::snapshot::decode(&file).unwrap();
    assert!(meta.index >= 2);

    assert!(a.put("app/a", "changed").await);
    assert!(a.put("app/c", "new").await);
    let r = a.http.get(a.u("/v1/kv/app/a")).send().await.unwrap();
    let before = index_of(&r);
    let blocked = {
        let (http, url) = (
            a.http.clone(),
            a.u(&format!("/v1/kv/app/a?index={before}&wait=30s")),
        );
        tokio::spawn(async move { http.get(url).send().await.unwrap() })
    };
    a.wait_blocked(1).await;
    assert!(!blocked.is_finished());

    // Damaged files are refused with a reason, and nothing changes.
    let mut damaged = file.to_vec();
    *damaged.last_mut().unwrap() ^= 0xff;
    let r = a
        .http
        .put(a.u("/v1/snapshot"))
        .body(damaged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("checksum"));
    assert!(!blocked.is_finished());

    let r = a
        .http
        .put(a.u("/v1/snapshot"))
        .body(file.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let woke = tokio::time::timeout(Duration::from_secs(5), blocked)
        .await
        .unwrap()
        .unwrap();
    assert!(
        index_of(&woke) < before,
        "the index went back to the saved entry's"
    );
    let keys: Vec<String> = a
        .http
        .get(a.u("/v1/kv/app?keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys, vec!["app/a", "app/b"]);
    let raw = a
        .http
        .get(a.u("/v1/kv/app/a?raw"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(raw, "1");
    // Writes go on after the restore, at indexes above it.
    assert!(a.put("app/d", "after").await);
    let r = a.http.get(a.u("/v1/kv/app/d")).send().await.unwrap();
    assert!(index_of(&r) > meta.index);
    a.shutdown().await;
}

/// A state of several pieces saves and restores through the stream; a body
/// that holds more or less than its header says, or says too much, is
/// refused with the reason and restores nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_of_many_pieces_streams_both_ways_and_bad_bodies_change_nothing() {
    let a = TestAgent::dev().await;
    let value = "v".repeat(300 * 1024);
    for i in 0..40 {
        assert!(a.put(&format!("big/{i:02}"), &value).await);
    }
    let saved = a.http.get(a.u("/v1/snapshot")).send().await.unwrap();
    assert_eq!(saved.status(), 200);
    let file = saved.bytes().await.unwrap().to_vec();
    let (meta, _) = praetor_api::snapshot::decode(&file).unwrap();
    assert!(
        meta.size > 8 * 1024 * 1024,
        "{} bytes: three pieces",
        meta.size
    );

    assert!(a.put("big/after", "x").await);
    let put = |body: Vec<u8>| {
        let (http, url) = (a.http.clone(), a.u("/v1/snapshot"));
        async move {
            let r = http.put(url).body(body).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let mut padded = file.clone();
    padded.extend_from_slice(&vec![0; 24 * 1024 * 1024]);
    let (status, why) = put(padded).await;
    assert_eq!((status, why.contains("more than")), (400, true), "{why}");
    let (status, why) = put(file[..file.len() - 1].to_vec()).await;
    assert_eq!((status, why.contains("truncated")), (400, true), "{why}");
    let huge = praetor_api::snapshot::SnapshotMeta::new(1, 1, 1, 3 << 30, 0).header();
    let (status, why) = put(huge).await;
    assert_eq!((status, why.contains("at most")), (413, true), "{why}");
    let (status, why) = put(b"praetor-snapshot 1\n{\"broken".to_vec()).await;
    assert_eq!(status, 400, "{why}");
    let keys: Vec<String> = a
        .http
        .get(a.u("/v1/kv/big?keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys.len(), 41, "nothing was restored");

    let (status, why) = put(file).await;
    assert_eq!(status, 200, "{why}");
    let keys: Vec<String> = a
        .http
        .get(a.u("/v1/kv/big?keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(keys.len(), 40);
    let raw = a
        .http
        .get(a.u("/v1/kv/big/07?raw"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(raw, value);
    a.shutdown().await;
}

/// Snapshots act on this agent's datacenter only: a save or restore naming
/// another with `?dc=` is a 400 that says where to ask (the state is never
/// relayed across the WAN), read to its end so the sender gets the reason,
/// and restores nothing; naming this agent's own datacenter is as none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_19_a_snapshot_of_another_datacenter_is_refused_with_where_to_ask() {
    let a = TestAgent::dev().await;
    assert!(a.put("app/a", "1").await);
    let saved = a.http.get(a.u("/v1/snapshot?dc=dc1")).send().await.unwrap();
    assert_eq!(saved.status(), 200, "this agent's own datacenter");
    let file = saved.bytes().await.unwrap().to_vec();
    assert!(a.put("app/a", "2").await);

    let r = a.http.get(a.u("/v1/snapshot?dc=dc2")).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let why = r.text().await.unwrap();
    assert!(why.contains("ask an agent of dc2"), "{why}");

    let r = a
        .http
        .put(a.u("/v1/snapshot?dc=dc2"))
        .body(file)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let why = r.text().await.unwrap();
    assert!(why.contains("ask an agent of dc2"), "{why}");
    let raw = a
        .http
        .get(a.u("/v1/kv/app/a?raw"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(raw, "2", "nothing was restored");
    a.shutdown().await;
}

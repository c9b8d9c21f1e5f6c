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

//! `/v1/watch/kv`: every change from an index on, with previous values, and
//! 410 when the index is older than the kept history.

use std::time::Duration;

use futures::StreamExt;
use praetor_api::{WatchEvent, WatchOp};

use crate::{dev_config, index_of, TestAgent};

async fn read_events(resp: reqwest::Response, n: usize) -> Vec<WatchEvent> {
    let mut out = Vec::new();
    let mut buf = Vec::new();
    let mut stream = resp.bytes_stream();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while out.len() < n {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("only {} of {n} events arrived: {out:?}", out.len()))
            .expect("stream open")
            .unwrap();
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            out.push(serde_json::from_slice(&line).unwrap());
        }
    }
    out
}

#[tokio::test]
async fn watch_resumes_from_an_index_with_previous_values() {
    let a = TestAgent::dev().await;
    a.put("w/a", "1").await;
    let first = index_of(&a.http.get(a.u("/v1/kv/w/a")).send().await.unwrap());
    a.put("w/a", "2").await;
    a.put("elsewhere", "x").await;
    a.http.delete(a.u("/v1/kv/w/a")).send().await.unwrap();

    let r = a
        .http
        .get(a.u(&format!("/v1/watch/kv/w/?index={first}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ev = read_events(r, 3).await;
    assert_eq!(ev[0].op, WatchOp::Set);
    assert_eq!(ev[0].modify_index, first);
    assert!(ev[0].prev.is_none());
    assert_eq!(ev[1].value.as_deref(), Some("Mg=="));
    assert_eq!(ev[1].prev.as_ref().unwrap().value.as_deref(), Some("MQ=="));
    assert_eq!(ev[2].op, WatchOp::Delete);
    assert_eq!(ev[2].prev.as_ref().unwrap().value.as_deref(), Some("Mg=="));
    assert!(ev.windows(2).all(|w| w[0].modify_index < w[1].modify_index));
    a.shutdown().await;
}

#[tokio::test]
async fn watch_streams_live_changes_in_order_without_gaps() {
    let a = TestAgent::dev().await;
    let r = a.http.get(a.u("/v1/watch/kv/live/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let reader = tokio::spawn(read_events(r, 50));
    for i in 0..50 {
        a.put(&format!("live/{}", i % 7), &i.to_string()).await;
        a.put("noise", "n").await;
    }
    let ev = reader.await.unwrap();
    assert_eq!(ev.len(), 50);
    for (i, e) in ev.iter().enumerate() {
        assert_eq!(e.key, format!("live/{}", i % 7));
    }
    a.shutdown().await;
}

#[tokio::test]
async fn watch_from_a_compacted_index_answers_410_with_the_oldest_index() {
    let mut cfg = dev_config();
    cfg.kv_history_limit = 5;
    let a = TestAgent::start(cfg).await;
    for i in 0..20 {
        a.put(&format!("h/{i}"), "v").await;
    }
    let r = a
        .http
        .get(a.u("/v1/watch/kv/h/?index=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 410);
    let body: serde_json::Value = r.json().await.unwrap();
    let oldest = body["OldestIndex"].as_u64().unwrap();
    assert!(oldest > 1);
    let r = a
        .http
        .get(a.u(&format!("/v1/watch/kv/h/?index={oldest}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(read_events(r, 5).await.len(), 5);
    a.shutdown().await;
}

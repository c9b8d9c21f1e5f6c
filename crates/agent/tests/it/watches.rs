//! Configured `watches` read through the agent's backend, not its HTTP API,
//! and hand their handlers exactly what the HTTP plan (`praetor watch`,
//! `praetor_client::watch`) reads from the endpoint of each watch type:
//! the same JSON, at the same index (or, for a view that a later write
//! left unchanged, an earlier one).

use std::path::Path;
use std::time::Duration;

use praetor_client::watch::WatchSpec;
use praetor_client::{Client, QueryOptions};
use serde_json::{json, Value};

use crate::{dev_config, TestAgent};

/// The first result the HTTP plan of `spec` hands over now.
async fn over_http(client: &Client, spec: &WatchSpec) -> (Value, u64) {
    let mut first = None;
    spec.run(client, QueryOptions::default(), |result, index| {
        first = Some((result, index));
        false
    })
    .await
    .expect("the HTTP plan reads");
    first.expect("a first result")
}

/// The last call's JSON and `CONSUL_INDEX` of the watch named `name`.
fn handed(dir: &Path, name: &str) -> Option<(Value, u64)> {
    let body = std::fs::read_to_string(dir.join(format!("{name}.json"))).ok()?;
    let index = std::fs::read_to_string(dir.join(format!("{name}.index"))).ok()?;
    Some((
        serde_json::from_str(&body).ok()?,
        index.trim().parse().ok()?,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_watch_type_hands_its_handler_what_the_http_plan_reads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    // Each handler writes its input, then its index, under its name; the
    // index file is written last and renamed, so a complete pair is read.
    let handler = |name: &str| {
        json!([
            "sh",
            "-c",
            format!(
                r#"cat > "{d}/{name}.json.tmp" && mv "{d}/{name}.json.tmp" "{d}/{name}.json" && echo "$CONSUL_INDEX" > "{d}/{name}.index.tmp" && mv "{d}/{name}.index.tmp" "{d}/{name}.index""#
            )
        ])
    };
    let watches: Vec<(&str, Value)> = vec![
        ("key", json!({"type": "key", "key": "w/k"})),
        ("missing", json!({"type": "key", "key": "w/none"})),
        ("keyprefix", json!({"type": "keyprefix", "prefix": "w/"})),
        ("services", json!({"type": "services"})),
        ("nodes", json!({"type": "nodes"})),
        (
            "service",
            json!({"type": "service", "service": "web", "tag": "v1", "passingonly": true}),
        ),
        ("checks", json!({"type": "checks"})),
        ("checks_web", json!({"type": "checks", "service": "web"})),
        (
            "checks_critical",
            json!({"type": "checks", "state": "critical"}),
        ),
        ("event", json!({"type": "event", "name": "deploy"})),
    ];
    let mut cfg = dev_config();
    cfg.raw = json!({
        "watches": watches.iter().map(|(name, spec)| {
            let mut spec = spec.clone();
            spec["args"] = handler(name);
            spec
        }).collect::<Vec<_>>()
    });
    let a = TestAgent::start(cfg).await;

    a.put("w/k", "v1").await;
    a.put("w/k", "v2").await;
    a.put("w/other", "x").await;
    for (id, node, status) in [("web1", "ext1", "passing"), ("web2", "ext2", "critical")] {
        let body = json!({
            "Node": node, "Address": "10.0.0.7",
            "Service": {"ID": id, "Service": "web", "Tags": ["v1"], "Port": 8080},
            "Check": {"CheckID": format!("{id}-http"), "Name": "http", "Status": status, "ServiceID": id}
        });
        let r = a.put_json("/v1/catalog/register", body).await;
        assert_eq!(r.status(), 200);
    }
    for _ in 0..2 {
        let r = a.put_json("/v1/event/fire/deploy", json!(null)).await;
        assert_eq!(r.status(), 200);
    }

    let client = Client::new(&a.url, None);
    for (name, spec) in &watches {
        let spec: WatchSpec = serde_json::from_value(spec.clone()).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let mut want = over_http(&client, &spec).await;
            let mut got = handed(dir.path(), name);
            if *name == "event" {
                // A later call hands over only the events not handed yet.
                let last = |v: &mut (Value, u64)| {
                    v.0 =
                        v.0.as_array()
                            .and_then(|l| l.last())
                            .cloned()
                            .unwrap_or_default()
                };
                last(&mut want);
                got.as_mut().map(last);
            }
            // A result is handed over only when it differs from the last,
            // so a later write that leaves it alone leaves the handler's
            // index behind the read's; a key's own index moves only with it.
            let exact = name.starts_with("key") || *name == "missing";
            if got.as_ref().is_some_and(|(value, index)| {
                *value == want.0 && (*index == want.1 || !exact && (1..want.1).contains(index))
            }) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "watch {name}: the handler got {got:?}; the HTTP plan reads {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // The values themselves, in Consul's watch shapes.
    let (key, _) = handed(dir.path(), "key").unwrap();
    assert_eq!(key[0]["Key"], "w/k");
    assert_eq!(handed(dir.path(), "missing").unwrap().0, Value::Null);
    assert_eq!(
        handed(dir.path(), "keyprefix")
            .unwrap()
            .0
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let (service, _) = handed(dir.path(), "service").unwrap();
    assert_eq!(service.as_array().map(Vec::len), Some(1), "{service}");
    let (events, _) = handed(dir.path(), "event").unwrap();
    assert!(events.as_array().is_some_and(|l| !l.is_empty()), "{events}");
    a.shutdown().await;
}

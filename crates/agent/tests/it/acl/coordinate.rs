//! Coordinates under ACLs, as Consul's: `/v1/coordinate/nodes` lists only
//! the nodes a token may read (and says it filtered), one node's needs
//! `node:read` on it, and an update needs `node:write` on its node (a
//! refused update changes nothing).

use super::*;

fn coord(x: f64) -> Value {
    json!({"Vec": [x, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], "Error": 0.2, "Adjustment": 0.0, "Height": 0.0001})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coordinates_follow_node_read_and_updates_need_node_write() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (_, reader) = a
        .token_with("web-reader", r#"node "web-1" { policy = "read" }"#)
        .await;
    let (_, writer) = a
        .token_with("web-writer", r#"node "web-1" { policy = "write" }"#)
        .await;
    for n in ["web-1", "db-1"] {
        a.mgmt_put(
            "/v1/catalog/register",
            json!({"Node": n, "Address": "10.0.0.1"}),
        )
        .await;
    }
    info!("--- an update needs node:write on its node");
    let cases = [
        (Some(reader.as_str()), "web-1", 0.1, 403),
        (Some(writer.as_str()), "db-1", 0.2, 403),
        (None, "web-1", 0.2, 403),
        (Some(writer.as_str()), "web-1", 0.3, 200),
    ];
    for (token, node, x, status) in cases {
        let body = json!({"Node": node, "Coord": coord(x)});
        let r = a.put_as("/v1/coordinate/update", token, body).await;
        assert_eq!(r.status, status, "{node} with {token:?}: {}", r.text);
    }
    a.mgmt_put(
        "/v1/coordinate/update",
        json!({"Node": "db-1", "Coord": coord(0.4)}),
    )
    .await;
    praetor_testwait::wait_for(Duration::from_secs(20), "both coordinates", || async {
        let r = a.get_as("/v1/coordinate/nodes", Some(MGMT)).await;
        let n = r.json().as_array().map_or(0, Vec::len);
        praetor_testwait::check(n >= 2, || r.text.clone())
    })
    .await
    .unwrap();
    let r = a.get_as("/v1/coordinate/node/web-1", Some(MGMT)).await;
    assert_eq!(r.json()[0]["Coord"], coord(0.3), "the writer's update");

    info!("--- the list keeps what the token may read, and says so");
    let r = a.get_as("/v1/coordinate/nodes", Some(&reader)).await;
    assert_eq!(r.status, 200);
    assert!(r.filtered);
    let nodes: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Node"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(nodes, ["web-1"]);
    let r = a.get_as("/v1/coordinate/nodes", None).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!([]));

    info!("--- one node's coordinate needs node:read on it");
    let r = a.get_as("/v1/coordinate/node/web-1", Some(&reader)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = a.get_as("/v1/coordinate/node/db-1", Some(&reader)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    a.shutdown().await;
}

//! Network coordinates over HTTP: `PUT /v1/coordinate/update` batched by
//! the leader, `/v1/coordinate/nodes` and `/node/<node>` (blocking, 404
//! when none), `/v1/coordinate/datacenters`, `Coord` in `/v1/agent/self`,
//! bad updates refused with nothing changed, and `?near=` ordering on
//! catalog and health reads.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{index_of, TestAgent};

/// The leader proposes queued updates every 5 s; give it two rounds and
/// the agent's own first update.
const WAIT: Duration = Duration::from_secs(25);

fn coord(x: f64) -> Value {
    json!({"Vec": [x, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], "Error": 0.2, "Adjustment": 0.0, "Height": 0.0001})
}

async fn register(a: &TestAgent, node: &str, service: bool) {
    let mut body = json!({"Node": node, "Address": "10.0.0.1"});
    if service {
        body["Service"] = json!({"Service": "web", "ID": "web", "Port": 80});
    }
    let r = a.put_json("/v1/catalog/register", &body).await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

async fn update(a: &TestAgent, node: &str, x: f64) {
    let r = a
        .put_json(
            "/v1/coordinate/update",
            &json!({"Node": node, "Segment": "", "Coord": coord(x)}),
        )
        .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
}

/// Waits until `/v1/coordinate/nodes` lists every one of `nodes`.
async fn wait_listed(a: &TestAgent, nodes: &[&str]) -> Value {
    praetor_testwait::wait_for(WAIT, "coordinates listed", || async {
        let v = a.get_json("/v1/coordinate/nodes").await;
        let listed: Vec<&str> = v
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["Node"].as_str())
            .collect();
        if nodes.iter().all(|n| listed.contains(n)) {
            Ok(v.clone())
        } else {
            Err(v.to_string())
        }
    })
    .await
    .unwrap()
}

fn names(v: &Value, field: impl Fn(&Value) -> &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|e| field(e).as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn updates_are_listed_by_node_and_read_one_by_one() {
    let a = TestAgent::dev().await;
    for n in ["n1", "n2"] {
        register(&a, n, false).await;
    }
    update(&a, "n1", 0.5).await;
    update(&a, "n2", 0.9).await;
    // A node the catalog does not hold gets no coordinate (as Consul's).
    update(&a, "ghost", 0.1).await;
    let v = wait_listed(&a, &["n1", "n2"]).await;
    let n1 = v
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["Node"] == "n1")
        .unwrap();
    assert_eq!(n1["Segment"], "");
    assert_eq!(n1["Coord"], coord(0.5));
    assert!(!v.to_string().contains("ghost"));

    let r = a
        .http
        .get(a.u("/v1/coordinate/node/n2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(index_of(&r) > 0);
    let one: Value = r.json().await.unwrap();
    assert_eq!(
        one,
        json!([{"Node": "n2", "Segment": "", "Coord": coord(0.9)}])
    );
    let r = a
        .http
        .get(a.u("/v1/coordinate/node/ghost"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().await.unwrap(), "");

    // Deregistering a node removes its coordinate.
    let r = a
        .put_json("/v1/catalog/deregister", &json!({"Node": "n2"}))
        .await;
    assert_eq!(r.status(), 200);
    let r = a
        .http
        .get(a.u("/v1/coordinate/node/n2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    a.shutdown().await;
}

#[tokio::test]
async fn bad_updates_are_refused_and_change_nothing() {
    let a = TestAgent::dev().await;
    register(&a, "n1", false).await;
    let mut seven = coord(0.1);
    seven["Vec"].as_array_mut().unwrap().pop();
    let mut negative = coord(0.1);
    negative["Height"] = json!(-1.0);
    let mut huge = coord(0.1);
    huge["Vec"][0] = json!(1.0e300);
    for (body, why) in [
        (
            json!({"Node": "", "Coord": coord(0.1)}),
            "Missing node name",
        ),
        (json!({"Node": "n1", "Coord": seven}), "7 dimensions"),
        (
            json!({"Node": "n1", "Coord": negative}),
            "rejected bad coordinate",
        ),
        (
            json!({"Node": "n1", "Coord": huge}),
            "rejected bad coordinate",
        ),
        (
            json!({"Node": "n1", "Segment": "alpha", "Coord": coord(0.1)}),
            "segment",
        ),
        (json!({"Node": "n1"}), "Request decode failed"),
    ] {
        let r = a.put_json("/v1/coordinate/update", &body).await;
        assert_eq!(r.status(), 400, "{body}");
        let text = r.text().await.unwrap();
        assert!(text.contains(why), "{body}: {text}");
        assert!(!text.trim().contains('\n'), "one line: {text:?}");
    }
    let r = a
        .http
        .put(a.u("/v1/coordinate/update"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = a
        .http
        .put(a.u("/v1/coordinate/update?dc=elsewhere"))
        .json(&json!({"Node": "n1", "Coord": coord(0.1)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    assert!(r.text().await.unwrap().contains("No path to datacenter"));
    // After two of the leader's rounds, n1 still has no coordinate.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let r = a
        .http
        .get(a.u("/v1/coordinate/node/n1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    a.shutdown().await;
}

#[tokio::test]
async fn a_blocking_read_of_coordinates_wakes_on_an_update() {
    let a = TestAgent::dev().await;
    register(&a, "n1", false).await;
    update(&a, "n1", 0.1).await;
    wait_listed(&a, &["n1"]).await;
    let r = a
        .http
        .get(a.u("/v1/coordinate/nodes"))
        .send()
        .await
        .unwrap();
    let index = index_of(&r);
    // Blocking reads from `index` until one shows n1's new coordinate (the
    // agent's own update may wake one first).
    let waiter = {
        let http = a.http.clone();
        let base = a.u("/v1/coordinate/nodes");
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let mut at = index;
            for _ in 0..5 {
                let r = http
                    .get(format!("{base}?index={at}&wait=20s"))
                    .send()
                    .await
                    .unwrap();
                let i = index_of(&r);
                assert!(i > at || started.elapsed() >= Duration::from_secs(19));
                at = i;
                let body: Value = r.json().await.unwrap();
                let n1 = body
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["Node"] == "n1")
                    .cloned()
                    .unwrap();
                if n1["Coord"] == coord(0.7) {
                    return started.elapsed();
                }
            }
            panic!("no blocking read showed the update");
        })
    };
    a.wait_blocked(1).await;
    update(&a, "n1", 0.7).await;
    let took = waiter.await.unwrap();
    assert!(
        took < Duration::from_secs(19),
        "woke on the update: {took:?}"
    );
    a.shutdown().await;
}

#[tokio::test]
async fn agent_self_shows_the_coordinate_and_datacenters_list_the_servers() {
    let a = TestAgent::dev().await;
    let me = a.get_json("/v1/agent/self").await;
    let c = &me["Coord"];
    assert_eq!(c["Vec"].as_array().unwrap().len(), 8, "{me}");
    assert!(c["Error"].as_f64().is_some());
    assert!(c["Height"].as_f64().unwrap() > 0.0);
    let dcs = a.get_json("/v1/coordinate/datacenters").await;
    assert_eq!(dcs[0]["Datacenter"], "dc1", "{dcs}");
    assert_eq!(dcs[0]["AreaID"], "WAN");
    let servers = names(&dcs[0]["Coordinates"], |e| &e["Node"]);
    assert_eq!(servers, ["it-node.dc1"]);
    assert_eq!(
        dcs[0]["Coordinates"][0]["Coord"]["Vec"]
            .as_array()
            .unwrap()
            .len(),
        8
    );
    // The agent sends its own coordinate to the servers.
    praetor_testwait::wait_for(WAIT, "the agent's own coordinate", || async {
        let r = a
            .http
            .get(a.u("/v1/coordinate/node/it-node"))
            .send()
            .await
            .unwrap();
        praetor_testwait::check(r.status() == 200, || r.status().to_string())
    })
    .await
    .unwrap();
    a.shutdown().await;
}

/// A dev agent with `web` on n1, n2, n3 (coordinates 0.5, 0.9 and 0.6 s
/// along one axis, listed) and on `nocoord`, which has none.
async fn four_nodes_on_a_line() -> TestAgent {
    let a = TestAgent::dev().await;
    for n in ["n1", "n2", "n3", "nocoord"] {
        register(&a, n, true).await;
    }
    update(&a, "n1", 0.5).await;
    update(&a, "n2", 0.9).await;
    update(&a, "n3", 0.6).await;
    wait_listed(&a, &["n1", "n2", "n3"]).await;
    a
}

#[tokio::test]
async fn near_sorts_catalog_and_health_answers_by_estimated_round_trip() {
    let a = four_nodes_on_a_line().await;

    let v = a.get_json("/v1/catalog/nodes?near=n1").await;
    let order = names(&v, |e| &e["Node"]);
    // n1 itself, then n3 (0.1 s away), n2 (0.4 s), then the agent's own
    // node (near the origin, 0.5 s) or, without a coordinate yet, the
    // nodes without one in the catalog's order.
    assert_eq!(order[..3], ["n1", "n3", "n2"], "{order:?}");
    assert_eq!(
        order.last().map(String::as_str),
        Some("nocoord"),
        "{order:?}"
    );
    // Without near, the catalog's order (by name).
    let plain = names(&a.get_json("/v1/catalog/nodes").await, |e| &e["Node"]);
    assert_eq!(plain, ["it-node", "n1", "n2", "n3", "nocoord"]);
    // An unknown near node leaves the order as it was.
    let v = a.get_json("/v1/catalog/nodes?near=nope").await;
    assert_eq!(names(&v, |e| &e["Node"]), plain);

    let v = a.get_json("/v1/catalog/service/web?near=n2").await;
    assert_eq!(names(&v, |e| &e["Node"]), ["n2", "n3", "n1", "nocoord"]);
    let v = a.get_json("/v1/health/service/web?near=n3").await;
    assert_eq!(
        names(&v, |e| &e["Node"]["Node"]),
        ["n3", "n1", "n2", "nocoord"]
    );

    // `_agent`: this agent's node first, once its coordinate arrived.
    praetor_testwait::wait_for(WAIT, "near=_agent puts this node first", || async {
        let v = a.get_json("/v1/catalog/nodes?near=_agent").await;
        let order = names(&v, |e| &e["Node"]);
        praetor_testwait::check(order == ["it-node", "n1", "n3", "n2", "nocoord"], || {
            format!("{order:?}")
        })
    })
    .await
    .unwrap();
    a.shutdown().await;
}

/// A prepared query's instances are sorted by estimated round trip from
/// `?near=`, else from the query's `Near`, with the same coordinates as
/// the catalog's `?near=`; nodes without one go last.
#[tokio::test]
async fn prepared_query_answers_are_sorted_near_a_node() {
    let a = four_nodes_on_a_line().await;
    for (name, near) in [("web-any", ""), ("web-near-n3", "n3")] {
        let r = a
            .http
            .post(a.u("/v1/query"))
            .json(&json!({"Name": name, "Service": {"Service": "web", "Near": near}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{:?}", r.text().await);
    }
    let order = |v: Value| names(&v["Nodes"], |e| &e["Node"]["Node"]);
    let v = a.get_json("/v1/query/web-any/execute?near=n2").await;
    assert_eq!(order(v), ["n2", "n3", "n1", "nocoord"]);
    let v = a.get_json("/v1/query/web-near-n3/execute").await;
    assert_eq!(order(v), ["n3", "n1", "n2", "nocoord"]);
    let v = a.get_json("/v1/query/web-near-n3/execute?near=n1").await;
    assert_eq!(order(v), ["n1", "n3", "n2", "nocoord"], "?near= wins");
    let v = a
        .get_json("/v1/query/web-near-n3/execute?near=n1&limit=2")
        .await;
    assert_eq!(order(v), ["n1", "n3"], "cut after sorting");
    a.shutdown().await;
}

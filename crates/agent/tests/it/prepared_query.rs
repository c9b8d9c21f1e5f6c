//! `/v1/query` and `<query>.query.consul`: prepared queries created,
//! read, updated, deleted, executed (health, tags, metadata, templates,
//! limit) and explained, in Consul's shapes and status codes, and
//! answered over DNS with the query's TTL.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};
use reqwest::Method;
use serde_json::{json, Value};

use crate::TestAgent;

impl TestAgent {
    /// `method path` with a JSON body; the status and the body as text.
    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> (u16, String) {
        let mut req = self.http.request(method, self.u(path));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Creates a query, expecting 200; its ID.
    async fn create_query(&self, def: Value) -> String {
        let (status, text) = self.send(Method::POST, "/v1/query", Some(def)).await;
        assert_eq!(status, 200, "create: {text}");
        let v: Value = serde_json::from_str(&text).unwrap();
        v["ID"].as_str().unwrap().to_owned()
    }

    /// Executes `name`, expecting 200.
    async fn execute(&self, name_and_query: &str) -> Value {
        let (status, text) = self
            .send(Method::GET, &format!("/v1/query/{name_and_query}"), None)
            .await;
        assert_eq!(status, 200, "execute {name_and_query}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Registers web instance `id` on node `node` with one check in
    /// `status` and `tags`.
    async fn web(&self, node: &str, id: &str, tags: &[&str], status: &str) {
        let r = self
            .put_json(
                "/v1/catalog/register",
                json!({
                    "Node": node,
                    "Address": "127.0.0.9",
                    "NodeMeta": {"rack": node},
                    "Service": {"ID": id, "Service": "web", "Tags": tags, "Port": 8080,
                                "Meta": {"version": id}},
                    "Check": {"CheckID": format!("{id}-check"), "Name": "alive",
                              "Status": status, "ServiceID": id}
                }),
            )
            .await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
}

/// The service IDs an execute answered, sorted.
fn ids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["Nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["Service"]["ID"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn queries_are_created_read_listed_updated_and_deleted_in_consul_shapes() {
    let a = TestAgent::dev().await;
    let id = a
        .create_query(json!({
            "Name": "web-q",
            "Service": {"Service": "web", "OnlyPassing": true, "Tags": ["v1", "!old"],
                        "Failover": {"NearestN": 2, "Datacenters": ["dc2"]}},
            "DNS": {"TTL": "10s"}
        }))
        .await;
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let (status, text) = a.send(Method::GET, &format!("/v1/query/{id}"), None).await;
    assert_eq!(status, 200, "{text}");
    let got: Value = serde_json::from_str(&text).unwrap();
    let q = &got[0];
    assert_eq!(q["ID"], id.as_str());
    assert_eq!(q["Name"], "web-q");
    assert_eq!(q["Service"]["OnlyPassing"], true);
    assert_eq!(q["Service"]["Failover"]["NearestN"], 2);
    assert_eq!(q["Service"]["Failover"]["Datacenters"], json!(["dc2"]));
    assert_eq!(q["Service"]["Tags"], json!(["v1", "!old"]));
    assert_eq!(q["DNS"]["TTL"], "10s");
    assert!(q["CreateIndex"].as_u64().unwrap() > 0);
    let list = a.get_json("/v1/query").await;
    assert_eq!(list.as_array().unwrap().len(), 1);

    // Update: the path's ID wins; CreateIndex stays, ModifyIndex moves.
    let (status, text) = a
        .send(
            Method::PUT,
            &format!("/v1/query/{id}"),
            Some(json!({"Name": "web-q2", "Service": {"Service": "web"}})),
        )
        .await;
    assert_eq!((status, text.as_str()), (200, ""));
    let after = a.get_json(&format!("/v1/query/{id}")).await;
    assert_eq!(after[0]["Name"], "web-q2");
    assert_eq!(after[0]["CreateIndex"], q["CreateIndex"]);
    assert!(after[0]["ModifyIndex"].as_u64() > q["ModifyIndex"].as_u64());

    let (status, _) = a
        .send(Method::DELETE, &format!("/v1/query/{id}"), None)
        .await;
    assert_eq!(status, 200);
    let (status, text) = a.send(Method::GET, &format!("/v1/query/{id}"), None).await;
    assert_eq!((status, text.trim()), (404, "Query not found"));
    let (status, _) = a
        .send(Method::DELETE, &format!("/v1/query/{id}"), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(a.get_json("/v1/query").await, json!([]));
    a.shutdown().await;
}

/// `?dc=` naming another datacenter sends every query endpoint there, as
/// every `?dc=` endpoint does: a datacenter no server knows is "No path to
/// datacenter" (over DNS, NXDOMAIN) and nothing here is read or changed.
#[tokio::test]
async fn issue_19_query_endpoints_naming_another_datacenter_go_there_not_here() {
    let a = TestAgent::dev().await;
    a.web("n1", "web-1", &[], "passing").await;
    let id = a
        .create_query(json!({"Name": "here", "Service": {"Service": "web"}}))
        .await;
    let def = json!({"Name": "there", "Service": {"Service": "web"}});
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/query?dc=dc2".to_owned(),
            Some(def.clone()),
        ),
        (Method::PUT, format!("/v1/query/{id}?dc=dc2"), Some(def)),
        (Method::DELETE, format!("/v1/query/{id}?dc=dc2"), None),
        (Method::GET, "/v1/query?dc=dc2".to_owned(), None),
        (Method::GET, format!("/v1/query/{id}?dc=dc2"), None),
        (
            Method::GET,
            "/v1/query/here/execute?dc=dc2".to_owned(),
            None,
        ),
        (
            Method::GET,
            "/v1/query/here/explain?dc=dc2".to_owned(),
            None,
        ),
    ] {
        let (status, text) = a.send(method.clone(), &path, body).await;
        assert_eq!(
            (status, text.trim()),
            (500, "No path to datacenter"),
            "{method} {path}"
        );
    }
    let list = a.get_json("/v1/query").await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["Name"], "here");
    assert_eq!(ids(&a.execute("here/execute?dc=dc1").await), ["web-1"]);

    let server = a.agent.dns_addrs()[0];
    let there = dns(server, "here.query.dc2.consul.", RecordType::A).await;
    assert_eq!(there.metadata.response_code, ResponseCode::NXDomain);
    let here = dns(server, "here.query.dc1.consul.", RecordType::A).await;
    assert_eq!(here.answers.len(), 1, "{here:?}");
    a.shutdown().await;
}

#[tokio::test]
async fn bad_definitions_are_refused_with_a_one_line_reason_and_change_nothing() {
    let a = TestAgent::dev().await;
    a.create_query(json!({"Name": "taken", "Service": {"Service": "web"}}))
        .await;
    let missing = "8f246b77-f3e1-ff88-5b48-8ec93abf3e05";
    for (method, path, body, status, reason) in [
        (
            Method::POST,
            "/v1/query",
            json!({"Service": {}}),
            400,
            "Must provide a Service name to query",
        ),
        (
            Method::POST,
            "/v1/query",
            json!({"Name": missing, "Service": {"Service": "web"}}),
            400,
            "Query names cannot be UUIDs",
        ),
        (
            Method::POST,
            "/v1/query",
            json!({"Name": "taken", "Service": {"Service": "db"}}),
            400,
            "aliases an existing query name",
        ),
        (
            Method::POST,
            "/v1/query",
            json!({"Service": {"Service": "web"}, "DNS": {"TTL": "soon"}}),
            400,
            "Bad DNS TTL",
        ),
        (
            Method::POST,
            "/v1/query",
            json!({"Service": {"Service": "web"}, "Session": "nope"}),
            400,
            "invalid session",
        ),
        (
            Method::POST,
            "/v1/query",
            json!({"Service": {"Service": "${x}"}, "Template": {"Type": "name_prefix_match"}}),
            400,
            "Failed compiling template",
        ),
        (
            Method::POST,
            "/v1/query",
            json!({"Service": {"Service": "web"}, "Template": {"Type": "name_prefix_match", "Regexp": "("}}),
            400,
            "bad Regexp",
        ),
        (
            Method::POST,
            "/v1/query",
            json!({"Service": {"Service": "web", "Failover": {"NearestN": -1}}}),
            400,
            "Bad NearestN",
        ),
        (
            Method::POST,
            "/v1/query",
            json!({"Service": {"Service": "web", "Connect": true}}),
            400,
            "Connect is not supported",
        ),
        (
            Method::PUT,
            &format!("/v1/query/{missing}"),
            json!({"Service": {"Service": "web"}}),
            404,
            "Cannot modify non-existent prepared query",
        ),
    ] {
        let (got, text) = a.send(method, path, Some(body.clone())).await;
        assert_eq!(got, status, "{body}: {text}");
        assert!(text.contains(reason), "{body}: {text}");
        assert_eq!(text.trim().lines().count(), 1, "{text}");
    }
    let (status, text) = a.send(Method::POST, "/v1/query", None).await;
    assert_eq!(status, 400, "{text}");
    let (status, _) = a
        .send(Method::GET, "/v1/query/taken/execute?limit=x", None)
        .await;
    assert_eq!(status, 400);
    let (status, _) = a
        .send(Method::GET, "/v1/query/taken/execute?connect=true", None)
        .await;
    assert_eq!(status, 400);
    let (status, text) = a.send(Method::GET, "/v1/query/nothing/execute", None).await;
    assert_eq!((status, text.trim()), (404, "Query not found"));
    assert_eq!(a.get_json("/v1/query").await.as_array().unwrap().len(), 1);
    a.shutdown().await;
}

#[tokio::test]
async fn execute_keeps_healthy_instances_with_the_tags_and_metadata_asked_for() {
    let a = TestAgent::dev().await;
    a.web("n1", "web-1", &["primary", "v1"], "passing").await;
    a.web("n2", "web-2", &["standby", "v1"], "warning").await;
    a.web("n3", "web-3", &["primary"], "critical").await;
    a.create_query(json!({"Name": "all", "Service": {"Service": "web"}, "DNS": {"TTL": "7s"}}))
        .await;
    let all = a.execute("all/execute").await;
    assert_eq!(ids(&all), ["web-1", "web-2"], "critical instances never");
    assert_eq!(all["Service"], "web");
    assert_eq!(all["Datacenter"], "dc1");
    assert_eq!(all["Failovers"], 0);
    assert_eq!(all["DNS"]["TTL"], "7s");
    let n = &all["Nodes"][0];
    assert!(n["Node"]["Node"].is_string() && n["Checks"].is_array());
    let passing = a
        .create_query(
            json!({"Name": "passing", "Service": {"Service": "web", "OnlyPassing": true}}),
        )
        .await;
    assert_eq!(
        ids(&a.execute(&format!("{passing}/execute")).await),
        ["web-1"]
    );
    a.create_query(
        json!({"Name": "not-standby", "Service": {"Service": "web", "Tags": ["V1", "!standby"]}}),
    )
    .await;
    assert_eq!(ids(&a.execute("not-standby/execute").await), ["web-1"]);
    a.create_query(json!({"Name": "meta", "Service": {"Service": "web",
        "NodeMeta": {"rack": "n2"}, "ServiceMeta": {"version": "web-2"}}}))
        .await;
    assert_eq!(ids(&a.execute("meta/execute").await), ["web-2"]);
    a.create_query(json!({"Name": "ignoring", "Service": {"Service": "web", "IgnoreCheckIDs": ["web-3-check"]}}))
        .await;
    assert_eq!(
        ids(&a.execute("ignoring/execute").await),
        ["web-1", "web-2", "web-3"]
    );
    let limited = a.execute("ignoring/execute?limit=2").await;
    assert_eq!(limited["Nodes"].as_array().unwrap().len(), 2);
    a.shutdown().await;
}

/// Issue 19: an instance whose check goes critical leaves the answer of an
/// `OnlyPassing` query at once, and comes back when it passes again.
#[tokio::test]
async fn issue_19_an_instance_going_critical_leaves_the_only_passing_answer() {
    let a = TestAgent::dev().await;
    a.web("n1", "web-1", &[], "passing").await;
    a.web("n2", "web-2", &[], "passing").await;
    a.create_query(
        json!({"Name": "healthy-web", "Service": {"Service": "web", "OnlyPassing": true}}),
    )
    .await;
    assert_eq!(
        ids(&a.execute("healthy-web/execute").await),
        ["web-1", "web-2"]
    );
    a.web("n2", "web-2", &[], "critical").await;
    assert_eq!(ids(&a.execute("healthy-web/execute").await), ["web-1"]);
    a.web("n1", "web-1", &[], "critical").await;
    let none = a.execute("healthy-web/execute").await;
    assert_eq!(none["Nodes"], json!([]));
    assert_eq!(
        (none["Datacenter"].as_str(), none["Failovers"].as_u64()),
        (Some("dc1"), Some(0))
    );
    a.web("n2", "web-2", &[], "passing").await;
    assert_eq!(ids(&a.execute("healthy-web/execute").await), ["web-2"]);
    a.shutdown().await;
}

#[tokio::test]
async fn templates_answer_the_longest_prefix_with_their_interpolations_and_explain_shows_them() {
    let a = TestAgent::dev().await;
    a.web("n1", "web-1", &["primary"], "passing").await;
    a.web("n2", "web-2", &["standby"], "passing").await;
    a.create_query(json!({
        "Name": "geo-",
        "Template": {"Type": "name_prefix_match", "Regexp": "^geo-([^-]+)-?(.*)$", "RemoveEmptyTags": true},
        "Service": {"Service": "${match(1)}", "Tags": ["${match(2)}"]},
        "DNS": {"TTL": "3s"}
    }))
    .await;
    a.create_query(json!({
        "Name": "geo-web-s",
        "Template": {"Type": "name_prefix_match"},
        "Service": {"Service": "web", "Tags": ["${name.suffix}"]}
    }))
    .await;
    assert_eq!(ids(&a.execute("geo-web/execute").await), ["web-1", "web-2"]);
    assert_eq!(ids(&a.execute("geo-web-primary/execute").await), ["web-1"]);
    // The longer template wins for its names: a tag "tandby" nobody has.
    assert_eq!(
        ids(&a.execute("geo-web-standby/execute").await),
        Vec::<String>::new()
    );
    let explained = a.get_json("/v1/query/geo-db-primary/explain").await;
    assert_eq!(explained["Query"]["Service"]["Service"], "db");
    assert_eq!(explained["Query"]["Service"]["Tags"], json!(["primary"]));
    assert_eq!(explained["Query"]["Name"], "geo-");
    assert_eq!(
        explained["Query"]["Template"]["Regexp"],
        "^geo-([^-]+)-?(.*)$"
    );
    let s = a.get_json("/v1/query/geo-web-sx/explain").await;
    assert_eq!(s["Query"]["Service"]["Tags"], json!(["x"]));
    a.shutdown().await;
}

#[tokio::test]
async fn a_query_bound_to_a_session_is_deleted_with_the_session() {
    let a = TestAgent::dev().await;
    let r = a
        .put_json("/v1/session/create", json!({"Name": "owner"}))
        .await;
    assert_eq!(r.status(), 200);
    let session = r.json::<Value>().await.unwrap()["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    let id = a
        .create_query(json!({"Name": "owned", "Session": session, "Service": {"Service": "web"}}))
        .await;
    assert_eq!(
        a.get_json(&format!("/v1/query/{id}")).await[0]["Session"],
        session.as_str()
    );
    let r = a.put_empty(&format!("/v1/session/destroy/{session}")).await;
    assert_eq!(r.status(), 200);
    let (status, _) = a.send(Method::GET, &format!("/v1/query/{id}"), None).await;
    assert_eq!(status, 404);
    a.shutdown().await;
}

/// Sends one DNS question over UDP; the answer.
async fn dns(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let mut req = Message::new(0x1234, MessageType::Query, OpCode::Query);
    req.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    sock.send_to(&req.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), sock.recv_from(&mut buf))
        .await
        .expect("a DNS answer within 10 s")
        .unwrap();
    Message::from_vec(&buf[..n]).unwrap()
}

#[tokio::test]
async fn dns_answers_a_query_by_name_and_rfc_2782_srv_with_its_ttl() {
    let a = TestAgent::dev().await;
    let server = a.agent.dns_addrs()[0];
    a.web("n1", "web-1", &[], "passing").await;
    a.web("n2", "web-2", &[], "critical").await;
    let id = a
        .create_query(
            json!({"Name": "fast-web", "Service": {"Service": "web"}, "DNS": {"TTL": "42s"}}),
        )
        .await;
    let resp = dns(server, "fast-web.query.consul.", RecordType::A).await;
    assert_eq!(resp.metadata.response_code, ResponseCode::NoError);
    assert_eq!(resp.answers.len(), 1, "{resp:?}");
    assert_eq!(resp.answers[0].ttl, 42);
    assert!(
        matches!(&resp.answers[0].data, RData::A(ip) if ip.0 == std::net::Ipv4Addr::new(127, 0, 0, 9))
    );
    let by_id = dns(server, &format!("{id}.query.consul."), RecordType::A).await;
    assert_eq!(by_id.answers.len(), 1);
    let srv = dns(server, "_fast-web._tcp.query.consul.", RecordType::SRV).await;
    assert_eq!(srv.answers.len(), 1, "{srv:?}");
    match &srv.answers[0].data {
        RData::SRV(s) => assert_eq!(s.port, 8080),
        other => panic!("not SRV: {other:?}"),
    }
    assert_eq!(srv.answers[0].ttl, 42);
    let missing = dns(server, "nothing.query.consul.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    // No healthy instance left: NXDOMAIN.
    a.web("n1", "web-1", &[], "critical").await;
    let none = dns(server, "fast-web.query.consul.", RecordType::A).await;
    assert_eq!(none.metadata.response_code, ResponseCode::NXDomain);
    a.shutdown().await;
}

#[tokio::test]
async fn listing_queries_blocks_until_one_is_written() {
    let a = TestAgent::dev().await;
    let r = a.http.get(a.u("/v1/query")).send().await.unwrap();
    let index = crate::index_of(&r);
    let waiting = {
        let http = a.http.clone();
        let url = a.u(&format!("/v1/query?index={index}&wait=20s"));
        tokio::spawn(async move { http.get(url).send().await.unwrap() })
    };
    a.wait_blocked(1).await;
    let id = a
        .create_query(json!({"Name": "later", "Service": {"Service": "web"}}))
        .await;
    let r = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the blocking list returns on the write")
        .unwrap();
    assert!(crate::index_of(&r) > index);
    let list: Value = r.json().await.unwrap();
    assert_eq!(list[0]["ID"], id.as_str());
    a.shutdown().await;
}

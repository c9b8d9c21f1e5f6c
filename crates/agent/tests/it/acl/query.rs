//! Prepared queries under ACLs, as Consul decides: `query:write` on a
//! query's name to create, change or delete it (a static query without a
//! name needs none), `query:read` to read or explain it (one without a
//! name only for management), stored tokens hidden from all but
//! management, and execution acting with the query's stored token.

use super::*;

impl TestAgent {
    /// `POST /v1/query` as `token`: the status and the answer.
    async fn post_query(&self, token: Option<&str>, def: Value) -> (u16, Value) {
        let r = self
            .call(
                Method::POST,
                "/v1/query",
                token,
                Some(serde_json::to_vec(&def).unwrap()),
            )
            .await;
        let v = if r.status == 200 {
            r.json()
        } else {
            Value::String(r.text.clone())
        };
        (r.status, v)
    }
}

#[tokio::test]
async fn prepared_queries_follow_consuls_query_rules() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (_, writer) = a
        .token_with("web-queries", r#"query_prefix "web" { policy = "write" }"#)
        .await;
    let (_, reader) = a
        .token_with(
            "web-reader",
            r#"service_prefix "" { policy = "read" }
               node_prefix "" { policy = "read" }"#,
        )
        .await;
    a.mgmt_put(
        "/v1/catalog/register",
        json!({"Node": "n1", "Address": "127.0.0.9",
               "Service": {"ID": "web-1", "Service": "web", "Port": 80}}),
    )
    .await;

    // Writes: by name prefix; an unnamed static query needs nothing.
    let (status, created) = a
        .post_query(
            Some(&writer),
            json!({"Name": "web-a", "Token": reader, "Service": {"Service": "web"}}),
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let web_a = created["ID"].as_str().unwrap().to_owned();
    let (status, text) = a
        .post_query(
            Some(&writer),
            json!({"Name": "db-a", "Service": {"Service": "db"}}),
        )
        .await;
    assert_eq!(status, 403, "{text}");
    assert!(
        text.as_str().unwrap().contains("Permission denied"),
        "{text}"
    );
    let (status, created) = a
        .post_query(None, json!({"Service": {"Service": "web"}}))
        .await;
    assert_eq!(status, 200, "{created}");
    let unnamed = created["ID"].as_str().unwrap().to_owned();
    let rename = a
        .call(
            Method::PUT,
            &format!("/v1/query/{web_a}"),
            Some(&writer),
            Some(
                serde_json::to_vec(&json!({"Name": "db-b", "Service": {"Service": "web"}}))
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(rename.status, 403, "{}", rename.text);
    let delete = a
        .call(Method::DELETE, &format!("/v1/query/{web_a}"), None, None)
        .await;
    assert_eq!(delete.status, 403, "{}", delete.text);

    // Reads: by name; unnamed only for management; tokens hidden.
    let listed = a.get_as("/v1/query", Some(&writer)).await;
    assert_eq!(listed.status, 200);
    assert!(listed.filtered, "the unnamed query was left out");
    let list = listed.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["Name"], "web-a");
    assert_eq!(list[0]["Token"], "<hidden>");
    let all = a.get_as("/v1/query", Some(MGMT)).await.json();
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|q| q["Token"] == reader.as_str()));
    assert_eq!(
        a.get_as(&format!("/v1/query/{unnamed}"), Some(&writer))
            .await
            .status,
        403
    );
    assert_eq!(
        a.get_as(&format!("/v1/query/{unnamed}"), Some(MGMT))
            .await
            .status,
        200
    );
    assert_eq!(a.get_as("/v1/query/web-a/explain", None).await.status, 403);
    let explained = a.get_as("/v1/query/web-a/explain", Some(&writer)).await;
    assert_eq!(explained.status, 200, "{}", explained.text);
    assert_eq!(explained.json()["Query"]["Token"], "<hidden>");

    // Execution: no query rule needed; the stored token decides what is
    // seen, else the caller's.
    let executed = a.get_as("/v1/query/web-a/execute", None).await;
    assert_eq!(executed.status, 200, "{}", executed.text);
    assert_eq!(executed.json()["Nodes"].as_array().unwrap().len(), 1);
    let own = a
        .get_as(&format!("/v1/query/{unnamed}/execute"), None)
        .await;
    assert_eq!(own.status, 200, "{}", own.text);
    assert_eq!(own.json()["Nodes"], json!([]), "anonymous reads no service");
    let own = a
        .get_as(&format!("/v1/query/{unnamed}/execute"), Some(&reader))
        .await;
    assert_eq!(own.json()["Nodes"].as_array().unwrap().len(), 1);

    // A management token may change it; the redacted token written back
    // keeps the stored one.
    let mut back = all
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["Name"] == "web-a")
        .unwrap()
        .clone();
    back["Token"] = json!("<hidden>");
    let put = a
        .call(
            Method::PUT,
            &format!("/v1/query/{web_a}"),
            Some(&writer),
            Some(serde_json::to_vec(&back).unwrap()),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    let stored = a
        .get_as(&format!("/v1/query/{web_a}"), Some(MGMT))
        .await
        .json();
    assert_eq!(stored[0]["Token"], reader.as_str());
    a.shutdown().await;
}

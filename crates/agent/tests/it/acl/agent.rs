//! The agent token, and an agent with ACLs disabled.

use super::*;

// ---------------------------------------------------- 8. the agent token

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_token_set_through_the_api_lets_anti_entropy_sync_services() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (_, agent_token) = a
        .token_with(
            "agent",
            r#"
node_prefix "" { policy = "write" }
service_prefix "" { policy = "write" }
"#,
        )
        .await;
    a.mgmt_put(
        "/v1/agent/service/register",
        json!({"ID": "before", "Name": "before", "Port": 1}),
    )
    .await;
    info!("--- without an agent token the service stays local");
    // Anti-entropy syncs at once after a local change and retries a failed
    // sync every second; with the anonymous token every one is denied.
    // An absence has no event to wait for: watch it for two seconds, in
    // which the second half shows a permitted sync lands.
    let r = a
        .put_as("/v1/agent/token/agent", None, json!({"Token": agent_token}))
        .await;
    assert_eq!(
        r.status, 403,
        "setting the agent token needs agent:write: {}",
        r.text
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < deadline {
        let r = a.get_as("/v1/catalog/service/before", Some(MGMT)).await;
        assert_eq!(r.json(), json!([]), "synced with no agent token");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    info!("--- set the agent token");
    let r = a
        .put_as(
            "/v1/agent/token/agent",
            Some(MGMT),
            json!({"Token": agent_token}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    a.mgmt_put(
        "/v1/agent/service/register",
        json!({"ID": "after", "Name": "after", "Port": 2}),
    )
    .await;
    for name in ["after", "before"] {
        praetor_testwait::wait_for(
            Duration::from_secs(15),
            &format!("{name} in the catalog"),
            || async {
                let r = a
                    .get_as(&format!("/v1/catalog/service/{name}"), Some(MGMT))
                    .await;
                let v = r.json();
                praetor_testwait::check(
                    v.as_array()
                        .is_some_and(|l| l.len() == 1 && l[0]["Node"] == "it-node"),
                    || r.text.clone(),
                )
            },
        )
        .await
        .unwrap();
    }
    a.shutdown().await;
}

// ------------------------------------------------------ 9. ACLs disabled

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_acls_disabled_acl_endpoints_say_so_and_everything_else_needs_no_token() {
    let a = TestAgent::dev().await;
    let fake = "6d0b1a8e-0d7c-4d55-8d3f-0a9c1b2d3e4f";
    let acl_calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::PUT, "/v1/acl/bootstrap".into(), None),
        (Method::PUT, "/v1/acl/token".into(), Some(json!({}))),
        (Method::GET, "/v1/acl/token/self".into(), None),
        (Method::GET, format!("/v1/acl/token/{fake}"), None),
        (
            Method::PUT,
            format!("/v1/acl/token/{fake}"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("/v1/acl/token/{fake}"), None),
        (
            Method::PUT,
            format!("/v1/acl/token/{fake}/clone"),
            Some(json!({})),
        ),
        (Method::GET, "/v1/acl/tokens".into(), None),
        (
            Method::PUT,
            "/v1/acl/policy".into(),
            Some(json!({"Name": "p"})),
        ),
        (Method::GET, format!("/v1/acl/policy/{fake}"), None),
        (
            Method::PUT,
            format!("/v1/acl/policy/{fake}"),
            Some(json!({"Name": "p"})),
        ),
        (Method::DELETE, format!("/v1/acl/policy/{fake}"), None),
        (Method::GET, "/v1/acl/policy/name/p".into(), None),
        (Method::GET, "/v1/acl/policies".into(), None),
        (
            Method::PUT,
            "/v1/acl/role".into(),
            Some(json!({"Name": "r"})),
        ),
        (Method::GET, format!("/v1/acl/role/{fake}"), None),
        (
            Method::PUT,
            format!("/v1/acl/role/{fake}"),
            Some(json!({"Name": "r"})),
        ),
        (Method::DELETE, format!("/v1/acl/role/{fake}"), None),
        (Method::GET, "/v1/acl/role/name/r".into(), None),
        (Method::GET, "/v1/acl/roles".into(), None),
        (
            Method::PUT,
            "/v1/agent/token/agent".into(),
            Some(json!({"Token": fake})),
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, body) in acl_calls {
        let body = body.map(|b| serde_json::to_vec(&b).unwrap());
        let r = a.call(method.clone(), &path, None, body).await;
        if (r.status, r.text.trim()) != (401, "ACL support disabled") {
            failures.push(format!("{method} {path}: {} {:?}", r.status, r.text));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    info!("--- everything else works without a token, and ignores one");
    assert!(a.put("secret/pw", "x").await);
    for token in [None, Some(fake)] {
        for path in [
            "/v1/kv/secret/pw",
            "/v1/kv/?recurse",
            "/v1/catalog/services",
            "/v1/agent/self",
            "/v1/agent/services",
            "/v1/operator/raft/configuration",
            "/v1/snapshot",
        ] {
            let r = a.get_as(path, token).await;
            assert_eq!(r.status, 200, "GET {path} with {token:?}: {}", r.text);
            assert!(!r.filtered, "GET {path}");
        }
        let r = a
            .call(Method::PUT, "/v1/kv/open", token, Some(b"1".to_vec()))
            .await;
        assert_eq!(r.status, 200);
        let r = a
            .put_as(
                "/v1/agent/service/register",
                token,
                json!({"Name": "open", "Port": 1}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = a.http.get(a.u("/v1/kv/open")).send().await.unwrap();
    assert!(index_of(&r) > 0);
    a.shutdown().await;
}

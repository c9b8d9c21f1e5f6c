//! The ACLs of the introspection endpoints, as Consul's: `/v1/agent/host`
//! needs `operator:read`; `/v1/agent/self` and the metrics stream
//! `agent:read` on the node; `/v1/agent/version` nothing.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_needs_operator_read_self_and_stream_agent_read_and_version_nothing() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (_, agent_read) = a
        .token_with("agent-read", r#"agent_prefix "" { policy = "read" }"#)
        .await;
    let (_, operator_read) = a.token_with("operator-read", r#"operator = "read""#).await;
    let cases: [(&str, [u16; 4]); 4] = [
        // none, agent:read, operator:read, management
        ("/v1/agent/host", [403, 403, 200, 200]),
        ("/v1/agent/self", [403, 200, 403, 200]),
        ("/v1/agent/version", [200, 200, 200, 200]),
        ("/v1/agent/metrics/stream", [403, 200, 403, 200]),
    ];
    let tokens = [
        None,
        Some(agent_read.as_str()),
        Some(operator_read.as_str()),
        Some(MGMT),
    ];
    for (path, want) in cases {
        for (token, want) in tokens.iter().zip(want) {
            let mut req = a.http.get(a.u(path));
            if let Some(t) = token {
                req = req.header("X-Consul-Token", *t);
            }
            // The stream answers its headers at once; its body never ends.
            let r = req.send().await.unwrap();
            assert_eq!(r.status().as_u16(), want, "{path} with {token:?}");
            if want == 403 {
                let text = r.text().await.unwrap();
                assert!(text.contains("Permission denied"), "{path}: {text}");
            }
        }
    }
    a.shutdown().await;
}

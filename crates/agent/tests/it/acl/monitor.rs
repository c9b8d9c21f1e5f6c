//! `GET /v1/agent/monitor` under ACLs: agent:read on this agent's node,
//! as Consul requires; `GET /v1/agent/debug/tasks`: operator:read.

use super::MGMT;
use crate::TestAgent;

#[tokio::test]
async fn monitor_needs_agent_read_and_tasks_need_operator_read() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (_, reader) = a
        .token_with("agent-reader", r#"agent_prefix "" { policy = "read" }"#)
        .await;
    let (_, keys) = a.token_with("keys", super::READ_ALL).await;

    let open = |token: Option<&str>| {
        let mut req = a.http.get(a.u("/v1/agent/monitor"));
        if let Some(t) = token {
            req = req.header("X-Consul-Token", t.to_owned());
        }
        req.send()
    };
    assert_eq!(open(None).await.unwrap().status(), 403, "anonymous");
    assert_eq!(
        open(Some(&keys)).await.unwrap().status(),
        403,
        "no agent rule"
    );
    assert_eq!(
        open(Some(&reader)).await.unwrap().status(),
        200,
        "agent:read"
    );

    assert_eq!(
        a.get_as("/v1/agent/debug/tasks", Some(&reader))
            .await
            .status,
        403
    );
    assert_eq!(
        a.get_as("/v1/agent/debug/tasks", Some(MGMT)).await.status,
        200
    );
    a.shutdown().await;
}

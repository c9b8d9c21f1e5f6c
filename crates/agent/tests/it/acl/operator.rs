//! The autopilot, usage and transfer endpoints under ACLs, as Consul's:
//! `operator:read` to read them, `operator:write` to change the
//! configuration or move leadership; a denial changes nothing.

use super::*;

#[tokio::test]
async fn autopilot_usage_and_transfer_need_operator_read_or_write() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (_, reader) = a.token_with("op-read", r#"operator = "read""#).await;
    let config = "/v1/operator/autopilot/configuration";
    for path in [
        config,
        "/v1/operator/autopilot/health",
        "/v1/operator/autopilot/state",
        "/v1/operator/usage",
    ] {
        let r = a.get_as(path, None).await;
        assert_eq!(r.status, 403, "{path} without a token: {}", r.text);
        let r = a.get_as(path, Some(&reader)).await;
        assert_eq!(r.status, 200, "{path} with operator:read: {}", r.text);
    }
    let r = a
        .put_as(config, Some(&reader), json!({"MinQuorum": 3}))
        .await;
    assert_eq!(r.status, 403, "PUT with operator:read: {}", r.text);
    assert_eq!(a.get_as(config, Some(MGMT)).await.json()["MinQuorum"], 0);
    let r = a
        .call(
            Method::POST,
            "/v1/operator/raft/transfer-leader",
            Some(&reader),
            None,
        )
        .await;
    assert_eq!(r.status, 403, "transfer with operator:read: {}", r.text);

    assert_eq!(
        a.mgmt_put(config, json!({"MinQuorum": 3})).await,
        json!(true)
    );
    assert_eq!(a.get_as(config, Some(&reader)).await.json()["MinQuorum"], 3);
    a.shutdown().await;
}

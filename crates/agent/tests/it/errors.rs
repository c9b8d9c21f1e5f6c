//! Error answers byte for byte: every refusal is a status from
//! `http/error.rs` with a one-line plain-text reason in Consul's wording
//! (a compacted watch: 410 with its JSON body and `X-Consul-Index`),
//! axum's own refusals (a body over the limit, a path that does not
//! decode) included.

use crate::{dev_config, TestAgent};

/// The status, `content-type` and body of `r`.
async fn answer(r: reqwest::Response) -> (u16, String, String) {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, r.text().await.unwrap())
}

const PLAIN: &str = "text/plain; charset=utf-8";

#[tokio::test]
async fn an_unknown_endpoint_is_a_404_with_a_one_line_reason() {
    let a = TestAgent::dev().await;
    let r = a.http.get(a.u("/v1/nothing/here")).send().await.unwrap();
    assert_eq!(
        answer(r).await,
        (
            404,
            PLAIN.into(),
            "no such endpoint: /v1/nothing/here\n".into()
        )
    );
    a.shutdown().await;
}

#[tokio::test]
async fn an_unknown_service_id_is_a_404_in_consuls_words() {
    let a = TestAgent::dev().await;
    let r = a
        .http
        .get(a.u("/v1/agent/service/ghost"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer(r).await,
        (404, PLAIN.into(), "unknown service ID: ghost\n".into())
    );
    a.shutdown().await;
}

#[tokio::test]
async fn renewing_an_unknown_session_is_a_404_in_consuls_words() {
    let a = TestAgent::dev().await;
    let id = "9f2c1f6e-0000-4000-8000-000000000001";
    let r = a.put_empty(&format!("/v1/session/renew/{id}")).await;
    assert_eq!(
        answer(r).await,
        (404, PLAIN.into(), format!("Session id '{id}' not found\n"))
    );
    a.shutdown().await;
}

#[tokio::test]
async fn a_watch_from_a_compacted_index_is_a_410_with_its_json_body_and_index() {
    let mut cfg = dev_config();
    cfg.kv_history_limit = 5;
    let a = TestAgent::start(cfg).await;
    for i in 0..20 {
        assert!(a.put(&format!("h/{i}"), "v").await);
    }
    let r = a
        .http
        .get(a.u("/v1/watch/kv/h/?index=1"))
        .send()
        .await
        .unwrap();
    let index: u64 = r.headers()["X-Consul-Index"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let (status, ct, body) = answer(r).await;
    assert_eq!((status, ct.as_str()), (410, "application/json"));
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["CurrentIndex"].as_u64(), Some(index), "{body}");
    let oldest = body["OldestIndex"].as_u64().unwrap();
    assert_eq!(
        body["Error"].as_str().unwrap(),
        format!(
            "index 1 is older than the oldest change kept ({oldest}); read the current state and watch from its index"
        )
    );
    a.shutdown().await;
}

/// Asserts `body` is one line: a reason and its newline.
fn one_line(body: &str) {
    assert!(body.ends_with('\n'), "{body:?}");
    assert!(!body.trim_end_matches('\n').contains('\n'), "{body:?}");
    assert!(body.len() > 1, "{body:?}");
}

#[tokio::test]
async fn a_chunked_body_growing_past_the_limit_is_a_413_with_a_one_line_reason() {
    let a = TestAgent::dev().await;
    // No Content-Length: the limit is met while the body is read, by
    // axum's extractor, not by the declared-length check up front.
    // 10 x 64 KiB is over the default 512 KiB value limit (plus 1 KiB).
    let chunks = (0..10).map(|_| Ok::<_, std::io::Error>(vec![b'x'; 64 * 1024]));
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let r = a
        .http
        .put(a.u("/v1/kv/big"))
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, ct, body) = answer(r).await;
    assert_eq!((status, ct.as_str()), (413, PLAIN), "{body}");
    one_line(&body);
    assert_eq!(
        body,
        "Failed to buffer the request body: length limit exceeded\n"
    );
    let r = a.http.get(a.u("/v1/kv/big")).send().await.unwrap();
    assert_eq!(r.status(), 404, "nothing was written");
    a.shutdown().await;
}

#[tokio::test]
async fn a_path_parameter_that_does_not_decode_is_a_400_with_a_one_line_reason() {
    let a = TestAgent::dev().await;
    let r = a
        .http
        .get(a.u("/v1/agent/service/%FF%FE"))
        .send()
        .await
        .unwrap();
    let (status, ct, body) = answer(r).await;
    assert_eq!((status, ct.as_str()), (400, PLAIN), "{body}");
    one_line(&body);
    a.shutdown().await;
}

#[tokio::test]
async fn every_endpoint_answers_a_method_it_does_not_serve_with_a_one_line_405() {
    let a = TestAgent::dev().await;
    let paths = [
        "/v1/kv/a",
        "/v1/kv/",
        "/v1/history/kv/a",
        "/v1/watch/kv/a",
        "/v1/status/leader",
        "/v1/status/peers",
        "/v1/operator/raft/configuration",
        "/v1/operator/raft/peer",
        "/v1/catalog/nodes",
        "/v1/catalog/register",
        "/v1/catalog/service/web",
        "/v1/health/service/web",
        "/v1/health/state/any",
        "/v1/event/fire/deploy",
        "/v1/snapshot",
        "/v1/agent/self",
        "/v1/agent/service/register",
        "/v1/agent/check/pass/c1",
        "/v1/agent/metrics",
        "/v1/session/create",
        "/v1/session/list",
        "/v1/txn",
        "/v1/internal/ui/services",
    ];
    for path in paths {
        let r = a
            .http
            .request(reqwest::Method::PATCH, a.u(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer(r).await,
            (405, PLAIN.into(), "method PATCH not allowed\n".into()),
            "PATCH {path}"
        );
    }
    a.shutdown().await;
}

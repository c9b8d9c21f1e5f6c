//! `/v1/operator/keyring`: Consul's shapes for list, install, use and
//! remove on an agent with gossip encryption, the keyring file in its data
//! dir, the refusals (each a one-line 400 that changes nothing), encryption
//! off, and the `keyring` ACL.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use tracing::info;

use crate::{dev_config, TestAgent};

const K1: &str = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s=";
const K2: &str = "5Cm8A0jZoaFXX3GWyvD47g==";
const MGMT: &str = "0c1e9d2a-6a4f-4d4b-8f77-2b1c3d4e5f61";

async fn call(
    a: &TestAgent,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut req = a.http.request(method, a.u(path));
    if let Some(t) = token {
        req = req.header("X-Consul-Token", t);
    }
    if let Some(b) = body {
        req = req.body(b.to_owned());
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

fn key_body(key: &str) -> String {
    json!({ "Key": key }).to_string()
}

/// The one pool entry of a list answer.
async fn list(a: &TestAgent) -> Value {
    let (status, text) = call(a, Method::GET, "/v1/operator/keyring", None, None).await;
    assert_eq!(status, 200, "{text}");
    let pools: Value = serde_json::from_str(&text).unwrap();
    let pools = pools.as_array().unwrap();
    assert_eq!(pools.len(), 1, "{text}");
    pools[0].clone()
}

fn one_line_400(status: u16, text: &str, expected: &str) {
    assert_eq!(status, 400, "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text:?}");
    assert!(text.contains(expected), "{text:?} lacks {expected:?}");
}

#[tokio::test]
async fn list_install_use_remove_answer_in_consuls_shapes_and_persist_the_keyring() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = dev_config();
    cfg.dev = false;
    cfg.bootstrap_expect = 1;
    cfg.data_dir = Some(dir.path().to_path_buf());
    cfg.encrypt = Some(K1.into());
    let a = TestAgent::start(cfg).await;
    let file = dir.path().join("serf/local.keyring");
    let on_disk = || -> Vec<String> {
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap()
    };
    assert_eq!(on_disk(), [K1], "the keyring file starts from encrypt");

    let stats = a.get_json("/v1/agent/self").await;
    assert_eq!(stats["Stats"]["serf_lan"]["encrypted"], "true");

    info!("--- list: Consul's pool entry");
    let pool = list(&a).await;
    assert_eq!(pool["WAN"], false);
    assert_eq!(pool["Datacenter"], "dc1");
    assert_eq!(pool["Segment"], "");
    assert_eq!(pool["Keys"], json!({ K1: 1 }));
    assert_eq!(pool["PrimaryKeys"], json!({ K1: 1 }));
    assert_eq!(pool["NumNodes"], 1);
    assert_eq!(pool["NumResp"], 1);
    assert_eq!(pool["NumErr"], 0);
    assert_eq!(pool["Messages"], json!({}));

    info!("--- install, use, remove");
    let path = "/v1/operator/keyring";
    let (status, text) = call(&a, Method::POST, path, None, Some(&key_body(K2))).await;
    assert_eq!((status, text.as_str()), (200, ""));
    assert_eq!(list(&a).await["Keys"], json!({ K1: 1, K2: 1 }));
    assert_eq!(on_disk(), [K1, K2]);
    let (status, text) = call(&a, Method::PUT, path, None, Some(&key_body(K2))).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(list(&a).await["PrimaryKeys"], json!({ K2: 1 }));
    let (status, text) = call(&a, Method::DELETE, path, None, Some(&key_body(K1))).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(list(&a).await["Keys"], json!({ K2: 1 }));
    assert_eq!(on_disk(), [K2]);

    info!("--- refusals are one-line 400s and change nothing");
    let cases: [(Method, String, &str, &str); 7] = [
        (
            Method::DELETE,
            path.to_owned(),
            &key_body(K2),
            "Removing the primary key is not allowed",
        ),
        (
            Method::PUT,
            path.to_owned(),
            &key_body(K1),
            "Requested key is not in the keyring",
        ),
        (
            Method::POST,
            path.to_owned(),
            &key_body("c2hvcnQ="),
            "key size must be 16, 24 or 32 bytes",
        ),
        (
            Method::POST,
            path.to_owned(),
            &key_body("not base64!"),
            "Invalid key",
        ),
        (
            Method::POST,
            path.to_owned(),
            "{nope",
            "Request decode failed",
        ),
        (
            Method::POST,
            format!("{path}?relay-factor=9"),
            &key_body(K1),
            "Relay factor must be in range: [0, 5]",
        ),
        (
            Method::POST,
            format!("{path}?local-only=true"),
            &key_body(K1),
            "local-only can only be set for list requests",
        ),
    ];
    for (method, path, body, expected) in cases {
        let (status, text) = call(&a, method, &path, None, Some(body)).await;
        one_line_400(status, &text, expected);
    }
    let (status, text) = call(
        &a,
        Method::GET,
        "/v1/operator/keyring?relay-factor=x",
        None,
        None,
    )
    .await;
    one_line_400(status, &text, "Error parsing relay factor");
    let pool = list(&a).await;
    assert_eq!(pool["Keys"], json!({ K2: 1 }));
    assert_eq!(pool["PrimaryKeys"], json!({ K2: 1 }));
    assert_eq!(on_disk(), [K2]);
    let (status, _) = call(
        &a,
        Method::GET,
        "/v1/operator/keyring?local-only=true&relay-factor=2",
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    a.shutdown().await;
}

#[tokio::test]
async fn without_encryption_keyring_operations_are_refused_in_serfs_words() {
    let a = TestAgent::dev().await;
    let stats = a.get_json("/v1/agent/self").await;
    assert_eq!(stats["Stats"]["serf_lan"]["encrypted"], "false");
    let (status, text) = call(&a, Method::GET, "/v1/operator/keyring", None, None).await;
    one_line_400(status, &text, "Keyring is empty (encryption not enabled)");
    let (status, text) = call(
        &a,
        Method::POST,
        "/v1/operator/keyring",
        None,
        Some(&key_body(K1)),
    )
    .await;
    one_line_400(
        status,
        &text,
        "No keyring to modify (encryption not enabled)",
    );
    a.shutdown().await;
}

#[tokio::test]
async fn keyring_needs_keyring_read_to_list_and_keyring_write_to_change() {
    let mut cfg = dev_config();
    cfg.encrypt = Some(K1.into());
    cfg.acl.enabled = true;
    cfg.acl.default_allow = false;
    cfg.acl.tokens.initial_management = Some(MGMT.into());
    let a = TestAgent::start(cfg).await;
    praetor_testwait::wait_for(Duration::from_secs(10), "the management token", || async {
        let (status, text) = call(&a, Method::GET, "/v1/acl/token/self", Some(MGMT), None).await;
        praetor_testwait::check(status == 200, || format!("{status} {text}"))
    })
    .await
    .unwrap();

    info!("--- a token with keyring = read");
    let (status, text) = call(
        &a,
        Method::PUT,
        "/v1/acl/policy",
        Some(MGMT),
        Some(&json!({"Name": "kr", "Rules": "keyring = \"read\""}).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let (status, text) = call(
        &a,
        Method::PUT,
        "/v1/acl/token",
        Some(MGMT),
        Some(&json!({"Policies": [{"Name": "kr"}]}).to_string()),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    let token: Value = serde_json::from_str(&text).unwrap();
    let reader = token["SecretID"].as_str().unwrap().to_owned();

    let path = "/v1/operator/keyring";
    let install = key_body(K2);
    for (method, token, body, expected) in [
        (Method::GET, None, None, 403),
        (Method::POST, None, Some(install.as_str()), 403),
        (Method::GET, Some(reader.as_str()), None, 200),
        (
            Method::POST,
            Some(reader.as_str()),
            Some(install.as_str()),
            403,
        ),
        (
            Method::DELETE,
            Some(reader.as_str()),
            Some(install.as_str()),
            403,
        ),
    ] {
        let (status, text) = call(&a, method.clone(), path, token, body).await;
        assert_eq!(status, expected, "{method} as {token:?}: {text}");
    }
    let (status, text) = call(&a, Method::GET, path, Some(MGMT), None).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        !text.contains(K2),
        "a denied install changed nothing: {text}"
    );
    let (status, text) = call(&a, Method::POST, path, Some(MGMT), Some(&install)).await;
    assert_eq!(status, 200, "{text}");
    let (_, text) = call(&a, Method::GET, path, Some(&reader), None).await;
    assert!(text.contains(K2), "{text}");
    a.shutdown().await;
}

#[tokio::test]
async fn a_bad_key_or_keyring_file_stops_the_agent_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("serf/local.keyring");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, r#"["c2hvcnQ="]"#).unwrap();
    let mut cfg = dev_config();
    cfg.dev = false;
    cfg.bootstrap_expect = 1;
    cfg.data_dir = Some(dir.path().to_path_buf());
    let stop = tokio_util::sync::CancellationToken::new();
    let err = match praetor_agent::start(cfg, stop).await {
        Ok(_) => panic!("the agent started with a bad keyring file"),
        Err(e) => {
            let mut chain = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                chain.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            chain
        }
    };
    assert!(err.contains("local.keyring"), "{err}");
    assert!(err.contains("16, 24 or 32 bytes"), "{err}");
    assert!(
        !dir.path().join("raft").exists(),
        "nothing started before the keyring was checked"
    );
}

//! ACLs on one dev agent, in process: every endpoint group under
//! `default_policy = "deny"` with no token, a read-only token, a token
//! limited to `config/app/` and the management token (status codes, and
//! nothing changed after a denial); list filtering and its header; a
//! blocking query and a watch that must not leak and end when their token
//! is deleted; bootstrap once; token expiry; the ACL API's shapes; the
//! agent token used by anti-entropy; and ACLs disabled.

mod agent;
mod api;
mod coordinate;
mod endpoints;
mod filtering;
mod introspect;
mod monitor;
mod operator;
mod query;

use std::time::Duration;

use base64::Engine as _;
use reqwest::Method;
use serde_json::{json, Value};
use tracing::info;

use crate::{dev_config, index_of, TestAgent};

/// The `initial_management` SecretID of the agents these tests start.
const MGMT: &str = "9f0d3b6c-6f55-4c2a-9d8e-1b2c3d4e5f60";

/// The rules of the read-only token.
const READ_ALL: &str = r#"
key_prefix "" { policy = "read" }
node_prefix "" { policy = "read" }
service_prefix "" { policy = "read" }
session_prefix "" { policy = "read" }
event_prefix "" { policy = "read" }
"#;

/// The rules of the application token.
const APP_ONLY: &str = r#"key_prefix "config/app/" { policy = "read" }"#;

/// One answer: status, whether ACLs filtered it, the body.
#[derive(Debug)]
struct Reply {
    status: u16,
    filtered: bool,
    index: Option<u64>,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

async fn reply(r: reqwest::Response) -> Reply {
    let status = r.status().as_u16();
    let filtered = r
        .headers()
        .get("x-consul-results-filtered-by-acls")
        .is_some_and(|v| v == "true");
    let index = r
        .headers()
        .get("x-consul-index")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let text = r.text().await.unwrap();
    Reply {
        status,
        filtered,
        index,
        text,
    }
}

/// A dev agent with ACLs on, `default_policy = "deny"`, and (when given)
/// `tokens.initial_management`.
fn acl_config(initial_management: Option<&str>) -> praetor_agent::config::RuntimeConfig {
    let mut cfg = dev_config();
    cfg.acl.enabled = true;
    cfg.acl.default_allow = false;
    cfg.acl.tokens.initial_management = initial_management.map(str::to_owned);
    cfg
}

impl TestAgent {
    /// `method path` with `token` in `X-Consul-Token` (none: no header) and
    /// an optional body.
    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut req = self.http.request(method, self.u(path));
        if let Some(t) = token {
            req = req.header("X-Consul-Token", t);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        reply(req.send().await.unwrap()).await
    }

    async fn get_as(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    async fn put_as(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        let bytes = serde_json::to_vec(&body).unwrap();
        self.call(Method::PUT, path, token, Some(bytes)).await
    }

    /// `PUT` expecting 200, as the management token; the JSON answer
    /// (null when there is none).
    async fn mgmt_put(&self, path: &str, body: Value) -> Value {
        let r = self.put_as(path, Some(MGMT), body).await;
        assert_eq!(r.status, 200, "PUT {path} as management: {}", r.text);
        if r.text.trim().is_empty() {
            Value::Null
        } else {
            r.json()
        }
    }

    /// Starts an ACL agent and waits until the leader has created the
    /// initial management token.
    async fn acl(initial_management: Option<&str>) -> TestAgent {
        let a = TestAgent::start(acl_config(initial_management)).await;
        if initial_management.is_some() {
            a.wait_for_management().await;
        }
        a
    }

    async fn wait_for_management(&self) {
        praetor_testwait::wait_for(
            Duration::from_secs(10),
            "the initial management token",
            || async {
                let r = self.get_as("/v1/acl/token/self", Some(MGMT)).await;
                praetor_testwait::check(r.status == 200, || format!("{} {}", r.status, r.text))
            },
        )
        .await
        .unwrap();
    }

    /// Creates a policy with `rules` and a token holding it (linked by
    /// name); returns the token's (AccessorID, SecretID).
    async fn token_with(&self, name: &str, rules: &str) -> (String, String) {
        self.mgmt_put("/v1/acl/policy", json!({"Name": name, "Rules": rules}))
            .await;
        let t = self
            .mgmt_put(
                "/v1/acl/token",
                json!({"Description": name, "Policies": [{"Name": name}]}),
            )
            .await;
        (
            t["AccessorID"].as_str().unwrap().to_owned(),
            t["SecretID"].as_str().unwrap().to_owned(),
        )
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The keys of a `?recurse` answer.
fn keys_of(r: &Reply) -> Vec<String> {
    if r.status == 404 {
        return Vec::new();
    }
    r.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Key"].as_str().unwrap().to_owned())
        .collect()
}

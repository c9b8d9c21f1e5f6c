//! ACLs on one dev agent, in process: every endpoint group under
//! `default_policy = "deny"` with no token, a read-only token, a token
//! limited to `config/app/` and the management token (status codes, and
//! nothing changed after a denial); list filtering and its header; a
//! blocking query and a watch that must not leak and end when their token
//! is deleted; bootstrap once; token expiry; the ACL API's shapes; the
//! agent token used by anti-entropy; and ACLs disabled.

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

// ------------------------------------------------------- 1. every endpoint

/// What a row expects of one token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// 200, nothing left out.
    Allowed,
    /// 200 with `X-Consul-Results-Filtered-By-ACLs: true`.
    Filtered,
    /// 404 (a KV read whose every key was left out, as Consul's).
    Missing,
    /// 403 "Permission denied" (or a 200 `false`: never changes anything).
    Denied,
}
use Want::{Allowed, Denied, Filtered, Missing};

/// One endpoint: what it is, its request, and what each of the four
/// tokens (none, read-only, `config/app/`, management) must get.
struct Row {
    what: &'static str,
    method: Method,
    path: String,
    body: Option<Vec<u8>>,
    want: [Want; 4],
    /// Whether management's request changes something (every `PUT` and
    /// `DELETE` here but a read-only transaction).
    writes: bool,
}

fn row(
    what: &'static str,
    method: Method,
    path: &str,
    body: Option<Value>,
    want: [Want; 4],
) -> Row {
    Row {
        what,
        writes: method != Method::GET,
        method,
        path: path.to_owned(),
        body: body.map(|b| serde_json::to_vec(&b).unwrap()),
        want,
    }
}

/// Everything a denial could change, read with the management token.
async fn state_of(a: &TestAgent) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for path in [
        "/v1/kv/?recurse",
        "/v1/catalog/nodes",
        "/v1/catalog/services",
        "/v1/catalog/node/ext-node",
        "/v1/session/list",
        "/v1/agent/services",
        "/v1/agent/checks",
        "/v1/acl/policies",
        "/v1/acl/tokens",
    ] {
        let r = a.get_as(path, Some(MGMT)).await;
        out.push((path.to_owned(), format!("{} {}", r.status, r.text)));
    }
    // Events are kept by the agent; their count is what a fire changes.
    let r = a.get_as("/v1/event/list", Some(MGMT)).await;
    let names: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Name"].as_str().unwrap_or_default().to_owned())
        .collect();
    out.push(("/v1/event/list".into(), names.join(",")));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_group_answers_each_token_as_consul_and_denials_change_nothing() {
    let a = TestAgent::acl(Some(MGMT)).await;
    info!("--- tokens and data, as management");
    let (_, read) = a.token_with("read-all", READ_ALL).await;
    let (_, app) = a.token_with("app", APP_ONLY).await;
    for (k, v) in [
        ("config/app/db", "db"),
        ("secret/pw", "hunter2"),
        ("scratch/a", "1"),
    ] {
        let r = a
            .call(
                Method::PUT,
                &format!("/v1/kv/{k}"),
                Some(MGMT),
                Some(v.into()),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    a.mgmt_put(
        "/v1/catalog/register",
        json!({
            "Node": "ext-node", "Address": "10.0.0.1",
            "Service": {"ID": "web1", "Service": "web", "Port": 80},
            "Check": {"CheckID": "web-alive", "Name": "web alive", "ServiceID": "web1", "Status": "passing"}
        }),
    )
    .await;
    let session = a
        .mgmt_put(
            "/v1/session/create",
            json!({"Node": "ext-node", "Checks": [], "Name": "s"}),
        )
        .await["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    a.mgmt_put("/v1/event/fire/setup", json!(null)).await;
    a.mgmt_put(
        "/v1/agent/service/register",
        json!({"ID": "api0", "Name": "api0", "Port": 9000,
               "Check": {"CheckID": "api0-ttl", "TTL": "1h"}}),
    )
    .await;
    let snapshot_bytes = a
        .http
        .get(a.u("/v1/snapshot"))
        .header("X-Consul-Token", MGMT)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    // The leader registers this agent's node from gossip: let it settle so
    // the state compared below only changes through the requests made.
    praetor_testwait::wait_for(
        Duration::from_secs(10),
        "it-node in the catalog",
        || async {
            let r = a.get_as("/v1/catalog/node/it-node", Some(MGMT)).await;
            praetor_testwait::check(r.text.contains(r#""Node":"it-node""#), || r.text.clone())
        },
    )
    .await
    .unwrap();

    let txn_mixed = json!([
        {"KV": {"Verb": "get", "Key": "config/app/db"}},
        {"KV": {"Verb": "set", "Key": "secret/txn", "Value": b64("x")}}
    ]);
    let txn_read = json!([{"KV": {"Verb": "get", "Key": "secret/pw"}}]);
    let rows = vec![
        // KV
        row(
            "kv get allowed key",
            Method::GET,
            "/v1/kv/config/app/db",
            None,
            [Denied, Allowed, Allowed, Allowed],
        ),
        row(
            "kv get other key",
            Method::GET,
            "/v1/kv/secret/pw",
            None,
            [Denied, Allowed, Denied, Allowed],
        ),
        row(
            "kv recurse root",
            Method::GET,
            "/v1/kv/?recurse",
            None,
            [Missing, Allowed, Filtered, Allowed],
        ),
        row(
            "kv keys root",
            Method::GET,
            "/v1/kv/?keys",
            None,
            [Missing, Allowed, Filtered, Allowed],
        ),
        row(
            "kv put",
            Method::PUT,
            "/v1/kv/config/app/new",
            Some(json!("v")),
            [Denied, Denied, Denied, Allowed],
        ),
        row(
            "kv delete",
            Method::DELETE,
            "/v1/kv/config/app/new",
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        row(
            "kv delete recurse",
            Method::DELETE,
            "/v1/kv/scratch/?recurse",
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        // Catalog
        row(
            "catalog nodes",
            Method::GET,
            "/v1/catalog/nodes",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "catalog services",
            Method::GET,
            "/v1/catalog/services",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "catalog service",
            Method::GET,
            "/v1/catalog/service/web",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "catalog node",
            Method::GET,
            "/v1/catalog/node/ext-node",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "catalog register",
            Method::PUT,
            "/v1/catalog/register",
            Some(
                json!({"Node": "new-node", "Address": "10.0.0.2", "Service": {"Service": "db", "Port": 5432}}),
            ),
            [Denied, Denied, Denied, Allowed],
        ),
        row(
            "catalog deregister",
            Method::PUT,
            "/v1/catalog/deregister",
            Some(json!({"Node": "new-node"})),
            [Denied, Denied, Denied, Allowed],
        ),
        // Health
        row(
            "health service",
            Method::GET,
            "/v1/health/service/web",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "health checks",
            Method::GET,
            "/v1/health/checks/web",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "health node",
            Method::GET,
            "/v1/health/node/ext-node",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "health state",
            Method::GET,
            "/v1/health/state/any",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        // Sessions
        row(
            "session list",
            Method::GET,
            "/v1/session/list",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "session node",
            Method::GET,
            "/v1/session/node/ext-node",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "session create",
            Method::PUT,
            "/v1/session/create",
            Some(json!({"Node": "ext-node", "Checks": []})),
            [Denied, Denied, Denied, Allowed],
        ),
        // Events
        row(
            "event list",
            Method::GET,
            "/v1/event/list",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "event fire",
            Method::PUT,
            "/v1/event/fire/deploy",
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        // Transactions
        Row {
            writes: false,
            ..row(
                "txn read",
                Method::PUT,
                "/v1/txn",
                Some(txn_read),
                [Denied, Allowed, Denied, Allowed],
            )
        },
        row(
            "txn mixed",
            Method::PUT,
            "/v1/txn",
            Some(txn_mixed),
            [Denied, Denied, Denied, Allowed],
        ),
        // Agent
        row(
            "agent services",
            Method::GET,
            "/v1/agent/services",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "agent checks",
            Method::GET,
            "/v1/agent/checks",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "agent self",
            Method::GET,
            "/v1/agent/self",
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        row(
            "agent members",
            Method::GET,
            "/v1/agent/members",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "agent metrics",
            Method::GET,
            "/v1/agent/metrics",
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        row(
            "agent service register",
            Method::PUT,
            "/v1/agent/service/register",
            Some(json!({"ID": "api1", "Name": "api1", "Port": 9001})),
            [Denied, Denied, Denied, Allowed],
        ),
        // Operator
        row(
            "operator raft configuration",
            Method::GET,
            "/v1/operator/raft/configuration",
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        // ACL lists and writes
        row(
            "acl tokens",
            Method::GET,
            "/v1/acl/tokens",
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        row(
            "acl policies",
            Method::GET,
            "/v1/acl/policies",
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        row(
            "acl roles",
            Method::GET,
            "/v1/acl/roles",
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        row(
            "acl policy create",
            Method::PUT,
            "/v1/acl/policy",
            Some(json!({"Name": "sneaky", "Rules": "key_prefix \"\" { policy = \"write\" }"})),
            [Denied, Denied, Denied, Allowed],
        ),
        // More of each group: locks, history, one session, the UI's
        // summary, a check and maintenance mode.
        row(
            "kv lock acquire",
            Method::PUT,
            &format!("/v1/kv/config/app/lock?acquire={session}"),
            Some(json!("l")),
            [Denied, Denied, Denied, Allowed],
        ),
        row(
            "kv history",
            Method::GET,
            "/v1/history/kv/secret/pw",
            None,
            [Denied, Allowed, Denied, Allowed],
        ),
        row(
            "session info",
            Method::GET,
            &format!("/v1/session/info/{session}"),
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "ui services",
            Method::GET,
            "/v1/internal/ui/services",
            None,
            [Filtered, Allowed, Filtered, Allowed],
        ),
        row(
            "agent check pass",
            Method::PUT,
            "/v1/agent/check/pass/api0-ttl",
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        row(
            "agent node maintenance",
            Method::PUT,
            "/v1/agent/maintenance?enable=true&reason=acl",
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        // Snapshots, and the writes that destroy what the rows above read:
        // last, so management's column reads them first.
        row(
            "snapshot save",
            Method::GET,
            "/v1/snapshot",
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        row(
            "agent service deregister",
            Method::PUT,
            "/v1/agent/service/deregister/api0",
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        row(
            "session destroy",
            Method::PUT,
            &format!("/v1/session/destroy/{session}"),
            None,
            [Denied, Denied, Denied, Allowed],
        ),
        Row {
            what: "snapshot restore",
            method: Method::PUT,
            path: "/v1/snapshot".into(),
            body: Some(snapshot_bytes),
            want: [Denied, Denied, Denied, Allowed],
            writes: true,
        },
    ];

    let tokens: [(&str, Option<&str>); 4] = [
        ("no token", None),
        ("read-only token", Some(read.as_str())),
        ("config/app/ token", Some(app.as_str())),
        ("management token", Some(MGMT)),
    ];
    let mut failures = Vec::new();
    for (col, (who, token)) in tokens.iter().enumerate() {
        info!("--- every endpoint with the {who}");
        let mut before = state_of(&a).await;
        for r in &rows {
            let want = r.want[col];
            let got = a
                .call(r.method.clone(), &r.path, *token, r.body.clone())
                .await;
            let ok = match want {
                Allowed => got.status == 200 && !got.filtered,
                Filtered => got.status == 200 && got.filtered,
                Missing => got.status == 404,
                Denied => got.status == 403 && got.text.starts_with("Permission denied"),
            };
            if !ok {
                failures.push(format!(
                    "{} {} ({}) with the {who}: wanted {want:?}, got {} filtered={} {:?}",
                    r.method,
                    r.path,
                    r.what,
                    got.status,
                    got.filtered,
                    got.text.trim()
                ));
            }
            let after = state_of(&a).await;
            // Management's writes show the comparison sees every change.
            if col == 3 && r.writes && before == after {
                failures.push(format!(
                    "{} {} ({}) with the {who} changed nothing",
                    r.method, r.path, r.what
                ));
            }
            if want == Denied || col < 3 {
                for ((path, was), (_, now)) in before.iter().zip(&after) {
                    if was != now {
                        failures.push(format!(
                            "{} {} ({}) with the {who} changed {path}: {was} -> {now}",
                            r.method, r.path, r.what
                        ));
                    }
                }
            }
            before = after;
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_txn_with_one_denied_operation_applies_none_of_them() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (_, writer) = a
        .token_with(
            "app-writer",
            r#"key_prefix "config/app/" { policy = "write" }"#,
        )
        .await;
    let ops = json!([
        {"KV": {"Verb": "set", "Key": "config/app/a", "Value": b64("1")}},
        {"KV": {"Verb": "set", "Key": "secret/b", "Value": b64("2")}}
    ]);
    let r = a.put_as("/v1/txn", Some(&writer), ops).await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(
        r.text.contains("secret/b"),
        "names the denied key: {}",
        r.text
    );
    for k in ["config/app/a", "secret/b"] {
        let r = a.get_as(&format!("/v1/kv/{k}"), Some(MGMT)).await;
        assert_eq!(r.status, 404, "{k} was written: {}", r.text);
    }
    info!("--- the allowed half alone applies");
    let ops = json!([{"KV": {"Verb": "set", "Key": "config/app/a", "Value": b64("1")}}]);
    let r = a.put_as("/v1/txn", Some(&writer), ops).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        a.get_as("/v1/kv/config/app/a", Some(MGMT)).await.status,
        200
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denials_name_the_token_and_permission_and_unknown_tokens_are_not_found() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (accessor, app) = a.token_with("app", APP_ONLY).await;
    let r = a.get_as("/v1/kv/secret/pw", Some(&app)).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text.trim(),
        format!(
            "Permission denied: token with AccessorID '{accessor}' lacks permission 'key:read' on \"secret/pw\""
        )
    );
    let r = a.get_as("/v1/kv/secret/pw", None).await;
    assert_eq!(r.status, 403);
    assert_eq!(
        r.text.trim(),
        "Permission denied: anonymous token lacks permission 'key:read' on \"secret/pw\". \
         The anonymous token is used implicitly when a request does not specify a token."
    );
    let r = a
        .get_as(
            "/v1/kv/config/app/x",
            Some("00000000-1111-2222-3333-444444444444"),
        )
        .await;
    assert_eq!((r.status, r.text.trim()), (403, "ACL not found"));

    info!("--- the token is read from the header, a bearer and the query");
    a.call(
        Method::PUT,
        "/v1/kv/config/app/x",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    let bearer = a
        .http
        .get(a.u("/v1/kv/config/app/x"))
        .header("Authorization", format!("Bearer {app}"))
        .send()
        .await
        .unwrap();
    assert_eq!(bearer.status(), 200);
    let query = a
        .get_as(&format!("/v1/kv/config/app/x?token={app}"), None)
        .await;
    assert_eq!(query.status, 200, "{}", query.text);
    let r = a
        .get_as(&format!("/v1/kv/secret/pw?token={app}"), None)
        .await;
    assert_eq!(r.status, 403);
    a.shutdown().await;
}

// ------------------------------------------------------- 2. list filtering

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recurse_and_keys_show_a_prefix_token_only_its_keys_and_say_so() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (_, app) = a.token_with("app", APP_ONLY).await;
    for k in [
        "config/app/a",
        "config/app/b",
        "config/other",
        "secret/pw",
        "z",
    ] {
        let r = a
            .call(
                Method::PUT,
                &format!("/v1/kv/{k}"),
                Some(MGMT),
                Some(b"v".to_vec()),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    for prefix in ["", "config/"] {
        let r = a
            .get_as(&format!("/v1/kv/{prefix}?recurse"), Some(&app))
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.filtered, "recurse on {prefix:?} says it filtered");
        assert_eq!(keys_of(&r), ["config/app/a", "config/app/b"]);
        let r = a.get_as(&format!("/v1/kv/{prefix}?keys"), Some(&app)).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(r.filtered, "keys on {prefix:?} says it filtered");
        assert_eq!(r.json(), json!(["config/app/a", "config/app/b"]));
    }
    info!("--- nothing left out: no header");
    let r = a.get_as("/v1/kv/config/app/?recurse", Some(&app)).await;
    assert_eq!(keys_of(&r), ["config/app/a", "config/app/b"]);
    assert!(!r.filtered);
    info!("--- management sees all");
    let r = a.get_as("/v1/kv/?recurse", Some(MGMT)).await;
    assert_eq!(
        keys_of(&r),
        [
            "config/app/a",
            "config/app/b",
            "config/other",
            "secret/pw",
            "z"
        ]
    );
    assert!(!r.filtered);
    let r = a.get_as("/v1/kv/?keys", Some(MGMT)).await;
    assert_eq!(r.json().as_array().unwrap().len(), 5);
    assert!(!r.filtered);
    a.shutdown().await;
}

// ------------------------------------------------ 3. blocking, no leaks

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_recurse_never_leaks_a_key_the_token_cannot_read() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (_, app) = a.token_with("app", APP_ONLY).await;
    a.call(
        Method::PUT,
        "/v1/kv/config/app/x",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    let first = a.get_as("/v1/kv/?recurse", Some(&app)).await;
    assert_eq!(keys_of(&first), ["config/app/x"]);
    let hold = |index: u64| {
        let (http, url, app) = (
            a.http.clone(),
            a.u(&format!("/v1/kv/?recurse&index={index}&wait=20s")),
            app.clone(),
        );
        tokio::spawn(async move {
            reply(
                http.get(url)
                    .header("X-Consul-Token", app)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
    };
    let leaks = |r: &Reply, when: &str| {
        assert_eq!(r.status, 200, "{when}: {}", r.text);
        let keys = keys_of(r);
        assert!(
            keys.iter().all(|k| k.starts_with("config/app/")) && !r.text.contains("secret"),
            "{when}: the answer leaked {keys:?}"
        );
    };
    let mut waiting = hold(first.index.expect("an index"));
    a.wait_blocked(1).await;

    info!("--- management writes a secret: the query may wake, but shows no secret");
    a.call(
        Method::PUT,
        "/v1/kv/secret/x",
        Some(MGMT),
        Some(b"s".to_vec()),
    )
    .await;
    let woke = tokio::time::timeout(Duration::from_secs(1), &mut waiting).await;
    if let Ok(answer) = woke {
        let answer = answer.unwrap();
        leaks(&answer, "woken by the secret");
        assert_eq!(keys_of(&answer), ["config/app/x"]);
        waiting = hold(answer.index.expect("an index"));
        a.wait_blocked(1).await;
    }

    info!("--- the application's own key arrives");
    a.call(
        Method::PUT,
        "/v1/kv/config/app/y",
        Some(MGMT),
        Some(b"2".to_vec()),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for round in 0..5 {
        let answer = tokio::time::timeout_at(deadline, &mut waiting)
            .await
            .expect("the blocking query answers")
            .unwrap();
        leaks(&answer, &format!("round {round}"));
        if keys_of(&answer) == ["config/app/x", "config/app/y"] {
            a.shutdown().await;
            return;
        }
        waiting = hold(answer.index.expect("an index"));
    }
    panic!("config/app/y never arrived");
}

// ---------------------------------------- 4. deleted token ends a query

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_token_ends_its_blocking_query_with_acl_not_found() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (accessor, app) = a.token_with("app", APP_ONLY).await;
    a.call(
        Method::PUT,
        "/v1/kv/config/app/x",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    let r = a.get_as("/v1/kv/config/app/?recurse", Some(&app)).await;
    assert_eq!(r.status, 200);
    let index = r.index.unwrap();
    let waiting = {
        let (http, url, app) = (
            a.http.clone(),
            a.u(&format!(
                "/v1/kv/config/app/?recurse&index={index}&wait=30s"
            )),
            app.clone(),
        );
        tokio::spawn(async move {
            reply(
                http.get(url)
                    .header("X-Consul-Token", app)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
    };
    a.wait_blocked(1).await;
    let r = a
        .call(
            Method::DELETE,
            &format!("/v1/acl/token/{accessor}"),
            Some(MGMT),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let got = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the query ends well before its 30 s wait")
        .unwrap();
    assert_eq!((got.status, got.text.trim()), (403, "ACL not found"));
    let r = a.get_as("/v1/kv/config/app/x", Some(&app)).await;
    assert_eq!((r.status, r.text.trim()), (403, "ACL not found"));
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_of_the_root_shows_only_readable_keys_and_ends_when_its_token_is_deleted() {
    use futures::StreamExt;
    let a = TestAgent::acl(Some(MGMT)).await;
    let (accessor, app) = a.token_with("app", APP_ONLY).await;
    let r = a
        .http
        .get(a.u("/v1/watch/kv/"))
        .header("X-Consul-Token", &app)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let mut stream = r.bytes_stream();
    info!("--- a change arrives, a secret does not");
    a.call(
        Method::PUT,
        "/v1/kv/secret/x",
        Some(MGMT),
        Some(b"s".to_vec()),
    )
    .await;
    a.call(
        Method::PUT,
        "/v1/kv/config/app/x",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while !seen.contains("config/app/x") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("config/app/x never arrived; saw {seen:?}"))
            .expect("the stream is open")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
        assert!(!seen.contains("secret"), "the watch leaked: {seen}");
    }
    info!("--- the token is deleted: the stream ends");
    let r = a
        .call(
            Method::DELETE,
            &format!("/v1/acl/token/{accessor}"),
            Some(MGMT),
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => panic!("the stream is still open 10 s after its token was deleted"),
            Ok(None) | Ok(Some(Err(_))) => break,
            Ok(Some(Ok(chunk))) => {
                let text = String::from_utf8_lossy(&chunk).into_owned();
                assert!(!text.contains("secret"), "{text}");
            }
        }
    }
    a.shutdown().await;
}

// ------------------------------------------------------- 5. bootstrap once

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_returns_a_management_token_once() {
    let a = TestAgent::acl(None).await;
    // The leader creates the ACL system's built-ins first; until then a
    // bootstrap may fail, never succeed twice.
    let first = praetor_testwait::wait_for(Duration::from_secs(10), "a bootstrap", || async {
        let r = a.put_as("/v1/acl/bootstrap", None, json!(null)).await;
        praetor_testwait::check(r.status == 200, || format!("{} {}", r.status, r.text))?;
        Ok(r)
    })
    .await
    .unwrap();
    let t = first.json();
    let secret = t["SecretID"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&secret).is_ok(), "{t}");
    assert!(uuid::Uuid::parse_str(t["AccessorID"].as_str().unwrap()).is_ok());
    let policies: Vec<&str> = t["Policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert_eq!(policies, ["global-management"]);
    info!("--- the token manages");
    let r = a.get_as("/v1/acl/tokens", Some(&secret)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = a
        .call(
            Method::PUT,
            "/v1/kv/anything",
            Some(&secret),
            Some(b"1".to_vec()),
        )
        .await;
    assert_eq!(r.status, 200);
    info!("--- a second bootstrap is refused, even with the management token");
    for token in [None, Some(secret.as_str())] {
        let r = a.put_as("/v1/acl/bootstrap", token, json!(null)).await;
        assert_eq!(r.status, 403, "{}", r.text);
        let text = r.text.trim();
        let index = text
            .strip_prefix("Permission denied: ACL bootstrap no longer allowed (reset index: ")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or_else(|| panic!("Consul's wording: {text:?}"));
        assert!(index.parse::<u64>().unwrap() > 0, "{text}");
    }
    let r = a.get_as("/v1/acl/tokens", Some(&secret)).await;
    let bootstraps = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["Policies"].to_string().contains("global-management"))
        .count();
    assert_eq!(bootstraps, 1, "one management token: {}", r.text);
    a.shutdown().await;
}

// ----------------------------------------------------------- 6. expiry

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_with_an_expiration_ttl_stops_working_when_it_expires() {
    let a = TestAgent::acl(Some(MGMT)).await;
    a.mgmt_put("/v1/acl/policy", json!({"Name": "app", "Rules": APP_ONLY}))
        .await;
    a.call(
        Method::PUT,
        "/v1/kv/config/app/x",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    let t = a
        .mgmt_put(
            "/v1/acl/token",
            json!({"Policies": [{"Name": "app"}], "ExpirationTTL": "2s"}),
        )
        .await;
    assert!(t["ExpirationTime"].is_string(), "{t}");
    let secret = t["SecretID"].as_str().unwrap().to_owned();
    let r = a.get_as("/v1/kv/config/app/x", Some(&secret)).await;
    assert_eq!(r.status, 200, "works before it expires: {}", r.text);
    praetor_testwait::wait_for(Duration::from_secs(10), "the token to expire", || async {
        let r = a.get_as("/v1/kv/config/app/x", Some(&secret)).await;
        praetor_testwait::check(r.status == 403, || format!("{} {}", r.status, r.text))?;
        Ok(r)
    })
    .await
    .map(|r| assert_eq!(r.text.trim(), "ACL not found"))
    .unwrap();
    let r = a.get_as("/v1/acl/token/self", Some(&secret)).await;
    assert_eq!((r.status, r.text.trim()), (403, "ACL not found"));

    info!("--- an ExpirationTime in the past is refused");
    let r = a
        .put_as(
            "/v1/acl/token",
            Some(MGMT),
            json!({"Policies": [{"Name": "app"}], "ExpirationTime": "2001-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    let before = a.get_as("/v1/acl/tokens", Some(MGMT)).await.json();
    let r = a
        .put_as(
            "/v1/acl/token",
            Some(MGMT),
            json!({"ExpirationTime": "2001-01-01T00:00:00Z", "ExpirationTTL": "1h"}),
        )
        .await;
    assert_eq!(r.status, 400, "both set: {}", r.text);
    let after = a.get_as("/v1/acl/tokens", Some(MGMT)).await.json();
    assert_eq!(before, after, "nothing created");
    a.shutdown().await;
}

// ------------------------------------------------- 7. the API's shapes

fn ids(list: &Value, field: &str) -> Vec<String> {
    let mut v: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[field].as_str().unwrap().to_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_created_read_updated_cloned_listed_and_deleted_as_consul_does() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let p = a
        .mgmt_put("/v1/acl/policy", json!({"Name": "app", "Rules": APP_ONLY}))
        .await;
    let policy_id = p["ID"].as_str().unwrap().to_owned();
    let role = a
        .mgmt_put(
            "/v1/acl/role",
            json!({"Name": "app-role", "Policies": [{"ID": policy_id}]}),
        )
        .await;
    let role_id = role["ID"].as_str().unwrap().to_owned();

    info!("--- create by policy name: the ID is resolved");
    let t = a
        .mgmt_put(
            "/v1/acl/token",
            json!({"Description": "app token", "Policies": [{"Name": "app"}]}),
        )
        .await;
    let accessor = t["AccessorID"].as_str().unwrap().to_owned();
    let secret = t["SecretID"].as_str().unwrap().to_owned();
    assert_eq!(t["Policies"], json!([{"ID": policy_id, "Name": "app"}]));
    assert_eq!(t["Description"], "app token");
    assert_eq!(t["Local"], false);
    assert!(t["CreateTime"].is_string() && t["Hash"].is_string(), "{t}");
    assert!(t["CreateIndex"].as_u64().unwrap() > 0);
    let by_role = a
        .mgmt_put("/v1/acl/token", json!({"Roles": [{"Name": "app-role"}]}))
        .await;
    assert_eq!(
        by_role["Roles"],
        json!([{"ID": role_id, "Name": "app-role"}])
    );

    info!("--- read and self");
    let r = a
        .get_as(&format!("/v1/acl/token/{accessor}"), Some(MGMT))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["SecretID"], secret.as_str());
    let me = a.get_as("/v1/acl/token/self", Some(&secret)).await;
    assert_eq!(me.status, 200, "a token may read itself: {}", me.text);
    assert_eq!(me.json()["AccessorID"], accessor.as_str());
    let r = a
        .get_as(&format!("/v1/acl/token/{accessor}"), Some(&secret))
        .await;
    assert_eq!(r.status, 403, "reading by accessor needs acl:read");

    info!("--- update keeps the secret");
    let u = a
        .mgmt_put(
            &format!("/v1/acl/token/{accessor}"),
            json!({"Description": "renamed", "Policies": [{"ID": policy_id}]}),
        )
        .await;
    assert_eq!(u["Description"], "renamed");
    assert_eq!(u["SecretID"], secret.as_str());
    assert!(u["ModifyIndex"].as_u64() > t["ModifyIndex"].as_u64());
    assert_ne!(u["Hash"], t["Hash"]);
    let r = a.get_as("/v1/acl/token/self", Some(&secret)).await;
    assert_eq!(r.json()["Description"], "renamed");

    info!("--- clone: new accessor and secret, same policies");
    let c = a
        .mgmt_put(
            &format!("/v1/acl/token/{accessor}/clone"),
            json!({"Description": "clone"}),
        )
        .await;
    assert_ne!(c["AccessorID"], accessor.as_str());
    assert_ne!(c["SecretID"], secret.as_str());
    assert_eq!(c["Policies"], u["Policies"]);
    assert_eq!(c["Description"], "clone");
    let clone_secret = c["SecretID"].as_str().unwrap().to_owned();
    a.call(
        Method::PUT,
        "/v1/kv/config/app/x",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    assert_eq!(
        a.get_as("/v1/kv/config/app/x", Some(&clone_secret))
            .await
            .status,
        200
    );

    info!("--- list and its filters");
    let all = a.get_as("/v1/acl/tokens", Some(MGMT)).await.json();
    let every = ids(&all, "AccessorID");
    assert!(every.contains(&accessor));
    assert!(
        every.contains(&praetor_acl::ANONYMOUS_TOKEN_ID.to_owned()),
        "{every:?}"
    );
    let by_policy = a
        .get_as(&format!("/v1/acl/tokens?policy={policy_id}"), Some(MGMT))
        .await
        .json();
    let mut want = vec![
        accessor.clone(),
        c["AccessorID"].as_str().unwrap().to_owned(),
    ];
    want.sort();
    assert_eq!(ids(&by_policy, "AccessorID"), want);
    let with_role = a
        .get_as(&format!("/v1/acl/tokens?role={role_id}"), Some(MGMT))
        .await
        .json();
    assert_eq!(
        ids(&with_role, "AccessorID"),
        [by_role["AccessorID"].as_str().unwrap()]
    );

    info!("--- delete");
    let r = a
        .call(
            Method::DELETE,
            &format!("/v1/acl/token/{accessor}"),
            Some(MGMT),
            None,
        )
        .await;
    assert_eq!((r.status, r.text.trim()), (200, "true"));
    let r = a
        .get_as(&format!("/v1/acl/token/{accessor}"), Some(MGMT))
        .await;
    assert_eq!((r.status, r.text.trim()), (403, "ACL not found"));
    let r = a.get_as("/v1/acl/token/self", Some(&secret)).await;
    assert_eq!((r.status, r.text.trim()), (403, "ACL not found"));
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_are_created_read_updated_listed_and_deleted_and_bad_rules_refused() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let p = a
        .mgmt_put(
            "/v1/acl/policy",
            json!({"Name": "app", "Description": "the app", "Rules": APP_ONLY}),
        )
        .await;
    let id = p["ID"].as_str().unwrap().to_owned();
    assert_eq!(p["Rules"], APP_ONLY);
    assert_eq!(p["Description"], "the app");
    let r = a.get_as(&format!("/v1/acl/policy/{id}"), Some(MGMT)).await;
    assert_eq!(r.json()["Name"], "app");
    let r = a.get_as("/v1/acl/policy/name/app", Some(MGMT)).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["ID"], id.as_str());
    assert_eq!(r.json()["Rules"], APP_ONLY);

    info!("--- list omits Rules");
    let list = a.get_as("/v1/acl/policies", Some(MGMT)).await.json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"app") && names.contains(&"global-management"),
        "{names:?}"
    );
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|p| p.get("Rules").is_none()),
        "{list}"
    );

    info!("--- update: a token holding the policy gets the new rules at once");
    let t = a
        .mgmt_put("/v1/acl/token", json!({"Policies": [{"ID": id}]}))
        .await;
    let holder = t["SecretID"].as_str().unwrap().to_owned();
    a.call(
        Method::PUT,
        "/v1/kv/config/other",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    assert_eq!(
        a.get_as("/v1/kv/config/other", Some(&holder)).await.status,
        403
    );
    let rules = r#"key_prefix "config/" { policy = "read" }"#;
    let u = a
        .mgmt_put(
            &format!("/v1/acl/policy/{id}"),
            json!({"Name": "app", "Rules": rules}),
        )
        .await;
    assert_eq!(u["Rules"], rules);
    assert_eq!(u["ID"], id.as_str());
    assert_eq!(
        a.get_as("/v1/kv/config/other", Some(&holder)).await.status,
        200
    );

    info!("--- refusals change nothing");
    let r = a
        .put_as(
            "/v1/acl/policy",
            Some(MGMT),
            json!({"Name": "bad", "Rules": "key_prefix \"\" {\n  policy = \"read\"\n}\nkey \"x\" { policy = \"sometimes\" }\n"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("line 4: "), "names the line: {}", r.text);
    let r = a
        .put_as(
            "/v1/acl/policy",
            Some(MGMT),
            json!({"Name": "app", "Rules": ""}),
        )
        .await;
    assert_eq!(r.status, 400, "duplicate name: {}", r.text);
    let r = a.get_as("/v1/acl/policy/name/bad", Some(MGMT)).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let after = a.get_as("/v1/acl/policies", Some(MGMT)).await.json();
    assert_eq!(
        after.as_array().unwrap().len(),
        list.as_array().unwrap().len()
    );

    info!("--- global-management cannot be deleted");
    let gm = a
        .get_as("/v1/acl/policy/name/global-management", Some(MGMT))
        .await;
    let gm_id = gm.json()["ID"].as_str().unwrap().to_owned();
    let r = a
        .call(
            Method::DELETE,
            &format!("/v1/acl/policy/{gm_id}"),
            Some(MGMT),
            None,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(
        a.get_as(&format!("/v1/acl/policy/{gm_id}"), Some(MGMT))
            .await
            .status,
        200
    );
    assert_eq!(
        a.get_as("/v1/acl/token/self", Some(MGMT)).await.status,
        200,
        "the management token still works"
    );

    info!("--- delete");
    let r = a
        .call(
            Method::DELETE,
            &format!("/v1/acl/policy/{id}"),
            Some(MGMT),
            None,
        )
        .await;
    assert_eq!((r.status, r.text.trim()), (200, "true"));
    let r = a.get_as(&format!("/v1/acl/policy/{id}"), Some(MGMT)).await;
    assert_eq!((r.status, r.text.trim()), (403, "ACL not found"));
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_created_read_updated_listed_and_deleted() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let p = a
        .mgmt_put("/v1/acl/policy", json!({"Name": "app", "Rules": APP_ONLY}))
        .await;
    let policy_id = p["ID"].as_str().unwrap().to_owned();
    let r = a
        .mgmt_put(
            "/v1/acl/role",
            json!({"Name": "app-role", "Description": "d", "Policies": [{"Name": "app"}],
                   "ServiceIdentities": [{"ServiceName": "web"}]}),
        )
        .await;
    let id = r["ID"].as_str().unwrap().to_owned();
    assert_eq!(r["Policies"], json!([{"ID": policy_id, "Name": "app"}]));
    assert_eq!(r["ServiceIdentities"][0]["ServiceName"], "web");
    assert_eq!(
        a.get_as(&format!("/v1/acl/role/{id}"), Some(MGMT))
            .await
            .json()["Name"],
        "app-role"
    );
    let by_name = a.get_as("/v1/acl/role/name/app-role", Some(MGMT)).await;
    assert_eq!(by_name.json()["ID"], id.as_str());

    info!("--- a token holding the role gets its policy");
    let t = a
        .mgmt_put("/v1/acl/token", json!({"Roles": [{"ID": id}]}))
        .await;
    let secret = t["SecretID"].as_str().unwrap().to_owned();
    a.call(
        Method::PUT,
        "/v1/kv/config/app/x",
        Some(MGMT),
        Some(b"1".to_vec()),
    )
    .await;
    assert_eq!(
        a.get_as("/v1/kv/config/app/x", Some(&secret)).await.status,
        200
    );

    info!("--- update");
    let u = a
        .mgmt_put(
            &format!("/v1/acl/role/{id}"),
            json!({"Name": "app-role-2", "Policies": []}),
        )
        .await;
    assert_eq!(u["Name"], "app-role-2");
    assert!(u["Policies"].as_array().is_none_or(Vec::is_empty), "{u}");
    assert_eq!(
        a.get_as("/v1/kv/config/app/x", Some(&secret)).await.status,
        403,
        "the role no longer grants the policy"
    );
    assert_eq!(
        a.get_as("/v1/acl/role/name/app-role", Some(MGMT))
            .await
            .status,
        404
    );

    info!("--- list and delete");
    let list = a.get_as("/v1/acl/roles", Some(MGMT)).await.json();
    assert_eq!(ids(&list, "ID"), [id.as_str()]);
    let r = a
        .call(
            Method::DELETE,
            &format!("/v1/acl/role/{id}"),
            Some(MGMT),
            None,
        )
        .await;
    assert_eq!((r.status, r.text.trim()), (200, "true"));
    assert_eq!(
        a.get_as(&format!("/v1/acl/role/{id}"), Some(MGMT))
            .await
            .status,
        404
    );
    assert_eq!(
        a.get_as("/v1/acl/roles", Some(MGMT)).await.json(),
        json!([])
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_read_token_lists_tokens_with_hidden_secrets_and_cannot_write() {
    let a = TestAgent::acl(Some(MGMT)).await;
    let (_, reader) = a.token_with("acl-reader", r#"acl = "read""#).await;
    let r = a.get_as("/v1/acl/tokens", Some(&reader)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let list = r.json();
    let list = list.as_array().unwrap();
    assert!(list.len() >= 3, "{list:?}");
    for t in list {
        assert_eq!(t["SecretID"], "<hidden>", "{t}");
    }
    let any = list[0]["AccessorID"].as_str().unwrap();
    let one = a
        .get_as(&format!("/v1/acl/token/{any}"), Some(&reader))
        .await;
    assert_eq!(one.json()["SecretID"], "<hidden>");
    assert!(!r.text.contains(MGMT) && !one.text.contains(MGMT));
    assert_eq!(
        a.get_as("/v1/acl/policies", Some(&reader)).await.status,
        200
    );
    let r = a
        .put_as(
            "/v1/acl/policy",
            Some(&reader),
            json!({"Name": "x", "Rules": ""}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    assert!(r.text.contains("acl:write"), "{}", r.text);
    a.shutdown().await;
}

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

// ------------------------------------------------------ the default token

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_a_token_uses_the_agents_default_token() {
    let default_secret = "3c1f2e4d-5a6b-4c7d-8e9f-0a1b2c3d4e5f";
    let mut cfg = acl_config(Some(MGMT));
    cfg.acl.tokens.default = Some(default_secret.into());
    let a = TestAgent::start(cfg).await;
    a.wait_for_management().await;
    a.mgmt_put("/v1/acl/policy", json!({"Name": "app", "Rules": APP_ONLY}))
        .await;
    let t = a
        .mgmt_put(
            "/v1/acl/token",
            json!({"SecretID": default_secret, "Policies": [{"Name": "app"}]}),
        )
        .await;
    let accessor = t["AccessorID"].as_str().unwrap();
    for k in ["config/app/x", "secret/x"] {
        let r = a
            .call(
                Method::PUT,
                &format!("/v1/kv/{k}"),
                Some(MGMT),
                Some(b"1".to_vec()),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let r = a.get_as("/v1/kv/config/app/x", None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = a.get_as("/v1/kv/secret/x", None).await;
    assert_eq!(r.status, 403);
    assert!(
        r.text.contains(&format!("AccessorID '{accessor}'")),
        "denied as the default token: {}",
        r.text
    );
    let r = a.get_as("/v1/kv/?recurse", None).await;
    assert_eq!(keys_of(&r), ["config/app/x"]);
    assert!(r.filtered);
    info!("--- a token given wins over the default");
    let r = a.get_as("/v1/kv/secret/x", Some(MGMT)).await;
    assert_eq!(r.status, 200);
    a.shutdown().await;
}

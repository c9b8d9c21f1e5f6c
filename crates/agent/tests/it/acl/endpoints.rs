//! Every endpoint group with each of the four tokens, the transaction
//! rule, and the wording of denials.

use super::*;

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

//! Every parser that takes input from the network, run on arbitrary and on
//! valid-but-mangled input (property tests): KV paths, snapshot files, txn
//! bodies, service and check definitions, whole DNS packets and RPC frames
//! answer with a value or an error, and never panic. The regression test of
//! issue 12 sends the filter that used to abort the agent.

use praetor_agent::config::RuntimeConfig;
use praetor_agent::definition::{check_from_body, service_from_body, CheckBody, ServiceBody};
use praetor_agent::dns::handler::handle_without_catalog;
use praetor_agent::dns::Transport;
use praetor_agent::http::error::ApiError;
use praetor_agent::http::kv::{key_from_path, MAX_KEY_LEN};
use praetor_agent::http::txn::{ops_from_body, Decoded};
use praetor_agent::http::{filter, json_body};
use praetor_api::catalog::RegisterRequest;
use praetor_api::txn::MAX_OPS;
use praetor_store::{Command, Store};
use proptest::prelude::*;
use serde_json::{json, Value};

use super::TestAgent;

// --- the HTTP regression of issue 12 ----------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_12_a_filter_of_thousands_of_parentheses_is_a_400_and_the_agent_keeps_serving() {
    let a = TestAgent::dev().await;
    let r = a
        .put_json(
            "/v1/agent/service/register",
            json!({"Name": "web", "Port": 80}),
        )
        .await;
    assert_eq!(r.status(), 200);
    // 5 000 `(` (the report's request: over the length limit), 2 000 `(`
    // (under it, stopped by the depth limit) and a balanced 1 000-deep one.
    let balanced = format!("{}Port == 80{}", "(".repeat(1000), ")".repeat(1000));
    let cases = [
        ("(".repeat(5000), "bytes long; the limit is 4096"),
        ("(".repeat(2000), "more than 32 deep"),
        (balanced, "more than 32 deep"),
        ("not ".repeat(1000) + "Port == 80", "more than 32 deep"),
    ];
    for path in [
        "/v1/agent/services",
        "/v1/agent/checks",
        "/v1/catalog/service/web",
        "/v1/health/service/web",
    ] {
        for (filter, reason) in &cases {
            let url = format!(
                "{path}?filter={}",
                percent_encoding::utf8_percent_encode(filter, percent_encoding::NON_ALPHANUMERIC)
            );
            let r = a.http.get(a.u(&url)).send().await.unwrap();
            assert_eq!(r.status(), 400, "{path}");
            let body = r.text().await.unwrap();
            assert!(
                body.starts_with("Failed to create boolean expression evaluator: ")
                    && body.contains(reason)
                    && body.trim_end().lines().count() == 1,
                "{path}: {body}"
            );
        }
    }
    // The agent is alive and answers filters within the limits.
    let ok = format!(
        "/v1/agent/services?filter={}",
        percent_encoding::utf8_percent_encode(
            &format!("{}Port == 80{}", "(".repeat(32), ")".repeat(32)),
            percent_encoding::NON_ALPHANUMERIC
        )
    );
    let services = a.get_json(&ok).await;
    assert!(services.get("web").is_some(), "{services}");
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_string_over_its_limits_is_a_400_naming_the_limit() {
    let a = TestAgent::dev().await;
    let many = vec!["a=1"; 200].join("&");
    let r = a
        .http
        .get(a.u(&format!("/v1/kv/x?{many}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.unwrap(),
        "query string has more than 128 parameters\n"
    );
    let r = a
        .http
        .get(a.u(&format!("/v1/agent/services?filter={}", "a".repeat(40_000))))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().starts_with("query string is"));
    // Also where the handler reads no parameter itself.
    for path in ["/v1/agent/metrics", "/v1/status/leader", "/v1/agent/self"] {
        let r = a
            .http
            .get(a.u(&format!("{path}?{many}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
    }
    a.shutdown().await;
}

// --- KV paths -------------------------------------------------------------

proptest! {
    #[test]
    fn any_kv_path_decodes_to_a_bounded_key_or_a_400(path in any::<String>()) {
        match key_from_path(&format!("/v1/kv/{path}"), "/v1/kv") {
            Ok(key) => prop_assert!(key.len() <= MAX_KEY_LEN && !key.contains('\0')),
            Err(e) => prop_assert!(matches!(e, ApiError::BadRequest(_))),
        }
    }

    #[test]
    fn percent_escapes_of_any_kind_decode_or_are_refused(
        pieces in prop::collection::vec(
            prop_oneof![Just("%".to_owned()), Just("%0".to_owned()), Just("%00".to_owned()),
                        Just("%ff".to_owned()), Just("%C3%A9".to_owned()), Just("%2F".to_owned()),
                        Just("/".to_owned()), "[a-z]{0,3}"],
            0..40,
        ),
    ) {
        let _ = key_from_path(&format!("/v1/kv/{}", pieces.concat()), "/v1/kv");
    }

    #[test]
    fn every_key_without_nul_reads_back_from_its_encoding(key in "[^\u{0}]{0,200}") {
        let encoded =
            percent_encoding::utf8_percent_encode(&key, percent_encoding::NON_ALPHANUMERIC);
        let path = format!("/v1/kv/{encoded}");
        prop_assert_eq!(key_from_path(&path, "/v1/kv").ok(), Some(key));
    }
}

#[test]
fn keys_longer_than_the_limit_are_refused() {
    let ok = "k".repeat(MAX_KEY_LEN);
    assert_eq!(
        key_from_path(&format!("/v1/kv/{ok}"), "/v1/kv").unwrap(),
        ok
    );
    let err = key_from_path(&format!("/v1/kv/{ok}k"), "/v1/kv").unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Invalid key: {} bytes long; the limit is {MAX_KEY_LEN}",
            MAX_KEY_LEN + 1
        )
    );
}

// --- snapshot files -------------------------------------------------------

/// A store with a little of everything, as a snapshot file.
fn sample_snapshot() -> Vec<u8> {
    let mut store = Store::new(4);
    for (i, key) in ["a", "a/b", "c", "a"].into_iter().enumerate() {
        store.apply(
            i as u64 + 1,
            &Command::KvSet {
                key: key.into(),
                value: vec![i as u8; i].into(),
                flags: i as u64,
                cas: None,
            },
        );
    }
    store.apply(
        5,
        &Command::CatalogRegister(
            RegisterRequest {
                node: "n1".into(),
                address: "10.0.0.1".into(),
                ..RegisterRequest::default()
            }
            .into(),
        ),
    );
    store.apply(
        6,
        &Command::KvDelete {
            key: "c".into(),
            cas: None,
        },
    );
    let data = store.encode_snapshot().unwrap();
    praetor_api::snapshot::encode(6, 2, 1_700_000_000_000, &data)
}

/// What `PUT /v1/snapshot` does with a body, then a few writes on the
/// decoded store, which must not panic either.
fn restore(file: &[u8]) {
    let Ok((_, data)) = praetor_api::snapshot::decode(file) else {
        return;
    };
    decode_and_use(data);
}

fn decode_and_use(data: &[u8]) {
    let Ok(mut store) = Store::decode_snapshot(data) else {
        return;
    };
    let next = store.last_index().saturating_add(1);
    store.apply(
        next,
        &Command::KvSet {
            key: "a".into(),
            value: b"v".to_vec().into(),
            flags: 0,
            cas: Some(0),
        },
    );
    store.apply(
        next.saturating_add(1),
        &Command::KvDeleteTree { prefix: "".into() },
    );
    store.set_history_limit(1);
    let _ = store.history().since("", 0, 10);
    let _ = store.encode_snapshot();
}

#[test]
fn a_snapshot_file_reads_back_and_damage_is_refused() {
    let file = sample_snapshot();
    let (meta, data) = praetor_api::snapshot::decode(&file).unwrap();
    assert_eq!((meta.index, meta.term), (6, 2));
    let store = Store::decode_snapshot(data).unwrap();
    assert_eq!(store.kv().get("a").map(|e| e.flags), Some(3));
    for cut in 0..file.len() {
        assert!(
            praetor_api::snapshot::decode(&file[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    for cut in 0..data.len() {
        assert!(
            Store::decode_snapshot(&data[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

proptest! {
    #[test]
    fn any_bytes_as_a_snapshot_file_are_refused_without_panicking(bytes in any::<Vec<u8>>()) {
        prop_assert!(praetor_api::snapshot::decode(&bytes).is_err());
        decode_and_use(&bytes);
    }

    #[test]
    fn a_snapshot_with_changed_bytes_decodes_or_is_refused(
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let file = sample_snapshot();
        let (_, data) = praetor_api::snapshot::decode(&file).unwrap();
        let mut data = data.to_vec();
        for (at, byte) in &changes {
            let i = at.index(data.len());
            data[i] = *byte;
        }
        // With the checksum recomputed, as an attacker would.
        let forged = praetor_api::snapshot::encode(6, 2, 0, &data);
        restore(&forged);
        decode_and_use(&data);
        let mut file = file.clone();
        for (at, byte) in &changes {
            let i = at.index(file.len());
            file[i] = *byte;
        }
        restore(&file);
    }
}

// --- txn bodies -----------------------------------------------------------

fn txn(body: &[u8]) -> Result<Decoded, ApiError> {
    ops_from_body(body, 512 * 1024, "dc1")
}

/// A JSON value of any shape, small.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "[a-zA-Z0-9=+/ _-]{0,10}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop::sample::select(vec![
                    "KV",
                    "Node",
                    "Service",
                    "Check",
                    "Verb",
                    "Key",
                    "Value",
                    "Flags",
                    "Index",
                    "Session",
                    "ID",
                    "Address",
                    "Port",
                    "Tags",
                    "Meta",
                    "CheckID",
                    "Status",
                    "Name",
                    "Weights",
                    "Passing",
                    "Warning",
                    "TTL",
                    "HTTP",
                    "Interval",
                    "Timeout",
                    "Args",
                    "GRPC",
                    "DeregisterCriticalServiceAfter",
                    "x",
                ])
                .prop_map(str::to_owned),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A txn operation that is nearly valid.
fn txn_op() -> impl Strategy<Value = Value> {
    let verb = prop::sample::select(vec![
        "set",
        "cas",
        "lock",
        "unlock",
        "get",
        "get-tree",
        "check-index",
        "check-session",
        "check-not-exists",
        "delete",
        "delete-tree",
        "delete-cas",
        "bogus",
        "",
    ]);
    prop_oneof![
        (
            verb.clone(),
            "[a-z/]{0,6}",
            prop::option::of("[A-Za-z0-9+/=]{0,8}"),
            any::<u64>()
        )
            .prop_map(
                |(v, k, val, i)| json!({"KV": {"Verb": v, "Key": k, "Value": val, "Index": i}})
            ),
        (verb.clone(), any_json()).prop_map(|(v, n)| json!({"Node": {"Verb": v, "Node": n}})),
        (verb.clone(), "[a-z]{0,4}", any_json())
            .prop_map(|(v, node, s)| json!({"Service": {"Verb": v, "Node": node, "Service": s}})),
        (verb, any_json()).prop_map(|(v, c)| json!({"Check": {"Verb": v, "Check": c}})),
        any_json(),
    ]
}

proptest! {
    #[test]
    fn any_bytes_as_a_txn_body_are_refused_without_panicking(bytes in any::<Vec<u8>>()) {
        let _ = txn(&bytes);
    }

    #[test]
    fn nearly_valid_txn_bodies_decode_or_are_refused_with_a_4xx(
        ops in prop::collection::vec(txn_op(), 0..(MAX_OPS + 4)),
    ) {
        let body = serde_json::to_vec(&ops).unwrap();
        match txn(&body) {
            Ok(Decoded::Ops(decoded)) => prop_assert_eq!(decoded.len(), ops.len()),
            Ok(Decoded::Refused(errors)) => {
                prop_assert!(!errors.is_empty());
                for e in &errors {
                    prop_assert!(e.op_index < ops.len());
                    prop_assert!(!e.what.contains('\n'), "{}", e.what);
                }
            }
            Err(ApiError::TooLarge(_)) => {}
            Err(ApiError::BadRequest(m)) => prop_assert!(!m.contains('\n'), "{}", m),
            Err(other) => prop_assert!(false, "not a 4xx: {other}"),
        }
    }
}

#[test]
fn a_txn_over_the_operation_limit_is_a_413() {
    let op = json!({"KV": {"Verb": "get", "Key": "k"}});
    let body = serde_json::to_vec(&vec![op; MAX_OPS + 1]).unwrap();
    assert!(matches!(txn(&body), Err(ApiError::TooLarge(_))));
}

// --- service and check definitions ----------------------------------------

/// Registers `body` as `PUT /v1/agent/service/register`,
/// `/v1/agent/check/register` and `/v1/catalog/register` would decode it.
fn definitions(body: &[u8]) {
    if let Ok(s) = json_body::<ServiceBody>(body) {
        let _ = service_from_body(s, true);
    }
    if let Ok(c) = json_body::<CheckBody>(body) {
        let _ = check_from_body(c, false);
    }
    if let Ok(req) = json_body::<RegisterRequest>(body) {
        let cmd = Command::catalog_register(req, std::collections::BTreeMap::new());
        Store::default().apply(1, &cmd);
    }
}

proptest! {
    #[test]
    fn any_bytes_as_a_definition_are_refused_without_panicking(bytes in any::<Vec<u8>>()) {
        definitions(&bytes);
    }

    #[test]
    fn nearly_valid_definitions_register_or_are_refused(v in any_json()) {
        definitions(&serde_json::to_vec(&v).unwrap());
        let wrapped = json!({"Name": "web", "Check": v, "Node": "n", "Service": {"Service": "s"}});
        definitions(&serde_json::to_vec(&wrapped).unwrap());
        // A service's kind, tagged addresses, proxy and locality, through
        // the agent's and the catalog's shapes.
        let extras = json!({"Kind": v, "Proxy": v, "TaggedAddresses": {"lan_ipv4": v, "wan": v},
                            "Locality": v, "Port": 21000});
        let mut agent = extras.clone();
        agent["Name"] = json!("web");
        definitions(&serde_json::to_vec(&agent).unwrap());
        let mut service = extras;
        service["Service"] = json!("web");
        let catalog = json!({"Node": "n", "Address": "10.0.0.1", "Service": service});
        definitions(&serde_json::to_vec(&catalog).unwrap());
    }
}

// --- DNS packets ------------------------------------------------------------

fn dns_config() -> RuntimeConfig {
    RuntimeConfig {
        alt_domain: Some("alt.example.".into()),
        ..RuntimeConfig::default()
    }
}

/// A query for `name` of type `qtype`, as bytes.
fn query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&[0, 1]);
    p
}

/// Checks what came back for `packet` over both transports.
fn answer_is_well_formed(packet: &[u8]) -> Result<(), TestCaseError> {
    let cfg = dns_config();
    let is_query = hickory_proto::op::Message::from_vec(packet)
        .is_ok_and(|m| m.metadata.message_type == hickory_proto::op::MessageType::Query);
    for transport in [Transport::Udp, Transport::Tcp] {
        let Some(bytes) = handle_without_catalog(packet, &cfg, transport) else {
            prop_assert!(!is_query, "every query that decodes gets an answer");
            continue;
        };
        let resp = hickory_proto::op::Message::from_vec(&bytes).expect("our answer decodes");
        prop_assert_eq!(&bytes[..2], &packet[..2], "the answer carries the id");
        prop_assert!(resp.metadata.message_type == hickory_proto::op::MessageType::Response);
        if transport == Transport::Udp {
            prop_assert!(bytes.len() <= 65535);
        }
    }
    Ok(())
}

#[test]
fn whole_dns_packets_get_answers_formerr_or_silence() {
    let cfg = dns_config();
    let ask = |p: &[u8]| handle_without_catalog(p, &cfg, Transport::Udp);
    let rcode = |b: Vec<u8>| b[3] & 0x0f;
    assert_eq!(ask(b"short"), None, "no header: nothing to answer");
    assert_eq!(
        rcode(ask(&[0u8; 13]).unwrap()),
        1,
        "a header and garbage: FORMERR"
    );
    assert_eq!(rcode(ask(&query(7, "web.service.consul.", 1)).unwrap()), 3);
    assert_eq!(rcode(ask(&query(7, "consul.", 6)).unwrap()), 0, "SOA");
    assert_eq!(
        rcode(ask(&query(7, "7f000001.addr.consul.", 1)).unwrap()),
        0
    );
    assert_eq!(
        rcode(ask(&query(7, "example.com.", 1)).unwrap()),
        5,
        "REFUSED"
    );
    let mut response = query(7, "web.service.consul.", 1);
    response[2] |= 0x80;
    assert_eq!(ask(&response), None, "responses are never answered");
}

proptest! {
    #[test]
    fn any_bytes_as_a_dns_packet_get_a_well_formed_answer_or_none(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        answer_is_well_formed(&bytes)?;
    }

    #[test]
    fn queries_with_changed_bytes_get_a_well_formed_answer_or_none(
        name in prop::sample::select(vec![
            "web.service.consul.", "_web._tcp.service.dc1.consul.", "n1.node.consul.",
            "7f000001.addr.consul.", "consul.", "x.alt.example.", "1.0.0.127.in-addr.arpa.",
            "example.com.",
        ]),
        qtype in prop::sample::select(vec![1u16, 28, 33, 2, 6, 12, 255, 252, 16]),
        changes in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        extra in prop::collection::vec(any::<u8>(), 0..24),
    ) {
        let mut packet = query(0x1234, name, qtype);
        for (at, byte) in &changes {
            let i = at.index(packet.len());
            packet[i] = *byte;
        }
        packet.extend_from_slice(&extra);
        answer_is_well_formed(&packet)?;
    }
}

// --- RPC frames -------------------------------------------------------------

proptest! {
    #[test]
    fn any_bytes_as_an_rpc_frame_are_decoded_or_refused(bytes in any::<Vec<u8>>()) {
        let _ = postcard::from_bytes::<(u64, praetor_server::rpc::Request)>(&bytes);
        let _ = postcard::from_bytes::<(u64, praetor_server::rpc::Reply)>(&bytes);
    }
}

// --- filters through apply ------------------------------------------------

#[test]
fn filters_on_maps_and_lists_keep_what_matches() {
    let p = praetor_agent::http::query::Params::parse(Some("filter=Port%20%3D%3D%2080"));
    let list = json!([{"Port": 80}, {"Port": 81}]);
    assert_eq!(filter::apply(&p, list).unwrap(), json!([{"Port": 80}]));
    let map = json!({"a": {"Port": 80}, "b": {"Port": 81}});
    assert_eq!(filter::apply(&p, map).unwrap(), json!({"a": {"Port": 80}}));
}

// --- inputs the fuzzers found ------------------------------------------------

/// Runs `input` through what fuzz target `target` runs (without its
/// assertions on outcomes: here only "no panic" and "refused" matter).
fn replay(target: &str, input: &[u8]) {
    let text = std::str::from_utf8(input).ok();
    match target {
        "filter" => {
            if let Some(Ok(e)) = text.map(filter::parse) {
                filter::eval(&e, &json!({"Port": 80}));
            }
        }
        "duration" => {
            let _ = text.map(praetor_api::duration::parse);
        }
        "query_params" => {
            let p = praetor_agent::http::query::Params::parse(text);
            let _ = praetor_agent::http::query::ReadOpts::read(&p);
            let _ = filter::apply(&p, json!([{"Port": 80}]));
        }
        "kv_key" => {
            let _ = text.map(|t| key_from_path(t, "/v1/kv"));
        }
        "dns_name" => {
            if let Some(qname) = input.get(1..).and_then(|r| std::str::from_utf8(r).ok()) {
                let _ = praetor_agent::dns::name::parse(qname, input[0] & 1 == 1, &["consul."]);
            }
        }
        "dns_packet" => {
            let _ = answer_is_well_formed(input.get(1..).unwrap_or_default());
        }
        "config" => {
            let dir = tempfile::tempdir().unwrap();
            let name = if input.first().is_some_and(|b| b & 1 == 1) {
                "fuzz.hcl"
            } else {
                "fuzz.json"
            };
            let path = dir.path().join(name);
            std::fs::write(&path, input.get(1..).unwrap_or_default()).unwrap();
            let flags = praetor_agent::config::Flags {
                data_dir: Some(dir.path().to_owned()),
                node: Some("fuzz".into()),
                config_files: vec![path],
                ..Default::default()
            };
            let _ = praetor_agent::config::load(&flags);
        }
        "snapshot" => {
            restore(input);
            decode_and_use(input);
        }
        "txn" => {
            let _ = txn(input);
        }
        "definition" => definitions(input),
        "rpc_frame" => {
            let _ = postcard::from_bytes::<(u64, praetor_server::rpc::Request)>(input);
            let _ = postcard::from_bytes::<(u64, praetor_server::rpc::Reply)>(input);
        }
        "acl_rules" => {
            if let Ok(text) = std::str::from_utf8(input) {
                if let Err(e) = praetor_acl::Policy::parse(text) {
                    assert!(!e.to_string().contains('\n'), "one line: {e}");
                }
            }
        }
        other => panic!("no replay for fuzz target {other:?}"),
    }
}

/// Every input in `fuzz/regressions/<target>/` (each once made a fuzz
/// target crash or hang) now runs through its parser without panicking.
#[test]
fn issue_12_inputs_the_fuzzers_found_are_handled() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions");
    let mut replayed = 0;
    for target in std::fs::read_dir(&root).unwrap() {
        let target = target.unwrap().path();
        let name = target.file_name().unwrap().to_string_lossy().into_owned();
        for input in std::fs::read_dir(&target).unwrap() {
            let input = input.unwrap().path();
            replay(&name, &std::fs::read(&input).unwrap());
            replayed += 1;
        }
    }
    assert!(
        replayed >= 2,
        "the regression inputs are in {}",
        root.display()
    );
}

/// The HCL file that kept hcl-edit busy for 28 s (four-fold per level of
/// brackets around a failing expression) is refused before it is parsed.
#[test]
fn issue_12_an_hcl_file_nesting_too_deep_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let input = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/regressions/config/timeout-8769a45632184e8f84436cd3e8af019fd8dd4056"),
    )
    .unwrap();
    let path = dir.path().join("a.hcl");
    std::fs::write(&path, &input[1..]).unwrap();
    let flags = praetor_agent::config::Flags {
        data_dir: Some(dir.path().to_owned()),
        node: Some("n".into()),
        config_files: vec![path],
        ..Default::default()
    };
    let err = praetor_agent::config::load(&flags).unwrap_err().to_string();
    assert!(
        err.contains("not valid HCL: brackets, braces and interpolations nest more than 12 deep"),
        "{err}"
    );
}

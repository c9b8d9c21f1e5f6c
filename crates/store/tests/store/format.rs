//! The on-disk and wire format of the store: Raft log entries, RPC write
//! frames and `Restore` bodies are postcard encodings of `Command`, and
//! snapshots are `Store::encode_snapshot`. Postcard does not describe its
//! data — an enum variant is its position in the source, a struct is its
//! fields in order, and a field that serde skips (`skip_serializing_if`)
//! shifts every byte after it — so a harmless-looking change to `Command`
//! or to a store type it carries (`model.rs`, `txn.rs`) silently makes
//! existing logs, snapshots and peers unreadable. These tests pin the bytes
//! (the examples are built from the API types and converted, so the
//! conversions are covered too):
//!
//! - every `Command` variant, fully populated, against committed golden
//!   bytes (`tests/golden/commands.hex`), and a probe that fails when a
//!   variant is added without a golden example;
//! - a populated store's snapshot (and its restore body) against
//!   `tests/golden/snapshot_v9.hex`, decoding back to the same store, and
//!   the same store in formats 4, 5, 6, 7 and 8 (`snapshot_v4.hex`,
//!   `snapshot_v5.hex`, `snapshot_v6.hex`, `snapshot_v7.hex`,
//!   `snapshot_v8.hex`, frozen) decoding to it;
//! - a round-trip property over arbitrary commands, and decoding arbitrary
//!   bytes never panics.

use std::collections::{BTreeMap, BTreeSet};

use praetor_api::catalog::{
    CheckDefinition, DeregisterRequest, Locality, RegisterRequest, ServiceAddress,
    ServiceDefinition, ServiceProxy, Weights,
};
use praetor_api::event::UserEvent;
use praetor_api::session::{ServiceCheck, SessionEntry};
use praetor_store::acl::{
    AclCommand, NodeIdentity, Policy as AclPolicy, Role as AclRole, ServiceIdentity,
    Token as AclToken,
};
use praetor_store::autopilot::AutopilotConfig;
use praetor_store::catalog::NodeHealth;
use praetor_store::coordinate::{CoordRecord, Float, NodeCoordinate};
use praetor_store::model::ServiceExtra;
use praetor_store::query::{
    Failover, FailoverTarget, PreparedQuery, QueryCommand, QueryTemplate, ServiceQuery,
};
use praetor_store::txn::{
    CatalogExtra, CatalogOp, CatalogTarget, CatalogVerb, KvOp, KvVerb, TxnOp,
};
use praetor_store::{Change, Command, HistoryError, Store};
use proptest::prelude::*;

/// What to do when a golden test fails, printed with every failure.
const FORMAT_CHANGED: &str = "\
THE ON-DISK / WIRE FORMAT CHANGED. Raft logs, snapshots and RPC frames \
already written by running servers are postcard bytes of these types; \
postcard has no field names or tags, so this change makes them \
unreadable (or, worse, read as something else). If the change was not \
meant to alter the format, undo it (do not reorder `Command` variants or \
struct fields, do not add `#[serde(skip_serializing_if)]`/`skip`/`flatten`/\
`untagged` to any type the store encodes). If it was meant: keep the old \
shape readable (add new variants only at the END of an enum; keep a copy \
of the old struct and convert, as `snapshot.rs` does for versions 2 and \
3), bump the snapshot format version (`FORMAT_VERSION` in \
crates/store/src/snapshot.rs) and the log format if log entries changed, \
add a migration with a test that decodes the OLD golden bytes (keep the \
old file and decode it in a test, as snapshot_v4.hex is kept for format \
5), and only then write the new golden file with the new bytes printed \
below.";

// ---------------------------------------------------------------- helpers

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex wrapped at 32 bytes a line, as the golden files hold it.
fn hex_lines(bytes: &[u8]) -> String {
    bytes.chunks(32).map(|c| format!("{}\n", hex(c))).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(
        digits.len().is_multiple_of(2),
        "odd number of hex digits in a golden file"
    );
    digits
        .chunks(2)
        .map(|p| {
            let s = std::str::from_utf8(p).expect("hex digits are ASCII");
            u8::from_str_radix(s, 16).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
        })
        .collect()
}

/// Parses a golden file: `[name]` lines, each followed by its hex bytes
/// (whitespace ignored); `#` lines are comments.
fn golden_blocks(text: &str) -> BTreeMap<String, Vec<u8>> {
    let mut blocks = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if let Some((n, h)) = current.take() {
                assert!(blocks.insert(n.clone(), unhex(&h)).is_none(), "{n} twice");
            }
            current = Some((name.to_owned(), String::new()));
        } else {
            let (_, h) = current.as_mut().expect("hex before the first [name]");
            h.push_str(line);
        }
    }
    if let Some((n, h)) = current {
        assert!(blocks.insert(n.clone(), unhex(&h)).is_none(), "{n} twice");
    }
    blocks
}

/// The decode entry point the server uses for log entries and RPC frames.
fn decode(bytes: &[u8]) -> Result<Command, postcard::Error> {
    postcard::from_bytes::<Command>(bytes)
}

fn encode(cmd: &Command) -> Vec<u8> {
    postcard::to_stdvec(cmd).expect("a command always encodes")
}

// ------------------------------------------------------ golden examples

fn tags(prefix: &str) -> Vec<String> {
    vec![format!("{prefix}-1"), format!("{prefix}-2")]
}

fn meta(prefix: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (format!("{prefix}-k1"), "v1".to_owned()),
        (format!("{prefix}-k2"), "v2".to_owned()),
    ])
}

fn check_def(id: &str) -> CheckDefinition {
    CheckDefinition {
        node: "node-1".into(),
        check_id: id.into(),
        name: format!("{id} name"),
        notes: format!("{id} notes"),
        status: "warning".into(),
        output: format!("{id} output"),
        service_id: "web-1".into(),
    }
}

/// A register request with every field set, nested ones included.
fn register_request() -> RegisterRequest {
    RegisterRequest {
        id: "0b6d1b3c-2f0e-4c4e-9d0a-6f6f1c2b3a4d".into(),
        node: "node-1".into(),
        address: "10.0.0.1".into(),
        datacenter: "dc1".into(),
        tagged_addresses: BTreeMap::from([
            ("lan".to_owned(), "10.0.0.1".to_owned()),
            ("wan".to_owned(), "203.0.113.1".to_owned()),
        ]),
        node_meta: meta("node"),
        service: Some(ServiceDefinition {
            id: "web-1".into(),
            service: "web".into(),
            tags: tags("tag"),
            address: "10.0.0.2".into(),
            meta: meta("svc"),
            port: 8080,
            weights: Some(Weights {
                passing: 3,
                warning: 2,
            }),
            enable_tag_override: true,
            kind: "connect-proxy".into(),
            tagged_addresses: BTreeMap::from([
                (
                    "lan_ipv4".to_owned(),
                    ServiceAddress {
                        address: "10.0.0.2".into(),
                        port: 8080,
                    },
                ),
                (
                    "wan".to_owned(),
                    ServiceAddress {
                        address: "web.example.com".into(),
                        port: 443,
                    },
                ),
            ]),
            proxy: ServiceProxy::from_value(serde_json::json!({
                "DestinationServiceName": "web-backend",
                "LocalServicePort": 9090,
                "Config": {"protocol": "http"},
            }))
            .expect("an object"),
            locality: Some(Locality {
                region: "eu-west-1".into(),
                zone: "eu-west-1a".into(),
            }),
        }),
        check: Some(check_def("check-a")),
        checks: vec![check_def("check-b"), check_def("check-c")],
        skip_node_update: true,
    }
}

/// What `register_request`'s service carries beside its registration.
fn service_extra() -> ServiceExtra {
    ServiceExtra::of(register_request().service.as_ref().expect("a service"))
}

fn session_entry() -> SessionEntry {
    SessionEntry {
        id: "5f3c1e2a-8b7d-4c6e-a1f0-9e8d7c6b5a43".into(),
        name: "leader-lock".into(),
        node: "node-1".into(),
        node_checks: Some(vec!["serfHealth".into(), "check-a".into()]),
        service_checks: Some(vec![ServiceCheck {
            id: "check-b".into(),
            namespace: "default".into(),
        }]),
        lock_delay: 15_000_000_000,
        behavior: "delete".into(),
        ttl: "30s".into(),
        create_index: 41,
        modify_index: 42,
    }
}

fn kv_op(verb: KvVerb, n: u64) -> TxnOp {
    TxnOp::Kv(KvOp {
        verb,
        key: format!("txn/key-{n}"),
        value: vec![0xde, 0xad, n as u8].into(),
        flags: 100 + n,
        index: 200 + n,
        session: format!("session-{n}"),
    })
}

fn catalog_op(target: CatalogTarget, verb: CatalogVerb, n: u64) -> TxnOp {
    TxnOp::Catalog(Box::new(CatalogOp {
        target,
        verb,
        node: format!("node-{n}"),
        id: format!("id-{n}"),
        register: register_request().into(),
        index: 300 + n,
    }))
}

/// Every KV verb (an exhaustive match in `kv_verb_name` keeps this honest).
const KV_VERBS: [KvVerb; 12] = [
    KvVerb::Set,
    KvVerb::Cas,
    KvVerb::Lock,
    KvVerb::Unlock,
    KvVerb::Get,
    KvVerb::GetTree,
    KvVerb::CheckIndex,
    KvVerb::CheckSession,
    KvVerb::CheckNotExists,
    KvVerb::Delete,
    KvVerb::DeleteTree,
    KvVerb::DeleteCas,
];
/// KV verbs added after the golden transaction was pinned: each has its
/// own golden transaction (`txn_<verb>`), so the first keeps its bytes.
const LATER_KV_VERBS: [(&str, KvVerb); 1] = [("txn_get_or_empty", KvVerb::GetOrEmpty)];
const CATALOG_VERBS: [CatalogVerb; 5] = [
    CatalogVerb::Set,
    CatalogVerb::Cas,
    CatalogVerb::Get,
    CatalogVerb::Delete,
    CatalogVerb::DeleteCas,
];
const CATALOG_TARGETS: [CatalogTarget; 3] = [
    CatalogTarget::Node,
    CatalogTarget::Service,
    CatalogTarget::Check,
];

/// A transaction with a KV operation of every verb and a catalog operation
/// of every target with every verb.
fn txn_ops() -> Vec<TxnOp> {
    let mut ops: Vec<TxnOp> = (0u64..)
        .zip(KV_VERBS)
        .map(|(n, verb)| kv_op(verb, n))
        .collect();
    let mut n = 0;
    for target in CATALOG_TARGETS {
        for verb in CATALOG_VERBS {
            ops.push(catalog_op(target, verb, n));
            n += 1;
        }
    }
    ops
}

fn kv_set() -> Command {
    Command::KvSet {
        key: "config/app/feature".into(),
        value: b"on\x00\xff".to_vec().into(),
        flags: 0x2ddc_cbc0_58a5_0c18,
        cas: Some(17),
    }
}

/// One fully populated example per `Command` variant, named as in
/// `tests/golden/commands.hex`, plus the shape the leader's proposer
/// actually writes (`Timed { Batch [..] }`).
fn examples() -> Vec<(&'static str, Command)> {
    vec![
        ("kv_set", kv_set()),
        (
            "kv_delete",
            Command::KvDelete {
                key: "config/app/old".into(),
                cas: Some(23),
            },
        ),
        (
            "kv_delete_tree",
            Command::KvDeleteTree {
                prefix: "config/app/".into(),
            },
        ),
        (
            "node_health",
            Command::NodeHealth(NodeHealth {
                node: "node-1".into(),
                id: "0b6d1b3c-2f0e-4c4e-9d0a-6f6f1c2b3a4d".into(),
                address: "10.0.0.1".into(),
                datacenter: "dc1".into(),
                status: "critical".into(),
                output: "Agent not live or unreachable".into(),
            }),
        ),
        (
            "catalog_register",
            Command::CatalogRegister(register_request().into()),
        ),
        (
            "catalog_register_typed",
            Command::CatalogRegisterTyped {
                register: register_request().into(),
                types: BTreeMap::from([
                    ("check-a".to_owned(), "ttl".to_owned()),
                    ("check-b".to_owned(), "http".to_owned()),
                ]),
                service: service_extra(),
            },
        ),
        (
            "catalog_deregister",
            Command::CatalogDeregister(
                DeregisterRequest {
                    node: "node-1".into(),
                    datacenter: "dc1".into(),
                    service_id: "web-1".into(),
                    check_id: "check-a".into(),
                }
                .into(),
            ),
        ),
        (
            "event_fire",
            Command::EventFire(
                UserEvent {
                    id: "7c9e6679-7425-40de-944b-e07fc1f90ae7".into(),
                    name: "deploy".into(),
                    payload: Some("v1.2.3".into()),
                    node_filter: "web-.*".into(),
                    service_filter: "web".into(),
                    tag_filter: "canary".into(),
                    version: 1,
                    ltime: 99,
                }
                .into(),
            ),
        ),
        ("restore", Command::Restore(vec![4, 0, 1, 2, 0xff, 0x80])),
        (
            "restore_chunk",
            Command::RestoreChunk {
                id: 0x0123_4567_89ab_cdef,
                seq: 300,
                data: vec![9, 0, 0xff, 0x80].into(),
            },
        ),
        (
            "restore_commit",
            Command::RestoreCommit {
                id: 0x0123_4567_89ab_cdef,
                size: 1 << 33,
                crc32: 0xdead_beef,
            },
        ),
        ("restore_abort", Command::RestoreAbort { id: u64::MAX }),
        (
            "batch",
            Command::Batch(vec![
                kv_set(),
                Command::KvDelete {
                    key: "config/app/old".into(),
                    cas: None,
                },
            ]),
        ),
        (
            "session_create",
            Command::SessionCreate(Box::new(session_entry().into())),
        ),
        (
            "session_destroy",
            Command::SessionDestroy {
                id: "5f3c1e2a-8b7d-4c6e-a1f0-9e8d7c6b5a43".into(),
            },
        ),
        (
            "session_renew",
            Command::SessionRenew {
                id: "5f3c1e2a-8b7d-4c6e-a1f0-9e8d7c6b5a43".into(),
            },
        ),
        (
            "session_expire",
            Command::SessionExpire {
                id: "5f3c1e2a-8b7d-4c6e-a1f0-9e8d7c6b5a43".into(),
                renewed: 1_234_567,
            },
        ),
        (
            "kv_lock",
            Command::KvLock {
                key: "service/leader".into(),
                value: b"node-1".to_vec().into(),
                flags: 0x2ddc_cbc0_58a5_0c18,
                session: "5f3c1e2a-8b7d-4c6e-a1f0-9e8d7c6b5a43".into(),
            },
        ),
        (
            "kv_unlock",
            Command::KvUnlock {
                key: "service/leader".into(),
                value: b"released".to_vec().into(),
                flags: 7,
                session: "5f3c1e2a-8b7d-4c6e-a1f0-9e8d7c6b5a43".into(),
            },
        ),
        ("txn", Command::Txn(txn_ops())),
        (
            LATER_KV_VERBS[0].0,
            Command::Txn(vec![kv_op(LATER_KV_VERBS[0].1, 12)]),
        ),
        (
            "timed",
            Command::Timed {
                at_ms: 1_780_000_000_123,
                cmd: Box::new(kv_set()),
            },
        ),
        (
            "timed_batch",
            Command::Timed {
                at_ms: u64::MAX,
                cmd: Box::new(Command::Batch(vec![
                    Command::SessionRenew { id: "s".into() },
                    Command::Txn(vec![kv_op(KvVerb::Cas, 1)]),
                ])),
            },
        ),
        ("acl_token_set", acl_token_set()),
        (
            "acl_token_delete",
            Command::Acl(AclCommand::TokenDelete {
                accessor_id: "a1".into(),
            }),
        ),
        (
            "acl_policy_set",
            Command::Acl(AclCommand::PolicySet {
                policy: acl_policy(),
                create: true,
            }),
        ),
        (
            "acl_policy_delete",
            Command::Acl(AclCommand::PolicyDelete { id: "p1".into() }),
        ),
        (
            "acl_role_set",
            Command::Acl(AclCommand::RoleSet {
                role: acl_role(),
                create: false,
            }),
        ),
        (
            "acl_role_delete",
            Command::Acl(AclCommand::RoleDelete { id: "r1".into() }),
        ),
        (
            "acl_bootstrap",
            Command::Acl(AclCommand::Bootstrap { token: acl_token() }),
        ),
        (
            "acl_init",
            Command::Acl(AclCommand::Init {
                anonymous: acl_token(),
                management_policy: acl_policy(),
                initial_management: Some(acl_token()),
            }),
        ),
        (
            "autopilot_set_config",
            Command::AutopilotSetConfig {
                config: autopilot_config(),
                cas: Some(12),
            },
        ),
        (
            "prepared_query_create",
            Command::PreparedQuery(QueryCommand::Create(prepared_query())),
        ),
        (
            "prepared_query_update",
            Command::PreparedQuery(QueryCommand::Update(prepared_query())),
        ),
        (
            "prepared_query_delete",
            Command::PreparedQuery(QueryCommand::Delete {
                id: prepared_query().id,
            }),
        ),
        ("coordinate_batch_update", coordinate_batch()),
        // `TxnOp::CatalogTyped`, added after the golden transaction was
        // pinned: a transaction of its own, so the first keeps its bytes.
        (
            "txn_catalog_typed",
            Command::Txn(vec![
                catalog_typed_op(CatalogTarget::Service, "", 1),
                catalog_typed_op(CatalogTarget::Check, "ttl", 2),
            ]),
        ),
    ]
}

fn catalog_typed_op(target: CatalogTarget, check_type: &str, n: u64) -> TxnOp {
    TxnOp::CatalogTyped(
        Box::new(CatalogOp {
            target,
            verb: CatalogVerb::Set,
            node: format!("node-{n}"),
            id: format!("id-{n}"),
            register: register_request().into(),
            index: 300 + n,
        }),
        Box::new(CatalogExtra {
            service: service_extra(),
            check_type: check_type.into(),
        }),
    )
}

fn acl_token() -> AclToken {
    AclToken {
        accessor_id: "6a1253d2-1785-24fd-91c2-f8e78c745511".into(),
        secret_id: "45a3bd52-07c7-47a4-52fd-0745e0cfe967".into(),
        description: "app".into(),
        policies: vec!["p1".into()],
        roles: vec!["r1".into()],
        service_identities: vec![ServiceIdentity {
            service_name: "web".into(),
            datacenters: vec!["dc1".into()],
        }],
        node_identities: vec![NodeIdentity {
            node_name: "node-1".into(),
            datacenter: "dc1".into(),
        }],
        local: true,
        expiration_ms: Some(T0 + 3_600_000),
        create_ms: T0,
        hash: "aGFzaA==".into(),
        create_index: 7,
        modify_index: 9,
    }
}

fn acl_policy() -> AclPolicy {
    AclPolicy {
        id: "p1".into(),
        name: "app".into(),
        description: "reads config/app/".into(),
        rules: "key_prefix \"config/app/\" { policy = \"read\" }".into(),
        datacenters: vec!["dc1".into()],
        hash: "aGFzaA==".into(),
        create_index: 3,
        modify_index: 4,
    }
}

fn acl_role() -> AclRole {
    AclRole {
        id: "r1".into(),
        name: "apps".into(),
        description: "every app".into(),
        policies: vec!["p1".into()],
        service_identities: vec![ServiceIdentity {
            service_name: "api".into(),
            datacenters: Vec::new(),
        }],
        node_identities: Vec::new(),
        hash: "aGFzaA==".into(),
        create_index: 5,
        modify_index: 6,
    }
}

fn autopilot_config() -> AutopilotConfig {
    AutopilotConfig {
        cleanup_dead_servers: true,
        last_contact_threshold_ms: 200,
        max_trailing_logs: 250,
        min_quorum: 3,
        server_stabilization_time_ms: 10_000,
        redundancy_zone_tag: "zone".into(),
        disable_upgrade_migration: true,
        upgrade_version_tag: "build".into(),
        create_index: 11,
        modify_index: 12,
    }
}

fn prepared_query() -> PreparedQuery {
    PreparedQuery {
        id: "0b5f6a9e-3c2d-4e1f-8a7b-6c5d4e3f2a10".into(),
        name: "geo-db".into(),
        session: session_entry().id,
        token: "query-token".into(),
        service: ServiceQuery {
            service: "${match(1)}".into(),
            failover: Failover {
                nearest_n: 3,
                datacenters: vec!["dc2".into(), "dc3".into()],
                targets: vec![FailoverTarget {
                    peer: "peer-a".into(),
                    datacenter: "dc4".into(),
                }],
            },
            only_passing: true,
            near: "_agent".into(),
            tags: vec!["primary".into(), "!standby".into()],
            node_meta: meta("node"),
            service_meta: meta("svc"),
            ignore_check_ids: vec!["check-a".into()],
        },
        dns_ttl: "10s".into(),
        template: Some(QueryTemplate {
            kind: "name_prefix_match".into(),
            regexp: "^geo-db-(.*?)-([^-]+?)$".into(),
            remove_empty_tags: true,
        }),
        create_index: 51,
        modify_index: 52,
    }
}

fn acl_token_set() -> Command {
    Command::Acl(AclCommand::TokenSet {
        token: acl_token(),
        create: true,
    })
}

/// One example per variant with every field at its default (empty
/// strings, `None`, zero, `false`, empty lists): the values a
/// `skip_serializing_if` would skip, so adding one shows here too.
fn empty_examples() -> Vec<(&'static str, Command)> {
    let event = UserEvent {
        id: String::new(),
        name: String::new(),
        payload: None,
        node_filter: String::new(),
        service_filter: String::new(),
        tag_filter: String::new(),
        version: 0,
        ltime: 0,
    };
    let session = SessionEntry {
        id: String::new(),
        name: String::new(),
        node: String::new(),
        node_checks: None,
        service_checks: None,
        lock_delay: 0,
        behavior: String::new(),
        ttl: String::new(),
        create_index: 0,
        modify_index: 0,
    };
    let register = RegisterRequest {
        service: Some(ServiceDefinition::default()),
        checks: vec![CheckDefinition::default()],
        ..RegisterRequest::default()
    };
    let session_checks = SessionEntry {
        node_checks: Some(Vec::new()),
        service_checks: Some(vec![ServiceCheck {
            id: String::new(),
            namespace: String::new(),
        }]),
        ..session.clone()
    };
    vec![
        (
            "kv_set_empty",
            Command::KvSet {
                key: String::new(),
                value: Vec::new().into(),
                flags: 0,
                cas: None,
            },
        ),
        (
            "kv_delete_empty",
            Command::KvDelete {
                key: String::new(),
                cas: None,
            },
        ),
        (
            "kv_delete_tree_empty",
            Command::KvDeleteTree {
                prefix: String::new(),
            },
        ),
        (
            "node_health_empty",
            Command::NodeHealth(NodeHealth {
                node: String::new(),
                id: String::new(),
                address: String::new(),
                datacenter: String::new(),
                status: String::new(),
                output: String::new(),
            }),
        ),
        (
            "catalog_register_empty",
            Command::CatalogRegister(RegisterRequest::default().into()),
        ),
        (
            "catalog_register_typed_empty",
            Command::CatalogRegisterTyped {
                register: RegisterRequest::default().into(),
                types: BTreeMap::new(),
                service: ServiceExtra::default(),
            },
        ),
        // Empty nested service and check definitions, a service without weights.
        (
            "catalog_register_empty_nested",
            Command::CatalogRegister(register.into()),
        ),
        (
            "catalog_deregister_empty",
            Command::CatalogDeregister(DeregisterRequest::default().into()),
        ),
        ("event_fire_empty", Command::EventFire(event.into())),
        ("restore_empty", Command::Restore(Vec::new())),
        (
            "restore_chunk_empty",
            Command::RestoreChunk {
                id: 0,
                seq: 0,
                data: Vec::new().into(),
            },
        ),
        (
            "restore_commit_empty",
            Command::RestoreCommit {
                id: 0,
                size: 0,
                crc32: 0,
            },
        ),
        ("restore_abort_empty", Command::RestoreAbort { id: 0 }),
        ("batch_empty", Command::Batch(Vec::new())),
        (
            "session_create_empty",
            Command::SessionCreate(Box::new(session.into())),
        ),
        (
            "session_create_empty_checks",
            Command::SessionCreate(Box::new(session_checks.into())),
        ),
        (
            "session_destroy_empty",
            Command::SessionDestroy { id: String::new() },
        ),
        (
            "session_renew_empty",
            Command::SessionRenew { id: String::new() },
        ),
        (
            "session_expire_empty",
            Command::SessionExpire {
                id: String::new(),
                renewed: 0,
            },
        ),
        (
            "kv_lock_empty",
            Command::KvLock {
                key: String::new(),
                value: Vec::new().into(),
                flags: 0,
                session: String::new(),
            },
        ),
        (
            "kv_unlock_empty",
            Command::KvUnlock {
                key: String::new(),
                value: Vec::new().into(),
                flags: 0,
                session: String::new(),
            },
        ),
        ("txn_empty", Command::Txn(Vec::new())),
        (
            "txn_empty_ops",
            Command::Txn(vec![
                TxnOp::Kv(KvOp {
                    verb: KvVerb::Set,
                    key: String::new(),
                    value: Vec::new().into(),
                    flags: 0,
                    index: 0,
                    session: String::new(),
                }),
                TxnOp::Catalog(Box::new(CatalogOp {
                    target: CatalogTarget::Node,
                    verb: CatalogVerb::Set,
                    node: String::new(),
                    id: String::new(),
                    register: RegisterRequest::default().into(),
                    index: 0,
                })),
            ]),
        ),
        (
            "timed_empty",
            Command::Timed {
                at_ms: 0,
                cmd: Box::new(Command::KvDeleteTree {
                    prefix: String::new(),
                }),
            },
        ),
        (
            "acl_empty",
            Command::Acl(AclCommand::TokenSet {
                token: AclToken::default(),
                create: false,
            }),
        ),
        (
            "autopilot_set_config_empty",
            Command::AutopilotSetConfig {
                config: AutopilotConfig::default(),
                cas: None,
            },
        ),
        (
            "prepared_query_empty",
            Command::PreparedQuery(QueryCommand::Create(PreparedQuery::default())),
        ),
        (
            "coordinate_batch_update_empty",
            Command::CoordinateBatchUpdate(vec![NodeCoordinate::default()]),
        ),
    ]
}

/// A coordinate with every field set (seconds; negative components too).
fn coord_record(seed: f64) -> CoordRecord {
    CoordRecord {
        vec: (0..8).map(|i| Float(seed * f64::from(i) - 0.003)).collect(),
        error: Float(0.25 + seed),
        adjustment: Float(-0.000_125),
        height: Float(0.000_5 + seed),
    }
}

/// A batch of coordinate updates for the golden store's two nodes.
fn coordinate_batch() -> Command {
    Command::CoordinateBatchUpdate(vec![
        NodeCoordinate {
            node: "node-1".into(),
            segment: String::new(),
            coord: coord_record(0.001),
        },
        NodeCoordinate {
            node: "node-2".into(),
            segment: "alpha".into(),
            coord: coord_record(0.002),
        },
    ])
}

/// Every golden example: fully populated, then at defaults.
fn all_examples() -> Vec<(&'static str, Command)> {
    let mut all = examples();
    all.extend(empty_examples());
    all
}

/// The golden name of a command's variant.
///
/// This match has no `_` arm ON PURPOSE: adding a variant to `Command`
/// stops this file compiling until it is named here — and then
/// `every_command_variant_has_a_golden_example` fails until `examples()`
/// has a fully populated example of it and `tests/golden/commands.hex` its
/// bytes. A new variant goes at the END of `Command` (its position is its
/// tag on disk).
fn variant_name(cmd: &Command) -> &'static str {
    match cmd {
        Command::KvSet { .. } => "kv_set",
        Command::KvDelete { .. } => "kv_delete",
        Command::KvDeleteTree { .. } => "kv_delete_tree",
        Command::NodeHealth(_) => "node_health",
        Command::CatalogRegister(_) => "catalog_register",
        Command::CatalogRegisterTyped { .. } => "catalog_register_typed",
        Command::CatalogDeregister(_) => "catalog_deregister",
        Command::EventFire(_) => "event_fire",
        Command::Restore(_) => "restore",
        Command::Batch(_) => "batch",
        Command::SessionCreate(_) => "session_create",
        Command::SessionDestroy { .. } => "session_destroy",
        Command::SessionRenew { .. } => "session_renew",
        Command::SessionExpire { .. } => "session_expire",
        Command::KvLock { .. } => "kv_lock",
        Command::KvUnlock { .. } => "kv_unlock",
        Command::Txn(_) => "txn",
        Command::Timed { .. } => "timed",
        Command::Acl(_) => "acl",
        Command::AutopilotSetConfig { .. } => "autopilot_set_config",
        Command::RestoreChunk { .. } => "restore_chunk",
        Command::RestoreCommit { .. } => "restore_commit",
        Command::RestoreAbort { .. } => "restore_abort",
        Command::PreparedQuery(_) => "prepared_query",
        Command::CoordinateBatchUpdate(_) => "coordinate_batch_update",
    }
}

/// Exhaustive on purpose (no `_` arm), as `variant_name`: a new verb must
/// be added to `KV_VERBS` so the golden transaction carries it.
fn kv_verb_name(verb: KvVerb) -> &'static str {
    match verb {
        KvVerb::Set => "set",
        KvVerb::Cas => "cas",
        KvVerb::Lock => "lock",
        KvVerb::Unlock => "unlock",
        KvVerb::Get => "get",
        KvVerb::GetTree => "get-tree",
        KvVerb::CheckIndex => "check-index",
        KvVerb::CheckSession => "check-session",
        KvVerb::CheckNotExists => "check-not-exists",
        KvVerb::Delete => "delete",
        KvVerb::DeleteTree => "delete-tree",
        KvVerb::DeleteCas => "delete-cas",
        KvVerb::GetOrEmpty => "get-or-empty",
    }
}

/// Exhaustive on purpose, as `kv_verb_name`.
fn txn_op_kind(op: &TxnOp) -> (&'static str, Option<(CatalogTarget, CatalogVerb)>) {
    match op {
        TxnOp::Kv(kv) => (kv_verb_name(kv.verb), None),
        TxnOp::Catalog(c) | TxnOp::CatalogTyped(c, _) => {
            let target = match c.target {
                CatalogTarget::Node => "node",
                CatalogTarget::Service => "service",
                CatalogTarget::Check => "check",
            };
            let verb = match c.verb {
                CatalogVerb::Set
                | CatalogVerb::Cas
                | CatalogVerb::Get
                | CatalogVerb::Delete
                | CatalogVerb::DeleteCas => c.verb,
            };
            (target, Some((c.target, verb)))
        }
    }
}

/// How many variants a postcard-encoded enum has, found by decoding each
/// tag alone: a known tag decodes (a unit variant) or runs out of bytes (a
/// variant with data), an unknown one is refused as a bad variant.
/// Independent of the source, so a variant added anywhere is counted.
fn variant_count<T: serde::de::DeserializeOwned>() -> u32 {
    (0u32..1_000)
        .find(|&tag| {
            let bytes = postcard::to_stdvec(&tag).expect("a u32 encodes");
            !matches!(
                postcard::from_bytes::<T>(&bytes),
                Ok(_) | Err(postcard::Error::DeserializeUnexpectedEnd)
            )
        })
        .expect("fewer than 1000 variants")
}

// ------------------------------------------------------ command tests

const COMMANDS_GOLDEN: &str = include_str!("../golden/commands.hex");

#[test]
fn every_command_encodes_to_its_golden_bytes() {
    let golden = golden_blocks(COMMANDS_GOLDEN);
    let mut failures = Vec::new();
    for (name, cmd) in all_examples() {
        let bytes = encode(&cmd);
        match golden.get(name) {
            Some(expected) if *expected == bytes => {}
            Some(expected) => failures.push(format!(
                "`Command` example {name:?} no longer encodes to its golden bytes.\n\
                 expected: {}\n     got: {}\nnew block:\n[{name}]\n{}",
                hex(expected),
                hex(&bytes),
                hex_lines(&bytes)
            )),
            None => failures.push(format!(
                "`Command` example {name:?} has no golden bytes in tests/golden/commands.hex; \
                 add:\n[{name}]\n{}",
                hex_lines(&bytes)
            )),
        }
    }
    let names: BTreeSet<&str> = all_examples().iter().map(|(n, _)| *n).collect();
    for stale in golden.keys().filter(|k| !names.contains(k.as_str())) {
        failures.push(format!(
            "tests/golden/commands.hex has {stale:?} but no example builds it: \
             an example was removed or renamed (old log entries of that shape must \
             still decode)"
        ));
    }
    assert!(
        failures.is_empty(),
        "{FORMAT_CHANGED}\n\n{}",
        failures.join("\n\n")
    );
}

#[test]
fn golden_command_bytes_decode_to_their_examples() {
    let golden = golden_blocks(COMMANDS_GOLDEN);
    for (name, cmd) in all_examples() {
        let Some(bytes) = golden.get(name) else {
            continue; // reported by every_command_encodes_to_its_golden_bytes
        };
        match decode(bytes) {
            Ok(back) => assert_eq!(
                back, cmd,
                "{FORMAT_CHANGED}\n\nthe golden bytes of {name:?} decode to something else"
            ),
            Err(e) => {
                panic!("{FORMAT_CHANGED}\n\nthe golden bytes of {name:?} no longer decode: {e}")
            }
        }
    }
}

/// The variant tag a command's encoding starts with.
fn tag(cmd: &Command) -> u32 {
    postcard::take_from_bytes::<u32>(&encode(cmd))
        .expect("an encoding starts with its tag")
        .0
}

#[test]
fn every_command_variant_has_a_golden_example() {
    let count = variant_count::<Command>();
    for (set, examples, suffix) in [
        ("examples()", examples(), ""),
        ("empty_examples()", empty_examples(), "_empty"),
    ] {
        // Each example is named for its variant (extra shapes add a suffix).
        for (name, cmd) in &examples {
            let variant = format!("{}{suffix}", variant_name(cmd));
            assert!(
                name.starts_with(&variant),
                "example {name:?} in {set} is a {variant:?}"
            );
        }
        // The tags the examples start with cover every variant `Command` has.
        let covered: BTreeSet<u32> = examples.iter().map(|(_, c)| tag(c)).collect();
        let missing: Vec<u32> = (0..count).filter(|t| !covered.contains(t)).collect();
        assert!(
            missing.is_empty(),
            "`Command` has {count} variants but variant tag(s) {missing:?} have no golden \
             example in {set}: add one (fully populated in `examples()`, all defaults in \
             `empty_examples()`) in crates/store/tests/store/format.rs and its bytes to \
             crates/store/tests/golden/commands.hex (new variants go at the END of the enum)"
        );
    }
    // Batch and Timed wrap other commands in the examples.
    let examples = examples();
    assert!(examples
        .iter()
        .any(|(_, c)| matches!(c, Command::Batch(v) if v.len() > 1)));
    assert!(examples.iter().any(
        |(_, c)| matches!(c, Command::Timed { cmd, .. } if matches!(**cmd, Command::Batch(_)))
    ));
}

#[test]
fn the_golden_transaction_has_an_operation_of_every_kind() {
    assert_eq!(
        variant_count::<TxnOp>(),
        3,
        "a `TxnOp` kind was added: give the golden transaction one of each"
    );
    assert!(examples().iter().any(|(n, c)| *n == "txn_catalog_typed"
        && matches!(c, Command::Txn(ops)
            if ops.iter().all(|op| matches!(op, TxnOp::CatalogTyped(..))))));
    assert_eq!(
        variant_count::<KvVerb>() as usize,
        KV_VERBS.len() + LATER_KV_VERBS.len()
    );
    let examples = examples();
    for (name, verb) in LATER_KV_VERBS {
        let carried = examples.iter().any(|(n, c)| {
            *n == name
                && matches!(c, Command::Txn(ops)
                    if ops.iter().any(|op| txn_op_kind(op) == (kv_verb_name(verb), None)))
        });
        assert!(carried, "{name} carries a {verb:?} operation");
    }
    assert_eq!(variant_count::<CatalogVerb>() as usize, CATALOG_VERBS.len());
    assert_eq!(
        variant_count::<CatalogTarget>() as usize,
        CATALOG_TARGETS.len()
    );
    let ops = txn_ops();
    let kinds: Vec<_> = ops.iter().map(txn_op_kind).collect();
    for verb in KV_VERBS {
        assert!(kinds.contains(&(kv_verb_name(verb), None)), "{verb:?}");
    }
    for target in CATALOG_TARGETS {
        for verb in CATALOG_VERBS {
            assert!(
                kinds.iter().any(|(_, c)| *c == Some((target, verb))),
                "{target:?} {verb:?}"
            );
        }
    }
}

// ------------------------------------------------------ snapshot tests

const SNAPSHOT_GOLDEN: &str = include_str!("../golden/snapshot_v9.hex");

/// The snapshot format version the golden bytes are of (the first byte of
/// every snapshot, `FORMAT_VERSION` in crates/store/src/snapshot.rs).
const SNAPSHOT_VERSION: u8 = 9;

/// `populated_store_v8` in format 8, as the previous build wrote it
/// (frozen: never regenerate it).
const SNAPSHOT_V8_GOLDEN: &str = include_str!("../golden/snapshot_v8.hex");

/// `populated_store_v7` in format 7, as the previous build wrote it
/// (frozen: never regenerate it).
const SNAPSHOT_V7_GOLDEN: &str = include_str!("../golden/snapshot_v7.hex");

/// `populated_store_v6` in format 6, as the previous release wrote it
/// (frozen: never regenerate it).
const SNAPSHOT_V6_GOLDEN: &str = include_str!("../golden/snapshot_v6.hex");

/// `populated_store` in format 5, as the previous release wrote it (frozen:
/// never regenerate it).
const SNAPSHOT_V5_GOLDEN: &str = include_str!("../golden/snapshot_v5.hex");

/// The same store in format 4, as the previous release wrote it (frozen:
/// never regenerate it).
const SNAPSHOT_V4_GOLDEN: &str = include_str!("../golden/snapshot_v4.hex");

const T0: u64 = 1_780_000_000_000;

fn timed(at_ms: u64, cmd: Command) -> Command {
    Command::Timed {
        at_ms,
        cmd: Box::new(cmd),
    }
}

/// A small store with something in every table: KV with a history that
/// has dropped its oldest changes, a deleted key's tombstone, a catalog with nodes, services
/// and checks, a live session holding a lock, a lock-delay left by a
/// destroyed one, and events.
fn populated_store() -> Store {
    let mut register = register_request();
    register.skip_node_update = false;
    let cmds = vec![
        Command::CatalogRegister(register.into()),
        Command::NodeHealth(NodeHealth {
            node: "node-2".into(),
            id: "9a1b2c3d-0000-4000-8000-000000000002".into(),
            address: "10.0.0.2".into(),
            datacenter: "dc1".into(),
            status: "passing".into(),
            output: "Agent alive and reachable".into(),
        }),
        Command::KvSet {
            key: "config/app/feature".into(),
            value: b"on\x00\xff".to_vec().into(),
            flags: 0x2ddc_cbc0_58a5_0c18,
            cas: Some(0),
        },
        Command::KvSet {
            key: "config/app/feature".into(),
            value: b"off".to_vec().into(),
            flags: 1,
            cas: None,
        },
        Command::KvSet {
            key: "gone".into(),
            value: b"x".to_vec().into(),
            flags: 0,
            cas: None,
        },
        Command::KvDelete {
            key: "gone".into(),
            cas: None,
        },
        timed(
            T0,
            Command::SessionCreate(Box::new(
                SessionEntry {
                    id: "holder".into(),
                    node_checks: Some(vec!["check-a".into()]),
                    service_checks: None,
                    behavior: "release".into(),
                    ..session_entry()
                }
                .into(),
            )),
        ),
        timed(
            T0 + 1,
            Command::SessionCreate(Box::new(
                SessionEntry {
                    id: "live".into(),
                    node_checks: None,
                    service_checks: None,
                    ..session_entry()
                }
                .into(),
            )),
        ),
        timed(
            T0 + 2,
            Command::KvLock {
                key: "service/leader".into(),
                value: b"holder".to_vec().into(),
                flags: 3,
                session: "holder".into(),
            },
        ),
        timed(
            T0 + 3,
            Command::KvLock {
                key: "service/other".into(),
                value: b"live".to_vec().into(),
                flags: 4,
                session: "live".into(),
            },
        ),
        timed(
            T0 + 4,
            Command::SessionDestroy {
                id: "holder".into(),
            },
        ),
        Command::EventFire(
            UserEvent {
                id: "7c9e6679-7425-40de-944b-e07fc1f90ae7".into(),
                name: "deploy".into(),
                payload: Some("v1.2.3".into()),
                node_filter: String::new(),
                service_filter: String::new(),
                tag_filter: String::new(),
                version: 1,
                ltime: 0,
            }
            .into(),
        ),
        Command::EventFire(
            UserEvent {
                id: "1d2e3f40-0000-4000-8000-000000000001".into(),
                name: "restart".into(),
                payload: None,
                node_filter: String::new(),
                service_filter: String::new(),
                tag_filter: String::new(),
                version: 1,
                ltime: 0,
            }
            .into(),
        ),
    ];
    // A short history, so the first KV changes leave it.
    let mut store = Store::new(4);
    for (index, cmd) in (10u64..).zip(&cmds) {
        let answer = store.apply(index, cmd);
        assert!(
            answer.ok(),
            "setting up the golden store: {cmd:?} → {answer:?}"
        );
    }
    store
}

/// `populated_store` with something in every ACL table too: the
/// built-ins, a policy, a role and a token using both (format 6).
fn populated_store_v6() -> Store {
    let mut store = populated_store();
    let mut anonymous = acl_token();
    anonymous.accessor_id = praetor_store::acl::ANONYMOUS_TOKEN_ID.into();
    anonymous.secret_id = "anonymous".into();
    anonymous.policies.clear();
    anonymous.roles.clear();
    let mut management = acl_policy();
    management.id = praetor_store::acl::GLOBAL_MANAGEMENT_ID.into();
    management.name = "global-management".into();
    let cmds = [
        Command::Acl(AclCommand::Init {
            anonymous,
            management_policy: management,
            initial_management: None,
        }),
        Command::Acl(AclCommand::PolicySet {
            policy: acl_policy(),
            create: true,
        }),
        Command::Acl(AclCommand::RoleSet {
            role: acl_role(),
            create: true,
        }),
        acl_token_set(),
    ];
    let first = store.last_index() + 1;
    for (index, cmd) in (first..).zip(&cmds) {
        let answer = store.apply(index, cmd);
        assert!(
            answer.ok(),
            "setting up the golden store: {cmd:?} → {answer:?}"
        );
    }
    store
}

/// `populated_store_v6` with a stored autopilot configuration (format 7).
fn populated_store_v7() -> Store {
    let mut store = populated_store_v6();
    let index = store.last_index() + 1;
    let answer = store.apply(
        index,
        &Command::AutopilotSetConfig {
            config: autopilot_config(),
            cas: Some(0),
        },
    );
    assert!(answer.ok(), "setting up the golden store: {answer:?}");
    store
}

/// `populated_store_v7` whose service has a kind, tagged addresses, a
/// proxy and a locality (format 8).
fn populated_store_v8() -> Store {
    let mut store = populated_store_v7();
    let index = store.last_index() + 1;
    let cmd = Command::catalog_register(register_request(), BTreeMap::new());
    assert!(matches!(cmd, Command::CatalogRegisterTyped { .. }));
    let answer = store.apply(index, &cmd);
    assert!(answer.ok(), "setting up the golden store: {answer:?}");
    store
}

/// `populated_store_v8` with a prepared query template bound to the live
/// session, an unnamed static query, coordinates for both nodes, and a
/// snapshot restore staged in pieces (format 9; the staging is in the
/// snapshot, never in the state).
fn populated_store_v9() -> Store {
    let mut store = populated_store_v8();
    let live = store.sessions().list().1[0].id.clone();
    for q in [
        PreparedQuery {
            session: live,
            ..prepared_query()
        },
        PreparedQuery {
            id: "7d1c2b3a-4e5f-4a6b-9c8d-0e1f2a3b4c5d".into(),
            service: ServiceQuery {
                service: "web".into(),
                ..ServiceQuery::default()
            },
            ..PreparedQuery::default()
        },
    ] {
        let index = store.last_index() + 1;
        let answer = store.apply(index, &Command::PreparedQuery(QueryCommand::Create(q)));
        assert!(answer.ok(), "setting up the golden store: {answer:?}");
    }
    let index = store.last_index() + 1;
    let answer = store.apply(index, &coordinate_batch());
    assert!(answer.ok(), "setting up the golden store: {answer:?}");
    let index = store.last_index() + 1;
    let piece = Command::RestoreChunk {
        id: 77,
        seq: 0,
        data: b"staged piece".to_vec().into(),
    };
    let answer = store.apply(index, &piece);
    assert!(answer.ok(), "setting up the golden store: {answer:?}");
    store
}

/// The changes the history keeps, and the index it is complete from.
fn kept_history(store: &Store) -> (u64, Vec<Change>) {
    let from = match store.history().since("", 0, 0) {
        Ok(_) => 0,
        Err(HistoryError::Compacted { oldest, .. }) => oldest,
    };
    let kept = store.history().since("", from, usize::MAX);
    (
        from,
        kept.expect("complete from `from`")
            .into_iter()
            .cloned()
            .collect(),
    )
}

/// What a reader sees of a store, to compare a decoded one with.
fn observable(store: &Store) -> String {
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        store.last_index(),
        store.clock_ms(),
        store.restored_at(),
        store.kv().list("").collect::<Vec<_>>(),
        kept_history(store),
        store.catalog().nodes(),
        store.catalog().services(),
        store.catalog().service_nodes("web", None),
        store.catalog().checks_in_state("any"),
        store.sessions().list(),
        store.sessions().lock_delay("service/leader"),
        store.events().list(None),
    ) + &format!(
        "\n{:?}\n{:?}\n{:?}\n{:?}",
        store.acl().tokens().collect::<Vec<_>>(),
        store.acl().policies().collect::<Vec<_>>(),
        store.acl().roles().collect::<Vec<_>>(),
        (store.acl().index(), store.acl().bootstrapped()),
    ) + &format!("\n{:?}\n{:?}", store.autopilot(), store.queries())
        + &format!(
            "\n{:?} {:?}",
            store.coordinates().list(),
            store.coordinates().index()
        )
}

#[test]
fn the_golden_store_has_something_in_every_table() {
    let store = populated_store_v9();
    assert_eq!(store.queries().len(), 2);
    assert_eq!(
        store
            .queries()
            .resolve("geo-db-x-y")
            .map(|q| q.name.as_str()),
        Some("geo-db")
    );
    assert_eq!(store.coordinates().len(), 2);
    let (_, web) = store.catalog().service_nodes("web", None);
    assert_eq!(web[0].service_kind, "connect-proxy");
    assert_eq!(web[0].service_tagged_addresses.len(), 2);
    assert_eq!(
        web[0].service_proxy.field("DestinationServiceName"),
        "web-backend"
    );
    assert!(web[0].service_locality.is_some());
    assert_eq!(store.catalog().nodes().1.len(), 2);
    assert_eq!(store.catalog().services().1.len(), 1);
    assert_eq!(store.catalog().checks_in_state("any").1.len(), 4);
    assert_eq!(store.sessions().len(), 1, "one live session, one destroyed");
    assert_eq!(
        store
            .sessions()
            .lock_delay("service/leader")
            .map(|d| d.delay_ms),
        Some(15_000),
        "the destroyed session left its lock-delay"
    );
    assert!(store
        .kv()
        .get("service/other")
        .and_then(|e| e.session.clone())
        .is_some());
    assert_eq!(store.events().list(None).1.len(), 2);
    assert_eq!(store.acl().tokens().count(), 2);
    assert_eq!(store.acl().policies().count(), 2);
    assert_eq!(store.acl().roles().count(), 1);
    assert_eq!(store.autopilot().config().map(|c| c.min_quorum), Some(3));
    let (from, kept) = kept_history(&store);
    assert!(from > 0, "the oldest KV changes left the history");
    assert_eq!(kept.len(), 4);
}

#[test]
fn a_populated_store_snapshot_encodes_to_its_golden_bytes() {
    let golden = golden_blocks(SNAPSHOT_GOLDEN);
    let store = populated_store_v9();
    for (name, bytes) in [
        ("snapshot", store.encode_snapshot().expect("encodes")),
        ("state", store.encode_state().expect("encodes")),
    ] {
        assert_eq!(
            bytes[0], SNAPSHOT_VERSION,
            "{FORMAT_CHANGED}\n\nthe snapshot format version is no longer {SNAPSHOT_VERSION}"
        );
        let expected = golden.get(name).map(Vec::as_slice).unwrap_or_default();
        assert!(
            expected == bytes.as_slice(),
            "{FORMAT_CHANGED}\n\nthe golden store's {name:?} encoding changed.\n\
             expected: {}\n     got: {}\nnew block:\n[{name}]\n{}",
            hex(expected),
            hex(&bytes),
            hex_lines(&bytes)
        );
    }
}

#[test]
fn the_golden_snapshot_decodes_to_the_same_store() {
    let golden = golden_blocks(SNAPSHOT_GOLDEN);
    let store = populated_store_v9();
    let bytes = golden
        .get("snapshot")
        .expect("tests/golden/snapshot_v9.hex has [snapshot]");
    let back = Store::decode_snapshot(bytes).unwrap_or_else(|e| {
        panic!("{FORMAT_CHANGED}\n\nthe golden snapshot no longer decodes: {e}")
    });
    assert_eq!(observable(&back), observable(&store));
    // Decoding loses nothing: it encodes back to the same bytes.
    assert_eq!(
        back.encode_snapshot().expect("encodes"),
        *bytes,
        "a decoded snapshot encodes differently"
    );

    // The restore body decodes to the same tables, its history empty.
    let state = golden
        .get("state")
        .expect("tests/golden/snapshot_v9.hex has [state]");
    let restored = Store::decode_snapshot(state)
        .unwrap_or_else(|e| panic!("{FORMAT_CHANGED}\n\nthe golden state no longer decodes: {e}"));
    assert_same_tables(&restored, &store);
    assert!(restored.history().is_empty());
    assert_eq!(restored.encode_state().expect("encodes"), *state);
}

fn assert_same_tables(got: &Store, want: &Store) {
    assert_eq!(
        format!("{:?}", got.kv().list("").collect::<Vec<_>>()),
        format!("{:?}", want.kv().list("").collect::<Vec<_>>())
    );
    assert_eq!(got.sessions().list(), want.sessions().list());
    assert_eq!(
        got.sessions().lock_delay("service/leader"),
        want.sessions().lock_delay("service/leader")
    );
    assert_eq!(got.catalog().nodes(), want.catalog().nodes());
    assert_eq!(
        got.catalog().checks_in_state("any"),
        want.catalog().checks_in_state("any")
    );
    assert_eq!(got.catalog().services(), want.catalog().services());
    assert_eq!(got.events().list(None), want.events().list(None));
    assert_eq!(
        got.acl().tokens().collect::<Vec<_>>(),
        want.acl().tokens().collect::<Vec<_>>()
    );
    assert_eq!(
        got.acl().policies().collect::<Vec<_>>(),
        want.acl().policies().collect::<Vec<_>>()
    );
    assert_eq!(
        got.acl().roles().collect::<Vec<_>>(),
        want.acl().roles().collect::<Vec<_>>()
    );
    assert_eq!(got.autopilot(), want.autopilot());
    assert_eq!(got.queries(), want.queries());
    assert_eq!(got.coordinates(), want.coordinates());
    assert_eq!(
        (got.last_index(), got.clock_ms(), got.restored_at()),
        (want.last_index(), want.clock_ms(), want.restored_at())
    );
}

/// Format 8 (the previous build's snapshots and `Restore` bodies) still
/// decodes, to the same store with no prepared queries, no coordinates
/// and no restore staged, and is written back in today's format with
/// nothing lost.
#[test]
fn a_version_8_snapshot_decodes_to_the_same_store_and_upgrades_losslessly() {
    let store = populated_store_v8();
    let old = golden_blocks(SNAPSHOT_V8_GOLDEN);
    assert_eq!(old["snapshot"][0], 8, "snapshot_v8.hex is format 8");
    let back = Store::decode_snapshot(&old["snapshot"]).unwrap_or_else(|e| {
        panic!("{FORMAT_CHANGED}\n\nthe format 8 golden snapshot no longer decodes: {e}")
    });
    assert_eq!(observable(&back), observable(&store));
    assert_eq!(back.restore_staged_bytes(), 0);
    assert!(back.queries().is_empty());
    assert!(back.coordinates().is_empty());
    assert_eq!(
        back.encode_snapshot().expect("encodes"),
        store.encode_snapshot().expect("encodes")
    );
    let restored = Store::decode_snapshot(&old["state"]).unwrap_or_else(|e| {
        panic!("{FORMAT_CHANGED}\n\nthe format 8 golden state no longer decodes: {e}")
    });
    assert_same_tables(&restored, &store);
    assert!(restored.history().is_empty());
}

/// Format 7 (an earlier build's snapshots and `Restore` bodies) still
/// decodes, to the same store with no service extras, and is written back
/// in today's format with nothing lost.
#[test]
fn a_version_7_snapshot_decodes_to_the_same_store_and_upgrades_losslessly() {
    let store = populated_store_v7();
    let old = golden_blocks(SNAPSHOT_V7_GOLDEN);
    assert_eq!(old["snapshot"][0], 7, "snapshot_v7.hex is format 7");
    let back = Store::decode_snapshot(&old["snapshot"]).unwrap_or_else(|e| {
        panic!("{FORMAT_CHANGED}\n\nthe format 7 golden snapshot no longer decodes: {e}")
    });
    assert_eq!(observable(&back), observable(&store));
    let (_, web) = back.catalog().service_nodes("web", None);
    assert_eq!(web[0].service_kind, "");
    assert!(web[0].service_proxy.is_empty());
    assert_eq!(
        back.encode_snapshot().expect("encodes"),
        store.encode_snapshot().expect("encodes")
    );
    let restored = Store::decode_snapshot(&old["state"]).unwrap_or_else(|e| {
        panic!("{FORMAT_CHANGED}\n\nthe format 7 golden state no longer decodes: {e}")
    });
    assert_same_tables(&restored, &store);
    assert!(restored.history().is_empty());
}

/// Format 6 (the previous release's snapshots and `Restore` bodies) still
/// decodes, to the same store with no autopilot configuration, and is
/// written back in today's format with nothing lost.
#[test]
fn a_version_6_snapshot_decodes_to_the_same_store_and_upgrades_losslessly() {
    let store = populated_store_v6();
    let old = golden_blocks(SNAPSHOT_V6_GOLDEN);
    assert_eq!(old["snapshot"][0], 6, "snapshot_v6.hex is format 6");
    let back = Store::decode_snapshot(&old["snapshot"]).unwrap_or_else(|e| {
        panic!("{FORMAT_CHANGED}\n\nthe format 6 golden snapshot no longer decodes: {e}")
    });
    assert_eq!(observable(&back), observable(&store));
    assert_eq!(back.autopilot().config(), None);
    assert_eq!(
        back.encode_snapshot().expect("encodes"),
        store.encode_snapshot().expect("encodes")
    );
    let restored = Store::decode_snapshot(&old["state"]).unwrap_or_else(|e| {
        panic!("{FORMAT_CHANGED}\n\nthe format 6 golden state no longer decodes: {e}")
    });
    assert_same_tables(&restored, &store);
    assert!(restored.history().is_empty());
}

/// Formats 4 and 5 (earlier releases' snapshots and `Restore` bodies in
/// their logs) still decode, to the same store with empty ACL tables, and
/// are written back in today's format with nothing lost.
#[test]
fn version_4_and_5_snapshots_decode_to_the_same_store_and_upgrade_losslessly() {
    let store = populated_store();
    for (version, golden) in [(4, SNAPSHOT_V4_GOLDEN), (5, SNAPSHOT_V5_GOLDEN)] {
        let old = golden_blocks(golden);
        assert_eq!(
            old["snapshot"][0], version,
            "the golden file is format {version}"
        );

        let back = Store::decode_snapshot(&old["snapshot"]).unwrap_or_else(|e| {
            panic!(
                "{FORMAT_CHANGED}\n\nthe format {version} golden snapshot no longer decodes: {e}"
            )
        });
        assert_eq!(observable(&back), observable(&store));
        assert_eq!(
            back.encode_snapshot().expect("encodes"),
            store.encode_snapshot().expect("encodes")
        );

        let restored = Store::decode_snapshot(&old["state"]).unwrap_or_else(|e| {
            panic!("{FORMAT_CHANGED}\n\nthe format {version} golden state no longer decodes: {e}")
        });
        assert_same_tables(&restored, &store);
        assert!(restored.history().is_empty());
        assert_eq!(
            restored.encode_state().expect("encodes"),
            store.encode_state().expect("encodes")
        );
    }
}

// ------------------------------------------------------ properties

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z0-9/._-]{1,12}", any::<String>()]
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..24)
}

fn texts() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(text(), 0..3)
}

fn map() -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(text(), text(), 0..3)
}

fn arb_check() -> impl Strategy<Value = CheckDefinition> {
    (text(), text(), text(), text(), text(), text(), text()).prop_map(
        |(node, check_id, name, notes, status, output, service_id)| CheckDefinition {
            node,
            check_id,
            name,
            notes,
            status,
            output,
            service_id,
        },
    )
}

fn arb_service() -> impl Strategy<Value = ServiceDefinition> {
    (
        (text(), text(), texts(), text(), map()),
        any::<u16>(),
        proptest::option::of((any::<u32>(), any::<u32>())),
        any::<bool>(),
        (
            text(),
            map(),
            text(),
            proptest::option::of((text(), text())),
        ),
    )
        .prop_map(
            |(
                (id, service, tags, address, meta),
                port,
                weights,
                enable_tag_override,
                (kind, tagged, proxy, locality),
            )| ServiceDefinition {
                id,
                service,
                tags,
                address,
                meta,
                port,
                weights: weights.map(|(passing, warning)| Weights { passing, warning }),
                enable_tag_override,
                kind,
                tagged_addresses: tagged
                    .into_iter()
                    .map(|(k, address)| (k, ServiceAddress { address, port }))
                    .collect(),
                proxy: ServiceProxy::from_text(proxy),
                locality: locality.map(|(region, zone)| Locality { region, zone }),
            },
        )
}

fn arb_register() -> impl Strategy<Value = RegisterRequest> {
    (
        (text(), text(), text(), text(), map(), map()),
        proptest::option::of(arb_service()),
        proptest::option::of(arb_check()),
        proptest::collection::vec(arb_check(), 0..2),
        any::<bool>(),
    )
        .prop_map(
            |(
                (id, node, address, datacenter, tagged_addresses, node_meta),
                service,
                check,
                checks,
                skip_node_update,
            )| RegisterRequest {
                id,
                node,
                address,
                datacenter,
                tagged_addresses,
                node_meta,
                service,
                check,
                checks,
                skip_node_update,
            },
        )
}

fn arb_session() -> impl Strategy<Value = SessionEntry> {
    (
        (text(), text(), text()),
        proptest::option::of(texts()),
        proptest::option::of(proptest::collection::vec(
            (text(), text()).prop_map(|(id, namespace)| ServiceCheck { id, namespace }),
            0..2,
        )),
        (any::<u64>(), text(), text(), any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |(
                (id, name, node),
                node_checks,
                service_checks,
                (lock_delay, behavior, ttl, create_index, modify_index),
            )| SessionEntry {
                id,
                name,
                node,
                node_checks,
                service_checks,
                lock_delay,
                behavior,
                ttl,
                create_index,
                modify_index,
            },
        )
}

fn arb_event() -> impl Strategy<Value = UserEvent> {
    (
        (text(), text(), proptest::option::of(text())),
        (text(), text(), text()),
        any::<u32>(),
        any::<u64>(),
    )
        .prop_map(
            |((id, name, payload), (node_filter, service_filter, tag_filter), version, ltime)| {
                UserEvent {
                    id,
                    name,
                    payload,
                    node_filter,
                    service_filter,
                    tag_filter,
                    version,
                    ltime,
                }
            },
        )
}

fn arb_txn_op() -> impl Strategy<Value = TxnOp> {
    let kv = (
        proptest::sample::select(KV_VERBS.to_vec()),
        text(),
        bytes(),
        any::<u64>(),
        any::<u64>(),
        text(),
    )
        .prop_map(|(verb, key, value, flags, index, session)| {
            TxnOp::Kv(KvOp {
                verb,
                key,
                value: value.into(),
                flags,
                index,
                session,
            })
        });
    let catalog = (
        proptest::sample::select(CATALOG_TARGETS.to_vec()),
        proptest::sample::select(CATALOG_VERBS.to_vec()),
        text(),
        text(),
        arb_register(),
        any::<u64>(),
    )
        .prop_map(|(target, verb, node, id, register, index)| {
            let extra = CatalogExtra {
                service: register
                    .service
                    .as_ref()
                    .map(ServiceExtra::of)
                    .unwrap_or_default(),
                check_type: id.clone(),
            };
            let op = CatalogOp {
                target,
                verb,
                node,
                id,
                register: register.into(),
                index,
            };
            if index % 2 == 0 {
                TxnOp::Catalog(Box::new(op))
            } else {
                TxnOp::CatalogTyped(Box::new(op), Box::new(extra))
            }
        });
    prop_oneof![kv, catalog]
}

/// A command that holds no other command.
fn arb_leaf() -> impl Strategy<Value = Command> {
    prop_oneof![
        (
            text(),
            bytes(),
            any::<u64>(),
            proptest::option::of(any::<u64>())
        )
            .prop_map(|(key, value, flags, cas)| Command::KvSet {
                key,
                value: value.into(),
                flags,
                cas
            }),
        (text(), proptest::option::of(any::<u64>()))
            .prop_map(|(key, cas)| Command::KvDelete { key, cas }),
        text().prop_map(|prefix| Command::KvDeleteTree { prefix }),
        (text(), text(), text(), text(), text(), text()).prop_map(
            |(node, id, address, datacenter, status, output)| Command::NodeHealth(NodeHealth {
                node,
                id,
                address,
                datacenter,
                status,
                output,
            })
        ),
        arb_register().prop_map(|r| Command::CatalogRegister(r.into())),
        (arb_register(), map()).prop_map(|(r, types)| Command::CatalogRegisterTyped {
            service: r.service.as_ref().map(ServiceExtra::of).unwrap_or_default(),
            register: r.into(),
            types,
        }),
        (text(), text(), text(), text()).prop_map(|(node, datacenter, service_id, check_id)| {
            Command::CatalogDeregister(
                DeregisterRequest {
                    node,
                    datacenter,
                    service_id,
                    check_id,
                }
                .into(),
            )
        }),
        arb_event().prop_map(|e| Command::EventFire(e.into())),
        bytes().prop_map(Command::Restore),
        (any::<u64>(), any::<u32>(), bytes()).prop_map(|(id, seq, data)| Command::RestoreChunk {
            id,
            seq,
            data: data.into(),
        }),
        (any::<u64>(), any::<u64>(), any::<u32>())
            .prop_map(|(id, size, crc32)| Command::RestoreCommit { id, size, crc32 }),
        any::<u64>().prop_map(|id| Command::RestoreAbort { id }),
        arb_session().prop_map(|s| Command::SessionCreate(Box::new(s.into()))),
        text().prop_map(|id| Command::SessionDestroy { id }),
        text().prop_map(|id| Command::SessionRenew { id }),
        (text(), any::<u64>()).prop_map(|(id, renewed)| Command::SessionExpire { id, renewed }),
        (text(), bytes(), any::<u64>(), text()).prop_map(|(key, value, flags, session)| {
            Command::KvLock {
                key,
                value: value.into(),
                flags,
                session,
            }
        }),
        (text(), bytes(), any::<u64>(), text()).prop_map(|(key, value, flags, session)| {
            Command::KvUnlock {
                key,
                value: value.into(),
                flags,
                session,
            }
        }),
        proptest::collection::vec(arb_txn_op(), 0..4).prop_map(Command::Txn),
        (text(), text(), texts(), map(), any::<u32>(), any::<bool>()).prop_map(
            |(id, name, tags, meta, nearest_n, template)| {
                Command::PreparedQuery(QueryCommand::Create(PreparedQuery {
                    id,
                    service: ServiceQuery {
                        service: name.clone(),
                        tags,
                        node_meta: meta,
                        failover: Failover {
                            nearest_n,
                            ..Failover::default()
                        },
                        ..ServiceQuery::default()
                    },
                    template: template.then(QueryTemplate::default),
                    name,
                    ..PreparedQuery::default()
                }))
            }
        ),
        text().prop_map(|id| Command::PreparedQuery(QueryCommand::Delete { id })),
    ]
}

/// Any command, `Batch` and `Timed` nesting others (at most 3 deep, well
/// under `MAX_NESTING`).
fn arb_command() -> impl Strategy<Value = Command> {
    arb_leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Command::Batch),
            (any::<u64>(), inner).prop_map(|(at_ms, cmd)| Command::Timed {
                at_ms,
                cmd: Box::new(cmd),
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The store's own types (`model.rs`) encode exactly as the API types
    /// the log carried before them, and convert both ways without loss.
    #[test]
    fn store_types_encode_as_the_api_types_they_replaced(
        register in arb_register(),
        session in arb_session(),
        event in arb_event(),
        deregister in (text(), text(), text(), text()),
    ) {
        use praetor_store::model::{Deregistration, EventRecord, Registration, SessionRecord};
        let deregister = DeregisterRequest {
            node: deregister.0,
            datacenter: deregister.1,
            service_id: deregister.2,
            check_id: deregister.3,
        };
        let same = |api: Vec<u8>, store: Vec<u8>| -> Result<(), TestCaseError> {
            prop_assert_eq!(api, store);
            Ok(())
        };
        // A service's kind, tagged addresses, proxy and locality came after
        // and travel beside the registration (`ServiceExtra`), so the API's
        // register no longer encodes as the registration does (the golden
        // commands pin the registration's bytes); without them it converts
        // both ways without loss.
        let mut register = register;
        if let Some(s) = &mut register.service {
            *s = ServiceDefinition {
                kind: String::new(),
                tagged_addresses: BTreeMap::new(),
                proxy: ServiceProxy::default(),
                locality: None,
                ..s.clone()
            };
        }

        same(postcard::to_stdvec(&session).unwrap(), postcard::to_stdvec(&SessionRecord::from(session.clone())).unwrap())?;
        same(postcard::to_stdvec(&event).unwrap(), postcard::to_stdvec(&EventRecord::from(event.clone())).unwrap())?;
        same(postcard::to_stdvec(&deregister).unwrap(), postcard::to_stdvec(&Deregistration::from(deregister.clone())).unwrap())?;
        prop_assert_eq!(RegisterRequest::from(Registration::from(register.clone())), register);
        prop_assert_eq!(SessionEntry::from(SessionRecord::from(session.clone())), session);
        prop_assert_eq!(UserEvent::from(EventRecord::from(event.clone())), event);
        prop_assert_eq!(DeregisterRequest::from(Deregistration::from(deregister.clone())), deregister);
    }

    #[test]
    fn any_command_decodes_to_itself(cmd in arb_command()) {
        let bytes = encode(&cmd);
        prop_assert_eq!(decode(&bytes).map_err(|e| e.to_string()), Ok(cmd));
    }

    #[test]
    fn decoding_arbitrary_bytes_as_a_command_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let _ = decode(&bytes);
    }

    /// Corrupted golden bytes (flipped, truncated): an error or some
    /// command, never a panic, and the nesting guard is left balanced.
    #[test]
    fn decoding_corrupted_commands_never_panics(
        example in any::<prop::sample::Index>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode(&example.get(&all_examples()).1);
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = decode(&bytes);
        let _ = decode(&bytes[..cut.index(bytes.len() + 1)]);
        prop_assert!(decode(&encode(&kv_set())).is_ok());
    }

    /// A snapshot (or restore body) with flipped or cut bytes is refused
    /// or read, never a panic: `Command::Restore` carries such bytes from
    /// a client.
    #[test]
    fn decoding_a_corrupted_snapshot_never_panics(
        state in any::<bool>(),
        v4 in any::<bool>(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let golden = golden_blocks(if v4 { SNAPSHOT_V4_GOLDEN } else { SNAPSHOT_GOLDEN });
        let mut bytes = golden[if state { "state" } else { "snapshot" }].clone();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = Store::decode_snapshot(&bytes);
        let _ = Store::decode_snapshot(&bytes[..cut.index(bytes.len() + 1)]);
    }
}

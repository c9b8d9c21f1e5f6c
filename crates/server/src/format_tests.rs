//! The server's durable and wire formats, pinned. Both are postcard, which
//! does not describe its data (an enum variant is its position, a struct
//! its fields in order), so a harmless-looking change — a variant added in
//! the middle, a field reordered, an openraft upgrade that reshapes its
//! messages — silently breaks peers of the other version or the log on disk.
//!
//! - RPC (port 8300): the handshake, every `Request` and `Reply` variant,
//!   `WireError`, the store `Response` a write answers, and the `Frame` around
//!   a call, against `tests/golden/rpc.hex`.
//! - The Raft log as the redb log store writes it: openraft `Entry` (blank,
//!   a command, a membership change), the vote, committed and purged log
//!   ids, and the snapshot file's envelope, against `tests/golden/raft_log.hex`.
//!   (The `Command` inside an entry, and the snapshot's data, are pinned by
//!   the store's own golden tests.)
//!
//! Each golden block must encode to its bytes and its bytes must decode and
//! encode back to the same; a variant probe fails when an enum gains a
//! variant without an example; property tests round-trip arbitrary values
//! and decode arbitrary bytes without panicking.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::error::{Fatal, InstallSnapshotError, RaftError, SnapshotMismatch};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{
    BasicNode, CommittedLeaderId, EntryPayload, Membership, SnapshotMeta, SnapshotSegmentId,
    StoredMembership, Vote,
};
use praetor_api::catalog::{HealthCheck, Node, NodeService, Weights};
use praetor_store::acl::{AclCommand, Policy as AclPolicy, Role as AclRole, Token as AclToken};
use praetor_store::txn::{TxnOutcome, TxnResult};
use praetor_store::{Command, Entry as KvEntry, Response};
use proptest::prelude::*;
use proptest::strategy::LazyJust;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::raft::snapshot_dir::{MetaFile, SnapshotFile, META_FORMAT};
use crate::raft::{Entry, LogId};
use crate::read::{self as reads, KvGet, QueryOpts, Read as _, WireAnswer, WireRead};
use crate::rpc::{Frame, Reply, Request, WireError, MAGIC, VERSION};
use crate::{Consistency, PreVote, RaftMember, RaftStatus};

const RPC_CHANGED: &str = "\
THE RPC WIRE FORMAT CHANGED. Servers and client agents of different builds \
talk to each other on port 8300 during a rolling upgrade, in postcard, which \
has no field names or tags: a peer of the other build now misreads these \
messages. If the change was not meant, undo it (never reorder or insert enum \
variants or struct fields of Request, Reply, WireError, Response or what they \
carry; an openraft upgrade can change its message types too). If it was \
meant: add new variants only at the END, bump the protocol version \
(`VERSION` in crates/server/src/rpc/handshake.rs) so peers of different \
builds refuse each other at the handshake instead of misreading, say in the \
release notes that servers must be upgraded together, and only then update \
crates/server/tests/golden/rpc.hex with the new bytes printed below.";

const LOG_CHANGED: &str = "\
THE RAFT LOG FORMAT CHANGED. Every server's data dir holds log entries, the \
vote and the snapshot file in this encoding (postcard: no field names, no \
tags), so this build can no longer read the log an earlier build wrote — or \
reads it as something else. If the change was not meant, undo it (an \
openraft upgrade can change `Entry`, `Vote`, `LogId`, `Membership` or \
`SnapshotMeta`). If it was meant: bump the log format (`LOG_FORMAT` in \
crates/server/src/raft/log_store.rs), keep reading the old one (decode the \
old shape and convert it, with a test that decodes the OLD golden bytes: \
keep the old file), refresh the previous-release data dir test \
(tests/golden/datadir-release.tar.gz, docs/RELEASING.md), and only then \
update crates/server/tests/golden/raft_log.hex with the new bytes below.";

// ---------------------------------------------------------------- helpers

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_lines(bytes: &[u8]) -> String {
    bytes.chunks(32).map(|c| format!("{}\n", hex(c))).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|p| {
            let s = std::str::from_utf8(p).expect("hex digits are ASCII");
            u8::from_str_radix(s, 16).unwrap_or_else(|e| panic!("bad hex {s:?}: {e}"))
        })
        .collect()
}

/// `[name]` lines each followed by hex (whitespace ignored); `#` comments.
fn golden_blocks(text: &str) -> BTreeMap<String, Vec<u8>> {
    let mut blocks = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let mut finish = |current: Option<(String, String)>| {
        if let Some((n, h)) = current {
            assert!(blocks.insert(n.clone(), unhex(&h)).is_none(), "{n} twice");
        }
    };
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            finish(current.take());
            current = Some((name.to_owned(), String::new()));
        } else {
            current
                .as_mut()
                .expect("hex before the first [name]")
                .1
                .push_str(line);
        }
    }
    finish(current);
    blocks
}

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_stdvec(v).expect("encodes")
}

/// One golden example: its name, its bytes now, and whether its golden
/// bytes decode and encode back to themselves.
struct Example {
    name: String,
    bytes: Vec<u8>,
    reencode: fn(&[u8]) -> Result<Vec<u8>, postcard::Error>,
}

fn example<T: Serialize + DeserializeOwned>(name: &str, value: &T) -> Example {
    Example {
        name: name.to_owned(),
        bytes: encode(value),
        reencode: |b| postcard::from_bytes::<T>(b).map(|v| encode(&v)),
    }
}

/// Checks every example against `file`'s blocks, both ways, and fails
/// with `why` and every difference (with the new bytes to paste).
fn check_golden(file: &str, text: &str, examples: &[Example], why: &str) {
    let golden = golden_blocks(text);
    let mut failures = Vec::new();
    for ex in examples {
        match golden.get(&ex.name) {
            Some(g) if *g == ex.bytes => {}
            Some(g) => failures.push(format!(
                "{:?} no longer encodes to its golden bytes.\nexpected: {}\n     got: {}\n\
                 new block:\n[{}]\n{}",
                ex.name,
                hex(g),
                hex(&ex.bytes),
                ex.name,
                hex_lines(&ex.bytes)
            )),
            None => failures.push(format!(
                "{:?} has no golden bytes in {file}; add:\nnew block:\n[{}]\n{}",
                ex.name,
                ex.name,
                hex_lines(&ex.bytes)
            )),
        }
        if let Some(g) = golden.get(&ex.name) {
            match (ex.reencode)(g) {
                Ok(again) if again == *g => {}
                Ok(again) => failures.push(format!(
                    "the golden bytes of {:?} decode but encode back as {}",
                    ex.name,
                    hex(&again)
                )),
                Err(e) => failures.push(format!(
                    "the golden bytes of {:?} no longer decode: {e}",
                    ex.name
                )),
            }
        }
    }
    let names: BTreeSet<&str> = examples.iter().map(|e| e.name.as_str()).collect();
    for stale in golden.keys().filter(|k| !names.contains(k.as_str())) {
        failures.push(format!(
            "{file} has {stale:?} but no example builds it: an example was removed or \
             renamed (what older builds send or wrote must still decode)"
        ));
    }
    assert!(failures.is_empty(), "{why}\n\n{}", failures.join("\n\n"));
}

/// How many variants a postcard enum has: each tag alone decodes (a unit
/// variant) or runs out of bytes (one with data) until the first unknown
/// tag. Independent of the source, so a variant added anywhere is counted.
fn variant_count<T: DeserializeOwned>() -> u32 {
    (0u32..1_000)
        .find(|&tag| {
            !matches!(
                postcard::from_bytes::<T>(&encode(&tag)),
                Ok(_) | Err(postcard::Error::DeserializeUnexpectedEnd)
            )
        })
        .expect("fewer than 1000 variants")
}

/// The variant tag an encoded enum starts with (all ours are below 128).
fn tag(bytes: &[u8]) -> u32 {
    u32::from(bytes[0])
}

/// Fails unless the examples named `prefix/*` cover every variant of `T`.
fn assert_every_variant<T: DeserializeOwned>(
    what: &str,
    prefix: &str,
    examples: &[Example],
    why: &str,
) {
    let count = variant_count::<T>();
    let covered: BTreeSet<u32> = examples
        .iter()
        .filter(|e| e.name.starts_with(prefix))
        .map(|e| tag(&e.bytes))
        .collect();
    let missing: Vec<u32> = (0..count).filter(|t| !covered.contains(t)).collect();
    assert!(
        missing.is_empty(),
        "{why}\n\n`{what}` has {count} variants; variants {missing:?} (by position) have no \
         golden example: add one to the examples in crates/server/src/format_tests.rs"
    );
}

// ------------------------------------------------------ shared values

fn log_id(term: u64, node: u64, index: u64) -> LogId {
    LogId::new(CommittedLeaderId::new(term, node), index)
}

fn membership() -> Membership<u64, BasicNode> {
    Membership::new(
        vec![BTreeSet::from([1, 2, 3])],
        BTreeMap::from([
            (1, BasicNode::new("10.0.0.1:8300")),
            (2, BasicNode::new("10.0.0.2:8300")),
            (3, BasicNode::new("10.0.0.3:8300")),
            (4, BasicNode::new("10.0.0.4:8300")),
        ]),
    )
}

fn snapshot_meta() -> SnapshotMeta<u64, BasicNode> {
    SnapshotMeta {
        last_log_id: Some(log_id(3, 1, 40)),
        last_membership: StoredMembership::new(Some(log_id(2, 1, 5)), membership()),
        snapshot_id: "3-40".into(),
    }
}

fn kv_set() -> Command {
    Command::KvSet {
        key: "wire/key".into(),
        value: b"value".to_vec().into(),
        flags: 42,
        cas: Some(7),
    }
}

fn entry(index: u64, payload: EntryPayload<crate::raft::TypeConfig>) -> Entry {
    Entry {
        log_id: log_id(3, 1, index),
        payload,
    }
}

fn kv_entry() -> KvEntry {
    KvEntry {
        value: bytes::Bytes::from_static(b"v"),
        flags: 1,
        create_index: 2,
        modify_index: 3,
        lock_index: 4,
        session: Some("s-1".into()),
    }
}

fn txn_outcome() -> TxnOutcome {
    TxnOutcome {
        results: vec![
            TxnResult::Kv("txn/k".into(), kv_entry()),
            TxnResult::Node(Node {
                id: "node-id".into(),
                node: "n1".into(),
                address: "10.0.0.1".into(),
                datacenter: "dc1".into(),
                tagged_addresses: BTreeMap::from([("lan".into(), "10.0.0.1".into())]),
                meta: BTreeMap::from([("rack".into(), "r1".into())]),
                create_index: 5,
                modify_index: 6,
            }),
            TxnResult::Service(NodeService {
                id: "web-1".into(),
                service: "web".into(),
                tags: vec!["v1".into()],
                address: "10.0.0.2".into(),
                meta: BTreeMap::from([("version".into(), "1".into())]),
                port: 8080,
                weights: Weights {
                    passing: 3,
                    warning: 1,
                },
                enable_tag_override: true,
                kind: "connect-proxy".into(),
                tagged_addresses: BTreeMap::from([(
                    "wan".into(),
                    praetor_api::catalog::ServiceAddress {
                        address: "203.0.113.2".into(),
                        port: 443,
                    },
                )]),
                proxy: praetor_api::catalog::ServiceProxy::from_text(
                    r#"{"DestinationServiceName":"web-backend"}"#.into(),
                ),
                locality: Some(praetor_api::catalog::Locality {
                    region: "eu-west-1".into(),
                    zone: "eu-west-1a".into(),
                }),
                create_index: 7,
                modify_index: 8,
            }),
            TxnResult::Check(HealthCheck {
                node: "n1".into(),
                check_id: "web-http".into(),
                name: "Web HTTP".into(),
                status: "warning".into(),
                notes: "notes".into(),
                output: "output".into(),
                service_id: "web-1".into(),
                service_name: "web".into(),
                service_tags: vec!["v1".into()],
                kind: "http".into(),
                create_index: 9,
                modify_index: 10,
            }),
        ],
        errors: vec![(1, "key \"x\" doesn't exist".into())],
    }
}

// ------------------------------------------------------ RPC examples

fn rpc_examples() -> Vec<Example> {
    let vote = Vote::new_committed(3, 1);
    let mut out = vec![
        example(
            "request/append_entries",
            &Request::AppendEntries(AppendEntriesRequest {
                vote,
                prev_log_id: Some(log_id(3, 1, 40)),
                entries: vec![
                    entry(41, EntryPayload::Blank),
                    entry(42, EntryPayload::Normal(kv_set())),
                    entry(43, EntryPayload::Membership(membership())),
                ],
                leader_commit: Some(log_id(3, 1, 41)),
            }),
        ),
        example(
            "request/vote",
            &Request::Vote(VoteRequest {
                vote: Vote::new(4, 2),
                last_log_id: Some(log_id(3, 1, 43)),
            }),
        ),
        example(
            "request/install_snapshot",
            &Request::InstallSnapshot(InstallSnapshotRequest {
                vote,
                meta: snapshot_meta(),
                offset: 1024,
                data: vec![0xde, 0xad, 0xbe, 0xef],
                done: true,
            }),
        ),
        example(
            "request/write",
            &Request::Write(kv_set(), crate::acl::Token::new("secret")),
        ),
        // The reads' wire enum (`Query`/`Answer`) is being replaced by typed
        // reads; one example pins the variant's position until then.
        example(
            "request/query",
            &Request::Query(
                WireRead::KvGet(KvGet {
                    key: "wire/key".into(),
                }),
                QueryOpts {
                    index: 17,
                    wait: Duration::from_millis(1500),
                    consistency: Consistency::Consistent,
                },
                crate::acl::Token::new("secret"),
            ),
        ),
        example("request/status", &Request::Status),
        example("request/remove_peer", &Request::RemovePeer(3)),
        example("request/ping", &Request::Ping),
        example(
            "request/pre_vote",
            &Request::PreVote(PreVote {
                candidate: 2,
                term: 5,
                last_log: Some(log_id(4, 2, 50)),
            }),
        ),
        example(
            "request/timeout_now",
            &Request::TimeoutNow(crate::transfer::TimeoutNow { leader: 1, term: 5 }),
        ),
        example("request/transfer_leader", &Request::TransferLeader(Some(2))),
        example("request/autopilot_health", &Request::AutopilotHealth),
        example(
            "request/propose",
            &Request::Propose(kv_set(), crate::acl::Token::new("secret")),
        ),
        example(
            "request/snapshot_export",
            &Request::SnapshotExport(
                crate::export::ExportRequest {
                    id: Some(0x0123_4567_89ab_cdef),
                    offset: 4 << 20,
                    consistency: crate::Consistency::Stale,
                },
                crate::acl::Token::new("secret"),
            ),
        ),
        example(
            "request/cross_dc",
            &Request::CrossDc(
                "dc2".into(),
                crate::rpc::DcCall::Write(kv_set(), crate::acl::Token::new("secret")),
            ),
        ),
        example(
            "dc_call/query",
            &crate::rpc::DcCall::Query(
                WireRead::KvGet(KvGet {
                    key: "wire/key".into(),
                }),
                QueryOpts {
                    index: 17,
                    wait: Duration::from_millis(1500),
                    consistency: Consistency::Stale,
                },
                crate::acl::Token::new("secret"),
            ),
        ),
        example(
            "dc_call/write",
            &crate::rpc::DcCall::Write(kv_set(), crate::acl::Token::new("secret")),
        ),
        example("request/datacenters", &Request::Datacenters),
        example(
            "reply/datacenters",
            &Reply::Datacenters(vec!["dc1".into(), "dc2".into()]),
        ),
        example(
            "request/coordinate_datacenters",
            &Request::CoordinateDatacenters,
        ),
        example(
            "reply/coordinate_datacenters",
            &Reply::CoordinateDatacenters(vec![
                praetor_api::coordinate::CoordinateDatacenterMap {
                    datacenter: "dc1".into(),
                    area_id: "WAN".into(),
                    coordinates: vec![praetor_api::coordinate::CoordinateEntry {
                        node: "s1.dc1".into(),
                        segment: String::new(),
                        coord: praetor_api::coordinate::Coordinate {
                            vec: vec![0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.25],
                            error: 1.5,
                            adjustment: 0.0,
                            height: 1.0e-5,
                        },
                    }],
                },
                praetor_api::coordinate::CoordinateDatacenterMap {
                    datacenter: "dc2".into(),
                    area_id: "WAN".into(),
                    coordinates: vec![],
                },
            ]),
        ),
        example("dc_call/status", &crate::rpc::DcCall::Status),
        example(
            "dc_call/autopilot_health",
            &crate::rpc::DcCall::AutopilotHealth,
        ),
    ];
    let append = [
        ("success", Ok(AppendEntriesResponse::Success)),
        (
            "partial_success",
            Ok(AppendEntriesResponse::PartialSuccess(Some(log_id(
                3, 1, 42,
            )))),
        ),
        ("conflict", Ok(AppendEntriesResponse::Conflict)),
        (
            "higher_vote",
            Ok(AppendEntriesResponse::HigherVote(Vote::new(5, 2))),
        ),
        ("stopped", Err(RaftError::Fatal(Fatal::Stopped))),
    ];
    for (name, r) in append {
        out.push(example(
            &format!("reply/append_entries/{name}"),
            &Reply::AppendEntries(r),
        ));
    }
    out.extend([
        example(
            "reply/vote",
            &Reply::Vote(Ok(VoteResponse {
                vote: Vote::new(4, 2),
                vote_granted: true,
                last_log_id: Some(log_id(3, 1, 43)),
            })),
        ),
        example(
            "reply/install_snapshot",
            &Reply::InstallSnapshot(Ok(InstallSnapshotResponse { vote })),
        ),
        example(
            "reply/install_snapshot/mismatch",
            &Reply::InstallSnapshot(Err(RaftError::APIError(
                InstallSnapshotError::SnapshotMismatch(SnapshotMismatch {
                    expect: SnapshotSegmentId {
                        id: "3-40".into(),
                        offset: 0,
                    },
                    got: SnapshotSegmentId {
                        id: "3-40".into(),
                        offset: 2048,
                    },
                }),
            ))),
        ),
        example(
            "reply/query/no_leader",
            &Reply::Query(Err(WireError::NoLeader)),
        ),
        example(
            "reply/status",
            &Reply::Status(RaftStatus {
                id: 1,
                leader: Some(1),
                term: 3,
                config_index: 5,
                last_applied: 43,
                members: vec![
                    RaftMember {
                        id: 1,
                        addr: "10.0.0.1:8300".into(),
                        voter: true,
                    },
                    RaftMember {
                        id: 4,
                        addr: "10.0.0.4:8300".into(),
                        voter: false,
                    },
                ],
            }),
        ),
        example("reply/done", &Reply::Done(Ok(()))),
        example(
            "reply/done/unknown_peer",
            &Reply::Done(Err(WireError::UnknownPeer("9".into()))),
        ),
        example("reply/pong", &Reply::Pong(1)),
        example("reply/error", &Reply::Error("bad request".into())),
        example("reply/pre_vote", &Reply::PreVote(true)),
        example("reply/transferred", &Reply::Transferred(Ok(2))),
        example(
            "reply/snapshot_export",
            &Reply::SnapshotExport(Ok(crate::export::ExportPiece {
                id: 0x0123_4567_89ab_cdef,
                index: 43,
                size: 10 << 20,
                crc32: 0xdead_beef,
                offset: 4 << 20,
                data: bytes::Bytes::from_static(b"state"),
                meta: crate::ReadMeta {
                    known_leader: true,
                    last_contact_ms: 12,
                },
            })),
        ),
        example(
            "reply/autopilot_health",
            &Reply::AutopilotHealth(Ok(crate::autopilot_health::RaftHealth {
                healthy: true,
                failure_tolerance: 1,
                leader: "0b6d1b3c-2f0e-4c4e-9d0a-6f6f1c2b3a4d".into(),
                servers: vec![crate::autopilot_health::ServerHealth {
                    id: "0b6d1b3c-2f0e-4c4e-9d0a-6f6f1c2b3a4d".into(),
                    raft_id: 1,
                    name: "s1".into(),
                    address: "10.0.0.1:8300".into(),
                    serf_status: "alive".into(),
                    version: "1.0.0".into(),
                    leader: true,
                    last_contact_ms: Some(0),
                    last_term: 3,
                    last_index: 43,
                    healthy: true,
                    voter: true,
                    stable_since_ms: 1_780_000_000_000,
                }],
            })),
        ),
    ]);
    for (name, response) in responses() {
        out.push(example(
            &format!("reply/write/{name}"),
            &Reply::Write(Ok((43, response))),
        ));
    }
    for (name, e) in wire_errors() {
        out.push(example(
            &format!("reply/write/error/{name}"),
            &Reply::Write(Err(e.clone())),
        ));
        out.push(example(&format!("wire_error/{name}"), &e));
    }
    for (name, response) in responses() {
        out.push(example(&format!("response/{name}"), &response));
    }
    out.push(example(
        "frame/request",
        &Frame {
            id: 300,
            body: Request::Write(kv_set(), crate::acl::Token::anonymous()),
        },
    ));
    out.push(example(
        "frame/reply",
        &Frame {
            id: 300,
            body: Reply::Write(Ok((43, Response::Applied(true)))),
        },
    ));
    out
}

fn responses() -> Vec<(&'static str, Response)> {
    vec![
        ("applied", Response::Applied(true)),
        ("ignored", Response::Ignored),
        (
            "batch",
            Response::Batch(vec![
                Response::Applied(false),
                Response::Refused("no".into()),
            ]),
        ),
        ("refused", Response::Refused("Must provide node".into())),
        ("txn", Response::Txn(txn_outcome())),
    ]
}

fn wire_errors() -> Vec<(&'static str, WireError)> {
    vec![
        ("no_leader", WireError::NoLeader),
        ("not_leader", WireError::NotLeader(Some(2))),
        ("unknown_peer", WireError::UnknownPeer("9".into())),
        ("other", WireError::Other("disk full".into())),
        (
            "outcome_unknown",
            WireError::OutcomeUnknown("leader lost".into()),
        ),
        (
            "acl",
            WireError::Acl(crate::acl::AclError::Denied("no".into())),
        ),
        (
            "no_path_to_datacenter",
            WireError::NoPathToDatacenter("dc2".into()),
        ),
    ]
}

const RPC_GOLDEN: &str = include_str!("../tests/golden/rpc.hex");

#[test]
fn every_rpc_message_encodes_to_its_golden_bytes_and_back() {
    let mut examples = rpc_examples();
    examples.extend(read_examples());
    check_golden(
        "crates/server/tests/golden/rpc.hex",
        RPC_GOLDEN,
        &examples,
        RPC_CHANGED,
    );
}

#[test]
fn every_rpc_enum_variant_has_a_golden_example() {
    let ex = rpc_examples();
    assert_every_variant::<Request>("rpc::Request", "request/", &ex, RPC_CHANGED);
    assert_every_variant::<Reply>("rpc::Reply", "reply/", &ex, RPC_CHANGED);
    assert_every_variant::<WireError>("rpc::WireError", "wire_error/", &ex, RPC_CHANGED);
    assert_every_variant::<crate::rpc::DcCall>("rpc::DcCall", "dc_call/", &ex, RPC_CHANGED);
    assert_every_variant::<Response>("praetor_store::Response", "response/", &ex, RPC_CHANGED);
    let reads = read_examples();
    assert_every_variant::<WireRead>("read::WireRead", "read/", &reads, RPC_CHANGED);
    assert_every_variant::<WireAnswer>("read::WireAnswer", "answer/", &reads, RPC_CHANGED);
}

/// A store holding one of everything a read answers, built by commands.
fn read_store() -> praetor_store::Store {
    use praetor_store::model::{
        CheckRegistration, EventRecord, Registration, ServiceRegistration, SessionRecord,
    };
    let commands = [
        Command::CatalogRegister(Registration {
            node: "n1".into(),
            address: "10.0.0.1".into(),
            datacenter: "dc1".into(),
            service: Some(ServiceRegistration {
                id: "web1".into(),
                service: "web".into(),
                tags: vec!["v1".into()],
                port: 80,
                ..Default::default()
            }),
            check: Some(CheckRegistration {
                check_id: "c1".into(),
                name: "c".into(),
                status: "passing".into(),
                service_id: "web1".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        Command::KvSet {
            key: "k".into(),
            value: b"v".to_vec().into(),
            flags: 1,
            cas: None,
        },
        Command::EventFire(EventRecord {
            id: "e1".into(),
            name: "deploy".into(),
            payload: Some("djE=".into()),
            node_filter: String::new(),
            service_filter: String::new(),
            tag_filter: String::new(),
            version: 1,
            ltime: 3,
        }),
        Command::SessionCreate(Box::new(SessionRecord {
            id: "s1".into(),
            name: "lock".into(),
            node: "n1".into(),
            node_checks: Some(Vec::new()),
            service_checks: None,
            lock_delay: 0,
            behavior: "release".into(),
            ttl: String::new(),
            create_index: 4,
            modify_index: 4,
        })),
        Command::Acl(AclCommand::PolicySet {
            policy: AclPolicy {
                id: "p1".into(),
                name: "app".into(),
                rules: "key_prefix \"config/app/\" { policy = \"read\" }".into(),
                ..Default::default()
            },
            create: true,
        }),
        Command::Acl(AclCommand::RoleSet {
            role: AclRole {
                id: "r1".into(),
                name: "apps".into(),
                policies: vec!["p1".into()],
                ..Default::default()
            },
            create: true,
        }),
        Command::Acl(AclCommand::TokenSet {
            token: AclToken {
                accessor_id: "a1".into(),
                secret_id: "s1".into(),
                description: "app".into(),
                policies: vec!["p1".into()],
                roles: vec!["r1".into()],
                service_identities: vec![praetor_store::acl::ServiceIdentity {
                    service_name: "web".into(),
                    datacenters: Vec::new(),
                }],
                expiration_ms: Some(1_800_000_000_000),
                ..Default::default()
            },
            create: true,
        }),
    ];
    let mut store = praetor_store::Store::default();
    for (i, c) in (1u64..).zip(commands.iter()) {
        store.apply(i, c);
    }
    store
}

/// Every read on the wire, and its answer from `read_store` (the read's
/// own evaluation, so the answers carry real values).
fn read_examples() -> Vec<Example> {
    let store = read_store();
    let all: Vec<WireRead> = vec![
        reads::KvGet { key: "k".into() }.into(),
        reads::KvList { prefix: "".into() }.into(),
        reads::KvKeys {
            prefix: "".into(),
            separator: Some("/".into()),
        }
        .into(),
        reads::CatalogNodes.into(),
        reads::CatalogNode { name: "n1".into() }.into(),
        reads::CatalogServices.into(),
        reads::ServiceNodes {
            name: "web".into(),
            tag: Some("v1".into()),
        }
        .into(),
        reads::HealthService {
            name: "web".into(),
            tag: None,
            passing: true,
        }
        .into(),
        reads::ServiceChecks { name: "web".into() }.into(),
        reads::ChecksInState {
            state: "passing".into(),
        }
        .into(),
        reads::NodeChecks { name: "n1".into() }.into(),
        reads::Events {
            name: Some("deploy".into()),
        }
        .into(),
        reads::KvChanges {
            prefix: "".into(),
            from: 1,
            max: 10,
        }
        .into(),
        reads::KvHistory {
            key: "k".into(),
            max: 5,
        }
        .into(),
        reads::ServiceSummaries.into(),
        reads::Sessions.into(),
        reads::SessionInfo { id: "s1".into() }.into(),
        reads::NodeSessions { node: "n1".into() }.into(),
        reads::TxnRead {
            ops: vec![praetor_store::txn::TxnOp::Kv(praetor_store::txn::KvOp {
                verb: praetor_store::txn::KvVerb::Get,
                key: "k".into(),
                value: Vec::new().into(),
                flags: 0,
                index: 0,
                session: String::new(),
            })],
        }
        .into(),
        reads::AclTokenRead::ByAccessor("a1".into()).into(),
        reads::AclTokenList {
            policy: Some("p1".into()),
            role: None,
        }
        .into(),
        reads::AclPolicyRead::ByName("app".into()).into(),
        reads::AclPolicyList.into(),
        reads::AclRoleRead::ById("r1".into()).into(),
        reads::AclRoleList { policy: None }.into(),
        reads::AclResolve {
            secret: Some("s1".into()),
            datacenter: "dc1".into(),
        }
        .into(),
        reads::ServiceInstances.into(),
        reads::Usage.into(),
    ];
    let mut out = Vec::new();
    for read in all {
        let answer = read.eval(&store).1;
        out.push(example(&format!("read/{}", read.kind()), &read));
        out.push(example(&format!("answer/{}", answer.kind()), &answer));
    }
    // A verb added after the first TxnRead example was pinned (protocol 4).
    let later = WireRead::from(reads::TxnRead {
        ops: vec![praetor_store::txn::TxnOp::Kv(praetor_store::txn::KvOp {
            verb: praetor_store::txn::KvVerb::GetOrEmpty,
            key: "missing".into(),
            value: Vec::new().into(),
            flags: 3,
            index: 7,
            session: String::new(),
        })],
    });
    let answer = later.eval(&store).1;
    out.push(example("read/TxnRead/get-or-empty", &later));
    out.push(example("answer/TxnRead/get-or-empty", &answer));
    // The autopilot configuration, on the same store with one stored
    // (apart, so the other answers' indexes stay as they were pinned).
    let mut with_autopilot = store.clone();
    with_autopilot.apply(
        with_autopilot.last_index() + 1,
        &Command::AutopilotSetConfig {
            config: praetor_store::autopilot::AutopilotConfig {
                cleanup_dead_servers: true,
                last_contact_threshold_ms: 200,
                max_trailing_logs: 250,
                min_quorum: 3,
                server_stabilization_time_ms: 10_000,
                ..Default::default()
            },
            cas: None,
        },
    );
    let read = WireRead::from(reads::AutopilotConfiguration);
    let answer = read.eval(&with_autopilot).1;
    out.push(example(&format!("read/{}", read.kind()), &read));
    out.push(example(&format!("answer/{}", answer.kind()), &answer));
    // The prepared-query reads, on the same store with one template
    // stored (apart, as the autopilot configuration).
    let mut with_query = store.clone();
    let query = praetor_store::query::PreparedQuery {
        id: "0b5f6a9e-3c2d-4e1f-8a7b-6c5d4e3f2a10".into(),
        name: "geo".into(),
        token: "query-token".into(),
        service: praetor_store::query::ServiceQuery {
            service: "web".into(),
            only_passing: true,
            tags: vec!["v1".into(), "!old".into()],
            failover: praetor_store::query::Failover {
                nearest_n: 2,
                datacenters: vec!["dc2".into()],
                targets: Vec::new(),
            },
            ..Default::default()
        },
        dns_ttl: "10s".into(),
        template: Some(praetor_store::query::QueryTemplate {
            kind: "name_prefix_match".into(),
            regexp: "^geo-(.*)$".into(),
            remove_empty_tags: false,
        }),
        ..Default::default()
    };
    let answer = with_query.apply(
        with_query.last_index() + 1,
        &Command::PreparedQuery(praetor_store::query::QueryCommand::Create(query.clone())),
    );
    assert!(answer.ok(), "{answer:?}");
    for read in [
        WireRead::from(reads::QueryList),
        reads::QueryGet {
            id: query.id.clone(),
        }
        .into(),
        reads::QueryResolve {
            name: "geo-web".into(),
            explain: true,
        }
        .into(),
        reads::QueryRun {
            service: query.service.clone(),
        }
        .into(),
    ] {
        let answer = read.eval(&with_query).1;
        out.push(example(&format!("read/{}", read.kind()), &read));
        out.push(example(&format!("answer/{}", answer.kind()), &answer));
    }
    // The coordinate reads (protocol 6, at the end of the enums),
    // on the same store with a node's coordinate (apart, as above).
    let mut with_coordinates = store.clone();
    with_coordinates.apply(
        with_coordinates.last_index() + 1,
        &Command::CoordinateBatchUpdate(vec![praetor_store::coordinate::NodeCoordinate {
            node: "n1".into(),
            segment: String::new(),
            coord: praetor_store::coordinate::CoordRecord {
                vec: (0..8)
                    .map(|i| praetor_store::coordinate::Float(f64::from(i) * 0.001))
                    .collect(),
                error: praetor_store::coordinate::Float(0.2),
                adjustment: praetor_store::coordinate::Float(-0.0001),
                height: praetor_store::coordinate::Float(0.0002),
            },
        }]),
    );
    for read in [
        WireRead::from(reads::CoordinateNodes),
        WireRead::from(reads::CoordinateNode { node: "n1".into() }),
    ] {
        let answer = read.eval(&with_coordinates).1;
        out.push(example(&format!("read/{}", read.kind()), &read));
        out.push(example(&format!("answer/{}", answer.kind()), &answer));
    }
    // The snapshot read: its answer is a whole encoded store, pinned by
    // the store's own snapshot golden; here only its place in the enums.
    out.push(example("read/Snapshot", &WireRead::from(reads::Snapshot)));
    out.push(example(
        "answer/Snapshot",
        &WireAnswer::Snapshot(vec![1, 2, 3]),
    ));
    out
}

#[test]
fn the_handshake_is_praetor_and_protocol_version_6() {
    let mut hello = MAGIC.to_vec();
    hello.push(VERSION);
    assert_eq!(
        hello, b"PRAETOR\x06",
        "{RPC_CHANGED}\n\nthe handshake bytes changed: peers of other builds are refused"
    );
}

/// The JSON API types that still cross the RPC wire inside answers (reads
/// and transaction results) survive postcard with every field empty: a
/// `skip_serializing_if` added to one for Consul's JSON (as `KvPair` has)
/// would drop a field from the bytes and fail here rather than between
/// two servers.
#[test]
fn api_types_carried_over_rpc_round_trip_with_empty_fields() {
    use praetor_api::catalog::{CatalogService, ServiceEntry, ServiceSummary};
    use praetor_api::event::UserEvent;
    use praetor_api::session::SessionEntry;

    fn check<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(v: T) {
        let back = postcard::from_bytes::<T>(&encode(&v));
        assert_eq!(
            back.as_ref().ok(),
            Some(&v),
            "{RPC_CHANGED}\n\n{} does not survive postcard ({back:?}): a serde attribute \
             meant for JSON (skip_serializing_if, flatten, untagged) changes its bytes. Carry \
             a store type on the wire instead (praetor_store::model), or drop the attribute.",
            std::any::type_name::<T>()
        );
    }
    let node = Node {
        id: String::new(),
        node: String::new(),
        address: String::new(),
        datacenter: String::new(),
        tagged_addresses: BTreeMap::new(),
        meta: BTreeMap::new(),
        create_index: 0,
        modify_index: 0,
    };
    let service = NodeService {
        id: String::new(),
        service: String::new(),
        tags: Vec::new(),
        address: String::new(),
        meta: BTreeMap::new(),
        port: 0,
        weights: Weights::default(),
        enable_tag_override: false,
        kind: String::new(),
        tagged_addresses: BTreeMap::new(),
        proxy: Default::default(),
        locality: None,
        create_index: 0,
        modify_index: 0,
    };
    let check_ = HealthCheck {
        node: String::new(),
        check_id: String::new(),
        name: String::new(),
        status: String::new(),
        notes: String::new(),
        output: String::new(),
        service_id: String::new(),
        service_name: String::new(),
        service_tags: Vec::new(),
        kind: String::new(),
        create_index: 0,
        modify_index: 0,
    };
    check(node.clone());
    check(service.clone());
    check(check_.clone());
    check(ServiceEntry {
        node,
        service,
        checks: vec![check_],
    });
    check(CatalogService {
        id: String::new(),
        node: String::new(),
        address: String::new(),
        datacenter: String::new(),
        tagged_addresses: BTreeMap::new(),
        node_meta: BTreeMap::new(),
        service_id: String::new(),
        service_name: String::new(),
        service_tags: Vec::new(),
        service_address: String::new(),
        service_weights: Weights::default(),
        service_meta: BTreeMap::new(),
        service_port: 0,
        service_enable_tag_override: false,
        service_kind: String::new(),
        service_tagged_addresses: BTreeMap::new(),
        service_proxy: Default::default(),
        service_locality: None,
        create_index: 0,
        modify_index: 0,
    });
    check(ServiceSummary {
        name: String::new(),
        datacenter: String::new(),
        tags: Vec::new(),
        nodes: Vec::new(),
        instance_count: 0,
        checks_passing: 0,
        checks_warning: 0,
        checks_critical: 0,
    });
    check(UserEvent {
        id: String::new(),
        name: String::new(),
        payload: None,
        node_filter: String::new(),
        service_filter: String::new(),
        tag_filter: String::new(),
        version: 0,
        ltime: 0,
    });
    check(SessionEntry {
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
    });
}

// ------------------------------------------------------ Raft log examples

fn log_examples() -> Vec<Example> {
    vec![
        example("entry/blank", &entry(1, EntryPayload::Blank)),
        example(
            "entry/normal",
            &entry(
                2,
                EntryPayload::Normal(Command::Timed {
                    at_ms: 1_780_000_000_000,
                    cmd: Box::new(Command::Batch(vec![
                        kv_set(),
                        Command::SessionRenew { id: "s-1".into() },
                    ])),
                }),
            ),
        ),
        example(
            "entry/membership",
            &entry(3, EntryPayload::Membership(membership())),
        ),
        example("meta/vote", &Vote::new_committed(3, 1)),
        example("meta/vote/uncommitted", &Vote::new(4, 2)),
        example("meta/committed", &Some(log_id(3, 1, 43))),
        example("meta/purged", &Some(log_id(2, 1, 20))),
        example("meta/none", &None::<LogId>),
        example(
            "snapshot_file",
            &SnapshotFile {
                meta: snapshot_meta(),
                data: vec![0x05, 0x01, 0x02, 0x03],
            },
        ),
        example(
            "snapshot_meta_file",
            &MetaFile {
                format: META_FORMAT,
                meta: snapshot_meta(),
                data_file: "data-7.bin".into(),
                data_len: 300_000_000,
            },
        ),
    ]
}

const LOG_GOLDEN: &str = include_str!("../tests/golden/raft_log.hex");

#[test]
fn every_raft_log_record_encodes_to_its_golden_bytes_and_back() {
    check_golden(
        "crates/server/tests/golden/raft_log.hex",
        LOG_GOLDEN,
        &log_examples(),
        LOG_CHANGED,
    );
}

#[test]
fn every_log_entry_payload_has_a_golden_example() {
    let count = variant_count::<EntryPayload<crate::raft::TypeConfig>>();
    let covered: BTreeSet<u32> = log_examples()
        .iter()
        .filter(|e| e.name.starts_with("entry/"))
        // An entry is its log id (term, node, index: one byte each here)
        // and then its payload's tag.
        .map(|e| u32::from(e.bytes[3]))
        .collect();
    assert_eq!(
        covered,
        (0..count).collect::<BTreeSet<u32>>(),
        "{LOG_CHANGED}\n\nopenraft's EntryPayload has {count} variants"
    );
}

// ------------------------------------------------------ properties

fn text() -> impl Strategy<Value = String> {
    prop_oneof![Just(String::new()), "[a-z0-9/._-]{1,12}", any::<String>()]
}

fn arb_log_id() -> impl Strategy<Value = Option<LogId>> {
    proptest::option::of(
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(t, n, i)| log_id(t, n, i)),
    )
}

fn arb_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        (
            text(),
            proptest::collection::vec(any::<u8>(), 0..32),
            any::<u64>(),
            any::<Option<u64>>()
        )
            .prop_map(|(key, value, flags, cas)| Command::KvSet {
                key,
                value: value.into(),
                flags,
                cas
            }),
        (text(), any::<Option<u64>>()).prop_map(|(key, cas)| Command::KvDelete { key, cas }),
        text().prop_map(|id| Command::SessionRenew { id }),
    ]
}

fn arb_wire_error() -> impl Strategy<Value = WireError> {
    prop_oneof![
        Just(WireError::NoLeader),
        any::<Option<u64>>().prop_map(WireError::NotLeader),
        text().prop_map(WireError::UnknownPeer),
        text().prop_map(WireError::Other),
        text().prop_map(WireError::OutcomeUnknown),
        prop_oneof![
            Just(crate::acl::AclError::NotFound),
            text().prop_map(crate::acl::AclError::Denied),
            Just(crate::acl::AclError::Disabled),
            text().prop_map(crate::acl::AclError::Invalid),
        ]
        .prop_map(WireError::Acl),
        text().prop_map(WireError::NoPathToDatacenter),
    ]
}

fn arb_response() -> impl Strategy<Value = Response> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Response::Applied),
        Just(Response::Ignored),
        text().prop_map(Response::Refused),
        proptest::collection::vec((any::<usize>(), text()), 0..3).prop_map(|errors| Response::Txn(
            TxnOutcome {
                results: Vec::new(),
                errors
            }
        )),
    ];
    leaf.prop_recursive(2, 8, 4, |inner| {
        proptest::collection::vec(inner, 0..4).prop_map(Response::Batch)
    })
}

fn arb_request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (arb_command(), proptest::option::of(".{0,8}"))
            .prop_map(|(c, t)| Request::Write(c, crate::acl::Token::new(t.unwrap_or_default()))),
        (arb_command(), proptest::option::of(".{0,8}"))
            .prop_map(|(c, t)| Request::Propose(c, crate::acl::Token::new(t.unwrap_or_default()))),
        LazyJust::new(|| Request::Status),
        (text(), arb_command(), proptest::option::of(".{0,8}")).prop_map(|(dc, c, t)| {
            Request::CrossDc(
                dc,
                crate::rpc::DcCall::Write(c, crate::acl::Token::new(t.unwrap_or_default())),
            )
        }),
        text().prop_map(|dc| Request::CrossDc(dc, crate::rpc::DcCall::Status)),
        any::<u64>().prop_map(Request::RemovePeer),
        LazyJust::new(|| Request::Ping),
        (any::<u64>(), any::<u64>(), arb_log_id()).prop_map(|(candidate, term, last_log)| {
            Request::PreVote(PreVote {
                candidate,
                term,
                last_log,
            })
        }),
        (any::<u64>(), any::<u64>(), arb_log_id()).prop_map(|(term, node, last_log_id)| {
            Request::Vote(VoteRequest {
                vote: Vote::new(term, node),
                last_log_id,
            })
        }),
        (arb_log_id(), proptest::collection::vec(arb_command(), 0..4)).prop_map(|(prev, cmds)| {
            Request::AppendEntries(AppendEntriesRequest {
                vote: Vote::new_committed(1, 1),
                prev_log_id: prev,
                entries: cmds
                    .into_iter()
                    .enumerate()
                    .map(|(i, c)| entry(i as u64 + 1, EntryPayload::Normal(c)))
                    .collect(),
                leader_commit: prev,
            })
        }),
    ]
}

fn arb_reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        (any::<u64>(), arb_response()).prop_map(|r| Reply::Write(Ok(r))),
        arb_wire_error().prop_map(|e| Reply::Write(Err(e))),
        arb_wire_error().prop_map(|e| Reply::Done(Err(e))),
        LazyJust::new(|| Reply::Done(Ok(()))),
        any::<u64>().prop_map(Reply::Pong),
        text().prop_map(Reply::Error),
        any::<bool>().prop_map(Reply::PreVote),
    ]
}

/// Encoding, decoding and encoding again gives the same bytes.
fn round_trips<T: Serialize + DeserializeOwned>(v: &T) -> Result<(), TestCaseError> {
    let bytes = encode(v);
    let back: T = postcard::from_bytes(&bytes)
        .map_err(|e| TestCaseError::fail(format!("does not decode: {e}")))?;
    prop_assert_eq!(encode(&back), bytes);
    Ok(())
}

proptest! {
    #[test]
    fn any_request_frame_round_trips(id in any::<u64>(), body in arb_request()) {
        round_trips(&Frame { id, body })?;
    }

    #[test]
    fn any_reply_frame_round_trips(id in any::<u64>(), body in arb_reply()) {
        round_trips(&Frame { id, body })?;
    }

    #[test]
    fn any_wire_error_decodes_to_itself(e in arb_wire_error()) {
        prop_assert_eq!(postcard::from_bytes::<WireError>(&encode(&e)).ok(), Some(e));
    }

    #[test]
    fn any_log_entry_round_trips(index in any::<u64>(), cmd in arb_command()) {
        round_trips(&entry(index, EntryPayload::Normal(cmd)))?;
    }

    /// Bytes from a peer or a damaged disk fail to decode; they never panic.
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = postcard::from_bytes::<Frame<Request>>(&bytes);
        let _ = postcard::from_bytes::<Frame<Reply>>(&bytes);
        let _ = postcard::from_bytes::<Entry>(&bytes);
        let _ = postcard::from_bytes::<SnapshotFile>(&bytes);
        let _ = postcard::from_bytes::<MetaFile>(&bytes);
    }
}

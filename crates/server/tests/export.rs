//! `GET /v1/snapshot`'s state export on servers (`praetor_server::export`):
//! a state of several pieces asked of a follower is encoded on the leader
//! and read from it piece by piece over RPC; a stale export is served by
//! the follower itself; pieces join into exactly what the store encodes;
//! an export nobody holds, a non-management token and too many exports at
//! once are refused with the reason.

use std::time::Duration;

use praetor_server::acl::Token;
use praetor_server::export::{ExportRequest, MAX_EXPORTS, PIECE};
use praetor_server::{Consistency, Server};
use praetor_store::Store;

mod common;

async fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    praetor_testwait::wait_until(Duration::from_secs(10), what, || {
        praetor_testwait::check(f(), || "not yet".into())
    })
    .await
    .unwrap();
}

/// Reads a whole export from `via`: its bytes and the index it is at.
async fn export_all(via: &Server, consistency: Consistency) -> (Vec<u8>, u64) {
    let token = Token::anonymous();
    let ask = |id, offset| ExportRequest {
        id,
        offset,
        consistency,
    };
    let first = via.snapshot_export(&token, ask(None, 0)).await.unwrap();
    let mut data = first.data.to_vec();
    let mut pieces = 1;
    while (data.len() as u64) < first.size {
        let piece = via
            .snapshot_export(&token, ask(Some(first.id), data.len() as u64))
            .await
            .unwrap();
        assert_eq!((piece.id, piece.offset), (first.id, data.len() as u64));
        assert!(piece.data.len() <= PIECE);
        data.extend_from_slice(&piece.data);
        pieces += 1;
    }
    assert_eq!(data.len() as u64, first.size);
    assert_eq!(crc32fast::hash(&data), first.crc32);
    assert!(pieces >= 3, "{pieces} pieces of {} bytes", first.size);
    // The export ended with its last piece.
    let after = via
        .snapshot_export(&token, ask(Some(first.id), 0))
        .await
        .unwrap_err();
    assert!(
        after.to_string().contains("no such snapshot export"),
        "{after}"
    );
    (data, first.index)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_of_many_pieces_is_exported_from_the_leader_or_a_stale_follower() {
    let a = common::start(1, true, |_| {}).await;
    wait_until("a leader", || a.server.is_leader()).await;
    let b = common::start(2, false, |_| {}).await;
    a.server.add_voter(2, &b.addr).await.unwrap();
    let value = "x".repeat(200 * 1024);
    for i in 0..60 {
        let (_, r) = a
            .server
            .write(common::set(&format!("big/{i:02}"), &value))
            .await
            .unwrap();
        assert!(r.ok());
    }
    let last = a.server.shared().read().store.last_index();
    let follower = b.server.clone();
    wait_until("the follower has every write", move || {
        follower.shared().read().store.last_index() >= last
    })
    .await;

    for (via, consistency) in [
        (&b.server, Consistency::Default),
        (&b.server, Consistency::Stale),
        (&a.server, Consistency::Consistent),
    ] {
        let (data, index) = export_all(via, consistency).await;
        let store = Store::decode_snapshot(&data).unwrap();
        assert_eq!(store.kv().len(), 60, "{consistency:?}");
        assert_eq!(&*store.kv().get("big/07").unwrap().value, value.as_bytes());
        assert!(index >= last);
        assert!(store.history().is_empty(), "the state, not the history");
    }

    // At most MAX_EXPORTS at once on one server; the next is refused.
    let begin = |s: &Server| {
        let s = s.clone();
        async move {
            s.snapshot_export(
                &Token::anonymous(),
                ExportRequest {
                    id: None,
                    offset: 0,
                    consistency: Consistency::Default,
                },
            )
            .await
        }
    };
    for _ in 0..MAX_EXPORTS {
        begin(&a.server).await.unwrap();
    }
    let busy = begin(&b.server).await.unwrap_err();
    assert!(busy.to_string().contains("being saved"), "{busy}");
    // An ID that no server holds.
    let none = a
        .server
        .snapshot_export(
            &Token::anonymous(),
            ExportRequest {
                id: Some(12345),
                offset: 0,
                consistency: Consistency::Default,
            },
        )
        .await
        .unwrap_err();
    assert!(
        none.to_string().contains("no such snapshot export"),
        "{none}"
    );

    for n in [a, b] {
        n.stop.cancel();
        n.server.shutdown().await;
    }
}

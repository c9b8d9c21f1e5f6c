//! Server RPC over TLS on loopback, with certificates from a throwaway CA:
//! who is let in, who may make Raft calls, and what a reload changes.

use std::sync::Arc;
use std::time::Duration;

use openraft::raft::VoteRequest;
use openraft::Vote;
use praetor_tls::testing::Ca;
use praetor_tls::Settings;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::rpc::{serve_tls, Dialer, Handler, Limits, Reply, RpcClient, RpcError};

const WAIT: Duration = Duration::from_secs(5);

/// Answers pings and votes, so a refusal can only come from the listener.
struct Answering;
impl Handler for Answering {
    async fn handle(&self, req: Request) -> Reply {
        match req {
            Request::Ping => Reply::Pong(7),
            Request::Vote(_) => Reply::Error("vote reached the handler".into()),
            _ => Reply::Error("unexpected".into()),
        }
    }
}

fn server_settings(ca: &Ca, names: &[&str]) -> Settings {
    let mut s = ca.settings(&ca.leaf("server", names));
    s.verify_incoming = true;
    s.verify_outgoing = true;
    s.verify_server_hostname = true;
    s
}

fn rpc_tls(s: &Settings) -> Arc<RpcTls> {
    RpcTls::new(s, "dc1", "consul.").unwrap().unwrap()
}

async fn listen(tls: Arc<RpcTls>, stop: &CancellationToken) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_tls(
        listener,
        Arc::new(Answering),
        Limits::default(),
        Some(tls),
        stop.clone(),
    ));
    addr
}

fn client(addr: std::net::SocketAddr, tls: Option<Arc<RpcTls>>) -> RpcClient {
    RpcClient::with_dialer(addr, Dialer::default().with_tls(tls))
}

/// A client holding a server certificate of `ca`, all checks on.
fn server_peer(addr: std::net::SocketAddr, ca: &Ca) -> RpcClient {
    client(
        addr,
        Some(rpc_tls(&server_settings(ca, &["server.dc1.consul"]))),
    )
}

fn vote() -> Request {
    Request::Vote(VoteRequest {
        vote: Vote::new(1, 1),
        last_log_id: None,
    })
}

#[tokio::test]
async fn a_server_certificate_may_make_every_call_and_a_client_certificate_no_raft_call() {
    let ca = Ca::new("dc1");
    let stop = CancellationToken::new();
    let addr = listen(
        rpc_tls(&server_settings(&ca, &["server.dc1.consul"])),
        &stop,
    )
    .await;

    let peer = server_peer(addr, &ca);
    assert!(matches!(
        peer.call(Request::Ping, WAIT).await,
        Ok(Reply::Pong(7))
    ));
    match peer.call(vote(), WAIT).await {
        Ok(Reply::Error(e)) => assert!(e.contains("reached the handler"), "{e}"),
        other => panic!("a server's vote should reach the handler: {other:?}"),
    }

    let mut agent = ca.settings(&ca.leaf("client", &["client.dc1.consul"]));
    agent.verify_outgoing = true;
    agent.verify_server_hostname = true;
    let agent = client(addr, Some(rpc_tls(&agent)));
    assert!(
        matches!(agent.call(Request::Ping, WAIT).await, Ok(Reply::Pong(7))),
        "a client agent reads and writes"
    );
    match agent.call(vote(), WAIT).await {
        Ok(Reply::Error(e)) => assert!(e.contains("does not name a server"), "{e}"),
        other => panic!("a client certificate must not vote: {other:?}"),
    }
    stop.cancel();
}

#[tokio::test]
async fn plain_text_and_strangers_are_refused_at_the_handshake() {
    let ca = Ca::new("dc1");
    let stop = CancellationToken::new();
    let addr = listen(
        rpc_tls(&server_settings(&ca, &["server.dc1.consul"])),
        &stop,
    )
    .await;

    let plain = client(addr, None);
    let e = plain.call(Request::Ping, WAIT).await.unwrap_err();
    assert!(matches!(e, RpcError::Connect { .. }), "{e}");

    let evil = Ca::new("evil");
    let stranger = server_peer(addr, &evil);
    let e = stranger.call(Request::Ping, WAIT).await.unwrap_err();
    assert!(e.to_string().contains("tls handshake"), "{e}");

    // Without a client certificate at all.
    let anonymous = Settings {
        ca_file: Some(ca.file.clone()),
        verify_outgoing: true,
        ..Settings::default()
    };
    let e = client(addr, Some(rpc_tls(&anonymous)))
        .call(Request::Ping, WAIT)
        .await
        .unwrap_err();
    assert!(
        matches!(e, RpcError::Connect { .. } | RpcError::Lost { .. }),
        "{e}"
    );
    stop.cancel();
}

#[tokio::test]
async fn a_client_refuses_a_server_whose_certificate_does_not_name_a_server() {
    let ca = Ca::new("dc1");
    let stop = CancellationToken::new();
    // A client agent's certificate, posing as a server.
    let addr = listen(
        rpc_tls(&server_settings(&ca, &["client.dc1.consul"])),
        &stop,
    )
    .await;
    let peer = server_peer(addr, &ca);
    let e = peer.call(Request::Ping, WAIT).await.unwrap_err();
    assert!(e.to_string().contains("not valid for name"), "{e}");
    stop.cancel();
}

#[tokio::test]
async fn a_server_of_another_datacenter_is_checked_against_that_datacenters_name() {
    let ca = Ca::new("federation");
    let stop = CancellationToken::new();
    // dc2's server; dc1's server dials it (the ping stands for a routed call).
    let dc2 = RpcTls::new(
        &server_settings(&ca, &["server.dc2.consul"]),
        "dc2",
        "consul.",
    )
    .unwrap()
    .unwrap();
    let addr = listen(dc2, &stop).await;
    let dc1 = Some(rpc_tls(&server_settings(&ca, &["server.dc1.consul"])));
    let routed = RpcClient::with_dialer(
        addr,
        Dialer::default()
            .with_tls(dc1.clone())
            .for_datacenter("dc2"),
    );
    assert!(matches!(
        routed.call(Request::Ping, WAIT).await,
        Ok(Reply::Pong(7))
    ));
    // Dialled as a server of dc1, the same certificate is refused.
    let e = client(addr, dc1)
        .call(Request::Ping, WAIT)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not valid for name"), "{e}");
    stop.cancel();
}

#[tokio::test]
async fn without_verify_incoming_plain_text_is_served_but_may_not_take_part_in_raft() {
    let ca = Ca::new("dc1");
    let mut settings = server_settings(&ca, &["server.dc1.consul"]);
    settings.verify_incoming = false;
    let stop = CancellationToken::new();
    let addr = listen(rpc_tls(&settings), &stop).await;
    let plain = client(addr, None);
    assert!(matches!(
        plain.call(Request::Ping, WAIT).await,
        Ok(Reply::Pong(7))
    ));
    match plain.call(vote(), WAIT).await {
        Ok(Reply::Error(e)) => assert!(e.contains("does not name a server"), "{e}"),
        other => panic!("plain text proves nothing: {other:?}"),
    }
    stop.cancel();
}

#[tokio::test]
async fn after_a_reload_new_connections_use_the_new_certificates() {
    let old_ca = Ca::new("old");
    let new_ca = Ca::new("new");
    let stop = CancellationToken::new();
    let server = rpc_tls(&server_settings(&old_ca, &["server.dc1.consul"]));
    let addr = listen(server.clone(), &stop).await;

    let old_peer = server_peer(addr, &old_ca);
    assert!(old_peer.call(Request::Ping, WAIT).await.is_ok());

    server
        .reload(&server_settings(&new_ca, &["server.dc1.consul"]))
        .unwrap();
    // The open connection keeps its session.
    assert!(old_peer.call(Request::Ping, WAIT).await.is_ok());
    // A new connection of the old CA is refused; one of the new CA is not.
    let e = server_peer(addr, &old_ca)
        .call(Request::Ping, WAIT)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("tls handshake"), "{e}");
    let new_peer = server_peer(addr, &new_ca);
    assert!(new_peer.call(Request::Ping, WAIT).await.is_ok());

    // A reload with a bad file changes nothing.
    let mut broken = server_settings(&new_ca, &["server.dc1.consul"]);
    broken.cert_file = Some(new_ca.dir().join("missing.pem"));
    assert!(server.reload(&broken).is_err());
    assert!(server_peer(addr, &new_ca)
        .call(Request::Ping, WAIT)
        .await
        .is_ok());
    stop.cancel();
}

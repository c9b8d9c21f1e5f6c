//! The RPC server against real clients and against strangers on loopback:
//! the handshake, the frame cap, the caps on calls and connections, a
//! stranger's flood, and shutdown.

use super::*;
use crate::rpc::{RpcClient, RpcError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

struct Echo;
impl Handler for Echo {
    async fn handle(&self, req: Request) -> Reply {
        match req {
            Request::Ping => Reply::Pong(7),
            Request::Write(cmd, _) => {
                // Slow calls must not hold up fast ones on the same connection.
                if cmd.kind() == "kv_delete" {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Reply::Write(Ok((1, praetor_store::Response::Applied(true))))
            }
            _ => Reply::Error("unexpected".into()),
        }
    }
}

/// Answers pings at once and holds every write until the gate opens,
/// counting the writes inside and the most ever inside at once.
struct Gate {
    inside: AtomicUsize,
    most: AtomicUsize,
    /// Writes whose handling ended, by finishing or by being cancelled.
    ended: AtomicUsize,
    open: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            inside: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            ended: AtomicUsize::new(0),
            open: Semaphore::new(0),
        }
    }
}

struct Ended<'a>(&'a Gate);
impl Drop for Ended<'_> {
    fn drop(&mut self) {
        self.0.inside.fetch_sub(1, Ordering::SeqCst);
        self.0.ended.fetch_add(1, Ordering::SeqCst);
    }
}

impl Handler for Gate {
    async fn handle(&self, req: Request) -> Reply {
        match req {
            Request::Ping => Reply::Pong(1),
            Request::Write(..) => {
                let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
                self.most.fetch_max(now, Ordering::SeqCst);
                let _ended = Ended(self);
                let _ = self.open.acquire().await;
                Reply::Write(Ok((1, praetor_store::Response::Applied(true))))
            }
            _ => Reply::Error("unexpected".into()),
        }
    }
}

fn write() -> Request {
    Request::Write(
        praetor_store::Command::KvSet {
            key: "k".into(),
            value: b"v".to_vec().into(),
            flags: 0,
            cas: None,
        },
        crate::acl::Token::anonymous(),
    )
}

struct Running {
    addr: SocketAddr,
    stop: CancellationToken,
    server: JoinHandle<()>,
}

async fn start<H: Handler>(handler: Arc<H>, limits: Limits) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve_with(listener, handler, limits, stop.clone()));
    Running { addr, stop, server }
}

impl Running {
    async fn shutdown(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.server)
            .await
            .expect("serve returns after stop")
            .unwrap();
    }
}

/// Waits until `f` holds, polling, for at most 10 s.
async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A raw TCP connection to `addr` from loopback address 127.0.0.`last`.
async fn connect_from(last: u8, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind(SocketAddr::from(([127, 0, 0, last], 0)))
        .unwrap();
    socket.connect(addr).await.unwrap()
}

/// Sends our handshake; `true` when the server answers with its own.
async fn handshake(s: &mut TcpStream) -> bool {
    if s.write_all(&handshake::hello()).await.is_err() {
        return false;
    }
    let mut answer = [0u8; 8];
    matches!(
        tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut answer)).await,
        Ok(Ok(_)) if answer == handshake::hello()
    )
}

/// `true` when the server closes `s` within 5 s (reading and discarding).
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    let read_to_end = async {
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read_to_end)
        .await
        .is_ok()
}

/// A call as it travels: length header, then the encoded frame.
fn framed(id: u64, req: &Request) -> Vec<u8> {
    let body = postcard::to_stdvec(&Frame { id, body: req }).unwrap();
    let mut out = (body.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(&body);
    out
}

async fn ping_ok(client: &RpcClient) -> bool {
    matches!(
        client.call(Request::Ping, Duration::from_secs(2)).await,
        Ok(Reply::Pong(_))
    )
}

#[tokio::test]
async fn many_calls_share_one_connection_and_reconnect_after_a_restart() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve(listener, Arc::new(Echo), stop.clone()));
    let client = Arc::new(RpcClient::new(addr));

    let slow = {
        let c = client.clone();
        tokio::spawn(async move {
            c.call(
                Request::Write(
                    praetor_store::Command::KvDelete {
                        key: "k".into(),
                        cas: None,
                    },
                    crate::acl::Token::anonymous(),
                ),
                Duration::from_secs(5),
            )
            .await
        })
    };
    let mut fast = Vec::new();
    for _ in 0..100 {
        let c = client.clone();
        fast.push(tokio::spawn(async move {
            c.call(Request::Ping, Duration::from_secs(5)).await
        }));
    }
    for f in fast {
        assert!(matches!(f.await.unwrap(), Ok(Reply::Pong(7))));
    }
    assert!(!slow.is_finished(), "fast calls overtook the slow one");
    assert!(matches!(slow.await.unwrap(), Ok(Reply::Write(Ok(_)))));

    // The server goes away: calls fail fast, then succeed once it is back.
    stop.cancel();
    server.await.unwrap();
    let r = client.call(Request::Ping, Duration::from_secs(2)).await;
    assert!(r.is_err(), "a call to a stopped server fails: {r:?}");
    let listener = TcpListener::bind(addr).await.unwrap();
    let stop = CancellationToken::new();
    let server = tokio::spawn(serve(listener, Arc::new(Echo), stop.clone()));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !ping_ok(&client).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the client reconnects after the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    server.await.unwrap();
}

#[tokio::test]
async fn a_call_to_a_silent_peer_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accept, answer the handshake, and never answer a call.
    let _hold = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut hello = [0u8; 8];
        s.read_exact(&mut hello).await.unwrap();
        s.write_all(&handshake::hello()).await.unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let client = RpcClient::new(addr);
    let r = client.call(Request::Ping, Duration::from_millis(200)).await;
    assert!(matches!(r, Err(RpcError::Timeout { .. })), "{r:?}");
}

#[tokio::test]
async fn a_peer_without_the_handshake_is_closed_at_once_and_clients_are_still_served() {
    let run = start(
        Arc::new(Echo),
        Limits {
            // Long: the garbage must be refused on sight, not on timeout.
            handshake_timeout: Duration::from_secs(60),
            ..Limits::default()
        },
    )
    .await;
    for garbage in [
        &b"GET /v1/agent/self HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &b"\x00\x00\x00\x05hello"[..],
        &b"PRAETOX\x01"[..],
    ] {
        let mut s = connect_from(2, run.addr).await;
        s.write_all(garbage).await.unwrap();
        assert!(
            closed_by_server(&mut s).await,
            "{garbage:?} closes the connection"
        );
    }
    // An unsupported version is answered with ours, then closed.
    let mut s = connect_from(2, run.addr).await;
    s.write_all(b"PRAETOR\x63").await.unwrap();
    let mut answer = [0u8; 8];
    s.read_exact(&mut answer).await.unwrap();
    assert_eq!(answer, handshake::hello());
    assert!(closed_by_server(&mut s).await);

    let client = RpcClient::new(run.addr);
    assert!(ping_ok(&client).await, "a real client is served");
    run.shutdown().await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_handshake_timeout() {
    let run = start(
        Arc::new(Echo),
        Limits {
            handshake_timeout: Duration::from_millis(200),
            ..Limits::default()
        },
    )
    .await;
    let mut s = connect_from(2, run.addr).await;
    assert!(closed_by_server(&mut s).await);
    run.shutdown().await;
}

#[tokio::test]
async fn a_frame_header_announcing_more_than_the_cap_closes_the_connection() {
    let run = start(
        Arc::new(Echo),
        Limits {
            max_frame: 64 * 1024,
            ..Limits::default()
        },
    )
    .await;
    for announced in [64 * 1024 + 1, u32::MAX] {
        let mut s = connect_from(2, run.addr).await;
        assert!(handshake(&mut s).await);
        // A real call first: the connection works until the bad header.
        s.write_all(&framed(1, &Request::Ping)).await.unwrap();
        let mut head = [0u8; 4];
        s.read_exact(&mut head).await.unwrap();
        let mut reply = vec![0u8; u32::from_be_bytes(head) as usize];
        s.read_exact(&mut reply).await.unwrap();
        let reply: Frame<Reply> = postcard::from_bytes(&reply).unwrap();
        assert!(matches!(reply.body, Reply::Pong(7)));
        s.write_all(&announced.to_be_bytes()).await.unwrap();
        assert!(
            closed_by_server(&mut s).await,
            "a header of {announced} bytes closes the connection"
        );
    }
    // A frame that does not decode closes it too.
    let mut s = connect_from(2, run.addr).await;
    assert!(handshake(&mut s).await);
    s.write_all(&[0, 0, 0, 3, 0xff, 0xff, 0xff]).await.unwrap();
    assert!(closed_by_server(&mut s).await);
    run.shutdown().await;
}

#[tokio::test]
async fn calls_beyond_the_per_connection_cap_queue_instead_of_running() {
    let gate = Arc::new(Gate::default());
    let run = start(
        gate.clone(),
        Limits {
            max_calls_per_conn: 4,
            ..Limits::default()
        },
    )
    .await;
    let client = Arc::new(RpcClient::new(run.addr));
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.call(write(), Duration::from_secs(20)).await })
        })
        .collect();
    wait_for("four writes in the handler", || {
        gate.inside.load(Ordering::SeqCst) == 4
    })
    .await;
    // The connection is not read while it is full: a ping waits too.
    let r = client.call(Request::Ping, Duration::from_millis(300)).await;
    assert!(matches!(r, Err(RpcError::Timeout { .. })), "{r:?}");
    assert_eq!(gate.inside.load(Ordering::SeqCst), 4);

    gate.open.add_permits(100);
    for c in calls {
        assert!(matches!(c.await.unwrap(), Ok(Reply::Write(Ok(_)))));
    }
    assert_eq!(
        gate.most.load(Ordering::SeqCst),
        4,
        "never more than the cap"
    );
    assert!(ping_ok(&client).await);
    run.shutdown().await;
}

#[tokio::test]
async fn connections_beyond_the_caps_are_refused() {
    let run = start(
        Arc::new(Echo),
        Limits {
            max_conns_per_ip: 2,
            max_conns: 3,
            ..Limits::default()
        },
    )
    .await;
    let mut a1 = connect_from(2, run.addr).await;
    let mut a2 = connect_from(2, run.addr).await;
    assert!(handshake(&mut a1).await && handshake(&mut a2).await);
    let mut a3 = connect_from(2, run.addr).await;
    assert!(
        !handshake(&mut a3).await,
        "a third from 127.0.0.2 is refused"
    );
    let mut b1 = connect_from(3, run.addr).await;
    assert!(handshake(&mut b1).await, "another address is served");
    let mut c1 = connect_from(4, run.addr).await;
    assert!(!handshake(&mut c1).await, "a fourth in all is refused");

    // A closed connection gives its place back.
    drop(a1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = connect_from(2, run.addr).await;
        if handshake(&mut again).await {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place of a closed connection is given back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop((a2, b1));
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strangers_flood_does_not_stop_a_real_clients_calls() {
    let gate = Arc::new(Gate::default());
    let run = start(
        gate.clone(),
        Limits {
            max_frame: 1024 * 1024,
            conn_bytes: 1024 * 1024,
            ip_bytes: 1536 * 1024,
            large_frame: 64 * 1024,
            large_bytes: 2 * 1024 * 1024,
            total_bytes: 3 * 1024 * 1024,
            max_calls_per_conn: 64,
            frame_timeout: Duration::from_secs(60),
            ..Limits::default()
        },
    )
    .await;
    let mut held = Vec::new();
    let mut floods = Vec::new();
    // A stranger (127.0.0.2) sends calls that never end as fast as it can,
    // never reading a reply, to take every call slot it can ...
    let calls: Vec<u8> = (0..2000).flat_map(|i| framed(i, &write())).collect();
    for _ in 0..4 {
        let mut s = connect_from(2, run.addr).await;
        assert!(handshake(&mut s).await);
        let calls = calls.clone();
        floods.push(tokio::spawn(async move {
            while s.write_all(&calls).await.is_ok() {}
        }));
    }
    wait_for("the stranger's calls to fill its connections", || {
        gate.inside.load(Ordering::SeqCst) == 4 * 64
    })
    .await;

    // ... and announces the largest frames and never sends them, to take
    // the budget for large frames too.
    for _ in 0..4 {
        let mut s = connect_from(2, run.addr).await;
        assert!(handshake(&mut s).await);
        s.write_all(&(1024u32 * 1024).to_be_bytes()).await.unwrap();
        s.write_all(b"a little").await.unwrap();
        held.push(s);
    }
    // Others (127.0.0.3) connect without speaking RPC at all.
    for _ in 0..20 {
        let mut s = connect_from(3, run.addr).await;
        let _ = s
            .write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
            .await;
        held.push(s);
    }
    let client = RpcClient::new(run.addr);
    for i in 0..50 {
        let r = client.call(Request::Ping, Duration::from_secs(2)).await;
        assert!(matches!(r, Ok(Reply::Pong(_))), "call {i}: {r:?}");
    }
    assert!(
        gate.most.load(Ordering::SeqCst) <= 4 * 64,
        "the stranger's calls in flight stay within its connections' caps"
    );
    for f in floods {
        f.abort();
    }
    drop(held);
    run.shutdown().await;
}

#[tokio::test]
async fn shutdown_cancels_calls_and_waits_for_every_task() {
    let gate = Arc::new(Gate::default());
    let run = start(gate.clone(), Limits::default()).await;
    let client = Arc::new(RpcClient::new(run.addr));
    let call = {
        let c = client.clone();
        tokio::spawn(async move { c.call(write(), Duration::from_secs(30)).await })
    };
    wait_for("the write in the handler", || {
        gate.inside.load(Ordering::SeqCst) == 1
    })
    .await;
    run.shutdown().await;
    assert_eq!(
        gate.ended.load(Ordering::SeqCst),
        1,
        "the call ended before serve returned"
    );
    let r = call.await.unwrap();
    assert!(matches!(r, Err(RpcError::Lost { .. })), "{r:?}");
}

#[test]
fn a_reply_above_the_frame_limit_becomes_an_error_reply() {
    let big = Reply::Error("x".repeat(1000));
    let bytes = encode_reply(9, big, 100).unwrap();
    let back: Frame<Reply> = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back.id, 9);
    assert!(
        matches!(&back.body, Reply::Error(why) if why.contains("above the rpc frame limit")),
        "{:?}",
        back.body
    );
    let small = encode_reply(3, Reply::Pong(1), 100).unwrap();
    assert!(matches!(
        postcard::from_bytes::<Frame<Reply>>(&small).unwrap().body,
        Reply::Pong(1)
    ));
}

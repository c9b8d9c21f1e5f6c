//! The listener against raw TCP clients on loopback: a tiny router with a
//! fast and a slow route stands in for the API.

use std::net::{Ipv4Addr, SocketAddr};

use axum::routing::get;
use tokio::net::TcpSocket;
use tokio::task::JoinHandle;

use super::*;

const SLOW: Duration = Duration::from_millis(1500);

struct Served {
    addr: SocketAddr,
    conns: Arc<Connections>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Served {
    async fn start(limits: ConnLimits) -> Served {
        let router = Router::new()
            .route("/fast", get(|| async { "fast" }))
            .route(
                "/slow",
                get(|| async {
                    // Stands in for a blocking query.
                    tokio::time::sleep(SLOW).await;
                    "slow"
                }),
            );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let conns = Arc::new(Connections::new(limits));
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, router, conns.clone(), None, stop.clone()));
        Served {
            addr,
            conns,
            stop,
            task,
        }
    }

    async fn connect(&self) -> TcpStream {
        connect_from(Ipv4Addr::LOCALHOST, self.addr).await
    }

    async fn shutdown(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("the listener stops within 5s")
            .expect("the listener task");
    }
}

fn limits(per_client: u32, total: usize, header_read: Duration, idle: Duration) -> ConnLimits {
    ConnLimits {
        per_client,
        total,
        header_read_timeout: Some(header_read),
        idle_timeout: Some(idle),
    }
}

async fn connect_from(source: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().expect("socket");
    sock.bind(SocketAddr::new(source.into(), 0)).expect("bind");
    sock.connect(to).await.expect("connect")
}

/// Sends `GET path` and reads one response: its status line and body.
async fn get_on(stream: &mut TcpStream, path: &str) -> (String, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n");
    stream.write_all(req.as_bytes()).await.expect("write");
    tokio::time::timeout(Duration::from_secs(10), read_response(stream))
        .await
        .expect("a response within 10s")
}

/// Reads one response with a `Content-Length`.
async fn read_response(stream: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed mid-response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head.lines().next().unwrap_or_default().to_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .expect("a content-length");
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "connection closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string();
    (status, body)
}

/// Waits at most `within` for the server to close `stream`; how long it took.
async fn wait_closed(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut chunk = [0u8; 256];
    loop {
        match tokio::time::timeout_at(start + within, stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_head_trickled_byte_by_byte_is_cut_off_at_the_header_read_timeout() {
    let header = Duration::from_millis(600);
    let served = Served::start(limits(0, 100, header, Duration::from_secs(30))).await;
    let mut stream = served.connect().await;
    let start = Instant::now();
    let head =
        b"GET /fast HTTP/1.1\r\nHost: test\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut sent = 0;
    let mut cut = None;
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() {
            cut = Some(start.elapsed());
            break;
        }
        sent += 1;
        if wait_closed(&mut stream, Duration::from_millis(100))
            .await
            .is_some()
        {
            cut = Some(start.elapsed());
            break;
        }
    }
    let cut = cut.expect("the trickling connection was cut off");
    assert!(sent < head.len(), "the whole head got through");
    assert!(
        cut >= header && cut < header + Duration::from_secs(2),
        "cut after {cut:?}, timeout {header:?}"
    );
    assert_eq!(served.conns.open(), 0, "its slot is free again");
    served.shutdown().await;
}

#[tokio::test]
async fn a_fresh_connection_that_sends_nothing_is_closed_at_the_header_read_timeout() {
    let header = Duration::from_millis(400);
    let served = Served::start(limits(0, 100, header, Duration::from_secs(30))).await;
    let mut stream = served.connect().await;
    let took = wait_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("closed within 5s");
    assert!(
        took >= header - Duration::from_millis(50),
        "closed after {took:?}"
    );
    served.shutdown().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_but_a_request_longer_than_the_idle_timeout_is_served(
) {
    let idle = Duration::from_millis(500);
    let served = Served::start(limits(0, 100, Duration::from_secs(5), idle)).await;

    let mut idler = served.connect().await;
    let mut waiter = served.connect().await;
    let (status, body) = get_on(&mut idler, "/fast").await;
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "fast")
    );
    let slow = tokio::spawn(async move {
        let answer = get_on(&mut waiter, "/slow").await;
        // Still usable afterwards: a request in flight is not idle time.
        let again = get_on(&mut waiter, "/fast").await;
        (answer, again)
    });

    let took = wait_closed(&mut idler, Duration::from_secs(5))
        .await
        .expect("the idle connection is closed within 5s");
    assert!(
        took >= idle - Duration::from_millis(50),
        "closed after {took:?}"
    );

    let ((status, body), (_, again)) = slow.await.expect("slow client");
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "slow")
    );
    assert_eq!(again, "fast");
    assert!(SLOW > idle * 2);
    served.shutdown().await;
}

#[tokio::test]
async fn a_client_over_its_connection_cap_gets_consuls_429_while_others_are_served() {
    let served = Served::start(limits(
        3,
        100,
        Duration::from_secs(5),
        Duration::from_secs(30),
    ))
    .await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = served.connect().await;
        assert_eq!(get_on(&mut s, "/fast").await.1, "fast");
        held.push(s);
    }
    assert_eq!(served.conns.held_by(Ipv4Addr::LOCALHOST.into()), 3);

    let mut fourth = served.connect().await;
    let (status, body) = get_on(&mut fourth, "/fast").await;
    assert_eq!(status, "HTTP/1.1 429 Too Many Requests");
    assert_eq!(body, TOO_MANY_CONNS);
    assert!(wait_closed(&mut fourth, Duration::from_secs(2))
        .await
        .is_some());

    // Another client is not affected.
    let mut other = connect_from(Ipv4Addr::new(127, 0, 0, 2), served.addr).await;
    assert_eq!(get_on(&mut other, "/fast").await.1, "fast");

    // Once one of the three closes, the client may connect again.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    while served.conns.held_by(Ipv4Addr::LOCALHOST.into()) != 2 {
        assert!(
            Instant::now() < deadline,
            "the closed connection is never freed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut again = served.connect().await;
    assert_eq!(get_on(&mut again, "/fast").await.1, "fast");
    served.shutdown().await;
}

#[tokio::test]
async fn at_the_total_cap_a_new_connection_waits_until_one_closes() {
    let served = Served::start(limits(
        0,
        2,
        Duration::from_secs(5),
        Duration::from_secs(30),
    ))
    .await;
    let mut first = served.connect().await;
    let mut second = served.connect().await;
    assert_eq!(get_on(&mut first, "/fast").await.1, "fast");
    assert_eq!(get_on(&mut second, "/fast").await.1, "fast");

    // The third completes its TCP handshake in the kernel's backlog, but is
    // not accepted: its request gets no answer…
    let mut third = served.connect().await;
    third
        .write_all(b"GET /fast HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    let early = tokio::time::timeout(Duration::from_millis(300), read_response(&mut third)).await;
    assert!(early.is_err(), "answered over the cap: {early:?}");

    // …until another connection closes.
    drop(first);
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), read_response(&mut third))
        .await
        .expect("answered once a connection closed");
    assert_eq!(
        (status.as_str(), body.as_str()),
        ("HTTP/1.1 200 OK", "fast")
    );
    served.shutdown().await;
}

#[tokio::test]
async fn new_limits_apply_to_the_next_connection() {
    let served = Served::start(limits(
        1,
        100,
        Duration::from_secs(5),
        Duration::from_secs(30),
    ))
    .await;
    let mut one = served.connect().await;
    assert_eq!(get_on(&mut one, "/fast").await.1, "fast");
    let mut two = served.connect().await;
    assert_eq!(
        get_on(&mut two, "/fast").await.0,
        "HTTP/1.1 429 Too Many Requests"
    );

    served.conns.configure(limits(
        2,
        100,
        Duration::from_secs(5),
        Duration::from_secs(30),
    ));
    let mut three = served.connect().await;
    assert_eq!(get_on(&mut three, "/fast").await.1, "fast");
    served.shutdown().await;
}

#[tokio::test]
async fn shutdown_does_not_wait_for_a_connection_still_sending_its_head() {
    let served = Served::start(limits(
        0,
        100,
        Duration::from_secs(60),
        Duration::from_secs(60),
    ))
    .await;
    let mut s = served.connect().await;
    s.write_all(b"GET /fast HTTP/1.1\r\nHo")
        .await
        .expect("write");
    // Accepted (and its first bytes read) before the stop.
    let deadline = Instant::now() + Duration::from_secs(5);
    while served.conns.open() != 1 {
        assert!(Instant::now() < deadline, "never accepted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    served.shutdown().await;
}

#[test]
fn the_default_total_cap_is_three_quarters_of_the_open_file_limit() {
    // As the agent does at start (so no other test can change it under us).
    let fds = raise_fd_limit().expect("getrlimit");
    let cfg = Limits::default();
    let limits = ConnLimits::from_config(&cfg);
    let expected = (fds / 4 * 3).clamp(MIN_DERIVED_CAP, MAX_DERIVED_CAP);
    assert_eq!(limits.total as u64, expected);
    assert_eq!(limits.per_client, 200);
    assert_eq!(limits.header_read_timeout, Some(Duration::from_secs(10)));
    assert_eq!(limits.idle_timeout, Some(Duration::from_secs(120)));

    let set = Limits {
        http_max_conns: Some(10),
        http_header_read_timeout: Duration::ZERO,
        ..Limits::default()
    };
    let limits = ConnLimits::from_config(&set);
    assert_eq!(limits.total, 10);
    assert_eq!(limits.header_read_timeout, None, "zero is no limit");
}

//! Bounded HTTP intake on a whole agent: a request head that trickles in is
//! cut off, an idle keep-alive connection is closed while a longer blocking
//! query is not, Consul's per-client connection cap and request rate limits
//! answer as Consul does, a declared oversized body is refused before it is
//! read, and a reload applies new limits.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use praetor_agent::config::{RateLimitMode, RequestLimits};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tracing::info;

use crate::{dev_config, index_of, TestAgent};

fn addr(a: &TestAgent) -> SocketAddr {
    a.agent.http_addrs()[0]
}

/// A raw connection to the agent from `source` (any 127.x address).
async fn connect_from(source: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(source.into(), 0)).unwrap();
    sock.connect(to).await.unwrap()
}

/// Sends `GET path` on `stream` and reads the response: status line, body.
async fn get_on(stream: &mut TcpStream, path: &str) -> (String, String) {
    let req = format!("GET {path} HTTP/1.1\r\nHost: agent\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), read_response(stream))
        .await
        .expect("a response within 10s")
}

/// Reads one response that has a `Content-Length`.
async fn read_response(stream: &mut TcpStream) -> (String, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            n > 0,
            "closed mid-response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or_else(|| panic!("no content-length in {head:?}"));
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    let status = head.lines().next().unwrap_or_default().to_owned();
    (
        status,
        String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string(),
    )
}

/// Waits at most `within` for the agent to close `stream`; `None` if it
/// did not.
async fn wait_closed(stream: &mut TcpStream, within: Duration) -> Option<Instant> {
    let deadline = tokio::time::Instant::now() + within;
    let mut chunk = [0u8; 512];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(Instant::now()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn a_slow_loris_sending_its_head_a_byte_a_second_is_cut_off_at_the_header_read_timeout() {
    let mut cfg = dev_config();
    cfg.limits.http_header_read_timeout = Duration::from_secs(2);
    let a = TestAgent::start(cfg).await;

    info!("--- send a request head one byte per second");
    let mut s = connect_from(Ipv4Addr::LOCALHOST, addr(&a)).await;
    let start = Instant::now();
    let head = b"GET /v1/kv/x HTTP/1.1\r\nHost: agent\r\n\r\n";
    let mut cut = None;
    for (sent, byte) in head.iter().enumerate() {
        if s.write_all(&[*byte]).await.is_err() {
            cut = Some((sent, Instant::now()));
            break;
        }
        // The pace of the attack: one byte a second, unless cut first.
        if let Some(at) = wait_closed(&mut s, Duration::from_secs(1)).await {
            cut = Some((sent + 1, at));
            break;
        }
    }
    let (sent, at) = cut.expect("the slow client was never cut off");
    let after = at - start;
    assert!(sent < head.len(), "the whole head got through");
    assert!(
        after >= Duration::from_millis(1900) && after < Duration::from_secs(5),
        "cut off after {after:?} and {sent} bytes; the timeout is 2s"
    );

    info!("--- a normal client is served meanwhile and after");
    let r = a.http.get(a.u("/v1/status/leader")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    a.shutdown().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_while_a_longer_blocking_query_completes() {
    let idle = Duration::from_secs(1);
    let mut cfg = dev_config();
    cfg.limits.http_idle_timeout = idle;
    let a = TestAgent::start(cfg).await;
    a.put("watched", "1").await;
    let index = index_of(&a.http.get(a.u("/v1/kv/watched")).send().await.unwrap());

    info!("--- one connection makes a request and goes idle");
    let mut idler = connect_from(Ipv4Addr::LOCALHOST, addr(&a)).await;
    let (status, _) = get_on(&mut idler, "/v1/status/leader").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    let idle_since = Instant::now();

    info!("--- another starts a blocking query longer than the idle timeout");
    let mut waiter = connect_from(Ipv4Addr::LOCALHOST, addr(&a)).await;
    let blocking = tokio::spawn(async move {
        let started = Instant::now();
        let answer = get_on(
            &mut waiter,
            &format!("/v1/kv/watched?index={index}&wait=30s"),
        )
        .await;
        (answer, started.elapsed())
    });

    info!("--- the idle connection is closed after the idle timeout");
    let closed = wait_closed(&mut idler, Duration::from_secs(10))
        .await
        .expect("the idle connection is closed within 10s");
    let after = closed - idle_since;
    assert!(
        after >= idle - Duration::from_millis(100),
        "closed after {after:?}"
    );
    // Past the idle timeout too, and still waiting: a request in flight is
    // not idle.
    assert!(!blocking.is_finished(), "the blocking query was cut short");

    info!("--- the blocking query ends with the change");
    a.put("watched", "2").await;
    let ((status, body), took) = tokio::time::timeout(Duration::from_secs(10), blocking)
        .await
        .expect("the blocking query returns once its key changes")
        .unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("\"Mg==\""), "{body}");
    assert!(took > idle, "it was in flight for {took:?}");
    a.shutdown().await;
}

#[tokio::test]
async fn the_201st_connection_from_one_client_gets_429_while_another_client_is_served() {
    let a = TestAgent::dev().await;
    // A source address no other connection of this test uses.
    let client = Ipv4Addr::new(127, 0, 0, 3);

    info!("--- 200 connections from one client are served");
    let mut held = Vec::new();
    for i in 0..200 {
        let mut s = connect_from(client, addr(&a)).await;
        let (status, _) = get_on(&mut s, "/v1/status/leader").await;
        assert_eq!(status, "HTTP/1.1 200 OK", "connection {}", i + 1);
        held.push(s);
    }

    info!("--- the 201st gets Consul's 429 and is closed");
    let mut s = connect_from(client, addr(&a)).await;
    let (status, body) = get_on(&mut s, "/v1/status/leader").await;
    assert_eq!(status, "HTTP/1.1 429 Too Many Requests");
    assert_eq!(
        body,
        "Your IP is issuing too many concurrent connections, please rate limit your calls\n"
    );
    assert!(wait_closed(&mut s, Duration::from_secs(2)).await.is_some());

    info!("--- another client is served");
    let r = a.http.get(a.u("/v1/status/leader")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    info!("--- once one of the 200 closes, the client may connect again");
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = connect_from(client, addr(&a)).await;
        let (status, _) = get_on(&mut s, "/v1/status/leader").await;
        if status == "HTTP/1.1 200 OK" {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(held);
    a.shutdown().await;
}

/// `n` requests as fast as they go; the statuses and the first refusal.
async fn burst(a: &TestAgent, write: bool, n: usize) -> (Vec<u16>, Option<String>) {
    let mut statuses = Vec::new();
    let mut refusal = None;
    for i in 0..n {
        let r = if write {
            a.http
                .put(a.u(&format!("/v1/kv/rate/{i}")))
                .body("v")
                .send()
                .await
        } else {
            a.http.get(a.u("/v1/kv/rate/0")).send().await
        }
        .unwrap();
        let status = r.status().as_u16();
        statuses.push(status);
        if refusal.is_none() && (status == 429 || status == 503) {
            refusal = Some(r.text().await.unwrap());
        }
    }
    (statuses, refusal)
}

fn rate_limited(mode: RateLimitMode) -> praetor_agent::config::RuntimeConfig {
    let mut cfg = dev_config();
    cfg.limits.request_limits = RequestLimits {
        mode,
        read_rate: 1.0,
        write_rate: 1.0,
    };
    cfg
}

#[tokio::test]
async fn enforcing_mode_refuses_requests_over_the_rate_as_consul_does() {
    let a = TestAgent::start(rate_limited(RateLimitMode::Enforcing)).await;

    info!("--- reads: ten seconds' worth, then 429");
    let (statuses, refusal) = burst(&a, false, 15).await;
    let served = statuses.iter().filter(|s| **s != 429).count();
    assert!((10..=11).contains(&served), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert_eq!(
        refusal.as_deref(),
        Some("rate limit exceeded, try again later or against a different server\n")
    );

    info!("--- writes on the leader: 503, as only the leader can take them");
    let (statuses, refusal) = burst(&a, true, 15).await;
    let served = statuses.iter().filter(|s| **s == 200).count();
    assert!((10..=11).contains(&served), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&503), "{statuses:?}");
    assert_eq!(
        refusal.as_deref(),
        Some("rate limit exceeded for operation that can only be performed by the leader, try again later\n")
    );

    info!("--- the agent's own, status and operator endpoints are not limited");
    for path in [
        "/v1/agent/self",
        "/v1/status/leader",
        "/v1/operator/raft/configuration",
    ] {
        let r = a.http.get(a.u(path)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    let metrics = a.prometheus().await;
    assert!(exceeded(&metrics) >= 8.0, "{metrics}");
    a.shutdown().await;
}

/// `consul.rpc.rate_limit.exceeded` since the agent started, from the
/// Prometheus form (the JSON form shows one 10-second interval).
fn exceeded(prometheus: &str) -> f64 {
    crate::prom_value(prometheus, "consul_rpc_rate_limit_exceeded").unwrap_or(0.0)
}

#[tokio::test]
async fn permissive_mode_serves_requests_over_the_rate_and_counts_them() {
    let a = TestAgent::start(rate_limited(RateLimitMode::Permissive)).await;
    let (reads, _) = burst(&a, false, 15).await;
    assert!(reads.iter().all(|s| *s == 200 || *s == 404), "{reads:?}");
    let (writes, _) = burst(&a, true, 15).await;
    assert!(writes.iter().all(|s| *s == 200), "{writes:?}");
    let metrics = a.prometheus().await;
    assert!(exceeded(&metrics) >= 8.0, "{metrics}");
    a.shutdown().await;
}

#[tokio::test]
async fn a_declared_body_over_the_limit_is_refused_before_it_is_sent() {
    let a = TestAgent::dev().await;
    let mut s = connect_from(Ipv4Addr::LOCALHOST, addr(&a)).await;
    // Ten megabytes announced, none sent: the answer must not wait for them.
    s.write_all(b"PUT /v1/kv/big HTTP/1.1\r\nHost: agent\r\nContent-Length: 10000000\r\n\r\n")
        .await
        .unwrap();
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), read_response(&mut s))
        .await
        .expect("answered without the body");
    assert_eq!(status, "HTTP/1.1 413 Payload Too Large");
    assert!(
        body.contains("Request body(10000000 bytes) too large"),
        "{body}"
    );
    let r = a.http.get(a.u("/v1/kv/big")).send().await.unwrap();
    assert_eq!(r.status(), 404, "nothing was written");
    a.shutdown().await;
}

#[tokio::test]
async fn a_reload_applies_new_body_rate_and_connection_limits() {
    let cfg = dev_config();
    let a = TestAgent::start(cfg.clone()).await;
    let big = vec![b'x'; 600 * 1024];

    info!("--- before: a 600 KiB value is over the default 512 KiB");
    let r = a
        .http
        .put(a.u("/v1/kv/big"))
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    info!("--- reload: a 1 MiB limit, enforcing rate limits, one connection per client");
    let mut reloaded = cfg.clone();
    reloaded.limits.kv_max_value_size = 1024 * 1024;
    reloaded.limits.request_limits = RequestLimits {
        mode: RateLimitMode::Enforcing,
        read_rate: 0.0,
        write_rate: f64::INFINITY,
    };
    reloaded.limits.http_max_conns_per_client = 1;
    a.agent.reload(reloaded).expect("reloads");

    let r = a
        .http
        .put(a.u("/v1/kv/big"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    let r = a.http.get(a.u("/v1/kv/big")).send().await.unwrap();
    assert_eq!(r.status(), 429, "a zero read rate refuses every read");

    let client = Ipv4Addr::new(127, 0, 0, 4);
    let mut first = connect_from(client, addr(&a)).await;
    assert_eq!(
        get_on(&mut first, "/v1/status/leader").await.0,
        "HTTP/1.1 200 OK"
    );
    let mut second = connect_from(client, addr(&a)).await;
    assert_eq!(
        get_on(&mut second, "/v1/status/leader").await.0,
        "HTTP/1.1 429 Too Many Requests"
    );

    info!("--- reload back: reads are served again");
    a.agent.reload(cfg).expect("reloads");
    let r = a.http.get(a.u("/v1/kv/big")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    drop((first, second));
    a.shutdown().await;
}

#[tokio::test]
async fn chunked_uploads_that_stall_take_the_body_budget_not_the_agent() {
    let a = TestAgent::dev().await;
    let max: usize = 512 * 1024 + 1024;
    // Each stalled chunked upload holds the limit's worth of the 64 MiB budget.
    let fit = (praetor_agent::http::body::BODY_BUDGET as usize) / max.div_ceil(1024) / 1024;

    info!("--- {fit} chunked uploads start and stall after their first chunk");
    let mut held = Vec::new();
    for i in 0..fit {
        // Spread over sources so the per-client cap is not what refuses them.
        let source = Ipv4Addr::new(127, 0, 1, 1 + (i % 200) as u8);
        let mut s = connect_from(source, addr(&a)).await;
        s.write_all(
            format!(
                "PUT /v1/kv/stall/{i} HTTP/1.1\r\nHost: agent\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        held.push(s);
    }
    // The agent reads a request head before its body; a round trip on a
    // fresh connection shows every head above has been taken in.
    let r = a.http.get(a.u("/v1/status/leader")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    info!("--- one more large upload is refused at once, unread");
    let deadline = Instant::now() + Duration::from_secs(10);
    let (status, body) = loop {
        let mut s = connect_from(Ipv4Addr::new(127, 0, 2, 1), addr(&a)).await;
        s.write_all(
            b"PUT /v1/kv/stall/extra HTTP/1.1\r\nHost: agent\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        )
        .await
        .unwrap();
        let got = tokio::time::timeout(Duration::from_secs(2), read_response(&mut s)).await;
        match got {
            Ok(r) if r.0.contains("503") => break r,
            // Not every stalled head was read yet: try again.
            _ => assert!(Instant::now() < deadline, "no 503 within 10 s: {got:?}"),
        }
    };
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    assert!(body.contains("too many large request bodies"), "{body}");

    info!("--- a small write from a normal client is served meanwhile");
    assert!(a.put("small", "value").await);

    info!("--- once the stalled uploads go, large bodies are taken again");
    drop(held);
    let big = "x".repeat(200 * 1024);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = a
            .http
            .put(a.u("/v1/kv/big"))
            .body(big.clone())
            .send()
            .await
            .unwrap();
        if r.status() == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still refused: {}", r.status());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.shutdown().await;
}

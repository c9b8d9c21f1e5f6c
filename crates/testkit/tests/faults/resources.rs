//! Resource limits, proven on the real binary (issue 12, deliverable 9). One
//! dev agent on loopback holds 10 000 idle keep-alive HTTP connections from
//! 100 source addresses; meanwhile a slow-loris client trickles a request
//! head, 1 000 clients send 1 MiB bodies at once, and a stranger floods the
//! server RPC port (8300) with garbage and oversized frame headers. A normal
//! client's KV put and get keep succeeding within a bound throughout, the
//! slow-loris is cut off, no oversized body is stored, and the agent's peak
//! memory (VmHWM) stays under 1 GiB. The numbers are logged at `info`.
//!
//! The flood never sends anything a Praetor server could take for a call:
//! every frame header claims more than any frame cap allows, or the frame
//! holds no decodable call; once RPC connections start with a handshake, the
//! stranger is refused at its first bytes instead.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _};
use futures::StreamExt as _;
use praetor_testkit::{init_tracing, AgentProcess, Loopback};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tracing::info;

/// Idle keep-alive connections held through the attack.
const IDLE_CONNS: usize = 10_000;
/// They come from 127.1.0.1 ..= 127.1.0.100, 100 each: under Consul's
/// default of 200 per client.
const IDLE_SOURCES: usize = 100;
/// Requests with 1 MiB bodies sent at once, from 127.2.0.1 ..= 127.2.0.10.
const BODY_REQUESTS: usize = 1_000;
const BODY_SOURCES: usize = 10;
const BODY_SIZE: usize = 1024 * 1024;
/// Where the RPC flood comes from.
const STRANGER: Ipv4Addr = Ipv4Addr::new(127, 3, 0, 1);
/// The agent's header-read timeout in this test.
const HEADER_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the attack (and the normal client's work) goes on.
const ATTACK: Duration = Duration::from_secs(8);
/// The longest a normal client's put or get may take during the attack.
const NORMAL_OP_BOUND: Duration = Duration::from_secs(5);
/// The agent's peak resident memory must stay under this.
const MEMORY_BOUND_KIB: u64 = 1024 * 1024;

/// `VmRSS` and `VmHWM` of `pid`, in KiB.
fn memory(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        line.split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("unreadable {line:?}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// How many file descriptors `pid` has open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, Iterator::count)
}

/// Raises this process's soft open-file limit to its hard limit; the limit
/// now in force.
fn raise_nofile() -> anyhow::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) only writes the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        bail!("getrlimit: {}", std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit(2) only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            bail!("setrlimit: {}", std::io::Error::last_os_error());
        }
        lim.rlim_cur = lim.rlim_max;
    }
    Ok(lim.rlim_cur)
}

async fn connect_from(source: Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let sock = TcpSocket::new_v4()?;
    sock.bind(SocketAddr::new(IpAddr::V4(source), 0))?;
    sock.connect(to).await
}

/// Reads one HTTP response with a `Content-Length`: its status code and body.
async fn read_response(stream: &mut TcpStream) -> anyhow::Result<(u16, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        ensure!(buf.len() < 64 * 1024, "a response head over 64 KiB");
        let n = stream.read(&mut chunk).await?;
        ensure!(n > 0, "closed before a response head");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    ensure!(len <= 1024 * 1024, "a {len}-byte response body");
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await?;
        ensure!(n > 0, "closed mid-body");
        buf.extend_from_slice(&chunk[..n]);
    }
    Ok((status, buf[head_end..head_end + len].to_vec()))
}

/// Opens one keep-alive connection from `source`, makes one request on it
/// and leaves it idle.
async fn idle_connection(source: Ipv4Addr, http: SocketAddr) -> anyhow::Result<TcpStream> {
    let mut s = connect_from(source, http).await?;
    s.write_all(b"GET /v1/status/leader HTTP/1.1\r\nHost: agent\r\n\r\n")
        .await?;
    let (status, _) = read_response(&mut s).await?;
    ensure!(status == 200, "status {status} from {source}");
    Ok(s)
}

/// Opens [`IDLE_CONNS`] idle connections, at most 256 being set up at once.
async fn open_idle(http: SocketAddr) -> anyhow::Result<Vec<TcpStream>> {
    let sources: Vec<Ipv4Addr> = (0..IDLE_CONNS)
        .map(|i| Ipv4Addr::new(127, 1, 0, (i % IDLE_SOURCES + 1) as u8))
        .collect();
    let opened: Vec<anyhow::Result<TcpStream>> = futures::stream::iter(sources)
        .map(|source| idle_connection(source, http))
        .buffer_unordered(256)
        .collect()
        .await;
    opened.into_iter().collect()
}

/// Sends a request head one byte a second; how long until the agent cut
/// the connection, and how many bytes got through.
async fn slow_loris(http: SocketAddr) -> anyhow::Result<(Duration, usize)> {
    let mut s = connect_from(Ipv4Addr::new(127, 4, 0, 1), http).await?;
    let start = Instant::now();
    let head = b"PUT /v1/kv/loris HTTP/1.1\r\nHost: agent\r\nContent-Length: 1\r\n\r\nx";
    let mut chunk = [0u8; 512];
    for (sent, byte) in head.iter().enumerate() {
        if s.write_all(&[*byte]).await.is_err() {
            return Ok((start.elapsed(), sent));
        }
        // A second between bytes, unless the agent closes the connection.
        match tokio::time::timeout(Duration::from_secs(1), s.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => return Ok((start.elapsed(), sent + 1)),
            Ok(Ok(n)) => bail!(
                "the slow-loris got an answer: {:?}",
                String::from_utf8_lossy(&chunk[..n])
            ),
            Err(_) => {}
        }
    }
    bail!("the whole slow-loris request got through")
}

/// What the 1 MiB requests got.
#[derive(Debug, Default)]
struct BodyOutcome {
    statuses: std::collections::BTreeMap<u16, usize>,
    /// Closed by the agent before any answer could be read.
    closed_unanswered: usize,
    refused_connections: usize,
}

/// One `PUT` of a 1 MiB body: its answer's status, if one was read.
async fn big_body(i: usize, http: SocketAddr) -> anyhow::Result<Option<u16>> {
    let source = Ipv4Addr::new(127, 2, 0, (i % BODY_SOURCES + 1) as u8);
    let mut s = connect_from(source, http).await?;
    let head = format!(
        "PUT /v1/kv/flood/{i} HTTP/1.1\r\nHost: agent\r\nContent-Length: {BODY_SIZE}\r\n\r\n"
    );
    let body = vec![b'b'; BODY_SIZE];
    let send = async {
        s.write_all(head.as_bytes()).await?;
        s.write_all(&body).await
    };
    // The agent may answer and close before taking the body: a failed or
    // stalled write is expected, the answer is what counts.
    let _ = tokio::time::timeout(Duration::from_secs(10), send).await;
    match tokio::time::timeout(Duration::from_secs(10), read_response(&mut s)).await {
        Ok(Ok((status, _))) => Ok(Some(status)),
        Ok(Err(_)) => Ok(None),
        Err(_) => bail!("request {i}: no answer and not closed within 10s"),
    }
}

/// Sends [`BODY_REQUESTS`] 1 MiB bodies at once.
async fn big_bodies(http: SocketAddr) -> anyhow::Result<BodyOutcome> {
    let tasks: Vec<_> = (0..BODY_REQUESTS)
        .map(|i| tokio::spawn(big_body(i, http)))
        .collect();
    let mut outcome = BodyOutcome::default();
    for task in tasks {
        match task.await? {
            Ok(Some(status)) => *outcome.statuses.entry(status).or_default() += 1,
            Ok(None) => outcome.closed_unanswered += 1,
            Err(e) if e.downcast_ref::<std::io::Error>().is_some() => {
                outcome.refused_connections += 1;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(outcome)
}

/// What the stranger sends on one connection: garbage whose first four
/// bytes, read as a frame length, exceed any frame cap; a frame header
/// claiming 4 GiB; or small frames that decode to no call (variant 200).
fn garbage(n: u64) -> Vec<u8> {
    match n % 4 {
        0 => b"GET / HTTP/1.1\r\nHost: stranger\r\n\r\n".to_vec(),
        1 => {
            let mut v = vec![0xFF, 0xFF, 0xFF, 0xFF];
            v.resize(4 + 1024, 0);
            v
        }
        2 => {
            // xorshift noise, high bit of the first byte set: a 2 GiB+ length.
            let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut v: Vec<u8> = (0..16 * 1024)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            v[0] |= 0x80;
            v
        }
        _ => [0u8, 0, 0, 3, 0x00, 0xC8, 0x01].repeat(100),
    }
}

/// What the RPC flood did.
#[derive(Debug, Default)]
struct FloodOutcome {
    connections: AtomicU64,
    bytes: AtomicU64,
    closed_by_server: AtomicU64,
    left_open: AtomicU64,
    connect_failed: AtomicU64,
}

/// Floods `rpc` from [`STRANGER`] with 16 connections at a time until
/// `stop`, each sending one [`garbage`] payload and waiting (at most 2 s)
/// for the server to close it; at most 2 000 connections per flooder.
async fn rpc_flood(rpc: SocketAddr, stop: Arc<AtomicBool>) -> Arc<FloodOutcome> {
    let outcome = Arc::new(FloodOutcome::default());
    let flooders: Vec<_> = (0..16u64)
        .map(|f| {
            let (outcome, stop) = (outcome.clone(), stop.clone());
            tokio::spawn(async move {
                for n in 0..2_000u64 {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(Ok(mut s)) =
                        tokio::time::timeout(Duration::from_secs(1), connect_from(STRANGER, rpc))
                            .await
                    else {
                        outcome.connect_failed.fetch_add(1, Ordering::SeqCst);
                        continue;
                    };
                    outcome.connections.fetch_add(1, Ordering::SeqCst);
                    let payload = garbage(f * 10_000 + n);
                    if let Ok(Ok(())) =
                        tokio::time::timeout(Duration::from_secs(1), s.write_all(&payload)).await
                    {
                        outcome
                            .bytes
                            .fetch_add(payload.len() as u64, Ordering::SeqCst);
                    }
                    let mut sink = [0u8; 1024];
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
                    loop {
                        match tokio::time::timeout_at(deadline, s.read(&mut sink)).await {
                            Ok(Ok(0) | Err(_)) => {
                                outcome.closed_by_server.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                            Ok(Ok(_)) => {}
                            Err(_) => {
                                outcome.left_open.fetch_add(1, Ordering::SeqCst);
                                break;
                            }
                        }
                    }
                }
            })
        })
        .collect();
    for f in flooders {
        let _ = f.await;
    }
    outcome
}

/// A normal client: puts and gets its own keys for [`ATTACK`], each
/// operation within [`NORMAL_OP_BOUND`]; the operations done and the
/// slowest.
async fn normal_client(base: &str) -> anyhow::Result<(usize, Duration)> {
    let http = praetor_testkit::http_client_builder()
        .no_proxy()
        .timeout(NORMAL_OP_BOUND)
        .build()?;
    let start = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut ops = 0;
    for i in 0..100_000 {
        if start.elapsed() >= ATTACK {
            break;
        }
        let value = format!("normal value {i}");
        let t = Instant::now();
        let put = http
            .put(format!("{base}/v1/kv/normal/{i}"))
            .body(value.clone())
            .send()
            .await
            .with_context(|| format!("put {i} after {:?}", start.elapsed()))?;
        ensure!(put.status() == 200, "put {i}: {}", put.status());
        slowest = slowest.max(t.elapsed());
        let t = Instant::now();
        let got = http
            .get(format!("{base}/v1/kv/normal/{i}?raw"))
            .send()
            .await
            .with_context(|| format!("get {i} after {:?}", start.elapsed()))?;
        ensure!(got.status() == 200, "get {i}: {}", got.status());
        ensure!(got.text().await? == value, "get {i}: another value");
        slowest = slowest.max(t.elapsed());
        ops += 2;
    }
    Ok((ops, slowest))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_thousand_idle_connections_slow_loris_big_bodies_and_an_rpc_flood_leave_a_normal_client_served_in_bounded_memory(
) -> anyhow::Result<()> {
    init_tracing();
    let started = Instant::now();
    let fds = raise_nofile()?;
    ensure!(
        fds >= (IDLE_CONNS + BODY_REQUESTS + 1_000) as u64,
        "this test needs an open-file limit of at least {}; the hard limit is {fds}",
        IDLE_CONNS + BODY_REQUESTS + 1_000
    );
    let lo = Loopback::allocate()?;
    let agent = AgentProcess::dev(&lo)?
        .config_file(
            "limits.hcl",
            "limits {\n  http_header_read_timeout = \"3s\"\n}\n",
        )
        .start()
        .await?;
    let pid = agent.pid();
    let http = SocketAddr::new(IpAddr::V4(lo.ip()), 8500);
    let rpc = SocketAddr::new(IpAddr::V4(lo.ip()), 8300);
    let (rss, _) = memory(pid)?;
    info!(rss_kib = rss, fds = open_fds(pid), "agent started");

    info!("--- open {IDLE_CONNS} idle keep-alive connections from {IDLE_SOURCES} addresses");
    let t = Instant::now();
    let idle = tokio::time::timeout(Duration::from_secs(60), open_idle(http))
        .await
        .context("opening the idle connections took over 60s")??;
    let held = open_fds(pid);
    let (rss, hwm) = memory(pid)?;
    info!(
        took_ms = t.elapsed().as_millis() as u64,
        agent_fds = held,
        rss_kib = rss,
        hwm_kib = hwm,
        "idle connections open"
    );
    ensure!(
        held >= IDLE_CONNS,
        "the agent holds {held} descriptors, fewer than the {IDLE_CONNS} connections"
    );

    info!("--- attack: slow loris, {BODY_REQUESTS} × 1 MiB bodies, RPC flood; a normal client works on");
    let stop = Arc::new(AtomicBool::new(false));
    let loris = tokio::spawn(slow_loris(http));
    let bodies = tokio::spawn(big_bodies(http));
    let flood = tokio::spawn(rpc_flood(rpc, stop.clone()));
    let normal = normal_client(&agent.http_url()).await;
    stop.store(true, Ordering::SeqCst);
    let (ops, slowest) = normal.context("the normal client failed during the attack")?;
    let (cut_after, loris_bytes) = tokio::time::timeout(Duration::from_secs(30), loris)
        .await
        .context("the slow-loris client never ended")???;
    let bodies = tokio::time::timeout(Duration::from_secs(60), bodies)
        .await
        .context("the 1 MiB requests never ended")???;
    let flood = tokio::time::timeout(Duration::from_secs(30), flood)
        .await
        .context("the RPC flood never ended")??;
    let (rss, hwm) = memory(pid)?;
    info!(
        normal_ops = ops,
        slowest_normal_op_ms = slowest.as_millis() as u64,
        loris_cut_after_ms = cut_after.as_millis() as u64,
        loris_bytes,
        body_statuses = ?bodies.statuses,
        bodies_closed_unanswered = bodies.closed_unanswered,
        bodies_connections_refused = bodies.refused_connections,
        rpc_connections = flood.connections.load(Ordering::SeqCst),
        rpc_bytes = flood.bytes.load(Ordering::SeqCst),
        rpc_closed_by_server = flood.closed_by_server.load(Ordering::SeqCst),
        rpc_left_open = flood.left_open.load(Ordering::SeqCst),
        rpc_connect_failed = flood.connect_failed.load(Ordering::SeqCst),
        rss_kib = rss,
        hwm_kib = hwm,
        "attack over"
    );
    ensure!(ops >= 10, "the normal client did only {ops} operations");
    ensure!(
        cut_after < HEADER_TIMEOUT + Duration::from_secs(3),
        "the slow-loris was cut only after {cut_after:?}"
    );
    ensure!(
        !bodies.statuses.contains_key(&200),
        "a 1 MiB value was stored: {bodies:?}"
    );
    ensure!(
        flood.closed_by_server.load(Ordering::SeqCst) > 0,
        "the RPC port closed no stranger's connection"
    );
    ensure!(
        hwm < MEMORY_BOUND_KIB,
        "the agent's peak memory was {hwm} KiB"
    );

    info!("--- the idle connections are still served");
    let mut idle = idle;
    for s in idle.iter_mut().step_by(IDLE_CONNS / 100) {
        s.write_all(b"GET /v1/status/leader HTTP/1.1\r\nHost: agent\r\n\r\n")
            .await?;
        let (status, _) = tokio::time::timeout(Duration::from_secs(10), read_response(s))
            .await
            .context("an idle connection got no answer")??;
        ensure!(status == 200, "an idle connection got {status}");
    }
    drop(idle);
    agent.shutdown().await?;
    info!(took_ms = started.elapsed().as_millis() as u64, "done");
    Ok(())
}

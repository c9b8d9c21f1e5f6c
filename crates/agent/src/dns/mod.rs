//! The DNS interface (Consul's, on port 8600): UDP and TCP listeners on
//! each `client_addr`, answering for `domain` (and `alt_domain`) from the
//! catalog and forwarding other names to `recursors`. Messages are
//! hickory-proto's; this module owns the sockets and the tasks. Reads go
//! through the agent's [`Backend`](crate::backend::Backend) via
//! [`cache::Cache`]; it never writes.
//!
//! Intake is bounded: at most [`MAX_TCP_CONNS`] TCP connections, each
//! answered one request at a time, and at most [`MAX_UDP_PENDING`] UDP
//! lookups waiting on a read or a recursor. A UDP request that would wait
//! while that many do is answered SERVFAIL at once (as CoreDNS's
//! `max_concurrent` sheds load, there with REFUSED): SERVFAIL because it is
//! what a failed catalog read gets too, and it tells a client to retry or
//! ask another server now, where a dropped packet would leave it waiting out
//! its timeout; it is never cached as NXDOMAIN is, and it is no larger than
//! the question. Lookups answered from the cache never wait, so a flood of
//! uncached names does not stop names in the cache being answered.

pub mod answer;
pub mod cache;
pub mod handler;
pub mod name;
pub mod recursor;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::http::AppState;
use crate::AgentError;
use cache::Cache;

/// How a request arrived (and so how its answer is cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// A TCP connection with no complete request for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// Most TCP connections served at once; more wait to be accepted.
pub const MAX_TCP_CONNS: usize = 512;
/// Most UDP lookups waiting on a read or a recursor at once; more are
/// answered SERVFAIL. Each may hold a socket to a recursor, so this stays
/// well under a default limit of 1024 open files.
pub const MAX_UDP_PENDING: usize = 512;
/// Shortest time between two warnings that UDP requests were shed.
const SHED_WARN_EVERY: Duration = Duration::from_secs(10);

/// What every DNS task shares: the agent's state (configuration, gossip)
/// and the cache of catalog reads.
pub struct Dns {
    state: Arc<AppState>,
    cache: Arc<Cache>,
    tasks: TaskTracker,
    /// One permit per UDP lookup waiting, [`MAX_UDP_PENDING`] in all.
    udp_pending: Arc<Semaphore>,
    shed: Shed,
}

impl Dns {
    /// The DNS interface of the agent whose state is `state`; its watchers
    /// and request tasks run on `tasks` until `stop`.
    pub fn new(state: Arc<AppState>, tasks: TaskTracker, stop: CancellationToken) -> Arc<Dns> {
        let reader = cache::DnsReader {
            backend: state.backend.clone(),
            acl: state.acl.clone(),
        };
        let cache = Cache::new(Arc::new(reader), tasks.clone(), stop);
        Arc::new(Dns {
            state,
            cache,
            tasks,
            udp_pending: Arc::new(Semaphore::new(MAX_UDP_PENDING)),
            shed: Shed::new(),
        })
    }

    /// How many names are kept warm by blocking queries now.
    pub fn watched(&self) -> usize {
        self.cache.watched()
    }
}

/// Binds UDP and TCP on `addr` (with port 0, both on the port UDP got).
///
/// # Errors
/// `Listen` naming the address when either socket cannot be bound.
pub async fn bind(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), AgentError> {
    let fail = |addr: SocketAddr, source| AgentError::Listen {
        addr: format!("{addr} (dns)"),
        source,
    };
    // With port 0 the TCP port UDP was given may be taken: try a few.
    let mut last = None;
    for _ in 0..8 {
        let udp = UdpSocket::bind(addr).await.map_err(|e| fail(addr, e))?;
        let port = udp.local_addr().map_err(|e| fail(addr, e))?.port();
        let tcp_addr = SocketAddr::new(addr.ip(), port);
        match TcpListener::bind(tcp_addr).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 => last = Some(e),
            Err(e) => return Err(fail(tcp_addr, e)),
        }
    }
    Err(fail(
        addr,
        last.unwrap_or_else(|| std::io::Error::other("no common port")),
    ))
}

/// Spawns the tasks serving one UDP socket and one TCP listener.
pub fn spawn(dns: &Arc<Dns>, udp: UdpSocket, tcp: TcpListener, stop: &CancellationToken) {
    if let Ok(addr) = udp.local_addr() {
        tracing::info!(%addr, "dns listening (udp, tcp)");
    }
    let udp = Arc::new(udp);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
    for _ in 0..workers {
        dns.tasks
            .spawn(run_udp(dns.clone(), udp.clone(), stop.child_token()));
    }
    dns.tasks
        .spawn(run_tcp(dns.clone(), tcp, stop.child_token()));
}

/// Receives datagrams and answers each: at once when its answer needs no
/// waiting (the common case, from the cache), else in a task of its own
/// holding one of [`MAX_UDP_PENDING`] permits, so a slow read or recursor
/// never holds up the socket; with none left, SERVFAIL at once.
async fn run_udp(dns: Arc<Dns>, socket: Arc<UdpSocket>, stop: CancellationToken) {
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, peer) = tokio::select! {
            () = stop.cancelled() => return,
            r = socket.recv_from(&mut buf) => match r {
                Ok(r) => r,
                Err(e) => {
                    // ICMP errors from earlier sends surface here; keep going.
                    tracing::debug!(error = %e, "dns udp receive failed");
                    continue;
                }
            },
        };
        let packet = &buf[..n];
        let mut reply = Box::pin(handler::handle(
            dns.clone(),
            packet.to_vec(),
            Transport::Udp,
        ));
        match futures::poll!(reply.as_mut()) {
            Poll::Ready(answer) => send(&socket, answer, peer).await,
            Poll::Pending => match dns.udp_pending.clone().try_acquire_owned() {
                Ok(permit) => {
                    let socket = socket.clone();
                    let stop = stop.clone();
                    dns.tasks.spawn(async move {
                        tokio::select! {
                            answer = reply => send(&socket, answer, peer).await,
                            () = stop.cancelled() => {}
                        }
                        drop(permit);
                    });
                }
                Err(_) => {
                    drop(reply);
                    dns.shed.note();
                    send(&socket, server_failure(packet), peer).await;
                }
            },
        }
    }
}

/// SERVFAIL for `packet`, with its ID, opcode, RD bit and question (and
/// EDNS0 when it had it). (A packet that cannot be decoded never waits: the
/// handler answers it at once, so here it gets nothing.)
fn server_failure(packet: &[u8]) -> Option<Vec<u8>> {
    let req = Message::from_vec(packet).ok()?;
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.response_code = ResponseCode::ServFail;
    resp.add_queries(req.queries.iter().cloned());
    if req.edns.is_some() {
        resp.set_edns(hickory_proto::op::Edns::new());
    }
    resp.to_vec().ok()
}

/// Counts UDP requests shed for want of a permit and says so, at most once
/// per [`SHED_WARN_EVERY`].
struct Shed {
    /// Shed since the last warning.
    count: AtomicU64,
    /// No warning before this, in ms since `started`.
    next_warn_ms: AtomicU64,
    started: std::time::Instant,
}

impl Shed {
    fn new() -> Shed {
        Shed {
            count: AtomicU64::new(0),
            next_warn_ms: AtomicU64::new(0),
            started: std::time::Instant::now(),
        }
    }

    fn note(&self) {
        self.count.fetch_add(1, Ordering::Relaxed);
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let now = ms(self.started.elapsed());
        let next = self.next_warn_ms.load(Ordering::Relaxed);
        let due = now >= next
            && self
                .next_warn_ms
                .compare_exchange(
                    next,
                    now.saturating_add(ms(SHED_WARN_EVERY)),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                )
                .is_ok();
        if due {
            let shed = self.count.swap(0, Ordering::Relaxed);
            tracing::warn!(
                shed,
                limit = MAX_UDP_PENDING,
                "dns: too many udp lookups waiting; answered SERVFAIL"
            );
        }
    }
}

async fn send(socket: &UdpSocket, answer: Option<Vec<u8>>, peer: SocketAddr) {
    if let Some(bytes) = answer {
        if let Err(e) = socket.send_to(&bytes, peer).await {
            tracing::debug!(%peer, error = %e, "dns udp send failed");
        }
    }
}

/// Accepts TCP connections, at most [`MAX_TCP_CONNS`] served at once.
async fn run_tcp(dns: Arc<Dns>, listener: TcpListener, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_TCP_CONNS));
    loop {
        let permit = tokio::select! {
            () = stop.cancelled() => return,
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let (stream, peer) = tokio::select! {
            () = stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "dns tcp accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let conn_dns = dns.clone();
        let conn_stop = stop.child_token();
        dns.tasks.spawn(async move {
            if let Err(e) = serve_tcp(conn_dns, stream, conn_stop).await {
                tracing::debug!(%peer, error = %e, "dns tcp connection ended");
            }
            drop(permit);
        });
    }
}

/// Serves length-prefixed requests on one connection, in order, until the
/// client closes it, stays idle for [`TCP_IDLE`], or sends a frame that
/// gets no answer.
async fn serve_tcp(
    dns: Arc<Dns>,
    mut stream: TcpStream,
    stop: CancellationToken,
) -> std::io::Result<()> {
    loop {
        let len = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            r = tokio::time::timeout(TCP_IDLE, stream.read_u16()) => match r {
                Ok(Ok(len)) => len,
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(Err(e)) => return Err(e),
                Err(_) => return Ok(()),
            },
        };
        let mut packet = vec![0u8; usize::from(len)];
        tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut packet))
            .await
            .map_err(|_| std::io::Error::other("request not complete in time"))??;
        let Some(answer) = handler::handle(dns.clone(), packet, Transport::Tcp).await else {
            return Ok(());
        };
        let Ok(len) = u16::try_from(answer.len()) else {
            return Err(std::io::Error::other("answer longer than 65535 bytes"));
        };
        let mut framed = Vec::with_capacity(answer.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&answer);
        stream.write_all(&framed).await?;
    }
}

#[cfg(test)]
mod tests;

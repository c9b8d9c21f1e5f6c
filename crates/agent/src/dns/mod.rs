//! The DNS interface (Consul's, on port 8600): UDP and TCP listeners on
//! each `client_addr`, answering for `domain` (and `alt_domain`) from the
//! catalog and forwarding other names to `recursors`. Messages are
//! hickory-proto's; this module owns the sockets and the tasks. Reads go
//! through the agent's [`Backend`](crate::backend::Backend) via
//! [`cache::Cache`]; it never writes.

pub mod answer;
pub mod cache;
pub mod handler;
pub mod name;
pub mod recursor;

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

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
const MAX_TCP_CONNS: usize = 512;

/// What every DNS task shares: the agent's state (configuration, gossip)
/// and the cache of catalog reads.
pub struct Dns {
    state: Arc<AppState>,
    cache: Arc<Cache>,
    tasks: TaskTracker,
}

impl Dns {
    /// The DNS interface of the agent whose state is `state`; its watchers
    /// and request tasks run on `tasks` until `stop`.
    pub fn new(state: Arc<AppState>, tasks: TaskTracker, stop: CancellationToken) -> Arc<Dns> {
        let cache = Cache::new(state.backend.clone(), tasks.clone(), stop);
        Arc::new(Dns {
            state,
            cache,
            tasks,
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
/// waiting (the common case, from the cache), else in a task of its own,
/// so a slow read or recursor never holds up the socket.
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
        let mut reply = Box::pin(handler::handle(
            dns.clone(),
            buf[..n].to_vec(),
            Transport::Udp,
        ));
        match futures::poll!(reply.as_mut()) {
            Poll::Ready(answer) => send(&socket, answer, peer).await,
            Poll::Pending => {
                let socket = socket.clone();
                dns.tasks.spawn(async move {
                    let answer = reply.await;
                    send(&socket, answer, peer).await;
                });
            }
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

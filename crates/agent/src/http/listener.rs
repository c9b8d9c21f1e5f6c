//! The HTTP listener: accepts connections, holds them within a total cap and
//! Consul's per-client cap, and serves each with hyper's HTTP/1.1 under the
//! two timeouts Go's server has and hyper's has not: a request head must
//! arrive within `limits.http_header_read_timeout`, and a keep-alive
//! connection may wait at most `limits.http_idle_timeout` for its next
//! request. Owns sockets and connection tasks; never looks inside a request
//! (the router does).
//!
//! hyper 1.12's own `header_read_timeout` is not used: its timer starts
//! whenever the connection starts waiting for a head (`poll_read_head` in
//! `proto/h1/conn.rs`), so it also closes keep-alive connections after the
//! header timeout and cannot give them a longer idle timeout. Here each
//! connection has a watchdog that knows whether it is idle, receiving a head
//! or serving a request; a request in flight (a blocking query) never times
//! out.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Limits;

/// The largest request head (request line and headers) accepted; a larger
/// one is answered 431. Go's default is 1 MiB, hyper's about 400 KiB: this
/// bounds what a connection can make the agent hold before its request even
/// starts.
const MAX_HEAD: usize = 128 * 1024;

/// The total cap when the configuration sets none: this share of the
/// process's open-file limit, leaving the rest for Raft, RPC, gossip, DNS
/// and checks…
const FD_SHARE_NUM: u64 = 3;
const FD_SHARE_DEN: u64 = 4;
/// …but never more than this many, nor fewer than `MIN_DERIVED_CAP`.
const MAX_DERIVED_CAP: u64 = 65_536;
const MIN_DERIVED_CAP: u64 = 64;

/// Consul's (go-connlimit's) answer to a connection over the per-client cap.
const TOO_MANY_CONNS: &str =
    "Your IP is issuing too many concurrent connections, please rate limit your calls\n";
/// How long writing that answer may take; Consul allows 10 ms.
const REFUSAL_WRITE: Duration = Duration::from_millis(10);
/// How long a refused connection is drained after the answer, so that
/// closing it does not reset it under the answer the client has not read.
const REFUSAL_LINGER: Duration = Duration::from_millis(500);
/// Most refused connections lingering at once; past this they are closed
/// right after the answer is written.
const MAX_LINGERING: usize = 64;
/// The least time between two "at the connection cap" warnings.
const CAP_WARN_EVERY: Duration = Duration::from_secs(10);

/// The limits the listener applies, from the `limits` block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Most connections from one client IP; 0 is no limit.
    pub per_client: u32,
    /// Most connections open at once over every client and listener.
    pub total: usize,
    /// How long a request head may take to arrive; `None` is no limit.
    pub header_read_timeout: Option<Duration>,
    /// How long a keep-alive connection may wait for its next request.
    pub idle_timeout: Option<Duration>,
}

impl ConnLimits {
    /// The listener's share of `limits`; the total cap, when unset, is
    /// derived from the process's open-file limit.
    pub fn from_config(limits: &Limits) -> ConnLimits {
        let nonzero = |d: Duration| Some(d).filter(|d| !d.is_zero());
        ConnLimits {
            per_client: limits.http_max_conns_per_client,
            total: limits
                .http_max_conns
                .map_or_else(derived_cap, |n| n as usize),
            header_read_timeout: nonzero(limits.http_header_read_timeout),
            idle_timeout: nonzero(limits.http_idle_timeout),
        }
    }
}

/// The default total cap: three quarters of the open-file limit, within
/// 64..=65 536.
fn derived_cap() -> usize {
    let fds = fd_limit().unwrap_or(1024);
    let cap = (fds / FD_SHARE_DEN * FD_SHARE_NUM).clamp(MIN_DERIVED_CAP, MAX_DERIVED_CAP);
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// This process's soft limit on open files.
fn fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) only writes the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    Some(lim.rlim_cur)
}

/// Raises this process's soft limit on open files to its hard limit, as
/// Go's runtime does for Consul at start, so that thousands of HTTP clients
/// do not run the agent out of descriptors; returns the limit now in force.
pub fn raise_fd_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) only writes the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit(2) only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    Some(lim.rlim_cur)
}

/// The HTTP connections this agent holds, by client IP, and the limits they
/// are held to: one per agent, shared by all its listeners, as Consul's
/// `httpConnLimiter` is. The limits are replaced on reload; connections
/// already open are never closed for a lower limit.
#[derive(Debug)]
pub struct Connections {
    limits: Mutex<ConnLimits>,
    by_client: Mutex<HashMap<IpAddr, u32>>,
    open: AtomicUsize,
    /// Woken whenever a connection closes (listeners waiting at the cap).
    closed: Notify,
    lingering: AtomicUsize,
    last_cap_warning: Mutex<Option<Instant>>,
}

impl Connections {
    /// No connections yet, held to `limits`.
    pub fn new(limits: ConnLimits) -> Connections {
        Connections {
            limits: Mutex::new(limits),
            by_client: Mutex::default(),
            open: AtomicUsize::new(0),
            closed: Notify::new(),
            lingering: AtomicUsize::new(0),
            last_cap_warning: Mutex::new(None),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> ConnLimits {
        *self.limits.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the limits (SIGHUP). A raised total cap lets waiting
    /// listeners accept at once.
    pub fn configure(&self, limits: ConnLimits) {
        *self.limits.lock().unwrap_or_else(|p| p.into_inner()) = limits;
        self.closed.notify_waiters();
    }

    /// How many connections are open.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    /// Waits until the total cap leaves room for one more connection;
    /// `false` once `stop` is cancelled.
    async fn wait_for_room(&self, stop: &CancellationToken) -> bool {
        loop {
            let mut closed = pin!(self.closed.notified());
            closed.as_mut().enable();
            let total = self.limits().total;
            if self.open() < total {
                return true;
            }
            self.warn_at_cap(total);
            tokio::select! {
                () = closed => {}
                () = stop.cancelled() => return false,
            }
        }
    }

    fn warn_at_cap(&self, total: usize) {
        let now = Instant::now();
        let mut last = self
            .last_cap_warning
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|at| now.duration_since(at) >= CAP_WARN_EVERY) {
            *last = Some(now);
            tracing::warn!(
                open = total,
                "HTTP connection cap reached (limits.http_max_conns); accepting no more until one closes"
            );
        }
    }

    /// Counts a new connection from `client`, or `None` when that client
    /// already holds as many as the per-client cap allows.
    fn admit(self: &Arc<Self>, client: IpAddr) -> Option<Slot> {
        let client = client.to_canonical();
        let per_client = self.limits().per_client;
        let mut by_client = self.by_client.lock().unwrap_or_else(|p| p.into_inner());
        let held = by_client.get(&client).copied().unwrap_or(0);
        if per_client > 0 && held >= per_client {
            return None;
        }
        by_client.insert(client, held + 1);
        self.open.fetch_add(1, Ordering::SeqCst);
        Some(Slot {
            conns: self.clone(),
            client,
        })
    }

    /// How many connections `client` holds.
    pub fn held_by(&self, client: IpAddr) -> u32 {
        self.by_client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&client.to_canonical())
            .copied()
            .unwrap_or(0)
    }
}

/// One admitted connection; dropping it frees its place.
struct Slot {
    conns: Arc<Connections>,
    client: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        {
            let mut by_client = self
                .conns
                .by_client
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            match by_client.get_mut(&self.client) {
                Some(n) if *n > 1 => *n -= 1,
                _ => {
                    by_client.remove(&self.client);
                }
            }
        }
        self.conns.open.fetch_sub(1, Ordering::SeqCst);
        self.conns.closed.notify_waiters();
    }
}

/// Serves `router` on `listener` until `stop` is cancelled, then finishes
/// the requests in flight. HTTP/1.1 only, as Consul's plain-HTTP listener:
/// one small task per connection (a connection costs a few KiB less than
/// with HTTP/2 detection, which matters with thousands of blocking queries
/// open). Connections are counted in `conns` and held to its limits.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    conns: Arc<Connections>,
    tls: Option<Https>,
    stop: CancellationToken,
) {
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    if tls.is_some() {
        tracing::info!(%addr, "HTTPS API listening");
    } else {
        tracing::info!(%addr, "HTTP API listening");
    }
    let tasks = TaskTracker::new();
    loop {
        // At the total cap nothing is accepted: new clients wait in the
        // kernel's backlog until a connection closes.
        if !conns.wait_for_room(&stop).await {
            break;
        }
        let (sock, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, then go on.
                    tracing::warn!(error = %e, "accepting an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        match conns.admit(peer.ip()) {
            Some(slot) => {
                let limits = conns.limits();
                tasks.spawn(run_connection(
                    sock,
                    tls.as_ref().map(|t| t.get()),
                    router.clone(),
                    slot,
                    limits,
                    stop.clone(),
                ));
            }
            None => refuse(sock, peer.ip(), &conns, &tasks),
        }
    }
    tasks.close();
    tasks.wait().await;
}

/// Answers a connection over the per-client cap as Consul does (429, a
/// one-line reason, `Connection: close`) and closes it.
fn refuse(sock: TcpStream, client: IpAddr, conns: &Arc<Connections>, tasks: &TaskTracker) {
    tracing::debug!(%client, "refusing an HTTP connection over limits.http_max_conns_per_client");
    let answer = format!(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{TOO_MANY_CONNS}",
        TOO_MANY_CONNS.len()
    );
    if conns.lingering.fetch_add(1, Ordering::SeqCst) >= MAX_LINGERING {
        conns.lingering.fetch_sub(1, Ordering::SeqCst);
        // A fresh socket's send buffer is empty: this does not block.
        let _ = sock.try_write(answer.as_bytes());
        return;
    }
    let conns = conns.clone();
    tasks.spawn(async move {
        linger(sock, answer.as_bytes()).await;
        conns.lingering.fetch_sub(1, Ordering::SeqCst);
    });
}

/// Writes `answer`, ends the sending side, and reads (and drops) what the
/// client sends for a short while, so the client sees the answer and an
/// orderly end rather than a reset.
async fn linger(mut sock: TcpStream, answer: &[u8]) {
    if tokio::time::timeout(REFUSAL_WRITE, sock.write_all(answer))
        .await
        .is_err()
    {
        return;
    }
    let _ = sock.shutdown().await;
    let deadline = Instant::now() + REFUSAL_LINGER;
    let mut sink = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, sock.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    }
}

/// The HTTPS listener's TLS config, replaced on reload: each connection
/// takes the one current when it is accepted.
pub type Https = Arc<praetor_tls::Reloadable<rustls::ServerConfig>>;

/// How long a TLS handshake may take when the header-read timeout is off.
const TLS_HANDSHAKE_DEFAULT: Duration = Duration::from_secs(10);

/// Serves one connection (after its TLS handshake, on HTTPS) until it
/// ends, its watchdog closes it, or `stop`.
async fn run_connection(
    sock: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    router: Router,
    slot: Slot,
    limits: ConnLimits,
    stop: CancellationToken,
) {
    let _slot = slot;
    let _ = sock.set_nodelay(true);
    let activity = Arc::new(Activity::new(Instant::now()));
    let watched = Watched {
        inner: sock,
        activity: activity.clone(),
    };
    match tls {
        None => serve_connection(TokioIo::new(watched), activity, router, limits, stop).await,
        Some(config) => {
            // The handshake is part of the request head: it gets the
            // header-read timeout (Consul: limits.https_handshake_timeout).
            let wait = limits.header_read_timeout.unwrap_or(TLS_HANDSHAKE_DEFAULT);
            let accept = tokio_rustls::TlsAcceptor::from(config).accept(watched);
            let stream = tokio::select! {
                () = stop.cancelled() => return,
                done = tokio::time::timeout(wait, accept) => match done {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "HTTPS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(?wait, "HTTPS handshake not finished in time");
                        return;
                    }
                },
            };
            serve_connection(TokioIo::new(stream), activity, router, limits, stop).await;
        }
    }
}

/// Serves HTTP/1.1 on `io` until it ends, its watchdog closes it, or `stop`.
async fn serve_connection<S>(
    io: TokioIo<S>,
    activity: Arc<Activity>,
    router: Router,
    limits: ConnLimits,
    stop: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = Tracked {
        inner: TowerToHyperService::new(router),
        activity: activity.clone(),
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Our watchdog times heads and idle waits (see the module doc).
    builder
        .header_read_timeout(None::<Duration>)
        .max_header_size(MAX_HEAD);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut stopping = false;
    loop {
        let mut woken = pin!(activity.wake.notified());
        woken.as_mut().enable();
        if stopping && !activity.is_busy() {
            // Nothing is owed to a connection between requests.
            return;
        }
        let deadline = activity.deadline(&limits);
        let expired = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // The connection first: bytes that are waiting are read (and
            // move the phase on) before an expired timer is believed, so an
            // agent too busy to poll a connection in time does not blame
            // its client.
            biased;
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::trace!(error = %e, "HTTP connection ended");
                }
                return;
            }
            () = stop.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            () = expired => {
                if let Some(why) = activity.expired(&limits, Instant::now()) {
                    tracing::debug!(reason = why, "closing an HTTP connection");
                    return;
                }
            }
            () = woken => {}
        }
    }
}

/// Where a connection is between requests, for its watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the first byte of a request since then.
    Idle(Instant),
    /// A request head started arriving then (or the connection was made).
    Head(Instant),
    /// A request is being served: its head has been read and its response
    /// not yet handed over in full.
    Busy,
}

/// One connection's phase, shared by its socket, its service and its
/// watchdog.
#[derive(Debug)]
struct Activity {
    phase: Mutex<Phase>,
    /// Woken when the phase moves to one with an earlier or new deadline.
    wake: Notify,
}

impl Activity {
    /// A connection made at `at`: its first head is due within the
    /// header-read timeout, as in Go's server.
    fn new(at: Instant) -> Activity {
        Activity {
            phase: Mutex::new(Phase::Head(at)),
            wake: Notify::new(),
        }
    }

    fn phase(&self) -> Phase {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = phase;
    }

    fn is_busy(&self) -> bool {
        self.phase() == Phase::Busy
    }

    /// Bytes arrived: an idle connection starts receiving a head.
    fn bytes_read(&self) {
        let mut phase = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        if let Phase::Idle(_) = *phase {
            *phase = Phase::Head(Instant::now());
            drop(phase);
            self.wake.notify_one();
        }
    }

    /// A request head was read in full and handed to the router.
    fn request_started(&self) {
        self.set(Phase::Busy);
    }

    /// The response was handed over in full (or abandoned).
    fn response_done(&self) {
        self.set(Phase::Idle(Instant::now()));
        self.wake.notify_one();
    }

    /// When the watchdog must look again, if ever.
    fn deadline(&self, limits: &ConnLimits) -> Option<Instant> {
        match self.phase() {
            Phase::Idle(since) => limits.idle_timeout.map(|d| since + d),
            Phase::Head(since) => limits.header_read_timeout.map(|d| since + d),
            Phase::Busy => None,
        }
    }

    /// Why the connection must close at `now`, if it must.
    fn expired(&self, limits: &ConnLimits, now: Instant) -> Option<&'static str> {
        let due = self.deadline(limits)?;
        if now < due {
            return None;
        }
        Some(match self.phase() {
            Phase::Idle(_) => "idle longer than limits.http_idle_timeout",
            _ => "request head not received within limits.http_header_read_timeout",
        })
    }
}

/// The socket, telling its connection's [`Activity`] when bytes arrive.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The router, telling its connection's [`Activity`] when a request starts
/// and when its response has been handed over.
struct Tracked {
    inner: TowerToHyperService<Router>,
    activity: Arc<Activity>,
}

type Answer = hyper::Response<TrackedBody>;
type Answering =
    Pin<Box<dyn Future<Output = Result<Answer, std::convert::Infallible>> + Send + 'static>>;

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = Answer;
    type Error = std::convert::Infallible;
    type Future = Answering;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        self.activity.request_started();
        // Dropped with the future if the request is abandoned, else carried
        // by the body until it is written.
        let done = Done(self.activity.clone());
        let answering = self.inner.call(req);
        Box::pin(async move {
            let response = answering.await?;
            Ok(response.map(|body| TrackedBody {
                inner: body,
                done: Some(done),
            }))
        })
    }
}

/// Marks the response handed over when dropped.
struct Done(Arc<Activity>);

impl Drop for Done {
    fn drop(&mut self) {
        self.0.response_done();
    }
}

/// A response body that marks its response handed over once hyper has
/// taken its last frame.
struct TrackedBody {
    inner: axum::body::Body,
    done: Option<Done>,
}

impl HttpBody for TrackedBody {
    type Data = <axum::body::Body as HttpBody>::Data;
    type Error = <axum::body::Body as HttpBody>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) {
            self.done = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests;

//! The RPC client side: one persistent connection per peer, shared by every
//! caller; calls are matched to replies by id, so many are in flight at once.
//! A connection opens with the handshake; each call is encoded by its caller
//! and refused before sending when its frame would be larger than the
//! server accepts. A call that timed out is forgotten by its connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::tls::RpcStream;
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::dial::Dialer;
use super::handshake::{self, HandshakeError};
use super::{codec, Frame, Reply, Request, MAX_FRAME};

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    /// No connection could be made (nothing was sent).
    #[error("connecting to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    /// No reply in time: the call may or may not have been handled.
    #[error("call to {addr} timed out after {after:?}")]
    Timeout { addr: String, after: Duration },
    /// The connection broke after the call was sent, or while sending it.
    #[error("connection to {addr} was lost: {reason}")]
    Lost { addr: String, reason: String },
    /// The call's frame would be larger than a server accepts (nothing
    /// was sent).
    #[error("a call to {addr} of {size} bytes is above the rpc frame limit of {limit} bytes")]
    TooLarge {
        addr: String,
        size: usize,
        limit: usize,
    },
}

type Pending = oneshot::Sender<Result<Reply, RpcError>>;

/// A call on its way to the connection task: its id, its encoded frame,
/// and where its reply goes.
type Outgoing = (u64, Vec<u8>, Pending);

/// A client of one peer's RPC port.
pub struct RpcClient {
    addr: SocketAddr,
    connect_timeout: Duration,
    max_frame: usize,
    next_id: AtomicU64,
    /// Calls the current connection waits on (a gauge, for tests and logs).
    pending: Arc<AtomicUsize>,
    conn: Mutex<Option<mpsc::Sender<Outgoing>>>,
    dialer: Dialer,
    /// Where connection tasks run and what ends them; without, they run
    /// detached and end with their connection or this client.
    tasks: Option<(TaskTracker, CancellationToken)>,
}

impl RpcClient {
    /// A client for `addr`; it connects on the first call.
    pub fn new(addr: SocketAddr) -> Self {
        RpcClient::with_max_frame(addr, MAX_FRAME)
    }

    /// A client for `addr` that refuses calls whose frame is larger than
    /// `max_frame` bytes (at most `MAX_FRAME`, what servers accept).
    pub fn with_max_frame(addr: SocketAddr, max_frame: usize) -> Self {
        RpcClient {
            addr,
            connect_timeout: Duration::from_secs(2),
            max_frame: max_frame.min(MAX_FRAME),
            next_id: AtomicU64::new(1),
            pending: Arc::new(AtomicUsize::new(0)),
            conn: Mutex::new(None),
            dialer: Dialer::default(),
            tasks: None,
        }
    }

    /// This client with its connection tasks on `tasks`, ended by `stop`
    /// (pending calls then fail as `Lost`), so a shutdown that waits for
    /// `tasks` knows no connection outlives it.
    pub fn on(mut self, tasks: TaskTracker, stop: CancellationToken) -> Self {
        self.tasks = Some((tasks, stop));
        self
    }

    /// A client for `addr` that connects through `dialer`.
    pub fn with_dialer(addr: SocketAddr, dialer: Dialer) -> Self {
        RpcClient {
            dialer,
            ..RpcClient::new(addr)
        }
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The largest frame this client sends.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    /// Calls the connection still waits for a reply to (timed-out calls
    /// are dropped from it as new ones arrive).
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }

    /// Sends `req` and waits at most `timeout` for its reply.
    ///
    /// # Errors
    /// `TooLarge` (nothing sent), `Connect`, `Timeout`, or `Lost` when the
    /// connection broke mid-call.
    pub async fn call(&self, req: Request, timeout: Duration) -> Result<Reply, RpcError> {
        let addr = self.addr.to_string();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let frame = postcard::to_stdvec(&Frame { id, body: &req }).map_err(|e| RpcError::Lost {
            addr: addr.clone(),
            reason: format!("encoding the call: {e}"),
        })?;
        drop(req);
        if frame.len() > self.max_frame {
            return Err(RpcError::TooLarge {
                addr,
                size: frame.len(),
                limit: self.max_frame,
            });
        }
        let fut = async {
            let tx = self.connection().await?;
            let (done, rx) = oneshot::channel();
            tx.send((id, frame, done))
                .await
                .map_err(|_| RpcError::Lost {
                    addr: addr.clone(),
                    reason: "connection closed".into(),
                })?;
            rx.await.map_err(|_| RpcError::Lost {
                addr: addr.clone(),
                reason: "connection closed".into(),
            })?
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| RpcError::Timeout {
                addr: addr.clone(),
                after: timeout,
            })?
    }

    async fn connection(&self) -> Result<mpsc::Sender<Outgoing>, RpcError> {
        let mut guard = self.conn.lock().await;
        if let Some(tx) = guard.as_ref().filter(|tx| !tx.is_closed()) {
            return Ok(tx.clone());
        }
        let addr = self.addr.to_string();
        let connect = async {
            let mut stream = self
                .dialer
                .connect(self.addr)
                .await
                .map_err(|e| e.to_string())?;
            handshake::write_hello(&mut stream, self.connect_timeout)
                .await
                .map_err(|e| e.to_string())?;
            match handshake::read_hello(&mut stream, self.connect_timeout).await {
                Ok(_) => Ok(stream),
                Err(HandshakeError::Io(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(
                    "the server closed the connection during the handshake (too many connections?)"
                        .to_owned(),
                ),
                Err(e) => Err(e.to_string()),
            }
        };
        let stream = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| RpcError::Connect {
                addr: addr.clone(),
                reason: "timed out".into(),
            })?
            .map_err(|reason| RpcError::Connect {
                addr: addr.clone(),
                reason,
            })?;
        let (tx, rx) = mpsc::channel(1024);
        self.pending.store(0, Ordering::Relaxed);
        let gauge = Arc::clone(&self.pending);
        match &self.tasks {
            Some((tasks, stop)) => {
                tasks.spawn(run_connection(stream, rx, addr, gauge, stop.clone()));
            }
            None => {
                tokio::spawn(run_connection(
                    stream,
                    rx,
                    addr,
                    gauge,
                    CancellationToken::new(),
                ));
            }
        }
        *guard = Some(tx.clone());
        Ok(tx)
    }
}

/// The calls one connection waits on. Callers that gave up (timed out)
/// drop their receiver; their entries are swept as new calls arrive, so
/// the map holds at most about twice the calls still waited on.
struct PendingCalls {
    calls: HashMap<u64, Pending>,
    sweep_at: usize,
    gauge: Arc<AtomicUsize>,
}

impl PendingCalls {
    const MIN_SWEEP: usize = 64;

    fn new(gauge: Arc<AtomicUsize>) -> Self {
        PendingCalls {
            calls: HashMap::new(),
            sweep_at: Self::MIN_SWEEP,
            gauge,
        }
    }

    fn insert(&mut self, id: u64, done: Pending) {
        if self.calls.len() >= self.sweep_at {
            self.calls.retain(|_, done| !done.is_closed());
            self.sweep_at = (self.calls.len() * 2).max(Self::MIN_SWEEP);
        }
        self.calls.insert(id, done);
        self.gauge.store(self.calls.len(), Ordering::Relaxed);
    }

    fn remove(&mut self, id: u64) -> Option<Pending> {
        let done = self.calls.remove(&id);
        self.gauge.store(self.calls.len(), Ordering::Relaxed);
        done
    }

    fn fail_all(&mut self, err: impl Fn() -> RpcError) {
        for (_, done) in self.calls.drain() {
            let _ = done.send(Err(err()));
        }
        self.gauge.store(0, Ordering::Relaxed);
    }
}

/// Owns one connection: writes calls, reads replies, and fails every
/// pending call when the connection ends.
async fn run_connection(
    stream: RpcStream,
    mut calls: mpsc::Receiver<Outgoing>,
    addr: String,
    gauge: Arc<AtomicUsize>,
    stop: CancellationToken,
) {
    let (r, w) = tokio::io::split(stream);
    let mut reader = FramedRead::new(r, codec());
    let mut writer = FramedWrite::new(w, codec());
    let mut pending = PendingCalls::new(gauge);
    let reason = loop {
        tokio::select! {
            () = stop.cancelled() => break "shutting down".to_owned(),
            call = calls.recv() => {
                let Some((id, frame, done)) = call else { break "client dropped".to_owned() };
                if done.is_closed() {
                    continue;
                }
                pending.insert(id, done);
                if let Err(e) = writer.send(bytes::Bytes::from(frame)).await {
                    break e.to_string();
                }
            }
            frame = reader.next() => {
                let bytes = match frame {
                    Some(Ok(b)) => b,
                    Some(Err(e)) => break e.to_string(),
                    None => break "closed by peer".to_owned(),
                };
                match postcard::from_bytes::<Frame<Reply>>(&bytes) {
                    Ok(f) => {
                        if let Some(done) = pending.remove(f.id) {
                            let _ = done.send(Ok(f.body));
                        }
                    }
                    Err(e) => break format!("decoding a reply: {e}"),
                }
            }
        }
    };
    tracing::debug!(peer = %addr, %reason, "rpc connection closed");
    pending.fail_all(|| RpcError::Lost {
        addr: addr.clone(),
        reason: reason.clone(),
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A server that completes the handshake with `answer`, then reads
    /// and never replies.
    async fn silent_server(answer: &'static [u8]) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let mut hello = [0u8; 8];
            if s.read_exact(&mut hello).await.is_err() {
                return;
            }
            let _ = s.write_all(answer).await;
            let mut sink = vec![0u8; 64 * 1024];
            while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
        });
        addr
    }

    #[tokio::test]
    async fn stopping_ends_the_connection_task_and_fails_its_pending_call() {
        let addr = silent_server(b"PRAETOR\x06").await;
        let (tasks, stop) = (TaskTracker::new(), CancellationToken::new());
        let client = Arc::new(RpcClient::new(addr).on(tasks.clone(), stop.clone()));
        let waiting = {
            let client = client.clone();
            tokio::spawn(async move { client.call(Request::Ping, Duration::from_secs(30)).await })
        };
        // The call is sent once the connection task holds it.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while client.pending() == 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the call was never sent"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(tasks.len(), 1, "the connection task runs on the tracker");
        stop.cancel();
        tasks.close();
        tokio::time::timeout(Duration::from_secs(5), tasks.wait())
            .await
            .expect("the connection task ends on stop");
        let r = waiting.await.unwrap();
        assert!(
            matches!(&r, Err(RpcError::Lost { reason, .. }) if reason == "shutting down"),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn calls_that_timed_out_do_not_stay_pending() {
        let addr = silent_server(b"PRAETOR\x06").await;
        let client = RpcClient::new(addr);
        // The first call opens the connection (and times out too).
        let r = client.call(Request::Ping, Duration::from_millis(300)).await;
        assert!(matches!(r, Err(RpcError::Timeout { .. })), "{r:?}");
        for _ in 0..500 {
            let r = client.call(Request::Ping, Duration::from_millis(2)).await;
            assert!(matches!(r, Err(RpcError::Timeout { .. })), "{r:?}");
        }
        assert!(
            client.pending() <= PendingCalls::MIN_SWEEP + 1,
            "{} calls still pending after they all timed out",
            client.pending()
        );
    }

    #[tokio::test]
    async fn a_server_of_another_version_or_protocol_is_a_connect_error() {
        let addr = silent_server(b"PRAETOR\x09").await;
        let r = RpcClient::new(addr)
            .call(Request::Ping, Duration::from_secs(5))
            .await;
        assert!(
            matches!(&r, Err(RpcError::Connect { reason, .. }) if reason.contains("version 9")),
            "{r:?}"
        );
        let addr = silent_server(b"SSH-2.0-").await;
        let r = RpcClient::new(addr)
            .call(Request::Ping, Duration::from_secs(5))
            .await;
        assert!(
            matches!(&r, Err(RpcError::Connect { reason, .. }) if reason.contains("not a praetor")),
            "{r:?}"
        );
    }

    #[tokio::test]
    async fn a_call_above_the_frame_limit_is_refused_before_sending() {
        // Nothing listens there: the call must fail without connecting.
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let client = RpcClient::with_max_frame(addr, 1024);
        let r = client
            .call(
                Request::Write(
                    praetor_store::Command::KvSet {
                        key: "k".into(),
                        value: vec![0; 2048].into(),
                        flags: 0,
                        cas: None,
                    },
                    crate::acl::Token::anonymous(),
                ),
                Duration::from_secs(5),
            )
            .await;
        assert!(
            matches!(r, Err(RpcError::TooLarge { limit: 1024, size, .. }) if size > 2048),
            "{r:?}"
        );
    }
}

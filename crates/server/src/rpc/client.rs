//! The RPC client side: one persistent connection per peer, shared by every
//! caller; calls are matched to replies by id, so many are in flight at once.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Mutex};
use tokio_util::codec::{FramedRead, FramedWrite};

use super::{codec, Frame, Reply, Request};

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    #[error("connecting to {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("call to {addr} timed out after {after:?}")]
    Timeout { addr: String, after: Duration },
    #[error("connection to {addr} was lost: {reason}")]
    Lost { addr: String, reason: String },
}

type Pending = oneshot::Sender<Result<Reply, RpcError>>;

/// A client of one peer's RPC port.
pub struct RpcClient {
    addr: SocketAddr,
    connect_timeout: Duration,
    conn: Mutex<Option<mpsc::Sender<(Request, Pending)>>>,
}

impl RpcClient {
    /// A client for `addr`; it connects on the first call.
    pub fn new(addr: SocketAddr) -> Self {
        RpcClient {
            addr,
            connect_timeout: Duration::from_secs(2),
            conn: Mutex::new(None),
        }
    }

    /// The peer's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends `req` and waits at most `timeout` for its reply.
    ///
    /// # Errors
    /// `Connect`, `Timeout`, or `Lost` when the connection broke mid-call.
    pub async fn call(&self, req: Request, timeout: Duration) -> Result<Reply, RpcError> {
        let addr = self.addr.to_string();
        let fut = async {
            let tx = self.connection().await?;
            let (done, rx) = oneshot::channel();
            tx.send((req, done)).await.map_err(|_| RpcError::Lost {
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

    async fn connection(&self) -> Result<mpsc::Sender<(Request, Pending)>, RpcError> {
        let mut guard = self.conn.lock().await;
        if let Some(tx) = guard.as_ref().filter(|tx| !tx.is_closed()) {
            return Ok(tx.clone());
        }
        let addr = self.addr.to_string();
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| RpcError::Connect {
                addr: addr.clone(),
                reason: "timed out".into(),
            })?
            .map_err(|e| RpcError::Connect {
                addr: addr.clone(),
                reason: e.to_string(),
            })?;
        let _ = stream.set_nodelay(true);
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run_connection(stream, rx, addr));
        *guard = Some(tx.clone());
        Ok(tx)
    }
}

/// Owns one connection: writes calls, reads replies, and fails every
/// pending call when the connection ends.
async fn run_connection(
    stream: TcpStream,
    mut calls: mpsc::Receiver<(Request, Pending)>,
    addr: String,
) {
    let (r, w) = stream.into_split();
    let mut reader = FramedRead::new(r, codec());
    let mut writer = FramedWrite::new(w, codec());
    let mut pending: HashMap<u64, Pending> = HashMap::new();
    let mut next_id = 0u64;
    let reason = loop {
        tokio::select! {
            call = calls.recv() => {
                let Some((req, done)) = call else { break "client dropped".to_owned() };
                next_id += 1;
                let bytes = match postcard::to_stdvec(&Frame { id: next_id, body: req }) {
                    Ok(b) => b,
                    Err(e) => {
                        let _ = done.send(Err(RpcError::Lost { addr: addr.clone(), reason: format!("encoding: {e}") }));
                        continue;
                    }
                };
                pending.insert(next_id, done);
                if let Err(e) = writer.send(bytes::Bytes::from(bytes)).await {
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
                        if let Some(done) = pending.remove(&f.id) {
                            let _ = done.send(Ok(f.body));
                        }
                    }
                    Err(e) => break format!("decoding a reply: {e}"),
                }
            }
        }
    };
    tracing::debug!(peer = %addr, %reason, "rpc connection closed");
    for (_, done) in pending.drain() {
        let _ = done.send(Err(RpcError::Lost {
            addr: addr.clone(),
            reason: reason.clone(),
        }));
    }
}

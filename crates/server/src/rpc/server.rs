//! The RPC server side: accepts connections within the listener's
//! `Limits`, checks each one's handshake, reads its frames within the byte
//! budgets, handles at most `max_calls_per_conn` of its calls at once (then
//! stops reading it: backpressure), and writes replies as they are ready.
//! Every task it starts is on one `TaskTracker`: `serve` returns once they
//! have all ended, or after the shutdown wait. Never interprets a call:
//! that is the `Handler`'s job. Log lines a peer can cause are rate-limited
//! per address.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::SinkExt;
use tokio::io::{AsyncRead, AsyncReadExt, BufReader, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::FramedWrite;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::handshake::{self, HandshakeError};
use super::limits::{CallPermit, ConnSlot, Intake};
use super::tls::{PeerRole, RpcStream, RpcTls};
use super::{codec, Frame, Limits, Reply, Request, MAX_FRAME};

/// Replies waiting to be written on one connection; when full, finished
/// calls wait, keep their call slot, and so slow the reading down.
const REPLY_QUEUE: usize = 256;
/// A frame body's buffer starts at most this large and grows as bytes
/// arrive, so a header alone never makes us allocate what it announces.
const FIRST_CHUNK: usize = 64 * 1024;

/// What answers calls.
pub trait Handler: Send + Sync + 'static {
    /// Answers one call.
    fn handle(&self, req: Request) -> impl Future<Output = Reply> + Send;
}

/// Serves calls on `listener` with the default `Limits` until `stop` is
/// cancelled, then waits (bounded) for its connections and calls to end.
pub async fn serve<H: Handler>(listener: TcpListener, handler: Arc<H>, stop: CancellationToken) {
    serve_with(listener, handler, Limits::default(), stop).await;
}

/// Serves calls on `listener` within `limits` until `stop` is cancelled,
/// then waits at most `limits.shutdown_wait` for its connections and calls
/// (which are cancelled with it) to end.
pub async fn serve_with<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: Limits,
    stop: CancellationToken,
) {
    serve_tls(listener, handler, limits, None, stop).await;
}

/// [`serve_with`], with connections accepted through `tls` (see
/// [`RpcTls`]): TLS peers are answered with the server's certificate,
/// plain-text ones refused under `verify_incoming`, and calls only servers
/// make refused from peers whose certificate does not name a server.
pub async fn serve_tls<H: Handler>(
    listener: TcpListener,
    handler: Arc<H>,
    limits: Limits,
    tls: Option<Arc<RpcTls>>,
    stop: CancellationToken,
) {
    let intake = Intake::new(limits);
    let tasks = TaskTracker::new();
    let addr = listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |a| a.to_string());
    tracing::info!(%addr, "RPC listening");
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                // Out of file descriptors and the like: back off briefly.
                tracing::warn!(error = %e, "accepting an rpc connection failed");
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                }
            }
        };
        match intake.open(peer.ip()) {
            Ok(slot) => {
                let _ = stream.set_nodelay(true);
                tasks.spawn(run_connection(
                    Incoming {
                        tcp: stream,
                        peer,
                        tls: tls.clone(),
                    },
                    slot,
                    Arc::clone(&handler),
                    Arc::clone(&intake),
                    tasks.clone(),
                    stop.clone(),
                ));
            }
            Err(why) => {
                if intake.may_log(peer.ip()) {
                    tracing::warn!(%peer, reason = %why, "rpc connection refused");
                }
                drop(stream);
            }
        }
    }
    tasks.close();
    let wait = intake.limits.shutdown_wait;
    if tokio::time::timeout(wait, tasks.wait()).await.is_err() {
        tracing::warn!(
            tasks = tasks.len(),
            ?wait,
            "rpc tasks still running after the shutdown wait"
        );
    }
}

/// Logs a peer's misbehaviour at `warn`, at most once a minute per address.
fn warn_peer(intake: &Intake, peer: SocketAddr, what: &str, reason: &str) {
    if intake.may_log(peer.ip()) {
        tracing::warn!(%peer, %reason, "{what}; closing the rpc connection");
    }
}

/// A connection just accepted: its socket, its peer's address, and the
/// TLS it must be accepted through.
struct Incoming {
    tcp: TcpStream,
    peer: SocketAddr,
    tls: Option<Arc<RpcTls>>,
}

/// Serves one connection: TLS (when configured), the handshake, then its
/// frames, until the peer closes it, breaks a rule, or `stop`.
async fn run_connection<H: Handler>(
    incoming: Incoming,
    slot: ConnSlot,
    handler: Arc<H>,
    intake: Arc<Intake>,
    tasks: TaskTracker,
    stop: CancellationToken,
) {
    let Incoming { tcp, peer, tls } = incoming;
    let limits = &intake.limits;
    let accepted = match &tls {
        None => Ok((RpcStream::Plain(tcp), PeerRole::Any)),
        Some(tls) => tokio::select! {
            () = stop.cancelled() => return,
            accepted = tls.accept(tcp, limits.handshake_timeout) => accepted,
        },
    };
    let (mut stream, role) = match accepted {
        Ok(accepted) => accepted,
        Err(reason) => {
            warn_peer(&intake, peer, "rpc connection refused", &reason);
            return;
        }
    };
    let hello = tokio::select! {
        () = stop.cancelled() => return,
        hello = handshake::read_hello(&mut stream, limits.handshake_timeout) => hello,
    };
    match hello {
        Ok(_) => {}
        Err(HandshakeError::Version(v)) => {
            // Say what we speak, so the peer can tell its operator.
            let _ = handshake::write_hello(&mut stream, limits.handshake_timeout).await;
            warn_peer(
                &intake,
                peer,
                "rpc peer speaks another protocol version",
                &v.to_string(),
            );
            return;
        }
        Err(e @ HandshakeError::NotPraetor(_)) => {
            warn_peer(&intake, peer, "not a praetor rpc peer", &e.to_string());
            return;
        }
        Err(e) => {
            if intake.may_log(peer.ip()) {
                tracing::debug!(%peer, error = %e, "rpc handshake failed");
            }
            return;
        }
    }
    if let Err(e) = handshake::write_hello(&mut stream, limits.handshake_timeout).await {
        tracing::debug!(%peer, error = %e, "answering an rpc handshake failed");
        return;
    }
    tracing::debug!(%peer, "rpc connection accepted");

    // Cancelled when the connection ends: its calls and writer end with it.
    let conn = stop.child_token();
    let (r, w) = tokio::io::split(stream);
    let mut reader = BufReader::with_capacity(FIRST_CHUNK, r);
    let (tx, rx) = mpsc::channel::<Vec<u8>>(REPLY_QUEUE);
    tasks.spawn(write_replies(w, rx, conn.clone()));
    let budget = intake.conn_budget(&slot);
    let reason: String = loop {
        let len = tokio::select! {
            () = conn.cancelled() => break "stopped".into(),
            len = read_len(&mut reader) => match len {
                Ok(Some(len)) => len,
                Ok(None) => break "closed by peer".into(),
                Err(e) => break e.to_string(),
            },
        };
        if len > limits.max_frame {
            let reason = format!(
                "a frame of {len} bytes is above the limit of {}",
                limits.max_frame
            );
            warn_peer(&intake, peer, "rpc frame too large", &reason);
            break reason;
        }
        // Backpressure: nothing more is read until the call fits.
        let permit = tokio::select! {
            () = conn.cancelled() => break "stopped".into(),
            permit = intake.admit_call(&budget, len) => match permit {
                Some(p) => p,
                None => break "rpc budget closed".into(),
            },
        };
        let deadline = limits.body_deadline(len);
        let body = tokio::select! {
            () = conn.cancelled() => break "stopped".into(),
            body = tokio::time::timeout(deadline, read_body(&mut reader, len)) => match body {
                Ok(Ok(body)) => body,
                Ok(Err(e)) => break e.to_string(),
                Err(_) => {
                    let reason = format!("a frame of {len} bytes did not arrive within {deadline:?}");
                    warn_peer(&intake, peer, "rpc frame too slow", &reason);
                    break reason;
                }
            },
        };
        let call: Frame<Request> = match postcard::from_bytes(&body) {
            Ok(call) => call,
            Err(e) => {
                let reason = format!("undecodable frame: {e}");
                warn_peer(&intake, peer, "bad rpc frame", &reason);
                break reason;
            }
        };
        drop(body);
        if !role.allows(&call.body) {
            let reason = "a call only servers make came from a peer whose certificate does not \
                          name a server of this datacenter (verify_server_hostname)";
            if intake.may_log(peer.ip()) {
                tracing::warn!(%peer, reason, "rpc call refused");
            }
            if let Some(bytes) = encode_reply(call.id, Reply::Error(reason.to_owned()), MAX_FRAME) {
                let _ = tx.send(bytes).await;
            }
            continue;
        }
        tasks.spawn(run_call(
            Arc::clone(&handler),
            call,
            permit,
            tx.clone(),
            conn.clone(),
        ));
    };
    tracing::debug!(%peer, %reason, "rpc connection closed");
    conn.cancel();
}

/// Handles one call and queues its reply; gives its budget back after.
async fn run_call<H: Handler>(
    handler: Arc<H>,
    call: Frame<Request>,
    permit: CallPermit,
    replies: mpsc::Sender<Vec<u8>>,
    conn: CancellationToken,
) {
    let _permit = permit;
    let body = tokio::select! {
        () = conn.cancelled() => return,
        body = handler.handle(call.body) => body,
    };
    let Some(bytes) = encode_reply(call.id, body, MAX_FRAME) else {
        return;
    };
    tokio::select! {
        () = conn.cancelled() => {}
        _ = replies.send(bytes) => {}
    }
}

/// The frame of reply `body` to call `id`; a reply whose frame would be
/// larger than `max` (which the client would refuse) becomes an error.
fn encode_reply(id: u64, body: Reply, max: usize) -> Option<Vec<u8>> {
    let error = |reason: String| {
        postcard::to_stdvec(&Frame {
            id,
            body: Reply::Error(reason),
        })
    };
    let bytes = match postcard::to_stdvec(&Frame { id, body }) {
        Ok(bytes) if bytes.len() <= max => Ok(bytes),
        Ok(bytes) => error(format!(
            "the reply of {} bytes is above the rpc frame limit of {max} bytes",
            bytes.len()
        )),
        Err(e) => {
            tracing::error!(error = %e, "encoding an rpc reply failed");
            error(format!("encoding the reply: {e}"))
        }
    };
    bytes.ok()
}

/// Writes queued replies until the connection ends.
async fn write_replies(
    w: WriteHalf<RpcStream>,
    mut replies: mpsc::Receiver<Vec<u8>>,
    conn: CancellationToken,
) {
    let mut writer = FramedWrite::new(w, codec());
    loop {
        let bytes = tokio::select! {
            () = conn.cancelled() => return,
            bytes = replies.recv() => match bytes {
                Some(b) => b,
                None => return,
            },
        };
        let sent = tokio::select! {
            () = conn.cancelled() => return,
            sent = writer.send(bytes::Bytes::from(bytes)) => sent,
        };
        if sent.is_err() {
            conn.cancel();
            return;
        }
    }
}

/// Reads a frame header (a 4-byte big-endian length); `None` at the end
/// of the stream.
async fn read_len<R: AsyncRead + Unpin>(r: &mut R) -> std::io::Result<Option<usize>> {
    let mut head = [0u8; 4];
    match r.read_exact(&mut head).await {
        Ok(_) => Ok(Some(u32::from_be_bytes(head) as usize)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// Reads a frame body of `len` bytes, growing the buffer as bytes arrive
/// (never past `len`), and never reading past the frame.
async fn read_body<R: AsyncRead + Unpin>(r: &mut R, len: usize) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(len.min(FIRST_CHUNK));
    while body.len() < len {
        if body.len() == body.capacity() {
            let grow = body.capacity().max(FIRST_CHUNK).min(len - body.len());
            body.reserve_exact(grow);
        }
        let room = (body.capacity() - body.len()).min(len - body.len());
        let n = (&mut *r).take(room as u64).read_buf(&mut body).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(body)
}

#[cfg(test)]
#[path = "server_tests.rs"]
mod tests;

//! Serf's push/pull over TCP, on the gossip address: one side sends its full
//! state (foca's membership and every known fact), the other answers with
//! its own, then the connection closes. A joining member learns every
//! member at once this way, and a periodic exchange repairs what UDP lost.
//! The same listener serves key queries (see `key_query`).
//!
//! Owns the TCP listener and the framing. Never touches protocol state: the
//! state goes to and comes from the owner task through its input channel.
//! Every exchange is bounded in time and size.
//!
//! A frame is a 4-byte magic naming its kind, a 4-byte big-endian length
//! and the body: `PRG1` plain state (postcard), `PRGE` the same sealed with
//! the primary key (the header is authenticated with it), `PRGK`/`PRGA` a
//! sealed key query and its answer, `PRGR` a refusal (plain UTF-8 reason,
//! so a peer with the wrong key learns why it cannot join).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::actor::Input;
use crate::encryption::Encryption;
use crate::fact::Fact;
use crate::identity::Ident;
use crate::key_query;

/// A plain state frame.
pub(crate) const STATE: &[u8; 4] = b"PRG1";
/// A sealed state frame.
pub(crate) const SEALED_STATE: &[u8; 4] = b"PRGE";
/// A sealed key query.
pub(crate) const KEY_QUERY: &[u8; 4] = b"PRGK";
/// A sealed answer to a key query.
pub(crate) const KEY_ANSWER: &[u8; 4] = b"PRGA";
/// A refusal, with its reason in plain text.
pub(crate) const REFUSED: &[u8; 4] = b"PRGR";
/// The largest state accepted (a few thousand members).
pub(crate) const MAX_STATE_LEN: usize = 4 << 20;
/// The longest refusal reason sent or read.
const MAX_REASON_LEN: usize = 512;
/// How many exchanges we serve at once; more wait for a slot.
const MAX_INBOUND: usize = 16;

/// One side's full state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct PushPull {
    /// Who sends it.
    pub(crate) from: Ident,
    /// foca's membership state (alive, suspect and down identities).
    pub(crate) members: Vec<foca::Member<Ident>>,
    /// Every tag announcement and leave intent the sender knows.
    pub(crate) facts: Vec<Fact>,
}

pub(crate) fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

/// The header of a frame of `kind` with a body of `len` bytes (also the
/// associated data a sealed body is bound to).
pub(crate) fn header(kind: &[u8; 4], len: usize) -> std::io::Result<[u8; 8]> {
    let len = u32::try_from(len).map_err(|e| invalid(e.to_string()))?;
    let mut head = [0u8; 8];
    head[..4].copy_from_slice(kind);
    head[4..].copy_from_slice(&len.to_be_bytes());
    Ok(head)
}

/// Writes one frame; `seal` seals the body with the primary key first.
pub(crate) async fn write_frame(
    stream: &mut TcpStream,
    kind: &[u8; 4],
    body: &[u8],
    seal: Option<&Encryption>,
) -> std::io::Result<()> {
    let sealed;
    let body = match seal {
        Some(enc) => {
            let len = body.len() + crate::keyring::OVERHEAD;
            sealed = enc.seal(body, &header(kind, len)?);
            &sealed[..]
        }
        None => body,
    };
    let mut frame = Vec::with_capacity(8 + body.len());
    frame.extend_from_slice(&header(kind, body.len())?);
    frame.extend_from_slice(body);
    stream.write_all(&frame).await?;
    stream.flush().await
}

/// Reads one frame's header and body, refusing a body over `max` bytes.
pub(crate) async fn read_frame(
    stream: &mut TcpStream,
    max: usize,
) -> std::io::Result<([u8; 4], [u8; 8], Vec<u8>)> {
    let mut head = [0u8; 8];
    stream.read_exact(&mut head).await?;
    let mut kind = [0u8; 4];
    kind.copy_from_slice(&head[..4]);
    if ![STATE, SEALED_STATE, KEY_QUERY, KEY_ANSWER, REFUSED].contains(&&kind) {
        return Err(invalid("not a gossip push/pull peer".into()));
    }
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    let max = match &kind {
        REFUSED => MAX_REASON_LEN,
        KEY_QUERY | KEY_ANSWER => key_query::MAX_FRAME_LEN,
        _ => max,
    };
    if len > max {
        return Err(invalid(format!(
            "peer frame of {len} bytes is above the limit of {max}"
        )));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    Ok((kind, head, body))
}

/// Sends a refusal (best effort: the peer may be gone).
pub(crate) async fn refuse(stream: &mut TcpStream, reason: &str) {
    let mut reason = reason.as_bytes();
    reason = &reason[..reason.len().min(MAX_REASON_LEN)];
    let _ = write_frame(stream, REFUSED, reason, None).await;
}

/// A peer's state from its frame, opened as this member's encryption
/// settings require; otherwise why not, on one line naming encryption when
/// encryption is the cause.
pub(crate) fn open_state(
    kind: &[u8; 4],
    head: &[u8; 8],
    body: Vec<u8>,
    enc: Option<&Encryption>,
) -> Result<PushPull, String> {
    let plain = match (kind, enc) {
        (k, None) if k == SEALED_STATE => {
            return Err(
                "gossip encryption: the peer sent encrypted gossip but this member has \
                        no encrypt key"
                    .into(),
            )
        }
        (k, Some(enc)) if k == STATE && enc.verify_incoming => {
            return Err(
                "gossip encryption: the peer sent plain-text gossip but this member \
                        requires encryption (encrypt_verify_incoming)"
                    .into(),
            )
        }
        (k, _) if k == STATE => body,
        (k, Some(enc)) if k == SEALED_STATE => enc
            .open(&body, head)
            .map_err(|e| format!("gossip encryption: {e} (the encrypt keys differ)"))?,
        (k, _) if k == REFUSED => {
            let reason = String::from_utf8_lossy(&body);
            return Err(format!("refused by the peer: {reason}"));
        }
        _ => return Err("unexpected frame in a push/pull exchange".into()),
    };
    postcard::from_bytes(&plain).map_err(|e| format!("decoding peer state: {e}"))
}

async fn write_state(
    stream: &mut TcpStream,
    state: &PushPull,
    enc: Option<&Encryption>,
) -> std::io::Result<()> {
    let body = postcard::to_allocvec(state).map_err(|e| invalid(e.to_string()))?;
    if body.len() + crate::keyring::OVERHEAD > MAX_STATE_LEN {
        return Err(invalid(format!(
            "state of {} bytes is above the limit of {MAX_STATE_LEN}",
            body.len()
        )));
    }
    match enc {
        Some(enc) if enc.verify_outgoing => {
            write_frame(stream, SEALED_STATE, &body, Some(enc)).await
        }
        _ => write_frame(stream, STATE, &body, None).await,
    }
}

/// Sends `ours` to `peer` and returns its state, all within `timeout`.
pub(crate) async fn exchange(
    peer: SocketAddr,
    ours: &PushPull,
    timeout: Duration,
    enc: Option<&Encryption>,
) -> std::io::Result<PushPull> {
    let run = async {
        let mut stream = TcpStream::connect(peer).await?;
        write_state(&mut stream, ours, enc).await?;
        let (kind, head, body) = match read_frame(&mut stream, MAX_STATE_LEN).await {
            Ok(frame) => frame,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Err(invalid(
                    "the peer closed the connection without answering".into(),
                ))
            }
            Err(e) => return Err(e),
        };
        open_state(&kind, &head, body, enc).map_err(invalid)
    };
    tokio::time::timeout(timeout, run)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no answer within {timeout:?}"),
            ))
        })
}

/// Serves push/pull exchanges until `stop`: reads the peer's state, hands it
/// to the owner task, writes back what the owner answers.
pub(crate) async fn run_push_pull_server(
    listener: TcpListener,
    input: mpsc::Sender<Input>,
    timeout: Duration,
    enc: Option<Arc<Encryption>>,
    node: String,
    tasks: TaskTracker,
    stop: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_INBOUND));
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (mut stream, peer) = match accepted {
            Ok(conn) => conn,
            Err(error) => {
                // Out of file descriptors and the like: back off briefly.
                tracing::warn!(%error, "accepting a push/pull connection");
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            break;
        };
        let input = input.clone();
        let stop = stop.clone();
        let enc = enc.clone();
        let node = node.clone();
        tasks.spawn(
            async move {
                let _slot = slot;
                let serve = async {
                    let (kind, head, body) = read_frame(&mut stream, MAX_STATE_LEN).await?;
                    if &kind == KEY_QUERY {
                        return key_query::serve(
                            &mut stream,
                            &head,
                            &body,
                            enc.as_deref(),
                            &node,
                            peer,
                        )
                        .await;
                    }
                    let remote = match open_state(&kind, &head, body, enc.as_deref()) {
                        Ok(remote) => remote,
                        Err(reason) => {
                            if let Some(enc) = &enc {
                                enc.note_drop(peer.ip(), "a push/pull exchange", &reason);
                            } else {
                                tracing::debug!(%peer, %reason, "push/pull refused");
                            }
                            refuse(&mut stream, &reason).await;
                            return Ok(());
                        }
                    };
                    let (reply, answer) = oneshot::channel();
                    if input.send(Input::PushPull { remote, reply }).await.is_err() {
                        return Ok(());
                    }
                    match answer.await {
                        Ok(Ok(Some(ours))) => {
                            write_state(&mut stream, &ours, enc.as_deref()).await?;
                        }
                        Ok(Err(reason)) => refuse(&mut stream, &reason).await,
                        // `None`: we left the pool and answer nothing.
                        Ok(Ok(None)) | Err(_) => {}
                    }
                    Ok::<_, std::io::Error>(())
                };
                tokio::select! {
                    () = stop.cancelled() => {}
                    served = tokio::time::timeout(timeout, serve) => match served {
                        Ok(Ok(())) => tracing::debug!(%peer, "push/pull served"),
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "push/pull failed"),
                        Err(_) => tracing::debug!(%peer, "push/pull timed out"),
                    },
                }
            }
            .in_current_span(),
        );
    }
}

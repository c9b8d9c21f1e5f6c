//! Serf's push/pull over TCP, on the gossip address: one side sends its full
//! state (foca's membership and every known fact), the other answers with
//! its own, then the connection closes. A joining member learns every
//! member at once this way, and a periodic exchange repairs what UDP lost.
//!
//! Owns the TCP listener and the framing. Never touches protocol state: the
//! state goes to and comes from the owner task through its input channel.
//! Every exchange is bounded in time and size.

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
use crate::fact::Fact;
use crate::identity::Ident;

/// Starts every frame, so that a stray connection is refused at once.
const MAGIC: &[u8; 4] = b"PRG1";
/// The largest state accepted (a few thousand members).
pub(crate) const MAX_STATE_LEN: usize = 4 << 20;
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

fn invalid(msg: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg)
}

async fn write_state(stream: &mut TcpStream, state: &PushPull) -> std::io::Result<()> {
    let body = postcard::to_allocvec(state).map_err(|e| invalid(e.to_string()))?;
    if body.len() > MAX_STATE_LEN {
        return Err(invalid(format!(
            "state of {} bytes is above the limit of {MAX_STATE_LEN}",
            body.len()
        )));
    }
    let len = u32::try_from(body.len()).map_err(|e| invalid(e.to_string()))?;
    let mut frame = Vec::with_capacity(8 + body.len());
    frame.extend_from_slice(MAGIC);
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&body);
    stream.write_all(&frame).await?;
    stream.flush().await
}

async fn read_state(stream: &mut TcpStream) -> std::io::Result<PushPull> {
    let mut head = [0u8; 8];
    stream.read_exact(&mut head).await?;
    if &head[..4] != MAGIC {
        return Err(invalid("not a gossip push/pull peer".into()));
    }
    let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
    if len > MAX_STATE_LEN {
        return Err(invalid(format!(
            "peer state of {len} bytes is above the limit of {MAX_STATE_LEN}"
        )));
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await?;
    postcard::from_bytes(&body).map_err(|e| invalid(format!("decoding peer state: {e}")))
}

/// Sends `ours` to `peer` and returns its state, all within `timeout`.
pub(crate) async fn exchange(
    peer: SocketAddr,
    ours: &PushPull,
    timeout: Duration,
) -> std::io::Result<PushPull> {
    let run = async {
        let mut stream = TcpStream::connect(peer).await?;
        write_state(&mut stream, ours).await?;
        read_state(&mut stream).await
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
        tasks.spawn(
            async move {
                let _slot = slot;
                let serve = async {
                    let remote = read_state(&mut stream).await?;
                    let (reply, answer) = oneshot::channel();
                    if input.send(Input::PushPull { remote, reply }).await.is_err() {
                        return Ok(());
                    }
                    // `None`: we left the pool and answer nothing.
                    if let Ok(Some(ours)) = answer.await {
                        write_state(&mut stream, &ours).await?;
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

//! The RPC server side: accepts connections, handles every call of a
//! connection concurrently, and writes replies as they are ready.

use std::future::Future;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;

use super::{codec, Frame, Reply, Request};

/// What answers calls.
pub trait Handler: Send + Sync + 'static {
    /// Answers one call.
    fn handle(&self, req: Request) -> impl Future<Output = Reply> + Send;
}

/// Serves calls on `listener` until `stop` is cancelled.
pub async fn serve<H: Handler>(listener: TcpListener, handler: Arc<H>, stop: CancellationToken) {
    tracing::info!(addr = ?listener.local_addr().ok(), "RPC listening");
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let _ = stream.set_nodelay(true);
                    tracing::debug!(%peer, "rpc connection accepted");
                    tokio::spawn(run_connection(stream, handler.clone(), stop.child_token()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accepting an rpc connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
}

async fn run_connection<H: Handler>(stream: TcpStream, handler: Arc<H>, stop: CancellationToken) {
    let (r, w) = stream.into_split();
    let mut reader = FramedRead::new(r, codec());
    let mut writer = FramedWrite::new(w, codec());
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1024);
    let write = tokio::spawn(async move {
        while let Some(bytes) = rx.recv().await {
            if writer.send(bytes::Bytes::from(bytes)).await.is_err() {
                break;
            }
        }
    });
    loop {
        let frame = tokio::select! {
            () = stop.cancelled() => break,
            f = reader.next() => f,
        };
        let bytes = match frame {
            Some(Ok(b)) => b,
            _ => break,
        };
        let call: Frame<Request> = match postcard::from_bytes(&bytes) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "undecodable rpc frame; closing the connection");
                break;
            }
        };
        let handler = handler.clone();
        let tx = tx.clone();
        tokio::spawn(async move {
            let body = handler.handle(call.body).await;
            match postcard::to_stdvec(&Frame { id: call.id, body }) {
                Ok(bytes) => {
                    let _ = tx.send(bytes).await;
                }
                Err(e) => tracing::error!(error = %e, "encoding an rpc reply failed"),
            }
        });
    }
    drop(tx);
    let _ = write.await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::RpcClient;
    use std::time::Duration;

    struct Echo;
    impl Handler for Echo {
        async fn handle(&self, req: Request) -> Reply {
            match req {
                Request::Ping => Reply::Pong(7),
                Request::Write(cmd) => {
                    // Slow calls must not hold up fast ones on the same connection.
                    if cmd.kind() == "kv_delete" {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                    Reply::Write(Ok((1, praetor_store::Response::Applied(true))))
                }
                _ => Reply::Error("unexpected".into()),
            }
        }
    }

    #[tokio::test]
    async fn many_calls_share_one_connection_and_reconnect_after_a_restart() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let server = tokio::spawn(serve(listener, Arc::new(Echo), stop.clone()));
        let client = Arc::new(RpcClient::new(addr));

        let slow = {
            let c = client.clone();
            tokio::spawn(async move {
                c.call(
                    Request::Write(praetor_store::Command::KvDelete {
                        key: "k".into(),
                        cas: None,
                    }),
                    Duration::from_secs(5),
                )
                .await
            })
        };
        let mut fast = Vec::new();
        for _ in 0..100 {
            let c = client.clone();
            fast.push(tokio::spawn(async move {
                c.call(Request::Ping, Duration::from_secs(5)).await
            }));
        }
        for f in fast {
            assert!(matches!(f.await.unwrap(), Ok(Reply::Pong(7))));
        }
        assert!(!slow.is_finished(), "fast calls overtook the slow one");
        assert!(matches!(slow.await.unwrap(), Ok(Reply::Write(Ok(_)))));

        // The server goes away: calls fail fast, then succeed once it is back.
        stop.cancel();
        server.await.unwrap();
        let r = client.call(Request::Ping, Duration::from_secs(2)).await;
        assert!(r.is_err(), "a call to a stopped server fails: {r:?}");
        let listener = TcpListener::bind(addr).await.unwrap();
        let stop = CancellationToken::new();
        tokio::spawn(serve(listener, Arc::new(Echo), stop.clone()));
        let mut ok = false;
        for _ in 0..50 {
            if matches!(
                client.call(Request::Ping, Duration::from_secs(2)).await,
                Ok(Reply::Pong(7))
            ) {
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(ok, "the client reconnected after the restart");
        stop.cancel();
    }

    #[tokio::test]
    async fn a_call_to_a_silent_peer_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // Accept and never answer.
        let _hold = tokio::spawn(async move {
            let (_s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        let client = RpcClient::new(addr);
        let r = client.call(Request::Ping, Duration::from_millis(200)).await;
        assert!(
            matches!(r, Err(crate::rpc::RpcError::Timeout { .. })),
            "{r:?}"
        );
    }
}

//! TCP checks: a connect within the timeout is passing, worded as Consul's
//! `TCP connect <addr>: Success`. The connection is closed at once; nothing
//! is sent.

use std::time::Duration;

use tokio::net::TcpStream;

use crate::definition::Status;

/// One connect attempt to `addr` (every address it resolves to, in turn).
pub(crate) async fn probe(addr: &str, timeout: Duration) -> (Status, String) {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(_connected)) => (Status::Passing, format!("TCP connect {addr}: Success")),
        Ok(Err(e)) => (Status::Critical, format!("dial tcp {addr}: {e}")),
        Err(_) => (Status::Critical, format!("dial tcp {addr}: i/o timeout")),
    }
}
